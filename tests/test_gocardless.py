"""GoCardless Bank Account Data: link, sync, tokens, limits and lapsed consent, on a local fake."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import keyring.core
import pandas as pd
import pytest

import cozy_kernel as cozy
from cozy_connectors.gocardless import GoCardless
from cozy_kernel import connections, runner, secrets
from cozy_kernel.store import Store
from tests.conftest import Result, run_cozy
from tests.fakes.gocardless import (
    SANDBOX,
    SECRET_ID,
    SECRET_KEY,
    FakeGoCardless,
    QuickKeyring,
    serve,
)

FR = "gocardless:FR7630006000011234567890189"
GB = "gocardless:GB33BUKB20201555555555"


def day(n: int) -> str:
    return (dt.date.today() - dt.timedelta(days=n)).isoformat()


def composite(account: str, n: int, amount: str, label: str, occurrence: int) -> str:
    digest = hashlib.sha256(label.casefold().encode()).hexdigest()[:12]
    return f"{account}:{day(n)}:{amount}:{digest}:{occurrence}"


@pytest.fixture
def fake() -> Iterator[FakeGoCardless]:
    service = FakeGoCardless()
    server = serve(service)
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The encrypted file keyring users get, with its real Argon2 costs."""
    path = tmp_path / "keyring" / "secrets.cfg"
    path.parent.mkdir()
    monkeypatch.setenv("COZY_KEYRING_KEY", "a long passphrase for the test keyring")
    monkeypatch.setenv("COZY_KEYRING_FILE", str(path))
    monkeypatch.setenv("GC_ID", SECRET_ID)
    monkeypatch.setenv("GC_KEY", SECRET_KEY)
    return path


