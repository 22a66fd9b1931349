"""Verify: is this file a complete, untouched Cozy Notebook bundle we can read?

In order, stopping at the first problem (IntegrityError, exit 5, one line): a safe unzip
(:func:`.bag.extract`), the format version, bag fixity and completeness (LoC ``bagit``),
the Data Package (descriptor, every file described, every table's types and keys), every
notebook (``nbformat``), and the consent ledger's hash chain. Restore reads a bundle only
through :func:`opened`, so it never acts on anything this did not check.

What a restore reads is what is checked: each collection's declaration, by
:class:`~cozy_kernel.schemas.Collection` as a connector's is; its Parquet's exact types, and
its rows through the very conversion a restore stages them with (:func:`.tables.to_store`);
and that its CSV holds the same rows. Names that a restore turns into paths or SQL are plain
names tied to their own files. Anything else a hostile bundle makes go wrong (an entry that
is a file and a folder, a name too long for the disk, JSON nested too deeply) is refused the
same way, never as an unexpected error.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cozy_kernel.errors import IntegrityError
from cozy_kernel.portability import bag, chain, layout, package, tables
from cozy_kernel.schemas import BUILTIN, Collection, Field
from cozy_kernel.store import process_alive

if TYPE_CHECKING:
    from cozy_kernel.portability.package import Checks, Contents

SCRATCH = ".cozy-bundle-"
# A scratch folder is named after the process unpacking into it (pid, then a digest of its
# host: a workspace may be shared between machines), so a later one can tell it is abandoned.
_OWNED = re.compile(rf"^{re.escape(SCRATCH)}(\d+)-([0-9a-f]{{8}})-")
LEFT_FOR = 24 * 3600  # a scratch folder naming no owner is an older release's, abandoned after
SHARED_RUN = 0  # a share's rows are staged with this run id, then given the restore's own
_PLAIN = re.compile(r"^[a-z][a-z0-9_]*$")  # a share's namespace, a store table


@dataclass(frozen=True)
class Bundle:
    """A verified bundle, unzipped: ``payload`` is its ``data/`` folder."""

    root: Path
    info: dict[str, str]
    descriptor: dict[str, Any]
    manifest: dict[str, str]

    @property
    def payload(self) -> Path:
        return self.root / "data"

    @property
    def kind(self) -> str:
        return self.info[layout.TAG_KIND]

    @property
    def source(self) -> str:
        return self.info.get(layout.TAG_SOURCE, "")

    @property
    def created(self) -> str:
        return self.info.get(layout.TAG_CREATED, "")

    @property
    def store_tables(self) -> dict[str, dict[str, Any]]:
        """Each of the store's own tables the bundle carries -> its (verified) resource."""
        return {
            r["cozy:store-table"]: r
            for r in self.descriptor["resources"]
            if "cozy:store-table" in r
        }

    def parquet(self, resource: Mapping[str, Any]) -> Path:
        """The Parquet file a restore reads of a table: its verified twin, never a path made
        of a name in the bundle."""
        return self.payload / package.twin(resource["path"])


@dataclass(frozen=True)
class Unpacked:
    """A bundle safely unzipped, its format version read, nothing else checked yet.

    ``scratch`` is the private folder holding it, for work files removed with it.
    """

    root: Path
    info: dict[str, str]
    scratch: Path
    label: str

    @property
    def payload(self) -> Path:
        return self.root / "data"


@contextmanager
def unpacked(path: Path, within: Path | None = None) -> Iterator[Unpacked]:
    """Unzip into a private temporary folder (inside ``within`` if given); clean up after.

    Only the zip's own safety (paths, links, sizes) and the format version are checked:
    :func:`checked` does the rest. A restore stages rows while that runs. Folders that
    killed processes left where this one unzips are removed first.
    """
    if not path.is_file():
        raise IntegrityError(f"bundle {path}: no such file")
    folder = Path(within if within is not None else tempfile.gettempdir())
    sweep(folder)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f"{SCRATCH}{os.getpid()}-{_host()}-"))
    label = f"bundle {path.name}"
    try:
        into = tmp / "bundle"
        into.mkdir()
        try:
            root = bag.extract(path, into)
        except OSError as exc:  # a file and a folder of one name, a name too long for the disk
            raise IntegrityError(f"{label}: cannot be unpacked ({_problem(exc, into)})") from None
        except RecursionError:  # folders in folders, deeper than Python's paths go
            raise IntegrityError(f"{label}: cannot be unpacked (folders too deep)") from None
        yield Unpacked(root, _check_version(root, label), tmp, label)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sweep(folder: Path) -> None:
    """Remove scratch folders whose process is gone: a restore killed mid-way leaves one.

    One whose process still runs here (a concurrent restore), or that another host made,
    stays; one named by an older release, which names no process, once a day old.
    """
    host = _host()
    for path in folder.glob(f"{SCRATCH}*"):
        owner = _OWNED.match(path.name)
        with suppress(OSError):  # another sweep may remove it first
            if owner is None:
                gone = time.time() - path.stat().st_mtime > LEFT_FOR
            else:
                gone = owner[2] == host and not process_alive(int(owner[1]))
            if gone:
                shutil.rmtree(path)


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _problem(exc: OSError, within: Path) -> str:
    """An OS error as one short line naming the bundle's own file, not the scratch folder."""
    name = str(exc.filename or "")
    with suppress(ValueError):
        name = Path(name).relative_to(within).as_posix()
    if len(name) > 80:
        name = f"{name[:40]}…{name[-30:]}"
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{reason}: {name}" if name else reason


