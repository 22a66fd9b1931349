"""``datapackage.json``: a Frictionless Data Package v2 describing every file of a bundle.

Every payload file is a resource with its size and SHA-256; each table's CSV is a tabular
resource with a typed Table Schema (required fields, primary key, foreign keys) and its Parquet
twin a file resource pointing back at it. The descriptor is checked with ``frictionless``;
the rows are checked with pyarrow, because frictionless reads rows one by one in Python
(measured: 20 s per 100,000 rows, over three minutes per million) while pyarrow parses the same
CSV typed and vectorised in well under a second. ``frictionless validate datapackage.json``
still works on any bundle, for whoever wants to wait.

A restore reads the Parquet, anyone else the CSV: so the Parquet's exact Arrow types are
checked, and the two are read side by side and compared row by row (a few milliseconds a
million rows, as memory compares), so that what was verified is what is restored.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from cozy_kernel.errors import IntegrityError
from cozy_kernel.portability.bag import Digest, Zipper

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    RowCheck = Callable[[pa.RecordBatch], object]
    # What a table's Parquet must hold beyond its Table Schema: its exact Arrow types, and a
    # check each batch must pass (a restore's own conversion of the rows).
    Checks = tuple[pa.Schema, RowCheck | None]
    # The checks of one table resource of a descriptor; raises IntegrityError for a bad one.
    Contents = Callable[[Mapping[str, Any], Mapping[str, Any]], Checks]

NAME = "datapackage.json"
PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
MAX_DESCRIPTOR_BYTES = 64 << 20
MEDIA_TYPES = {
    ".csv": "text/csv",
    ".parquet": "application/vnd.apache.parquet",
    ".ipynb": "application/x-ipynb+json",
    ".jsonl": "application/jsonl",
    ".jsonld": "application/ld+json",
    ".md": "text/markdown",
}


class Builder:
    """Collects resources while the export writes files under ``payload``.

    Each file described is handed to the zipper at once; its size and hash are filled in
    when the descriptor is written.
    """

    def __init__(self, payload: Path, zipper: Zipper) -> None:
        self.payload = payload
        self.zipper = zipper
        self.resources: list[dict[str, Any]] = []
        self.digests: dict[Path, Digest] = {}
        self._names: set[str] = set()
        self._pending: list[tuple[dict[str, Any], Path, Future[Digest]]] = []

    def _name(self, wanted: str) -> str:
        base = re.sub(r"[^a-z0-9._-]+", "-", wanted.lower()).strip("-") or "file"
        name, n = base, 1
        while name in self._names:
            n += 1
            name = f"{base}-{n}"
        self._names.add(name)
        return name

    def add_file(
        self, path: Path, *, name: str | None = None, known: Digest | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Describe one payload file: name, path, format, media type, bytes and hash.

        ``known`` is its digest when it was hashed while written.
        """
        rel = path.relative_to(self.payload).as_posix()
        suffix = path.suffix.lower()
        media = MEDIA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0]
        unique = self._name(name or rel)
        resource: dict[str, Any] = {
            "name": unique,
            "path": rel,
            "type": "file",
            "format": suffix.lstrip(".") or "bin",
            "mediatype": media or "application/octet-stream",
            **extra,
        }
        self.resources.append(resource)
        self._pending.append((resource, path, self.zipper.add(path, known)))
        return resource

    def add_table(
        self,
        name: str,
        csv: Path,
        parquet: Path,
        schema: dict[str, Any],
        digests: Mapping[Path, Digest],
        **extra: Any,
    ) -> dict[str, Any]:
        """A table as a typed CSV resource plus its Parquet twin; returns the CSV's."""
        table = self.add_file(csv, name=name, known=digests.get(csv), **extra)
        table.update(
            type="table",
            encoding="utf-8",
            dialect={"header": True, "delimiter": ",", "quoteChar": '"'},
            schema=schema,
        )
        self.add_file(
            parquet, name=f"{name}.parquet", known=digests.get(parquet),
            **{"cozy:table": table["name"]},
        )  # fmt: skip
        return table

    def write(self, meta: Mapping[str, Any]) -> None:
        """Write ``datapackage.json`` once every file's size and hash are known, and zip it."""
        for resource, path, future in self._pending:
            found = self.digests[path] = future.result()
            resource.update(bytes=found.size, hash=f"sha256:{found.sha256}")
        path = self.payload / NAME
        ordered = sorted(self.resources, key=lambda r: str(r["path"]))  # a stable order
        descriptor = {"$schema": PROFILE, **meta, "resources": ordered}
        path.write_text(json.dumps(descriptor, indent=1, ensure_ascii=False) + "\n", "utf-8")
        self.digests[path] = self.zipper.add(path).result()


