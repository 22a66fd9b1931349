"""The import core: one claimant per file, consent on first use, all or nothing, twins kept."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import cozy_kernel as cozy
from cozy_kernel.connector import Record
from cozy_kernel.importer import assign_ids, normalise_label
from tests.conftest import run_cozy, write_connector

FIXTURES = Path(__file__).parent / "fixtures" / "qif"
GREEDY = """
from cozy_kernel.importer import FileImporter
from cozy_kernel.connector import Manifest

class Greedy(FileImporter):
    formats = "anything"
    manifest = Manifest(id="greedy", name="Greedy", version="1", kind="file",
                        writes=("bank.transactions",), description={"en": "claims all"})

    @classmethod
    def identify(cls, name, head):
        return True

connector = Greedy
"""


def test_a_file_claimed_twice_names_both_importers(home: Path) -> None:
    write_connector(home, "greedy", GREEDY)

    result = run_cozy(home, "import", str(FIXTURES / "uk_barclays.qif"), "--yes")

    assert result.code == 4
    assert "claimed by greedy and qif; say which with --importer" in result.err
    chosen = run_cozy(home, "import", str(FIXTURES / "uk_barclays.qif"), "--yes",
                      "--importer", "qif")  # fmt: skip
    assert chosen.code == 0, chosen.err


def test_an_unknown_format_lists_the_known_ones(home: Path, tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("just some notes\n")

    result = run_cozy(home, "import", str(odd), "--yes")

    assert result.code == 4
    assert f"{odd}: no importer recognises this file (known formats:" in result.err
    assert "QIF" in result.err


def test_the_first_import_asks_for_consent_and_records_the_grant(home: Path) -> None:
    path = str(FIXTURES / "uk_barclays.qif")

    unanswered = run_cozy(home, "import", path)

    assert unanswered.code == 3
    assert "QIF statements (qif 1.0.0)" in unanswered.err  # the consent screen was shown
    assert "network hosts it will contact: none" in unanswered.err
    assert cozy.collections() == []
    assert run_cozy(home, "import", path, "--yes").code == 0
    grant = cozy.consent_log()[-1]
    assert (grant["kind"], grant["connector"], grant["method"]) == ("given", "qif", "cli")
    assert "qif" in {c["id"] for c in cozy.connectors() if c["connected"]}


def test_several_files_import_together_or_not_at_all(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.qif"
    bad.write_text("!Type:Bank\nD13/13/2024\nT-1.00\nPX\n^\n")

    result = run_cozy(
        home, "import", str(FIXTURES / "uk_barclays.qif"), str(bad), "--yes", "--json"
    )

    assert result.code == 4 and "bad.qif:line 2" in result.err
    assert cozy.collections() == []
    assert not (home / "raw" / "qif").exists() or not list((home / "raw" / "qif").iterdir())
    both = [str(FIXTURES / "uk_barclays.qif"), str(FIXTURES / "de_sparkasse_cp1252.qif")]
    good = run_cozy(home, "import", *both, "--account", "Mine", "--yes", "--json")
    assert good.code == 0, good.err
    report = json.loads(good.out)
    assert report["runs"][0]["added"] == 6 + 1  # six transactions, one account (--account)


def test_withdrawing_an_importer_asks_again_and_erasing_drops_its_originals(home: Path) -> None:
    path = str(FIXTURES / "uk_barclays.qif")
    assert run_cozy(home, "import", path, "--yes").code == 0
    assert list((home / "raw" / "qif").iterdir())

    assert run_cozy(home, "disconnect", "qif", "--erase", "--yes").code == 0

    assert not (home / "raw" / "qif").exists()
    assert run_cozy(home, "import", path).code == 3
    assert run_cozy(home, "import", path, "--yes").code == 0
    assert cozy.consent_log()[-1]["kind"] == "renewed"


def test_labels_compare_without_accents_case_or_spacing() -> None:
    assert normalise_label("  CB  Café   de la GARE ") == normalise_label("cb cafe de la gare")
    assert normalise_label("Müller") != normalise_label("Muller GmbH")


def test_composite_ids_count_identical_twins_per_statement() -> None:
    def tx(label: str, amount: str = "-3.20") -> Record:
        return Record("bank.transactions", {
            "account_id": "a", "date": dt.date(2024, 5, 2), "amount": Decimal(amount),
            "label": label, "currency": "EUR", "pending": False,
        })  # fmt: skip

    ids = [r.data["id"] for r in assign_ids([tx("Café"), tx("CAFE"), tx("Café", "-3.30")])]
    again = [r.data["id"] for r in assign_ids([tx("cafe"), tx("Café")])]

    assert ids[0] != ids[1] and ids[0].endswith(":1") and ids[1].endswith(":2")
    assert ids[2].endswith(":1")
    assert again == ids[:2]
    kept = Record("bank.transactions", {"id": "bank-given", "label": "x"})
    assert assign_ids([kept]) == [kept]


JSONBANK = '''
import datetime as dt, json
from decimal import Decimal
from cozy_kernel.importer import FileImporter
from cozy_kernel.connector import Manifest, Record

class JsonBank(FileImporter):
    """One JSON statement: {"balance": [amount, day], "rows": [[id, day, amount, pending]]}."""
    formats = "JSON statements"
    manifest = Manifest(id="jsonbank", name="JSON bank", version="1", kind="file",
                        writes=("bank.accounts", "bank.transactions"), description={"en": "x"})

    @classmethod
    def identify(cls, name, head):
        return name.endswith(".jsonbank")

    def parse(self, statement):
        doc = json.loads(statement.data)
        amount, day = doc["balance"]
        yield Record("bank.accounts", {"id": "j", "name": "J", "currency": "EUR",
                                       "balance": Decimal(amount),
                                       "balance_date": dt.date.fromisoformat(day)})
        for tid, day, amount, pending in doc["rows"]:
            yield Record("bank.transactions", {
                "id": tid, "account_id": "j", "date": dt.date.fromisoformat(day),
                "amount": Decimal(amount), "currency": "EUR", "label": tid,
                "pending": pending})

connector = JsonBank
'''


def statement(folder: Path, name: str, balance: tuple[str, str], *rows: tuple) -> str:
    path = folder / f"{name}.jsonbank"
    path.write_text(json.dumps({"balance": balance, "rows": rows}))
    return str(path)


def test_an_older_statement_never_rolls_the_balance_back(home: Path, tmp_path: Path) -> None:
    write_connector(home, "jsonbank", JSONBANK)
    march = statement(tmp_path, "march", ("120.00", "2026-03-31"), ("m1", "2026-03-05", "-5.00",
                                                                     False))  # fmt: skip
    february = statement(tmp_path, "february", ("80.00", "2026-02-28"),
                         ("f1", "2026-02-05", "-7.00", False))  # fmt: skip

    assert run_cozy(home, "import", march, "--yes").code == 0
    assert run_cozy(home, "import", february, "--yes").code == 0

    account = cozy.frame("bank.accounts").set_index("id").loc["j"]
    assert account["balance"] == Decimal("120.00")
    assert account["balance_date"] == dt.datetime(2026, 3, 31)
    assert set(cozy.frame("bank.transactions")["id"]) == {"m1", "f1"}


def test_the_booked_copy_wins_whatever_the_order_of_files(home: Path, tmp_path: Path) -> None:
    write_connector(home, "jsonbank", JSONBANK)
    end_of_day = statement(tmp_path, "eod", ("50.00", "2026-03-02"),
                           ("t1", "2026-03-02", "-9.99", False))  # fmt: skip
    intraday = statement(tmp_path, "intraday", ("59.99", "2026-03-01"),
                         ("t1", "2026-03-02", "-9.99", True))  # fmt: skip

    result = run_cozy(home, "import", end_of_day, intraday, "--yes")

    assert result.code == 0, result.err
    tx = cozy.frame("bank.transactions").set_index("id")
    assert not tx.loc["t1", "pending"]
    assert cozy.frame("bank.accounts").set_index("id").loc["j", "balance"] == Decimal("50.00")
