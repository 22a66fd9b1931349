"""The kernel-facing API (``import cozy_kernel as cozy``) — the same core calls as the CLI.

Each call opens the workspace and its store for the duration of the call only, so a notebook
never holds a lock or a stale connection between cells.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cozy_kernel import connections as _connections
from cozy_kernel import registry as _registry
from cozy_kernel import runner as _runner
from cozy_kernel.frames import DateLike
from cozy_kernel.store import Store
from cozy_kernel.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

Home = str | os.PathLike[str] | None


@contextmanager
def session(home: Home = None) -> Iterator[tuple[Workspace, Store]]:
    """Open the workspace and its store for one operation."""
    ws = Workspace.open(home)
    store = Store(ws.db_path)
    try:
        yield ws, store
    finally:
        store.close()


def workspace(*, home: Home = None) -> str:
    """The folder holding this user's data (created private if missing)."""
    return str(Workspace.open(home).root)


def frame(
    name: str,
    since: DateLike = None,
    until: DateLike = None,
    columns: Sequence[str] | None = None,
    *,
    home: Home = None,
) -> pd.DataFrame:
    """A collection as a DataFrame with real dtypes; ``since``/``until`` are inclusive dates."""
    from cozy_kernel import frames

    with session(home) as (ws, store):
        return frames.to_pandas(
            frames.table(ws, store, name, since=since, until=until, columns=columns)
        )


def collections(*, home: Home = None) -> list[dict[str, Any]]:
    """The collections the workspace holds, with their row counts and fields."""
    from cozy_kernel.frames import collection_from_store

    with session(home) as (_, store):
        out = []
        for name in store.collection_names():
            coll = collection_from_store(store, name)
            changed = store.db.execute(
                "SELECT changed_at FROM collections WHERE name = ?", (name,)
            ).fetchone()[0]
            out.append(
                {
                    "name": name,
                    "rows": store.count_rows(coll),
                    "changed_at": changed,
                    "description": coll.description,
                    "fields": [
                        {"name": f.name, "kind": f.kind, "nullable": f.nullable}
                        for f in coll.fields
                    ],
                }
            )
        return out


def connectors(*, home: Home = None) -> list[dict[str, Any]]:
    """Every discovered connector, whether it is connected, and why it is disabled if so."""
    with session(home) as (ws, store):
        connected = set(store.connections())
        out = []
        for entry in _registry.discover(ws).values():
            item: dict[str, Any] = {
                "id": entry.id,
                "enabled": entry.enabled,
                "connected": entry.id in connected,
                "origin": entry.origin,
                "error": entry.error,
            }
            if entry.cls is not None:
                m = entry.cls.manifest
                item.update(
                    name=m.name,
                    version=m.version,
                    kind=m.kind,
                    writes=list(m.writes),
                    description=dict(m.description),
                )
            out.append(item)
        return out


def connect(
    connector_id: str,
    settings: Mapping[str, Any] | None = None,
    /,
    *,
    home: Home = None,
    **more: Any,
) -> dict[str, str]:
    """Connect a connector with non-secret settings, as a mapping or keywords.

    ``cozy.connect("demo-bank", transactions=1000)``; a setting whose name clashes with a
    keyword here goes in the mapping: ``cozy.connect("x", {"home": "..."})``.
    """
    text = {k: str(v) for k, v in {**(settings or {}), **more}.items()}
    with session(home) as (ws, store):
        manifest = _registry.get(ws, connector_id).manifest
        return _connections.connect(store, manifest, text)


def sync(
    connector_id: str,
    *,
    full: bool = False,
    home: Home = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> _runner.SyncReport:
    """Run a connected connector and write what it found, all or nothing."""
    with session(home) as (ws, store):
        return _runner.run(ws, store, connector_id, full=full, progress=progress)


def runs(
    connector_id: str | None = None, *, limit: int = 20, home: Home = None
) -> list[dict[str, Any]]:
    """The run log, newest first."""
    with session(home) as (_, store):
        return store.runs(connector_id, limit)


def doctor(*, home: Home = None) -> dict[str, Any]:
    """Health of the workspace and of every connector, shared by every face."""
    from cozy_kernel import health

    with session(home) as (ws, store):
        return health.report(ws, store)
