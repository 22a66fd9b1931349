"""Leaving with your data: export, verify (ours, bagit, frictionless), restore without loss."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import cozy_kernel as cozy
from cozy_kernel import budget
from cozy_kernel.portability import chain
from tests.conftest import UNTIL, accept_terms, run_cozy, write_connector

FIXTURES = Path(__file__).parent / "fixtures"
BIN = Path(sys.executable).parent

# A user connector declaring a collection of its own, with every field kind and raw payloads.
THINGS = """
import datetime as dt
from decimal import Decimal
from cozy_kernel.connector import Checkpoint, Connector, Manifest, Record
from cozy_kernel.schemas import Collection, Field

THINGS = Collection("notes.things", (
    Field("id", "text"), Field("seen_at", "timestamp"), Field("price", "money", nullable=True),
    Field("count", "int", nullable=True), Field("done", "bool"),
    Field("tag", "category", nullable=True), Field("day", "date", nullable=True),
))
NEVER = Collection("notes.never", (Field("id", "text"),))  # declared, never given a row

class Things(Connector):
    manifest = Manifest(
        id="things", name="Things", version="1", kind="demo",
        writes=("notes.things", "notes.never", "bank.accounts"), declares=(THINGS, NEVER),
        description={"en": "Things"},
    )

    def fetch(self, since):
        yield Record("notes.things", {"id": "t1", "price": Decimal("-1.50"), "count": 3,
                     "seen_at": dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=dt.UTC),
                     "done": True, "tag": "a", "day": dt.date(2026, 1, 2)},
                     raw=b"\\x00raw payload\\xff")
        yield Record("notes.things", {"id": "t2", "done": False,
                     "seen_at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)}, raw=b"second")
        yield Record("bank.accounts", {"id": "things-acc", "name": 'A "quoted", name',
                                       "currency": "EUR"})
        yield Checkpoint("cursor-1")

connector = Things
"""

NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# Mine\n\n$x^2$"},
        {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": 1,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "hello\n"}],
         "source": "print('hello')"},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}  # fmt: skip


def hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its SHA-256, but SQLite's housekeeping: its shared-memory
    index, and a write-ahead log while it is empty (it comes and goes with connections)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not p.name.endswith("-shm")
        and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }


def frames(home: Path) -> dict[str, pd.DataFrame]:
    return {c["name"]: cozy.frame(c["name"], home=home) for c in cozy.collections(home=home)}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A lived-in workspace: two connectors, an import, edits, budgets and a notebook."""
    home = tmp_path_factory.mktemp("source") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COZY_CONFIG", str(home.parent / "no-config.toml"))
        mp.delenv("COZY_TERMS_DIR", raising=False)
        cozy.accept_terms(home=home)
        cozy.connect("demo-bank", home=home, grant=True, until=UNTIL, months=3)
        cozy.sync("demo-bank", home=home)
        cozy.schedule("demo-bank", "weekly", home=home)
        write_connector(home, "things", THINGS)
        cozy.connect("things", home=home, grant=True)
        cozy.sync("things", home=home)
        cozy.import_files([FIXTURES / "ofx" / "fr_societe_generale.ofx"], grant=True, home=home)
        tx = cozy.frame("bank.transactions", home=home)
        tx = tx[tx["connector"] == "demo-bank"]
        cozy.edit("bank.transactions", tx["id"].iloc[0], home=home, category="groceries",
                  notes="market, \"bio\"")  # fmt: skip
        cozy.edit(
            "bank.transactions", tx["id"].iloc[1], home=home, amount=Decimal("-9.99"), pending=True
        )
        budget.add_category("food:market", home=home)
        budget.add_rule("food:market", contains="MARCHE", home=home)
        budget.set_budget("groceries", "400", home=home)
        budget.set_budget("groceries", "450.50", month="2026-06", home=home)
        notebooks = home / "notebooks"
        notebooks.mkdir()
        (notebooks / "Mine.ipynb").write_text(json.dumps(NOTEBOOK))
        yield home


@pytest.fixture(scope="module")
def bundle(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "my-data.zip"
    result = run_cozy(source, "export", "--out", str(out))
    assert result.code == 0, result.err
    assert "cozy verify" in result.out
    return out


@pytest.fixture(scope="module")
def unzipped(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(folder)
    return folder / "my-data"


def test_the_bundle_is_a_bagit_bag_with_a_data_package(unzipped: Path) -> None:
    assert (unzipped / "bagit.txt").read_text().startswith("BagIt-Version: 1.0\n")
    info = (unzipped / "bag-info.txt").read_text()
    assert "Cozy-Bundle-Version: 1\n" in info and "Cozy-Bundle-Kind: full\n" in info
    assert "Cozy-Source-Instance: " in info and "Cozy-Created-At: " in info
    for name in ("manifest-sha256.txt", "manifest-sha512.txt", "tagmanifest-sha256.txt",
                 "tagmanifest-sha512.txt"):  # fmt: skip
        assert (unzipped / name).is_file(), name
    data = unzipped / "data"
    package = json.loads((data / "datapackage.json").read_text())
    assert package["$schema"] == "https://datapackage.org/profiles/2.0/datapackage.json"
    described = {r["path"] for r in package["resources"]}
    payload = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()}
    assert described == payload - {"datapackage.json"}  # every file is a resource
    assert all(r["hash"].startswith("sha256:") and r["bytes"] > 0 for r in package["resources"])
    tx = next(r for r in package["resources"] if r["name"] == "bank.transactions")
    assert tx["schema"]["primaryKey"] == ["id"]
    assert tx["schema"]["foreignKeys"] == [
        {"fields": ["account_id"], "reference": {"resource": "bank.accounts", "fields": ["id"]}}
    ]
    types = {f["name"]: f["type"] for f in tx["schema"]["fields"]}
    assert (types["amount"], types["date"], types["pending"]) == ("number", "date", "boolean")
    # Raw originals byte for byte, the notebook and its offline HTML, the consent records
    (original,) = (data / "raw" / "ofx").iterdir()
    assert original.read_bytes() == (FIXTURES / "ofx" / "fr_societe_generale.ofx").read_bytes()
    assert (data / "notebooks" / "Mine.ipynb").read_text() == json.dumps(NOTEBOOK)
    page = (data / "notebooks" / "Mine.html").read_text()
    assert "hello" in page and "<script" not in page
    assert (data / "consent" / "ledger.jsonl").is_file()
    assert list((data / "consent" / "receipts").glob("*.jsonld"))
    register = json.loads((data / "consent" / "register.json").read_text())
    assert {d["connector"] for d in register["data"]} >= {"demo-bank", "things", "ofx"}
    readme = (data / "README.md").read_text()
    assert "bagit.py --validate" in readme and "frictionless validate" in readme
    assert "cozy restore" in readme


def test_tables_are_csv_with_decimal_strings_and_iso_dates_and_the_same_parquet(
    unzipped: Path, source: Path
) -> None:
    data = unzipped / "data" / "collections"
    rows = list(csv.DictReader(io.StringIO((data / "bank.transactions.csv").read_text("utf-8"))))
    table = pq.read_table(data / "bank.transactions.parquet")
    assert len(rows) == table.num_rows == len(cozy.frame("bank.transactions", home=source))
    assert str(table.schema.field("amount").type) == "decimal128(18, 2)"
    first = rows[0]
    assert len(first["date"]) == 10 and first["amount"].count(".") == 1
    assert first["pending"] in ("true", "false")
    things = list(csv.DictReader(io.StringIO((data / "notes.things.csv").read_text("utf-8"))))
    assert things[0]["seen_at"] == "2026-01-02T03:04:05.000678Z" and things[0]["price"] == "-1.50"
    edits = (unzipped / "data" / "workspace" / "edits.csv").read_text("utf-8")
    assert "-9.99" in edits and '"market, ""bio"""' in edits


def test_cozy_verify_and_the_tools_we_did_not_write_accept_it(
    bundle: Path, unzipped: Path, source: Path
) -> None:
    verified = run_cozy(source, "verify", str(bundle), "--json")
    assert verified.code == 0, verified.err
    summary = json.loads(verified.out)
    assert summary["kind"] == "full" and summary["collections"]["notes.things"] == 2
    bagit = subprocess.run(
        [str(BIN / "bagit.py"), "--validate", str(unzipped)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bagit.returncode == 0, bagit.stderr
    frictionless = subprocess.run(
        [str(BIN / "frictionless"), "validate", "--json", "datapackage.json"],
        cwd=unzipped / "data", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert frictionless.returncode == 0, frictionless.stdout[-2000:]
    assert json.loads(frictionless.stdout)["valid"] is True


def test_restore_into_a_fresh_workspace_is_lossless_and_restoring_again_changes_nothing(
    bundle: Path, source: Path, tmp_path: Path, home: Path
) -> None:
    # When the bundle is restored into a fresh workspace
    result = run_cozy(home, "restore", str(bundle), "--yes", "--json")

    # Then every frame is equal, provenance included, and so are the user's own tables
    assert result.code == 0, result.err
    assert json.loads(result.out)["changed"] is True
    before, after = frames(source), frames(home)
    assert before.keys() == after.keys() == {
        "bank.accounts", "bank.transactions", "notes.things", "notes.never"
    }  # fmt: skip
    assert after["notes.never"].empty  # a collection without rows comes back, empty
    for name, frame in before.items():
        assert frame.equals(after[name]), name
    for table in ("budget_categories", "budget_amounts", "budget_aliases", "edits", "schedules"):
        assert rows_of(source, table) == rows_of(home, table), table
    assert [r[1:] for r in rows_of(source, "budget_rules")] == [
        r[1:] for r in rows_of(home, "budget_rules")
    ]
    assert rows_of(source, "raw_records") == rows_of(home, "raw_records")
    # The originals are byte-identical
    assert hashes(source / "raw") == hashes(home / "raw")
    assert (home / "notebooks" / "Mine.ipynb").read_text() == json.dumps(NOTEBOOK)
    # Settings came back without the grant; the target's own ledger still verifies
    assert cozy.runs(home=home)[0]["connector"] == "cozy:restore"
    assert cozy.consent_screen("demo-bank", home=home)["state"] != "granted"
    assert run_cozy(home, "sync", "demo-bank").code == 3
    assert run_cozy(home, "consent", "log", "--verify").code == 0
    # The source's ledger is archived apart, and verifies on its own
    (archived,) = (home / "archive").rglob("ledger.jsonl")
    assert chain.verify_file(archived) == len(cozy.consent_log(home=source))

    # And restoring again changes no byte of the workspace
    files = hashes(home)
    again = run_cozy(home, "restore", str(bundle), "--yes")
    assert again.code == 0, again.err
    assert "nothing changed" in again.out
    assert hashes(home) == files


def rows_of(home: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "cozy.db") as db:
        return sorted(db.execute(f"SELECT * FROM {table}"), key=repr)


def test_restore_merges_into_a_populated_workspace_without_duplicates(
    bundle: Path, source: Path, home: Path
) -> None:
    # Given a workspace that synced the same bank and made its own, later, edit
    cozy.connect("demo-bank", home=home, grant=True, until=UNTIL, months=3)
    cozy.sync("demo-bank", home=home)
    tx = cozy.frame("bank.transactions", home=source)
    first = tx[tx["connector"] == "demo-bank"]["id"].iloc[0]
    cozy.edit("bank.transactions", first, home=home, category="food")
    budget.set_budget("groceries", "300", home=home)
    ids_before = set(cozy.frame("bank.transactions", home=home)["id"])

    # When the bundle is restored
    summary = cozy.restore_bundle(bundle, home=home)

    # Then the bank's rows were matched, not duplicated; the rest was added
    tx = summary["collections"]["bank.transactions"]
    assert tx["added"] == len(cozy.frame("bank.transactions", home=source)) - len(ids_before)
    frame = cozy.frame("bank.transactions", home=home)
    assert frame["id"].is_unique
    assert set(frame["id"]) == set(cozy.frame("bank.transactions", home=source)["id"])
    # The later edit made here stays; the bundle's other edits arrive; its budget wins by id
    row = frame.set_index("id").loc[first]
    assert (row["category"], row["notes"]) == ("food", 'market, "bio"')
    amounts = {(r[0], r[1]): r[3] for r in rows_of(home, "budget_amounts")}
    assert amounts[("groceries", "")] == 40000 and amounts[("groceries", "2026-06")] == 45050
    assert cozy.restore_bundle(bundle, home=home)["changed"] is False


def test_restoring_needs_the_terms_accepted_here(bundle: Path, fresh_home: Path) -> None:
    result = run_cozy(fresh_home, "restore", str(bundle), "--yes")
    assert result.code == 3 and "cozy terms accept" in result.err


def test_export_shows_progress_and_replaces_the_file_only_when_complete(
    source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "again.zip"
    out.write_bytes(b"old")
    seen: list[tuple[int, int | None]] = []

    summary = cozy.export_bundle(out, home=source, progress=lambda d, t: seen.append((d, t)))

    assert seen and seen[-1][0] == seen[-1][1]
    assert summary["bytes"] == out.stat().st_size and out.read_bytes()[:2] == b"PK"
    assert [p.name for p in tmp_path.iterdir()] == ["again.zip"]  # no temporary left over


def test_a_broken_notebook_stops_the_export_naming_it(source: Path, tmp_path: Path) -> None:
    broken = source / "notebooks" / "Broken.ipynb"
    broken.write_text("{not json")
    try:
        result = run_cozy(source, "export", "--out", str(tmp_path / "x.zip"))
    finally:
        broken.unlink()
    assert result.code == 4 and "notebooks/Broken.ipynb: not a valid notebook" in result.err
    assert not (tmp_path / "x.zip").exists() and list(tmp_path.iterdir()) == []


def test_the_whole_store_round_trips_through_csv_too(unzipped: Path) -> None:
    """CSV alone (no Parquet) keeps every value: what another tool reads is the whole story."""
    data = unzipped / "data"
    for csv_path in (data / "collections").glob("*.csv"):
        text = list(csv.DictReader(io.StringIO(csv_path.read_text("utf-8"))))
        parquet = pq.read_table(csv_path.with_suffix(".parquet")).to_pylist()
        assert len(text) == len(parquet)
        for line, row in zip(text, parquet, strict=True):
            for name, value in row.items():
                shown = "" if value is None else str(value)
                if isinstance(value, bool):
                    shown = str(value).lower()
                if name == "seen_at":
                    continue  # ISO 8601 in UTC, checked above
                assert line[name] == shown, (csv_path.name, name)


def test_a_consent_archive_a_crash_left_half_written_is_completed_by_the_next_restore(
    bundle: Path, fresh_home: Path
) -> None:
    accept_terms(fresh_home)
    assert run_cozy(fresh_home, "restore", str(bundle), "--yes").code == 0
    archived = sorted(p for p in (fresh_home / "archive").rglob("*") if p.is_file())
    kept = {p: p.read_bytes() for p in archived}
    # Given a restore killed after its first archived file (the others never landed)
    for path in archived[1:]:
        path.unlink()

    again = run_cozy(fresh_home, "restore", str(bundle), "--yes")

    assert again.code == 0, again.err
    assert {p: p.read_bytes() for p in archived if p.exists()} == kept
