"""OFX/QFX statements: banks' and tools' files, the lenient path, re-imports, twins, the
accounting of every row (read, rejected or skipped, as the census counts), bad files, fuzz."""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ofxtools.Parser import OFXTree

import cozy_kernel as cozy
from cozy_connectors.ofx import OfxImporter
from cozy_kernel.connector import Record, Rejected, Skipped
from cozy_kernel.errors import BadInput
from cozy_kernel.importer import Statement, assign_ids
from cozy_kernel.schemas import BUILTIN
from tests.conftest import run_cozy

FIXTURES = Path(__file__).parent / "fixtures" / "ofx"
NAMES = sorted(p.name for p in FIXTURES.iterdir())
D = dt.date
FR, US, UK = "ofx:30003:00050123456", "ofx:322271627:000000123456789", "ofx:203206:73849261"
DE, CA = "ofx:37040044:DE89370400440532013000", "ofx:cc:4540123456781234"
ES1, ES2 = "ofx:0182:ES9121000418450200051332", "ofx:0182:ES7921000813610123456789"
ES3 = "ofx:cc:5489XXXXXXXX7731"
LT, BE, HB = "ofx:LT717300010123456789", "ofx:0680:BE60068239876543", "ofx:211489656:0048812"
AU, AUC = "ofx:062000:10442981", "ofx:cc:5520000011118842"

# account: id, name, type, iban, currency, balance, balance_date, institution
ACCOUNTS = {
    "fr_societe_generale.ofx": [
        (FR, "30003 3456", "checking", None, "EUR", "1523.87", D(2024, 1, 31), None),
    ],
    "us_chase_checking.qfx": [
        (US, "Chase Bank 6789", "checking", None, "USD", "2432.18", D(2024, 1, 31), "Chase Bank"),
    ],
    "ca_desjardins_visa.ofx": [
        (CA, "Desjardins 1234", "card", None, "CAD", "-1482.36", D(2024, 1, 31), "Desjardins"),
    ],
    "uk_barclays_gbp.ofx": [
        (UK, "Barclays Bank PLC 9261", "checking", None, "GBP", "3127.89", D(2024, 1, 31),
         "Barclays Bank PLC"),
    ],
    "de_sparkasse_eur.ofx": [
        (DE, "Sparkasse KölnBonn 3000", "checking", "DE89370400440532013000", "EUR", "5211.34",
         D(2024, 1, 31), "Sparkasse KölnBonn"),
    ],
    "es_bbva_multi.ofx": [
        (ES1, "BBVA 1332", "checking", "ES9121000418450200051332", "EUR", "2847.15",
         D(2024, 1, 31), "BBVA"),
        (ES2, "BBVA 6789", "savings", "ES7921000813610123456789", "EUR", "10300.85",
         D(2024, 1, 31), "BBVA"),
        (ES3, "BBVA 7731", "card", None, "EUR", "-129.99", D(2024, 1, 31), "BBVA"),
    ],
    # ofxstatement's output: header in a comment, <BANKID />, <BALAMT /> (no balance known)
    "ofxstatement_no_balance.ofx": [
        (LT, "Bank account 6789", "checking", "LT717300010123456789", "EUR", None, None, None),
    ],
    "header_from_data_line.ofx": [
        (BE, "Banque Exemple 6543", "savings", "BE60068239876543", "EUR", "1204.56",
         D(2024, 2, 29), "Banque Exemple"),
    ],
    "commented_preamble.ofx": [
        (HB, "Harbour Credit Union 8812", "checking", None, "USD", "3318.40", D(2024, 2, 29),
         "Harbour Credit Union"),
    ],
    # no </STMTTRN> in the bank statement, and a CCSTMTRS ended by </STMTRS>: each balance
    # still belongs to its own statement
    "unclosed_aggregates.ofx": [
        (AU, "Southern Cross Bank 2981", "checking", None, "AUD", "5120.33", D(2024, 2, 29),
         "Southern Cross Bank"),
        (AUC, "Southern Cross Bank 8842", "card", None, "AUD", "-89.95", D(2024, 2, 29),
         "Southern Cross Bank"),
    ],
}  # fmt: skip

