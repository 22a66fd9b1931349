"""The sync runner: runs one connector and writes what it produced in one transaction.

Fetch and save are apart: the connector yields items, the runner validates them against the
declared collections, upserts them in batches inside a single transaction, saves the cursor
and the run log with the data, and commits once. Any fatal error rolls everything back, so the
store is exactly as it was, and the failed run is logged afterwards. File imports
(:mod:`cozy_kernel.importer`) write through the same :class:`Writer`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cozy_kernel import connections, registry, secrets, terms
from cozy_kernel.connector import Checkpoint, Connector, Item, Manifest, Record, Rejected
from cozy_kernel.errors import ConnectorFailed, CozyError, UsageError
from cozy_kernel.schemas import Collection, minor_to_money
from cozy_kernel.store import Store, UpsertCounts
from cozy_kernel.workspace import Workspace

if TYPE_CHECKING:
    from cozy_kernel.egress import GuardedSession

BATCH = 20_000
PENDING_WINDOW_DAYS = 5
Progress = Callable[[int, int | None], None]


@dataclass
class SyncReport:
    """What a run did; ``rejected`` lists one reason per refused record, and ``skipped`` the
    rows of an imported file that were no transactions to keep."""

    connector: str
    run_id: int
    full: bool
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cursor: str | None = None
    collections: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Writer:
    """Validates one run's items and writes them in batches; call inside a transaction."""

    def __init__(self, store: Store, run_id: int, manifest: Manifest) -> None:
        self.store = store
        self.run_id = run_id
        self.connector_id = manifest.id
        self.colls: dict[str, Collection] = {n: manifest.collection(n) for n in manifest.writes}
        self.encoders = {name: c.encoder() for name, c in self.colls.items()}
        self.rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self.raw: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        self.totals = UpsertCounts()
        self.per_collection: dict[str, UpsertCounts] = defaultdict(UpsertCounts)
        self.changed: set[str] = set()
        self.rejected: list[tuple[str, str]] = []
        self.pending_seen: set[str] = set()
        self.seen = 0
        for coll in self.colls.values():
            store.ensure_collection(coll)

    def add(self, item: Item) -> None:
        """Take one record or rejection; flushes every ``BATCH`` items."""
        self.seen += 1
        if isinstance(item, Rejected):
            self.rejected.append((item.reason, item.source))
        elif isinstance(item, Record):
            self._accept(item)
        else:
            raise ConnectorFailed(
                f"connector {self.connector_id!r} yielded {type(item).__name__}, "
                "not a Record, Rejected or Checkpoint"
            )
        if self.seen % BATCH == 0:
            self.flush()

    def _accept(self, record: Record) -> None:
        coll = self.colls.get(record.collection)
        if coll is None:
            self.rejected.append((f"collection {record.collection!r} is not declared", ""))
            return
        if coll.name == "bank.accounts":
            record = self._keep_newer_balance(record)
        try:
            row = self.encoders[coll.name](record.data)
        except ValueError as exc:
            key = record.data.get(coll.key)
            self.rejected.append((f"{coll.name} {coll.key}={key!r}: {exc}", ""))
            return
        self.rows[coll.name].append(row)
        if coll.name == "bank.transactions" and record.data.get("pending"):
            self.pending_seen.add(str(record.data[coll.key]))
        if record.raw is not None:
            self.raw[coll.name].append((str(record.data[coll.key]), record.raw))

    def _keep_newer_balance(self, record: Record) -> Record:
        """An older statement imported late must not roll an account's balance back."""
        stored = self.store.account_balance(str(record.data.get("id")))
        if stored is None:
            return record
        minor, day = stored
        new_day = record.data.get("balance_date")
        if new_day is not None and new_day.isoformat() >= day:
            return record
        kept = {
            **record.data,
            "balance": minor_to_money(minor),
            "balance_date": dt.date.fromisoformat(day),
        }
        return Record(record.collection, kept, record.raw)

    def flush(self) -> None:
        for coll in self.colls.values():
            self._flush(coll)

    def _flush(self, coll: Collection) -> None:
        rows = self.rows.pop(coll.name, [])
        counts, conflicts, twice = self.store.upsert(coll, rows, self.connector_id, self.run_id)
        self.rejected.extend(
            (f"{coll.name} {coll.key}={k!r} appears twice in one run; the first was kept", "")
            for k in twice
        )
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

    def finish(self, cursor: str | None = None) -> None:
        """Write what is left, mark changed collections, save the cursor and log the run."""
        self.flush()
        if "bank.transactions" in self.colls:
            settled = self.store.settle_pending(
                self.connector_id, self.run_id, self.pending_seen, PENDING_WINDOW_DAYS
            )
            if settled:
                counts = self.per_collection["bank.transactions"]
                for total in (self.totals, counts):
                    total.added = max(0, total.added - settled)
                    total.updated += settled
                self.changed.add("bank.transactions")
        for name in sorted(self.changed):
            self.store.bump(name)
        if cursor is not None:
            self.store.set_cursor(self.connector_id, cursor, self.run_id)
        self.store.finish_run(self.run_id, outcome="ok", counts=self.totals, rejected=self.rejected)

    def fill(self, report: SyncReport) -> SyncReport:
        report.added = self.totals.added
        report.updated = self.totals.updated
        report.unchanged = self.totals.unchanged
        report.rejected = [r for r, _ in self.rejected]
        report.collections = {
            name: {"added": c.added, "updated": c.updated, "unchanged": c.unchanged}
            for name, c in sorted(self.per_collection.items())
        }
        return report


