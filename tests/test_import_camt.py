"""ISO 20022 camt.053/052: six countries' banks, versions, batches, balances, bad rows."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cozy_kernel as cozy
from cozy_connectors.camt import CamtImporter
from cozy_kernel.connector import Record, Rejected, Skipped
from cozy_kernel.errors import BadInput
from cozy_kernel.importer import Statement, assign_ids
from cozy_kernel.schemas import BUILTIN
from tests.conftest import run_cozy

FIXTURES = Path(__file__).parent / "fixtures" / "camt"
GOOD = sorted(p.name for p in FIXTURES.glob("[a-z][a-z]_*.xml"))
COMPOSITE = re.compile(r"\d{4}-\d\d-\d\d:-?\d+\.\d\d:[0-9a-f]{12}:\d+")
NS53 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"

# Expected rows: (bank id or None for a composite id, date, value date, amount, method,
# label, counterparty); currency and pending are per account / checked apart.
DE = [
    ("2024030100012345", "2024-03-01", "2024-03-01", "-1150.00", "transfer",
     "DAUERAUFTRAG Miete März 2024 Wohnung Schwabinger Str. 12, 3. OG links",
     "Hausverwaltung Größl GmbH"),
    ("2024030100012346", "2024-03-01", "2024-03-01", "-84.00", "direct_debit",
     "FOLGELASTSCHRIFT Abschlag Strom 03/2024 Vertragskonto 2003456789",
     "Stadtwerke München GmbH"),
    ("2024030100012347", "2024-03-01", "2024-02-29", "-47.83", "card",
     "KARTENZAHLUNG EDEKA Südstadt München//München/DE 2024-02-29T18:42:11 Debitk.5 2027-12",
     "EDEKA Südstadt"),
    ("2024030400000211", "2024-03-04", "2024-03-04", "3245.67", "transfer",
     "GEHALT/RENTE Gehalt März 2024 Personalnr. 4711", "Bäckerei Öztürk & Söhne KG"),
    ("2024030400000212", "2024-03-04", "2024-03-01", "84.00", "direct_debit",
     "RÜCKLASTSCHRIFT Abschlag Strom 03/2024 Vertragskonto 2003456789",
     "Stadtwerke München GmbH"),
    ("2024030400000213", "2024-03-04", "2024-03-02", "-200.00", "atm",
     "BARGELDAUSZAHLUNG GA NR00001234 BLZ70150000 0 02.03/10.15UHR Marienplatz", None),
    ("2024030400000214", "2024-03-04", "2024-02-29", "-7.95", "fee",
     "ENTGELTABSCHLUSS Kontoführung Februar 2024", None),
]  # fmt: skip
CH = [
    ("240325CH00D7K3QX", "2024-03-25", "2024-03-25", "6850.00", "transfer",
     "GUTSCHRIFT AUFTRAGGEBER: Müller Präzisionstechnik AG, Biel/Bienne Lohn März 2024",
     "Müller Präzisionstechnik AG"),
    ("240326CH00F2M8LA", "2024-03-26", "2024-03-26", "-1980.00", "transfer",
     "E-FINANCE AUFTRAG Miete April 2024, Wohnung 3.2, Spitalgasse 14", "Immobilien Zürcher AG"),
    ("240326CH00F2P1RB", "2024-03-26", "2024-03-23", "-86.40", "card",
     "KAUF/DIENSTLEISTUNG VOM 23.03.2024 KARTEN NR. XXXX1234 Coop-1234 Bern Bahnhof", None),
    ("240328CH00H9T4WC/1", "2024-03-28", "2024-03-28", "-89.90", "transfer",
     "SAMMELAUFTRAG E-FINANCE Rechnung März 2024 Kundennummer 1.2345678",
     "Swisscom (Schweiz) AG"),
    ("240328CH00H9T4WC/2", "2024-03-28", "2024-03-28", "-287.45", "transfer",
     "SAMMELAUFTRAG E-FINANCE Prämie April 2024", "CSS Kranken-Versicherung AG"),
    ("240328CH00H9T4WC/3", "2024-03-28", "2024-03-28", "-35.00", "transfer",
     "SAMMELAUFTRAG E-FINANCE Haushaltabgabe Radio/TV Rate 1/4", "Serafe AG"),
    ("240331CH00K0A0FE", "2024-03-31", "2024-03-31", "-5.00", "fee",
     "PREIS FÜR KONTOFÜHRUNG MÄRZ", None),
    ("240327CH00G5Q2XD", "2024-03-27", "2024-03-27", "250.00", "transfer",
     "GUTSCHRIFT AUFTRAGGEBER: Élodie Dubois, Annecy Remboursement vacances Annecy",
     "Élodie Dubois"),
    ("240329CH00J7V6YE", "2024-03-29", "2024-03-27", "-64.90", "card",
     "KAUF/DIENSTLEISTUNG VOM 27.03.2024 KARTEN NR. XXXX5678 Booking.com Amsterdam", None),
]  # fmt: skip
BREAD = ("-3.80", "card", "CARTE X4321 13/03 BOULANGERIE L'ÉPI D'OR PARIS 11", None)
FR_OVERLAP = [
    (None, "2024-03-14", "2024-03-13", *BREAD),
    (None, "2024-03-14", "2024-03-13", *BREAD),
    (None, "2024-03-15", "2024-03-15", "-40.00", "atm", "RETRAIT DAB 15/03 PARIS 11E RÉPUBLIQUE",
     None),
    (None, "2024-03-16", "2024-03-15", "-24.99", "card", "CARTE X4321 15/03 FNAC PARIS CHÂTELET",
     None),
    (None, "2024-03-17", "2024-03-17", "-9.50", "fee", "COTISATION JAZZ — FORFAIT MARS", None),
]  # fmt: skip
FR = [
    ("2024-03-11:EDF-4004123456-0324", "2024-03-11", "2024-03-11", "-62.47", "direct_debit",
     "PRLV SEPA ELECTRICITE DE FRANCE Échéance 03/2024 contrat 4004123456 électricité + gaz",
     "EDF SA"),
    (None, "2024-03-12", "2024-03-12", "312.57", "transfer",
     "VIR SEPA RECU /DE CAISSE D'ALLOCATIONS FAMILIALES Prestations février 2024 — "
     "allocation logement", "CAF DE PARIS"),
    *FR_OVERLAP,
]  # fmt: skip
FR_NEW = [
    (None, "2024-03-18", "2024-03-17", "-3.80", "card",
     "CARTE X4321 17/03 BOULANGERIE L'ÉPI D'OR PARIS 11", None),
    (None, "2024-03-19", "2024-03-19", "-1150.00", "transfer",
     "VIR EUROPEEN EMIS LOGITEL POUR: SCI LES TILLEULS Loyer avril 2024 appt 4B",
     "SCI Les Tilleuls"),
    ("2024-03-20:SAL-2024-03-017", "2024-03-20", "2024-03-20", "2480.00", "transfer",
     "VIR SEPA RECU /DE SARL CHÂTEAU & FILS SALAIRE MARS 2024", "SARL Château & Fils"),
]  # fmt: skip
NL = [
    ("IB2404020012345678", "2024-04-02", "2024-04-02", "-23.47", "card",
     "Albert Heijn 1234 AMSTERDAM NLD Pasvolgnr: 003 02-04-2024 17:31 Transactie: 9Z1T27 "
     "Term: 5D8K2P", None),
    ("IB2404020012345679", "2024-04-02", "2024-04-02", "-59.99", "transfer",
     "0050001234567890 bestelling 1234567890 bol.com", "bol.com b.v."),
    ("IB2404030000456789", "2024-04-03", "2024-04-03", "2945.12", "transfer",
     "Salaris april 2024 — vakantiegeld volgt in mei", "Koninklijke Vlaai B.V."),
    ("IB2404040000123400", "2024-04-04", "2024-04-04", "-75.00", "transfer",
     "Verzamelbetaling 2 posten Donatie april Contributie 2024 lidnr 812", None),
    ("IB2404050000777001/1", "2024-04-05", "2024-04-05", "-138.25", "direct_debit",
     "Incasso Zilveren Kruis Achmea Premie zorgverzekering april 2024",
     "Zilveren Kruis Zorgverzekeringen N.V."),
    ("IB2404050000777001/2", "2024-04-05", "2024-04-05", "-85.00", "direct_debit",
     "Incasso Zilveren Kruis Achmea Eigen risico declaratie 2024-0315",
     "Zilveren Kruis Zorgverzekeringen N.V."),
    ("IB2404050000000001", "2024-04-05", "2024-04-05", "-3.25", "fee",
     "Kosten Basispakket april 2024", None),
]  # fmt: skip
SE = [
    ("HB2403250001230001", "2024-03-25", "2024-03-25", "32450.00", "transfer", "Lön mars 2024",
     "Göteborgs Älvbyggen AB"),
    ("HB2403270004560001", "2024-03-27", "2024-03-27", "-8950.00", "transfer",
     "BG 5050-1055 BRF SOLROSEN Hyra april lgh 1102", "Brf Solrosen i Årsta"),
    ("HB2403280007890001", "2024-03-28", "2024-03-28", "-412.50", "card",
     "ICA NÄRA ÅRSTA TORG, STOCKHOLM", None),
    ("HB2403280007890002", "2024-03-28", "2024-03-28", "1250.00", "transfer",
     "FÖRSÄKRINGSKASSAN Bostadsbidrag april 2024", "Försäkringskassan"),
    ("HB2403290001110001", "2024-03-29", "2024-03-28", "-1250.00", "transfer",
     "ÅTERFÖRING FELAKTIG INSÄTTNING Bostadsbidrag april 2024", "Försäkringskassan"),
    ("HB2403290001110002", "2024-03-29", "2024-03-29", "500.00", "transfer",
     "SWISH FRÅN ÅSA LINDQVIST Konsertbiljett Göteborg", "Åsa Lindqvist"),
    ("HB2403300002220001", "2024-03-30", "2024-03-30", "-349.00", "card",
     "SYSTEMBOLAGET SÖDERMALM", None),
    ("HB2403310003330001", "2024-03-31", "2024-04-02", "-2184.00", "transfer",
     "SKATTEVERKET Kvarskatt 2023 OCR 1970010112345", "Skatteverket"),
]  # fmt: skip
AT_SALARY = ("ER240328GH000117", "2024-03-28", "2024-03-28", "2350.00", "transfer",
             "Gehalt März 2024 Pers.Nr. 88213", "Wiener Linien GmbH & Co KG")  # fmt: skip
BILLA = ("-67.40", "card", "Bezahlung Karte MC/000001234 BILLA DANKT 1234 WIEN 1030 28.03. 12:47",
         None)  # fmt: skip
SPAR = ("-15.90", "card", "Bezahlung Karte MC/000001234 SPAR GOURMET WIEN 1010 28.03. 13:58",
        None)  # fmt: skip
AT_052 = [
    AT_SALARY,
    ("ER240328KT004711", "2024-03-28", "2024-03-28", *BILLA),
    ("ER240328KT004712", "2024-03-28", None, *SPAR),  # no date at all: the report's date
]
AT_053 = [
    AT_SALARY,
    ("ER240328KT004711", "2024-03-29", "2024-03-28", *BILLA),
    ("ER240328KT004712", "2024-03-29", "2024-03-28", *SPAR),
    ("ER240329LS000301", "2024-03-29", "2024-03-29", "-54.00", "direct_debit",
     "SEPA-Lastschrift Teilbetrag Strom/Gas 03/2024 Kundennr. 5512093", "Wien Energie GmbH"),
    ("ER240329BA000042", "2024-03-29", "2024-03-29", "-120.00", "atm",
     "Auszahlung Bankomat 29.03. 18:22 Mariahilfer Straße 77 Wien", None),
]  # fmt: skip

DE_V01 = [
    ("2024051400001101", "2024-05-14", "2024-05-14", "-45.90", "direct_debit",
     "FOLGELASTSCHRIFT Rechnung 05/2024 Kundennr 4711", "Telekom Deutschland GmbH"),
    ("2024051400001102", "2024-05-14", "2024-05-14", "2312.77", "transfer",
     "GEHALT/RENTE Gehalt Mai 2024 Personalnr. 0815", "Robert Bosch GmbH"),
    ("2024051400001103/1", "2024-05-14", "2024-05-14", "-100.00", "transfer",
     "SAMMELUEBERWEISUNG Grundsteuer 2. Quartal 2024 Kassenzeichen 1234.5678",
     "Landeshauptstadt Stuttgart"),
    ("2024051400001103/2", "2024-05-14", "2024-05-14", "-50.00", "transfer",
     "SAMMELUEBERWEISUNG Unterrichtsgebühr Mai 2024", "Stuttgarter Musikschule e.V."),
    ("2024051400001104", "2024-05-14", "2024-05-14", "-23.80", "card",
     "KARTENZAHLUNG girocard REWE Markt Stuttgart-West 14.05. 12:31", None),
]  # fmt: skip
CH_ZKB = [
    ("ZKB2404020001", "2024-04-02", "2024-04-02", "-1850.00", "transfer",
     "Dauerauftrag Miete April 2024 Whg. 3.1", "Wohnbaugenossenschaft Sonnenhalde"),
    ("ZKB2404250002", "2024-04-25", "2024-04-25", "7450.00", "transfer",
     "Gutschrift Lohn April 2024", "Muster Informatik AG"),
    ("ZKB2404290003", "2024-04-29", "2024-04-27", "-132.60", "card",
     "Debitkarte Migros Zürich HB 27.04.2024", None),
    ("ZKB2404300004", "2024-04-30", "2024-04-30", "-12.00", "fee",
     "Kontoführungsgebühr April 2024", None),
]  # fmt: skip

DE_ID = "camt:DE87701500001002345678"
DE_V01_ID = "camt:DE44600901000123456789"
ZKB_ID = "camt:CH9300700110001234567"
CH_CHF, CH_EUR = "camt:CH4509000000154321874", "camt:CH5609000000916543214"
FR_ID = "camt:FR1430003012340005123456789"
AT_ID = "camt:AT242011182971234567"
ERSTE = "Erste Bank der oesterreichischen Sparkassen AG"

# Per fixture: account rows (id, name, currency, type, balance, balance date, institution)
# and transaction rows per account.
GOLDEN = {
    "de_sparkasse_camt053_v02.xml": (
        [(DE_ID, "Girokonto Max Müller", "EUR", "checking", "3363.34", "2024-03-04",
          "Stadtsparkasse München")],
        {DE_ID: DE},
    ),
    "ch_postfinance_camt053_v04.xml": (
        [(CH_CHF, "POFICHBEXXX 1874", "CHF", None, "8576.80", "2024-03-31", "PostFinance AG"),
         (CH_EUR, "POFICHBEXXX 3214", "EUR", None, "1185.10", "2024-03-31", "PostFinance AG")],
        {CH_CHF: CH[:7], CH_EUR: CH[7:]},
    ),
    "fr_societe_generale_camt053_v02.xml": (
        [(FR_ID, "Compte Jazz Hélène Lefèvre", "EUR", "checking", "1413.31", "2024-03-17",
          "Société Générale")],
        {FR_ID: FR},
    ),
    "fr_societe_generale_camt053_v02_overlap.xml": (
        [(FR_ID, "Compte Jazz Hélène Lefèvre", "EUR", "checking", "2739.51", "2024-03-20",
          "Société Générale")],
        {FR_ID: FR_OVERLAP + FR_NEW},
    ),
    "nl_ing_camt053_v02.xml": (
        [("camt:NL67INGB0006543210", "INGBNL2A 3210", "EUR", "checking", "2410.16",
          "2024-04-05", "ING Bank N.V.")],
        {"camt:NL67INGB0006543210": NL},
    ),
    "se_handelsbanken_camt053_v08.xml": (
        [("camt:SE7160000000000123456789", "Privatkonto", "SEK", "checking", "33400.17",
          "2024-03-31", "Svenska Handelsbanken AB")],
        {"camt:SE7160000000000123456789": SE},
    ),
    "at_erste_camt052_v08_intraday.xml": (
        [(AT_ID, "s Komfort Konto", "EUR", "checking", "2037.60", "2024-03-28", ERSTE)],
        {AT_ID: AT_052},
    ),
    "at_erste_camt053_v08.xml": (
        [(AT_ID, "s Komfort Konto", "EUR", "checking", "1780.30", "2024-03-29", ERSTE)],
        {AT_ID: AT_053},
    ),
    # The 2006 version: V01 message name, Tp/Cd balances, TxDtls right under Ntry.
    "de_volksbank_camt052_v01.xml": (
        [(DE_V01_ID, "VOBADESS 6789", "EUR", "checking", "3991.07", "2024-05-14",
          "Volksbank Stuttgart eG")],
        {DE_V01_ID: DE_V01},
    ),
    # The booked closing balance of 30 April, not the available ones dated in May.
    "ch_zkb_camt053_v04_forward_balances.xml": (
        [(ZKB_ID, "Privatkonto Muster", "CHF", None, "10575.75", "2024-04-30",
          "Zürcher Kantonalbank")],
        {ZKB_ID: CH_ZKB},
    ),
}  # fmt: skip
CURRENCY = {CH_CHF: "CHF", ZKB_ID: "CHF", "camt:SE7160000000000123456789": "SEK"}
PENDING = {  # bank ids of the rows still pending, per fixture
    "at_erste_camt052_v08_intraday.xml": {"ER240328KT004711", "ER240328KT004712"},
    "de_volksbank_camt052_v01.xml": {"2024051400001104"},
}


def _nan_to_none(value: object) -> object:
    return None if value is None or value != value else value


def _day(value: object) -> str | None:
    value = _nan_to_none(value)
    return None if value is None else value.date().isoformat()


def transactions(account: str | None = None) -> list[tuple]:
    """Stored rows as (ref, date, value date, amount, method, label, counterparty) tuples."""
    frame = cozy.frame("bank.transactions")
    out = []
    for r in frame.itertuples():
        if account is not None and r.account_id != account:
            continue
        ref = r.id.removeprefix(f"{r.account_id}:")
        out.append((
            None if COMPOSITE.fullmatch(ref) else ref, _day(r.date), _day(r.value_date),
            str(r.amount), _nan_to_none(r.method), r.label, _nan_to_none(r.counterparty),
        ))  # fmt: skip
    return sorted(out, key=_order)


def _order(row: tuple) -> tuple:
    return (row[1], Decimal(row[3]), row[5], row[0] or "")


def accounts() -> list[tuple]:
    frame = cozy.frame("bank.accounts")
    return sorted(
        (r.id, r.name, r.currency, _nan_to_none(r.type), str(r.balance), _day(r.balance_date),
         r.institution)
        for r in frame.itertuples()
    )  # fmt: skip


def snapshot(home: Path) -> list[list[tuple]]:
    with sqlite3.connect(home / "cozy.db") as db:
        return [
            db.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall()
            for name in ("bank.accounts", "bank.transactions")
        ]


def import_ok(*names: str, account: str | None = None) -> dict:
    report = cozy.import_files([FIXTURES / n for n in names], account=account, grant=True)
    assert set(report["files"].values()) == {"camt"}
    return report["runs"][0]["collections"]["bank.transactions"]


def parse(data: bytes, account: str | None = None) -> list[Record | Rejected | Skipped]:
    return list(CamtImporter({}).parse(Statement(Path("inline.xml"), data, account)))


def census(data: bytes) -> int:
    return CamtImporter({}).census(Statement(Path("inline.xml"), data))


def accounted(items: list[Record | Rejected | Skipped]) -> int:
    """The data rows parse accounted for: transactions, rejected and skipped rows."""
    return len(rows_of(items)) + sum(isinstance(i, Rejected | Skipped) for i in items)


def rows_of(items: list[Record | Rejected | Skipped]) -> list[dict]:
    return [i.data for i in items if isinstance(i, Record) and i.collection == "bank.transactions"]


def camt(entries: str, *, ns: str = NS53, account: str = "", balances: str = "") -> bytes:
    """A minimal statement around ``entries``; camt.052 when the namespace says so."""
    message, kind = ("BkToCstmrAcctRpt", "Rpt") if "camt.052" in ns else ("BkToCstmrStmt", "Stmt")
    message += "V01" if ns.endswith(".001.01") else ""
    account = account or "<Id><IBAN>DE87701500001002345678</IBAN></Id><Ccy>EUR</Ccy>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{ns}"><{message}><GrpHdr>'
        f"<MsgId>T-1</MsgId><CreDtTm>2024-03-05T06:00:00+01:00</CreDtTm></GrpHdr><{kind}>"
        f"<Id>T-1</Id><CreDtTm>2024-03-05T06:00:00+01:00</CreDtTm><Acct>{account}</Acct>"
        f"{balances}{entries}</{kind}></{message}></Document>"
    ).encode()


def ntry(
    amount: str = "10.00",
    cd: str = "DBIT",
    *,
    status: str = "<Sts>BOOK</Sts>",
    booked: str = "<BookgDt><Dt>2024-03-01</Dt></BookgDt>",
    ref: str = "",
    details: str = "",
    extra: str = "",
    info: str = "Kartenzahlung",
) -> str:
    return (
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{cd}</CdtDbtInd>{extra}{status}'
        f"{booked}{ref}{details}<AddtlNtryInf>{info}</AddtlNtryInf></Ntry>"
    )


# --- golden files ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_each_fixture_imports_exactly_these_rows(home: Path, name: str) -> None:
    # Given a bank's statement, When it is imported
    expected_accounts, expected_rows = GOLDEN[name]
    counts = import_ok(name)
    # Then the accounts and every transaction are exactly as the bank wrote them
    assert counts["added"] == sum(len(v) for v in expected_rows.values())
    assert accounts() == sorted(expected_accounts)
    for account_id, rows in expected_rows.items():
        assert transactions(account_id) == sorted(rows, key=_order)
    frame = cozy.frame("bank.transactions")
    for r in frame.itertuples():
        assert r.currency == CURRENCY.get(r.account_id, "EUR")
        assert r.pending == (r.id.split(":")[-1] in PENDING.get(name, set()))
        assert isinstance(r.amount, Decimal)


def test_every_fixture_has_its_golden_table_and_six_countries_are_covered() -> None:
    assert set(GOLDEN) == set(GOOD)
    assert {name[:2] for name in GOOD} >= {"at", "ch", "de", "fr", "nl", "se"}


def test_account_name_comes_from_the_users_account_option(home: Path) -> None:
    import_ok("ch_postfinance_camt053_v04.xml", account="PostFinance Privat")
    assert {r[1] for r in accounts()} == {"PostFinance Privat"}


# --- re-imports, overlaps, pending -------------------------------------------------------


def test_reimporting_the_same_statement_adds_nothing(home: Path) -> None:
    path = str(FIXTURES / "de_sparkasse_camt053_v02.xml")
    first = run_cozy(home, "import", path, "--yes")
    assert first.code == 0, first.err
    assert "camt: 8 added, 0 updated, 0 unchanged" in first.out  # 7 rows and the account
    again = run_cozy(home, "import", path)
    assert again.code == 0, again.err
    assert "camt: 0 added, 0 updated, 8 unchanged" in again.out


def test_an_overlapping_statement_adds_only_new_rows_and_keeps_identical_twins(
    home: Path,
) -> None:
    # Given the first week, with two identical croissants on 14 March and no bank ids
    import_ok("fr_societe_generale_camt053_v02.xml")
    # When the next statement repeats 14 to 17 March (its line numbers start again at 1)
    counts = import_ok("fr_societe_generale_camt053_v02_overlap.xml")
    # Then only the three new rows are added and the twins stay two rows
    assert counts == {"added": 3, "updated": 0, "unchanged": 5}
    assert transactions(FR_ID) == sorted(FR + FR_NEW, key=_order)
    assert sum(1 for r in transactions(FR_ID) if r[1:] == ("2024-03-14", "2024-03-13", *BREAD)) == 2
    assert accounts()[0][4:6] == ("2739.51", "2024-03-20")


def test_pending_entries_of_an_intraday_report_are_booked_by_the_next_statement(
    home: Path,
) -> None:
    # Given the intraday camt.052 with two card payments still pending
    import_ok("at_erste_camt052_v08_intraday.xml")
    assert cozy.frame("bank.transactions").pending.sum() == 2
    # When the end-of-day camt.053 books them (same servicer references)
    counts = import_ok("at_erste_camt053_v08.xml")
    # Then they are updated in place, none is left pending, and the new rows are added
    assert counts == {"added": 2, "updated": 2, "unchanged": 1}
    assert transactions(AT_ID) == sorted(AT_053, key=_order)
    assert not cozy.frame("bank.transactions").pending.any()
    assert accounts() == [
        (AT_ID, "s Komfort Konto", "EUR", "checking", "1780.30", "2024-03-29", ERSTE)
    ]


# --- camt semantics ----------------------------------------------------------------------


def test_reversal_keeps_the_booked_sign_and_names_the_original_counterparty() -> None:
    # A returned direct debit (CRDT + RvslInd) is money in from the creditor that collected;
    # a reversed credit (DBIT + RvslInd) is money out back to the original payer.
    parties = (
        "<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Payer</Nm></Dbtr><Cdtr><Nm>Payee</Nm></Cdtr>"
        "</RltdPties></TxDtls></NtryDtls>"
    )
    reversed_flag = "<RvslInd>true</RvslInd>"
    cases = [
        ("DBIT", "", Decimal("-10.00"), "Payee"),
        ("CRDT", "", Decimal("10.00"), "Payer"),
        ("CRDT", reversed_flag, Decimal("10.00"), "Payee"),
        ("DBIT", reversed_flag, Decimal("-10.00"), "Payer"),
    ]
    for cd, extra, amount, counterparty in cases:
        (row,) = rows_of(parse(camt(ntry(cd=cd, extra=extra, details=parties))))
        assert (row["amount"], row["counterparty"]) == (amount, counterparty), (cd, extra)


def test_dates_are_the_calendar_dates_written_never_shifted_to_utc() -> None:
    booked = [
        "<BookgDt><DtTm>2024-03-31T23:30:00+01:00</DtTm></BookgDt>",
        "<BookgDt><DtTm>2024-03-01T00:15:00+01:00</DtTm></BookgDt>",
        "<BookgDt><DtTm>2024-03-01T00:15:00.123Z</DtTm></BookgDt>",
        "<BookgDt><DtTm>2024-02-29T23:59:59-05:00</DtTm></BookgDt>",
        "<BookgDt><Dt>2024-03-01+01:00</Dt></BookgDt>",
    ]
    rows = rows_of(parse(camt("".join(ntry(booked=b, info=f"n{i}") for i, b in enumerate(booked)))))
    assert [r["date"] for r in rows] == [
        dt.date(2024, 3, 31), dt.date(2024, 3, 1), dt.date(2024, 3, 1), dt.date(2024, 2, 29),
        dt.date(2024, 3, 1),
    ]  # fmt: skip


def test_batch_is_split_only_when_its_details_carry_amounts_that_add_up() -> None:
    def details(*amounts: str) -> str:
        txs = "".join(
            f'<TxDtls><Amt Ccy="EUR">{a}</Amt><CdtDbtInd>DBIT</CdtDbtInd><RmtInf>'
            f"<Ustrd>Rechnung {i}</Ustrd></RmtInf></TxDtls>"
            for i, a in enumerate(amounts, 1)
        )
        return f"<NtryDtls>{txs}</NtryDtls>"

    ref = "<AcctSvcrRef>B-1</AcctSvcrRef>"
    split = rows_of(parse(camt(ntry("30.00", ref=ref, details=details("10.00", "20.00")))))
    assert [(r["id"], r["amount"], r["label"]) for r in split] == [
        (f"{DE_ID}:B-1/1", Decimal("-10.00"), "Kartenzahlung Rechnung 1"),
        (f"{DE_ID}:B-1/2", Decimal("-20.00"), "Kartenzahlung Rechnung 2"),
    ]
    (whole,) = rows_of(parse(camt(ntry("30.00", ref=ref, details=details("10.00", "19.00")))))
    assert (whole["id"], whole["amount"]) == (f"{DE_ID}:B-1", Decimal("-30.00"))
    assert whole["label"] == "Kartenzahlung Rechnung 1 Rechnung 2"


def test_bank_ids_fall_back_to_weaker_references_and_never_merge_two_entries() -> None:
    def details(refs: str) -> str:
        return f"<NtryDtls><TxDtls><Refs>{refs}</Refs></TxDtls></NtryDtls>"

    entries = [
        ntry(ref="<AcctSvcrRef>NONREF</AcctSvcrRef>", info="a"),
        ntry(details=details("<AcctSvcrRef>TX-9</AcctSvcrRef>"), info="b"),
        ntry(details=details("<EndToEndId>E2E-7</EndToEndId>"), info="c"),
        ntry(ref="<AcctSvcrRef>SAME</AcctSvcrRef>", info="d"),
        ntry(ref="<AcctSvcrRef>SAME</AcctSvcrRef>", info="e"),
    ]
    entries.insert(0, ntry(info="z").replace("<Ntry>", "<Ntry><NtryRef>REF-20240301-77</NtryRef>"))
    ids = [r.get("id") for r in rows_of(parse(camt("".join(entries))))]
    assert ids == [f"{DE_ID}:REF-20240301-77", None, f"{DE_ID}:TX-9",
                   f"{DE_ID}:2024-03-01:E2E-7", None, None]  # fmt: skip


def test_status_sign_and_amount_rules() -> None:
    rows = rows_of(
        parse(
            camt(
                ntry(status="<Sts><Cd>PDNG</Cd></Sts>", booked="", info="a")
                + ntry("12.500", "CRDT", status="<Sts>INFO</Sts>", info="b")
            )
        )
    )
    assert [(r["pending"], r["amount"], r["date"]) for r in rows] == [
        (True, Decimal("-10.00"), dt.date(2024, 3, 5)),  # no date: the report's own
        (True, Decimal("12.50"), dt.date(2024, 3, 1)),
    ]
    for bad, where in [
        (ntry("12.345"), "Ntry[1]/Amt"),
        (ntry("-5.00"), "Ntry[1]/Amt"),
        (ntry("1e3"), "Ntry[1]/Amt"),
        (ntry(cd="CRED"), "Ntry[1]/CdtDbtInd"),
        (ntry(status="<Sts>DONE</Sts>"), "Ntry[1]/Sts"),
        (ntry(booked="<BookgDt><Dt>2024-02-30</Dt></BookgDt>"), "Ntry[1]/BookgDt/Dt"),
        (ntry("99999999999999999.00"), "Ntry[1]/Amt"),
    ]:
        (rejected,) = [i for i in parse(camt(bad)) if isinstance(i, Rejected)]
        assert rejected.source == f"Stmt[1]/{where}", bad


def test_accounts_other_ids_names_and_balance_choice() -> None:
    account = (
        "<Id><Othr><Id>0012-345678-01</Id></Othr></Id><Ccy>CHF</Ccy>"
        "<Svcr><FinInstnId><BICFI>RAIFCH22XXX</BICFI></FinInstnId></Svcr>"
    )

    balances = bal("CLAV", "900.00", "CRDT", "2024-03-04") + bal(
        "ITBD", "75.10", "DBIT", "2024-03-04"
    )
    items = parse(camt(ntry(), account=account, balances=balances))
    (acct,) = [i.data for i in items if isinstance(i, Record) and i.collection == "bank.accounts"]
    assert acct == {
        "id": "camt:0012-345678-01", "name": "RAIFCH22XXX 8-01", "currency": "CHF",
        "institution": "RAIFCH22XXX", "balance": Decimal("-75.10"),
        "balance_date": dt.date(2024, 3, 4),
    }  # fmt: skip
    assert rows_of(items)[0]["account_id"] == "camt:0012-345678-01"


def bal(code: str, amount: str, cd: str, day: str, *, v01: bool = False) -> str:
    """A balance; the 2006 versions write its type as ``Tp/Cd``."""
    tp = f"<Cd>{code}</Cd>" if v01 else f"<CdOrPrtry><Cd>{code}</Cd></CdOrPrtry>"
    return (
        f"<Bal><Tp>{tp}</Tp><Amt Ccy='CHF'>{amount}</Amt>"
        f"<CdtDbtInd>{cd}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>"
    )


NS52 = "urn:iso:std:iso:20022:tech:xsd:camt.052.001.02"


@pytest.mark.parametrize(
    ("ns", "balances", "expected"),
    [
        # A statement's closing booked balance, whatever later available ones say.
        (NS53, [("CLBD", "100.00", "CRDT", "2024-03-04"), ("CLAV", "900.00", "CRDT", "2024-03-06"),
                ("FWAV", "800.00", "CRDT", "2024-03-08")], ("100.00", "2024-03-04")),
        (NS53, [("FWAV", "800.00", "CRDT", "2024-03-08"), ("CLBD", "100.00", "CRDT", "2024-03-04"),
                ("OPBD", "40.00", "CRDT", "2024-03-01")], ("100.00", "2024-03-04")),
        # An intraday report: the interim booked balance is newer than yesterday's close.
        (NS52, [("CLBD", "50.00", "CRDT", "2024-03-03"), ("ITBD", "75.10", "DBIT", "2024-03-04"),
                ("ITAV", "924.90", "CRDT", "2024-03-04")], ("-75.10", "2024-03-04")),
        (NS52, [("PRCD", "60.00", "CRDT", "2024-03-03"), ("ITAV", "90.00", "CRDT", "2024-03-04")],
         ("60.00", "2024-03-03")),
        # Same type and date: the closing one outranks the interim one.
        (NS52, [("ITBD", "1.00", "CRDT", "2024-03-04"), ("CLBD", "2.00", "CRDT", "2024-03-04")],
         ("2.00", "2024-03-04")),
        # With no booked balance at all, the available one; a forward one never.
        (NS53, [("CLAV", "900.00", "CRDT", "2024-03-04")], ("900.00", "2024-03-04")),
        (NS53, [("FWAV", "800.00", "CRDT", "2024-03-08"), ("OPBD", "40.00", "CRDT", "2024-03-01")],
         None),
        # A booked balance that cannot be read leaves the balance unset, not a weaker one.
        (NS53, [("CLBD", "1,00", "CRDT", "2024-03-04"), ("CLAV", "900.00", "CRDT", "2024-03-04")],
         None),
        # The 2006 versions' Tp/Cd.
        ("urn:iso:std:iso:20022:tech:xsd:camt.052.001.01",
         [("PRCD", "60.00", "CRDT", "2024-03-03"), ("ITBD", "70.00", "CRDT", "2024-03-04")],
         ("70.00", "2024-03-04")),
    ],
)  # fmt: skip
def test_the_account_balance_is_the_latest_booked_one(
    ns: str, balances: list[tuple[str, str, str, str]], expected: tuple[str, str] | None
) -> None:
    v01 = ns.endswith(".001.01")
    data = camt(ntry(), ns=ns, balances="".join(bal(*b, v01=v01) for b in balances))
    items = parse(data)
    (acct,) = [i.data for i in items if isinstance(i, Record) and i.collection == "bank.accounts"]
    got = acct.get("balance"), acct.get("balance_date")
    assert got == ((Decimal(expected[0]), dt.date.fromisoformat(expected[1])) if expected
                   else (None, None))  # fmt: skip
    assert len(rows_of(items)) == 1  # the entry is imported whatever the balances


def batch(*amounts: str, cd: str = "DBIT", wrapped: bool = True) -> str:
    """An entry's transactions, one per amount ("" for none), in ``NtryDtls`` unless the
    2006 versions' shape (right under ``Ntry``) is asked for."""
    txs = ""
    for number, amount in enumerate(amounts, start=1):
        own = f'<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{cd}</CdtDbtInd>' if amount else ""
        txs += f"<TxDtls>{own}<RmtInf><Ustrd>Rechnung {number}</Ustrd></RmtInf></TxDtls>"
    return f"<NtryDtls>{txs}</NtryDtls>" if wrapped else txs


