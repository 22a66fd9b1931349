"""The workspace's SQLite store: schema, migrations, upserts, run log, cursors, connections.

SQLite in WAL mode lets a sync commit in one process while kernels read in others without
either blocking (see ARCHITECTURE.md for the measurement that chose it). Every sync writes in
one transaction, so a failed run leaves the store exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cozy_kernel.errors import IntegrityError, StoreBusy, unknown
from cozy_kernel.schemas import BUILTIN, SQL_TYPES, Collection

BUSY_TIMEOUT_S = 120.0


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _script(db: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: ``executescript`` would commit the open transaction."""
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        # A trigger body holds semicolons: run only once SQLite sees a whole statement.
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                db.execute(statement)
            statement = ""


def _v1(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE collections (
            name TEXT PRIMARY KEY,
            schema TEXT NOT NULL,
            counter INTEGER NOT NULL DEFAULT 0,
            changed_at TEXT
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            connector TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            outcome TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'failed')),
            full INTEGER NOT NULL,
            added INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            error TEXT
        );
        CREATE INDEX runs_by_connector ON runs (connector, id);
        CREATE TABLE cursors (
            connector TEXT PRIMARY KEY,
            cursor TEXT NOT NULL,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            updated_at TEXT NOT NULL
        );
        CREATE TABLE connections (
            connector TEXT PRIMARY KEY,
            settings TEXT NOT NULL,
            connected_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE rejections (
            run_id INTEGER NOT NULL REFERENCES runs (id),
            reason TEXT NOT NULL,
            source TEXT NOT NULL
        );
        CREATE TABLE raw_records (
            collection TEXT NOT NULL,
            key TEXT NOT NULL,
            connector TEXT NOT NULL,
            run_id INTEGER NOT NULL,
            payload BLOB NOT NULL,
            PRIMARY KEY (collection, key)
        );
        """,
    )
    db.execute("INSERT INTO meta VALUES ('store_id', ?)", (uuid.uuid4().hex,))


def _v2(db: sqlite3.Connection) -> None:
    """The consent ledger: append-only, hash-chained, with a head kept beside it."""
    _script(
        db,
        """
        CREATE TABLE consent_events (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            subject TEXT NOT NULL,
            kind TEXT NOT NULL
                CHECK (kind IN ('given', 'refused', 'withdrawn', 'renewed', 'expired')),
            scope TEXT NOT NULL CHECK (scope IN ('terms', 'connector')),
            connector TEXT,
            version TEXT,
            text_sha256 TEXT,
            language TEXT,
            method TEXT NOT NULL,
            manifest_sha256 TEXT,
            details TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        );
        CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
        BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END;
        CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
        BEGIN SELECT RAISE(ABORT, 'the consent ledger is append-only'); END
        """,
    )
    db.execute("INSERT INTO meta VALUES ('subject_id', ?)", (uuid.uuid4().hex,))


def _v3(db: sqlite3.Connection) -> None:
    """Names (never values) of keyring secrets, and the log of every outgoing request."""
    _script(
        db,
        """
        CREATE TABLE secret_names (
            connector TEXT NOT NULL,
            name TEXT NOT NULL,
            PRIMARY KEY (connector, name)
        );
        CREATE TABLE egress_log (
            id INTEGER PRIMARY KEY,
            connector TEXT NOT NULL,
            run_id INTEGER,
            at TEXT NOT NULL,
            method TEXT NOT NULL,
            host TEXT NOT NULL,
            path TEXT NOT NULL,
            status INTEGER,
            bytes INTEGER NOT NULL,
            ms INTEGER NOT NULL,
            allowed INTEGER NOT NULL
        );
        CREATE INDEX egress_by_connector ON egress_log (connector, id)
        """,
    )


def _v4(db: sqlite3.Connection) -> None:
    """The user's own edits, kept apart so that no sync or import can overwrite them."""
    _script(
        db,
        """
        CREATE TABLE edits (
            collection TEXT NOT NULL,
            key TEXT NOT NULL,
            field TEXT NOT NULL,
            value,
            at TEXT NOT NULL,
            PRIMARY KEY (collection, field, key)
        ) WITHOUT ROWID
        """,
    )


def _v5(db: sqlite3.Connection) -> None:
    """Budgeting the user owns: their category tree, their rules and their budgets.

    Kept beside the edits (never in a connector's rows) so that no sync or erasure of a
    connector touches what the user decided; money stays in integer minor units.
    """
    _script(
        db,
        """
        CREATE TABLE budget_categories (
            id TEXT PRIMARY KEY,
            parent TEXT REFERENCES budget_categories (id),
            name_en TEXT NOT NULL,
            name_es TEXT NOT NULL,
            name_fr TEXT NOT NULL,
            position INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE budget_aliases (
            alias TEXT PRIMARY KEY,
            category TEXT NOT NULL REFERENCES budget_categories (id)
        );
        CREATE TABLE budget_rules (
            id INTEGER PRIMARY KEY,
            category TEXT NOT NULL REFERENCES budget_categories (id),
            contains TEXT,
            regex TEXT,
            min_amount INTEGER,
            max_amount INTEGER,
            account TEXT,
            counterparty TEXT,
            priority INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN ('active', 'proposed')),
            origin TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE budget_amounts (
            category TEXT NOT NULL REFERENCES budget_categories (id),
            month TEXT NOT NULL,
            currency TEXT NOT NULL,
            amount INTEGER NOT NULL CHECK (amount >= 0),
            envelope INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (category, month, currency)
        )
        """,
    )


def _v6(db: sqlite3.Connection) -> None:
    """Scheduled syncs: each run says what started it and why it failed, and each
    connector may have the user's frequency, its random slot and a pause."""
    _script(
        db,
        """
        ALTER TABLE runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'user';
        ALTER TABLE runs ADD COLUMN reason TEXT;
        CREATE TABLE schedules (
            connector TEXT PRIMARY KEY,
            frequency TEXT CHECK (frequency IN ('daily', 'weekly', 'off')),
            slot REAL NOT NULL CHECK (slot >= 0 AND slot < 1),
            paused TEXT,
            paused_at TEXT
        )
        """,
    )


def _v7(db: sqlite3.Connection) -> None:
    """The request log counts what went out too (``bytes`` is what came back): a transfer
    sends a whole workspace and gets a short answer."""
    _script(db, "ALTER TABLE egress_log ADD COLUMN sent INTEGER NOT NULL DEFAULT 0")


def _v8(db: sqlite3.Connection) -> None:
    """Which process runs each run, so a run whose process was killed can be marked failed.

    Kept apart from ``runs``, which travels in bundles: a process id means nothing elsewhere.
    Runs left ``running`` by an earlier version cannot say who ran them; none can still be.
    """
    _script(
        db,
        """
        CREATE TABLE run_owners (
            run_id INTEGER PRIMARY KEY REFERENCES runs (id),
            pid INTEGER NOT NULL,
            host TEXT NOT NULL
        )
        """,
    )
    db.execute(
        "UPDATE runs SET outcome = 'failed', ended_at = ?, error = ? WHERE outcome = 'running'",
        (_now(), "interrupted: it was still running when this store was upgraded"),
    )


# Rows are written and read in bulk (a sync, a frame, a restore): measured on a million demo
# transactions, 32 KiB pages insert a restore's rows in 1.1 s where 4 KiB pages take 1.8 s.
PAGE_SIZE = 32_768
# Append only: each migration moves the schema one ``user_version`` forward.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8,
)  # fmt: skip


