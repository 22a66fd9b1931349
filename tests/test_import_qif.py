"""QIF statements: date orders, decimal styles, encodings, accounts, full exports, bad rows."""

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
from cozy_kernel.connector import Record, Rejected, Skipped
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
        (b"!Type:Bank\nD01/31/2024\nT-12.50\nPShop\n", "line 2: the last record has no closing ^"),
        (b"!Type:Bank\nD02/30/2024\nT-1.00\nPX\n^\nD13/13/2024\nT-2.00\nPY\n^\n",
         "bad.qif:line 2: date '02/30/2024' is not a date (and the 1 other rows)"),
        (b"!Type:Bank\nD01/31/2024\nTtwelve\nPShop\n^\n", "amount 'twelve'"),
        (b"!Type:Bank\nD01/31/2024\nT-1.234\nPShop\n^\n", "amount '-1.234'"),
        (b"!Type:Invst\nD01/31/2024\nNBuy\nT-1.00\n^\n",
         "!Type:Invst holds investment transactions, which are not imported; there is no "
         "!Type:Bank"),
        (b"!Type:Cat\nNFood\nE\n^\n!Type:Class\nNWork\n^\n", "only lists, and no !Type:Bank"),
        (b"!Option:AutoSwitch\nD01/31/2024\nT-1.00\n^\n", "line 2: data before any !Type:"),
        (b"!Type:Bank\n\xff\xfe\x00\x00garbage\x81\x8d\x8f\x90\x9d", "bad.qif"),
    ],
)  # fmt: skip
def test_files_with_no_readable_row_exit_4_naming_the_file_and_change_nothing(
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


HALF_BROKEN = (
    "!Type:Bank\n"
    "D01/02/2024\nT-10.00\nPGood one\n^\n"  # line 2
    "D02/30/2024\nT-11.00\nPBad date\n^\n"  # line 6
    "D01/03/2024\nT-12.00\nPGood two\n^\n"  # line 10
    "D01/04/2024\nT12,5O\nPBad amount\n^\n"  # line 14
    "D01/05/2024\nT-14.00\nPGood three\n^\n"  # line 18
    "T-15.00\nPNo date\n^\n"  # line 22
    "D01/07/2024\nT-16.00\nPGood four\n^\n"  # line 25
    "D01/08/2024\nPNo amount\n^\n"  # line 29
    "D01/09/2024\nT-18.00\nPGood five\n^\n"  # line 32
    "D01/10/2024\nT-19.00\nPLost its caret\nD01/11/2024\nT-20.00\nPNext\n^\n"  # line 36
)


def test_half_broken_file_imports_the_good_rows_and_names_each_rejected_one(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "half.qif"
    path.write_text(HALF_BROKEN)

    report = cozy.import_files([path], grant=True, home=home, account="Mine")

    assert report["rows"][str(path)] == {"rows": 10, "read": 5, "rejected": 5, "skipped": 0}
    (run,) = report["runs"]
    assert run["rejected"] == [
        f"{path}:line 6: date '02/30/2024' is not a date",
        f"{path}:line 14: amount '12,5O' is not an amount in cents",
        f"{path}:line 22: the record has no D (date) line",
        f"{path}:line 29: the record has no T (amount) line",
        f"{path}:line 36: field D twice in one record (line 39: missing ^?)",
    ]
    labels = sorted(cozy.frame("bank.transactions", home=home)["label"])
    assert labels == ["Good five", "Good four", "Good one", "Good three", "Good two"]


def test_a_record_that_lost_its_caret_before_a_header_is_rejected_not_dropped() -> None:
    data = b"!Type:Bank\nD01/02/2024\nT-1.00\nPFirst\n!Type:Bank\nD01/13/2024\nT-2.00\nPB\n^\n"
    statement = Statement(Path("x.qif"), data)

    items = list(QifImporter({}).parse(statement))

    assert Rejected("the record has no closing ^ before line 5", "line 2") in items
    assert [i.data["label"] for i in items if _is_transaction(i)] == ["B"]
    assert QifImporter({}).census(statement) == 2


def _is_transaction(item: object) -> bool:
    return isinstance(item, Record) and item.collection == "bank.transactions"


FULL_EXPORT = {
    "qif:everyday-checking": [
        (dt.date(2024, 1, 1), Decimal("1250.00"), "Opening Balance", "[Everyday Checking]"),
        (dt.date(2024, 1, 3), Decimal("-52.00"), "City Water", "Utilities:Water"),
        (dt.date(2024, 1, 5), Decimal("-20.00"), "", "Auto:Fuel"),
        (dt.date(2024, 1, 12), Decimal("-500.00"), "Transfer to savings", "[Rainy Day Savings]"),
        (dt.date(2024, 1, 15), Decimal("2400.00"), "ACME Payroll", "Salary"),
    ],
    "qif:rainy-day-savings": [
        (dt.date(2024, 1, 1), Decimal("0.00"), "Opening Balance", "[Rainy Day Savings]"),
        (dt.date(2024, 1, 12), Decimal("500.00"), "Transfer from checking", "[Everyday Checking]"),
        (dt.date(2024, 1, 31), Decimal("0.42"), "", None),
    ],
    "qif:visa-rewards": [
        (dt.date(2024, 1, 20), Decimal("-64.18"), "Shell Oil 57213", "Auto:Fuel"),
    ],
}  # fmt: skip


def test_a_full_quicken_export_reads_past_its_lists_into_each_account(home: Path) -> None:
    # Given Quicken's "export everything": an account list, categories, classes, memorized
    # payees, then one !Account + !Type section per account, securities and prices last
    path = FIXTURES / "us_quicken_full_export.qif"

    report = cozy.import_files([path], grant=True, home=home, options={"currency": "USD"})

    # Then each account holds its own transactions, list records are no rows, and the
    # investment account's trade is skipped with its line
    assert report["rows"][str(path)] == {"rows": 10, "read": 9, "rejected": 0, "skipped": 1}
    assert report["runs"][0]["skipped"] == [
        f"{path}:line 132: !Type:Invst holds investment transactions, which are not imported"
    ]
    accounts = cozy.frame("bank.accounts", home=home).set_index("id")
    assert sorted(accounts.index) == sorted(FULL_EXPORT)
    assert accounts.loc["qif:visa-rewards", ["name", "type", "currency"]].tolist() == [
        "Visa Rewards", "card", "USD",
    ]  # fmt: skip
    tx = cozy.frame("bank.transactions", home=home)
    for account_id, expected in FULL_EXPORT.items():
        got = tx[tx.account_id == account_id]
        category = [None if c != c else c for c in got.category]
        assert list(zip(got.date.dt.date, got.amount, got.label, category, strict=True)) == expected


def test_a_record_with_no_payee_memo_or_number_is_a_transaction_with_an_empty_label(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "bare.qif"
    path.write_text("!Type:Bank\nD01/15/2024\nT-20.00\nLAuto:Fuel\n^\nD01/16/2024\nT-20.00\n^\n")

    report = cozy.import_files([path], grant=True, home=home, account="Cash")

    assert report["rows"][str(path)]["read"] == 2
    tx = cozy.frame("bank.transactions", home=home)
    assert list(zip(tx.amount, tx.label, tx.counterparty.isna(), strict=True)) == [
        (Decimal("-20.00"), "", True), (Decimal("-20.00"), "", True),
    ]  # fmt: skip
    again = cozy.import_files([path], home=home, account="Cash")
    assert again["runs"][0]["collections"]["bank.transactions"]["added"] == 0


def test_one_account_option_cannot_merge_the_accounts_of_a_full_export(home: Path) -> None:
    path = str(FIXTURES / "us_quicken_full_export.qif")

    result = run_cozy(home, "import", path, "--yes", "--account", "Checking")

    assert result.code == 4
    assert f"{path}: holds 3 accounts (Everyday Checking, Rainy Day Savings, Visa " in result.err
    assert "import this file without --account" in result.err
    assert rows(home) == []


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.qif")))
def test_census_counts_exactly_the_rows_parse_accounts_for(name: str) -> None:
    options = {"date_order": "dmy"} if name.startswith("ambiguous") else {}
    statement = Statement(FIXTURES / name, (FIXTURES / name).read_bytes(), None, options)
    items = list(QifImporter({}).parse(statement))
    accounted = sum(_is_transaction(i) or isinstance(i, Rejected | Skipped) for i in items)
    assert accounted == QifImporter({}).census(statement) > 0


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
    assert all(isinstance(i, Record | Rejected | Skipped) for i in items)
    accounted = sum(_is_transaction(i) or isinstance(i, Rejected | Skipped) for i in items)
    assert accounted == QifImporter({}).census(statement)