def test_half_broken_file_imports_the_good_rows_and_names_each_rejected_one(
    home: Path, tmp_path: Path
) -> None:
    # Given a statement where every other row is broken, a batch of two among them
    entries = [
        ntry("10.00", info="Bäckerei"),
        ntry("12,50", info="bad amount"),
        ntry("11.00", info="Kiosk"),
        ntry(booked="<BookgDt><Dt>2024-02-30</Dt></BookgDt>", info="bad date"),
        ntry("30.00", ref="<AcctSvcrRef>B-1</AcctSvcrRef>", details=batch("10.00", "20.00")),
        ntry("30.00", cd="CRED", details=batch("10.00", "20.00")),
        ntry("13.00", info="Apotheke"),
        ntry(status="<Sts>DONE</Sts>"),
    ]
    path = tmp_path / "half.xml"
    path.write_bytes(camt("".join(entries)))
    # When it is imported through the core
    report = cozy.import_files([path], grant=True, home=home)
    # Then the good rows are in, and each broken one is named with its file and element
    assert report["rows"][str(path)] == {"rows": 10, "read": 5, "rejected": 5, "skipped": 0}
    assert report["runs"][0]["rejected"] == [
        f"{path}:Stmt[1]/Ntry[2]/Amt: amount '12,50' is not an unsigned decimal like 1234.56",
        f"{path}:Stmt[1]/Ntry[4]/BookgDt/Dt: '2024-02-30' is not an ISO date",
        f"{path}:Stmt[1]/Ntry[6]/CdtDbtInd: CdtDbtInd 'CRED' is neither CRDT nor DBIT",
        f"{path}:Stmt[1]/Ntry[6]/NtryDtls/TxDtls[2]: part of the refused entry Stmt[1]/Ntry[6]",
        f"{path}:Stmt[1]/Ntry[8]/Sts: status 'DONE' is not BOOK, PDNG, INFO or FUTR",
    ]
    stored = sorted(cozy.frame("bank.transactions", home=home)["amount"])
    assert stored == [Decimal(a) for a in ("-20.00", "-13.00", "-11.00", "-10.00", "-10.00")]


