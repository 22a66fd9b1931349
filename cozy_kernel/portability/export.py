"""Export: the whole workspace as one verifiable bundle (what goes where: :mod:`.layout`).

The bundle is built in a temporary folder next to the output — tables streamed from one
consistent read of the store, a batch at a time — then scanned for secrets, bagged, zipped
from the files on disk and published with ``os.replace``: the output file is either the old
one or the complete new bundle, never half of one.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cozy_kernel import __version__, ledger, receipt, terms, transparency
from cozy_kernel.errors import BadInput
from cozy_kernel.frames import collection_from_store
from cozy_kernel.portability import bag, canary, layout, package, tables
from cozy_kernel.portability.layout import Progress
from cozy_kernel.schemas import SQL_TYPES, Collection
from cozy_kernel.store import Store
from cozy_kernel.workspace import Workspace

if TYPE_CHECKING:
    import pyarrow as pa


class Counter:
    """Rows written so far against the total, reported to the caller's progress callback."""

    def __init__(self, total: int | None, progress: Progress | None) -> None:
        self.done = 0
        self.total = total
        self.progress = progress

    def __call__(self, rows: int) -> None:
        self.done += rows
        if self.progress is not None:
            self.progress(self.done, self.total)


@contextmanager
def assembling(store: Store, out: Path) -> Iterator[tuple[Path, package.Builder]]:
    """(bag folder, builder) in a temporary folder beside ``out``, removed afterwards.

    Every file the builder describes is hashed, searched for secrets and zipped on a second
    thread while the next is written; :func:`publish` finishes the zip and moves it to ``out``.
    """
    forms = canary.spellings(store)  # no keyring to scan with: refuse before any work
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in out.stem)
        root = tmp / (stem.strip(".") or "cozy-bundle")
        payload = root / "data"
        payload.mkdir(parents=True)

        def check(path: Path) -> None:
            if path.is_relative_to(payload):
                canary.scan([path], forms, payload)

        with bag.Zipper(root, tmp / "bundle.zip.part", check) as zipper:
            yield root, package.Builder(payload, zipper)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(root: Path, builder: package.Builder, meta: Mapping[str, Any], out: Path) -> None:
    """Describe the payload, write the bag's tag files, finish the zip, publish it whole."""
    builder.write(meta)
    cozy = meta["cozy"]
    info = {
        "Bag-Software-Agent": f"cozy-notebook {__version__}",
        "Bagging-Date": cozy["created"][:10],
        "External-Description": meta["title"],
        layout.TAG_VERSION: str(layout.FORMAT_VERSION),
        layout.TAG_KIND: cozy["kind"],
        layout.TAG_SOURCE: cozy["source"],
        layout.TAG_CREATED: cozy["created"],
    }
    for path in bag.write_bag(root, info, builder.digests):
        builder.zipper.add(path)
    builder.zipper.close()
    builder.zipper.path.replace(out)  # atomic: the old bundle or the complete new one


def readme(payload: Path, builder: package.Builder, **values: Any) -> None:
    """The README inside: what is there, how to verify it and restore it."""
    from importlib.resources import files

    import jinja2

    source = files("cozy_kernel.portability").joinpath("bundle-readme.md.j2").read_text("utf-8")
    text = jinja2.Template(source, undefined=jinja2.StrictUndefined, trim_blocks=True).render(
        **values
    )
    path = payload / layout.README
    path.write_text(text, encoding="utf-8")
    builder.add_file(path, name="readme")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def export_full(
    ws: Workspace, store: Store, out: Path, progress: Progress | None
) -> dict[str, Any]:
    """Everything the workspace holds, but secrets; see :mod:`.layout`."""
    import adbc_driver_sqlite.dbapi as adbc

    terms.require(store)
    events = ledger.verify(store)  # a tampered ledger would make a bundle that cannot verify
    created = now()
    collections = {n: collection_from_store(store, n) for n in store.collection_names()}
    extra = _store_tables(store)
    total = sum(store.count_rows(c) for c in collections.values())
    total += sum(store.db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in extra)
    count = Counter(total, progress)
    with assembling(store, out) as (root, builder):
        payload = builder.payload
        with adbc.connect(str(ws.db_path)) as conn:  # one read transaction: one consistent copy
            rows = {
                name: write_collection(conn, coll, builder, payload, count)
                for name, coll in collections.items()
            }
            for table in extra:
                _write_store_table(conn, store, table, builder, payload, count)
            conn.rollback()
        _write_edits(store, collections, builder, payload)
        link_foreign_keys(builder)
        raw_files = _copy_raw(ws, builder, payload)
        notebooks = write_notebooks(_notebooks(ws), builder, payload)
        # Built while the zipper compresses the tables on the other core.
        head = _write_consent(ws, store, builder, payload)
        readme(
            payload, builder, kind=layout.FULL, title="Cozy Notebook export", created=created,
            collections=rows, raw_files=raw_files, notebooks=len(notebooks),
            ledger_events=events, top=root.name,
        )  # fmt: skip
        meta = {
            "name": "cozy-notebook-export",
            "title": f"Cozy Notebook export of {created[:10]}",
            "created": created,
            "cozy": {
                "version": layout.FORMAT_VERSION, "kind": layout.FULL, "created": created,
                "source": store.store_id, "ledger": head,
            },
        }  # fmt: skip
        publish(root, builder, meta, out)
    return {
        "path": str(out), "kind": layout.FULL, "bytes": out.stat().st_size,
        "collections": rows, "raw_files": raw_files, "notebooks": notebooks,
        "consent_events": events,
    }  # fmt: skip


