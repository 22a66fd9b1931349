"""The store side of a restore: rows, the run log and the store's own tables, merged.

Collections are first staged (:func:`stage`): their Parquet, converted to the store's values
column by column, is written through ADBC into a scratch SQLite file, with no Python object
per row. Everything else runs inside the restore's one transaction (see :mod:`.restore`): rows
are merged from the staging file by :meth:`Store.merge_staged`, the same dedup as a sync, in
one statement per collection; the store's own tables follow :data:`.layout.MERGE`.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cozy_kernel.errors import IntegrityError
from cozy_kernel.frames import collection_from_store
from cozy_kernel.portability import layout, package, tables
from cozy_kernel.portability.layout import Progress
from cozy_kernel.portability.verify import Bundle, Unpacked
from cozy_kernel.schemas import BUILTIN, Collection, Field
from cozy_kernel.store import Store, UpsertCounts

STAGE = "stage"  # the schema name the staging file is attached under
SHARED_RUN = 0  # a share's rows are staged with this run id, then given the restore's own
_NAMESPACE = re.compile(r"^[a-z][a-z0-9_]*$")


def namespace_of(kind: str, descriptor: dict[str, Any]) -> str | None:
    """Where a share's rows and notebooks land (``shared.<namespace>``); None for a full bundle."""
    if kind != layout.SHARE:
        return None
    namespace = str(descriptor.get("cozy", {}).get("namespace", ""))
    if not _NAMESPACE.match(namespace):
        raise IntegrityError(f"bundle: share namespace {namespace!r} is not a plain name")
    return namespace


@dataclass(frozen=True)
class Staged:
    """One collection's rows, staged: the collection they land in, their table, how many."""

    coll: Collection
    table: str
    rows: int


