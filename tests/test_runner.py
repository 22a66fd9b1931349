"""The sync runner: all or nothing, errors as values, raw payloads apart, keys owned."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cozy_kernel as cozy
from cozy_kernel.errors import ConnectorFailed, ConsentRequired
from tests.conftest import UNTIL, write_connector

FLAKY = '''
import datetime as dt
import os
from decimal import Decimal
from cozy_kernel.connector import Checkpoint, Connector, Manifest, Record, Rejected

class Flaky(Connector):
    """Writes N transactions, optionally failing after a number of them."""
    manifest = Manifest(id="flaky", name="Flaky", version="1", kind="file",
                        writes=("bank.accounts", "bank.transactions"),
                        description={"en": "test connector"})

    def fetch(self, since):
        fail_after = int(os.environ.get("FLAKY_FAIL_AFTER", "-1"))
        prefix = os.environ.get("FLAKY_PREFIX", "f")
        account = os.environ.get("FLAKY_ACCOUNT", f"{prefix}-acct")
        yield Record("bank.accounts", {"id": account, "name": "Flaky",
                                       "currency": "EUR"}, raw=b'{"acct": 1}')
        for i in range(50_000):
            if i == fail_after:
                raise ConnectionError("bank hung up")
            yield Record("bank.transactions", {
                "id": f"{prefix}-{i}", "account_id": f"{prefix}-acct",
                "date": dt.date(2026, 1, 1) + dt.timedelta(days=i % 300),
                "amount": Decimal(i).scaleb(-2), "currency": "EUR", "label": f"row {i}",
                "pending": False,
            }, raw=f"payload {i}".encode())
        yield Rejected("line 7: unreadable date '31/02/2026'", source="statement.csv:7")
        yield Record("bank.transactions", {"id": "bad-amount", "account_id": "x",
            "date": dt.date(2026, 1, 1), "amount": 1.5, "currency": "EUR",
            "label": "float", "pending": False})
        yield Record("bank.transactions", {"id": "bad-field", "account_id": "x",
            "date": dt.date(2026, 1, 1), "amount": Decimal("1.00"), "currency": "EUR",
            "label": "x", "pending": False, "colour": "blue"})
        yield Record("shop.orders", {"id": "o1"})
        yield Checkpoint(os.environ.get("FLAKY_CURSOR", "c1"))

connector = Flaky
'''


def dump(home: Path) -> list:
    """Everything the store holds except the run log, to compare before/after."""
    with sqlite3.connect(home / "cozy.db") as db:
        tables = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY 1")
            if r[0] not in ("runs", "run_owners", "rejections")
        ]
        return [(t, db.execute(f'SELECT * FROM "{t}" ORDER BY 1, 2').fetchall()) for t in tables]


@pytest.fixture
def flaky(home: Path) -> Path:
    write_connector(home, "flaky", FLAKY)
    cozy.connect("flaky", grant=True)
    return home


def test_bad_rows_come_back_as_reasons_and_good_rows_are_kept(flaky: Path) -> None:
    report = cozy.sync("flaky")

    assert report.added == 50_001
    assert report.collections == {
        "bank.accounts": {"added": 1, "updated": 0, "unchanged": 0},
        "bank.transactions": {"added": 50_000, "updated": 0, "unchanged": 0},
    }
    assert report.rejected == [
        "line 7: unreadable date '31/02/2026'",
        "bank.transactions id='bad-amount': field 'amount': expected a Decimal amount, got float",
        "bank.transactions id='bad-field': unknown field 'colour'",
        "collection 'shop.orders' is not declared",
    ]
    run = cozy.runs("flaky")[0]
    assert (run["outcome"], run["added"], run["rejected"]) == ("ok", 50_001, 4)


def test_a_failure_midway_leaves_the_store_exactly_as_it_was(
    flaky: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cozy.sync("flaky")
    before = dump(flaky)
    monkeypatch.setenv("FLAKY_PREFIX", "g")
    monkeypatch.setenv("FLAKY_CURSOR", "c2")
    monkeypatch.setenv("FLAKY_FAIL_AFTER", "45000")  # after two committed-looking batches

    with pytest.raises(ConnectorFailed, match="bank hung up"):
        cozy.sync("flaky")

    assert dump(flaky) == before
    run = cozy.runs("flaky")[0]
    assert run["outcome"] == "failed"
    assert "ConnectionError: bank hung up" in run["error"]
    assert (run["added"], run["updated"]) == (0, 0)


def test_cursor_is_saved_with_the_data_and_handed_to_the_next_fetch(home: Path) -> None:
    write_connector(
        home,
        "probe",
        "from cozy_kernel.connector import Checkpoint, Connector, Manifest\n"
        "SEEN = []\n"
        "class Probe(Connector):\n"
        "    manifest = Manifest(id='probe', name='Probe', version='1', kind='file',\n"
        "        writes=('bank.accounts',), description={'en': 'probe'})\n"
        "    def fetch(self, since):\n"
        "        SEEN.append(since)\n"
        "        yield Checkpoint(f'after-{len(SEEN)}')\n"
        "connector = Probe\n",
    )
    cozy.connect("probe", grant=True)

    for full in (False, False, True, False):
        cozy.sync("probe", full=full)

    seen = sys.modules["cozy_user_connectors.probe"].SEEN
    assert seen == [None, "after-1", None, "after-3"]


def test_raw_payloads_are_kept_apart_from_typed_rows(flaky: Path) -> None:
    cozy.sync("flaky")

    with sqlite3.connect(flaky / "cozy.db") as db:
        payload = db.execute(
            "SELECT payload FROM raw_records WHERE collection = 'bank.transactions' AND key = ?",
            ("f-42",),
        ).fetchone()[0]
        columns = [r[1] for r in db.execute('PRAGMA table_info("bank.transactions")')]
    assert payload == b"payload 42"
    assert "payload" not in columns and "raw" not in columns


def test_a_key_held_by_another_connector_is_refused_not_overwritten(
    flaky: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cozy.connect("demo-bank", grant=True, until=UNTIL)
    cozy.sync("demo-bank")
    monkeypatch.setenv("FLAKY_ACCOUNT", "demo-checking")  # the demo's account id

    report = cozy.sync("flaky")

    assert "bank.accounts id='demo-checking' belongs to another connector" in report.rejected
    accounts = cozy.frame("bank.accounts").set_index("id")
    assert accounts.loc["demo-checking", "connector"] == "demo-bank"
    assert accounts.loc["demo-checking", "name"] == "Compte courant"


def test_progress_is_reported_while_syncing(flaky: Path) -> None:
    calls: list[tuple[int, int | None]] = []

    cozy.sync("flaky", progress=lambda done, total: calls.append((done, total)))

    assert len(calls) >= 3
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1][0] == 50_005


def test_sync_refuses_a_connector_that_is_not_connected(home: Path) -> None:
    with pytest.raises(ConsentRequired, match="grant it: cozy connect demo-bank"):
        cozy.sync("demo-bank")
    assert cozy.runs() == []


PENDING = """
import datetime as dt, json, os
from decimal import Decimal
from cozy_kernel.connector import Connector, Manifest, Record