def write_collection(
    conn: Any, coll: Collection, builder: package.Builder, payload: Path, count: Counter
) -> int:
    """One collection as the store holds it, streamed to Parquet and CSV."""
    columns = [tables.Column(f.name, SQL_TYPES[f.kind], f.nullable) for f in coll.fields]
    columns += [
        tables.Column("connector", "TEXT", False),
        tables.Column("run_id", "INTEGER", False),
    ]
    schema = tables.typed_schema(coll)
    batches = (tables.to_typed(b, schema) for b in tables.stream(conn, coll.name, columns))
    return write_table(
        builder, payload, f"{layout.COLLECTIONS}/{coll.name}", coll.name, batches, schema,
        tables.field_schema(coll), count,
        **{"cozy:collection": tables.describe_collection(coll)},
    )  # fmt: skip


def write_table(
    builder: package.Builder,
    payload: Path,
    stem: str,
    name: str,
    batches: Any,
    schema: pa.Schema,
    table_schema: dict[str, Any],
    count: Counter,
    **extra: Any,
) -> int:
    """Write ``stem``.parquet and ``stem``.csv and describe them; return the row count."""
    import pyarrow.compute as pc

    parquet, csv = payload / f"{stem}.parquet", payload / f"{stem}.csv"
    parquet.parent.mkdir(parents=True, exist_ok=True)
    keys: dict[str, set[Any]] = {}
    references = layout.FOREIGN_KEYS.get(name, [])
    targets = [(t, f) for refs in layout.FOREIGN_KEYS.values() for _, t, f in refs if t == name]

    def noted(source: Any) -> Any:
        # Remember the values foreign keys point from and to, to declare only those that hold.
        for batch in source:
            wanted = [c for c, _, _ in references] + [f for _, f in targets]
            for column in (c for c in wanted if c in batch.schema.names):
                values = pc.unique(batch.column(column).cast("string")).to_pylist()
                keys.setdefault(column, set()).update(values)
            yield batch

    rows, digests = tables.write_pair(noted(batches), schema, parquet, csv, count)
    resource = builder.add_table(name, csv, parquet, table_schema, digests, **extra)
    resource["cozy:keys"] = keys  # taken out again by link_foreign_keys
    return rows


def link_foreign_keys(builder: package.Builder) -> None:
    """Declare each foreign key whose every value has a row in the table it points to."""
    tabular = {r["name"]: r for r in builder.resources if r.get("type") == "table"}
    for name, refs in layout.FOREIGN_KEYS.items():
        source = tabular.get(name)
        for column, target_name, field in refs:
            target = tabular.get(target_name)
            if source is None or target is None:
                continue
            have, held = source["cozy:keys"], target["cozy:keys"]
            if column in have and field in held and have[column] <= held[field]:
                source["schema"].setdefault("foreignKeys", []).append(
                    {"fields": [column], "reference": {"resource": target_name, "fields": [field]}}
                )
    for resource in tabular.values():
        del resource["cozy:keys"]


def _store_tables(store: Store) -> list[str]:
    budget = [
        r[0]
        for r in store.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ORDER BY name",
            (f"{layout.BUDGET_PREFIX}%",),
        )
    ]
    return [*layout.STORE_TABLES, *budget]


def _write_store_table(
    conn: Any, store: Store, table: str, builder: package.Builder, payload: Path, count: Counter
) -> None:
    columns, key = tables.store_columns(store.db, table)
    schema = tables.arrow_of(columns)
    write_table(
        builder, payload, f"{layout.WORKSPACE}/{table}", f"workspace.{table}",
        (b.cast(schema) for b in tables.stream(conn, table, columns)), schema,
        tables.store_schema(table, columns, key),
        count, **{"cozy:store-table": table},
    )  # fmt: skip


