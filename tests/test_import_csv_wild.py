"""Bank CSV files from the wild: no silent loss, and the shapes real banks and tools write.

Each test holds a file in the shape a bank or a well-known tool produces (Mint's multi-account
export, ING's "Af Bij", card issuers' positive purchases, legacy DOS and Mac code pages…) and
fails if the importer loses a row, reads a sign, a date, a fee or a label wrongly.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

import cozy_kernel as cozy
from cozy_connectors.csvbank import CsvImporter
from cozy_connectors.csvbank.codepages import decode
from cozy_kernel.connector import Record, Rejected, Skipped
from cozy_kernel.importer import Statement
from tests.conftest import run_cozy
from tests.test_import_csv import store_rows

FIXTURES = Path(__file__).parent / "fixtures" / "csv"


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def rows_of(account: str | None = None) -> list[tuple[str, str, str]]:
    """(date, amount, label) of every stored transaction, of one account if named."""
    tx = cozy.frame("bank.transactions")
    if account is not None:
        tx = tx[tx["account_id"] == account]
    return sorted(
        (d.date().isoformat(), str(a), lab)
        for d, a, lab in zip(tx["date"], tx["amount"], tx["label"], strict=True)
    )


# --- 1. no silent loss ---------------------------------------------------------------------


def test_a_file_where_no_date_reads_is_refused_and_nothing_is_written(
    home: Path, tmp_path: Path
) -> None:
    # Given a statement whose dates carry no year: no row reads, but every row has an amount
    cozy.import_files([FIXTURES / "uk_monzo.csv"], grant=True)
    before = store_rows(home)
    path = write(tmp_path, "no_year.csv", "Date,Description,Amount\n"
                 "5 June,COFFEE,-3.50\n6 June,BOOKS,-12.00\n7 June,SALARY,1500.00\n")  # fmt: skip

    result = run_cozy(home, "import", str(path), "--account", "Card", "--yes",
                      "--option", "currency=GBP")  # fmt: skip

    assert result.code == 4, result.out
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert f"{path}:line 2: '5 June' is not a date (and the 2 other rows)" in result.err
    assert store_rows(home) == before  # no account record either


def test_footers_totals_and_repeated_headers_are_skipped_each_with_its_reason(
    home: Path, tmp_path: Path
) -> None:
    path = write(tmp_path, "footer.csv", (
        "Account;FR7630006000011234567890189\n\n"
        "Date;Libellé;Montant\n"
        "03/06/2024;CAFE DE FLORE;-4,50\n"
        "Date;Libellé;Montant\n"
        "14/06/2024;LOYER JUIN;-800,00\n"
        ";Total des opérations;-804,50\n"
        "Document généré le 05/06/2024 à 10:22\n"
    ))  # fmt: skip

    report = cozy.import_files([path], account="Courant", grant=True,
                               options={"currency": "EUR"})  # fmt: skip

    assert report["rows"][str(path)] == {"rows": 5, "read": 2, "rejected": 0, "skipped": 3}
    assert report["runs"][0]["skipped"] == [
        f"{path}:line 5: repeats the header line",
        f"{path}:line 7: a balance or total line, not a transaction",
        f"{path}:line 8: neither a date nor an amount: not a transaction",
    ]
    assert rows_of() == [("2024-06-03", "-4.50", "CAFE DE FLORE"),
                         ("2024-06-14", "-800.00", "LOYER JUIN")]  # fmt: skip


def test_the_cli_lists_what_it_rejected_and_skipped(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "mixed.csv", "Date,Description,Amount\n"
                 "2024-06-03,COFFEE,-3.50\n2024-06-31,BOOKS,-12.00\nTotal,,-15.50\n")  # fmt: skip

    result = run_cozy(home, "import", str(path), "--account", "Card", "--yes",
                      "--option", "currency=USD")  # fmt: skip

    assert result.code == 0, result.err
    assert "1 rejected, 1 skipped" in result.out
    assert f"rejected: {path}:line 3: '2024-06-31' is not a valid date" in result.out
    assert f"skipped: {path}:line 4: a balance or total line, not a transaction" in result.out


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.csv")))
def test_every_row_of_every_fixture_is_accounted_for(name: str) -> None:
    path = FIXTURES / name
    options = {"currency": "USD"} if name in {"generic_pipe_chf.csv", "us_mint.csv"} else {}
    if name == "generic_custom_columns.csv":
        options = {"columns": "date:Jour,label:Opération,amount:Somme", "currency": "EUR"}
    statement = Statement(path, path.read_bytes(), "Any", options)
    importer = CsvImporter({})

    items = list(importer.parse(statement))

    rows = [i for i in items if not isinstance(i, Record) or i.collection == "bank.transactions"]
    assert len(rows) == importer.census(statement)
    assert not [i for i in rows if isinstance(i, Rejected)]


# --- 2. dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "order"),
    [("20240603", None), ("2024:06:03", None), ("2024 06 03", None), ("03.06.2024", None),
     ("20240603 134501", None), ("03062024", "%d%m%Y"), ("06-03-24", "%m-%d-%y")],
)  # fmt: skip
def test_dates_in_every_separator_and_compact_form(
    home: Path, tmp_path: Path, written: str, order: str | None
) -> None:
    path = write(tmp_path, "dates.csv", f"Date;Description;Amount\n{written};SHOP;-1,00\n")
    options = {"currency": "EUR"} | ({"date_format": order} if order else {})

    cozy.import_files([path], account="A", grant=True, options=options)

    assert rows_of() == [("2024-06-03", "-1.00", "SHOP")]


def test_the_date_format_the_user_gives_is_honoured(home: Path, tmp_path: Path) -> None:
    # Day-first compact dates read only with the user's format; a format the dates do not
    # follow is refused, not silently replaced by a guess.
    path = write(tmp_path, "ddmm.csv", "Date;Text;Amount\n02062024;A;-1,00\n13062024;B;-2,00\n")
    wrong = write(tmp_path, "iso.csv", "Date;Text;Amount\n2024-06-02;A;-1,00\n")

    cozy.import_files([path], account="A", grant=True,
                      options={"currency": "EUR", "date_format": "%d%m%Y"})  # fmt: skip
    refused = run_cozy(home, "import", str(wrong), "--account", "B", "--option",
                       "currency=EUR", "--option", "date_format=%d/%m/%Y")  # fmt: skip

    assert rows_of() == [("2024-06-02", "-1.00", "A"), ("2024-06-13", "-2.00", "B")]
    assert refused.code == 4
    assert "'2024-06-02' is not a date written as %d/%m/%Y" in refused.err


# --- 3. fees ---------------------------------------------------------------------------------


def test_a_fee_stays_its_own_field_when_nothing_says_the_amount_lacks_it(
    home: Path, tmp_path: Path
) -> None:
    path = write(tmp_path, "fee.csv", "Date,Description,Amount,Fee,Currency\n"
                 "2024-06-03,Wire to landlord,-800.00,2.50,USD\n"
                 "2024-06-04,ATM withdrawal,-100.00,3.00,USD\n")  # fmt: skip

    cozy.import_files([path], account="Checking", grant=True)

    tx = cozy.frame("bank.transactions").set_index("label")
    assert tx.loc["Wire to landlord", "amount"] == Decimal("-800.00")
    assert tx.loc["Wire to landlord", "fee"] == Decimal("2.50")
    assert tx.loc["ATM withdrawal", "amount"] == Decimal("-100.00")


@pytest.mark.parametrize(
    ("balances", "wire", "atm"),
    [
        # The balance moves by the amount alone: the amount already counts the fee.
        (("1000.00", "200.00", "100.00"), "-800.00", "-100.00"),
        # The balance moves by amount minus fee: the fee comes on top.
        (("1000.00", "197.50", "94.50"), "-802.50", "-103.00"),
    ],
)
def test_a_running_balance_proves_whether_the_amount_counts_the_fee(
    home: Path, tmp_path: Path, balances: tuple[str, ...], wire: str, atm: str
) -> None:
    path = write(tmp_path, "fee.csv", "Date,Description,Amount,Fee,Currency,Balance\n"
                 f"2024-06-01,Salary,1000.00,0.00,USD,{balances[0]}\n"
                 f"2024-06-03,Wire to landlord,-800.00,2.50,USD,{balances[1]}\n"
                 f"2024-06-04,ATM withdrawal,-100.00,3.00,USD,{balances[2]}\n")  # fmt: skip

    cozy.import_files([path], account="Checking", grant=True)

    tx = cozy.frame("bank.transactions").set_index("label")
    assert str(tx.loc["Wire to landlord", "amount"]) == wire
    assert str(tx.loc["ATM withdrawal", "amount"]) == atm
    assert tx.loc["ATM withdrawal", "fee"] == Decimal("3.00")
    assert cozy.frame("bank.accounts")["balance"].tolist() == [Decimal(balances[2])]


# --- 4. direction columns and several accounts ----------------------------------------------


def test_a_type_column_saying_debit_or_credit_signs_and_an_account_column_splits(
    home: Path,
) -> None:
    # Mint's export: every amount positive, "Transaction Type" debit/credit, two accounts.
    cozy.import_files([FIXTURES / "us_mint.csv"], grant=True, options={"currency": "USD"})

    accounts = cozy.frame("bank.accounts").set_index("id")
    assert sorted(accounts.index) == ["csv:chase-freedom", "csv:everyday-checking"]
    assert accounts.loc["csv:chase-freedom", "name"] == "Chase Freedom"
    assert rows_of("csv:chase-freedom") == [
        ("2024-06-03", "-38.20", "Shell"),
        ("2024-06-03", "-45.67", "Trader Joe's"),
        ("2024-06-05", "500.00", "Credit Card Payment"),
        ("2024-06-13", "-15.49", "Netflix"),
    ]
    assert rows_of("csv:everyday-checking") == [
        ("2024-06-04", "3250.00", "Payroll"),
        ("2024-06-05", "-500.00", "Credit Card Payment"),
    ]


def test_a_row_of_a_several_account_file_without_its_account_is_rejected(
    home: Path, tmp_path: Path
) -> None:
    path = write(tmp_path, "multi.csv", "Date,Description,Amount,Account Name\n"
                 "2024-06-03,A,-1.00,Checking\n2024-06-04,B,-2.00,Savings\n"
                 "2024-06-05,C,-3.00,\n")  # fmt: skip

    report = cozy.import_files([path], grant=True, options={"currency": "EUR"})

    assert report["runs"][0]["rejected"] == [
        f"{path}:line 4: no account named in the account column"
    ]
    assert sorted(cozy.frame("bank.accounts")["id"]) == ["csv:checking", "csv:savings"]


# --- 5. encodings ----------------------------------------------------------------------------

CORPUS = {
    "de": ("Buchungstag;Verwendungszweck;Betrag",
           ["Kontoführungsgebühr Juni", "Überweisung an Jörg Müller", "Bäckerei Groß",
            "Straßenbahn Köln"]),
    "fr": ("Date;Libellé;Montant",
           ["Société Générale frais", "Pâtisserie Noël à Orléans", "Café crème",
            "Prélèvement EDF échéance"]),
    "es": ("Fecha;Concepto;Importe",
           ["Comisión mantenimiento", "Panadería Peña", "Año nuevo cañas",
            "Recibo teléfono"]),
}  # fmt: skip


@pytest.mark.parametrize("language", sorted(CORPUS))
@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin_1", "iso8859_15", "cp850",
                 "mac_roman"],
)  # fmt: skip
def test_labels_round_trip_exactly_in_every_encoding(language: str, encoding: str) -> None:
    header, labels = CORPUS[language]
    text = (
        header
        + "\n"
        + "".join(f"0{n}.06.2024;{label};-{n},50\n" for n, label in enumerate(labels, start=1))
    )

    decoded, _ = decode(text.encode(encoding), "corpus.csv")

    assert decoded.lstrip("\ufeff") == text


SHORT = ["Kontoführung", "Gebühr 2 €", "Überweisung", "Straße", "Müller", "Café 3 €",
         "Noël", "Comisión", "Año", "Peña", "l\u2019opération", "Œuvre"]  # fmt: skip


@pytest.mark.parametrize("label", SHORT)
@pytest.mark.parametrize("encoding", ["cp1252", "latin_1", "iso8859_15"])
def test_a_one_row_windows_file_is_never_read_in_a_dos_or_mac_code_page(
    label: str, encoding: str
) -> None:
    text = f"Buchungstag;Verwendungszweck;Betrag\n03.06.2024;{label};-2,00\n"
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return  # the code page has no such letter: nothing to read back

    decoded, used = decode(data, "short.csv")

    assert decoded == text, used


@pytest.mark.parametrize(
    "label", ["Kontoführungsgebühr", "Société Générale", "Prélèvement échu", "Überweisung Müller"]
)
@pytest.mark.parametrize("encoding", ["cp850", "mac_roman"])
def test_a_dos_or_mac_file_is_read_as_such_when_its_words_say_so(label: str, encoding: str) -> None:
    text = f"Buchungstag;Verwendungszweck;Betrag\n03.06.2024;{label};-2,00\n"

    decoded, used = decode(text.encode(encoding), "legacy.csv")

    assert (decoded, used) == (text, encoding)


@pytest.mark.parametrize("encoding", ["cp1252", "iso8859_15", "mac_roman"])
def test_the_euro_sign_round_trips_where_the_code_page_has_it(encoding: str) -> None:
    text = "Date;Libellé;Montant\n03/06/2024;Frais de tenue de compte 2 €;-2,00 €\n"

    decoded, _ = decode(text.encode(encoding), "euro.csv")

    assert decoded == text


# --- 6. card exports that list purchases as positive ----------------------------------------

CARD = (
    "Date,Description,Amount\n"
    "06/03/2024,CARD PURCHASE WHOLE FOODS,84.12\n"
    "06/04/2024,CARD PURCHASE BLUE BOTTLE,6.50\n"
    "06/13/2024,POS PURCHASE SHELL OIL,38.20\n"
)


def test_a_card_file_of_only_positive_purchases_asks_which_sign_they_have(
    home: Path, tmp_path: Path
) -> None:
    path = write(tmp_path, "card.csv", CARD)

    asked = run_cozy(home, "import", str(path), "--account", "Card", "--yes",
                     "--option", "currency=USD")  # fmt: skip
    inverted = cozy.import_files([path], account="Card", grant=True,
                                 options={"currency": "USD", "invert_signs": "yes"})  # fmt: skip

    assert asked.code == 4
    assert "every amount is positive and the rows look like card purchases" in asked.err
    assert "--option invert_signs=yes" in asked.err
    assert inverted["runs"][0]["added"] == 4
    assert [a for _, a, _ in rows_of()] == ["-84.12", "-6.50", "-38.20"]


def test_signs_kept_as_written_when_the_user_says_so(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "card.csv", CARD)

    cozy.import_files([path], account="Card", grant=True,
                      options={"currency": "USD", "invert_signs": "no"})  # fmt: skip

    assert [a for _, a, _ in rows_of()] == ["84.12", "6.50", "38.20"]


def test_positive_amounts_that_are_no_card_purchases_import_as_written(
    home: Path, tmp_path: Path
) -> None:
    path = write(tmp_path, "savings.csv", "Date,Description,Amount\n"
                 "2024-06-01,Monthly transfer from checking,200.00\n"
                 "2024-06-30,Interest,0.42\n")  # fmt: skip

    cozy.import_files([path], account="Savings", grant=True, options={"currency": "EUR"})

    assert [a for _, a, _ in rows_of()] == ["200.00", "0.42"]


def test_a_saved_profile_keeps_the_inverted_signs(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "card.csv", CARD)
    cozy.import_files([path], account="Card", grant=True,
                      options={"currency": "USD", "invert_signs": "yes",
                               "save_profile": "my-card"})  # fmt: skip

    saved = json.loads((home / "profiles" / "csv" / "my-card.json").read_text())

    assert saved["invert_signs"] is True


# --- 10. quotes and description columns ------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["Buchungsdatum;Umsatztext;Betrag", "Date;Remarque;Montant", "Fecha;Descripción;Importe",
     "Datum;Omschrijving;Bedrag", "Data;Descrizione;Importo", "Data;Descrição;Valor",
     "Date;Transaction Details;Amount", "Data operazione;Causale;Importo",
     "Datum;Verwendungszweck Zusatz;Betrag", "Date;Libellé simplifié;Montant"],
)  # fmt: skip
def test_a_description_column_under_any_common_name_becomes_the_label(
    tmp_path: Path, header: str
) -> None:
    path = write(tmp_path, "labels.csv", f"{header}\n03.06.2024;Miete Juni;-800,00\n")
    statement = Statement(path, path.read_bytes(), "A", {"currency": "EUR"})

    items = list(CsvImporter({}).parse(statement))

    (tx,) = [i.data for i in items if isinstance(i, Record) and i.collection == "bank.transactions"]
    assert tx["label"] == "Miete Juni"


def test_unescaped_quotes_inside_fields_are_read_as_text(tmp_path: Path) -> None:
    path = FIXTURES / "lv_swedbank.csv"
    statement = Statement(path, path.read_bytes(), None, {})

    items = list(CsvImporter({}).parse(statement))

    tx = [i.data for i in items if isinstance(i, Record) and i.collection == "bank.transactions"]
    assert [t["counterparty"] for t in tx] == [
        'SIA "Rimi Latvia"', 'AS "Latvenergo"', 'SIA "Darba devējs"'
    ]  # fmt: skip
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert [s.source for s in skipped] == ["line 2", "line 6", "line 7", "line 8"]
    assert tx[0]["date"] == dt.date(2024, 6, 3)