def process_alive(pid: int) -> bool:
    """Whether a process of this machine still exists (one of another user's counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def connect(path: Path) -> sqlite3.Connection:
    """Open the store in autocommit mode; callers open transactions explicitly."""
    if not path.exists():
        # Create the file private before SQLite does; its -wal and -shm files copy the mode.
        path.touch(mode=0o600)
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    # Takes effect only on a new, empty file (before WAL): an older store keeps its pages.
    db.execute(f"PRAGMA page_size={PAGE_SIZE}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA temp_store=MEMORY")
    return db


@dataclass
class UpsertCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


class Store:
    """Typed access to one workspace database; one instance per process and thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = connect(path)
        self._migrate()
        self.upgrade_builtins()

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise IntegrityError(
                f"store {self.path} has schema {version}, newer than this Cozy Notebook "
                f"understands ({len(MIGRATIONS)}); upgrade cozy-notebook"
            )
        if version == len(MIGRATIONS):
            return
        with self.transaction():
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for step, migrate in enumerate(MIGRATIONS[version:], start=version + 1):
                migrate(self.db)
                self.db.execute(f"PRAGMA user_version={step}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything inside commits together or not at all."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusy(f"store {self.path} is busy with another write") from None
            raise
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            # SQLite ends the transaction itself on some errors (a full disk): rolling back
            # again would hide the real error behind "no transaction is active".
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    @property
    def store_id(self) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
        return str(row[0])

    # -- collections -------------------------------------------------------------------

    def ensure_collection(self, coll: Collection) -> None:
        """Create the collection's table on first use; call inside a transaction."""
        cols = ", ".join(
            f"{f.name} {SQL_TYPES[f.kind]}{'' if f.nullable else ' NOT NULL'}" for f in coll.fields
        )
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {coll.table} ("
            f"{cols}, connector TEXT NOT NULL, run_id INTEGER NOT NULL, "
            f"PRIMARY KEY ({coll.key})) WITHOUT ROWID"
        )
        self.db.execute(
            f'CREATE INDEX IF NOT EXISTS "{coll.name}:connector" ON {coll.table} (connector)'
        )
        have = {r[1] for r in self.db.execute(f"PRAGMA table_info({coll.table})")}
        for f in coll.fields:
            if f.name in have:
                continue
            if not f.nullable:
                raise IntegrityError(
                    f"collection {coll.name} gained a required field {f.name!r}, which rows "
                    "already stored cannot have; declare it nullable"
                )
            # A newer declaration adds an optional field: existing rows simply lack it.
            self.db.execute(f"ALTER TABLE {coll.table} ADD COLUMN {f.name} {SQL_TYPES[f.kind]}")
        row = self.db.execute(
            "SELECT schema FROM collections WHERE name = ?", (coll.name,)
        ).fetchone()
        stored = set() if row is None else {f["name"] for f in json.loads(row[0])["fields"]}
        if row is None or ({f.name for f in coll.fields} > stored):
            self.db.execute(
                "INSERT INTO collections (name, schema) VALUES (?, ?) ON CONFLICT (name) "
                "DO UPDATE SET schema = excluded.schema, counter = counter + 1",
                (coll.name, _schema_json(coll)),
            )

    def upgrade_builtins(self) -> None:
        """Give stored built-in collections the fields a newer release declares."""
        for name in self.collection_names():
            coll = BUILTIN.get(name)
            if coll is None:
                continue
            row = self.db.execute("SELECT schema FROM collections WHERE name = ?", (name,))
            stored = {f["name"] for f in json.loads(row.fetchone()[0])["fields"]}
            if {f.name for f in coll.fields} - stored:  # rare: only after an upgrade
                with self.transaction():
                    self.ensure_collection(coll)

    def collection_names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM collections ORDER BY name")]

    def counter(self, name: str) -> int | None:
        row = self.db.execute("SELECT counter FROM collections WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def count_rows(self, coll: Collection) -> int:
        if self.counter(coll.name) is None:
            return 0
        return int(self.db.execute(f"SELECT count(*) FROM {coll.table}").fetchone()[0])

    def upsert(
        self, coll: Collection, rows: Sequence[tuple[Any, ...]], connector: str, run_id: int
    ) -> tuple[UpsertCounts, list[str], list[str]]:
        """Insert new rows and update changed ones by key; call inside a transaction.

        Rows go through a temporary staging table and :meth:`merge_staged`. A key given twice
        in one batch is written once (the first) and returned in the third list.
        """
        if not rows:
            return UpsertCounts(), [], []
        position = [f.name for f in coll.fields].index(coll.key)
        counts = Counter(row[position] for row in rows)
        twice = {k for k, n in counts.items() if n > 1}
        if twice:
            # The staging table would keep only the last copy and miscount: keep the first.
            seen: set[Any] = set()
            unique = []
            for row in rows:
                if row[position] not in seen:
                    seen.add(row[position])
                    unique.append(row)
            rows = unique
        names = coll.columns
        stage = f'temp."stage.{coll.name}"'
        self.db.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ({', '.join(names)}, "
            f"PRIMARY KEY ({coll.key}))"
        )
        self.db.execute(f"DELETE FROM {stage}")
        marks = ", ".join("?" for _ in names)
        self.db.executemany(
            f"INSERT OR REPLACE INTO {stage} VALUES ({marks})",
            ((*row, connector, run_id) for row in rows),
        )
        got, conflicts = self.merge_staged(coll, stage, len(rows))
        return got, conflicts, sorted(twice)

    def merge_staged(
        self, coll: Collection, stage: str, staged: int, run_ids: Mapping[int, int] | None = None
    ) -> tuple[UpsertCounts, list[str]]:
        """Merge ``staged`` rows of table ``stage`` into the collection by key, in set operations.

        The one dedup rule of a sync and a restore: a key another connector holds is refused
        (returned), never overwritten; a changed row is updated; an equal one left as it is.
        ``stage`` has the collection's columns, each key once; ``run_ids`` maps its run ids to
        this store's. Into an empty table every row is new, and the per-row counting is skipped:
        that is a first restore, where it would double the work. Call inside a transaction.
        """
        key, table = coll.key, coll.table
        names = coll.columns
        run = "s.run_id"
        moved = {int(a): int(b) for a, b in (run_ids or {}).items() if a != b}
        if moved:
            cases = " ".join(f"WHEN {a} THEN {b}" for a, b in moved.items())
            run = f"CASE s.run_id {cases} ELSE s.run_id END"
        picked = ", ".join(run if n == "run_id" else f"s.{n}" for n in names)
        empty = self.db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None
        conflicts: list[str] = []
        added, updated, keep = staged, 0, "true"
        if not empty:
            conflicts = [
                r[0]
                for r in self.db.execute(
                    f"SELECT s.{key} FROM {stage} s JOIN {table} t ON t.{key} = s.{key} "
                    "WHERE t.connector != s.connector"
                )
            ]
            if conflicts:
                keep = (
                    f"NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{key} = s.{key} "
                    "AND t.connector != s.connector)"
                )
            differs = " OR ".join(f"t.{f.name} IS NOT s.{f.name}" for f in coll.fields)
            added = self.db.execute(
                f"SELECT count(*) FROM {stage} s WHERE NOT EXISTS "
                f"(SELECT 1 FROM {table} t WHERE t.{key} = s.{key})"
            ).fetchone()[0]
            updated = self.db.execute(
                f"SELECT count(*) FROM {stage} s JOIN {table} t ON t.{key} = s.{key} "
                f"WHERE t.connector = s.connector AND ({differs})"
            ).fetchone()[0]
        assignments = ", ".join(f"{n} = excluded.{n}" for n in names if n != key)
        changed = " OR ".join(f"{f.name} IS NOT excluded.{f.name}" for f in coll.fields)
        self.db.execute(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {picked} FROM {stage} s "
            f"WHERE {keep} ON CONFLICT ({key}) DO UPDATE SET {assignments} WHERE {changed}"
        )
        unchanged = staged - len(conflicts) - added - updated
        return UpsertCounts(added, updated, unchanged), conflicts

    @contextmanager
    def attached(self, path: Path, name: str) -> Iterator[None]:
        """Another SQLite file readable as ``name`` (a staging file); outside a transaction."""
        self.db.execute(f"ATTACH DATABASE ? AS {name}", (str(path),))
        try:
            yield
        finally:
            self.db.execute(f"DETACH DATABASE {name}")

    def upsert_raw(
        self, collection: str, payloads: Sequence[tuple[str, bytes]], connector: str, run_id: int
    ) -> None:
        """Keep source payloads apart from typed rows, one per record key."""
        self.db.executemany(
            "INSERT INTO raw_records VALUES (?, ?, ?, ?, ?) ON CONFLICT (collection, key) "
            "DO UPDATE SET connector = excluded.connector, run_id = excluded.run_id, "
            "payload = excluded.payload WHERE payload IS NOT excluded.payload",
            ((collection, k, connector, run_id, p) for k, p in payloads),
        )

    def settle_pending(
        self, connector: str, run_id: int, seen_pending: set[str], window_days: int
    ) -> int:
        """Let booked rows of this run replace pending rows the source no longer reports.

        A bank often gives a booked transaction a new id; the pending row it replaces then
        vanishes from the source. Each vanished pending row is matched one-to-one with a
        booked row written by this run — same account and amount, booking date within
        ``window_days`` — nearest date first, and deleted. Call inside the run's transaction.
        """
        table = '"bank.transactions"'
        vanished = [
            row
            for row in self.db.execute(
                f"SELECT id, account_id, julianday(date), amount FROM {table} "
                "WHERE connector = ? AND pending = 1 AND run_id != ? ORDER BY date, id",
                (connector, run_id),
            )
            if row[0] not in seen_pending
        ]
        if not vanished:
            return 0
        booked: dict[tuple[str, int], list[tuple[float, str]]] = {}
        for tid, account, day, amount in self.db.execute(
            f"SELECT id, account_id, julianday(date), amount FROM {table} "
            "WHERE connector = ? AND run_id = ? AND pending = 0",
            (connector, run_id),
        ):
            booked.setdefault((account, amount), []).append((day, tid))
        replaced = []
        for tid, account, day, amount in vanished:
            options = booked.get((account, amount), [])
            near = [o for o in options if abs(o[0] - day) <= window_days]
            if not near:
                continue
            best = min(near, key=lambda o: (abs(o[0] - day), o[1]))
            options.remove(best)
            replaced.append(tid)
        self.db.executemany(f"DELETE FROM {table} WHERE id = ?", ((t,) for t in replaced))
        self.db.executemany(
            "DELETE FROM raw_records WHERE collection = 'bank.transactions' AND key = ?",
            ((t,) for t in replaced),
        )
        return len(replaced)

    def edit(self, coll: Collection, key: str, values: dict[str, Any]) -> None:
        """Record the user's values for some fields of one row; inside a transaction."""
        exists = self.db.execute(
            f"SELECT 1 FROM {coll.table} WHERE {coll.key} = ?", (key,)
        ).fetchone()
        if exists is None:
            raise unknown(f"{coll.name} {coll.key}", key, [])
        now = _now()
        self.db.executemany(
            "INSERT INTO edits VALUES (?, ?, ?, ?, ?) ON CONFLICT (collection, field, key) "
            "DO UPDATE SET value = excluded.value, at = excluded.at",
            ((coll.name, key, field, value, now) for field, value in values.items()),
        )
        self.bump(coll.name)

    def revert(self, coll: Collection, key: str, fields: list[str]) -> int:
        """Drop the user's values so the source's show again; inside a transaction."""
        marks = ", ".join("?" for _ in fields)
        cur = self.db.execute(
            f"DELETE FROM edits WHERE collection = ? AND key = ? AND field IN ({marks})",
            (coll.name, key, *fields),
        )
        if cur.rowcount:
            self.bump(coll.name)
        return cur.rowcount

    def edited_fields(self, name: str) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT field FROM edits WHERE collection = ? ORDER BY field", (name,)
            )
        ]

    def edited_values(self, coll: Collection, field: str) -> list[tuple[str, Any, Any]]:
        """Each row's (key, the user's value, the source's value) for one edited field.

        Budgeting needs both: the user's category decides first, the bank's stays underneath.
        """
        if self.counter(coll.name) is None:
            return []
        coll.field(field)  # refuse unknown fields before they reach the SQL
        return [
            (str(key), user, source)
            for key, user, source in self.db.execute(
                f"SELECT e.key, e.value, t.{field} FROM edits e JOIN {coll.table} t "
                f"ON t.{coll.key} = e.key WHERE e.collection = ? AND e.field = ?",
                (coll.name, field),
            )
        ]

    def account_balance(self, account_id: str) -> tuple[int, str] | None:
        """The stored balance (minor units) and its date, if the account has one."""
        if self.counter("bank.accounts") is None:
            return None
        row = self.db.execute(
            'SELECT balance, balance_date FROM "bank.accounts" WHERE id = ? '
            "AND balance IS NOT NULL AND balance_date IS NOT NULL",
            (account_id,),
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def raw_payload(self, collection: str, key: str) -> bytes | None:
        row = self.db.execute(
            "SELECT payload FROM raw_records WHERE collection = ? AND key = ?", (collection, key)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def bump(self, name: str) -> None:
        """Mark a collection changed so frame snapshots rebuild; inside the same transaction."""
        self.db.execute(
            "UPDATE collections SET counter = counter + 1, changed_at = ? WHERE name = ?",
            (_now(), name),
        )

    # -- runs and cursors --------------------------------------------------------------

    def start_run(self, connector: str, *, full: bool, trigger: str = "user") -> int:
        """Log a run as running, committed at once so other processes can see it.

        First marks failed the runs whose process was killed, so none stays running forever.
        """
        with self.transaction():
            self.reap()
            cur = self.db.execute(
                "INSERT INTO runs (connector, started_at, outcome, full, trigger) "
                "VALUES (?, ?, 'running', ?, ?)",
                (connector, _now(), int(full), trigger),
            )
            assert cur.lastrowid is not None
            self.db.execute(
                "INSERT INTO run_owners VALUES (?, ?, ?)",
                (cur.lastrowid, os.getpid(), socket.gethostname()),
            )
        return cur.lastrowid

    def reap(self) -> list[int]:
        """Mark failed the runs still ``running`` whose process on this machine has died."""
        rows = self.db.execute(
            "SELECT r.id, o.pid FROM runs r JOIN run_owners o ON o.run_id = r.id "
            "WHERE r.outcome = 'running' AND o.host = ?",
            (socket.gethostname(),),
        ).fetchall()
        dead = [(run_id, pid) for run_id, pid in rows if not process_alive(pid)]
        for run_id, pid in dead:
            self.db.execute(
                "UPDATE runs SET outcome = 'failed', ended_at = ?, error = ? WHERE id = ?",
                (
                    _now(),
                    f"interrupted: its process ({pid}) stopped before the run ended; "
                    "nothing it fetched was kept",
                    run_id,
                ),
            )
        return [run_id for run_id, _ in dead]

    def finish_run(
        self,
        run_id: int,
        *,
        outcome: str,
        counts: UpsertCounts,
        rejected: Sequence[tuple[str, str]],
        error: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE runs SET ended_at = ?, outcome = ?, added = ?, updated = ?, unchanged = ?, "
            "rejected = ?, error = ?, reason = ? WHERE id = ?",
            (
                _now(),
                outcome,
                counts.added,
                counts.updated,
                counts.unchanged,
                len(rejected),
                error,
                reason,
                run_id,
            ),
        )
        self.db.executemany(
            "INSERT INTO rejections VALUES (?, ?, ?)", ((run_id, r, s) for r, s in rejected)
        )

    def runs(self, connector: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        args: tuple[Any, ...] = ()
        if connector is not None:
            sql += " WHERE connector = ?"
            args = (connector,)
        cur = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur]

    def cursor(self, connector: str) -> str | None:
        row = self.db.execute(
            "SELECT cursor FROM cursors WHERE connector = ?", (connector,)
        ).fetchone()
        return None if row is None else str(row[0])

    def set_cursor(self, connector: str, cursor: str, run_id: int) -> None:
        self.db.execute(
            "INSERT INTO cursors VALUES (?, ?, ?, ?) ON CONFLICT (connector) DO UPDATE SET "
            "cursor = excluded.cursor, run_id = excluded.run_id, updated_at = excluded.updated_at",
            (connector, cursor, run_id, _now()),
        )

    def erase_connector(self, connector: str) -> dict[str, int]:
        """Delete every row, payload, cursor, setting and run of one connector.

        Call inside a transaction. ``secure_delete`` overwrites the freed pages so the erased
        data does not linger in the file; the caller checkpoints the WAL afterwards.
        """
        self.db.execute("PRAGMA secure_delete=ON")
        erased: dict[str, int] = {}
        for name in self.collection_names():
            cur = self.db.execute(f'DELETE FROM "{name}" WHERE connector = ?', (connector,))
            if cur.rowcount:
                erased[name] = cur.rowcount
                self.bump(name)
        self.db.execute("DELETE FROM raw_records WHERE connector = ?", (connector,))
        self.db.execute("DELETE FROM cursors WHERE connector = ?", (connector,))
        self.db.execute("DELETE FROM connections WHERE connector = ?", (connector,))
        self.db.execute("DELETE FROM schedules WHERE connector = ?", (connector,))
        self.db.execute(
            "DELETE FROM rejections WHERE run_id IN (SELECT id FROM runs WHERE connector = ?)",
            (connector,),
        )
        self.db.execute(
            "DELETE FROM run_owners WHERE run_id IN (SELECT id FROM runs WHERE connector = ?)",
            (connector,),
        )
        self.db.execute("DELETE FROM runs WHERE connector = ?", (connector,))
        self.db.execute("DELETE FROM egress_log WHERE connector = ?", (connector,))
        for name in erased:
            key = json.loads(
                self.db.execute(
                    "SELECT schema FROM collections WHERE name = ?", (name,)
                ).fetchone()[0]
            )["key"]
            self.db.execute(
                "DELETE FROM edits WHERE collection = ? "
                f'AND key NOT IN (SELECT {key} FROM "{name}")',
                (name,),
            )  # fmt: skip
        return erased

    def checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it, e.g. after an erasure."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- schedules ---------------------------------------------------------------------
    def schedule(self, connector: str) -> dict[str, Any] | None:
        cur = self.db.execute("SELECT * FROM schedules WHERE connector = ?", (connector,))
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))

    def save_schedule(self, connector: str, slot: float, frequency: str | None) -> None:
        """Create the connector's schedule, or change only its frequency; call in a transaction."""
        self.db.execute(
            "INSERT INTO schedules (connector, frequency, slot) VALUES (?, ?, ?) "
            "ON CONFLICT (connector) DO UPDATE SET frequency = excluded.frequency",
            (connector, frequency, slot),
        )

    def pause_schedule(self, connector: str, why: str | None) -> None:
        """Pause automatic runs with the reason shown to the user, or resume them (None)."""
        self.db.execute(
            "UPDATE schedules SET paused = ?, paused_at = ? WHERE connector = ?",
            (why, None if why is None else _now(), connector),
        )

    # -- connections -------------------------------------------------------------------

    def connection(self, connector: str) -> dict[str, str] | None:
        row = self.db.execute(
            "SELECT settings FROM connections WHERE connector = ?", (connector,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def connections(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT connector FROM connections ORDER BY 1")]

    def save_connection(self, connector: str, settings: dict[str, str]) -> None:
        now = _now()
        self.db.execute(
            "INSERT INTO connections VALUES (?, ?, ?, ?) ON CONFLICT (connector) DO UPDATE SET "
            "settings = excluded.settings, updated_at = excluded.updated_at",
            (connector, json.dumps(settings, sort_keys=True), now, now),
        )


def _schema_json(coll: Collection) -> str:
    return json.dumps(
        {
            "key": coll.key,
            "order_by": list(coll.order_by),
            "fields": [
                {"name": f.name, "kind": f.kind, "nullable": f.nullable} for f in coll.fields
            ],
        },
        sort_keys=True,
    )
