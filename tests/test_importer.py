"""The import core: one claimant per file, consent on first use, all or nothing, twins kept."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

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

    def census(self, statement):
        return len(json.loads(statement.data)["rows"])

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


LOSSY = '''
import datetime as dt
from decimal import Decimal
from cozy_kernel.importer import FileImporter
from cozy_kernel.connector import Manifest, Record

class Lossy(FileImporter):
    """Reads one transaction a line but forgets the last one, as a buggy parser would."""
    formats = "lossy lines"
    manifest = Manifest(id="lossy", name="Lossy", version="1", kind="file",
                        writes=("bank.accounts", "bank.transactions"), description={"en": "x"})

    @classmethod
    def identify(cls, name, head):
        return name.endswith(".lossy")

    def parse(self, statement):
        yield Record("bank.accounts", {"id": "l", "name": "L", "currency": "EUR"})
        for n, line in enumerate(statement.data.decode().splitlines()[:-1]):
            yield Record("bank.transactions", {
                "id": f"l{n}", "account_id": "l", "date": dt.date(2026, 1, 1),
                "amount": Decimal(line), "currency": "EUR", "label": "x", "pending": False})

    COUNT

connector = Lossy
'''


def test_an_importer_that_loses_a_row_is_refused_and_nothing_is_written(
    home: Path, tmp_path: Path
) -> None:
    write_connector(home, "lossy", LOSSY.replace("COUNT", "def census(self, statement):\n"
                    "        return len(statement.data.decode().splitlines())"))  # fmt: skip
    path = tmp_path / "three.lossy"
    path.write_text("-1.00\n-2.00\n-3.00\n")

    result = run_cozy(home, "import", str(path), "--yes")

    assert result.code == 1
    said = result.err.strip().splitlines()[-1]  # after the consent screen
    assert said.startswith(f"cozy: {path}: holds 3 data rows, but lossy imported 2, rejected 0 "
                           "and skipped 0")  # fmt: skip
    assert cozy.collections() == [] or all(c["rows"] == 0 for c in cozy.collections())
    assert not (home / "raw" / "lossy").exists() or not any((home / "raw" / "lossy").iterdir())


def test_an_importer_that_does_not_count_its_rows_is_refused(home: Path, tmp_path: Path) -> None:
    write_connector(home, "lossy", LOSSY.replace("COUNT", ""))
    path = tmp_path / "three.lossy"
    path.write_text("-1.00\n-2.00\n-3.00\n")

    result = run_cozy(home, "import", str(path), "--yes")

    assert result.code == 1
    assert "importer 'lossy' does not count the rows of" in result.err
    assert "nothing was imported" in result.err


# Per built-in format: a statement of six rows where rows 2, 4 and 6 are broken.
HALF_BROKEN = {
    "half.csv": (
        "Date;Libellé;Montant;Devise\n"
        "03/06/2024;CAFE;-3,50;EUR\n03/06/2024;BOULANGERIE;-2,x0;EUR\n"
        "04/06/2024;LOYER;-800,00;EUR\n31/06/2024;EDF;-60,00;EUR\n"
        "05/06/2024;SALAIRE;2500,00;EUR\n06/06/2024;PHARMACIE;abc;EUR\n"
    ).encode(),
    "half.qif": (
        b"!Type:Bank\nD06/03/2024\nT-3.50\nPCAFE\n^\nD06/03/2024\nTabc\nPBAKERY\n^\n"
        b"D06/04/2024\nT-800.00\nPRENT\n^\nD06/31/2024\nT-60.00\nPPOWER\n^\n"
        b"D06/05/2024\nT2500.00\nPSALARY\n^\nD13/45/2024\nT-9.00\nPPHARMACY\n^\n"
    ),
    "half.ofx": (
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\n"
        "CHARSET:1252\nCOMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n<OFX>\n"
        "<BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STMTRS><CURDEF>USD\n"
        "<BANKACCTFROM><BANKID>121000248<ACCTID>123456789<ACCTTYPE>CHECKING</BANKACCTFROM>\n"
        "<BANKTRANLIST><DTSTART>20240601<DTEND>20240630\n"
        + "".join(
            f"<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>{day}<TRNAMT>{amount}<FITID>F{n}"
            f"<NAME>SHOP {n}</STMTTRN>\n"
            for n, (day, amount) in enumerate(
                [
                    ("20240603", "-3.50"),
                    ("20240603", "-2.x0"),
                    ("20240604", "-800.00"),
                    ("20240631", "-60.00"),
                    ("20240605", "2500.00"),
                    ("2024XX06", "-9.00"),
                ]
            )
        )
        + "</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    ).encode(),
    "half.xml": (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:'
        'xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-06-30T'
        "18:00:00</CreDtTm></GrpHdr><Stmt><Id>S1</Id><CreDtTm>2024-06-30T18:00:00</CreDtTm>"
        "<Acct><Id><IBAN>FR7630006000011234567890189</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        + "".join(
            f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>'
            f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
            f"<AddtlNtryInf>SHOP {n}</AddtlNtryInf></Ntry>"
            for n, (day, amount) in enumerate(
                [
                    ("2024-06-03", "3.50"),
                    ("2024-06-03", "2.x0"),
                    ("2024-06-04", "800.00"),
                    ("2024-06-31", "60.00"),
                    ("2024-06-05", "2500.00"),
                    ("2024-13-06", "9.00"),
                ]
            )
        )
        + "</Stmt></BkToCstmrStmt></Document>\n"
    ).encode(),
}


@pytest.mark.parametrize("name", sorted(HALF_BROKEN))
def test_every_importer_imports_or_rejects_each_row_of_a_half_broken_file(
    home: Path, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(HALF_BROKEN[name])

    report = cozy.import_files([path], account="Half", grant=True)

    rows = report["rows"][str(path)]
    assert rows == {"rows": 6, "read": 3, "rejected": 3, "skipped": 0}
    (run,) = report["runs"]
    assert run["collections"]["bank.transactions"]["added"] == 3
    assert len(run["rejected"]) == 3
    assert all(reason.startswith(f"{path}:") for reason in run["rejected"]), run["rejected"]
    assert len(cozy.frame("bank.transactions")) == 3
