"""Automatic syncs: random slots, due times, pauses that wait for the user, and the
operator's choices; then a real server whose scheduler syncs GoCardless by itself."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import requests

import cozy_kernel as cozy
from cozy_kernel import registry, schedules
from cozy_kernel.api import due, scheduled_sync, session
from cozy_kernel.connector import Manifest
from cozy_kernel.errors import BadInput, ReconnectNeeded
from tests.conftest import UNTIL, run_cozy, write_connector
from tests.fakes.gocardless import SANDBOX, FakeGoCardless
from tests.jupyter import running
from tests.test_gocardless import connect, fake, quick_keyring  # noqa: F401 (fixtures)

DAY = 100.0  # a scheduler day of 100 s keeps the arithmetic readable

FLAKY = """
from pathlib import Path
from cozy_kernel.connector import Connector, Manifest
from cozy_kernel.errors import ReconnectNeeded

class Flaky(Connector):
    manifest = Manifest(id="flaky", name="Flaky", version="1", kind="demo",
                        writes=("bank.accounts",), description={"en": "fails on demand"},
                        default_frequency="daily")

    def fetch(self, since):
        if (Path(__file__).parent / "refuse").exists():
            raise ReconnectNeeded("the bank refused the login", hint="reconnect flaky")
        yield from ()