class Card(Connector):
    manifest = Manifest(id="card", name="Card", version="1", kind="file",
                        writes=("bank.transactions",), description={"en": "test"})

    def fetch(self, since):
        for tid, day, amount, pending in json.loads(os.environ["CARD_ROWS"]):
            yield Record("bank.transactions", {
                "id": tid, "account_id": "c", "date": dt.date.fromisoformat(day),
                "amount": Decimal(amount), "currency": "EUR", "label": tid, "pending": pending})

connector = Card
"""


def test_booked_rows_replace_the_pending_ones_they_settle_one_to_one(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_connector(home, "card", PENDING)
    cozy.connect("card", grant=True)

    def sync(*rows: tuple[str, str, str, bool]):
        monkeypatch.setenv("CARD_ROWS", json.dumps(rows))
        return cozy.sync("card")

    # Given two identical pending coffees, a pending train ticket and a pending hotel
    sync(
        ("p-coffee-1", "2026-03-02", "-3.20", True),
        ("p-coffee-2", "2026-03-02", "-3.20", True),
        ("p-train", "2026-03-02", "-45.00", True),
        ("p-hotel", "2026-03-01", "-99.00", True),
    )
    # When the bank books both coffees and the train under new ids, and still shows the hotel
    report = sync(("b-coffee-1", "2026-03-04", "-3.20", False),
                  ("b-coffee-2", "2026-03-04", "-3.20", False),
                  ("b-train", "2026-03-12", "-45.00", False),
                  ("p-hotel", "2026-03-01", "-99.00", True))  # fmt: skip

    # Then each booked coffee replaced one pending coffee; the train, booked ten days later,
    # is too far to be the same payment; the hotel is still pending
    ids = set(cozy.frame("bank.transactions")["id"])
    assert ids == {"b-coffee-1", "b-coffee-2", "b-train", "p-train", "p-hotel"}
    assert (report.added, report.updated, report.unchanged) == (1, 2, 1)


SLOW = '''
import datetime as dt
import os
import time
from decimal import Decimal
from cozy_kernel.connector import Connector, Manifest, Record

class Slow(Connector):
    """Fetches one row at a time, slowly while SLOW_SECONDS says so."""
    manifest = Manifest(id="slow", name="Slow", version="1", kind="file",
                        writes=("bank.accounts", "bank.transactions"),
                        description={"en": "test connector"})

    def fetch(self, since):
        pause = float(os.environ.get("SLOW_SECONDS", "0"))
        yield Record("bank.accounts", {"id": "s", "name": "Slow", "currency": "EUR"})
        for i in range(200):
            time.sleep(pause)
            yield Record("bank.transactions", {
                "id": f"s-{i}", "account_id": "s", "date": dt.date(2026, 1, 1),
                "amount": Decimal(i), "currency": "EUR", "label": "x", "pending": False})

connector = Slow
'''


def test_a_sync_killed_midway_is_marked_failed_by_the_next_run(home: Path) -> None:
    # Given a sync killed while it runs
    write_connector(home, "slow", SLOW)
    cozy.connect("slow", grant=True)
    env = {**os.environ, "SLOW_SECONDS": "0.5"}
    command = [sys.executable, "-m", "cozy_kernel", "--home", str(home), "sync", "slow"]
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if [r for r in cozy.runs("slow") if r["outcome"] == "running"]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the sync never started")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    (orphan,) = cozy.runs("slow")
    assert orphan["outcome"] == "running"  # nobody is left to say otherwise

    # When the next run starts
    report = cozy.sync("slow")

    # Then the killed one is failed, with why, and the new one did the work
    (killed,) = [r for r in cozy.runs("slow") if r["id"] == orphan["id"]]
    assert killed["outcome"] == "failed"
    assert f"interrupted: its process ({child.pid}) stopped" in killed["error"]
    assert report.added == 201
