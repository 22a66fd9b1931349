"""Share bundles: a notebook, run fresh, with only the rows and columns it read."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest

import cozy_kernel as cozy
from cozy_kernel.portability import lineage
from tests.conftest import UNTIL, run_cozy, write_connector
from tests.test_portability import THINGS
from tests.test_portability_hostile import entries, resealed, write

FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATES = Path(__file__).resolve().parent.parent / "notebooks"
SINCE = "2026-06-01"
READ = ["date", "amount", "label", "counterparty"]


def notebook(path: Path, *cells: tuple[str, list[str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": tags}) for src, tags in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def sender(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace holding more than any notebook below reads: a collection, an original."""
    home = tmp_path_factory.mktemp("sender") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COZY_CONFIG", str(home.parent / "no-config.toml"))
        cozy.accept_terms(home=home)
        cozy.connect("demo-bank", home=home, grant=True, until=UNTIL, months=2)
        cozy.sync("demo-bank", home=home)
        write_connector(home, "things", THINGS)
        cozy.connect("things", home=home, grant=True)
        cozy.sync("things", home=home)
        cozy.import_files([FIXTURES / "ofx" / "fr_societe_generale.ofx"], grant=True, home=home)
        yield home


@pytest.fixture(scope="module")
def analysis(sender: Path) -> Path:
    return notebook(
        sender.parent / "June.ipynb",
        ("import cozy_kernel as cozy\n"
         f"tx = cozy.frame('bank.transactions', since={SINCE!r}, columns={READ!r})\n"
         "print(len(tx), 'rows'); print(tx['label'].iloc[0])", []),
        ("note = 'my private aside'\nprint(note)", ["private"]),
        ("cozy.frame('bank.accounts', columns=['currency'])", []),
    )  # fmt: skip


@pytest.fixture(scope="module")
def shared(sender: Path, analysis: Path) -> Path:
    out = sender.parent / "june.zip"
    result = run_cozy(sender, "export", "--share", str(analysis), "--out", str(out))
    assert result.code == 0, result.err
    assert result.err.count("\n") <= 1  # the kernel's own log is not shown
    return out


def read(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {i.filename.split("/", 1)[1]: zf.read(i) for i in zf.infolist()}


def table(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files[f"data/collections/{name}.csv"].decode())))


def test_a_share_bundle_holds_only_the_rows_and_columns_the_notebook_read(
    shared: Path, sender: Path
) -> None:
    files = read(shared)
    assert b"Cozy-Bundle-Kind: share" in files["bag-info.txt"]
    assert run_cozy(sender, "verify", str(shared)).code == 0
    # Only what was read: two collections, those columns (and the key), those rows
    collections = {p.split("/")[2] for p in files if p.startswith("data/collections/")}
    assert collections == {f"bank.{n}.{ext}" for n in ("accounts", "transactions")
                           for ext in ("csv", "parquet")}  # fmt: skip
    rows = table(files, "bank.transactions")
    assert list(rows[0]) == ["id", "date", "amount", "label", "counterparty"]
    expected = cozy.frame("bank.transactions", since=SINCE, home=sender)
    assert {r["id"] for r in rows} == set(expected["id"])
    assert list(table(files, "bank.accounts")[0]) == ["id", "currency"]
    # No originals, no consent records, no settings
    assert not [p for p in files if p.startswith(("data/raw", "data/consent", "data/workspace"))]
    # The notebook ran, without its private cell
    nb = nbformat.reads(files["data/notebooks/June.ipynb"].decode(), as_version=4)
    assert [c.metadata.get("tags", []) for c in nb.cells] == [[], []]
    assert f"{len(expected)} rows" in nb.cells[0].outputs[0]["text"]
    assert b"my private aside" not in b"".join(files.values())
    assert b"<script" not in files["data/notebooks/June.html"]


def test_the_receiver_restores_it_apart_from_their_own_data(shared: Path, home: Path) -> None:
    cozy.connect("demo-bank", grant=True, until=UNTIL, months=1)
    cozy.sync("demo-bank")
    own = cozy.frame("bank.transactions")

    result = run_cozy(home, "restore", str(shared), "--yes", "--json")

    assert result.code == 0, result.err
    names = {c["name"] for c in cozy.collections()}
    (space,) = {n.split(".")[1] for n in names if n.startswith("shared.")}
    received = cozy.frame(f"shared.{space}.bank.transactions")
    assert list(received.columns) == ["id", "date", "amount", "label", "counterparty",
                                      "connector", "run_id"]  # fmt: skip
    assert len(received) == len(table(read(shared), "bank.transactions"))
    assert cozy.frame("bank.transactions").equals(own)  # their own data is untouched
    assert (home / "notebooks" / "shared" / space / "June.ipynb").is_file()
    again = run_cozy(home, "restore", str(shared), "--yes")
    assert "nothing changed" in again.out


