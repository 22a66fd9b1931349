"""Every export verifies and restores, whatever its files are named.

A workspace may hold notebooks and originals whose names differ only by case or by Unicode
normalisation, or hold a backslash, a newline or a trailing space: names a bag's readers
refuse. The bundle carries them under portable names and restore brings back the originals.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import cozy_kernel as cozy
from cozy_kernel.errors import IntegrityError
from cozy_kernel.portability import bag
from tests.conftest import accept_terms, run_cozy

NFC, NFD = (unicodedata.normalize(form, "Café") for form in ("NFC", "NFD"))
NOTEBOOKS = [
    f"{NFC}.ipynb", f"{NFD}.ipynb", "a.ipynb", "A.ipynb", "back\\slash.ipynb",
    "new\nline.ipynb", "end .ipynb", "sub /x.ipynb", "Sub /x.ipynb", "50%0A.ipynb",
]  # fmt: skip
RAW = [
    "Q.ofx", "q.ofx", "x\\y.ofx", "x\ny.ofx", "x\ry.ofx", "z.ofx ", " lead.ofx", "a\u2028b.ofx",
    "%25.ofx", f"{'ü' * 125}.ofx",
]  # fmt: skip


def notebook(text: str) -> bytes:
    """A valid notebook whose bytes tell it apart: one markdown cell holding ``text``."""
    nb = {
        "cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": text}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    return json.dumps(nb).encode()


def workspace(home: Path, notebooks: list[str], raw: list[str]) -> dict[str, bytes]:
    """Write the files into an accepted workspace; return them by path under it."""
    accept_terms(home)
    files = {f"notebooks/{n}": notebook(n) for n in notebooks}
    files |= {f"raw/ofx/{n}": f"{i} {n}".encode() for i, n in enumerate(raw)}
    for rel, data in files.items():
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def held(home: Path) -> dict[str, bytes]:
    """Every notebook and original in a workspace, by exact path, with its bytes."""
    return {
        p.relative_to(home).as_posix(): p.read_bytes()
        for folder in ("notebooks", "raw")
        for p in sorted((home / folder).rglob("*"))
        if p.is_file()
    }


def test_names_that_readers_refuse_export_verify_and_restore_exactly(
    fresh_home: Path, tmp_path: Path
) -> None:
    # Given notebooks and originals named with case and NFC/NFD twins, backslashes, newlines,
    # leading and trailing spaces, percent signs and long names
    files = workspace(fresh_home, NOTEBOOKS, RAW)
    out = tmp_path / "names.zip"

    # When the workspace is exported, verified and restored with the cozy command
    exported = run_cozy(fresh_home, "export", "--out", str(out))
    verified = run_cozy(fresh_home, "verify", str(out))
    target = tmp_path / "target"
    accept_terms(target)
    restored = run_cozy(target, "restore", str(out), "--yes")

    # Then each step succeeds and the exact names and bytes come back
    assert (exported.code, verified.code, restored.code) == (0, 0, 0), verified.err + restored.err
    assert held(target) == files
    # and the bundle holds them under portable names, the originals beside them
    with zipfile.ZipFile(out) as zf:
        entries = zf.namelist()
        descriptor = json.loads(zf.read(next(e for e in entries if e.endswith("datapackage.json"))))
    assert not any(c in e for e in entries for c in "\\\n\r%")
    originals = {r["path"]: r.get(bag.ORIGINAL_PATH, r["path"]) for r in descriptor["resources"]}
    assert set(files) <= set(originals.values())


def paths(suffix: str) -> st.SearchStrategy[list[str]]:
    """File paths (with an optional folder) and their case, normalisation and space twins."""
    pieces = ["a", "B", "é", "e\u0301", "É", "ß", "SS", "ǰ", "\\", "\n", "\r", "\t", " ", "%"]
    pieces += ["%0A", ":", "*", "\u2028", "\x85", "\u202e", "~2", ".", "名", "x" * 100]
    piece = st.one_of(st.sampled_from(pieces), st.text(min_size=1, max_size=3))
    name = st.lists(piece, min_size=1, max_size=6).map("".join)
    twins: list[Callable[[str], str]] = [
        str.upper, str.lower, str.swapcase, lambda s: unicodedata.normalize("NFD", s),
        lambda s: unicodedata.normalize("NFC", s), lambda s: s + " ",
    ]  # fmt: skip

    @st.composite
    def draw_paths(draw: st.DrawFn) -> list[str]:
        found: set[str] = set()
        for base in draw(st.lists(name, min_size=1, max_size=4)):
            folder = draw(st.one_of(st.just(""), name.map(lambda f: f + "/")))
            path = folder + base
            found |= {path, *(twin(path) for twin in draw(st.sets(st.sampled_from(twins))))}
        found = {p + suffix for p in found if _plain_path(p + suffix)}
        folders = {str(parent) for p in found for parent in PurePosixPath(p).parents}
        return sorted(p for p in found if p not in folders)

    return draw_paths()


def _plain_path(path: str) -> bool:
    """A path a workspace can hold and the export takes: no NUL, no hidden or too long part."""
    parts = path.split("/")
    return "\x00" not in path and all(
        p and not p.startswith(".") and len(p.encode()) <= 255 for p in parts
    )


@settings(
    max_examples=15, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(notebooks=paths(".ipynb"), raw=paths(""))
@example(notebooks=[f"{NFC}.ipynb", f"{NFD}.ipynb", "a.ipynb", "A.ipynb"], raw=["x\\y", "z "])
@example(notebooks=["b\\c.ipynb", "n\nl.ipynb", "x.html/y.ipynb", "x.ipynb"], raw=["n\nl"])
@example(notebooks=[f"{'a' * 249}.ipynb", f"{'A' * 249}.ipynb"], raw=["é" * 127, "É" * 127])
def test_any_names_round_trip_through_export_verify_and_restore(
    notebooks: list[str], raw: list[str], fresh_home: Path, tmp_path: Path
) -> None:
    source, target, out = tmp_path / "source", tmp_path / "target", tmp_path / "b.zip"
    try:
        files = workspace(source, notebooks, raw)
        cozy.export_bundle(out, home=source)
        cozy.verify_bundle(out)
        accept_terms(target)
        cozy.restore_bundle(out, home=target)
        assert held(target) == files
    finally:
        for path in (source, target):
            shutil.rmtree(path, ignore_errors=True)
        out.unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("path", "original"),
    [("raw/ofx/x_y", "raw/../../escape"), ("raw/ofx/x_y", "notebooks/x"),
     ("raw/ofx/x_y", "raw//x"), ("raw/ofx/x_y", "raw"), ("raw/ofx/x_y", "raw/./x"),
     ("raw/ofx/x_y", "raw/x\x00"), ("raw/ofx/x_y", 7),
     ("notebooks/x_y.ipynb", "notebooks/x.py"), ("notebooks/x_y.html", "notebooks/x.ipynb")],
)  # fmt: skip
def test_an_original_path_that_leaves_its_folder_or_changes_kind_is_refused(
    path: str, original: object
) -> None:
    with pytest.raises(IntegrityError, match="original path"):
        bag.original_paths([{"path": path, bag.ORIGINAL_PATH: original}])


def test_two_files_restored_under_one_name_are_refused() -> None:
    resources = [{"path": "raw/ofx/a"}, {"path": "raw/ofx/b", bag.ORIGINAL_PATH: "raw/ofx/a"}]
    with pytest.raises(IntegrityError, match="one name"):
        bag.original_paths(resources)


def test_a_bundle_naming_an_original_outside_the_workspace_restores_nothing(
    home: Path, tmp_path: Path
) -> None:
    # Given a bundle whose renamed original claims a path out of the workspace, re-bagged so
    # that its checksums hold
    source = tmp_path / "source"
    workspace(source, [], ["x\ny.ofx"])
    out = tmp_path / "b.zip"
    cozy.export_bundle(out, home=source)
    unzipped = tmp_path / "unzipped"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(unzipped)
    (root,) = unzipped.iterdir()
    described = root / "data" / "datapackage.json"
    descriptor = json.loads(described.read_text())
    for resource in descriptor["resources"]:
        if bag.ORIGINAL_PATH in resource:
            resource[bag.ORIGINAL_PATH] = "raw/../../../escaped"
    described.write_text(json.dumps(descriptor))
    info = dict(line.split(": ", 1) for line in (root / "bag-info.txt").read_text().splitlines())
    del info["Payload-Oxum"]
    bag.write_bag(root, info, {})
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(hostile, "w") as zf:
        for path in sorted(root.rglob("*")):
            zf.write(path, path.relative_to(unzipped).as_posix())

    # When it is restored, Then it is refused and nothing lands anywhere
    before = held(home)
    with pytest.raises(IntegrityError, match="original path"):
        cozy.restore_bundle(hostile, home=home)
    assert held(home) == before
    assert not list(tmp_path.rglob("escaped"))
