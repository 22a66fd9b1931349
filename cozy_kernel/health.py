"""``doctor``: one health report of the workspace and its connectors for every face.

Each connector reports its own ``check()`` (can it run?) next to what the store knows of it
(last run, rows held), so the CLI, the REST API and later the sidebar badges agree.
"""

from __future__ import annotations

import stat
from typing import Any

from cozy_kernel import connections, registry, terms
from cozy_kernel.errors import CozyError
from cozy_kernel.frames import collection_from_store
from cozy_kernel.store import MIGRATIONS, Store
from cozy_kernel.workspace import Workspace


def report(ws: Workspace, store: Store) -> dict[str, Any]:
    mode = stat.S_IMODE(ws.root.stat().st_mode)
    problems: list[str] = []
    if mode & 0o077:
        problems.append(f"workspace {ws.root} is readable by others (mode {mode:o}); chmod 700 it")
    journal = store.db.execute("PRAGMA journal_mode").fetchone()[0]
    agreed = terms.status(store)
    if agreed["state"] == "required":
        problems.append(f"terms {agreed['latest_version']} not accepted: run cozy terms accept")
    rows: dict[str, int] = {}
    for name in store.collection_names():
        rows[name] = store.count_rows(collection_from_store(store, name))
    connected = set(store.connections())
    connectors = []
    for entry in registry.discover(ws).values():
        item: dict[str, Any] = {"id": entry.id, "enabled": entry.enabled, "origin": entry.origin}
        item["connected"] = entry.id in connected
        if entry.cls is None:
            item.update(ok=False, message=entry.error)
            problems.append(f"connector {entry.id}: {entry.error}")
        elif entry.id in connected:
            try:
                health = entry.cls(connections.require(store, entry.cls.manifest)).check()
                item.update(ok=health.ok, message=health.message, details=dict(health.details))
            except CozyError as exc:
                item.update(ok=False, message=str(exc))
            last = store.runs(entry.id, limit=1)
            item["last_run"] = last[0] if last else None
            if not item["ok"]:
                problems.append(f"connector {entry.id}: {item['message']}")
            elif last and last[0]["outcome"] == "failed":
                problems.append(f"connector {entry.id}: last sync failed: {last[0]['error']}")
        else:
            item.update(ok=True, message="not connected")
        connectors.append(item)
    return {
        "ok": not problems,
        "problems": problems,
        "workspace": {
            "path": str(ws.root),
            "mode": f"{mode:o}",
            "store": str(ws.db_path),
            "store_bytes": ws.db_path.stat().st_size,
            "schema_version": store.db.execute("PRAGMA user_version").fetchone()[0],
            "schema_latest": len(MIGRATIONS),
            "journal_mode": journal,
        },
        "terms": agreed,
        "collections": rows,
        "connectors": connectors,
    }