# transaction: account, date, value date, amount, currency, label, counterparty, method, pending
TRANSACTIONS = {
    "fr_societe_generale.ofx": [
        (FR, D(2024, 1, 2), D(2023, 12, 30), "-12.50", "EUR",
         "CARTE X4821 30/12 BOULANGERIE LA FOURNÉE D'ÉLISE", None, "debit", False),
        (FR, D(2024, 1, 5), D(2024, 1, 5), "-89.90", "EUR",
         "PRLV SEPA EDF CLIENTS PARTICULIERS ÉCHÉANCE 01/2024", None, "directdebit", False),
        (FR, D(2024, 1, 10), D(2024, 1, 10), "2450.00", "EUR",
         "VIR SEPA REÇU /DE ACME FRANCE", None, "credit", False),
        (FR, D(2024, 1, 15), D(2024, 1, 14), "-4.20", "EUR",
         "CARTE X4821 14/01 CAFÉ DE LA GARE", None, "pos", False),
        (FR, D(2024, 1, 18), None, "-150.00", "EUR", "CHÈQUE 1234567", None, "check", False),
        (FR, D(2024, 1, 20), D(2024, 1, 20), "-60.00", "EUR",
         "RETRAIT DAB 20/01 PARIS 11E", None, "atm", False),
        (FR, D(2024, 1, 31), None, "-2.00", "EUR",
         "COTISATION JAZZ FRAIS DE TENUE DE COMPTE", None, "fee", False),
    ],
    "us_chase_checking.qfx": [
        (US, D(2024, 1, 15), None, "-500.00", "USD",
         "Online Transfer to SAV ...4421 transaction#: 18873452 01/15", None, "xfer", False),
        (US, D(2024, 1, 20), D(2024, 1, 19), "-100.00", "USD",
         "ATM WITHDRAWAL 000471", None, "atm", False),
        (US, D(2024, 1, 22), None, "-6.75", "USD",
         "STARBUCKS STORE 00912 SEATTLE WA", "Starbucks", "pos", False),
        (US, D(2024, 1, 24), None, "-1200.00", "USD", "CHECK 1042", None, "check", False),
        (US, D(2024, 1, 26), None, "1832.55", "USD",
         "ACME CORP PAYROLL PPD ID: 9876", None, "directdep", False),
        (US, D(2024, 1, 29), None, "-85.00", "USD",
         "AT&T *PAYMENT WEB ID: 9864031004", None, "debit", False),
        (US, D(2024, 1, 31), None, "-54.21", "USD",
         "BARNES & NOBLE #2241 NEW YORK NY", None, "debit", False),
    ],
    "ca_desjardins_visa.ofx": [
        (CA, D(2024, 1, 3), D(2024, 1, 2), "-42.17", "CAD",
         "IGA EXTRA MARCHÉ ST-ROCH QUÉBEC", None, "debit", False),
        (CA, D(2024, 1, 8), None, "-23.99", "USD", "NETFLIX.COM LOS GATOS CA", None, "debit",
         False),
        (CA, D(2024, 1, 12), None, "-67.30", "CAD", "HÔTEL LE PETIT PARIS", None, "debit", False),
        (CA, D(2024, 1, 15), None, "500.00", "CAD",
         "PAIEMENT CAISSE DESJARDINS MERCI", None, "credit", False),
        (CA, D(2024, 1, 20), None, "-18.75", "CAD",
         "CAFÉ CRÈME MONTRÉAL Achat en ligne", None, "pos", False),
        (CA, D(2024, 2, 4), None, "-2.35", "CAD", "TIM HORTONS #3381 LÉVIS", None, "pos", True),
        (CA, D(2024, 2, 4), None, "-2.35", "CAD", "TIM HORTONS #3381 LÉVIS", None, "pos", True),
        (CA, D(2024, 2, 5), None, "-35.40", "CAD", "SAQ SÉLECTION QUÉBEC", None, "debit", True),
    ],
    "uk_barclays_gbp.ofx": [
        (UK, D(2024, 1, 2), None, "-45.00", "GBP",
         "THAMES WATER DD REF 8842113", None, "directdebit", False),
        (UK, D(2024, 1, 4), D(2024, 1, 3), "-23.47", "GBP",
         "TESCO STORES 2041 CARD 8841 ON 03 JAN", None, "pos", False),
        (UK, D(2024, 1, 5), None, "2750.00", "GBP",
         "ACME UK LTD SALARY JAN", None, "directdep", False),
        (UK, D(2024, 1, 10), None, "-50.00", "GBP",
         "CASH WITHDRAWAL LLOYDS BANK", None, "atm", False),
        (UK, D(2024, 1, 15), None, "-850.00", "GBP", "MR J SMITH RENT FLAT 2", None, "xfer",
         False),
        (UK, D(2024, 1, 31), None, "-3.50", "GBP",
         "£3.50 ARRANGED OVERDRAFT FEE", None, "fee", False),
    ],
    "de_sparkasse_eur.ofx": [
        (DE, D(2024, 1, 1), D(2024, 1, 1), "-980.00", "EUR",
         "Hausverwaltung Müller & Söhne Miete Januar 2024 Wohnung 3. OG", None, "xfer", False),
        (DE, D(2024, 1, 2), D(2024, 1, 2), "-64.00", "EUR",
         "Stadtwerke München GmbH Abschlag Strom Januar", None, "directdebit", False),
        (DE, D(2024, 1, 15), D(2024, 1, 13), "-37.82", "EUR",
         "REWE Markt Köln-Süd Kartenzahlung girocard", None, "pos", False),
        (DE, D(2024, 1, 29), D(2024, 1, 29), "3120.45", "EUR",
         "Arbeitgeber Beispiel AG Gehalt 01/2024", None, "credit", False),
        (DE, D(2024, 1, 31), None, "-4.95", "EUR",
         "Kontoführungsgebühr Entgelt Januar", None, "srvchg", False),
    ],
    "es_bbva_multi.ofx": [
        (ES1, D(2024, 1, 5), D(2024, 1, 4), "-32.60", "EUR",
         "COMPRA TARJ. 5489 PELUQUERIA BEGONA MADRID", "Peluquería Begoña", "debit", False),
        (ES1, D(2024, 1, 10), None, "-300.00", "EUR", "TRASPASO A CUENTA AHORRO", None, "xfer",
         False),
        (ES1, D(2024, 1, 12), None, "-2.40", "EUR", "CAFETERÍA EL RINCÓN", None, "pos", False),
        (ES1, D(2024, 1, 12), None, "-2.40", "EUR", "CAFETERÍA EL RINCÓN", None, "pos", False),
        (ES1, D(2024, 1, 31), None, "1985.40", "EUR",
         "NÓMINA ENERO EMPRESA EJEMPLO SL", None, "directdep", False),
        (ES2, D(2024, 1, 10), None, "300.00", "EUR",
         "TRASPASO DESDE CUENTA CORRIENTE", None, "xfer", False),
        (ES2, D(2024, 1, 31), None, "0.85", "EUR", "LIQUIDACIÓN INTERESES", None, "int", False),
        (ES3, D(2024, 1, 18), None, "-120.00", "EUR",
         "EL CORTE INGLÉS CASTELLANA", None, "debit", False),
        (ES3, D(2024, 1, 25), None, "-9.99", "EUR", "SPOTIFY AB STOCKHOLM", None, "debit", False),
    ],
    "ofxstatement_no_balance.ofx": [
        (LT, D(2024, 1, 3), D(2024, 1, 2), "-15.99", "EUR",
         "MAXIMA LT, UAB Pirkimas kortele *4417", None, "debit", False),
        (LT, D(2024, 1, 8), None, "-4.00", "USD", "GITHUB, INC. Card payment", None, "debit",
         False),
        (LT, D(2024, 1, 12), None, "-23.70", "EUR", "Telia Lietuva, AB Sąskaita už sausį", None,
         "debit", False),
        (LT, D(2024, 1, 25), None, "1850.00", "EUR", "UAB Pavyzdys & partneriai Atlyginimas",
         None, "credit", False),
    ],
    "header_from_data_line.ofx": [
        (BE, D(2024, 2, 3), None, "-7.80", "EUR", "CAFÉ LIÉGEOIS Paiement Bancontact 03/02",
         None, "debit", False),
        (BE, D(2024, 2, 5), None, "-750.00", "EUR", "Loyer février", None, "xfer", False),
        (BE, D(2024, 2, 29), None, "1.36", "EUR", "Intérêts créditeurs", None, "int", False),
    ],
    # the transaction inside a comment is no part of the statement
    "commented_preamble.ofx": [
        (HB, D(2024, 2, 6), None, "-64.12", "USD", "WHOLE FOODS MARKET", None, "debit", False),
        (HB, D(2024, 2, 15), None, "2210.00", "USD", "STATE OF MAINE PAYROLL", None,
         "directdep", False),
    ],
    "unclosed_aggregates.ofx": [
        (AU, D(2024, 2, 2), None, "-18.40", "AUD", "WOOLWORTHS 1042 SYDNEY", None, "debit",
         False),
        (AU, D(2024, 2, 15), None, "3105.77", "AUD", "SALARY ACME PTY LTD", None, "credit",
         False),
        (AU, D(2024, 2, 28), None, "-2.50", "AUD", "ACCOUNT FEE", None, "debit", False),
        (AUC, D(2024, 2, 10), None, "-89.95", "AUD", "JB HI-FI MELBOURNE", None, "debit", False),
    ],
}  # fmt: skip