def checked(raw: Unpacked, staged: bool = False) -> Bundle:
    """Fixity, the Data Package, notebooks and ledger of an unpacked bundle, in that order.

    ``staged``: a restore converts every collection's rows meanwhile, on the other core,
    through the same :func:`.tables.to_store` (see :func:`.merge.stage`) and refuses the
    bundle if that fails, so they are not converted twice.
    """
    try:
        bag.validate(raw.root, raw.label)
        manifest = bag.manifest(raw.root)
        kind = raw.info[layout.TAG_KIND]
        descriptor = package.check(raw.payload, manifest, contents(kind, converted=not staged))
        bundle = Bundle(raw.root, raw.info, descriptor, manifest)
        _check_notebooks(bundle, raw.label)
        if bundle.kind == layout.FULL:
            _check_ledger(bundle)
    except RecursionError:
        raise IntegrityError(f"{raw.label}: nested too deeply to be read") from None
    except (OSError, UnicodeError) as exc:
        detail = _problem(exc, raw.payload) if isinstance(exc, OSError) else str(exc)
        raise IntegrityError(f"{raw.label}: cannot be read ({detail})") from None
    return bundle


def _check_ledger(bundle: Bundle) -> None:
    expect = bundle.descriptor.get("cozy", {}).get("ledger")
    if not isinstance(expect, dict | None):
        raise IntegrityError(f"bundle: {package.NAME}: its ledger head is not an object")
    try:
        chain.verify_file(bundle.payload / layout.LEDGER, expect)
    except RecursionError:
        raise IntegrityError(f"bundle: {layout.LEDGER}: an event is nested too deeply") from None


def contents(kind: str, converted: bool = True) -> Contents:
    """What each table of a bundle of ``kind`` must hold, for :func:`.package.check`.

    A collection: the Table Schema its declaration gives, the Arrow types frames give it,
    and (if ``converted``) rows that :func:`.tables.to_store` takes, into the collection a
    restore would write. A store table: a plain name, on its own file. Each declared once.
    """
    seen: set[str] = set()

    def checks(descriptor: Mapping[str, Any], resource: Mapping[str, Any]) -> Checks:
        label = f"bundle: {resource['path']}"
        for tag in ("cozy:collection", "cozy:store-table"):
            if tag in resource and resource.get("type") != "table":
                raise IntegrityError(f"{label}: only a table can be {tag}")
        if "cozy:collection" in resource:
            coll, found = _collection(resource, namespace_of(kind, descriptor), converted)
            name = coll.name
        else:
            name = str(resource.get("cozy:store-table", ""))
            if "cozy:store-table" in resource and (
                not _PLAIN.match(name) or resource["path"] != f"{layout.WORKSPACE}/{name}.csv"
            ):
                raise IntegrityError(f"{label}: store table {name!r} is not named after its file")
            found = (package.parquet_schema(resource["schema"]), None)
        if name and name in seen:
            raise IntegrityError(f"{label}: {name} is in the bundle twice")
        seen.add(name)
        return found

    return checks


def _collection(
    resource: Mapping[str, Any], namespace: str | None, converted: bool
) -> tuple[Collection, Checks]:
    """A collection's declaration, checked against its Table Schema; its Parquet's checks."""
    import pyarrow as pa

    declared = tables.collection_of(resource["cozy:collection"])
    label = f"bundle: {resource['path']}"
    schema = resource["schema"]
    described = {f["name"]: f for f in tables.field_schema(declared)["fields"]}
    names = [f["name"] for f in schema["fields"]]
    whole = namespace is not None or names == list(described)  # a share: what was read
    if not whole or not set(names) <= set(described) or declared.key not in names:
        raise IntegrityError(f"{label}: its columns are not those {declared.name} declares")
    for f in schema["fields"]:
        want = described[f["name"]]
        if (f.get("type"), required(f)) != (want["type"], required(want)):
            raise IntegrityError(f"{label}: field {f['name']!r} differs from its declaration")
    if schema.get("primaryKey") != [declared.key]:
        raise IntegrityError(f"{label}: its primary key is not {declared.key!r}")
    coll = target(declared, names, namespace)
    typed = tables.typed_schema(declared)
    staged = provenance(namespace)

    def each(batch: pa.RecordBatch) -> object:
        return tables.to_store(batch, coll, staged)

    return declared, (pa.schema([typed.field(n) for n in names]), each if converted else None)


def required(f: Mapping[str, Any]) -> bool:
    """Whether a Table Schema field may not be empty."""
    constraints = f.get("constraints")
    return isinstance(constraints, dict) and constraints.get("required") is True


