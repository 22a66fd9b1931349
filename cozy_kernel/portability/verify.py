"""Verify: is this file a complete, untouched Cozy Notebook bundle we can read?

In order, stopping at the first problem (IntegrityError, exit 5, one line): a safe unzip
(:func:`.bag.extract`), the format version, bag fixity and completeness (LoC ``bagit``),
the Data Package (descriptor, every file described, every table's types and keys), every
notebook (``nbformat``), and the consent ledger's hash chain. Restore reads a bundle only
through :func:`opened`, so it never acts on anything this did not check.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cozy_kernel.errors import IntegrityError
from cozy_kernel.portability import bag, chain, layout, package


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
    :func:`checked` does the rest. A restore stages rows while that runs.
    """
    if not path.is_file():
        raise IntegrityError(f"bundle {path}: no such file")
    tmp = Path(tempfile.mkdtemp(dir=within, prefix=".cozy-bundle-"))
    try:
        into = tmp / "bundle"
        into.mkdir()
        root = bag.extract(path, into)
        label = f"bundle {path.name}"
        yield Unpacked(root, _check_version(root, label), tmp, label)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def checked(raw: Unpacked) -> Bundle:
    """Fixity, the Data Package, notebooks and ledger of an unpacked bundle, in that order."""
    bag.validate(raw.root, raw.label)
    manifest = bag.manifest(raw.root)
    descriptor = package.check(raw.payload, manifest)
    bundle = Bundle(raw.root, raw.info, descriptor, manifest)
    _check_notebooks(bundle, raw.label)
    if bundle.kind == layout.FULL:
        chain.verify_file(bundle.payload / layout.LEDGER, descriptor.get("cozy", {}).get("ledger"))
    return bundle


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
        "consent_events": bundle.descriptor.get("cozy", {}).get("ledger", {}).get("events", 0),
    }


def _rows(csv: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(csv.with_suffix(".parquet")).metadata.num_rows)


def verify_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Verify a bundle (fixity, Data Package, notebooks, ledger, version); what it holds."""
    target = Path(path)
    with opened(target) as bundle:
        return summary(bundle, target)