def read(payload: Path) -> dict[str, Any]:
    path = payload / NAME
    if not path.is_file():
        raise IntegrityError(f"bundle: no {NAME} in the payload")
    if path.stat().st_size > MAX_DESCRIPTOR_BYTES:
        raise IntegrityError(f"bundle: {NAME} is too large")
    try:
        descriptor = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"bundle: {NAME} is not JSON ({exc})") from None
    except RecursionError:
        raise IntegrityError(f"bundle: {NAME} is nested too deeply") from None
    if not isinstance(descriptor, dict):
        raise IntegrityError(f"bundle: {NAME} has no list of resources")
    resources = descriptor.get("resources")
    if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
        raise IntegrityError(f"bundle: {NAME} has no list of resources")
    if not isinstance(descriptor.get("cozy", {}), dict):
        raise IntegrityError(f"bundle: {NAME}: its cozy section is not an object")
    return descriptor


def check(payload: Path, manifest: Mapping[str, str], contents: Contents) -> dict[str, Any]:
    """Validate the descriptor, that it lists every payload file exactly, and every table.

    ``manifest`` maps payload paths to the SHA-256 the (already checked) bag states;
    ``contents`` says what each table's Parquet must hold beyond its Table Schema.
    """
    import frictionless

    descriptor = read(payload)
    try:
        report = frictionless.Package.validate_descriptor(descriptor)
    except RecursionError:
        raise IntegrityError(f"bundle: {NAME} is nested too deeply") from None
    except Exception as exc:  # frictionless trips on some malformed schemas instead of saying so
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise IntegrityError(f"bundle: {NAME} is not a valid Data Package ({first})") from None
    if not report.valid:
        raise IntegrityError(f"bundle: {NAME}: {report.errors[0].message}")
    listed: dict[str, dict[str, Any]] = {}
    for resource in descriptor["resources"]:
        rel = resource.get("path")
        if not isinstance(rel, str) or not inside(rel) or rel in listed:
            raise IntegrityError(f"bundle: {NAME}: resource path {rel!r} is not a payload file")
        listed[rel] = resource
    files = set(manifest) - {NAME}
    for rel in sorted(files ^ set(listed)):
        where = "is not described" if rel in files else "is described but missing"
        raise IntegrityError(f"bundle: {rel} {where} in {NAME}")
    for rel, resource in listed.items():
        size = (payload / rel).stat().st_size
        if resource.get("bytes") != size or resource.get("hash") != f"sha256:{manifest[rel]}":
            raise IntegrityError(f"bundle: {rel}: its bytes or hash differ from {NAME}")
    tables = _tables(descriptor["resources"])
    for resource, twin in tables.values():
        expected, each = contents(descriptor, resource)
        _check_table(payload, resource, twin, expected, each, tables)
    return descriptor


def inside(rel: str) -> bool:
    """A plain relative path that stays inside the payload."""
    path = PurePosixPath(rel)
    return (
        bool(path.parts) and not path.is_absolute() and ".." not in path.parts and "\\" not in rel
    )


def twin(rel: str) -> str:
    """Where a table's Parquet twin is: beside its CSV, of the same name."""
    return PurePosixPath(rel).with_suffix(".parquet").as_posix()


def parquet_schema(schema: Mapping[str, Any]) -> pa.Schema:
    """The Arrow types a table's Parquet holds, from its Table Schema alone (the store's own
    tables: text, integers, reals, and bytes as base64 text in the CSV)."""
    import pyarrow as pa

    kinds = {
        "string": pa.string(),
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us", tz="UTC"),
    }
    out = []
    for f in schema["fields"]:
        if f.get("type") not in kinds:
            raise IntegrityError(f"bundle: field {f.get('name')!r} has type {f.get('type')!r}")
        binary = f["type"] == "string" and f.get("format") == "binary"
        out.append(pa.field(f["name"], pa.binary() if binary else kinds[f["type"]]))
    return pa.schema(out)


def _tables(resources: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], str]]:
    """Each table resource by name, with the path of its Parquet twin, which it must have.

    A restore reads the Parquet beside each CSV: a twin described anywhere else, or none,
    would leave that file unchecked.
    """
    tables: dict[str, dict[str, Any]] = {}
    for resource in resources:
        if resource.get("type") != "table":
            continue
        name, schema = resource.get("name"), resource.get("schema")
        if not isinstance(name, str) or name in tables:
            raise IntegrityError(f"bundle: {NAME}: table name {name!r} is not unique")
        if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
            raise IntegrityError(f"bundle: {resource['path']}: it has no Table Schema")
        _names(schema, f"bundle: {resource['path']}")
        tables[name] = resource
    twins: dict[str, str] = {}
    for resource in resources:
        if "cozy:table" not in resource:
            continue
        of = resource["cozy:table"]
        table = tables.get(of) if isinstance(of, str) else None
        if table is None:
            raise IntegrityError(f"bundle: {resource['path']}: its table is not described")
        if resource["path"] != twin(table["path"]) or of in twins:
            raise IntegrityError(f"bundle: {resource['path']}: not the twin of {table['path']}")
        twins[of] = resource["path"]
    for name, table in tables.items():
        if name not in twins:
            raise IntegrityError(f"bundle: {table['path']}: it has no Parquet twin")
    return {name: (table, twins[name]) for name, table in tables.items()}