V1_HEADER = (
    "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\n"
    "CHARSET:1252\nCOMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n"
)
V2_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n'
)


def entry(posted: str, amount: str, name: str, fitid: str | None = None, extra: str = "") -> str:
    """One SGML STMTTRN, closing tags left out as OFX 1.x allows."""
    tid = f"<FITID>{fitid}\n" if fitid else ""
    return (
        f"<STMTTRN>\n<TRNTYPE>DEBIT\n<DTPOSTED>{posted}\n<TRNAMT>{amount}\n{tid}"
        f"<NAME>{name}\n{extra}</STMTTRN>\n"
    )


def body(entries: str, balance: str = "100.00") -> str:
    """An <OFX> element with one EUR checking statement holding ``entries``."""
    return (
        "<OFX>\n<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>"
        "<DTSERVER>20240201<LANGUAGE>FRA</SONRS></SIGNONMSGSRSV1>\n"
        "<BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS>\n<STMTRS>\n"
        "<CURDEF>EUR\n<BANKACCTFROM>\n<BANKID>10107\n<ACCTID>00012345678\n<ACCTTYPE>CHECKING\n"
        f"</BANKACCTFROM>\n<BANKTRANLIST>\n{entries}</BANKTRANLIST>\n"
        f"<LEDGERBAL>\n<BALAMT>{balance}\n<DTASOF>20240131\n</LEDGERBAL>\n"
        "</STMTRS></STMTTRNRS></BANKMSGSRSV1>\n</OFX>\n"
    )


def sgml(entries: str, balance: str = "100.00") -> bytes:
    return (V1_HEADER + body(entries, balance)).encode("cp1252")


def parse(data: bytes, account: str | None = None) -> list[Record | Rejected | Skipped]:
    return list(OfxImporter({}).parse(Statement(Path("statement.ofx"), data, account)))


def census(data: bytes) -> int:
    return OfxImporter({}).census(Statement(Path("statement.ofx"), data))


def accounted(items: list[Record | Rejected | Skipped]) -> int:
    """Rows parse accounted for: transactions read, rows rejected, rows skipped."""
    return sum(not isinstance(i, Record) or i.collection == "bank.transactions" for i in items)


def records(data: bytes, collection: str = "bank.transactions") -> list[dict[str, Any]]:
    items = parse(data)
    assert not [i for i in items if not isinstance(i, Record)]
    return [dict(i.data) for i in items if isinstance(i, Record) and i.collection == collection]


