"""The consent ledger: append-only, hash-chained events in the workspace store.

Each event's hash covers its fields and the previous event's hash, and the store's ``meta``
keeps the head (count and last hash) in the same transaction, so any edit, deletion (even of
the last events) or reordering is detected by :func:`verify`, which names the first bad event.
Triggers refuse UPDATE and DELETE, so only a deliberate edit of the file can change history.
The ledger never holds a secret: only versions, hashes, ids and method names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from cozy_kernel.errors import IntegrityError
from cozy_kernel.store import Store

EventKind = Literal["given", "refused", "withdrawn", "renewed", "expired"]
Scope = Literal["terms", "connector"]
GENESIS = "0" * 64
FIELDS = (
    "seq", "at", "subject", "kind", "scope", "connector", "version", "text_sha256", "language",
    "method", "manifest_sha256", "details", "prev_hash",
)  # fmt: skip


@dataclass(frozen=True)
class Event:
    """One consent event as stored; ``details`` is canonical JSON."""

    seq: int
    at: str
    subject: str
    kind: EventKind
    scope: Scope
    connector: str | None
    version: str | None
    text_sha256: str | None
    language: str | None
    method: str
    manifest_sha256: str | None
    details: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["details"] = json.loads(self.details)
        return data


def canonical(value: Any) -> str:
    """The one JSON spelling of a value, so hashes do not depend on key order or spacing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: fields[k] for k in FIELDS}).encode()).hexdigest()


def subject(store: Store) -> str:
    """The local pseudonymous id of the person this workspace belongs to."""
    row = store.db.execute("SELECT value FROM meta WHERE key = 'subject_id'").fetchone()
    return f"urn:uuid:{row[0]}"


def _head(store: Store) -> tuple[int, str]:
    row = store.db.execute("SELECT value FROM meta WHERE key = 'ledger_head'").fetchone()
    if row is None:
        return 0, GENESIS
    count, last = str(row[0]).split(":")
    return int(count), last


def append(
    store: Store,
    *,
    kind: EventKind,
    scope: Scope,
    method: str,
    connector: str | None = None,
    version: str | None = None,
    text_sha256: str | None = None,
    language: str | None = None,
    manifest_sha256: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Event:
    """Append one event; call inside a store transaction so the head moves with it."""
    count, last = _head(store)
    fields: dict[str, Any] = {
        "seq": count + 1,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "subject": subject(store),
        "kind": kind,
        "scope": scope,
        "connector": connector,
        "version": version,
        "text_sha256": text_sha256,
        "language": language,
        "method": method,
        "manifest_sha256": manifest_sha256,
        "details": canonical(dict(details or {})),
        "prev_hash": last,
    }
    digest = _digest(fields)
    store.db.execute(
        f"INSERT INTO consent_events ({', '.join(FIELDS)}, hash) "
        f"VALUES ({', '.join('?' for _ in FIELDS)}, ?)",
        (*(fields[k] for k in FIELDS), digest),
    )
    store.db.execute(
        "INSERT INTO meta VALUES ('ledger_head', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (f"{fields['seq']}:{digest}",),
    )
    return Event(**fields, hash=digest)


def events(
    store: Store, *, scope: Scope | None = None, connector: str | None = None
) -> list[Event]:
    sql = f"SELECT {', '.join(FIELDS)}, hash FROM consent_events"
    where: list[str] = []
    args: list[str] = []
    if scope is not None:
        where.append("scope = ?")
        args.append(scope)
    if connector is not None:
        where.append("connector = ?")
        args.append(connector)
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [Event(*row) for row in store.db.execute(sql + " ORDER BY seq", args)]


def last(store: Store, *, scope: Scope, connector: str | None = None) -> Event | None:
    found = events(store, scope=scope, connector=connector)
    return found[-1] if found else None


def verify(store: Store) -> int:
    """Check the whole chain; return the number of events or raise naming the first bad one."""
    previous = GENESIS
    expected = 1
    for event in events(store):
        if event.seq != expected:
            raise IntegrityError(
                f"consent ledger: event #{expected} is missing (next is #{event.seq})"
            )
        if event.prev_hash != previous:
            raise IntegrityError(
                f"consent ledger: event #{event.seq} does not follow event #{expected - 1} "
                "(deleted or reordered)"
            )
        fields = asdict(event)
        if _digest(fields) != event.hash:
            raise IntegrityError(f"consent ledger: event #{event.seq} was altered (hash mismatch)")
        previous = event.hash
        expected += 1
    count, head = _head(store)
    if (count, head) != (expected - 1, previous):
        raise IntegrityError(
            f"consent ledger: event #{expected} onwards is missing "
            f"(the ledger head records {count} events)"
        )
    return count