def _write_edits(
    store: Store, collections: Mapping[str, Collection], builder: package.Builder, payload: Path
) -> None:
    """Your edits, apart from the rows they change; values as text a person reads."""
    import pyarrow as pa

    columns, key = tables.store_columns(store.db, "edits")
    fields = [(c.name, pa.string(), c.nullable) for c in columns]
    schema = pa.schema([pa.field(n, t, nullable) for n, t, nullable in fields])
    rows = [
        {"collection": c, "key": k, "field": f, "at": at,
         "value": tables.edit_text(collections[c].field(f), v) if c in collections else v}
        for c, k, f, v, at in store.db.execute(
            "SELECT collection, key, field, value, at FROM edits ORDER BY collection, field, key"
        )
    ]  # fmt: skip
    batch = pa.RecordBatch.from_pylist(rows, schema=schema)
    table_schema = tables.store_schema("edits", columns, key)
    write_table(
        builder, payload, f"{layout.WORKSPACE}/edits", "workspace.edits", [batch], schema,
        table_schema, Counter(None, None), **{"cozy:store-table": "edits"},
    )  # fmt: skip


def _copy_raw(ws: Workspace, builder: package.Builder, payload: Path) -> int:
    """The originals as received, byte for byte, under names every reader of a bag accepts."""
    copied = 0
    names = bag.PortableNames()
    for source in bag.files(ws.raw_dir):
        rel = source.relative_to(ws.raw_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue  # a half-written temporary file of an import in progress
        original = f"{layout.RAW}/{rel.as_posix()}"
        target = payload / names(original)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        extra: dict[str, Any] = {
            "cozy:connector": rel.parts[0],
            **renamed(original, target, payload),
        }
        builder.add_file(target, **extra)
        copied += 1
    return copied


def renamed(original: str, target: Path, payload: Path) -> dict[str, Any]:
    """The original path of a file the bundle holds under another name, for restore."""
    kept = target.relative_to(payload).as_posix() == original
    return {} if kept else {bag.ORIGINAL_PATH: original}


def _notebooks(ws: Workspace) -> list[tuple[str, Path]]:
    folder = ws.root / layout.NOTEBOOKS
    if not folder.is_dir():
        return []
    return [
        (p.relative_to(folder).as_posix(), p)
        for p in bag.files(folder)
        if p.suffix == ".ipynb" and not any(s.startswith(".") for s in p.relative_to(folder).parts)
    ]


def write_notebooks(
    found: list[tuple[str, Path]], builder: package.Builder, payload: Path
) -> list[str]:
    """Each notebook byte for byte, plus its rendering as HTML that opens offline."""
    if not found:
        return []  # nbformat and nbconvert take a second to import: only when needed
    import nbformat

    from cozy_kernel.portability.convert import html

    written = []
    names = bag.PortableNames()
    for rel, source in found:
        try:
            nb = nbformat.read(source, as_version=4)  # type: ignore[no-untyped-call]
            nbformat.validate(nb)
        except Exception as exc:  # nbformat raises JSON, validation and OS errors alike
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BadInput(f"notebooks/{rel}: not a valid notebook ({first})") from None
        original = f"{layout.NOTEBOOKS}/{rel}"
        target = payload / names(original, twin=".html")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        builder.add_file(target, **renamed(original, target, payload))
        page = target.with_suffix(".html")
        page.write_text(html(nb), encoding="utf-8")
        builder.add_file(page)
        written.append(rel)
    return written


def _write_consent(
    ws: Workspace, store: Store, builder: package.Builder, payload: Path
) -> dict[str, Any]:
    """The ledger (one event a line, hashes kept), receipts and the processing register."""
    folder = payload / layout.CONSENT
    folder.mkdir()
    events = ledger.events(store)
    path = payload / layout.LEDGER
    with path.open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event.as_dict(), ensure_ascii=False, sort_keys=True) + "\n")
    builder.add_file(path, name="consent.ledger")
    for written in receipt.write_all(store, folder / "receipts"):
        builder.add_file(written)
    report = transparency.build(ws, store)
    register = folder / "register.json"
    register.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n")
    builder.add_file(register, name="consent.register")
    page = folder / "register.html"
    page.write_text(transparency.render(report, "html"), encoding="utf-8")
    builder.add_file(page, name="consent.register.html")
    return {"events": len(events), "head": events[-1].hash if events else ledger.GENESIS}
