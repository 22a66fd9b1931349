"""Collections as pandas DataFrames with real dtypes, served from Parquet snapshots.

Reading a million rows out of SQLite costs seconds; reading Parquet costs a fraction of that.
So each collection has a snapshot file tagged with the store's id and the collection's change
counter. A load checks the tag against the store and rebuilds only when the collection changed.
The rebuild reads the counter and the rows in one read transaction (a consistent WAL
snapshot), writes a temporary file and publishes it with ``os.replace``, so a concurrent reader
either keeps the old file open or opens the new one — never a half-written one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from cozy_kernel.errors import UsageError, unknown
from cozy_kernel.schemas import BUILTIN, MONEY_PRECISION, MONEY_SCALE, Collection, Field
from cozy_kernel.store import Store
from cozy_kernel.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# Bump when the snapshot layout changes, so old files are rebuilt rather than misread.
SNAPSHOT_FORMAT = "1"
# Set while a share bundle runs a notebook: what it is handed is noted (portability.lineage).
LINEAGE_ENV = "COZY_LINEAGE"
DateLike = str | dt.date | None


def collection_from_store(store: Store, name: str) -> Collection:
    """A collection's declaration: built-in, or rebuilt from the schema the store recorded.

    Kernels may not have the connector that declared a collection installed; the store's
    copy of the schema is enough to type its frame.
    """
    if name in BUILTIN:
        return BUILTIN[name]
    row = store.db.execute("SELECT schema FROM collections WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise unknown("collection", name, {*store.collection_names(), *BUILTIN})
    schema = json.loads(row[0])
    fields = tuple(Field(f["name"], f["kind"], f["nullable"]) for f in schema["fields"])
    return Collection(
        name, fields, key=schema["key"], order_by=tuple(schema.get("order_by", [schema["key"]]))
    )


def arrow_type(f: Field) -> pa.DataType:
    import pyarrow as pa

    return {
        "text": pa.string(),
        "category": pa.dictionary(pa.int32(), pa.string()),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "money": pa.decimal128(MONEY_PRECISION, MONEY_SCALE),
        "bool": pa.bool_(),
        "int": pa.int64(),
    }[f.kind]


def arrow_schema(coll: Collection) -> pa.Schema:
    import pyarrow as pa

    fields = [pa.field(f.name, arrow_type(f), nullable=f.nullable) for f in coll.fields]
    fields.append(pa.field("connector", pa.dictionary(pa.int32(), pa.string()), nullable=False))
    fields.append(pa.field("run_id", pa.int64(), nullable=False))
    return pa.schema(fields)


def _convert(column: pa.Array, f: pa.Field) -> pa.Array:
    """Turn a column as SQLite stored it into its declared Arrow type, exactly."""
    import pyarrow as pa
    import pyarrow.compute as pc

    target = f.type
    if column.null_count == len(column):
        # The driver guesses a type for an all-NULL column; only the declared one is right.
        return pa.nulls(len(column), target)
    if pa.types.is_decimal(target):
        # Integer minor units -> decimal: an exact scaled multiplication, never a float.
        wide = column.cast(pa.decimal128(MONEY_PRECISION + 1, 0))
        unit = pa.scalar(
            Decimal(1).scaleb(-MONEY_SCALE), pa.decimal128(MONEY_SCALE + 1, MONEY_SCALE)
        )
        return pc.multiply(wide, unit).cast(target)
    if pa.types.is_dictionary(target):
        return column.cast(pa.string()).dictionary_encode().cast(target)
    return column.cast(target)


def _read_store(ws: Workspace, coll: Collection, store_id: str) -> tuple[pa.Table, int]:
    """Read the counter and every row in one read transaction, as Arrow."""
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    schema = arrow_schema(coll)
    with adbc.connect(str(ws.db_path)) as conn, conn.cursor() as cur:
        cur.execute("SELECT counter FROM collections WHERE name = ?", (coll.name,))
        row = cur.fetchone()
        if row is None:
            return schema.empty_table(), -1
        counter = int(row[0])
        cur.execute(f"SELECT count(*) FROM {coll.table}")
        count = int(cur.fetchone()[0])  # type: ignore[index]
        # SQLite has no column types to report: the driver infers them from the first batch,
        # so one batch must hold every row or a column that starts with NULLs is typed wrong.
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(max(count, 1))})
        cur.execute("SELECT DISTINCT field FROM edits WHERE collection = ?", (coll.name,))
        edited = {r[0] for r in cur.fetchall()} & set(schema.names)
        cur.execute(_select(coll, schema.names, edited), [coll.name] * len(edited))
        raw = cur.fetch_arrow_table()
        conn.rollback()
    columns = [
        _convert(raw.column(i).combine_chunks(), schema.field(i)) for i in range(raw.num_columns)
    ]
    table = pa.Table.from_arrays(columns, schema=schema)
    order = [(name, "ascending") for name in coll.order_by]
    return table.sort_by(order), counter


def _select(coll: Collection, names: Sequence[str], edited: set[str]) -> str:
    """The rows with the user's edits laid over the source's values, field by field."""
    columns, joins = [], []
    for i, name in enumerate(names):
        if name not in edited:
            columns.append(f"t.{name}")
            continue
        alias = f"e{i}"
        columns.append(f"CASE WHEN {alias}.key IS NULL THEN t.{name} ELSE {alias}.value END")
        joins.append(
            f"LEFT JOIN edits {alias} ON {alias}.collection = ? AND {alias}.field = '{name}' "
            f"AND {alias}.key = t.{coll.key}"
        )
    return f"SELECT {', '.join(columns)} FROM {coll.table} t {' '.join(joins)}"


def _tag(store_id: str, counter: int) -> dict[bytes, bytes]:
    return {
        b"cozy.store": store_id.encode(),
        b"cozy.counter": str(counter).encode(),
        b"cozy.format": SNAPSHOT_FORMAT.encode(),
    }


def _publish(path: Path, table: pa.Table) -> None:
    import pyarrow.parquet as pq

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            pq.write_table(table, out)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def snapshot(ws: Workspace, store: Store, coll: Collection) -> pa.Table:
    """The collection as an Arrow table, from the snapshot if it is current."""
    import pyarrow.parquet as pq

    path = ws.cache_dir / f"{coll.name}.parquet"
    store_id = store.store_id
    counter = store.counter(coll.name)
    want = _tag(store_id, -1 if counter is None else counter)
    try:
        with path.open("rb") as handle:
            meta = pq.read_schema(handle).metadata or {}
            if all(meta.get(k) == v for k, v in want.items()):
                handle.seek(0)
                return pq.read_table(handle)
    except FileNotFoundError:
        pass
    table, counter = _read_store(ws, coll, store_id)
    table = table.replace_schema_metadata(_tag(store_id, counter))
    _publish(path, table)
    return table


def _as_date(value: DateLike, name: str) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a date (YYYY-MM-DD)") from None


def read(ws: Workspace, store: Store, name: str) -> pa.Table:
    """A whole collection as Arrow, for the core's own use.

    Never noted by a share's lineage: a function that reads more than it hands over (the
    budget categorises the whole history, then returns a month) notes what it returns.
    """
    return _rows(ws, store, name, None, None, None)[1]


def table(
    ws: Workspace,
    store: Store,
    name: str,
    *,
    since: DateLike = None,
    until: DateLike = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """A collection as Arrow, as handed to a notebook (``cozy.frame``) or a file.

    While a share bundle runs a notebook, the rows and columns returned are noted (and
    pseudonymised when asked), so that the bundle holds exactly those.
    """
    coll, data = _rows(ws, store, name, since, until, columns)
    if os.environ.get(LINEAGE_ENV):
        from cozy_kernel.portability import lineage

        return lineage.observe(coll, data, columns)
    return data if columns is None else data.select(list(columns))


def handed_over(
    coll: Collection,
    frame: pd.DataFrame,
    columns: Sequence[str],
    like: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """A frame of ``coll``'s rows that a public function returns, as the notebook gets it.

    For functions that compute on more than they return (see :func:`read`): while a share
    runs the notebook, the rows of ``frame`` and the collection's ``columns`` it carries are
    noted, and pseudonymised when asked (``like``: more columns holding values of a column of
    ``coll``, see :func:`cozy_kernel.portability.lineage.received`).
    """
    if not os.environ.get(LINEAGE_ENV):
        return frame
    from cozy_kernel.portability import lineage

    return lineage.received(coll, frame, columns, like)


def pseudonymous(frame: pd.DataFrame, coll: Collection, like: Mapping[str, str]) -> pd.DataFrame:
    """``frame`` with the columns that hold ``coll``'s identifying values hidden in a
    pseudonymised share (``like``: column of ``frame`` -> column of ``coll``).

    For what a function returns from outside the collections that still names accounts,
    counterparties or label words (a budget rule's conditions).
    """
    if not os.environ.get(LINEAGE_ENV):
        return frame
    from cozy_kernel.portability import lineage

    return lineage.disguised(frame, coll, like)


def _rows(
    ws: Workspace,
    store: Store,
    name: str,
    since: DateLike,
    until: DateLike,
    columns: Sequence[str] | None,
) -> tuple[Collection, pa.Table]:
    """The rows between ``since`` and ``until``, every column; ``columns`` checked to exist."""
    import pyarrow.compute as pc

    from cozy_kernel import terms

    terms.require(store)

    coll = collection_from_store(store, name)
    table = snapshot(ws, store, coll)
    start, end = _as_date(since, "since"), _as_date(until, "until")
    if start is not None or end is not None:
        time_field = next(
            (f for f in (coll.field(n) for n in coll.order_by) if f.kind in ("date", "timestamp")),
            None,
        )
        if time_field is None:
            raise UsageError(f"collection {name!r} has no date to filter since/until on")
        col = table.column(time_field.name)
        if time_field.kind == "timestamp":
            col = pc.cast(col, "date32")
        mask = None
        if start is not None:
            mask = pc.greater_equal(col, start)
        if end is not None:
            upper = pc.less_equal(col, end)
            mask = upper if mask is None else pc.and_(mask, upper)
        table = table.filter(mask)
    if columns is not None:
        for c in columns:
            if c not in table.column_names:
                raise unknown(f"column of {name}", c, table.column_names)
    return coll, table


def to_pandas(data: pa.Table) -> pd.DataFrame:
    """Arrow to pandas with the dtypes a budget needs.

    Money becomes Python ``Decimal`` values rather than pandas' Arrow decimal dtype: we
    measured both, and the Arrow dtype widens every sum to precision 38, after which adding
    two sums (income + spending, budget - actual) fails and ``cumsum`` is unsupported. Decimal
    objects stay exact through every operation for about 0.25 s more per million rows.
    Dates become ``datetime64``, dictionary columns categoricals, text pandas strings.
    """
    frame: pd.DataFrame = data.to_pandas(date_as_object=False)
    return frame


def write(
    data: pa.Table,
    fmt: str,
    out: BinaryIO,
    accounts: pa.Table | None = None,
    *,
    safe_csv: bool = False,
) -> None:
    """Export rows as CSV, JSON (records, ISO dates, amounts as decimal strings) or Parquet;
    transactions also as OFX or Beancount, for other software (``accounts`` gives OFX the
    account types and balances).

    Written from Arrow rather than pandas so dates stay dates and amounts stay exact text.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt in ("ofx", "beancount"):
        from cozy_kernel.portability import interop

        if fmt == "ofx":
            interop.write_ofx(data, out, accounts)
        else:
            interop.write_beancount(data, out)
        return

    plain = pa.table(
        {
            n: c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c
            for n, c in zip(data.column_names, data.columns, strict=True)
        }
    )
    if fmt == "parquet":
        pq.write_table(data, out)
    elif fmt == "csv":
        if safe_csv:
            plain = _spreadsheet_safe(plain)
        pacsv.write_csv(plain, out, pacsv.WriteOptions(quoting_style="needed"))
    elif fmt == "json":
        out.write(b"[")
        for i, row in enumerate(plain.to_pylist()):
            out.write(b",\n" if i else b"\n")
            out.write(json.dumps(row, default=_json_value, ensure_ascii=False).encode())
        out.write(b"\n]\n")
    else:
        raise UsageError(f"format {fmt!r} is not csv, json, parquet, ofx or beancount")


def _spreadsheet_safe(table: pa.Table) -> pa.Table:
    """Texts a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first)
    get a leading ``'``, which spreadsheets show as text; numbers and dates are left alone.

    Not lossless (the quote becomes part of the text), so only on request: ``--safe-csv``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.match_substring_regex(column, r"^[=+\-@\t\r]")
            quoted = pc.binary_join_element_wise(pa.scalar("'"), column, "")
            column = pc.if_else(risky, quoted, column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _json_value(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
