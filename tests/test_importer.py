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
GREEDY = '''
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
'''


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
    good = run_cozy(
        home, "import", str(FIXTURES / "uk_barclays.qif"), str(FIXTURES / "de_sparkasse_cp1252.qif"),
        "--account", "Mine", "--yes", "--json",
    )  # fmt: skip
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