def test_a_share_from_another_instance_never_overwrites_one_restored_before(
    shared: Path, sender: Path, analysis: Path, home: Path, tmp_path: Path
) -> None:
    # Given the sender's share, restored here
    assert run_cozy(home, "restore", str(shared), "--yes").code == 0
    (space,) = {
        c["name"].split(".")[1] for c in cozy.collections() if c["name"].startswith("shared.")
    }
    first = cozy.frame(f"shared.{space}.bank.transactions")
    # And another instance holding the same rows under other labels, its id beginning like the
    # sender's, sharing a notebook of the same name
    other = tmp_path / "other"
    shutil.copytree(sender, other)
    with sqlite3.connect(other / "cozy.db") as db:
        (source,) = db.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
        lookalike = source[:8] + uuid.uuid4().hex[8:]
        db.execute("UPDATE meta SET value = ? WHERE key = 'store_id'", (lookalike,))
    for key in first["id"]:
        cozy.edit("bank.transactions", key, label="overwritten", home=other)
    theirs = tmp_path / "theirs.zip"
    made = run_cozy(other, "export", "--share", str(analysis), "--out", str(theirs))
    assert made.code == 0, made.err

    def claiming(namespace: str) -> Callable[[bytes], bytes]:
        def change(descriptor: bytes) -> bytes:
            package = json.loads(descriptor)
            package["cozy"]["namespace"] = namespace
            return json.dumps(package).encode()

        return change

    forged = write(tmp_path / "forged.zip", resealed("/datapackage.json", claiming(space))(
        entries(theirs)))  # fmt: skip

    # When both are restored
    honest = run_cozy(home, "restore", str(theirs), "--yes", "--json")
    refused = run_cozy(home, "restore", str(forged), "--yes")

    # Then the first share's rows are untouched: the other instance's share lands beside
    # them, and one naming their namespace is refused as a bundle that lies (exit 5)
    assert honest.code == 0, honest.err
    spaces = {
        c["name"].split(".")[1] for c in cozy.collections() if c["name"].startswith("shared.")
    }
    assert len(spaces) == 2 and space in spaces
    (beside,) = spaces - {space}
    assert set(cozy.frame(f"shared.{beside}.bank.transactions")["label"]) == {"overwritten"}
    assert refused.code == 5, refused.err
    assert f"claims shared.{space}" in refused.err
    assert cozy.frame(f"shared.{space}.bank.transactions").equals(first)


def test_pseudonyms_replace_counterparties_and_labels_in_data_and_outputs(
    sender: Path, analysis: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pseudo.zip"

    summary = cozy.export_bundle(out, share=analysis, pseudonymise=True, home=sender)

    assert summary["pseudonymised"] is True
    files = read(out)
    rows = table(files, "bank.transactions")
    originals = cozy.frame("bank.transactions", since=SINCE, home=sender).set_index("id")
    with sqlite3.connect(sender / "cozy.db") as db:
        key = bytes.fromhex(
            db.execute("SELECT value FROM meta WHERE key = 'pseudonym_key'").fetchone()[0]
        )
    originals.index = [lineage.pseudonym(lineage.KEYS, i, key) for i in originals.index]
    for row in rows:
        label = str(originals.loc[row["id"], "label"])
        assert row["label"] == lineage.pseudonym("label", label, key)  # stable, keyed
        assert label.encode() not in b"".join(files.values())
    assert rows[0]["counterparty"] == "" or rows[0]["counterparty"].startswith("counterparty-")
    nb = nbformat.reads(files["data/notebooks/June.ipynb"].decode(), as_version=4)
    assert rows[0]["label"] in nb.cells[0].outputs[0]["text"]  # the notebook saw pseudonyms
    assert key.hex().encode() not in b"".join(files.values())


def test_a_template_shares_only_what_it_read(sender: Path, tmp_path: Path) -> None:
    out = tmp_path / "budget.zip"
    template = tmp_path / "Monthly-budget.ipynb"
    template.write_bytes((TEMPLATES / "Monthly-budget.ipynb").read_bytes())

    summary = cozy.export_bundle(out, share=template, home=sender)

    files = read(out)
    read_here = set(summary["collections"])
    assert read_here == {"bank.transactions", "bank.accounts"}  # never notes.things
    for name in read_here:
        rows = table(files, name)
        full = cozy.frame(name, home=sender)
        assert {r[full.columns[0]] for r in rows} <= set(full[full.columns[0]])
        assert set(rows[0]) <= set(full.columns)
    nb = nbformat.reads(files["data/notebooks/Monthly-budget.ipynb"].decode(), as_version=4)
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "error"]  # fmt: skip


def test_a_failing_cell_stops_the_share_naming_it(sender: Path, tmp_path: Path) -> None:
    broken = notebook(tmp_path / "Broken.ipynb", ("1 / 0", []))
    result = run_cozy(sender, "export", "--share", str(broken), "--out", str(tmp_path / "b.zip"))
    assert result.code == 4
    assert "Broken.ipynb: a cell failed (ZeroDivisionError: division by zero)" in result.err
    assert not (tmp_path / "b.zip").exists()


def test_jupyter_nbconvert_makes_a_share_bundle_and_drops_private_cells_anywhere(
    sender: Path, analysis: Path, tmp_path: Path
) -> None:
    source = tmp_path / "June.ipynb"
    source.write_bytes(analysis.read_bytes())
    jupyter = Path(sys.executable).parent / "jupyter"
    env = {**os.environ, "COZY_HOME": str(sender)}

    made = subprocess.run(
        [str(jupyter), "nbconvert", "--to", "cozy_bundle", str(source)],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )  # fmt: skip
    markdown = subprocess.run(
        [str(jupyter), "nbconvert", "--to", "markdown", "--stdout", str(source),
         "--Exporter.preprocessors=cozy_kernel.portability.convert.RemovePrivateCells"],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )  # fmt: skip

    assert made.returncode == 0, made.stderr
    verified = json.loads(run_cozy(sender, "verify", str(tmp_path / "June.zip"), "--json").out)
    assert verified["kind"] == "share" and verified["notebooks"] == ["June.ipynb"]
    assert markdown.returncode == 0, markdown.stderr
    assert "bank.accounts" in markdown.stdout and "my private aside" not in markdown.stdout
