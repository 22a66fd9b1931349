"""The sync runner: runs one connector and writes what it produced in one transaction.

Fetch and save are apart: the connector yields items, the runner validates them against the
declared collections, upserts them in batches inside a single transaction, saves the cursor
and the run log with the data, and commits once. Any fatal error rolls everything back, so the
store is exactly as it was, and the failed run is logged afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from cozy_kernel import connections, registry, terms
from cozy_kernel.connector import Checkpoint, Connector, Record, Rejected
from cozy_kernel.errors import ConnectorFailed, CozyError
from cozy_kernel.schemas import Collection
from cozy_kernel.store import Store, UpsertCounts
from cozy_kernel.workspace import Workspace

BATCH = 20_000
Progress = Callable[[int, int | None], None]


@dataclass
class SyncReport:
    """What a run did; ``rejected`` lists one reason per refused record."""

    connector: str
    run_id: int
    full: bool
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)
    cursor: str | None = None
    collections: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Batches:
    """Validated rows waiting to be written, per collection."""

    def __init__(self, store: Store, run_id: int, connector_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.connector_id = connector_id
        self.rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self.raw: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        self.totals = UpsertCounts()
        self.per_collection: dict[str, UpsertCounts] = defaultdict(UpsertCounts)
        self.changed: set[str] = set()
        self.rejected: list[tuple[str, str]] = []

    def flush(self, coll: Collection) -> None:
        rows = self.rows.pop(coll.name, [])
        counts, conflicts = self.store.upsert(coll, rows, self.connector_id, self.run_id)
        raw = self.raw.pop(coll.name, [])
        if conflicts:
            held = set(conflicts)
            raw = [(k, p) for k, p in raw if k not in held]
            self.rejected.extend(
                (f"{coll.name} {coll.key}={k!r} belongs to another connector", "")
                for k in conflicts
            )
        if raw:
            self.store.upsert_raw(coll.name, raw, self.connector_id, self.run_id)
        for total in (self.totals, self.per_collection[coll.name]):
            total.added += counts.added
            total.updated += counts.updated
            total.unchanged += counts.unchanged
        if counts.added or counts.updated:
            self.changed.add(coll.name)


def run(
    ws: Workspace,
    store: Store,
    connector_id: str,
    *,
    full: bool = False,
    progress: Progress | None = None,
) -> SyncReport:
    """Sync one granted connector; ``full`` ignores the cursor and refetches everything."""
    terms.require(store)
    cls = registry.get(ws, connector_id)
    manifest = cls.manifest
    settings = connections.require(store, manifest)
    since = None if full else store.cursor(connector_id)
    connector: Connector = cls(settings)
    colls = {name: manifest.collection(name) for name in manifest.writes}
    encoders = {name: c.encoder() for name, c in colls.items()}
    total = connector.estimate()

    run_id = store.start_run(connector_id, full=full)
    batches = _Batches(store, run_id, connector_id)
    report = SyncReport(connector_id, run_id, full)
    seen = 0
    try:
        with store.transaction():
            for coll in colls.values():
                store.ensure_collection(coll)
            for item in connector.fetch(since):
                if isinstance(item, Checkpoint):
                    report.cursor = item.cursor
                    continue
                seen += 1
                if isinstance(item, Rejected):
                    batches.rejected.append((item.reason, item.source))
                elif isinstance(item, Record):
                    _accept(item, colls, encoders, batches)
                else:
                    raise ConnectorFailed(
                        f"connector {connector_id!r} yielded {type(item).__name__}, "
                        "not a Record, Rejected or Checkpoint"
                    )
                if seen % BATCH == 0:
                    for coll in colls.values():
                        batches.flush(coll)
                    if progress is not None:
                        progress(seen, total)
            for coll in colls.values():
                batches.flush(coll)
            for name in sorted(batches.changed):
                store.bump(name)
            if report.cursor is not None:
                store.set_cursor(connector_id, report.cursor, run_id)
            store.finish_run(run_id, outcome="ok", counts=batches.totals, rejected=batches.rejected)
    except CozyError as exc:
        _fail(store, run_id, batches, str(exc))
        raise
    except Exception as exc:
        message = f"connector {connector_id!r} failed: {type(exc).__name__}: {exc}"
        _fail(store, run_id, batches, message)
        raise ConnectorFailed(message, hint="nothing was written") from exc
    if progress is not None:
        progress(seen, total)
    report.added = batches.totals.added
    report.updated = batches.totals.updated
    report.unchanged = batches.totals.unchanged
    report.rejected = [r for r, _ in batches.rejected]
    report.collections = {
        name: {"added": c.added, "updated": c.updated, "unchanged": c.unchanged}
        for name, c in sorted(batches.per_collection.items())
    }
    return report


def _accept(
    record: Record,
    colls: Mapping[str, Collection],
    encoders: Mapping[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]],
    batches: _Batches,
) -> None:
    coll = colls.get(record.collection)
    if coll is None:
        batches.rejected.append((f"collection {record.collection!r} is not declared", ""))
        return
    try:
        row = encoders[coll.name](record.data)
    except ValueError as exc:
        key = record.data.get(coll.key)
        batches.rejected.append((f"{coll.name} {coll.key}={key!r}: {exc}", ""))
        return
    batches.rows[coll.name].append(row)
    if record.raw is not None:
        batches.raw[coll.name].append((str(record.data[coll.key]), record.raw))


def _fail(store: Store, run_id: int, batches: _Batches, message: str) -> None:
    """Log the failed run after the rollback; its counts are zero since nothing stayed."""
    with store.transaction():
        store.finish_run(
            run_id, outcome="failed", counts=UpsertCounts(), rejected=[], error=message
        )
