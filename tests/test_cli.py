"""The ``cozy`` command as a user runs it: outputs, formats, one-line errors, exit codes."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from tests.conftest import UNTIL, write_connector


def test_connect_sync_and_read_back_in_every_format(cozy, home: Path, tmp_path: Path) -> None:
    listed = cozy("connectors", "list", "--json")
    assert listed.code == 0
    demo = next(c for c in json.loads(listed.out) if c["id"] == "demo-bank")
    assert (demo["enabled"], demo["connected"], demo["kind"]) == (True, False, "demo")

    assert cozy("connect", "demo-bank", "--set", f"until={UNTIL}", "--yes").code == 0
    synced = cozy("sync", "demo-bank", "--json")
    assert synced.code == 0, synced.err
    report = json.loads(synced.out)
    assert report["added"] > 1000 and report["rejected"] == []
    again = json.loads(cozy("sync", "demo-bank", "--full", "--json").out)
    assert (again["added"], again["updated"]) == (0, 0)

    names = {c["name"]: c["rows"] for c in json.loads(cozy("collections", "--json").out)}
    assert names == {"bank.accounts": 2, "bank.transactions": report["added"] - 2}

    records = json.loads(cozy("frame", "bank.transactions", "--format", "json").out)
    assert len(records) == names["bank.transactions"]
    first = records[0]
    assert first["date"] == first["date"][:10] and len(first["date"]) == 10
    assert isinstance(first["amount"], str) and Decimal(first["amount"]).as_tuple().exponent == -2
    assert isinstance(first["pending"], bool)

    text = cozy("frame", "bank.accounts", "--format", "csv").out
    accounts = list(csv.DictReader(io.StringIO(text)))
    assert {a["id"] for a in accounts} == {"demo-checking", "demo-savings"}
    assert all(a["balance_date"] == UNTIL for a in accounts)

    out = tmp_path / "tx.parquet"
    written = cozy("frame", "bank.transactions", "--format", "parquet", "--out", str(out))
    assert written.code == 0 and "wrote" in written.err
    table = pq.read_table(out)
    assert table.num_rows == names["bank.transactions"]
    assert str(table.schema.field("amount").type) == "decimal128(18, 2)"


def test_frame_filters_on_the_command_line(cozy, demo: Path) -> None:
    out = cozy(
        "frame", "bank.transactions", "--format", "json",
        "--since", "2026-06-30", "--until", "2026-06-30", "--columns", "date,amount",
    )  # fmt: skip

    rows = json.loads(out.out)
    assert rows and all(r == {"date": UNTIL, "amount": r["amount"]} for r in rows)


def test_human_output_reads_well(cozy, demo: Path) -> None:
    listed = cozy("connectors", "list").out
    assert "demo-bank" in listed and "connected" in listed
    again = cozy("sync", "demo-bank").out
    assert again.startswith("demo-bank: 0 added, 0 updated,")
    assert "bank.transactions" in cozy("collections").out
    runs = cozy("runs", "demo-bank").out.splitlines()
    assert len(runs) == 2 and all(" ok " in r for r in runs)
    doctor = cozy("doctor")
    assert doctor.code == 0
    assert "ok  connector demo-bank" in doctor.out


def test_errors_are_one_line_with_the_right_exit_code(cozy, home: Path) -> None:
    cases = [
        (("sync", "demo-bank"), 3, "granted (review and grant it: cozy connect demo-bank)"),
        (("sync", "demo-bnak"), 2, "did you mean 'demo-bank'?"),
        (("connect", "demo-bank", "--set", "seeed=1"), 2, "did you mean 'seed'?"),
        (("connect", "demo-bank", "--set", "seed=abc"), 4, "setting 'seed': 'abc' is not"),
        (
            ("connect", "demo-bank", "--set", "until=yesterday"),
            4,
            "'yesterday' is not a valid date",
        ),
        (("connect", "demo-bank", "--set", "seed"), 2, "expected KEY=VALUE"),
        (("frame", "bank.nothing"), 2, "unknown collection 'bank.nothing'"),
        (("frame", "bank.transactions", "--format", "xml"), 2, "'xml' is not one of"),
        (("nonsense",), 2, "No such command 'nonsense'"),
    ]
    for args, code, message in cases:
        result = cozy(*args)
        assert result.code == code, (args, result.err)
        assert message in result.err, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert "Traceback" not in result.err


def test_debug_shows_the_traceback(cozy, home: Path) -> None:
    result = cozy("--debug", "sync", "demo-bank")

    assert result.code != 0
    assert "Traceback" in result.err and "ConsentRequired" in result.err


def test_a_failing_connector_exits_1_and_says_nothing_was_written(cozy, home: Path) -> None:
    write_connector(
        home,
        "broken",
        "from cozy_kernel.connector import Connector, Manifest\n"
        "class Broken(Connector):\n"
        "    manifest = Manifest(id='broken', name='Broken', version='1', kind='file',\n"
        "        writes=('bank.accounts',), description={'en': 'x'})\n"
        "    def fetch(self, since):\n"
        "        raise TimeoutError('statement server timed out')\n"
        "        yield\n"
        "connector = Broken\n",
    )
    assert cozy("connect", "broken", "--yes").code == 0

    result = cozy("sync", "broken")

    assert result.code == 1
    assert result.err.strip() == (
        "cozy: connector 'broken' failed: TimeoutError: statement server timed out "
        "(nothing was written)"
    )
    doctor = cozy("doctor", "--json")
    assert doctor.code == 1
    assert any("last sync failed" in p for p in json.loads(doctor.out)["problems"])


def test_home_option_and_environment_pick_the_workspace(cozy, home: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    assert cozy("--home", str(other), "terms", "accept", "--yes").code == 0
    assert cozy("--home", str(other), "connect", "demo-bank", "--yes").code == 0

    assert (other / "cozy.db").exists()
    listed = json.loads(cozy("connectors", "list", "--json").out)
    assert not next(c for c in listed if c["id"] == "demo-bank")["connected"]
