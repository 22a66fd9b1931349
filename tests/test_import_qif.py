"""QIF statements: date orders, decimal styles, encodings, accounts, twins, bad files."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cozy_kernel as cozy
from cozy_connectors.qif import QifImporter
from cozy_kernel.connector import Record, Rejected
from cozy_kernel.errors import BadInput
from cozy_kernel.importer import Statement
from tests.conftest import run_cozy

FIXTURES = Path(__file__).parent / "fixtures" / "qif"


def rows(home: Path) -> list[tuple]:
    with sqlite3.connect(home / "cozy.db") as db:
        if not db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'bank.transactions'"
        ).fetchone():
            return []
        return db.execute('SELECT * FROM "bank.transactions" ORDER BY id').fetchall()


def imported(home: Path, name: str, *args: str) -> list[tuple]:
    result = run_cozy(home, "import", str(FIXTURES / name), "--yes", *args)
    assert result.code == 0, result.err
    tx = cozy.frame("bank.transactions")
    return [
        (r.date.date(), r.amount, r.label, r.account_id)
        for r in tx.itertuples()
        if r.account_id.startswith("qif:")
    ]


@pytest.mark.parametrize(
    ("fixture", "args", "expected"),
    [
        ("us_chase_checking.qif", ("--account", "Chase Checking"), [
            (dt.date(2024, 1, 2), Decimal("-1234.56"), "Landlord Properties LLC — Rent February"),
            (dt.date(2024, 1, 15), Decimal("3250.00"), "ACME Corp Payroll"),
            (dt.date(2024, 1, 16), Decimal("-4.75"), "Starbucks #1234 Seattle WA"),
            (dt.date(2024, 1, 16), Decimal("-4.75"), "Starbucks #1234 Seattle WA"),
            (dt.date(2024, 1, 31), Decimal("-89.99"), "Comcast Xfinity — Internet"),
        ]),
        ("uk_barclays.qif", (), [
            (dt.date(2024, 1, 15), Decimal("-12.99"), "Netflix.com"),
            (dt.date(2024, 1, 28), Decimal("2100.00"), "Employer Ltd Salary"),
            (dt.date(2024, 1, 31), Decimal("-45.20"), "Tesco Stores 2314 — Groceries"),
        ]),
        ("au_cba_card.qif", ("--account", "CBA Mastercard"), [
            (dt.date(2024, 2, 1), Decimal("-56.30"), "Woolworths Metro Sydney"),
            (dt.date(2024, 2, 13), Decimal("-120.00"), "Qantas Airways — Flight SYD-MEL"),
            (dt.date(2024, 2, 14), Decimal("120.00"), "Qantas Airways — Refund"),
        ]),
        ("de_sparkasse_cp1252.qif", ("--account", "Sparkasse Giro"), [
            (dt.date(2024, 1, 15), Decimal("2850.00"), "Arbeitgeber AG — Gehalt"),
            (dt.date(2024, 1, 20), Decimal("-12.90"), "Bäckerei Grün"),
            (dt.date(2024, 1, 31), Decimal("-1234.56"), "Müller & Söhne GmbH — Miete Jänner"),
        ]),
        ("ca_desjardins_utf8.qif", ("--account", "Desjardins", "--option", "currency=CAD"), [
            (dt.date(2024, 3, 1), Decimal("-1500.00"), "Mortgage — Caisse Desjardins"),
            (dt.date(2024, 3, 15), Decimal("-62.40"), "Métro Plus Montréal — Épicerie"),
            (dt.date(2024, 3, 28), Decimal("4100.00"), "Gouvernement du Québec"),
        ]),
    ],
)  # fmt: skip
def test_statements_from_five_countries_import_exactly(
    home: Path, fixture: str, args: tuple[str, ...], expected: list
) -> None:
    got = imported(home, fixture, *args)

    assert [g[:3] for g in got] == expected
    assert len({g[3] for g in got}) == 1


def test_accounts_come_from_the_file_or_the_account_option(home: Path) -> None:
    imported(home, "uk_barclays.qif")
    imported(home, "ca_desjardins_utf8.qif", "--account", "Desjardins", "--option", "currency=CAD")

    accounts = cozy.frame("bank.accounts").set_index("id")

    assert accounts.loc["qif:barclays-current-account", "name"] == "Barclays Current Account"
    assert accounts.loc["qif:desjardins", "currency"] == "CAD"
    assert accounts.loc["qif:barclays-current-account", "type"] == "checking"


def test_reimport_adds_nothing_and_overlaps_keep_identical_twins(
    home: Path, tmp_path: Path
) -> None:
    imported(home, "us_chase_checking.qif", "--account", "Chase")
    before = rows(home)

    again = run_cozy(home, "import", str(FIXTURES / "us_chase_checking.qif"), "--yes",
                     "--account", "Chase")  # fmt: skip
    assert again.code == 0 and "0 added" in again.out
    assert rows(home) == before

    # A later statement repeats the 16th (both coffees) and adds a third coffee and a new day.
    later = tmp_path / "later.qif"
    later.write_text(
        "!Type:Bank\n"
        + "D01/16/2024\nT-4.75\nPStarbucks #1234 Seattle WA\n^\n" * 3
        + "D02/01/2024\nT-1,234.56\nPLandlord Properties LLC\n^\n"
    )
    result = run_cozy(home, "import", str(later), "--yes", "--account", "Chase")

    assert result.code == 0 and "2 added" in result.out
    coffees = cozy.frame("bank.transactions").query("label == 'Starbucks #1234 Seattle WA'")
    assert len(coffees) == 3


def test_ambiguous_dates_ask_for_the_order(home: Path) -> None:
    path = str(FIXTURES / "ambiguous_dates.qif")
    asked = run_cozy(home, "import", path, "--yes")
    assert asked.code == 4
    assert "could be day/month or month/day" in asked.err
    assert "--option date_order=dmy" in asked.err

    assert run_cozy(home, "import", path, "--yes", "--option", "date_order=dmy").code == 0
    dates = sorted(cozy.frame("bank.transactions")["date"].dt.date)
    assert dates == [dt.date(2024, 2, 1), dt.date(2024, 4, 3)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"!Type:Bank\nD01/31/2024\nT-12.50\nPShop\n", "no closing ^ (truncated?)"),
        (b"!Type:Bank\nD01/31/2024\nT-12.50\nPShop\n^\nD02/30/2024\nT-1.00\nPX\n^\n",
         "bad.qif:line 6: date '02/30/2024' is not a date"),
        (b"!Type:Bank\nD01/31/2024\nTtwelve\nPShop\n^\n", "amount 'twelve'"),
        (b"!Type:Bank\nD01/31/2024\nT-1.234\nPShop\n^\n", "amount '-1.234'"),
        (b"!Type:Invst\nD01/31/2024\nT-1.00\n^\n", "is not a bank, credit-card or cash account"),
        (b"!Type:Bank\n\xff\xfe\x00\x00garbage\x81\x8d\x8f\x90\x9d", "bad.qif"),
    ],
)  # fmt: skip
def test_bad_files_exit_4_naming_the_file_and_change_nothing(
    home: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    imported(home, "uk_barclays.qif")
    before = rows(home)
    bad = tmp_path / "bad.qif"
    bad.write_bytes(content)

    result = run_cozy(home, "import", str(bad), "--yes")

    assert result.code == 4, result.err
    assert message in result.err and str(bad) in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert rows(home) == before
    assert not list((home / "raw" / "qif").glob("*bad.qif"))


def test_originals_are_kept_byte_identical(home: Path) -> None:
    imported(home, "de_sparkasse_cp1252.qif", "--account", "Sparkasse")

    (kept,) = (home / "raw" / "qif").glob("*de_sparkasse_cp1252.qif")

    assert kept.read_bytes() == (FIXTURES / "de_sparkasse_cp1252.qif").read_bytes()


def test_identify_claims_qif_only() -> None:
    for path in FIXTURES.glob("*.qif"):
        assert QifImporter.identify(path.name, path.read_bytes()[:65536]), path
    others = [
        b"OFXHEADER:100\nDATA:OFXSGML\n<OFX><SIGNONMSGSRSV1>",
        b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">',
        b"Date;Libell\xe9;Montant\n01/02/2024;CB CARREFOUR;-12,50\n",
    ]
    for head in others:
        assert not QifImporter.identify("x", head)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=400),
    st.sampled_from(sorted(FIXTURES.glob("*.qif"))).flatmap(
        lambda p: st.tuples(st.just(p.read_bytes()), st.integers(0, 400), st.binary(max_size=8))
    ).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1]:]),
))  # fmt: skip
def test_parse_never_raises_anything_but_bad_input(data: bytes) -> None:
    statement = Statement(Path("fuzz.qif"), data, "Fuzz", {"date_order": "dmy"})
    try:
        items = list(QifImporter({}).parse(statement))
    except BadInput:
        return
    assert all(isinstance(i, Record | Rejected) for i in items)