@pytest.fixture
def quick_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same keyring with test-sized Argon2 costs, here and in every ``cozy`` run."""
    monkeypatch.delenv("COZY_KEYRING_KEY", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.fakes.gocardless.QuickKeyring")
    monkeypatch.setenv("GC_QUICK_KEYRING", str(tmp_path / "quick-keyring.cfg"))
    path = [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, path)))
    monkeypatch.setattr(keyring.core, "_keyring_backend", QuickKeyring())
    monkeypatch.setenv("GC_ID", SECRET_ID)
    monkeypatch.setenv("GC_KEY", SECRET_KEY)


def connect(home: Path, fake: FakeGoCardless, *settings: str) -> Result:
    pairs = [f"base_url={fake.url}", *settings]
    return run_cozy(home, "connect", "gocardless", *(a for p in pairs for a in ("--set", p)),
                    "--secret-env", "secret_id=GC_ID", "--secret-env", "secret_key=GC_KEY",
                    "--yes")  # fmt: skip


@pytest.fixture
def linked(home: Path, fake: FakeGoCardless, quick_keyring: None) -> Result:
    """Connected through the CLI; the user approved at the bank."""
    connected = connect(home, fake, f"institution_id={SANDBOX}")
    assert connected.code == 0, connected.err
    fake.approve()
    return connected


def synced(home: Path) -> dict:
    result = run_cozy(home, "sync", "gocardless", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def plain(value: object) -> object:
    """A frame cell as the test writes it: ISO dates, text amounts, None for missing."""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return None if pd.isna(value) else value


def transactions() -> list[tuple]:
    tx = cozy.frame("bank.transactions")
    columns = ["id", "date", "value_date", "amount", "currency", "label", "counterparty",
               "pending"]  # fmt: skip
    return [tuple(plain(v) for v in row) for row in tx[columns].itertuples(index=False)]


def test_connect_prints_the_link_then_sync_brings_exact_accounts_and_transactions(
    home: Path, fake: FakeGoCardless, quick_keyring: None
) -> None:
    connected = connect(home, fake, f"institution_id={SANDBOX}")

    assert connected.code == 0, connected.err
    assert "GoCardless Ltd (account information service provider, GB)" in connected.err
    (requisition,) = fake.requisitions.values()
    assert (
        "Open this link to let Sandbox Finance share your data with Cozy Notebook: "
        f"https://ob.gocardless.com/ob-psd2/start/{requisition['id']}/{SANDBOX}"
    ) in connected.out
    (agreement,) = fake.agreements.values()
    assert (agreement["max_historical_days"], agreement["access_valid_for_days"]) == (90, 90)
    assert agreement["access_scope"] == ["balances", "details", "transactions"]
    assert requisition["agreement"] == agreement["id"] and requisition["redirect"]

    # Before the user approves at the bank, a sync says what to do and writes nothing
    waiting = run_cozy(home, "sync", "gocardless")
    assert waiting.code == 3
    assert "Sandbox Finance has not yet authorised access" in waiting.err
    assert "open the link cozy connect printed" in waiting.err
    assert requisition["link"] not in waiting.err  # shown once to the user, never logged

    fake.approve()
    report = synced(home)

    assert report["collections"]["bank.transactions"]["added"] == 8
    assert report["collections"]["bank.accounts"]["added"] == 2
    assert report["cursor"] == day(2) and report["rejected"] == []
    pret = "PRET A MANGER"
    assert transactions() == [
        (f"{FR}:FR-0001", day(40), day(40), "2450.00", "EUR", "VIR SEPA ACME SAS SALAIRE",
         "ACME SAS", False),
        (f"{FR}:FR-0002", day(12), day(13), "-4.20", "EUR", "CB Café de la Gare crème brûlée",
         "Café de la Gare", False),
        (f"{FR}:FR-0003", day(5), day(5), "-62.35", "EUR", "PRLV SEPA Électricité Échéance",
         "EDF", False),
        (f"{GB}:5c0b3e8f2d9a4b17a6e2c0d4f1b8a9e3", day(3), day(3), "-12.50", "GBP",
         "TESCO STORES 2041", "Tesco", False),
        (f"{GB}:GB-0001", day(2), None, "100.00", "GBP", "INV-2024-17", "J Smith", False),
        (composite(GB, 1, "-3.10", pret, 1), day(1), day(1), "-3.10", "GBP", pret, None, True),
        (composite(GB, 1, "-3.10", pret, 2), day(1), day(1), "-3.10", "GBP", pret, None, True),
        (composite(GB, 0, "-45.00", "amazon.co.uk*ab12c", 1), day(0), day(0), "-45.00", "GBP",
         "Amazon.co.uk*AB12C", "Amazon", True),
    ]  # fmt: skip
    accounts = cozy.frame("bank.accounts")[["id", "name", "type", "iban", "currency", "balance",
                                            "balance_date", "institution"]]  # fmt: skip
    assert [tuple(plain(v) for v in row) for row in accounts.itertuples(index=False)] == [
        (FR, "Compte Chèques", "checking", "FR7630006000011234567890189", "EUR", "2383.45",
         day(1), "Sandbox Finance"),
        (GB, "Everyday Account", None, "GB33BUKB20201555555555", "GBP", "512.40", day(0),
         "Sandbox Finance"),
    ]  # fmt: skip
    windows = {c.query["date_from"] for c in fake.calls if c.path.endswith("/transactions/")}
    assert windows == {day(89)}


def test_incremental_syncs_start_before_the_cursor_and_booked_rows_settle_pending_ones(
    home: Path, fake: FakeGoCardless, linked: Result
) -> None:
    first = synced(home)
    fake.calls.clear()

    again = synced(home)

    assert again["added"] == 0 and again["updated"] == 0 and again["unchanged"] == 8
    assert {c.query["date_from"] for c in fake.calls if "transactions" in c.path} == {day(9)}

    # The bank books one of the two identical pending coffees under its own id
    pound = fake.accounts["pound"]
    coffee = pound["pending"].pop(0)
    pound["booked"].append({**coffee, "transactionId": "GB-0002", "bookingDate": day(0)})
    settled = synced(home)

    assert first["cursor"] == day(2) and settled["cursor"] == day(0)
    assert settled["added"] == 0 and settled["updated"] == 1
    rows = {r[0]: r for r in transactions()}
    assert rows[f"{GB}:GB-0002"][1:] == (day(0), day(1), "-3.10", "GBP", "PRET A MANGER",
                                         None, False)  # fmt: skip
    assert sum(1 for r in rows.values() if r[-1]) == 2 and len(rows) == 8


def test_tokens_are_reused_refreshed_on_401_or_expiry_and_renewed_with_the_keys(
    home: Path, fake: FakeGoCardless, linked: Result
) -> None:
    synced(home)
    assert fake.paths().count("POST /api/v2/token/new/") == 1  # the link's tokens were kept

    fake.calls.clear()
    fake.reject_tokens()
    fake.access_lifetime = 30  # shorter than the minute of margin: stale on the next run
    synced(home)
    assert fake.paths()[:3] == ["GET " + fake.calls[0].path, "POST /api/v2/token/refresh/",
                                "GET " + fake.calls[0].path]  # fmt: skip
    assert fake.calls[0].status == 401 and fake.calls[2].status == 200

    fake.calls.clear()
    synced(home)
    assert fake.paths().count("POST /api/v2/token/refresh/") == 1
    assert fake.paths()[0] == "POST /api/v2/token/refresh/"
    assert 401 not in {c.status for c in fake.calls}

    fake.calls.clear()
    fake.refresh_tokens.clear()
    synced(home)
    assert fake.paths()[:2] == ["POST /api/v2/token/refresh/", "POST /api/v2/token/new/"]


def test_a_short_rate_limit_is_waited_out_and_a_long_one_says_when_to_retry(
    home: Path, fake: FakeGoCardless, linked: Result
) -> None:
    fake.rate_limit = (1, 1)
    start = time.monotonic()
    assert synced(home)["added"] == 10
    assert time.monotonic() - start >= 1

    fake.accounts["euro"]["booked"].append({
        "transactionId": "FR-0004", "bookingDate": day(0),
        "transactionAmount": {"amount": "-1.00", "currency": "EUR"},
    })  # fmt: skip
    fake.rate_limit = (7200, 1)
    limited = run_cozy(home, "sync", "gocardless")

    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=7200)
    moments = [later + dt.timedelta(minutes=m) for m in (-1, 0, 1)]
    options = {at.strftime(form) for at in moments for form in ("%H:%M", "%Y-%m-%d %H:%M")}
    assert limited.code == 1, limited.err
    assert "Daily request limit set by the Institution has been exceeded" in limited.err
    assert any(f"try again at {hhmm} (UTC)" in limited.err for hhmm in options), limited.err
    assert f"{FR}:FR-0004" not in set(cozy.frame("bank.transactions")["id"])


def test_an_expired_or_revoked_consent_exits_3_with_the_renewal_steps_and_writes_nothing(
    home: Path, fake: FakeGoCardless, linked: Result
) -> None:
    synced(home)
    fake.accounts["euro"]["booked"].append({
        "transactionId": "FR-0004", "bookingDate": day(0),
        "transactionAmount": {"amount": "-1.00", "currency": "EUR"},
    })  # fmt: skip
    fake.revoked = {("pound", "transactions")}

    revoked = run_cozy(home, "sync", "gocardless")

    assert revoked.code == 3
    assert "Access has expired or it has been revoked" in revoked.err
    assert "run `cozy connect gocardless`" in revoked.err
    assert f"{FR}:FR-0004" not in set(cozy.frame("bank.transactions")["id"])

    fake.set_status("EX")
    expired = run_cozy(home, "sync", "gocardless")

    assert expired.code == 3
    assert "access to Sandbox Finance expired" in expired.err and "90 days" in expired.err
    assert "creates a new agreement and prints a new link" in expired.err
    assert cozy.runs("gocardless", limit=1)[0]["outcome"] == "failed"

    # Renewing links again; the new requisition's new account ids keep the same rows
    fake.revoked = set()
    renewed = connect(home, fake)
    assert renewed.code == 0 and "Open this link" in renewed.out
    assert len(fake.agreements) == 2
    fake.approve()
    report = synced(home)
    assert report["added"] == 1 and len(cozy.frame("bank.transactions")) == 9

    fake.set_status("RJ")
    rejected = run_cozy(home, "sync", "gocardless")
    assert rejected.code == 3 and "the bank refused access" in rejected.err


def canary_forms(values: list[str]) -> list[bytes]:
    return [form.encode() for value in values for form in secrets.forms(value)]


def test_the_keys_and_tokens_are_nowhere_but_in_the_encrypted_keyring(
    home: Path, fake: FakeGoCardless, keyring_file: Path
) -> None:
    # Given a link, a sync whose tokens the service rejects (so both get renewed), then an
    # expired consent, all with the real encrypted keyring
    outputs = [connect(home, fake, f"institution_id={SANDBOX}")]
    fake.approve()
    fake.reject_tokens()
    fake.refresh_tokens.clear()
    outputs.append(run_cozy(home, "sync", "gocardless"))
    fake.set_status("EX")
    outputs += [
        run_cozy(home, *args)
        for args in (["sync", "gocardless"], ["report", "--json"], ["report", "--html"],
                     ["runs", "--json"], ["doctor", "--json"],
                     ["frame", "bank.transactions", "--format", "json"])
    ]  # fmt: skip
    assert [o.code for o in outputs[:3]] == [0, 0, 3] and len(fake.issued) == 4

    # Then neither the keys nor any token is in any output or workspace file, in any spelling
    values = [SECRET_ID, SECRET_KEY, *fake.issued]
    texts = [(o.out + o.err).encode() for o in outputs]
    files = [p.read_bytes() for p in home.rglob("*") if p.is_file()]
    for form in canary_forms(values):
        for blob in (*texts, *files):
            assert form not in blob
    # And the bank link was shown, not kept; the keyring is encrypted yet gives tokens back
    link = next(iter(fake.requisitions.values()))["link"].encode()
    assert link in texts[0] and all(link not in blob for blob in files)
    assert all(form not in keyring_file.read_bytes() for form in canary_forms(values))
    kept = secrets.load(Store(home / "cozy.db"), "gocardless")
    assert kept["access_token"].reveal() == fake.issued[-1]


def test_a_redirect_elsewhere_is_refused_and_an_unreachable_service_names_its_host(
    home: Path, fake: FakeGoCardless, linked: Result
) -> None:
    port = fake.url.rsplit(":", 1)[1]
    fake.redirect = f"http://localhost:{port}"

    redirected = run_cozy(home, "sync", "gocardless")

    assert redirected.code == 3
    assert f"tried to reach localhost:{port}, which it did not declare" in redirected.err

    fake.redirect = None
    cozy.connect("gocardless", base_url="http://127.0.0.1:9", grant=True)
    down = run_cozy(home, "sync", "gocardless")
    assert down.code == 1 and "could not reach 127.0.0.1:9 (ConnectionError)" in down.err
    assert "date_from" not in down.err


def test_choosing_the_bank_lists_a_country_and_suggests_close_ids(
    home: Path, fake: FakeGoCardless, quick_keyring: None
) -> None:
    unset = connect(home, fake, "country=FR")
    assert unset.code == 2
    assert "choose your bank with --set institution_id=ID" in unset.err
    assert "BNP_PARIBAS_BNPAFRPP (BNP Paribas); BOURSORAMA_BOUSFRPP (Boursorama)" in unset.err

    typo = run_cozy(home, "connect", "gocardless", "--set", "institution_id=BOURSORAMA_BOUSFRP")
    assert typo.code == 2 and "did you mean 'BOURSORAMA_BOUSFRPP'?" in typo.err

    greedy = run_cozy(home, "connect", "gocardless", "--set", f"institution_id={SANDBOX}",
                      "--set", "max_historical_days=400")  # fmt: skip
    assert greedy.code == 4 and "max_historical_days must be > 0 and <= 90" in greedy.err
    assert fake.requisitions == {}


def test_check_reports_the_requisition_status(
    home: Path, fake: FakeGoCardless, linked: Result
) -> None:
    store = Store(home / "cozy.db")
    settings = connections.require(store, GoCardless.manifest)
    session, vault = runner.equip(store, GoCardless.manifest)

    health = GoCardless(settings, http=session, secrets=vault).check()
    offline = GoCardless(settings).check()
    fake.set_status("EX")
    expired = GoCardless(settings, http=session, secrets=vault).check()

    assert (health.ok, health.message, health.details["status"]) == (
        True, "Sandbox Finance: linked", "LN"
    )  # fmt: skip
    assert offline.ok and offline.message.startswith("linked to Sandbox Finance on ")
    assert (expired.ok, expired.message) == (False, "Sandbox Finance: expired")
    doctor = json.loads(run_cozy(home, "doctor", "--json").out)
    (item,) = [c for c in doctor["connectors"] if c["id"] == "gocardless"]
    assert item["ok"] and item["details"]["requisition_id"] in fake.requisitions


@pytest.mark.parametrize("suffix", ["/api/v2", "/api/v2/", "/"])
def test_the_service_address_may_be_given_as_the_api_root(
    home: Path, fake: FakeGoCardless, quick_keyring: None, suffix: str
) -> None:
    pairs = [f"base_url={fake.url}{suffix}", f"institution_id={SANDBOX}"]
    connected = run_cozy(home, "connect", "gocardless", *(a for p in pairs for a in ("--set", p)),
                         "--secret-env", "secret_id=GC_ID", "--secret-env", "secret_key=GC_KEY",
                         "--yes")  # fmt: skip

    assert connected.code == 0, connected.err
    assert len(fake.requisitions) == 1
