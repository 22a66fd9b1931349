"""Consent in the core: the terms gate, grants, the ledger, receipts, the report, erasure."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

import cozy_kernel as cozy
from cozy_kernel import budget
from cozy_kernel.cli import cli
from cozy_kernel.errors import BadInput, ConsentRequired, GrantRequired
from tests.conftest import UNTIL, run_cozy, write_connector
from tests.test_docs import commands

SCHEMA = json.loads(
    (Path(__file__).parent / "schemas/kantara-consent-receipt-v1.1.json").read_text()
)

# Every public function is either gated on the terms or always allowed — nothing unclassified.
GATED_API = {
    "frame": lambda: cozy.frame("bank.transactions"),
    "collections": lambda: cozy.collections(),
    "sync": lambda: cozy.sync("demo-bank"),
    "link": lambda: cozy.link("demo-bank"),
    "edit": lambda: cozy.edit("bank.transactions", "x", category="food"),
    "revert": lambda: cozy.revert("bank.transactions", "x"),
    "connect": lambda: cozy.connect("demo-bank", grant=True),
    "runs": lambda: cozy.runs(),
    "import_files": lambda: cozy.import_files([Path(__file__)], grant=True),
    "schedule": lambda: cozy.schedule("demo-bank", "daily"),
    "sync_all": lambda: cozy.sync_all(),
    "transfer": lambda: cozy.transfer("http://127.0.0.1:9/", "not-sent"),
    "export_bundle": lambda: cozy.export_bundle("never-written.zip"),
    "restore_bundle": lambda: cozy.restore_bundle("no-such-bundle.zip"),
}
ALLOWED_API = {
    "accept_terms", "connectors", "consent_log", "consent_screen", "decline_terms", "disconnect",
    "doctor", "missing_secrets", "receipts", "refuse_grant", "report", "terms_status",
    "terms_text", "terms_view", "verify_bundle", "workspace_dir",
}  # fmt: skip
GATED_CLI = {
    "cozy sync": ("sync", "demo-bank"),
    "cozy connect": ("connect", "demo-bank", "--yes"),
    "cozy frame": ("frame", "bank.transactions"),
    "cozy collections": ("collections",),
    "cozy runs": ("runs",),
    "cozy import": ("import", __file__, "--yes"),
    "cozy edit": ("edit", "bank.transactions", "x", "--set", "category=food"),
    "cozy schedule": ("schedule", "demo-bank", "daily"),
    "cozy transfer": ("transfer", "--to", "http://127.0.0.1:9/", "--token", "not-sent"),
    "cozy categories list": ("categories", "list"),
    "cozy categories add": ("categories", "add", "food:market"),
    "cozy categories rename": ("categories", "rename", "groceries", "Food shop"),
    "cozy categories move": ("categories", "move", "cash", "--parent", "shopping"),
    "cozy categories merge": ("categories", "merge", "food:cafe", "food"),
    "cozy rules list": ("rules", "list"),
    "cozy rules add": ("rules", "add", "groceries", "--contains", "market"),
    "cozy rules remove": ("rules", "remove", "1"),
    "cozy rules propose": ("rules", "propose"),
    "cozy rules accept": ("rules", "accept", "1"),
    "cozy budget set": ("budget", "set", "groceries", "300"),
    "cozy budget show": ("budget", "show"),
    "cozy export": ("export", "--out", "never-written.zip"),
    "cozy restore": ("restore", "no-such-bundle.zip", "--yes"),
}
ALLOWED_CLI = {
    "cozy terms show", "cozy terms status", "cozy terms accept", "cozy terms decline",
    "cozy connectors list", "cozy disconnect", "cozy consent log", "cozy consent receipts",
    "cozy report", "cozy doctor", "cozy lab", "cozy verify",
}  # fmt: skip


# Every budget function that reads or changes the workspace is gated; the rest are pure
# functions over DataFrames, and ``book`` turns the refusal into what to do for a notebook.
GATED_BUDGET = {
    "accept_rule": lambda: budget.accept_rule(1),
    "accounts": lambda: budget.accounts(),
    "add_category": lambda: budget.add_category("food:market"),
    "add_rule": lambda: budget.add_rule("groceries", contains="market"),
    "budgets": lambda: budget.budgets(),
    "categories": lambda: budget.categories(),
    "merge_categories": lambda: budget.merge_categories("food:cafe", "food"),
    "move_category": lambda: budget.move_category("cash", "shopping"),
    "propose_rules": lambda: budget.propose_rules(),
    "remove_budget": lambda: budget.remove_budget("groceries"),
    "remove_rule": lambda: budget.remove_rule(1),
    "rename_category": lambda: budget.rename_category("groceries", "Food shop"),
    "rules": lambda: budget.rules(),
    "set_budget": lambda: budget.set_budget("groceries", "300"),
    "transactions": lambda: budget.transactions(),
}


def aggregator(*, extra_processor: bool = False, version: str = "1.0", name: str = "Agg") -> str:
    """A user connector that declares a third-party processor and network hosts."""
    extra = (
        ', Processor("Cloud Co", "hosting", ("transactions",), "host the service", "US")'
        if extra_processor
        else ""
    )
    return f'''
from cozy_kernel.connector import Checkpoint, Connector, Manifest, Processor, Record

class Aggregator(Connector):
    manifest = Manifest(
        id="aggregator", name="{name}", version="{version}", kind="api",
        writes=("bank.accounts",), categories=("banking",),
        personal_data=("pd:FinancialAccount", "pd:Transaction"),
        purposes=("Show your accounts in your notebooks",),
        processors=(Processor("Bank Data Ltd", "account information service provider",
                              ("account details", "transactions"), "read your bank accounts",
                              "LV"){extra},),
        egress_hosts=("bankdata.example",),
        description={{"en": "An aggregator"}},
    )

    def fetch(self, since):
        yield Record("bank.accounts", {{"id": "agg-1", "name": "UNIQUE-AGG-LABEL",
                                        "currency": "EUR"}}, raw=b"UNIQUE-AGG-RAW")
        yield Checkpoint("agg-cursor")

connector = Aggregator
'''


def operator_terms(folder: Path, version: str, **languages: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for lang in ("en", *languages):
        text = languages.get(lang, f"Family terms {version}")
        (folder / f"terms.{lang}.md").write_text(
            f"---\nversion: {version}\ncontroller: The Martin family\ncontact: Ana Martin\n"
            "email: ana@example.org\naddress: 1 rue de la Paix, Paris\nphone: '+33 100'\n"
            f"jurisdiction: FR\npolicy_url: https://example.org/terms\n---\n{text}\n"
        )
    return folder


def test_every_public_function_and_command_is_gated_or_explicitly_allowed(
    fresh_home: Path,
) -> None:
    assert set(cozy.__all__) == set(GATED_API) | ALLOWED_API
    for name, call in GATED_API.items():
        with pytest.raises(ConsentRequired, match="cozy terms accept"):
            call()
        assert name  # each gated function refused before touching data

    assert {path for path, _ in commands(cli)} == set(GATED_CLI) | ALLOWED_CLI
    for args in GATED_CLI.values():
        result = run_cozy(fresh_home, *args)
        assert result.code == 3, (args, result.err)
        assert "cozy terms accept" in result.err, args


def test_every_budget_function_on_the_workspace_is_gated(fresh_home: Path) -> None:
    assert set(budget.STORE_FUNCTIONS) == set(GATED_BUDGET) | {"book"}
    for name, call in GATED_BUDGET.items():
        with pytest.raises(ConsentRequired, match="cozy terms accept"):
            call()
        assert name
    explained = budget.book()
    assert explained.transactions.empty and "cozy.accept_terms()" in (explained.missing or "")
    with pytest.raises(ConsentRequired):
        budget.book(explain=False)
    for name in set(budget.__all__) - set(budget.STORE_FUNCTIONS):
        function = getattr(budget, name)
        assert "home" not in inspect.signature(function).parameters, name  # pure
    with sqlite3.connect(fresh_home / "cozy.db") as db:  # and nothing was written
        assert db.execute("SELECT count(*) FROM budget_categories").fetchone()[0] == 0


def test_accepting_opens_the_gate_and_declining_closes_it(fresh_home: Path) -> None:
    status = json.loads(run_cozy(fresh_home, "terms", "status", "--json").out)
    assert status["state"] == "required" and status["accepted_version"] is None

    accepted = run_cozy(fresh_home, "terms", "accept", "--lang", "fr", "--yes")
    assert accepted.code == 0
    assert run_cozy(fresh_home, "frame", "bank.transactions").code == 0
    event = cozy.consent_log()[-1]
    french = run_cozy(fresh_home, "terms", "show", "--lang", "fr").out
    assert (event["kind"], event["scope"], event["language"]) == ("given", "terms", "fr")
    assert event["text_sha256"] == __import__("hashlib").sha256(french.encode()).hexdigest()
    assert event["method"] == "cli" and event["subject"].startswith("urn:uuid:")

    assert run_cozy(fresh_home, "terms", "decline").code == 0
    assert run_cozy(fresh_home, "frame", "bank.transactions").code == 3


def test_declined_terms_leave_the_connector_listing_a_bare_catalogue(fresh_home: Path) -> None:
    cozy.accept_terms()
    cozy.connect("demo-bank", grant=True, until="2026-06-30", months=1)
    cozy.sync("demo-bank")
    held = next(c for c in cozy.connectors() if c["id"] == "demo-bank")
    assert held["connected"] and held["rows"] and held["last_run"] and held["schedule"]

    cozy.decline_terms()
    listed = next(c for c in cozy.connectors() if c["id"] == "demo-bank")

    # What the connector is stays; nothing of what the user connected, set or holds
    assert listed["name"] == held["name"] and listed["settings"]
    assert not listed["connected"] and listed["status"] == "not_connected"
    assert listed["rows"] == {} and listed["last_run"] is None and listed["schedule"] is None
    assert all(s["value"] is None for s in listed["settings"])
    assert listed["grant"] == "missing"


def test_terms_exist_in_three_languages_with_one_version() -> None:
    texts = {lang: cozy.terms_text(lang) for lang in ("en", "es", "fr")}

    assert "No telemetry" in texts["en"] and "Sin telemetría" in texts["es"]
    assert "Aucune télémétrie" in texts["fr"]
    for text in texts.values():
        assert "cozy disconnect --erase" in text and "cozy report" in text


def test_major_bumps_block_from_their_date_and_warn_before(
    fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "operator"
    monkeypatch.setenv("COZY_TERMS_DIR", str(operator_terms(folder, "1.0.0-20200101")))
    cozy.accept_terms()

    # A MINOR or PATCH change never blocks, whatever its date.
    operator_terms(folder, "1.4.2-20200301")
    assert cozy.terms_status()["state"] == "accepted"
    cozy.frame("bank.transactions")

    # A MAJOR dated in the future only warns, naming the day it will block.
    later = dt.date.today() + dt.timedelta(days=30)
    operator_terms(folder, f"2.0.0-{later:%Y%m%d}")
    status = cozy.terms_status()
    assert (status["state"], status["blocks_on"]) == ("warning", later.isoformat())
    cozy.frame("bank.transactions")

    # A MAJOR whose date has come blocks until accepted again, and the old consent expires.
    operator_terms(folder, "2.0.0-20200401")
    with pytest.raises(ConsentRequired, match=r"terms changed to version 2\.0\.0-20200401"):
        cozy.frame("bank.transactions")
    assert cozy.consent_log()[-1]["kind"] == "expired"
    cozy.accept_terms()
    assert cozy.consent_log()[-1]["kind"] == "renewed"
    cozy.frame("bank.transactions")


def test_operator_terms_from_the_config_file_and_their_errors(
    fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = operator_terms(tmp_path / "ops", "3.1.0-20250101", es="Condiciones 3.1")
    config = tmp_path / "cozy.toml"
    config.write_text(f'terms_dir = "{folder}"\n')
    monkeypatch.setenv("COZY_CONFIG", str(config))

    assert cozy.terms_status()["latest_version"] == "3.1.0-20250101"
    assert cozy.terms_text("es").strip() == "Condiciones 3.1"
    assert cozy.terms_text("fr").startswith("Family terms")  # falls back to English

    (folder / "terms.es.md").write_text("---\nversion: 3.0.0-20250101\n---\nviejo\n")
    with pytest.raises(BadInput, match=r"terms\.es\.md: version 3\.0\.0-20250101 differs"):
        cozy.terms_status()
    (folder / "terms.es.md").unlink()
    (folder / "terms.en.md").write_text("---\ntitle: no version\n---\ntext\n")
    result = run_cozy(fresh_home, "terms", "status", env={"COZY_CONFIG": str(config)})
    assert result.code == 4
    assert result.err.strip().endswith("terms.en.md: the front matter has no 'version:' line")
    (folder / "terms.en.md").write_text("---\nversion: 2.0\n---\ntext\n")
    with pytest.raises(BadInput, match=r"'2\.0' is not MAJOR\.MINOR\.PATCH-YYYYMMDD"):
        cozy.terms_status()


def test_sync_needs_a_grant_and_a_changed_manifest_needs_a_new_one(home: Path) -> None:
    path = write_connector(home, "aggregator", aggregator())
    assert run_cozy(home, "sync", "aggregator").code == 3
    with pytest.raises(GrantRequired):
        cozy.connect("aggregator")

    screen = cozy.consent_screen("aggregator")
    assert "Bank Data Ltd (account information service provider, LV)" in screen["text"]
    assert "bankdata.example" in screen["text"]
    refused = run_cozy(home, "connect", "aggregator")  # no terminal and no --yes: no answer
    assert refused.code == 3 and "rerun with --yes" in refused.err
    assert run_cozy(home, "connect", "aggregator", "--yes").code == 0
    assert run_cozy(home, "sync", "aggregator").code == 0

    # A new version that changes only its name or version keeps the grant...
    path.write_text(aggregator(version="1.1", name="Aggregator renamed"))
    assert run_cozy(home, "sync", "aggregator").code == 0
    # ...one that adds a processor does not.
    path.write_text(aggregator(extra_processor=True))
    blocked = run_cozy(home, "sync", "aggregator")
    assert blocked.code == 3 and "changed what it collects or who processes it" in blocked.err
    again = run_cozy(home, "connect", "aggregator", "--yes")
    assert "Cloud Co (hosting, US)" in again.err
    assert run_cozy(home, "sync", "aggregator").code == 0
    kinds = [(e["kind"], e["connector"]) for e in cozy.consent_log() if e["connector"]]
    assert kinds == [("given", "aggregator"), ("renewed", "aggregator")]


def test_withdrawal_stops_syncs_and_keeps_the_data(home: Path) -> None:
    write_connector(home, "aggregator", aggregator())
    cozy.connect("aggregator", grant=True)
    cozy.sync("aggregator")

    assert run_cozy(home, "disconnect", "aggregator").code == 0

    withdrawn = run_cozy(home, "sync", "aggregator")
    assert withdrawn.code == 3 and "you withdrew your consent" in withdrawn.err
    assert "agg-1" in set(cozy.frame("bank.accounts")["id"])


def everything_in(home: Path) -> str:
    """Every value the workspace holds anywhere: files as bytes, zips and Parquet decoded.

    The user's own connectors' code is left out: it is no data, and erasure keeps it.
    """
    import pyarrow.parquet as pq

    found = []
    for path in home.rglob("*"):
        if not path.is_file() or path.relative_to(home).parts[0] == "connectors":
            continue
        data = path.read_bytes()
        found.append(data.decode("latin-1"))
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                found.extend(zf.read(n).decode("latin-1") for n in zf.namelist())
        if data.startswith(b"PAR1"):
            found.append(str(pq.read_table(path).to_pylist()))
    return "\n".join(found)


def db_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.glob("cozy.db*"))


def test_erase_removes_exactly_that_connectors_data_and_nothing_else(home: Path) -> None:
    # Given the demo bank and an aggregator, both synced and loaded
    write_connector(home, "aggregator", aggregator())
    cozy.connect("demo-bank", grant=True, until=UNTIL)
    cozy.connect("aggregator", grant=True)
    cozy.sync("demo-bank")
    cozy.sync("aggregator")
    original = home / "raw" / "aggregator" / "statement.ofx"
    original.parent.mkdir(parents=True)
    original.write_bytes(b"OFXHEADER:100 UNIQUE-AGG-LABEL")
    demo_before = cozy.frame("bank.transactions")
    accounts = cozy.frame("bank.accounts")
    assert set(accounts["connector"]) == {"demo-bank", "aggregator"}
    assert b"UNIQUE-AGG-LABEL" in db_bytes(home)
    # and copies of it in the workspace: an export waiting for download, a bundle a killed
    # restore left unpacked
    (home / "exports").mkdir()
    bundle = Path(cozy.export_bundle(home / "exports" / "cozy-export-1.zip")["path"])
    leftover = home / "cache" / ".cozy-bundle-killed"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(leftover)
    assert "UNIQUE-AGG-LABEL" in everything_in(home)

    # When the user withdraws with erasure
    result = run_cozy(home, "disconnect", "aggregator", "--erase", "--yes")

    # Then everything of the aggregator is gone, down to the bytes of the store
    assert result.code == 0 and "erased 1 rows from bank.accounts" in result.out
    assert b"UNIQUE-AGG-LABEL" not in db_bytes(home)
    assert "UNIQUE-AGG-LABEL" not in everything_in(home)
    assert not bundle.exists() and not leftover.exists()
    assert b"UNIQUE-AGG-RAW" not in db_bytes(home)
    assert not original.parent.exists()
    for snapshot in (home / "cache" / "frames").glob("*.parquet"):
        assert b"UNIQUE-AGG-LABEL" not in snapshot.read_bytes()
    with sqlite3.connect(home / "cozy.db") as db:
        for table in ("raw_records", "cursors", "connections", "runs"):
            left = db.execute(f"SELECT count(*) FROM {table} WHERE connector = 'aggregator'")
            assert left.fetchone()[0] == 0, table
    # And nothing of the demo bank moved
    assert set(cozy.frame("bank.accounts")["connector"]) == {"demo-bank"}
    assert cozy.frame("bank.transactions").equals(demo_before)
    assert [r["connector"] for r in cozy.runs()] == ["demo-bank"]
    assert cozy.sync("demo-bank").added == 0
    # The consent history keeps the withdrawal, and the chain still verifies
    assert cozy.consent_log(verify=True)[-1]["details"] == {"erase": True}


def tamper(home: Path, *statements: str) -> None:
    with sqlite3.connect(home / "cozy.db") as db:
        db.execute("DROP TRIGGER consent_events_no_update")
        db.execute("DROP TRIGGER consent_events_no_delete")
        for sql in statements:
            db.execute(sql)


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (["UPDATE consent_events SET method = 'jupyterlab' WHERE seq = 2"],
         "event #2 was altered"),
        (["DELETE FROM consent_events WHERE seq = 2"], "event #2 is missing"),
        (["DELETE FROM consent_events WHERE seq = 3"], "event #3 onwards is missing"),
        (["UPDATE consent_events SET seq = 99 WHERE seq = 1",
          "UPDATE consent_events SET seq = 1 WHERE seq = 2",
          "UPDATE consent_events SET seq = 2 WHERE seq = 99"],
         "event #1 does not follow"),
    ],
)  # fmt: skip
def test_any_edit_of_the_ledger_fails_verification(
    home: Path, statements: list[str], message: str
) -> None:
    cozy.connect("demo-bank", grant=True)
    cozy.disconnect("demo-bank")
    assert run_cozy(home, "consent", "log", "--verify").code == 0

    tamper(home, *statements)

    result = run_cozy(home, "consent", "log", "--verify")
    assert result.code == 5
    assert message in result.err


def test_the_ledger_refuses_updates_and_deletes(home: Path) -> None:
    with sqlite3.connect(home / "cozy.db") as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("DELETE FROM consent_events")
    with sqlite3.connect(home / "cozy.db") as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE consent_events SET kind = 'refused'")


def test_receipts_validate_and_state_what_was_consented(home: Path, tmp_path: Path) -> None:
    write_connector(home, "aggregator", aggregator())
    cozy.connect("aggregator", grant=True)
    cozy.connect("demo-bank", grant=True)

    result = run_cozy(home, "consent", "receipts", "--out", str(tmp_path / "r"))

    assert result.code == 0 and "wrote 3 receipts" in result.out
    receipts = [json.loads(p.read_text()) for p in sorted((tmp_path / "r").glob("*.json"))]
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for receipt in receipts:
        validator.validate(receipt)
    services = {r["services"][0]["service"]: r for r in receipts}
    agg = services["Agg"]["services"][0]["purposes"][0]
    assert (agg["thirdPartyDisclosure"], agg["thirdPartyName"]) == (True, "Bank Data Ltd")
    assert agg["piiCategory"] == ["pd:FinancialAccount", "pd:Transaction"]
    assert services["Demo Bank"]["services"][0]["purposes"][0]["thirdPartyDisclosure"] is False
    assert {r["piiPrincipalId"] for r in receipts} == {cozy.consent_log()[0]["subject"]}
    dpv = json.loads((tmp_path / "r" / f"{services['Agg']['consentReceiptID']}.jsonld").read_text())
    assert dpv["@context"]["dpv"] == "https://w3id.org/dpv#"
    assert dpv["@type"] == "dpv:ConsentRecord"
    assert dpv["dpv:hasDataProcessor"][0]["dpv:hasLocation"] == "LV"
    # The same consents give the same receipt ids on a second export.
    again = run_cozy(home, "consent", "receipts", "--out", str(tmp_path / "r2"))
    assert again.code == 0
    assert sorted(p.name for p in (tmp_path / "r2").iterdir()) == sorted(
        p.name for p in (tmp_path / "r").iterdir()
    )


def test_receipts_name_the_operator(
    fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COZY_TERMS_DIR", str(operator_terms(tmp_path / "ops", "1.0.0-20200101")))
    cozy.accept_terms(method="jupyterlab")

    (path,) = [Path(p) for p in cozy.receipts(tmp_path / "r") if p.endswith(".json")]
    receipt = json.loads(path.read_text())

    assert receipt["jurisdiction"] == "FR"
    assert receipt["collectionMethod"] == "jupyterlab"
    assert receipt["policyUrl"] == "https://example.org/terms"
    assert receipt["piiControllers"][0]["piiController"] == "The Martin family"
    assert receipt["piiControllers"][0]["email"] == "ana@example.org"


def test_report_lists_what_is_held_and_every_processor_with_its_location(home: Path) -> None:
    write_connector(home, "aggregator", aggregator(extra_processor=True))
    cozy.connect("aggregator", grant=True)
    cozy.connect("demo-bank", grant=True, until=UNTIL)
    cozy.sync("aggregator")
    cozy.sync("demo-bank")

    data = json.loads(run_cozy(home, "report", "--json").out)
    markdown = run_cozy(home, "report").out
    html = run_cozy(home, "report", "--html").out

    held = {(d["collection"], d["connector"]): d for d in data["data"]}
    assert held[("bank.transactions", "demo-bank")]["last"] == UNTIL
    assert held[("bank.accounts", "aggregator")]["rows"] == 1
    located = {(p["processor"], p["location"]) for p in data["processors"]}
    assert located == {("Bank Data Ltd", "LV"), ("Cloud Co", "US")}
    assert data["network_hosts"] == {"aggregator": ["bankdata.example"], "demo-bank": []}
    for name, country in located:
        assert name in markdown and country in markdown and name in html
    assert "Demo Bank (`demo-bank`" in markdown and "shares nothing" in markdown
    assert "<script" not in html and "src=" not in html
    assert [e["kind"] for e in data["consent_history"]] == ["given", "given", "given"]


def test_report_and_terms_are_readable_before_accepting(fresh_home: Path) -> None:
    for args in (("report",), ("terms", "show"), ("terms", "status"), ("consent", "log")):
        result = run_cozy(fresh_home, *args)
        assert result.code == 0, (args, result.err)
    assert "Your workspace holds no data yet." in run_cozy(fresh_home, "report").out


NO_NETWORK = r"""
import json, sys
seen = []

# Creating or binding a socket stays on the machine (urllib3 probes IPv6 that way when it
# loads); reaching out takes a connect, a name lookup or a send.
REACH_OUT = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
             "socket.sendmsg", "http.client.connect", "urllib.Request", "ftplib.connect",
             "smtplib.connect")

def hook(event, args):
    if event in REACH_OUT:
        seen.append(f"{event} {args!r}"[:200])

sys.addaudithook(hook)
from cozy_kernel.cli import cli
out = sys.argv[1]
for args in (["terms", "accept", "--yes"], ["connect", "demo-bank", "--yes"],
             ["sync", "demo-bank"], ["frame", "bank.transactions", "--out", out + "/t.csv"],
             ["report", "--html"], ["consent", "receipts", "--out", out + "/r"],
             ["doctor"], ["connectors", "list"], ["consent", "log", "--verify"],
             ["disconnect", "demo-bank", "--erase", "--yes"]):
    cli.main(args=args, prog_name="cozy", standalone_mode=False)
print(json.dumps(seen), file=sys.stderr)
"""


def test_no_telemetry_the_core_opens_no_network_connection(home: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