def test_one_bad_amount_in_a_bank_statement_costs_that_row_only(
    granted: Path, tmp_path: Path
) -> None:
    path = tmp_path / "one_bad_amount.xml"
    path.write_bytes(_utf8_fixture().replace(">47.83<", ">47,83<").encode())
    result = run_cozy(granted, "import", str(path))
    assert result.code == 0, result.err
    assert "camt: 7 added, 0 updated, 0 unchanged, 1 rejected, 0 skipped" in result.out
    assert (
        f"  rejected: {path}:Stmt[1]/Ntry[3]/Amt: amount '47,83' is not an unsigned decimal"
        in result.out
    )
    assert transactions(DE_ID) == sorted((r for r in DE if r[3] != "-47.83"), key=_order)


def test_a_statement_whose_account_cannot_be_read_rejects_each_of_its_rows() -> None:
    data = camt(ntry() + ntry("30.00", details=batch("10.00", "20.00")), account="<Ccy>EUR</Ccy>")
    items = parse(data)
    reason = "the account has neither an IBAN nor another id (Stmt[1]/Acct/Id)"
    assert items == [
        Rejected(reason, "Stmt[1]/Ntry[1]"),
        Rejected(reason, "Stmt[1]/Ntry[2]"),
        Rejected(reason, "Stmt[1]/Ntry[2]/NtryDtls/TxDtls[2]"),
    ]
    assert census(data) == 3