def stage(
    raw: Unpacked, path: Path, progress: Progress | None, cancel: threading.Event
) -> list[Staged]:
    """Write every collection's rows, as the store keeps them, to the SQLite file ``path``.

    Runs while :func:`.verify.checked` checks the same bundle, so it trusts nothing: a
    resource path that leaves the payload is refused, and what it writes is only used once
    the bundle is verified. Batch by batch (memory stays bounded by one), Arrow to SQLite
    through ADBC. A share's rows are staged under the restore's own connector name. Stops
    between batches once ``cancel`` is set.
    """
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow.parquet as pq

    descriptor = package.read(raw.payload)
    namespace = namespace_of(raw.info[layout.TAG_KIND], descriptor)
    provenance = None if namespace is None else (layout.RESTORE_RUN, SHARED_RUN)
    files = []
    for resource in descriptor["resources"]:
        if "cozy:collection" not in resource:
            continue
        rel = str(resource.get("path"))
        if not package.inside(rel) or not (raw.payload / rel).is_file():
            raise IntegrityError(f"bundle: resource path {rel!r} is not a payload file")
        parquet = pq.ParquetFile((raw.payload / rel).with_suffix(".parquet"))
        declared = tables.collection_of(resource["cozy:collection"])
        files.append((_target(declared, parquet.schema_arrow.names, namespace), parquet))
    total = sum(file.metadata.num_rows for _, file in files)
    done = 0
    out = []
    # A scratch file, deleted with the bundle: no journal, no flush to disk, each batch committed.
    with adbc.connect(str(path), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("PRAGMA journal_mode=OFF")
        cur.fetchall()
        cur.execute("PRAGMA synchronous=OFF")
        for i, (coll, file) in enumerate(files):
            empty = tables.store_schema_arrow(coll).empty_table()
            cur.adbc_ingest(f"c{i}", empty, mode="create")  # there even when no row is
            for batch in file.iter_batches(tables.BATCH_ROWS):
                if cancel.is_set():
                    return []
                cur.adbc_ingest(f"c{i}", tables.to_store(batch, coll, provenance), mode="append")
                done += batch.num_rows
                if progress is not None:
                    progress(done, total)
            out.append(Staged(coll, f"{STAGE}.c{i}", file.metadata.num_rows))
    return out


def _target(declared: Collection, names: list[str], namespace: str | None) -> Collection:
    """The collection rows land in: yours for a full bundle, a shared one for a share."""
    if namespace is not None:
        fields = tuple(
            Field(f.name, f.kind, f.nullable or f.name != declared.key, f.description)
            for f in declared.fields
            if f.name in names
        )
        order = tuple(n for n in declared.order_by if n in names) or (declared.key,)
        return Collection(
            f"shared.{namespace}.{declared.name}", fields, key=declared.key,
            description=declared.description, order_by=order,
        )  # fmt: skip
    coll = BUILTIN.get(declared.name, declared)
    unknown = set(names) - {*(f.name for f in coll.fields), "connector", "run_id"}
    if unknown:
        raise IntegrityError(
            f"bundle: {declared.name} has field {min(unknown)!r}, unknown here; upgrade"
        )
    return coll


class Merge:
    """The store side of one restore, inside its transaction."""

    def __init__(
        self, store: Store, bundle: Bundle, namespace: str | None, staged: list[Staged]
    ) -> None:
        self.store = store
        self.db = store.db
        self.bundle = bundle
        self.namespace = namespace
        self.staged = staged
        self.changes = 0
        self.runs: dict[int, int] = {}
        self.conflicts: dict[str, set[str]] = {}
        self.totals = UpsertCounts()
        self.edited: set[str] = set()
        self.run_id: int | None = None
        if namespace is not None:
            self.run_id = self._start()  # shared rows all come from this restore
        else:
            self.runs = self._merge_runs()

    def _start(self) -> int:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        cur = self.db.execute(
            "INSERT INTO runs (connector, started_at, outcome, full) VALUES (?, ?, 'running', 0)",
            (layout.RESTORE_RUN, now),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish(self) -> int:
        """Log the restore itself in the run log, with what it added and updated."""
        run_id = self.run_id if self.run_id is not None else self._start()
        self.db.execute(
            "UPDATE runs SET ended_at = ?, outcome = 'ok', added = ?, updated = ?, unchanged = ? "
            "WHERE id = ?",
            (dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), self.totals.added,
             self.totals.updated, self.totals.unchanged, run_id),
        )  # fmt: skip
        return run_id

    # -- the store's own tables -----------------------------------------------------------

    def _table(self, name: str) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq

        path = self.bundle.payload / layout.WORKSPACE / f"{name}.parquet"
        if path.is_file():
            for batch in pq.ParquetFile(path).iter_batches(tables.BATCH_ROWS):
                yield from batch.to_pylist()

    def _columns(self, table: str, row: dict[str, Any]) -> list[str]:
        columns, _ = tables.store_columns(self.db, table)
        have = {c.name for c in columns}
        if not have:
            raise IntegrityError(f"bundle: this Cozy Notebook has no table {table!r}; upgrade it")
        unknown = set(row) - have
        if unknown:
            raise IntegrityError(f"bundle: workspace/{table} has unknown column {min(unknown)!r}")
        return [c.name for c in columns if c.name in row]

    def _merge_runs(self) -> dict[int, int]:
        """Source run id -> run id here: the same run found by content, else added."""
        mapping = {}
        for row in self._table("runs"):
            old = int(row.pop("id"))
            names = list(row)
            found = self.db.execute(
                "SELECT id FROM runs WHERE " + " AND ".join(f'"{n}" IS ?' for n in names),
                [row[n] for n in names],
            ).fetchone()
            if found is not None:
                mapping[old] = int(found[0])
                continue
            free = self.db.execute("SELECT 1 FROM runs WHERE id = ?", (old,)).fetchone() is None
            if free:
                row = {"id": old, **row}
            cur = self.db.execute(
                f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                list(row.values()),
            )
            assert cur.lastrowid is not None
            mapping[old] = cur.lastrowid
            self.changes += 1
        return mapping

    def workspace(self) -> dict[str, int]:
        """Merge every store table the bundle carries; rows added or changed per table."""
        merged = {}
        for resource in self.bundle.descriptor["resources"]:
            table = resource.get("cozy:store-table")
            if table in (None, "runs", "raw_records", "egress_log"):
                continue
            policy = layout.MERGE.get(table) or self._budget_policy(table)
            before = self.db.total_changes
            for row in self._table(table):
                self._merge_row(table, policy, row)
            merged[table] = self.db.total_changes - before
            self.changes += merged[table]
        for name in sorted(self.edited):
            self.store.bump(name)
        return merged

    def _budget_policy(self, table: str) -> str:
        if not table.startswith(layout.BUDGET_PREFIX):
            raise IntegrityError(f"bundle: unknown workspace table {table!r}")
        columns, key = tables.store_columns(self.db, table)
        integer_id = key == ["id"] and any(c.name == "id" and c.sql == "INTEGER" for c in columns)
        return "append" if integer_id else "upsert"

    def _merge_row(self, table: str, policy: str, row: dict[str, Any]) -> None:
        if table in layout.RUN_COLUMNS:
            column = layout.RUN_COLUMNS[table]
            if row.get(column) is not None:
                row[column] = self.runs.get(int(row[column]), row[column])
        if table == "edits":
            row = self._edit(row)
            if not row:
                return
        names = self._columns(table, row)
        _, key = tables.store_columns(self.db, table)
        marks = ", ".join("?" for _ in names)
        insert = f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({marks})'
        values = [row[n] for n in names]
        if policy == "append":
            content = [n for n in names if n not in ("id",)]
            found = self.db.execute(
                f'SELECT 1 FROM "{table}" WHERE ' + " AND ".join(f'"{n}" IS ?' for n in content),
                [row[n] for n in content],
            ).fetchone()
            if found is None:
                self.db.execute(
                    f'INSERT INTO "{table}" ({", ".join(content)}) '
                    f"VALUES ({', '.join('?' for _ in content)})",
                    [row[n] for n in content],
                )
        elif policy == "absent":
            self.db.execute(f"{insert} ON CONFLICT DO NOTHING", values)
        else:
            rest = [n for n in names if n not in key]
            update = ", ".join(f"{n} = excluded.{n}" for n in rest)
            differs = " OR ".join(f"{n} IS NOT excluded.{n}" for n in rest) or "false"
            self.db.execute(
                f"{insert} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {update} WHERE {differs}",
                values,
            )

    def _edit(self, row: dict[str, Any]) -> dict[str, Any]:
        """The store's value of an edit, for a row this workspace holds; else nothing."""
        name = str(row["collection"])
        if self.store.counter(name) is None:
            return {}
        coll = collection_from_store(self.store, name)
        held = self.db.execute(
            f"SELECT 1 FROM {coll.table} WHERE {coll.key} = ?", (row["key"],)
        ).fetchone()
        if held is None or row["field"] not in {f.name for f in coll.fields}:
            return {}
        value = tables.edit_value(coll.field(str(row["field"])), row["value"])
        current = self.db.execute(
            "SELECT value, at FROM edits WHERE collection = ? AND field = ? AND key = ?",
            (name, row["field"], row["key"]),
        ).fetchone()
        if current is not None and (current[0] == value or current[1] >= row["at"]):
            return {}  # the same edit, or a later one made here: yours stays
        self.edited.add(name)
        return {**row, "value": value}

    # -- collections ----------------------------------------------------------------------

    def collections(self) -> dict[str, dict[str, int]]:
        """Merge each staged collection; what was added, updated, unchanged or refused."""
        out = {}
        runs = self.runs
        if self.namespace is not None:
            assert self.run_id is not None
            runs = {SHARED_RUN: self.run_id}
        for staged in self.staged:
            coll = staged.coll
            self.store.ensure_collection(coll)
            counts, refused = self.store.merge_staged(coll, staged.table, staged.rows, runs)
            if counts.added or counts.updated:
                self.store.bump(coll.name)
            self.changes += counts.added + counts.updated
            self.conflicts[coll.name] = set(refused)
            self.totals.added += counts.added
            self.totals.updated += counts.updated
            self.totals.unchanged += counts.unchanged
            out[coll.name] = {"added": counts.added, "updated": counts.updated,
                              "unchanged": counts.unchanged, "conflicts": len(refused)}  # fmt: skip
        if self.namespace is None:
            self._raw_records()
        return out

    def _raw_records(self) -> None:
        """Source payloads beside rows restored here (not beside rows another connector holds)."""
        groups: dict[tuple[str, str, int], list[tuple[str, bytes]]] = defaultdict(list)
        for row in self._table("raw_records"):
            if row["key"] in self.conflicts.get(row["collection"], set()):
                continue
            run = self.runs.get(int(row["run_id"]), int(row["run_id"]))
            groups[(row["collection"], row["connector"], run)].append((row["key"], row["payload"]))
        before = self.db.total_changes
        for (collection, connector, run_id), payloads in groups.items():
            self.store.upsert_raw(collection, payloads, connector, run_id)
        self.changes += self.db.total_changes - before
