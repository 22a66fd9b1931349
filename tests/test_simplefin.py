"""SimpleFIN Bridge: claim a setup token once, keep the access URL secret, sync accounts."""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import requests
from keyring import core as keyring_core

import cozy_kernel as cozy
from cozy_kernel import secrets
from cozy_kernel.store import Store
from tests.conftest import Result, run_cozy
from tests.fakes.simplefin import PASSWORD, USER, FakeBridge, PlainKeyring, Tx, epoch

ALREADY_USED = (
    "this setup token was already used: if you did not use it, someone else may have your "
    "access — disable it at the bridge and create a new one"
)
RENEW = "create a new setup token, then run: cozy connect simplefin --secret-env setup_token="


@pytest.fixture
def bridge() -> Iterator[FakeBridge]:
    with FakeBridge() as fake:
        yield fake


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real encrypted keyring file, for the canary test."""
    path = tmp_path / "keyring" / "secrets.cfg"
    path.parent.mkdir()
    monkeypatch.setenv("COZY_KEYRING_KEY", "a long passphrase for the test keyring")
    monkeypatch.setenv("COZY_KEYRING_FILE", str(path))
    return path


@pytest.fixture
def keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quick keyring, in this process and in the CLI's (see ``PlainKeyring``)."""
    monkeypatch.delenv("COZY_KEYRING_KEY", raising=False)
    monkeypatch.setenv("SIMPLEFIN_TEST_KEYRING", str(tmp_path / "keyring.json"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.fakes.simplefin.PlainKeyring")
    root = str(Path(__file__).parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setattr(keyring_core, "_keyring_backend", PlainKeyring())


def connect(home: Path, bridge: FakeBridge, token: str) -> Result:
    return run_cozy(home, "connect", "simplefin", "--set", f"base_url={bridge.url}",
                    "--secret-env", "setup_token=SFIN_SETUP", "--yes",
                    env={"SFIN_SETUP": token})  # fmt: skip


@pytest.fixture
def linked(home: Path, bridge: FakeBridge, keyring: None) -> FakeBridge:
    """Connected and linked in-process (quicker than the CLI, which the happy flow covers)."""
    cozy.connect("simplefin", {"base_url": bridge.url}, grant=True,
                 secrets={"setup_token": bridge.setup_token()})  # fmt: skip
    assert "claimed the setup token" in cozy.link("simplefin")
    return bridge


def day(bridge: FakeBridge, ago: int) -> dt.date:
    return bridge.today - dt.timedelta(days=ago)


def rows(name: str, *cols: str) -> list[tuple[object, ...]]:
    """A frame's rows as plain values: dates as ``date``, missing values as None."""

    def plain(value: object) -> object:
        if pd.isna(value):
            return None
        return value.date() if isinstance(value, pd.Timestamp) else value

    frame = cozy.frame(name)
    return sorted(tuple(map(plain, row)) for row in frame[list(cols)].itertuples(index=False))


def transactions() -> list[tuple[object, ...]]:
    return rows("bank.transactions", "id", "date", "value_date", "amount", "label",
                "counterparty", "pending")  # fmt: skip


def expected_transactions(b: FakeBridge) -> list[tuple[object, ...]]:
    chk, card = "simplefin:ACT-CHK", "simplefin:ACT-CARD"
    return sorted([
        (f"{chk}:C1", day(b, 20), None, Decimal("2150.00"), "PAYROLL ACME CORP DIR DEP",
         "Acme Corp", False),
        (f"{chk}:C2", day(b, 12), None, Decimal("-1200.00"), "ONLINE TRANSFER TO OAK STREET APTS",
         "Oak Street Apartments", False),
        (f"{chk}:C3", day(b, 5), day(b, 6), Decimal("-64.35"), "CAFE OLE PORTLAND OR", "Café Olé",
         False),
        (f"{chk}:C4", day(b, 1), day(b, 1), Decimal("-18.40"), "POS PURCHASE GREEN GROCER",
         "Green Grocer", True),
        (f"{card}:K1", day(b, 15), None, Decimal("-89.99"), "HILLTOP HARDWARE #12",
         "Hilltop Hardware", False),
        (f"{card}:K2", day(b, 3), None, Decimal("250.00"), "PAYMENT - THANK YOU", None, False),
        (f"{card}:K3", day(b, 1), day(b, 1), Decimal("-12.50"), "CAFE OLE PORTLAND OR",
         "Café Olé", True),
        (f"{card}:K4", day(b, 0), None, Decimal("-7.25"), "CITY PARKING METER", None, True),
    ])  # fmt: skip


def accounts() -> list[tuple[object, ...]]:
    return rows("bank.accounts", "id", "name", "currency", "balance", "balance_date",
                "institution")  # fmt: skip


def expected_accounts(b: FakeBridge) -> list[tuple[object, ...]]:
    return [
        ("simplefin:ACT-CARD", "Summit Rewards Visa", "USD", Decimal("-342.88"), b.today,
         "Summit Card Services"),
        ("simplefin:ACT-CHK", "Everyday Checking", "USD", Decimal("2406.17"), b.today,
         "Prairie Federal Credit Union"),
    ]  # fmt: skip


def nothing_written() -> bool:
    return all(c["rows"] == 0 for c in cozy.collections())


def test_connect_claims_the_token_once_and_sync_writes_the_accounts_exactly(
    home: Path, bridge: FakeBridge, keyring: None
) -> None:
    connected = connect(home, bridge, bridge.setup_token())

    assert connected.code == 0, connected.err
    assert "claimed the setup token at 127.0.0.1" in connected.out
    assert "SimpleFIN Bridge (SimpleFIN Inc.) (account aggregator, US)" in connected.err
    assert "MX Technologies" in connected.err
    assert f"hosts it will contact: 127.0.0.1:{bridge.port}, beta-bridge" in connected.err
    (claim,) = bridge.requests
    assert (claim["method"], claim["length"], claim["authorization"]) == ("POST", "0", None)

    synced = run_cozy(home, "sync", "simplefin")

    assert synced.code == 0, synced.err
    assert "simplefin: 10 added, 0 updated, 0 unchanged, 0 rejected" in synced.out
    assert accounts() == expected_accounts(bridge)
    assert transactions() == expected_transactions(bridge)
    (get,) = bridge.account_requests()
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert get["authorization"] == f"Basic {basic}"
    assert get["query"] == {"start-date": str(epoch(day(bridge, 90))),
                            "end-date": str(epoch(day(bridge, -1))), "pending": "1"}  # fmt: skip


def test_connecting_again_never_reuses_the_claimed_setup_token(
    home: Path, linked: FakeBridge
) -> None:
    again = run_cozy(home, "connect", "simplefin", "--yes")

    assert again.code == 0, again.err
    assert "linked already; the setup token was not used again" in again.out
    assert [r["method"] for r in linked.requests] == ["POST"]
    assert run_cozy(home, "sync", "simplefin").code == 0


def test_incremental_sync_starts_a_week_before_the_cursor_and_settles_pending_rows(
    home: Path, linked: FakeBridge
) -> None:
    assert cozy.sync("simplefin").cursor == day(linked, 3).isoformat()  # last booked day

    again = run_cozy(home, "sync", "simplefin")

    assert again.code == 0, again.err
    assert "0 added, 0 updated" in again.out
    assert linked.account_requests()[-1]["query"]["start-date"] == str(epoch(day(linked, 10)))
    # The grocer's pending payment is booked today under a new id: it replaces the pending row
    checking = linked.accounts[0]
    checking.transactions[-1] = Tx("C5", "-18.40", "POS PURCHASE GREEN GROCER",
                                   dt.datetime.combine(linked.today, dt.time(3), dt.UTC),
                                   "Green Grocer")  # fmt: skip
    assert run_cozy(home, "sync", "simplefin").code == 0
    rows = {r[0]: r for r in transactions()}
    assert "simplefin:ACT-CHK:C4" not in rows
    assert rows["simplefin:ACT-CHK:C5"][1:] == (linked.today, None, Decimal("-18.40"),
                                               "POS PURCHASE GREEN GROCER", "Green Grocer",
                                               False)  # fmt: skip
    assert len(rows) == 8


@pytest.mark.parametrize(
    ("version", "shown"),
    [(1, "SimpleFIN Bridge: "), (2, "SimpleFIN Bridge (con.auth, Summit Card Services): ")],
)
def test_both_reply_shapes_read_alike_and_bridge_problems_are_shown(
    home: Path, linked: FakeBridge, version: int, shown: str
) -> None:
    linked.version = version
    linked.problems = [("con.auth", "Connection to Summit Card Services may need attention",
                        "CON-SUMMIT")]  # fmt: skip

    result = run_cozy(home, "sync", "simplefin")

    assert result.code == 0, result.err
    assert f"rejected: {shown}Connection to Summit Card Services may need attention" in result.out
    assert accounts() == expected_accounts(linked)
    assert transactions() == expected_transactions(linked)
    # A stale bank connection may deliver old rows later: the cursor stays where it was
    assert cozy.sync("simplefin").cursor is None
    assert linked.account_requests()[-1]["query"]["start-date"] == str(epoch(day(linked, 90)))


def test_an_account_in_a_custom_currency_is_rejected_with_its_reason(
    home: Path, linked: FakeBridge
) -> None:
    linked.points = True

    result = run_cozy(home, "sync", "simplefin")

    assert result.code == 0, result.err
    assert (
        "rejected: account ACT-PTS (Summit Points) is in a custom currency "
        "(https://www.summitcard.example/points.json), not an ISO 4217 code"
    ) in result.out
    assert "its 1 transactions were skipped" in result.out
    assert [a[0] for a in accounts()] == ["simplefin:ACT-CARD", "simplefin:ACT-CHK"]


def test_a_setup_token_claimed_by_someone_else_needs_a_new_one(
    home: Path, bridge: FakeBridge, keyring: None
) -> None:
    stolen = bridge.setup_token()
    claim_url = base64.b64decode(stolen).decode()
    assert requests.post(claim_url, timeout=5).status_code == 200  # someone else claims it

    refused = connect(home, bridge, stolen)

    assert refused.code == 3
    assert ALREADY_USED in refused.err and RENEW in refused.err
    not_linked = run_cozy(home, "sync", "simplefin")
    assert not_linked.code == 3 and "SimpleFIN is not linked" in not_linked.err
    assert nothing_written()
    renewed = connect(home, bridge, bridge.setup_token())
    assert renewed.code == 0 and "claimed the setup token" in renewed.out


@pytest.mark.parametrize(
    ("claim_url", "said"),
    [
        ("https://bridge.evil.example/simplefin/claim/abc", "points at bridge.evil.example"),
        ("http://bridge.simplefin.org/simplefin/claim/abc",
         "would travel unencrypted (http) to bridge.simplefin.org"),
        ("not a claim url", "not a SimpleFIN setup token, which is base64 of a claim URL"),
    ],
)  # fmt: skip
def test_a_setup_token_for_another_host_or_plain_http_is_refused_before_any_request(
    home: Path, bridge: FakeBridge, keyring: None, claim_url: str, said: str
) -> None:
    result = connect(home, bridge, base64.b64encode(claim_url.encode()).decode())

    assert result.code == 4
    assert said in result.err
    assert bridge.requests == []


def test_revoked_access_exits_3_with_renewal_steps_and_writes_nothing(
    home: Path, linked: FakeBridge
) -> None:
    linked.revoked = True

    result = run_cozy(home, "sync", "simplefin")

    assert result.code == 3
    assert "refused the access (HTTP 403): it was revoked or disabled" in result.err
    assert RENEW in result.err
    assert nothing_written()
    # Following the steps: a new setup token is claimed and the sync works again
    linked.revoked = False
    assert connect(home, linked, linked.setup_token()).code == 0
    assert [r["method"] for r in linked.requests].count("POST") == 2
    assert run_cozy(home, "sync", "simplefin").code == 0
    assert not nothing_written()


def test_unpaid_subscription_says_so(home: Path, linked: FakeBridge) -> None:
    linked.payment_due = True

    result = run_cozy(home, "sync", "simplefin")

    assert result.code == 1
    assert "your SimpleFIN subscription needs payment at the bridge" in result.err
    assert nothing_written()


def test_a_short_rate_limit_is_waited_out_and_a_long_one_says_when_to_retry(
    home: Path, linked: FakeBridge
) -> None:
    linked.retry_after = ["1"]
    assert run_cozy(home, "sync", "simplefin").code == 0
    assert len(linked.account_requests()) == 2

    linked.retry_after = ["3600"]
    before = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    result = run_cozy(home, "sync", "simplefin")
    after = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)

    assert result.code == 1
    assert any(f"try again at {t:%H:%M} (UTC)" in result.err for t in (before, after))


def test_a_redirect_to_another_host_is_refused(home: Path, linked: FakeBridge) -> None:
    linked.redirect = True

    result = run_cozy(home, "sync", "simplefin")

    assert result.code == 3
    assert f"tried to reach localhost:{linked.port}, which it did not declare" in result.err
    assert nothing_written()


def test_a_network_error_names_the_host_only(home: Path, linked: FakeBridge) -> None:
    linked.stop()

    result = run_cozy(home, "sync", "simplefin")

    assert result.code == 1
    assert f"could not reach the SimpleFIN bridge at 127.0.0.1:{linked.port}" in result.err
    assert "start-date" not in result.err and "/accounts" not in result.err


def test_the_access_url_and_setup_token_are_nowhere_but_in_the_encrypted_keyring(
    home: Path, bridge: FakeBridge, keyring_file: Path, tmp_path: Path
) -> None:
    setup = bridge.setup_token()
    outputs = [connect(home, bridge, setup), run_cozy(home, "sync", "simplefin"),
               run_cozy(home, "connect", "simplefin", "--yes")]  # fmt: skip
    bridge.revoked = True
    outputs.append(run_cozy(home, "sync", "simplefin"))
    bridge.revoked, bridge.redirect = False, True
    outputs.append(run_cozy(home, "sync", "simplefin"))
    bridge.stop()
    outputs.append(run_cozy(home, "sync", "simplefin"))
    outputs += [
        run_cozy(home, *args)
        for args in (["report", "--json"], ["report", "--html"], ["runs", "--json"],
                     ["consent", "log", "--json"], ["doctor", "--json"],
                     ["frame", "bank.transactions", "--format", "json"],
                     ["frame", "bank.accounts", "--format", "json"],
                     ["consent", "receipts", "--out", str(tmp_path / "receipts")])
    ]  # fmt: skip
    assert [o.code for o in outputs[:6]] == [0, 0, 0, 3, 3, 1]

    claim_token = base64.b64decode(setup).decode().rsplit("/", 1)[-1]
    canaries = [bridge.access_url, USER, PASSWORD, setup, claim_token]
    forms = [form.encode() for value in canaries for form in secrets.forms(value)]
    texts = [(o.out + o.err).encode() for o in outputs]
    files = [p.read_bytes() for p in (*home.rglob("*"), *tmp_path.joinpath("receipts").rglob("*"))
             if p.is_file()]  # fmt: skip
    for form in forms:
        for blob in (*texts, *files):
            assert form not in blob
    assert all(form not in keyring_file.read_bytes() for form in forms)
    kept = secrets.load(Store(home / "cozy.db"), "simplefin")
    assert kept["access_url"].reveal() == bridge.access_url
    assert "access_url" not in (Store(home / "cozy.db").connection("simplefin") or {})