connector = Flaky
"""


def manifest(home: Path, connector: str) -> Manifest:
    with session(home) as (ws, _):
        return registry.get(ws, connector).manifest


def test_a_daily_connector_is_due_at_its_slot_after_its_last_run(home: Path) -> None:
    cozy.connect("demo-bank", grant=True, until=UNTIL, months=1)
    state = cozy.schedule("demo-bank", "daily")
    assert state["frequency"] == "daily" and state["paused"] is None

    with session(home) as (_, store):
        m = manifest(home, "demo-bank")
        slot = schedules.slot(store, "demo-bank")
        assert 0 <= slot < 1 and schedules.slot(store, "demo-bank") == slot  # drawn once
        first = schedules.next_run(store, m, DAY)
    assert first is not None and time.time() - DAY < first <= time.time() + DAY
    assert (first / DAY) % 1 == pytest.approx(slot, abs=1e-6)
    assert due(now=first - 1, day=DAY) == []
    assert due(now=first, day=DAY) == ["demo-bank"]

    # After a run, the next one is the first slot after it: at most a day later
    scheduled_sync("demo-bank")
    with session(home) as (_, store):
        later = schedules.next_run(store, m, DAY)
        run = store.runs("demo-bank", limit=1)[0]
    assert run["trigger"] == "schedule" and run["outcome"] == "ok"
    assert later is not None and time.time() < later <= time.time() + DAY
    assert due(now=later - 1, day=DAY) == []

    # Weekly runs at most a week apart; off never
    cozy.schedule("demo-bank", "weekly")
    with session(home) as (_, store):
        weekly = schedules.next_run(store, m, DAY)
    assert weekly is not None and weekly <= time.time() + 7 * DAY
    cozy.schedule("demo-bank", "off")
    assert due(now=time.time() + 30 * DAY, day=DAY) == []


def test_reading_a_schedule_writes_nothing_and_the_slot_stays_once_saved(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COZY_DEFAULT_FREQUENCY", "daily")  # due without a saved schedule
    cozy.connect("demo-bank", grant=True, until=UNTIL, months=1)
    with session(home) as (_, store):
        before = store.db.total_changes
        drawn = schedules.slot(store, "demo-bank")
        assert schedules.next_run(store, manifest(home, "demo-bank"), DAY) is not None
        assert store.schedule("demo-bank") is None and store.db.total_changes == before
    cozy.connectors()
    cozy.schedule("demo-bank", "weekly")  # saved: the slot read before is the one kept
    with session(home) as (_, store):
        saved = store.schedule("demo-bank")
        assert saved is not None and saved["slot"] == drawn
    other = home.parent / "other"
    cozy.accept_terms(home=other)
    cozy.connect("demo-bank", grant=True, until=UNTIL, months=1, home=other)
    with session(other) as (_, store):
        assert schedules.slot(store, "demo-bank") != drawn  # each workspace its own


def test_a_login_refused_pauses_automatic_runs_until_the_user_acts(home: Path) -> None:
    folder = write_connector(home, "flaky", FLAKY).parent
    cozy.connect("flaky", grant=True)
    (folder / "refuse").touch()
    later = time.time() + 2 * DAY

    with pytest.raises(ReconnectNeeded):
        scheduled_sync("flaky")

    listed = {c["id"]: c for c in cozy.connectors()}["flaky"]
    assert listed["schedule"]["paused"] == "the bank refused the login"
    assert listed["status"] == "needs_reconnect"
    assert listed["schedule"]["next_run"] is None
    assert due(now=later, day=DAY) == []
    assert listed["last_run"]["reason"] == "reconnect-needed"

    # A sync by hand that works resumes them
    (folder / "refuse").unlink()
    cozy.sync("flaky")
    listed = {c["id"]: c for c in cozy.connectors()}["flaky"]
    assert listed["schedule"]["paused"] is None and listed["status"] == "connected"
    assert due(now=later, day=DAY) == ["flaky"]


def test_cron_syncs_all_and_says_which_wait(home: Path) -> None:
    folder = write_connector(home, "flaky", FLAKY).parent
    assert run_cozy(home, "connect", "demo-bank", "--yes", "--set", f"until={UNTIL}",
                    "--set", "months=1").code == 0  # fmt: skip
    assert run_cozy(home, "connect", "flaky", "--yes").code == 0
    assert run_cozy(home, "schedule", "demo-bank", "daily").code == 0
    assert run_cozy(home, "import", str(Path(__file__).parent / "fixtures" / "qif" /
                    "uk_barclays.qif"), "--yes").code == 0  # fmt: skip

    ok = run_cozy(home, "sync", "--all")
    assert ok.code == 0, ok.err
    assert "demo-bank:" in ok.out and "flaky:" in ok.out and "qif" not in ok.out

    (folder / "refuse").touch()
    refused = run_cozy(home, "sync", "--all")
    assert refused.code == 1
    assert "flaky: failed: the bank refused the login" in refused.err
    waiting = run_cozy(home, "sync", "--all", "--json")
    assert waiting.code == 1 and '"outcome": "paused"' in waiting.out
    assert run_cozy(home, "sync").code == 2  # neither a connector nor --all
    assert run_cozy(home, "schedule", "qif", "daily").code == 4  # files never run alone


def test_the_operator_limits_connectors_and_sets_the_default_frequency(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COZY_ALLOWED_CONNECTORS", "demo-bank,csv")
    monkeypatch.setenv("COZY_DEFAULT_FREQUENCY", "weekly")

    listed = {c["id"]: c for c in cozy.connectors()}
    assert set(listed) == {"demo-bank", "csv"}
    assert listed["demo-bank"]["schedule"]["frequency"] == "weekly"
    assert listed["csv"]["schedule"]["frequency"] == "off"
    assert {row["connector"] for row in cozy.terms_view()["collect"]} == {"demo-bank", "csv"}
    with pytest.raises(Exception, match="unknown connector 'gocardless'"):
        cozy.connect("gocardless", grant=True)

    monkeypatch.setenv("COZY_DEFAULT_FREQUENCY", "hourly")
    with pytest.raises(BadInput, match="default_frequency 'hourly'"):
        cozy.connectors()


def test_the_server_syncs_a_daily_connector_by_itself_and_pauses_after_a_401(
    home: Path,
    fake: FakeGoCardless,  # noqa: F811 (the fixture imported above)
    quick_keyring: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    bank = fake
    assert connect(home, bank, f"institution_id={SANDBOX}").code == 0
    bank.approve()
    token = uuid.uuid4().hex
    day = 2.0  # a scheduler day of two seconds, looked at every 0.2 s
    command = ["jupyter_server", f"--ServerApp.root_dir={tmp_path}",
               f"--CozyNotebook.day_seconds={day}", "--CozyNotebook.schedule_tick=0.2"]  # fmt: skip

    def automatic() -> list[dict[str, object]]:
        return [r for r in cozy.runs("gocardless", limit=50) if r["trigger"] == "schedule"]

    with running(command, tmp_path, token) as base:
        # GoCardless defaults to daily: its first automatic run comes within a "day"
        deadline = time.monotonic() + 4 * day + 10
        while not [r for r in automatic() if r["outcome"] == "ok"]:
            assert time.monotonic() < deadline, "no automatic sync"
            time.sleep(0.2)
        assert len(cozy.frame("bank.transactions")) > 0

        # The user revokes the keys at GoCardless: the next automatic run gets 401s and pauses
        bank.revoke_keys()
        deadline = time.monotonic() + 4 * day + 10
        while not [r for r in automatic() if r["outcome"] == "failed"]:
            assert time.monotonic() < deadline, "no failed automatic sync"
            time.sleep(0.2)
        failed = automatic()[0]
        assert failed["reason"] == "reconnect-needed"
        headers = {"Authorization": f"token {token}"}
        listed = {
            c["id"]: c
            for c in requests.get(f"{base}/cozy/api/connectors", headers=headers, timeout=10).json()
        }
        assert listed["gocardless"]["status"] == "needs_reconnect"
        assert "GoCardless refused" in listed["gocardless"]["schedule"]["paused"]

        # Paused: three more "days" pass without another attempt
        count = len(automatic())
        time.sleep(3 * day)
        assert len(automatic()) == count
