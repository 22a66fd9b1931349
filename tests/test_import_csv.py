"""The bank CSV importer: real exports from French, Spanish, British, German and US banks.

Each fixture imitates one bank's download (encoding, delimiter, preamble, footer, decimal
comma, date order, multi-line labels); the golden table says exactly what must land in the
store. Bad files must fail as a whole, with one line naming the file (and the line), and leave
the store as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cozy_kernel as cozy
from cozy_connectors.csvbank import CsvImporter
from cozy_connectors.csvbank.values import AmountReader, DateReader, OrderVote
from cozy_kernel.connector import Record, Rejected, Skipped
from cozy_kernel.errors import BadInput, NotFound
from cozy_kernel.importer import Statement, route
from cozy_kernel.workspace import Workspace
from tests.conftest import run_cozy

FIXTURES = Path(__file__).parent / "fixtures" / "csv"

# Per fixture: --account (None: the bank profile's account), account id, account fields that
# must be set, and every transaction as (date, amount, currency, pending, label).
GOLDEN: dict[str, tuple[str | None, str, dict[str, object], list[tuple]]] = {
    "fr_bnp_paribas.csv": (
        None,
        "csv:bnp-paribas",
        {"name": "BNP Paribas", "currency": "EUR", "institution": "BNP Paribas"},
        [
            (
                "2024-06-10",
                "-45.90",
                "EUR",
                False,
                "FACTURE CARTE DU 08/06/24 CARREFOUR MARKET PARIS 11",
            ),
            (
                "2024-06-07",
                "2850.00",
                "EUR",
                False,
                "VIR SEPA RECU /DE ACME SAS /MOTIF SALAIRE JUIN",
            ),
            ("2024-06-05", "-78.12", "EUR", False, "PRLV SEPA EDF CLIENTS PARTICULIERS"),
            ("2024-06-05", "-4.50", "EUR", False, "FACTURE CARTE DU 04/06/24 CAFÉ DE FLORE PARIS"),
            ("2024-06-05", "-4.50", "EUR", False, "FACTURE CARTE DU 04/06/24 CAFÉ DE FLORE PARIS"),
            ("2024-06-03", "-60.00", "EUR", False, "RETRAIT DAB 02/06/24 BNP PARIBAS PARIS OPÉRA"),
        ],
    ),
    "fr_credit_agricole.csv": (
        None,
        "csv:credit-agricole",
        {"name": "Crédit Agricole", "currency": "EUR"},
        [
            (
                "2024-06-11",
                "-8.40",
                "EUR",
                False,
                "PAIEMENT PAR CARTE BOULANGERIE LA PÂTISSIÈRE 10/06",
            ),
            (
                "2024-06-10",
                "312.45",
                "EUR",
                False,
                "VIREMENT EN VOTRE FAVEUR CAF DE LA GIRONDE PRESTATIONS JUIN",
            ),
            ("2024-06-06", "-39.99", "EUR", False, "PRELEVEMENT ORANGE SA FACTURE 062024"),
            ("2024-06-04", "-1102.37", "EUR", False, "PAIEMENT PAR CARTE LECLERC DRIVE 03/06"),
        ],
    ),
    "fr_societe_generale.csv": (
        None,
        "csv:societe-generale",
        {"name": "Société Générale", "currency": "EUR"},
        [
            ("2024-05-31", "-89.99", "EUR", False, "CARTE X1234 30/05 FNAC MONTPARNASSE PARIS"),
            (
                "2024-05-29",
                "25.00",
                "EUR",
                False,
                "VIR RECU 1234567 VIR RECU DE: MME ÉLODIE MARTIN MOTIF: REMBOURSEMENT RESTAURANT",
            ),
            (
                "2024-05-28",
                "-19.99",
                "EUR",
                False,
                "PRELEVEMENT EUROPEEN 7654321 DE: FREE MOBILE MOTIF: FORFAIT MAI",
            ),
            ("2024-05-27", "-32.00", "EUR", False, "CARTE X1234 26/05 RESTAURANT L'ÎLE DE RÉ"),
        ],
    ),
    "fr_boursorama.csv": (
        None,
        "csv:boursorama",
        {"name": "Boursorama Banque", "currency": "EUR"},
        [
            ("2024-06-10", "-23.45", "EUR", False, "CARTE 08/06/24 MONOPRIX PARIS 11 CB*1234"),
            ("2024-06-08", "-1234.56", "EUR", False, "CARTE 06/06/24 SNCF CONNECT CB*1234"),
            ("2024-06-07", "1200.00", "EUR", False, "VIR SEPA M. ÉTIENNE LEFÈVRE"),
            ("2024-06-03", "-86.40", "EUR", False, "PRLV SEPA NAVIGO SERVICE"),
        ],
    ),
    "es_bbva.csv": (
        None,
        "csv:bbva",
        {
            "iban": "ES9121000418450200051332",
            "balance": Decimal("1943.77"),
            "balance_date": "2024-06-03",
        },
        [
            ("2024-06-03", "-56.23", "EUR", False, "MERCADONA AV. DE LA CONSTITUCIÓN"),
            ("2024-06-01", "-3.80", "EUR", False, "PANADERÍA NUÑEZ"),
            ("2024-05-31", "2100.00", "EUR", False, "NÓMINA ACME IBÉRICA S.L."),
            ("2024-05-30", "-71.15", "EUR", False, "RECIBO ENDESA ENERGÍA"),
        ],
    ),
    "es_santander.csv": (
        None,
        "csv:santander",
        {"iban": "ES6000491500051234567892", "balance": Decimal("3210.44")},
        [
            (
                "2024-05-28",
                "-1234.56",
                "EUR",
                False,
                "COMPRA TARJ. 5402XXXXXXXX1234 EL CORTE INGLÉS-MADRID",
            ),
            (
                "2024-05-27",
                "-64.30",
                "EUR",
                False,
                "RECIBO IBERDROLA CLIENTES S.A.U. Nº RECIBO 0049 1234",
            ),
            ("2024-05-25", "35.00", "EUR", False, "TRANSFERENCIA DE ÍÑIGO LÓPEZ, CONCEPTO CENA"),
        ],
    ),
    "es_caixabank.csv": (
        None,
        "csv:caixabank",
        {"balance": Decimal("1390.20"), "balance_date": "2024-05-15"},
        [
            ("2024-05-15", "-60.00", "EUR", False, "CAJERO CAIXABANK OFICINA 1234 BARCELONA"),
            ("2024-05-14", "150.00", "EUR", False, "TRANSF. A SU FAVOR DE JORDI FERRÀ I PUJOL"),
            ("2024-05-13", "-3.20", "EUR", False, "COMPRA TARJETA CAFETERÍA ÑAM ÑAM GIRONA"),
            ("2024-05-13", "-12.75", "EUR", False, "COMPRA TARJETA LA SEÑORA MARÍA, MERCAT"),
        ],
    ),
    "uk_barclays.csv": (
        None,
        "csv:barclays",
        {"name": "Barclays", "currency": "GBP"},
        [
            (
                "2024-05-21",
                "-12.30",
                "GBP",
                False,
                "TESCO STORES 3297       ON 20 MAY          BCC",
            ),
            ("2024-05-20", "-1250.00", "GBP", False, "LANDLORD RENT LTD      RENT MAY"),
            ("2024-05-17", "2450.00", "GBP", False, "ACME UK LTD            SALARY MAY"),
            ("2024-05-16", "-3.40", "GBP", False, "CAFÉ NERO, KINGS CROSS ON 15 MAY BCC"),
            ("2024-05-15", "-40.00", "GBP", False, "LINK ATM £40 ON 14 MAY"),
        ],
    ),
    "uk_hsbc.csv": (
        None,
        "csv:hsbc-uk",
        {"name": "HSBC UK", "currency": "GBP"},
        [
            ("2024-05-21", "-12.30", "GBP", False, "TESCO STORES 3297 LONDON"),
            ("2024-05-20", "-3.45", "GBP", False, "CAFFÈ NERO KINGS X"),
            ("2024-05-17", "2450.00", "GBP", False, "ACME UK LTD SALARY"),
            ("2024-05-15", "-8.10", "GBP", False, "TFL TRAVEL CH"),
        ],
    ),
    "uk_monzo.csv": (
        None,
        "csv:monzo",
        {"name": "Monzo", "currency": "GBP"},
        [
            ("2024-06-01", "-4.25", "GBP", False, "PRET A MANGER KINGS X LONDON GBR"),
            ("2024-06-01", "25.00", "GBP", False, "ZOË SMITH"),
            ("2024-06-02", "-38.50", "GBP", False, "THAMES WATER"),
            ("2024-06-03", "-15.73", "GBP", False, "CAFÉ DE LA PAIX PARIS FRA"),
        ],
    ),
    "uk_revolut.csv": (
        None,
        "csv:revolut",
        {"currency": "GBP", "balance": Decimal("99.04"), "balance_date": "2024-06-03"},
        [
            ("2024-06-01", "200.00", "GBP", False, "Top-up by *1234"),
            ("2024-06-02", "-12.80", "GBP", False, "Café Müller"),
            ("2024-06-03", "-100.50", "GBP", False, "Exchanged to EUR"),
            ("2024-06-05", "-23.45", "GBP", True, "Uber Eats"),
        ],
    ),
    # ING Netherlands: year-first dates without separators, positive amounts signed by the
    # "Af Bij" column, the account's IBAN in its own column, the currency in a header.
    "nl_ing.csv": (
        None,
        "csv:nl20ingb0001234567",
        {"currency": "EUR", "iban": "NL20INGB0001234567"},
        [
            ("2024-06-03", "-23.45", "EUR", False, "Albert Heijn 1234 AMSTERDAM"),
            ("2024-06-04", "2850.00", "EUR", False, "Werkgever B.V."),
            ("2024-06-05", "-89.00", "EUR", False, "Vattenfall Klantenservice N.V."),
            ("2024-06-05", "-4.50", "EUR", False, "Café 't Smalle AMSTERDAM"),
            ("2024-06-06", "-4.50", "EUR", False, "Café 't Smalle AMSTERDAM"),
        ],
    ),
    # Swedbank (Baltics): quotes inside quoted fields are not doubled; balance and turnover
    # rows are no transactions; D/K says the direction.
    "lv_swedbank.csv": (
        None,
        "csv:swedbank",
        {"currency": "EUR", "iban": "LV87HABA0551012345678", "institution": "Swedbank"},
        [
            ("2024-06-03", "-23.45", "EUR", False, 'Pirkums SIA "Rimi Latvia" Rīga 03.06.2024'),
            ("2024-06-04", "-41.20", "EUR", False, 'Rēķins Nr. 123 "Elektrība" jūnijs'),
            ("2024-06-05", "1800.00", "EUR", False, "Alga par maiju"),
        ],
    ),
    # American Express (US): purchases are positive, payments and returns negative.
    "us_amex.csv": (
        None,
        "csv:american-express",
        {"currency": "USD", "type": "card", "institution": "American Express"},
        [
            ("2024-06-03", "-84.12", "USD", False, "WHOLEFDS SFO 10234 SAN FRANCISCO CA"),
            ("2024-06-04", "-6.50", "USD", False, "BLUE BOTTLE COFFEE OAKLAND CA"),
            ("2024-06-05", "500.00", "USD", False, "AUTOPAY PAYMENT - THANK YOU"),
            ("2024-06-07", "23.99", "USD", False, "AMAZON.COM*2K4LM AMZN.COM/BILL WA"),
        ],
    ),
    "de_deutsche_bank.csv": (
        None,
        "csv:deutsche-bank",
        {"name": "Deutsche Bank", "currency": "EUR"},
        [
            (
                "2024-06-10",
                "-6.80",
                "EUR",
                False,
                "Bäckerei Müller Hauptstraße 12//München/DE 2024-06-09T07:45:12 Karte 1 2027-12",
            ),
            ("2024-06-07", "-50.00", "EUR", False, "Geschenk für Jürgen, liebe Grüße"),
            ("2024-06-03", "-950.00", "EUR", False, "Miete Juni 2024 Whg. 3 OG links"),
            ("2024-05-31", "3120.00", "EUR", False, "Lohn/Gehalt 05/2024"),
        ],
    ),
    "de_sparkasse.csv": (
        None,
        "csv:sparkasse",
        {"iban": "DE89370400440532013000", "institution": "Sparkasse"},
        [
            (
                "2024-06-12",
                "-23.45",
                "EUR",
                True,
                "2024-06-11T18:22 Debitk.1 2027-12 EDEKA Großmarkt",
            ),
            ("2024-06-10", "-89.00", "EUR", False, "Strom Abschlag Juni Vertragskonto 4711"),
            (
                "2024-06-05",
                "-100.00",
                "EUR",
                False,
                "GA NR00001234 BLZ37050198 0 05.06/12.01UHR KÖLN HBF",
            ),
            ("2024-05-31", "3245.10", "EUR", False, "Gehalt Mai 2024"),
        ],
    ),
    "de_ing.csv": (
        None,
        "csv:ing-de",
        {
            "iban": "DE44500105175407324931",
            "balance": Decimal("1234.56"),
            "balance_date": "2024-06-11",
        },
        [
            (
                "2024-06-11",
                "-31.47",
                "EUR",
                False,
                "NR XXXX 1234 BERLIN KAUFUMSATZ 09.06 184512 ARN74010",
            ),
            ("2024-06-07", "412.00", "EUR", False, "Steuererstattung 2023 StNr 215/5678/1234"),
            (
                "2024-06-04",
                "-55.08",
                "EUR",
                False,
                "Rundfunkbeitrag 06.2024 - 08.2024 Beitragsnr. 123456789",
            ),
            ("2024-06-03", "-4.90", "EUR", False, "Entgelt für Kontoführung Mai"),
        ],
    ),
    "us_chase.csv": (
        None,
        "csv:chase",
        {"currency": "USD", "balance": Decimal("1523.18"), "balance_date": "2024-06-10"},
        [
            (
                "2024-06-10",
                "-6.45",
                "USD",
                False,
                "STARBUCKS STORE 12345 SEATTLE WA          06/08",
            ),
            (
                "2024-06-07",
                "2750.00",
                "USD",
                False,
                "ACME CORP       PAYROLL                    PPD ID: 9876543210",
            ),
            (
                "2024-06-05",
                "-112.40",
                "USD",
                False,
                "CON EDISON       CON ED BIL                 PPD ID: 1234567890",
            ),
            ("2024-06-03", "-300.00", "USD", False, "CHECK 1042"),
        ],
    ),
    "us_bank_of_america.csv": (
        None,
        "csv:bank-of-america",
        {"balance": Decimal("6366.67"), "balance_date": "2024-05-28"},
        [
            ("2024-05-02", "-87.45", "USD", False, "WHOLE FOODS MARKET #10234 AUSTIN TX"),
            (
                "2024-05-15",
                "3200.00",
                "USD",
                False,
                "ACME INC DES:PAYROLL ID:XXXXX12345 INDN:DOE JOHN CO ID:XXXXX WEB",
            ),
            ("2024-05-20", "-150.00", "USD", False, "Zelle payment to María Núñez Conf# abc123"),
            ("2024-05-28", "-1608.22", "USD", False, "GEICO DES:AUTOPAY ID:9999 INDN:DOE JOHN"),
        ],
    ),
    "us_wells_fargo.csv": (
        None,
        "csv:wells-fargo",
        {"name": "Wells Fargo", "currency": "USD"},
        [
            (
                "2024-05-28",
                "-45.67",
                "USD",
                False,
                "PURCHASE AUTHORIZED ON 05/25 SAFEWAY #1234 SAN JOSE CA S384146123456789 CARD 1234",
            ),
            ("2024-05-24", "1850.00", "USD", False, "ACME PAYROLL PPD REF 12345"),
            ("2024-05-21", "-120.00", "USD", False, "CHECK # 1043"),
            (
                "2024-05-03",
                "-9.99",
                "USD",
                False,
                "RECURRING PAYMENT AUTHORIZED ON 05/02 NETFLIX.COM CA",
            ),
        ],
    ),
    "generic_credit_union_tab.csv": (
        "Credit Union",
        "csv:credit-union",
        {"name": "Credit Union", "currency": "USD", "balance": Decimal("2652.69")},
        [
            ("2024-06-03", "-12.75", "USD", False, "POS PURCHASE CAFÉ OLÉ SANTA FE NM"),
            ("2024-06-04", "1500.00", "USD", False, "ACH DEPOSIT STATE OF NM PAYROLL"),
            ("2024-06-04", "-1234.56", "USD", False, "SHARE DRAFT #211"),
        ],
    ),
    "generic_volksbank.csv": (
        "Volksbank Girokonto",
        "csv:volksbank-girokonto",
        {"currency": "EUR"},
        [
            ("2024-06-03", "-18.90", "EUR", False, "Basislastschrift Rechnung 2024-117"),
            ("2024-06-04", "1250.00", "EUR", False, "Gutschrift Rückzahlung Urlaub"),
        ],
    ),
    "generic_pipe_chf.csv": (
        "Compte Genève",
        "csv:compte-geneve",
        {"name": "Compte Genève", "currency": "CHF"},
        [
            ("2024-05-28", "-200.00", "CHF", False, "RETRAIT BANCOMAT GENÈVE CORNAVIN"),
            ("2024-05-29", "6512.40", "CHF", False, "VERSEMENT SALAIRE HÔPITAUX UNIVERSITAIRES"),
            ("2024-05-30", "-87.15", "CHF", False, "ACHAT CARTE MIGROS LAUSANNE"),
            ("2024-05-31", "-42.00", "EUR", False, "ACHAT CARTE FNAC ANNEMASSE"),
        ],
    ),
}
BANK_FIXTURES = sorted(GOLDEN)
CUSTOM = "generic_custom_columns.csv"
CUSTOM_COLUMNS = "columns=date:Jour,label:Opération,amount:Somme"

OTHER_FORMATS = {
    "statement.ofx": (
        b"OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:USASCII\r\n"
        b"CHARSET:1252\r\nCOMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n"
        b"<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>30004"
        b"<ACCTID>0001234<ACCTTYPE>CHECKING</BANKACCTFROM><BANKTRANLIST>\r\n"
        b"<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240605<TRNAMT>-4.50<FITID>1\r\n"
        b"<NAME>Date;Montant;Libelle\r\n</STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS>"
        b"</BANKMSGSRSV1></OFX>\r\n"
    ),
    "statement.qfx": (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<?OFX OFXHEADER="200" VERSION="220" '
        b'SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n<OFX><BANKMSGSRSV1>'
        b"<STMTTRNRS><STMTRS><CURDEF>USD</CURDEF><BANKTRANLIST><STMTTRN><TRNTYPE>DEBIT"
        b"</TRNTYPE><DTPOSTED>20240605</DTPOSTED><TRNAMT>-4.50</TRNAMT><FITID>1</FITID>"
        b"</STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    ),
    "statement.qif": (
        b"!Type:Bank\nD06/05/2024\nT-4.50\nPCAFE DE FLORE\nLDate,Amount\n^\n"
        b"D06/07/2024\nT2,850.00\nPACME SAS\n^\n"
    ),
    "statement.xml": (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:'
        b'tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Ntry><Amt Ccy="EUR">4.50</Amt>'
        b"<CdtDbtInd>DBIT</CdtDbtInd><BookgDt><Dt>2024-06-05</Dt></BookgDt></Ntry></Stmt>"
        b"</BkToCstmrStmt></Document>\n"
    ),
    "notes.txt": "Liste de courses : pain, café, crème fraîche\n".encode(),
    "contacts.csv": b"Name;Email;Phone\nAlice;alice@example.org;+33 6 12 34 56 78\n",
    "photo.jpg": bytes(range(256)) * 4,
    "empty.csv": b"",
}


def transactions() -> list[tuple]:
    frame = cozy.frame("bank.transactions")
    return sorted(
        (d.date().isoformat(), str(a), c, bool(p), lab)
        for d, a, c, p, lab in zip(
            frame["date"],
            frame["amount"],
            frame["currency"],
            frame["pending"],
            frame["label"],
            strict=True,
        )
    )


def store_rows(home: Path) -> list[tuple]:
    """Everything the store holds about accounts and transactions, for before/after checks."""
    with sqlite3.connect(home / "cozy.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return [
            row
            for table in sorted(tables & {"bank.accounts", "bank.transactions"})
            for row in db.execute(f'SELECT * FROM "{table}" ORDER BY id')
        ]


def parse(path: Path, data: bytes | None = None, account: str | None = None, **options: str):
    statement = Statement(path, path.read_bytes() if data is None else data, account, options)
    return list(CsvImporter({}).parse(statement))


# --- golden files -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BANK_FIXTURES)
def test_each_bank_export_imports_exactly_its_transactions(home: Path, name: str) -> None:
    account, account_id, fields, expected = GOLDEN[name]

    report = cozy.import_files([FIXTURES / name], account=account, grant=True)

    assert report["files"] == {str(FIXTURES / name): "csv"}
    assert transactions() == sorted((d, str(Decimal(a)), c, p, lab) for d, a, c, p, lab in expected)
    tx = cozy.frame("bank.transactions")
    assert set(tx["account_id"]) == {account_id}
    assert all(isinstance(a, Decimal) for a in tx["amount"])
    accounts = cozy.frame("bank.accounts").set_index("id")
    assert list(accounts.index) == [account_id]
    for field, value in fields.items():
        got = accounts.loc[account_id, field]
        if field == "balance_date":
            got = got.date().isoformat()
        assert got == value, field


def test_columns_beyond_the_basics_are_read(home: Path) -> None:
    # Monzo carries bank ids; German exports name the counterparty and the payment method;
    # BBVA and Revolut have value dates.
    cozy.import_files([FIXTURES / f for f in ("uk_monzo.csv", "de_deutsche_bank.csv")], grant=True)
    cozy.import_files([FIXTURES / "es_bbva.csv", FIXTURES / "uk_revolut.csv"], grant=True)
    tx = cozy.frame("bank.transactions").set_index("id")

    assert tx.loc["csv:monzo:tx_0000AbCdEf126", "counterparty"] == "Café de la Paix"
    assert tx.loc["csv:monzo:tx_0000AbCdEf126", "method"] == "card"
    assert tx.loc["csv:monzo:tx_0000AbCdEf126", "category"] == "Eating out"
    german = tx[tx["account_id"] == "csv:deutsche-bank"].set_index("label")
    assert german.loc["Miete Juni 2024 Whg. 3 OG links", "counterparty"] == (
        "Hausverwaltung Weiß & Co. KG"
    )
    assert german.loc["Miete Juni 2024 Whg. 3 OG links", "method"] == "direct_debit"
    assert german.loc["Lohn/Gehalt 05/2024", "method"] == "transfer"
    bbva = tx[tx["account_id"] == "csv:bbva"].set_index("label")
    assert bbva.loc["PANADERÍA NUÑEZ", "date"] == dt.datetime(2024, 6, 1)
    assert bbva.loc["PANADERÍA NUÑEZ", "value_date"] == dt.datetime(2024, 6, 2)
    revolut = tx[tx["account_id"] == "csv:revolut"].set_index("label")
    assert revolut.loc["Café Müller", "value_date"] == dt.datetime(2024, 6, 3)
    assert "Señor Taco" not in revolut.index  # declined: no money moved


def test_the_same_text_reads_the_same_in_every_encoding(tmp_path: Path) -> None:
    text = "Date;Libellé;Montant\n13/06/2024;Café Señor Straße £5;-1 234,56\n"
    for encoding in ("utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))

        records = parse(path, account="Test", currency="EUR")

        tx = [r.data for r in records if isinstance(r, Record) and "label" in r.data]
        assert [t["label"] for t in tx] == ["Café Señor Straße £5"], encoding
        assert tx[0]["amount"] == Decimal("-1234.56")


def test_an_account_name_gives_the_account_its_id(home: Path) -> None:
    cozy.import_files([FIXTURES / "fr_bnp_paribas.csv"], account="Compte joint Élise", grant=True)

    accounts = cozy.frame("bank.accounts")
    assert list(accounts["id"]) == ["csv:compte-joint-elise"]
    assert list(accounts["name"]) == ["Compte joint Élise"]
    assert list(accounts["institution"]) == ["BNP Paribas"]


# --- identification ---------------------------------------------------------------------------


def test_identify_claims_every_bank_export_and_only_them(home: Path) -> None:
    ws = Workspace.open(home)
    for name in BANK_FIXTURES:
        head = (FIXTURES / name).read_bytes()[: 64 * 1024]
        assert CsvImporter.identify(name, head), name
        assert route(ws, FIXTURES / name, head) is CsvImporter, name
    for name, data in OTHER_FORMATS.items():
        assert not CsvImporter.identify(name, data), name
    # A table whose columns name no date and amount needs a mapping first.
    assert not CsvImporter.identify(CUSTOM, (FIXTURES / CUSTOM).read_bytes())


def test_identify_forgives_broken_characters_and_parse_names_the_line(tmp_path: Path) -> None:
    data = (FIXTURES / "es_bbva.csv").read_bytes()
    cut = data.index("NUÑEZ".encode()) + 3  # inside the two bytes of "Ñ"
    broken = tmp_path / "broken.csv"
    broken.write_bytes(data[:cut] + data[cut + 1 :])

    # The 64 KiB head may end inside a character; a stray byte still leaves a bank export.
    assert CsvImporter.identify("x.csv", data[: data.index("NÓMINA".encode()) + 2])
    assert CsvImporter.identify(broken.name, broken.read_bytes())
    with pytest.raises(BadInput, match=r"broken.csv:line 7: bytes are not UTF-8"):
        parse(broken)


# --- re-imports -------------------------------------------------------------------------------


def test_importing_the_same_file_again_adds_nothing(home: Path) -> None:
    first = cozy.import_files([FIXTURES / "fr_credit_agricole.csv"], grant=True)
    again = cozy.import_files([FIXTURES / "fr_credit_agricole.csv"])

    assert first["runs"][0]["added"] == 5  # four transactions and the account
    assert again["runs"][0]["added"] == 0
    assert len(cozy.frame("bank.transactions")) == 4


def test_an_overlapping_statement_adds_only_new_rows_and_keeps_twins(home: Path) -> None:
    # Given June 1-10, with two identical coffees on the 5th
    cozy.import_files([FIXTURES / "fr_bnp_paribas.csv"], grant=True)
    # When June 5-17 is imported: five rows overlap, two are new
    report = cozy.import_files([FIXTURES / "fr_bnp_paribas_next.csv"])

    assert report["runs"][0]["added"] == 2
    tx = cozy.frame("bank.transactions")
    assert len(tx) == 8
    coffees = tx[tx["label"] == "FACTURE CARTE DU 04/06/24 CAFÉ DE FLORE PARIS"]
    assert len(coffees) == 2 and coffees["id"].is_unique


def test_a_pending_row_booked_later_is_updated_not_duplicated(home: Path, tmp_path: Path) -> None:
    cozy.import_files([FIXTURES / "uk_revolut.csv"], grant=True)
    booked = (
        (FIXTURES / "uk_revolut.csv")
        .read_text()
        .replace(
            "2024-06-05 20:01:33,,Uber Eats,-23.45,0.00,GBP,PENDING,",
            "2024-06-05 20:01:33,2024-06-06 04:10:00,Uber Eats,-23.45,0.00,GBP,COMPLETED,75.59",
        )
    )
    later = tmp_path / "revolut-later.csv"
    later.write_text(booked)

    report = cozy.import_files([later])

    assert report["runs"][0]["added"] == 0
    tx = cozy.frame("bank.transactions")
    assert len(tx) == 4
    assert not tx["pending"].any()
    assert cozy.frame("bank.accounts")["balance"].tolist() == [Decimal("75.59")]


# --- bad files: exit 4, one line naming the file, nothing written -----------------------------


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    return path.read_bytes().decode(encoding).split("\n")


def _bad_files(tmp: Path) -> dict[str, tuple[bytes, list[str], str]]:
    """Bad variants of good fixtures: (bytes, extra CLI args, what stderr must say)."""
    agricole = (FIXTURES / "fr_credit_agricole.csv").read_bytes()
    bbva = (FIXTURES / "es_bbva.csv").read_bytes()
    bnp = _lines(FIXTURES / "fr_bnp_paribas.csv", "cp1252")
    bad_date = bnp.copy()
    bad_date[4] = bad_date[4].replace("07/06/2024", "31/06/2024")
    bad_amount = bnp.copy()
    bad_amount[6] = bad_amount[6].replace("-4,50", "-4,505")
    mixed = bbva.decode().split("\n")
    return {
        "truncated_in_quote.csv": (
            agricole[: agricole.index(b"CAF DE LA")],
            [],
            ":line 12: a quote opens a field here and never closes (is the file truncated?)",
        ),
        "truncated_mid_row.csv": (bbva[: bbva.index(b"PANADER")], [], ":line 7: no amount"),
        "garbage.csv": (bytes(random.Random(4).randrange(256) for _ in range(3000)), [], ""),
        "garbage_forced.csv": (b"\x89PNG\r\n\x1a\n\x00\x00" * 40, ["--importer", "csv"], "binary"),
        "mixed_encoding.csv": (  # UTF-8 up to line 8, then the last row in cp1252
            "\n".join(mixed[:8]).encode() + "\n".join(["", *mixed[8:]]).encode("cp1252"),
            [],
            ":line 9: bytes are not UTF-8",
        ),
        "wrong_encoding.csv": (
            (FIXTURES / "de_deutsche_bank.csv").read_bytes(),
            ["--option", "encoding=utf-8"],
            ":line 1: bytes are not valid utf-8",
        ),
        "bad_date.csv": (
            "\n".join(bad_date).encode("cp1252"),
            [],
            ":line 5: '31/06/2024' is not a valid date",
        ),
        "bad_amount.csv": (
            "\n".join(bad_amount).encode("cp1252"),
            [],
            ":line 7: '-4,505' has more than 2 decimal places",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "truncated_in_quote.csv",
        "garbage.csv",
        "garbage_forced.csv",
        "mixed_encoding.csv",
        "wrong_encoding.csv",
    ],
)
def test_a_bad_file_fails_whole_with_one_line_and_changes_nothing(
    home: Path, tmp_path: Path, case: str
) -> None:
    # Given a store that already holds a statement
    cozy.import_files([FIXTURES / "uk_monzo.csv"], grant=True)
    before = store_rows(home)
    raw_before = sorted((home / "raw").rglob("*"))
    data, args, says = _bad_files(tmp_path)[case]
    path = tmp_path / case
    path.write_bytes(data)

    result = run_cozy(home, "import", str(path), "--yes", *args)

    assert result.code == 4, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert str(path) in result.err
    assert says in result.err
    assert store_rows(home) == before
    assert sorted((home / "raw").rglob("*")) == raw_before


@pytest.mark.parametrize("case", ["truncated_mid_row.csv", "bad_date.csv", "bad_amount.csv"])
def test_a_bad_row_is_rejected_with_its_line_and_the_others_imported(
    home: Path, tmp_path: Path, case: str
) -> None:
    data, args, says = _bad_files(tmp_path)[case]
    path = tmp_path / case
    path.write_bytes(data)

    result = run_cozy(home, "import", str(path), "--yes", "--json", *args)

    assert result.code == 0, result.err
    report = json.loads(result.out)
    (run,) = report["runs"]
    assert run["rejected"] == [f"{path}{says}"]
    rows = report["rows"][str(path)]
    assert rows["read"] + rows["rejected"] + rows["skipped"] == rows["rows"]
    assert rows["rejected"] == 1 and run["added"] == rows["read"] + 1  # and the account
    logged = cozy.runs("csv")[0]
    assert logged["rejected"] == 1


def test_truly_ambiguous_dates_ask_for_the_format(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "ambiguous.csv"
    path.write_text(
        "Date,Description,Amount\n"
        "03/04/2024,COFFEE,-3.50\n01/02/2024,BOOKS,-12.00\n05/06/2024,SALARY,1500.00\n"
    )
    cozy.import_files([FIXTURES / "uk_hsbc.csv"], grant=True)

    failed = run_cozy(home, "import", str(path), "--account", "Card", "--option", "currency=USD")
    worked = run_cozy(
        home, "import", str(path), "--account", "Card",
        "--option", "currency=USD", "--option", "date_format=%m/%d/%Y",
    )  # fmt: skip

    assert failed.code == 4
    assert "03/04/2024" in failed.err and "--option date_format=%d/%m/%Y" in failed.err
    assert worked.code == 0, worked.err
    dates = cozy.frame("bank.transactions", since="2024-01-01", until="2024-12-31")
    card = dates[dates["account_id"] == "csv:card"]
    assert sorted(card["date"].dt.date) == [
        dt.date(2024, 1, 2), dt.date(2024, 3, 4), dt.date(2024, 5, 6)
    ]  # fmt: skip


def test_date_order_comes_from_the_whole_column_or_the_sort_order(tmp_path: Path) -> None:
    def order(*values: str) -> str | None:
        vote = OrderVote()
        for value in values:
            vote.feed(value)
        return vote.decide()

    assert order("01/02/2024", "03/02/2024", "13/02/2024") == "dmy"
    assert order("01/02/2024", "02/13/2024") == "mdy"
    assert order("2024-01-02") == "ymd"
    assert order("01.02.2024") == "dmy"
    # Only day-first runs in order: 1 Mar, 2 Mar, 1 Apr would be Jan 3, Feb 3, Jan 4.
    assert order("01/03/2024", "02/03/2024", "01/04/2024") == "dmy"
    assert order("03/01/2024", "03/02/2024", "04/01/2024") == "mdy"
    assert order("03/04/2024") is None


@pytest.mark.parametrize(
    ("raw", "order", "expected"),
    [
        ("03/06/2024", "dmy", dt.date(2024, 6, 3)),
        ("03.06.2024", "dmy", dt.date(2024, 6, 3)),
        ("03/06/24", "dmy", dt.date(2024, 6, 3)),
        ("06/03/2024", "mdy", dt.date(2024, 6, 3)),
        ("2024-06-03", "ymd", dt.date(2024, 6, 3)),
        ("2024-06-03 23:59:59", "ymd", dt.date(2024, 6, 3)),
        ("2024-06-03T23:30:00-08:00", "ymd", dt.date(2024, 6, 3)),
        ("3 Jun 2024", "dmy", dt.date(2024, 6, 3)),
        ("3 juin 2024", "mdy", dt.date(2024, 6, 3)),
        ("3 déc. 2024", "dmy", dt.date(2024, 12, 3)),
        ("03-Mär-2024", "dmy", dt.date(2024, 3, 3)),
        ("Jun 3, 2024", "mdy", dt.date(2024, 6, 3)),
    ],
)
def test_dates_read_as_the_bank_wrote_them(raw: str, order: str, expected: dt.date) -> None:
    assert DateReader(order)(raw) == expected


@pytest.mark.parametrize(
    ("raw", "decimal", "amount", "currency"),
    [
        ("-45,90", ",", "-45.90", None),
        ("1 234,56 €", ",", "1234.56", "EUR"),
        ("1\u00a0234,56", ",", "1234.56", None),
        ("-1\u202f234,56", ",", "-1234.56", None),
        ("1.234.567,89", ",", "1234567.89", None),
        ("1.234,56-", ",", "-1234.56", None),
        ("EUR -5,00", ",", "-5.00", "EUR"),
        ("+45,00", ",", "45.00", None),
        ("\u221212,00", ",", "-12.00", None),
        ("-£12.30", ".", "-12.30", "GBP"),
        ("£-12.30", ".", "-12.30", "GBP"),
        ("$1,234.56", ".", "1234.56", "USD"),
        ("($1,234.56)", ".", "-1234.56", "USD"),
        ("(12.30)", ".", "-12.30", None),
        ("12.30-", ".", "-12.30", None),
        ("12.300", ".", "12.30", None),
        ("1'234.50 CHF", ".", "1234.50", "CHF"),
        ("7", ".", "7", None),
    ],
)
def test_amounts_read_exactly(raw: str, decimal: str, amount: str, currency: str | None) -> None:
    value, glued = AmountReader(decimal)(raw)

    assert value == Decimal(amount) and isinstance(value, Decimal)
    assert glued == currency


@pytest.mark.parametrize(
    ("raw", "decimal", "says"),
    [
        ("12,345", ",", "more than 2 decimal places"),
        ("1234.56", ",", "written like 1 234,56"),
        ("1.2.3", ".", "written like 1,234.56"),
        ("12 EUR USD", ".", "not an amount"),
        ("--5", ".", "not an amount"),
        ("(5", ".", "not an amount"),
        ("abc", ".", "not an amount"),
        ("9" * 20, ".", "too large"),
    ],
)
def test_what_is_not_an_amount_is_said(raw: str, decimal: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        AmountReader(decimal)(raw)


# --- options and saved profiles ---------------------------------------------------------------


def test_a_mapping_given_once_is_saved_as_a_profile_and_used_again(
    home: Path, tmp_path: Path
) -> None:
    # Given an export whose columns no profile knows (routing cannot see --option, so the
    # first import names the importer)
    first = run_cozy(
        home, "import", str(FIXTURES / CUSTOM), "--yes", "--importer", "csv",
        "--option", CUSTOM_COLUMNS, "--option", "currency=EUR",
        "--option", "save_profile=Ma Banque", "--option", "bank=Ma Petite Banque",
    )  # fmt: skip
    assert first.code == 0, first.err

    saved = json.loads((home / "profiles" / "csv" / "ma-banque.json").read_text())
    assert saved["columns"] == {"date": "Jour", "label": "Opération", "amount": "Somme"}
    assert saved["date_format"] == "%d/%m/%Y" and saved["decimal"] == ","
    # When next month's export comes, it is recognised with no options at all
    later = tmp_path / "juillet.csv"
    later.write_text("Jour;Opération;Somme;Notes\n02/07/2024;BOULANGERIE;-2,40;\n")
    assert CsvImporter.identify(later.name, later.read_bytes())
    again = run_cozy(home, "import", str(later))

    assert again.code == 0, again.err
    accounts = cozy.frame("bank.accounts")
    assert accounts["id"].tolist() == ["csv:ma-banque"]
    assert accounts["name"].tolist() == ["Ma Petite Banque"]
    assert transactions() == [
        ("2024-06-02", "-12.40", "EUR", False, "ÉPICERIE DU COIN"),
        ("2024-06-03", "23.00", "EUR", False, "REMBOURSEMENT SÉCU"),
        ("2024-06-13", "-8.90", "EUR", False, "PHARMACIE DE L'ÉGLISE"),
        ("2024-07-02", "-2.40", "EUR", False, "BOULANGERIE"),
    ]


def test_a_saved_profile_goes_to_the_imports_own_workspace(home: Path, tmp_path: Path) -> None:
    # Given a second workspace, named explicitly while COZY_HOME points at the first
    other = tmp_path / "other"
    cozy.accept_terms(home=other)

    cozy.import_files(
        [FIXTURES / CUSTOM], importer="csv", grant=True, home=other,
        options={"columns": CUSTOM_COLUMNS.split("=", 1)[1], "currency": "EUR",
                 "save_profile": "Elsewhere"},
    )  # fmt: skip

    assert (other / "profiles" / "csv" / "elsewhere.json").exists()
    assert not (home / "profiles" / "csv").exists()


def test_a_headerless_file_maps_by_column_number(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text("2024-06-03|COFFEE|-3,50|x\n2024-06-04|BOOKS|-12,00|y\n")

    records = parse(
        path, account="Card", columns="date:1,label:2,amount:3", currency="EUR", decimal=","
    )

    tx = [r.data for r in records if r.collection == "bank.transactions"]
    assert [(t["date"], t["amount"], t["label"]) for t in tx] == [
        (dt.date(2024, 6, 3), Decimal("-3.50"), "COFFEE"),
        (dt.date(2024, 6, 4), Decimal("-12.00"), "BOOKS"),
    ]


def test_misused_options_are_refused_up_front(home: Path) -> None:
    cozy.import_files([FIXTURES / "uk_hsbc.csv"], grant=True)
    path = str(FIXTURES / "uk_barclays.csv")

    typo = run_cozy(home, "import", path, "--option", "date_fromat=%d/%m/%Y")
    field = run_cozy(home, "import", path, "--option", "columns=when:Date,amount:Amount")
    decimal = run_cozy(home, "import", path, "--option", "decimal=;")

    assert typo.code == 2 and "did you mean 'date_format'" in typo.err
    assert field.code == 2 and "'when'" in field.err
    assert decimal.code == 4 and "decimal" in decimal.err


def test_a_profile_or_a_date_order_can_be_named(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Date,Description,Amount\n03/04/2024,COFFEE,-3.50\n04/04/2024,TEA,-2.10\n")

    by_order = parse(path, account="Card", currency="USD", date_order="mdy")
    by_profile = parse(path, profile="bank-of-america")

    assert [r.data["date"] for r in by_order[:2]] == [dt.date(2024, 3, 4), dt.date(2024, 4, 4)]
    assert by_profile[-1].data["id"] == "csv:bank-of-america"
    assert by_profile[0].data["date"] == dt.date(2024, 3, 4)
    with pytest.raises(NotFound, match="did you mean 'barclays'"):
        parse(path, profile="barlcays")


def test_a_file_of_no_known_bank_needs_an_account_name(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="--account NAME"):
        parse(FIXTURES / "generic_volksbank.csv")
    with pytest.raises(BadInput, match="--option currency=EUR"):
        parse(FIXTURES / CUSTOM, account="X", columns="date:Jour,label:Opération,amount:Somme")


# --- robustness -------------------------------------------------------------------------------


def _check(path: Path, data: bytes) -> None:
    """Parsing may refuse the file (BadInput) but must never fail any other way, and every
    row the file holds comes back as a transaction, a rejection or a skip."""
    statement = Statement(path, data, "Fuzz", {})
    try:
        items = list(CsvImporter({}).parse(statement))
    except BadInput as exc:
        assert "\n" not in str(exc)
        return
    assert all(isinstance(item, Record | Rejected | Skipped) for item in items)
    rows = [i for i in items if not isinstance(i, Record) or i.collection == "bank.transactions"]
    assert len(rows) == CsvImporter({}).census(statement)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes(fresh_home: Path, data: bytes) -> None:
    _check(Path("fuzz.csv"), data)


_SEEDS = [(FIXTURES / name).read_bytes() for name in BANK_FIXTURES]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "repeat"]))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 40))]
        elif action == "insert":
            data[at:at] = draw(
                st.sampled_from(
                    [
                        b'"',
                        b";",
                        b",",
                        b"\n",
                        b"\r",
                        b"\t",
                        b"-",
                        b"\xe9",
                        b"\xc3",
                        b"\x00",
                        b"(",
                        b"1.234,5",
                    ]
                )
            )
        elif action == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 200))]
    return bytes(data)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=mutated())
def test_fuzz_mutated_fixtures(fresh_home: Path, data: bytes) -> None:
    _check(Path("mutated.csv"), data)


def test_the_benchmark_runs(fresh_home: Path) -> None:
    from benchmarks.csv_import import run

    result = run(2_000)

    assert result["rows"] == 2_000 and result["seconds"] > 0 and result["rows_per_s"] > 0