def namespace_of(kind: str, descriptor: Mapping[str, Any]) -> str | None:
    """Where a share's rows and notebooks land (``shared.<namespace>``); None for a full bundle."""
    if kind != layout.SHARE:
        return None
    namespace = str(descriptor.get("cozy", {}).get("namespace", ""))
    if not _PLAIN.match(namespace):
        raise IntegrityError(f"bundle: share namespace {namespace!r} is not a plain name")
    return namespace


def provenance(namespace: str | None) -> tuple[str, int] | None:
    """A share's rows are staged as the restore's own; a full bundle's keep their own."""
    return None if namespace is None else (layout.RESTORE_RUN, SHARED_RUN)


def target(declared: Collection, names: list[str], namespace: str | None) -> Collection:
    """The collection a table's rows land in: yours for a full bundle, a shared one for a share.

    A built-in collection is this release's, and the bundle's declaration of it must agree:
    a field it types otherwise, or does not know, would be stored as what it is not.
    """
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
    kinds = {f.name: f.kind for f in coll.fields}
    differ = [f.name for f in declared.fields if kinds.get(f.name, f.kind) != f.kind]
    if coll.key != declared.key or differ:
        what = repr(differ[0]) if differ else "its key"
        raise IntegrityError(f"bundle: {declared.name} declares {what} otherwise than here")
    return coll


@contextmanager
def opened(path: Path, within: Path | None = None) -> Iterator[Bundle]:
    """Unzip into a temporary folder (inside ``within`` if given), verify, yield, clean up."""
    with unpacked(path, within) as raw:
        yield checked(raw)


def _check_version(root: Path, label: str) -> dict[str, str]:
    """Read bag-info before anything else: a newer format may be laid out differently."""
    import bagit  # type: ignore[import-untyped]

    try:
        info = bagit.Bag(str(root)).info
    except bagit.BagError as exc:
        raise IntegrityError(f"{label}: not a BagIt bag ({exc})") from None
    except UnicodeError as exc:
        raise IntegrityError(f"{label}: a tag file is not UTF-8 ({exc})") from None
    tags = {k: v if isinstance(v, str) else str(v[-1]) for k, v in info.items()}
    version = tags.get(layout.TAG_VERSION, "")
    if not version.isdigit():
        raise IntegrityError(f"{label}: not a Cozy Notebook bundle (no {layout.TAG_VERSION})")
    if int(version) > layout.FORMAT_VERSION:
        raise IntegrityError(
            f"{label}: made by a newer Cozy Notebook (format {version}; this one reads "
            f"format {layout.FORMAT_VERSION})",
            hint="upgrade cozy-notebook",
        )
    if tags.get(layout.TAG_KIND) not in (layout.FULL, layout.SHARE):
        raise IntegrityError(f"{label}: unknown bundle kind {tags.get(layout.TAG_KIND)!r}")
    # A restore names folders after the source: it must be a plain id, never a path.
    if not re.fullmatch(r"[0-9a-f]{8,64}", tags.get(layout.TAG_SOURCE, "")):
        raise IntegrityError(f"{label}: {layout.TAG_SOURCE} is not an instance id")
    return tags


def _check_notebooks(bundle: Bundle, label: str) -> None:
    import nbformat

    for rel in bundle.manifest:
        if rel.startswith(f"{layout.NOTEBOOKS}/") and rel.endswith(".ipynb"):
            try:
                nbformat.validate(nbformat.read(bundle.payload / rel, as_version=4))  # type: ignore[no-untyped-call]
            except Exception as exc:  # nbformat raises JSON, validation and OS errors alike
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise IntegrityError(f"{label}: {rel} is not a valid notebook ({first})") from None


def summary(bundle: Bundle, path: Path) -> dict[str, Any]:
    """What a verified bundle holds, for a person to read before restoring it."""
    ledger = bundle.descriptor.get("cozy", {}).get("ledger")
    rows = {
        r["cozy:collection"]["name"]: _rows(bundle.payload / r["path"])
        for r in bundle.descriptor["resources"]
        if "cozy:collection" in r
    }
    return {
        "path": str(path),
        "kind": bundle.kind,
        "version": int(bundle.info[layout.TAG_VERSION]),
        "source": bundle.source,
        "created": bundle.created,
        "files": len(bundle.manifest),
        "bytes": sum((bundle.payload / rel).stat().st_size for rel in bundle.manifest),
        "collections": rows,
        "notebooks": sorted(
            rel.removeprefix(f"{layout.NOTEBOOKS}/")
            for rel in bundle.manifest
            if rel.startswith(f"{layout.NOTEBOOKS}/") and rel.endswith(".ipynb")
        ),
        "consent_events": ledger.get("events", 0) if isinstance(ledger, dict) else 0,
    }


def _rows(csv: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(csv.with_suffix(".parquet")).metadata.num_rows)


def verify_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Verify a bundle (fixity, Data Package, notebooks, ledger, version); what it holds."""
    target = Path(path)
    with opened(target) as bundle:
        return summary(bundle, target)
