"""The store side of a restore: rows, the run log and the store's own tables, merged.

Collections are first staged (:func:`stage`): their Parquet, converted to the store's values
column by column, is written through ADBC into a scratch SQLite file, with no Python object
per row. Everything else runs inside the restore's one transaction (see :mod:`.restore`): rows
are merged from the staging file by :meth:`Store.merge_staged`, the same dedup as a sync, in
one statement per collection; the store's own tables follow :data:`.layout.MERGE`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cozy_kernel.errors import IntegrityError
from cozy_kernel.frames import collection_from_store
from cozy_kernel.portability import layout, package, tables
from cozy_kernel.portability.layout import Progress
from cozy_kernel.portability.verify import (
    SHARED_RUN,
    Bundle,
    Unpacked,
    namespace_of,
    provenance,
    required,
    target,
)
from cozy_kernel.schemas import BUILTIN, Collection
from cozy_kernel.store import Store, UpsertCounts

STAGE = "stage"  # the schema name the staging file is attached under
# Columns a merge reads by name from a store table, beyond those the store requires.
_READS = {"runs": ("id",)}


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
    the bundle is verified. Its conversion (:func:`.tables.to_store`) is the check of each
    value a restore relies on: a value it refuses refuses the bundle. Batch by batch (memory
    stays bounded by one), Arrow to SQLite through ADBC. A share's rows are staged under the
    restore's own connector name. Stops between batches once ``cancel`` is set.
    """
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow.parquet as pq

    descriptor = package.read(raw.payload)
    namespace = namespace_of(raw.info[layout.TAG_KIND], descriptor)
    staged_as = provenance(namespace)
    files = []
    for resource in descriptor["resources"]:
        if "cozy:collection" not in resource:
            continue
        rel = str(resource.get("path"))
        if not package.inside(rel) or not (raw.payload / rel).is_file():
            raise IntegrityError(f"bundle: resource path {rel!r} is not a payload file")
        parquet = pq.ParquetFile(raw.payload / package.twin(rel))
        declared = tables.collection_of(resource["cozy:collection"])
        coll = target(declared, parquet.schema_arrow.names, namespace)
        files.append((coll, parquet, f"bundle: {package.twin(rel)}"))
    total = sum(file.metadata.num_rows for _, file, _ in files)
    done = 0
    out = []
    # A scratch file, deleted with the bundle: no journal, no flush to disk, each batch committed.
    with adbc.connect(str(path), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("PRAGMA journal_mode=OFF")
        cur.fetchall()
        cur.execute("PRAGMA synchronous=OFF")
        for i, (coll, file, label) in enumerate(files):
            empty = tables.store_schema_arrow(coll).empty_table()
            cur.adbc_ingest(f"c{i}", empty, mode="create")  # there even when no row is
            for batch in file.iter_batches(tables.BATCH_ROWS):
                if cancel.is_set():
                    return []
                try:
                    rows = tables.to_store(batch, coll, staged_as)
                except IntegrityError as exc:
                    raise IntegrityError(f"{label}: {exc.message}") from None
                cur.adbc_ingest(f"c{i}", rows, mode="append")
                done += batch.num_rows
                if progress is not None:
                    progress(done, total)
            out.append(Staged(coll, f"{STAGE}.c{i}", file.metadata.num_rows))
    return out


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

    def _table(self, table: str) -> tuple[list[str], Iterator[dict[str, Any]]]:
        """The columns and rows the bundle carries of ``table`` (this store's own name).

        Column names go into SQL, so they are this store's, never the bundle's: a column
        unknown here, typed otherwise, or that may be empty where the store requires it, is
        refused, as is a bundle lacking a column the store cannot fill itself.
        """
        resource = self.bundle.store_tables.get(table)
        if resource is None:
            return [], iter(())
        columns, key = tables.store_columns(self.db, table)
        if not columns:
            raise IntegrityError(f"bundle: this Cozy Notebook has no table {table!r}; upgrade it")
        label = f"bundle: {resource['path']}"
        here = {f["name"]: f for f in tables.store_schema(table, columns, key)["fields"]}
        given = {f["name"]: f for f in resource["schema"]["fields"]}
        for name, f in given.items():
            want = here.get(name)
            if want is None:
                raise IntegrityError(f"{label}: unknown column {name!r}")
            if (f.get("type"), f.get("format")) != (want["type"], want.get("format")):
                raise IntegrityError(f"{label}: column {name!r} is not typed as this store's")
            if required(want) and not required(f):
                raise IntegrityError(f"{label}: column {name!r} may be empty, this store's not")
        needed = [c.name for c in columns if not (c.nullable or c.default)]
        for name in (*needed, *_READS.get(table, ())):
            if name not in given:
                raise IntegrityError(f"{label}: it lacks column {name!r}")
        return [c.name for c in columns if c.name in given], self._rows(resource)

    def _rows(self, resource: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(self.bundle.parquet(resource))
        for batch in parquet.iter_batches(tables.BATCH_ROWS):
            yield from batch.to_pylist()

    def _own(self, table: str) -> str:
        """This store's name of a table the bundle carries: one the code merges, or a budget
        table this store has (as SQLite names it)."""
        if table in layout.MERGE:
            return table
        if not table.startswith(layout.BUDGET_PREFIX):
            raise IntegrityError(f"bundle: unknown workspace table {table!r}")
        row = self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if row is None:
            raise IntegrityError(f"bundle: this Cozy Notebook has no table {table!r}; upgrade it")
        return str(row[0])

    def _merge_runs(self) -> dict[int, int]:
        """Source run id -> run id here: the same run found by content, else added."""
        names, rows = self._table("runs")
        content = [n for n in names if n != "id"]
        found_by = " AND ".join(f'"{n}" IS ?' for n in content)
        mapping = {}
        for row in rows:
            old = row["id"]
            if not isinstance(old, int):
                raise IntegrityError("bundle: workspace/runs.parquet has a run without an id")
            values = [row[n] for n in content]
            found = self.db.execute(f"SELECT id FROM runs WHERE {found_by}", values).fetchone()
            if found is not None:
                mapping[old] = int(found[0])
                continue
            free = self.db.execute("SELECT 1 FROM runs WHERE id = ?", (old,)).fetchone() is None
            columns = ["id", *content] if free else content
            cur = self.db.execute(
                f"INSERT INTO runs ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                [old, *values] if free else values,
            )
            assert cur.lastrowid is not None
            mapping[old] = cur.lastrowid
            self.changes += 1
        return mapping

    def workspace(self) -> dict[str, int]:
        """Merge every store table the bundle carries; rows added or changed per table."""
        merged = {}
        for name in self.bundle.store_tables:
            if name in ("runs", "raw_records", "egress_log"):
                continue
            table = self._own(name)
            policy = layout.MERGE.get(table) or self._budget_policy(table)
            names, rows = self._table(table)
            _, key = tables.store_columns(self.db, table)
            before = self.db.total_changes
            for row in rows:
                self._merge_row(table, policy, names, key, row)
            merged[table] = self.db.total_changes - before
            self.changes += merged[table]
        for name in sorted(self.edited):
            self.store.bump(name)
        return merged

    def _budget_policy(self, table: str) -> str:
        columns, key = tables.store_columns(self.db, table)
        integer_id = key == ["id"] and any(c.name == "id" and c.sql == "INTEGER" for c in columns)
        return "append" if integer_id else "upsert"

    def _merge_row(
        self, table: str, policy: str, names: list[str], key: list[str], row: dict[str, Any]
    ) -> None:
        if table in layout.RUN_COLUMNS:
            column = layout.RUN_COLUMNS[table]
            if row.get(column) is not None:
                row[column] = self.runs.get(int(row[column]), row[column])
        if table == "edits":
            row = self._edit(row)
            if not row:
                return
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
            self._agrees(coll)
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

    def _agrees(self, coll: Collection) -> None:
        """A collection this workspace holds keeps its declaration: the bundle's must have its
        key, type each field both know alike and bring each field it requires, or rows would
        be stored as what they are not (text in a money column breaks every frame of it)."""
        if coll.name in BUILTIN or self.store.counter(coll.name) is None:
            return  # a built-in one is this release's own (see .verify.target)
        held = collection_from_store(self.store, coll.name)
        kinds = {f.name: f.kind for f in held.fields}
        differ = [f.name for f in coll.fields if kinds.get(f.name, f.kind) != f.kind]
        names = {f.name for f in coll.fields}
        lacking = [f.name for f in held.fields if not f.nullable and f.name not in names]
        if differ:
            raise IntegrityError(
                f"bundle: {coll.name} declares {differ[0]!r} otherwise than this workspace holds it"
            )
        if lacking:
            raise IntegrityError(
                f"bundle: {coll.name} lacks field {lacking[0]!r}, which this workspace requires"
            )
        if held.key != coll.key:
            raise IntegrityError(f"bundle: {coll.name} is keyed by {coll.key!r}, here {held.key!r}")

    def _raw_records(self) -> None:
        """Source payloads beside rows restored here (not beside rows another connector holds)."""
        groups: dict[tuple[str, str, int], list[tuple[str, bytes]]] = defaultdict(list)
        _, rows = self._table("raw_records")
        for row in rows:
            if row["key"] in self.conflicts.get(row["collection"], set()):
                continue
            run = self.runs.get(int(row["run_id"]), int(row["run_id"]))
            groups[(row["collection"], row["connector"], run)].append((row["key"], row["payload"]))
        before = self.db.total_changes
        for (collection, connector, run_id), payloads in groups.items():
            self.store.upsert_raw(collection, payloads, connector, run_id)
        self.changes += self.db.total_changes - before