def test_a_batch_that_cannot_be_split_is_one_row_and_its_other_transactions_are_skipped(
    home: Path,
) -> None:
    path = FIXTURES / "nl_ing_camt053_v02.xml"
    report = cozy.import_files([path], grant=True, home=home)
    assert report["rows"][str(path)] == {"rows": 8, "read": 7, "rejected": 0, "skipped": 1}
    assert report["runs"][0]["skipped"] == [
        f"{path}:Stmt[1]/Ntry[4]/NtryDtls/TxDtls[2]: part of the batch Stmt[1]/Ntry[4], imported "
        "as one row for its total (its transactions carry no amounts that add up to it)"
    ]
    # The 2006 versions put TxDtls right under the entry: counted and skipped the same way
    v01 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.01"
    data = camt(ntry("30.00", details=batch("", "", wrapped=False)), ns=v01)
    items = parse(data)
    assert [i.source for i in items if isinstance(i, Skipped)] == ["Stmt[1]/Ntry[1]/TxDtls[2]"]
    assert accounted(items) == census(data) == 2


@pytest.mark.parametrize("name", GOOD)
def test_census_counts_exactly_the_rows_parse_accounts_for(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    assert accounted(parse(data)) == census(data) > 0


@pytest.mark.parametrize(
    "ns",
    [f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{v:02d}" for v in range(1, 11)]
    + [f"urn:iso:std:iso:20022:tech:xsd:camt.052.001.{v:02d}" for v in range(1, 9)]
    + [""],
)
def test_every_version_reads_the_same(ns: str) -> None:
    data = camt(ntry(ref="<AcctSvcrRef>R1</AcctSvcrRef>"), ns=ns)
    if not ns:
        data = data.replace(b' xmlns=""', b"")
    assert CamtImporter.identify("x.xml", data)
    (row,) = rows_of(parse(data))
    assert (row["id"], row["amount"], row["date"]) == (
        f"{DE_ID}:R1", Decimal("-10.00"), dt.date(2024, 3, 1),
    )  # fmt: skip


def test_a_statement_wrapped_in_a_business_application_header_is_read() -> None:
    inner = camt(ntry()).split(b"?>", 1)[1]
    data = (
        b'<?xml version="1.0" encoding="UTF-8"?><BizMsgEnvlp><AppHdr '
        b'xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02"><MsgDefIdr>camt.053.001.02'
        b"</MsgDefIdr></AppHdr>" + inner + b"</BizMsgEnvlp>"
    )
    assert CamtImporter.identify("x.xml", data)
    assert len(rows_of(parse(data))) == 1


def test_a_large_statement_is_claimed_from_its_head_and_read_quickly() -> None:
    data = camt("".join(ntry(f"{i}.{i % 100:02d}", info=f"Zahlung {i}") for i in range(5000)))
    assert len(data) > 64 * 1024
    assert CamtImporter.identify("big.xml", data[: 64 * 1024])
    start = time.perf_counter()
    assert len(rows_of(parse(data))) == 5000
    assert time.perf_counter() - start < 20  # linear: a quadratic reader would take minutes


def test_a_latin1_statement_that_says_so_reads_like_utf8() -> None:
    utf8 = (FIXTURES / "de_sparkasse_camt053_v02.xml").read_bytes()
    latin1 = utf8.decode().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1")
    assert parse(latin1) == parse(utf8)


# --- identify ----------------------------------------------------------------------------

OTHER_FORMATS = {
    "ofx1.ofx": b"OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nENCODING:USASCII\nCHARSET:1252\n\n"
    b"<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKTRANLIST><STMTTRN>"
    b"<TRNTYPE>DEBIT<DTPOSTED>20240301<TRNAMT>-12.50<FITID>1<NAME>CAFE</STMTTRN>"
    b"</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n",
    "ofx2.ofx": b'<?xml version="1.0" encoding="UTF-8"?>\n<?OFX OFXHEADER="200" VERSION="220" '
    b'SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n<OFX><BANKMSGSRSV1><STMTTRNRS>'
    b"<STMTRS><CURDEF>EUR</CURDEF><BANKTRANLIST><STMTTRN><TRNTYPE>DEBIT</TRNTYPE>"
    b"<DTPOSTED>20240301</DTPOSTED><TRNAMT>-12.50</TRNAMT><FITID>1</FITID></STMTTRN>"
    b"</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n",
    "bank.qif": "!Type:Bank\nD03/01/2024\nT-12.50\nPCafé de Flore\n^\n".encode(),
    "bank.csv": "Date;Libellé;Montant\n01/03/2024;CB CAFÉ DE FLORE;-12,50\n".encode("cp1252"),
    "camt054.xml": b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
    b'camt.054.001.02"><BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>1</MsgId></GrpHdr>'
    b"</BkToCstmrDbtCdtNtfctn></Document>",
    "mislabelled.xml": b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02">'
    b"<BkToCstmrStmt/></Document>",
    "page.html": b"<!DOCTYPE html><html><body><p>BkToCstmrStmt camt.053</p></body></html>",
    "empty.xml": b"",
}


def test_identify_claims_every_camt_fixture_and_nothing_else() -> None:
    for name in GOOD:
        assert CamtImporter.identify(name, (FIXTURES / name).read_bytes()[: 64 * 1024]), name
    for name, head in OTHER_FORMATS.items():
        assert not CamtImporter.identify(name, head), name
    for name in ("not_camt_pain001_v03.xml", "bomb_billion_laughs.xml"):
        assert not CamtImporter.identify(name, (FIXTURES / name).read_bytes()), name


def test_a_pain001_payment_order_is_not_claimed(home: Path) -> None:
    path = FIXTURES / "not_camt_pain001_v03.xml"
    result = run_cozy(home, "import", str(path), "--yes")
    assert result.code == 4
    assert "no importer recognises this file" in result.err
    assert str(path) in result.err


# --- bad files ---------------------------------------------------------------------------


@pytest.fixture
def granted(home: Path) -> Path:
    """A workspace holding one imported statement, so a failed import has something to keep."""
    import_ok("nl_ing_camt053_v02.xml")
    return home


def _utf8_fixture() -> str:
    return (FIXTURES / "de_sparkasse_camt053_v02.xml").read_text(encoding="utf-8")


BAD_FILES = {
    "truncated.xml": (_utf8_fixture()[:7000].encode(), (), "unreadable XML: "),
    "garbage.xml": (bytes(range(256)) * 8, ("--importer", "camt"), "unreadable XML: "),
    "wrong_encoding.xml": (_utf8_fixture().encode("latin-1"), (),
                           "invalid token): line 28, column 27"),
    "every_amount_bad.xml": (
        re.sub(r'(<Ntry>\s*<Amt Ccy="EUR">\d+)\.', r"\1,", _utf8_fixture()).encode(),
        (),
        "every_amount_bad.xml:Stmt[1]/Ntry[1]/Amt: amount '1150,00' is not an unsigned decimal "
        "like 1234.56 (and the 6 other rows); no row of this file could be read",
    ),
    "bomb.xml": ((FIXTURES / "bomb_billion_laughs.xml").read_bytes(), ("--importer", "camt"),
                 "declares a DTD"),
    "not_camt.xml": (OTHER_FORMATS["camt054.xml"], ("--importer", "camt"),
                     "not a camt.053 statement or camt.052 report"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_fails_with_one_line_naming_it_and_changes_nothing(
    granted: Path, tmp_path: Path, name: str
) -> None:
    data, args, message = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    before = snapshot(granted)
    result = run_cozy(granted, "import", str(path), *args)
    assert result.code == 4, result.err
    assert result.err.count("\n") == 1 and result.err.startswith(f"cozy: {path}")
    assert message in result.err
    assert snapshot(granted) == before


def test_a_billion_laughs_file_is_refused_without_expanding_it(granted: Path) -> None:
    path = FIXTURES / "bomb_billion_laughs.xml"
    before = snapshot(granted)
    start = time.perf_counter()
    result = run_cozy(granted, "import", str(path))
    assert result.code == 4
    assert time.perf_counter() - start < 30
    assert result.err.count("\n") == 1 and str(path) in result.err
    assert snapshot(granted) == before
    with pytest.raises(BadInput, match="declares a DTD"):
        parse(path.read_bytes())


# --- fuzzing -----------------------------------------------------------------------------

SAMPLES = [(FIXTURES / n).read_bytes() for n in GOOD]
TOKENS = [
    b"", b"-1.005", b"1e9", b"12,50", b"DBIT", b"CRDT", b"PDNG", b"true", b"2024-02-30",
    b"2024-03-01T25:00:00+01:00", b"<Ntry>", b"</Ntry>", b"<Amt>", b"<Sts><Cd>INFO</Cd></Sts>",
    b"&amp;", b"&#0;", b"\xff\xfe", b"\xc3", b"<!DOCTYPE x>", b"<![CDATA[<x>]]>", b"NaN",
    b"999999999999999999999999.99", "Ü".encode(),
]  # fmt: skip
ENCODERS = {name: coll.encoder() for name, coll in BUILTIN.items()}


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        texts = list(re.finditer(rb">([^<>]*)<", bytes(data)))
        op = draw(st.sampled_from(["text", "flip", "cut", "insert"]))
        if op == "text" and texts:
            match = draw(st.sampled_from(texts))
            data[match.start(1) : match.end(1)] = draw(st.sampled_from(TOKENS))
        elif op == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif op == "cut":
            start = draw(st.integers(0, len(data)))
            del data[start : start + draw(st.integers(1, 400))]
        else:
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.sampled_from(TOKENS))
    return bytes(data)


def _parse_only_yields_valid_items(data: bytes) -> None:
    assert isinstance(CamtImporter.identify("fuzz.xml", data[: 64 * 1024]), bool)
    try:
        items = parse(data)
    except BadInput as exc:
        assert "\n" not in str(exc)
        return
    assert all(isinstance(item, Record | Rejected | Skipped) for item in items)
    assert accounted(items) == census(data)
    for record in assign_ids([i for i in items if isinstance(i, Record)]):
        ENCODERS[record.collection](record.data)  # every record fits its schema


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _parse_only_yields_valid_items(data)


@settings(max_examples=200, deadline=None)
@given(mutated())
def test_fuzz_mutated_fixtures(data: bytes) -> None:
    _parse_only_yields_valid_items(data)