def plain(value: Any) -> Any:
    """A frame cell as a plain Python value: dates as dates, missing as None."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.date()
    if not isinstance(value, str | Decimal | bool) and pd.isna(value):
        return None
    return value


def stored(home: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    accounts = cozy.frame("bank.accounts", home=home)
    tx = cozy.frame("bank.transactions", home=home)
    a_cols = ["id", "name", "type", "iban", "currency", "balance", "balance_date", "institution"]
    t_cols = ["account_id", "date", "value_date", "amount", "currency", "label", "counterparty",
              "method", "pending"]  # fmt: skip
    return (
        sorted((tuple(plain(v) for v in row) for row in accounts[a_cols].itertuples(index=False)),
               key=repr),
        sorted((tuple(plain(v) for v in row) for row in tx[t_cols].itertuples(index=False)),
               key=repr),
    )  # fmt: skip


def money(rows: list[tuple[Any, ...]], column: int) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(Decimal(v) if i == column and v is not None else v for i, v in enumerate(r))
         for r in rows),
        key=repr,
    )  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_each_bank_file_imports_exactly(home: Path, name: str) -> None:
    # Given one bank's statement file, When it is imported
    report = cozy.import_files([FIXTURES / name], grant=True, home=home)

    # Then the ofx importer took it and the store holds exactly the expected rows
    assert report["files"] == {str(FIXTURES / name): "ofx"}
    accounts, transactions = stored(home)
    assert accounts == money(ACCOUNTS[name], 5)
    assert transactions == money(TRANSACTIONS[name], 3)
    assert all(isinstance(t[3], Decimal) for t in transactions)


@pytest.mark.filterwarnings("ignore::UserWarning")  # ofxtools notes the QFX's INTU tags
def test_dates_are_the_banks_calendar_dates_not_utc() -> None:
    # Given a payment posted at 22:30 New York time on January 31st
    data = (FIXTURES / "us_chase_checking.qfx").read_bytes()
    tree = OFXTree()
    tree.parse(FIXTURES / "us_chase_checking.qfx")
    converted = tree.convert().statements[0].transactions[-1].dtposted

    # Then ofxtools' conversion moves it to February 1st (UTC), the import keeps January 31st
    assert converted.date() == D(2024, 2, 1)
    assert records(data)[-1]["date"] == D(2024, 1, 31)


@pytest.mark.parametrize(
    "name", ["fr_societe_generale.ofx", "uk_barclays_gbp.ofx", "de_sparkasse_eur.ofx"]
)
def test_files_ofxtools_refuses_are_still_read(name: str) -> None:
    # Given files that bend the spec (BOM, elements out of order, empty MEMO, language code)
    tree = OFXTree()
    with pytest.raises((SyntaxError, ValueError)):
        tree.parse(FIXTURES / name)
        tree.convert()

    # Then the importer still reads every transaction
    assert len(records((FIXTURES / name).read_bytes())) == len(TRANSACTIONS[name])


LENIENT = {
    "lower-case tags": (
        V1_HEADER
        + re.sub(
            r"</?[A-Z]+>",
            lambda m: m[0].lower(),
            body(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1")),
        )
    ).encode(),
    "self-closed empty MEMO": (
        V2_HEADER + body(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1", "<MEMO/>\n"))
    ).encode(),
    "empty unclosed MEMO and CHECKNUM": sgml(
        entry("20240105", "-3,10", "BOULANGERIE PAUL", "A1", "<MEMO>\n<CHECKNUM>\n")
    ),
    "header with fields missing": (
        "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nCHARSET:WINDOWS-1252\r\n\r\n"
        + body(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1"))
    ).encode("cp1252"),
    "text after </OFX>": sgml(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1"))
    + b"\r\n\x00\x00-- end of download --\r\n",
    "no header at all": body(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1")).encode(),
    "unescaped & in XML": (
        V2_HEADER + body(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1", "<MEMO>P&A</MEMO>"))
    ).encode(),
    "</BANKTRANLIST> closing an open STMTTRN": sgml(
        entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1").replace("</STMTTRN>\n", "")
    ),
    "XML without </STMTTRN>": (
        V2_HEADER
        + body(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1")).replace("</STMTTRN>", "")
    ).encode(),
    "an end tag that closes nothing open": sgml(
        entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1") + "</STMTTRN>\n"
    ),
    "header starting at DATA:OFXSGML": (
        V1_HEADER.removeprefix("OFXHEADER:100\n")
        + body(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1"))
    ).encode(),
    "header wrapped in a comment": (
        "<!-- \n"
        + V1_HEADER.replace("\n\n", "\n-->\n\n")
        + body(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1"))
    ).encode(),
    "comments around the XML header": (
        "<!-- bank export -->\n"
        + V2_HEADER.replace("?>\n<?OFX", "?>\n<!-- v2 -->\n<?OFX")
        + body(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1"))
    ).encode(),
    "<OFX > with a space": sgml(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1")).replace(
        b"<OFX>", b"<OFX >"
    ),
}


@pytest.mark.parametrize("case", sorted(LENIENT))
def test_lenient_path_reads_what_banks_really_send(case: str) -> None:
    [row] = records(LENIENT[case])
    assert (row["date"], row["amount"]) == (D(2024, 1, 5), Decimal("-3.10"))
    assert row["label"] in ("BOULANGERIE PAUL", "BOULANGERIE PAUL P&A")


@pytest.mark.parametrize(
    ("case", "data"),
    [
        ("CHARSET:1252", sgml(entry("20240105", "-3.10", "Crème brûlée façon Peña", "A1"))),
        ("ISO-8859-1 XML declaration", (
            V2_HEADER.replace("UTF-8", "ISO-8859-1")
            + body(entry("20240105", "-3.10", "Crème brûlée façon Peña", "A1"))
        ).encode("latin-1")),
        ("UTF-8 text under CHARSET:1252", (
            V1_HEADER + body(entry("20240105", "-3.10", "Crème brûlée façon Peña", "A1"))
        ).encode("utf-8")),
    ],
)  # fmt: skip
def test_accents_are_decoded_by_the_declared_charset(case: str, data: bytes) -> None:
    [row] = records(data)
    assert row["label"] == "Crème brûlée façon Peña"


def test_reimporting_the_same_file_adds_nothing(home: Path) -> None:
    cozy.import_files([FIXTURES / "fr_societe_generale.ofx"], grant=True, home=home)

    again = cozy.import_files([FIXTURES / "fr_societe_generale.ofx"], home=home)

    assert again["runs"][0]["added"] == 0
    assert len(cozy.frame("bank.transactions", home=home)) == 7


def test_overlapping_statement_adds_only_new_rows_by_fitid(home: Path, tmp_path: Path) -> None:
    # Given January, then a statement from the 20th to February 2nd
    january = sgml(
        entry("20240105", "-3.10", "BOULANGERIE PAUL", "F1")
        + entry("20240120", "-45.00", "FNAC", "F2")
        + entry("20240131", "-12.00", "SNCF", "F3")
    )
    later = sgml(
        entry("20240120", "-45.00", "FNAC", "F2")
        + entry("20240131", "-12.00", "SNCF", "F3")
        + entry("20240202", "-8.40", "MONOPRIX", "F4"),
        balance="91.60",
    )
    (tmp_path / "jan.ofx").write_bytes(january)
    (tmp_path / "feb.ofx").write_bytes(later)
    cozy.import_files([tmp_path / "jan.ofx"], grant=True, home=home)

    # When the overlapping statement is imported
    report = cozy.import_files([tmp_path / "feb.ofx"], home=home)

    # Then only February's row is new, and the balance is the later one
    assert report["runs"][0]["collections"]["bank.transactions"]["added"] == 1
    assert report["runs"][0]["collections"]["bank.accounts"]["updated"] == 1
    assert len(cozy.frame("bank.transactions", home=home)) == 4
    assert cozy.frame("bank.accounts", home=home)["balance"].tolist() == [Decimal("91.60")]


def test_rows_without_fitid_keep_identical_twins(home: Path, tmp_path: Path) -> None:
    # Given two identical coffees the same day, in a file without FITIDs
    coffee = entry("20240112", "-2.40", "CAFÉ DU COIN")
    (tmp_path / "a.ofx").write_bytes(sgml(entry("20240110", "-800.00", "LOYER") + coffee * 2))
    (tmp_path / "b.ofx").write_bytes(sgml(coffee * 2 + entry("20240115", "-20.00", "PHARMACIE")))

    # When it is imported, then an overlapping statement holding the same twins
    first = cozy.import_files([tmp_path / "a.ofx"], grant=True, home=home)
    second = cozy.import_files([tmp_path / "b.ofx"], home=home)

    # Then both coffees stay, and only the pharmacy is new
    assert first["runs"][0]["collections"]["bank.transactions"]["added"] == 3
    assert second["runs"][0]["collections"]["bank.transactions"]["added"] == 1
    labels = cozy.frame("bank.transactions", home=home)["label"].tolist()
    assert labels.count("CAFÉ DU COIN") == 2
    assert len(labels) == 4


def test_a_fitid_reused_for_different_rows_keeps_both() -> None:
    # Given a repeated transaction (same FITID, same data) and a FITID the bank reused
    data = sgml(
        entry("20240105", "-3.10", "BOULANGERIE", "SAME") * 2
        + entry("20240106", "-9.00", "PRESSING", "REUSED")
        + entry("20240107", "-15.00", "GARAGE", "REUSED")
    )
    lines = [n for n, text in enumerate(data.split(b"\n"), 1) if text == b"<STMTTRN>"]

    items = parse(data)

    # Then the repeat is skipped, saying which row it repeats, and the reused FITID is dropped
    rows = [i.data for i in items if isinstance(i, Record) and i.collection == "bank.transactions"]
    assert [(r["label"], r.get("id")) for r in rows] == [
        ("BOULANGERIE", "ofx:10107:00012345678:SAME"),
        ("PRESSING", None),
        ("GARAGE", None),
    ]
    assert [i for i in items if not isinstance(i, Record)] == [
        Skipped(f"repeats FITID SAME already read at line {lines[0]}", f"line {lines[1]}")
    ]
    assert accounted(items) == census(data) == 4


def test_overlapping_statements_in_one_file_skip_the_repeats(home: Path, tmp_path: Path) -> None:
    # Given one file holding January and a statement from the 20th on, for the same account
    january = body(
        entry("20240105", "-3.10", "BOULANGERIE PAUL", "F1")
        + entry("20240120", "-45.00", "FNAC", "F2")
    )
    later = body(
        entry("20240120", "-45.00", "FNAC", "F2") + entry("20240202", "-8.40", "MONOPRIX", "F4")
    )
    statements = january.split("</BANKMSGSRSV1>")[0] + later.split("<BANKMSGSRSV1>")[1]
    path = tmp_path / "two.ofx"
    path.write_bytes((V1_HEADER + statements).encode())
    starts = [n for n, text in enumerate(path.read_bytes().split(b"\n"), 1) if text == b"<STMTTRN>"]

    # When it is imported
    report = cozy.import_files([path], grant=True, home=home)

    # Then the second FNAC is skipped with its line and reason, and three rows are kept
    assert report["rows"][str(path)] == {"rows": 4, "read": 3, "rejected": 0, "skipped": 1}
    [skipped] = report["runs"][0]["skipped"]
    assert skipped == f"{path}:line {starts[2]}: repeats FITID F2 already read at line {starts[1]}"
    assert len(cozy.frame("bank.transactions", home=home)) == 3


def test_account_option_names_the_accounts() -> None:
    fr = (FIXTURES / "fr_societe_generale.ofx").read_bytes()
    es = (FIXTURES / "es_bbva_multi.ofx").read_bytes()

    [single] = [i.data["name"] for i in parse(fr, "Compte joint") if isinstance(i, Record)
                and i.collection == "bank.accounts"]  # fmt: skip
    several = [i.data["name"] for i in parse(es, "Famille") if isinstance(i, Record)
               and i.collection == "bank.accounts"]  # fmt: skip

    assert single == "Compte joint"
    assert several == ["Famille 1332", "Famille 6789", "Famille 7731"]


@pytest.mark.parametrize(
    ("amount", "posted", "reason", "field"),
    [
        ("-12.345", "20240105", "TRNAMT -12.345 has more than 2 decimal places", "TRNAMT"),
        ("-1 234,56", "20240105", "TRNAMT '-1 234,56' is not an amount", "TRNAMT"),
        ("NaN", "20240105", "TRNAMT 'NaN' is not an amount", "TRNAMT"),
        ("-3.10", "20240231", "DTPOSTED '20240231' is not a real date", "DTPOSTED"),
        ("-3.10", "05/01/2024", "DTPOSTED '05/01/2024' is not an OFX date (YYYYMMDD…)", "DTPOSTED"),
    ],
)
def test_a_bad_row_is_rejected_with_its_line(
    amount: str, posted: str, reason: str, field: str
) -> None:
    data = sgml(entry("20240104", "12.500", "OK", "A0") + entry(posted, amount, "BAD", "A1"))
    written = f"<{field}>{posted if field == 'DTPOSTED' else amount}".encode()
    line = data.split(b"\n").index(written) + 1

    items = parse(data)

    assert [i for i in items if isinstance(i, Rejected)] == [Rejected(reason, f"line {line}")]
    [ok] = [i.data for i in items if isinstance(i, Record) and i.collection == "bank.transactions"]
    assert ok["amount"] == Decimal("12.50")


@pytest.mark.parametrize(
    "ledger",
    [
        "<LEDGERBAL>\n<BALAMT></BALAMT>\n<DTASOF>20240131</DTASOF>\n</LEDGERBAL>",
        "<LEDGERBAL><BALAMT/><DTASOF/></LEDGERBAL>",
        "<LEDGERBAL><BALAMT /><DTASOF>20240131000000</DTASOF></LEDGERBAL>",
        "<LEDGERBAL>\n<BALAMT>\n<DTASOF>20240131\n</LEDGERBAL>",
        "<LEDGERBAL></LEDGERBAL>",
        "<LEDGERBAL>\n<BALAMT>100.00\n<DTASOF>00000000\n</LEDGERBAL>",
        "<LEDGERBAL>\n<BALAMT>100.00\n<DTASOF>20241331\n</LEDGERBAL>",
        "<LEDGERBAL>\n<BALAMT>100.00\n<DTASOF>N/A\n</LEDGERBAL>",
        "<LEDGERBAL>\n<BALAMT>100.00\n</LEDGERBAL>",
    ],
)
def test_an_empty_or_malformed_balance_keeps_the_account_and_its_rows(ledger: str) -> None:
    # Given a statement whose ledger balance is empty (as ofxstatement writes it) or undated
    text = V1_HEADER + body(entry("20240105", "-3.10", "BOULANGERIE PAUL", "A1"))
    data = re.sub(r"<LEDGERBAL>.*</LEDGERBAL>", ledger, text, flags=re.DOTALL).encode()

    # Then the account is kept without a balance, and the row is read
    [account] = records(data, "bank.accounts")
    assert (account["balance"], account["balance_date"]) == (None, None)
    assert [r["amount"] for r in records(data)] == [Decimal("-3.10")]


def test_a_file_without_balance_keeps_the_stored_balance(home: Path, tmp_path: Path) -> None:
    # Given an account whose balance was imported, then a file of it with an empty balance
    (tmp_path / "bank.ofx").write_bytes(sgml(entry("20240105", "-3.10", "PAUL", "A1")))
    later = V1_HEADER + body(entry("20240210", "-9.00", "FNAC", "A2"))
    (tmp_path / "tool.ofx").write_bytes(later.replace("<BALAMT>100.00", "<BALAMT/>").encode())
    cozy.import_files([tmp_path / "bank.ofx"], grant=True, home=home)

    # When the file without balance is imported
    cozy.import_files([tmp_path / "tool.ofx"], home=home)

    # Then its row is added and the stored balance stays
    accounts = cozy.frame("bank.accounts", home=home)
    assert accounts["balance"].tolist() == [Decimal("100.00")]
    assert len(cozy.frame("bank.transactions", home=home)) == 2


def test_each_row_of_a_statement_with_an_unreadable_account_is_rejected() -> None:
    # Given a statement whose currency cannot be read, holding two rows
    data = sgml(entry("20240105", "-3.10", "PAUL", "A1") + entry("20240106", "-9.00", "FNAC", "A2"))
    data = data.replace(b"<CURDEF>EUR", b"<CURDEF>EURO")
    lines = data.split(b"\n")
    curdef = lines.index(b"<CURDEF>EURO") + 1
    starts = [n for n, text in enumerate(lines, 1) if text == b"<STMTTRN>"]

    items = parse(data)

    # Then each row is rejected at its own line, with the account's reason and line
    reason = f"its statement's account cannot be read (line {curdef}: CURDEF 'EURO' is not an ISO "
    assert items == [Rejected(reason + "4217 currency code)", f"line {n}") for n in starts]
    assert accounted(items) == census(data) == 2


def test_rows_outside_a_transaction_list_are_accounted_for() -> None:
    # Given a row put straight in STMTRS and an investment statement's cash movement
    investment = (
        "<INVSTMTMSGSRSV1><INVSTMTTRNRS><TRNUID>2<INVSTMTRS><DTASOF>20240131<CURDEF>EUR"
        "<INVACCTFROM><BROKERID>b.example<ACCTID>99</INVACCTFROM><INVTRANLIST><DTSTART>20240101"
        "<DTEND>20240131<INVBANKTRAN>\n"
        + entry("20240110", "50.00", "DIVIDEND", "I1")
        + "<SUBACCTFUND>CASH</INVBANKTRAN></INVTRANLIST></INVSTMTRS></INVSTMTTRNRS>"
        "</INVSTMTMSGSRSV1>\n</OFX>"
    )
    text = V1_HEADER + body(entry("20240105", "-3.10", "PAUL", "A1"))
    text = text.replace("<LEDGERBAL>", entry("20240106", "-9.00", "FNAC", "A2") + "<LEDGERBAL>")
    data = text.replace("</OFX>", investment).encode()
    starts = [n for n, line in enumerate(data.split(b"\n"), 1) if line == b"<STMTTRN>"]

    items = parse(data)

    # Then the first is read, the misplaced one rejected and the investment one skipped
    assert [i.data["label"] for i in items if isinstance(i, Record) and "label" in i.data] == [
        "PAUL"
    ]
    assert [i for i in items if not isinstance(i, Record)] == [
        Rejected("STMTTRN outside the BANKTRANLIST of a bank or card statement",
                 f"line {starts[1]}"),
        Skipped("an investment statement's cash movement: only bank and card ones are read",
                f"line {starts[2]}"),
    ]  # fmt: skip
    assert accounted(items) == census(data) == 3


def test_half_broken_rows_import_the_good_half_and_name_each_bad_line(
    home: Path, tmp_path: Path
) -> None:
    # Given a statement of eight rows, four of which cannot be read
    rows = [
        entry("20240102", "-12.50", "BOULANGERIE", "H1"),
        entry("20240103", "-1O.00", "BAD AMOUNT", "H2"),
        entry("20240104", "-4.20", "CAFE", "H3"),
        entry("20240230", "-7.00", "BAD DATE", "H4"),
        entry("20240105", "2450.00", "SALAIRE", "H5"),
        entry("20240106", "-3.333", "TOO PRECISE", "H6"),
        entry("20240107", "-60.00", "RETRAIT", "H7"),
        entry("20240108", "", "NO AMOUNT", "H8").replace("<TRNAMT>\n", ""),
    ]
    path = tmp_path / "half.ofx"
    path.write_bytes(sgml("".join(rows)))
    lines = path.read_bytes().split(b"\n")

    def line(text: bytes) -> int:
        return lines.index(text) + 1

    # When it is imported through the core
    report = cozy.import_files([path], grant=True, home=home)

    # Then the four good rows are added, and each bad one is reported with file and line
    run = report["runs"][0]
    assert run["collections"]["bank.transactions"]["added"] == 4
    assert report["rows"][str(path)] == {"rows": 8, "read": 4, "rejected": 4, "skipped": 0}
    assert run["rejected"] == [
        f"{path}:line {line(b'<TRNAMT>-1O.00')}: TRNAMT '-1O.00' is not an amount",
        f"{path}:line {line(b'<DTPOSTED>20240230')}: DTPOSTED '20240230' is not a real date",
        f"{path}:line {line(b'<TRNAMT>-3.333')}: TRNAMT -3.333 has more than 2 decimal places",
        f"{path}:line {line(b'<NAME>NO AMOUNT') - 4}: TRNAMT is missing",
    ]
    labels = sorted(cozy.frame("bank.transactions", home=home)["label"])
    assert labels == ["BOULANGERIE", "CAFE", "RETRAIT", "SALAIRE"]


@pytest.mark.parametrize("name", NAMES)
def test_census_counts_every_row_parse_accounts_for(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    items = parse(data)

    assert census(data) == accounted(items) == len(TRANSACTIONS[name])


@pytest.mark.parametrize("case", sorted(LENIENT))
def test_census_agrees_with_parse_on_the_lenient_path(case: str) -> None:
    assert census(LENIENT[case]) == accounted(parse(LENIENT[case])) == 1


def test_a_bank_error_instead_of_a_statement_is_reported() -> None:
    data = (
        V1_HEADER + "<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>2003"
        "<SEVERITY>ERROR<MESSAGE>Compte introuvable</STATUS></STMTTRNRS></BANKMSGSRSV1></OFX>"
    ).encode()

    with pytest.raises(BadInput, match="the bank sent an error instead of a statement: Compte"):
        parse(data)


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each bad file and what its one-line error must say."""
    fr = (FIXTURES / "fr_societe_generale.ofx").read_bytes()
    ca = (FIXTURES / "ca_desjardins_visa.ofx").read_text(encoding="utf-8")
    no_row = sgml(entry("20240105", "-3.1O", "PAUL", "A1") + entry("20240106", "", "FNAC", "A2"))
    line = no_row.split(b"\n").index(b"<TRNAMT>-3.1O") + 1
    no_account = sgml(entry("20240105", "-3.10", "PAUL", "A1")).replace(b"<ACCTID>", b"<X>")
    holder = no_account.split(b"\n").index(b"<BANKACCTFROM>") + 1
    start = no_account.split(b"\n").index(b"<STMTTRN>") + 1
    accent = next(i for i, t in enumerate(ca.splitlines(), 1) if not t.isascii())
    garbage = b"OFXHEADER:100\r\n" + random.Random(4).randbytes(4096).replace(b"<", b"")
    files = {
        "truncated": (fr[: len(fr) * 3 // 5], "the closing </OFX> tag is missing"),
        "garbage": (garbage, "no <OFX> element"),
        "wrong encoding": (ca.encode("cp1252"), f"line {accent}: byte 0xC9 is not valid utf-8"),
        "no row readable": (
            no_row,
            f":line {line}: TRNAMT '-3.1O' is not an amount (and the 1 other rows); no row",
        ),
        "no account readable": (
            no_account,
            f":line {start}: its statement's account cannot be read "
            f"(line {holder}: BANKACCTFROM has no ACCTID)",
        ),
    }
    out = {}
    for case, (data, message) in files.items():
        path = tmp_path / f"{case.replace(' ', '_')}.ofx"
        path.write_bytes(data)
        out[case] = (path, message)
    return out


@pytest.mark.parametrize(
    "case", ["truncated", "garbage", "wrong encoding", "no row readable", "no account readable"]
)
def test_a_bad_file_fails_with_one_line_and_changes_nothing(
    home: Path, tmp_path: Path, case: str
) -> None:
    # Given a store holding one good import
    cozy.import_files([FIXTURES / "de_sparkasse_eur.ofx"], grant=True, home=home)
    before = stored(home)
    path, message = bad_files(tmp_path)[case]

    # When a bad file is imported through the CLI
    result = run_cozy(home, "import", str(path), "--yes")

    # Then it exits 4 with one line naming the file (and line), and the store is unchanged
    assert result.code == 4, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert str(path) in result.err
    assert message in result.err
    assert stored(home) == before


def test_a_bad_row_no_longer_refuses_the_file(home: Path, tmp_path: Path) -> None:
    # Given a bank's file with one unreadable amount
    fr = (FIXTURES / "fr_societe_generale.ofx").read_bytes()
    path = tmp_path / "bad_line.ofx"
    path.write_bytes(fr.replace(b"<TRNAMT>-60,00", b"<TRNAMT>-60,0O"))
    line = path.read_bytes().split(b"\n").index(b"<TRNAMT>-60,0O\r") + 1

    # When it is imported through the CLI
    result = run_cozy(home, "import", str(path), "--yes")

    # Then the other rows are imported and the bad one is reported with file and line
    assert result.code == 0, result.err
    assert f"{path}:line {line}: TRNAMT '-60,0O' is not an amount" in result.out
    expected = len(TRANSACTIONS["fr_societe_generale.ofx"]) - 1
    assert len(cozy.frame("bank.transactions", home=home)) == expected


OTHER_FORMATS = {
    "statement.qif": b"!Type:Bank\nD01/05/2024\nT-3.10\nPBoulangerie Paul\n^\n",
    "statement.csv": "Date;Libellé;Montant\n05/01/2024;CB BOULANGERIE;-3,10\n".encode("cp1252"),
    "camt053.xml": b'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:'
    b'20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>1</MsgId></GrpHdr>'
    b"</BkToCstmrStmt></Document>",
    "camt052.xml": b'\xef\xbb\xbf<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:'
    b'tech:xsd:camt.052.001.08"><BkToCstmrAcctRpt/></Document>',
    "named.ofx": b"Date,Amount,Description\n2024-01-05,-3.10,OFX FEES\n",
    "commented_camt.xml": b'<?xml version="1.0"?>\n<!-- <OFX> export -->\n<Document xmlns="urn:'
    b'iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt/></Document>',
    "data.csv": b"DATA;OPERAZIONE;IMPORTO\n05/01/2024;OFXSGML;-3,10\n",
    "comment.qif": b"!Type:Bank\n<!-- OFXHEADER:100 -->\n",
}


def test_identify_claims_every_ofx_file_and_no_other_format() -> None:
    assert all(OfxImporter.identify(n, (FIXTURES / n).read_bytes()[:65536]) for n in NAMES)
    assert all(OfxImporter.identify("x", data) for data in LENIENT.values())
    assert not any(OfxImporter.identify(n, data) for n, data in OTHER_FORMATS.items())


def test_identify_stays_fast_on_a_head_of_comments() -> None:
    # Given a file that opens with many comments and is no OFX (each comment ends at its -->)
    head = b"<!-- x -->" * 26 + b"\n!Type:Bank\n"

    started = time.perf_counter()
    claimed = OfxImporter.identify("notes.qif", head)

    assert not claimed
    assert time.perf_counter() - started < 1


def check(data: bytes) -> None:
    """Parsing may refuse the file with one line, or yield rows the store accepts."""
    try:
        items = parse(data)
    except BadInput as exc:
        assert "\n" not in str(exc)
        return
    assert all(isinstance(item, Record | Rejected | Skipped) for item in items)
    assert accounted(items) == census(data)
    for record in assign_ids([i for i in items if isinstance(i, Record)]):
        BUILTIN[record.collection].encoder()(record.data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    check(data)


TOKENS = [
    b"", b"<", b">", b"&", b"\xe9", b"\xc3", b"\x00", b",", b"-", b"9" * 40, b"\r\n",
    b"<STMTTRN>", b"</STMTTRN>", b"<MEMO>", b"</MEMO>", b"<OFX>", b"</OFX>", b"<TRNAMT>",
    b"<CURRENCY>", b"<CURSYM>", b"<DTPOSTED>", b"[-5:EST]", b"\xef\xbb\xbf", b"<?xml ?>",
    b"CHARSET:UTF-8", b"<STMTRS>", b"</CCSTMTRS>", b"<STMTTRNP>", b"<FITID>", b"<PAYEE>",
]  # fmt: skip
SAMPLES = [(FIXTURES / n).read_bytes() for n in NAMES] + list(LENIENT.values())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(st.integers(0, 1 << 16), st.integers(0, 12), st.sampled_from(TOKENS)),
        min_size=1,
        max_size=6,
    ),
)
def test_fuzz_mutated_statements(data: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    for position, length, token in edits:
        at = position % (len(data) + 1)
        data = data[:at] + token + data[at + length :]
    check(data)