def _names(schema: Mapping[str, Any], label: str) -> list[str]:
    """The field names of a Table Schema, each a distinct text; its keys among them."""
    fields = schema["fields"]
    names = [f.get("name") if isinstance(f, dict) else None for f in fields]
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise IntegrityError(f"{label}: its Table Schema names a field twice or not at all")
    keys = [schema.get("primaryKey") or [], *(fk.get("fields") for fk in _foreign(schema))]
    for key in keys:
        if not isinstance(key, list) or not set(key) <= set(names):
            raise IntegrityError(f"{label}: a key of its Table Schema is not among its fields")
    return names  # type: ignore[return-value]  # all texts, checked above


def _foreign(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    fks = schema.get("foreignKeys", [])
    if not isinstance(fks, list) or not all(isinstance(fk, dict) for fk in fks):
        raise IntegrityError("bundle: a Table Schema's foreign keys are not a list")
    return fks


def _check_table(
    payload: Path,
    resource: Mapping[str, Any],
    parquet_rel: str,
    expected: pa.Schema,
    each: RowCheck | None,
    tables: Mapping[str, tuple[dict[str, Any], str]],
) -> None:
    """One table: its Parquet has the expected types and passes ``each``, its CSV holds the
    very same rows, required fields are filled, primary and foreign keys hold.

    The CSV is read with the types its Parquet's rows take once written as CSV (the export's
    own :func:`.tables.csv_view`), so the two are compared value by value, batch by batch.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from cozy_kernel.portability.tables import BATCH_ROWS, csv_view

    csv_rel = resource["path"]
    csv_label, label = f"bundle: {csv_rel}", f"bundle: {parquet_rel}"
    schema = resource["schema"]
    names = _names(schema, csv_label)
    file = _parquet(payload / parquet_rel, label)
    found = file.schema_arrow
    if found.names != names:
        raise IntegrityError(f"{label}: its columns differ from {csv_rel}")
    for field in expected:
        if found.field(field.name).type != field.type:
            have = found.field(field.name).type
            raise IntegrityError(f"{label}: column {field.name!r} is {have}, not {field.type}")
    key = schema.get("primaryKey") or []
    fks = _foreign(schema)
    keys: dict[str, list[pa.Array]] = {csv_label: [], label: []}
    refs: list[list[pa.Array]] = [[] for _ in fks]
    rows = {csv_label: 0, label: 0}

    def from_csv() -> Iterator[pa.RecordBatch]:
        view = csv_view(pa.RecordBatch.from_pylist([], schema=expected)).schema
        try:
            reader = pacsv.open_csv(
                payload / csv_rel,
                read_options=pacsv.ReadOptions(block_size=16 << 20),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict(zip(view.names, view.types, strict=True)),
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,  # "" is an empty text, a bare gap NULL
                ),
            )
            if reader.schema.names != names:
                raise IntegrityError(f"{csv_label}: its columns differ from its Table Schema")
            for batch in reader:
                rows[csv_label] += batch.num_rows
                keys[csv_label].extend(_key(batch, key))
                for i, fk in enumerate(fks):
                    refs[i].extend(_key(batch, fk["fields"]))
                yield batch
        except pa.ArrowInvalid as exc:
            raise IntegrityError(f"{csv_label}: {str(exc).splitlines()[0]}") from None

    def from_parquet() -> Iterator[pa.RecordBatch]:
        try:
            for batch in file.iter_batches(BATCH_ROWS):
                rows[label] += batch.num_rows
                _check_rows(batch, schema, label)
                if each is not None:
                    each(batch)
                keys[label].extend(_key(batch, key))
                yield csv_view(batch)
        except IntegrityError as exc:
            raise IntegrityError(f"{label}: {exc.message.removeprefix(label + ': ')}") from None
        except (pa.ArrowException, OSError) as exc:
            raise IntegrityError(f"{label}: cannot be read ({str(exc).splitlines()[0]})") from None

    differs = _first_difference(from_csv(), from_parquet())
    for where, chunks in keys.items():
        _unique(chunks, where)
    if rows[label] != rows[csv_label] or rows[label] != file.metadata.num_rows:
        raise IntegrityError(f"{label}: {rows[label]} rows, {csv_rel} has {rows[csv_label]}")
    if differs is not None:
        raise IntegrityError(f"{label}: row {differs + 1} differs from {csv_rel}")
    for i, fk in enumerate(fks):
        _check_reference(payload, fk, refs[i], tables, csv_label)


def _check_reference(
    payload: Path,
    fk: Mapping[str, Any],
    chunks: list[pa.Array],
    tables: Mapping[str, tuple[dict[str, Any], str]],
    label: str,
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    reference = fk.get("reference")
    name = reference.get("resource") if isinstance(reference, dict) else None
    if not isinstance(reference, dict) or not isinstance(name, str) or name not in tables:
        raise IntegrityError(f"{label}: foreign key to an undescribed resource")
    target = tables[name][0]
    fields = reference.get("fields")
    if not isinstance(fields, list) or not set(fields) <= set(_names(target["schema"], label)):
        raise IntegrityError(f"{label}: a foreign key points to no field of {target['path']}")
    wanted = _distinct(chunks)
    try:
        held = _distinct(list(_column(payload / target["path"], fields)))
    except pa.ArrowInvalid as exc:
        raise IntegrityError(f"bundle: {target['path']}: {str(exc).splitlines()[0]}") from None
    missing = pc.invert(pc.is_in(wanted, value_set=held)) if len(wanted) else wanted
    if len(wanted) and pc.any(missing).as_py():
        raise IntegrityError(f"{label}: a foreign key points to no row of {target['path']}")


def _first_difference(
    left: Iterator[pa.RecordBatch], right: Iterator[pa.RecordBatch]
) -> int | None:
    """The first row at which two streams of batches of the same types differ, or None.

    Batches need not line up. Both streams are read to their end whatever is found, so the
    checks they run on the way all run (a repeated key is named before a differing row).
    """
    found: int | None = None
    a: pa.RecordBatch | None = None
    b: pa.RecordBatch | None = None
    i = j = row = 0
    while True:
        if a is None or i == a.num_rows:
            a, i = next(left, None), 0
        if b is None or j == b.num_rows:
            b, j = next(right, None), 0
        if a is None or b is None:
            break
        n = min(a.num_rows - i, b.num_rows - j)
        if found is None and n:
            at = _differs(a.slice(i, n), b.slice(j, n))
            found = None if at is None else row + at
        i, j, row = i + n, j + n, row + n
    for _ in left:
        pass
    for _ in right:
        pass
    return found


def _differs(a: pa.RecordBatch, b: pa.RecordBatch) -> int | None:
    """The first row where two batches of the same length and types differ, or None."""
    import pyarrow.compute as pc

    pairs = list(zip(a.columns, b.columns, strict=True))
    if all(x.equals(y) for x, y in pairs):  # the usual case, at memory speed
        return None
    same = None
    for x, y in pairs:
        equal = pc.or_(pc.fill_null(pc.equal(x, y), False), pc.and_(pc.is_null(x), pc.is_null(y)))
        same = equal if same is None else pc.and_(same, equal)
    return int(pc.index(same, False).as_py())


def _check_rows(batch: pa.RecordBatch, schema: Mapping[str, Any], label: str) -> None:
    for f in schema["fields"]:
        required = isinstance(f.get("constraints"), dict) and f["constraints"].get("required")
        if required and batch.column(f["name"]).null_count:
            raise IntegrityError(f"{label}: required field {f['name']!r} is empty in some rows")


def _key(batch: pa.RecordBatch, fields: list[str]) -> Iterator[pa.Array]:
    """One array per batch standing for the (possibly composite) key."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not fields:
        return
    if len(fields) == 1:
        yield batch.column(fields[0]).cast(pa.string())
        return
    parts = [batch.column(f).cast(pa.string()).fill_null("\x00") for f in fields]
    yield pc.binary_join_element_wise(*parts, "\x1f")


def _distinct(chunks: list[pa.Array]) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not chunks:
        return pa.array([], pa.string())
    return pc.unique(pa.chunked_array(chunks, pa.string()))


def _unique(chunks: list[pa.Array], label: str) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not chunks:
        return
    column = pa.chunked_array(chunks, pa.string()).combine_chunks()
    n = len(column)
    # An export writes rows in key order: keys that strictly increase are distinct, which one
    # vectorised pass shows (5 ms a million, where hashing them takes 130 ms). Any other
    # order is checked by hashing.
    if n < 2 or pc.all(pc.less(column.slice(0, n - 1), column.slice(1))).as_py():
        return
    if len(pc.unique(column)) != n:
        raise IntegrityError(f"{label}: its primary key repeats")


def _parquet(path: Path, label: str) -> pq.ParquetFile:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise IntegrityError(f"{label}: not a Parquet file ({first})") from None


def _column(csv: Path, fields: list[str]) -> Iterator[pa.Array]:
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(csv, convert_options=pacsv.ConvertOptions(include_columns=fields))
    for batch in reader:
        yield from _key(batch, fields)