def run(
    ws: Workspace,
    store: Store,
    connector_id: str,
    *,
    full: bool = False,
    progress: Progress | None = None,
    trigger: str = "user",
) -> SyncReport:
    """Sync one granted connector; ``full`` ignores the cursor and refetches everything.

    ``trigger`` (``user`` or ``schedule``) is logged with the run, so automatic runs can be
    told apart and paused on their own.
    """
    terms.require(store)
    cls = registry.get(ws, connector_id)
    manifest = cls.manifest
    settings = connections.require(store, manifest)
    since = None if full else store.cursor(connector_id)
    session, vault = equip(store, manifest)
    connector: Connector = cls(settings, http=session, secrets=vault)
    total = connector.estimate()

    run_id = store.start_run(connector_id, full=full, trigger=trigger)
    report = SyncReport(connector_id, run_id, full)
    writer: Writer | None = None
    try:
        with store.transaction():
            writer = Writer(store, run_id, manifest)
            for item in connector.fetch(since):
                if isinstance(item, Checkpoint):
                    report.cursor = item.cursor
                    continue
                writer.add(item)
                if progress is not None and writer.seen % BATCH == 0:
                    progress(writer.seen, total)
            writer.finish(report.cursor)
    except CozyError as exc:
        fail(store, run_id, secrets.redact(str(exc), vault.values()), exc.reason)
        exc.message = secrets.redact(exc.message, vault.values())
        raise
    except Exception as exc:
        detail = secrets.redact(f"{type(exc).__name__}: {exc}", vault.values())
        message = f"connector {connector_id!r} failed: {detail}"
        fail(store, run_id, message)
        raise ConnectorFailed(message, hint="nothing was written") from None
    finally:
        vault.remember()
        if session is not None:
            session.save(store, run_id)
    if progress is not None:
        progress(writer.seen, total)
    return writer.fill(report)


def equip(store: Store, manifest: Manifest) -> tuple[GuardedSession | None, secrets.Vault]:
    """What a connector may use: the egress-guarded session (api connectors) and its secrets."""
    creds = secrets.load(store, manifest.id) if manifest.credentials else {}
    missing = [c.label for c in manifest.credentials if c.name not in creds]
    if missing:
        raise UsageError(
            f"connector {manifest.id!r} has no {', '.join(missing)} in the keyring",
            hint=f"run: cozy connect {manifest.id}",
        )
    vault = secrets.Vault(store, manifest.id, creds)
    session: GuardedSession | None = None
    if manifest.kind == "api":
        from cozy_kernel import egress

        stored = store.connection(manifest.id) or {}
        hosts = [*manifest.egress_hosts, *connections.extra_hosts(manifest, stored)]
        session = egress.GuardedSession(manifest.id, hosts, secrets=vault)
    return session, vault


def link(ws: Workspace, store: Store, connector_id: str) -> str:
    """Run a connector's link step (e.g. a bank authorisation) and keep what it returns."""
    terms.require(store)
    cls = registry.get(ws, connector_id)
    settings = connections.require(store, cls.manifest)
    session, vault = equip(store, cls.manifest)
    try:
        result = cls(settings, http=session, secrets=vault).link()
    except CozyError as exc:
        exc.message = secrets.redact(exc.message, vault.values())
        raise
    except Exception as exc:
        detail = secrets.redact(f"{type(exc).__name__}: {exc}", vault.values())
        raise ConnectorFailed(f"connector {connector_id!r} could not link: {detail}") from None
    finally:
        vault.remember()
        if session is not None:
            session.save(store, None)
    if result is None:
        return ""
    if result.settings:
        with store.transaction():
            stored = store.connection(connector_id) or {}
            store.save_connection(connector_id, {**stored, **result.settings})
    return result.message


def fail(store: Store, run_id: int, message: str, reason: str | None = None) -> None:
    """Log a failed run after the rollback; its counts are zero since nothing stayed."""
    with store.transaction():
        store.finish_run(
            run_id,
            outcome="failed",
            counts=UpsertCounts(),
            rejected=[],
            error=message,
            reason=reason,
        )
