"""``csv``: bank statement CSV exports from European and US banks and money tools.

Every bank writes CSV its own way — encoding, delimiter, decimal comma, date order, a preamble
before the header, summary lines after the data, signs in a column of their own — so the
importer decides each of these once per file from the whole file (or from the bank's
profile), then reads every row the same way: each row is a transaction, a rejection naming
its line and what is wrong, or a skip saying why it is none (a total, a footer, a declined
payment), never a guess. Transactions go to ``--account NAME``, to the bank profile's
account, or to the accounts the file's own account column names.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from cozy_connectors.csvbank import codepages, table
from cozy_connectors.csvbank import layout as layouts
from cozy_connectors.csvbank.banks import builtin
from cozy_connectors.csvbank.layout import Layout
from cozy_connectors.csvbank.profiles import FIELDS, Profile, key, save, saved, slug
from cozy_connectors.csvbank.survey import Book, Survey, fee_proof
from cozy_connectors.csvbank.values import (
    ORDERS,
    SYMBOLS,
    AmountReader,
    DateReader,
    FormatReader,
    format_of,
    looks_like_date,
    order_of_format,
)
from cozy_connectors.csvbank.vocabulary import (
    CARD_WORDS,
    CREDIT_MARKS,
    DEBIT_MARKS,
    METHODS,
    PENDING,
    SKIPPED,
    SUMMARY_WORDS,
    TYPE_CREDIT,
    TYPE_DEBIT,
)
from cozy_kernel.connector import Manifest, Record, Rejected, Skipped
from cozy_kernel.errors import BadInput, unknown
from cozy_kernel.importer import FileImporter, Statement

OPTIONS = (
    "bank",
    "columns",
    "currency",
    "date_format",
    "date_order",
    "decimal",
    "delimiter",
    "encoding",
    "invert_signs",
    "profile",
    "save_profile",
)
FEE_SAMPLE = 10_000
YES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
_IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b")
HEAD_CHARS = 64 * 1024
MONEY_FIELDS = ("amount", "debit", "credit")


def _iban(text: str) -> str | None:
    """The first IBAN in ``text`` whose ISO 13616 check digits are right."""
    for found in _IBAN.finditer(text.upper()):
        compact = found[0].replace(" ", "")
        digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
        if int(digits) % 97 == 1:
            return compact
    return None


def _method(value: str) -> str | None:
    """``"DEBIT_CARD"`` → ``card``: the bank's type phrase, else its first known word."""
    words = key(value).split()
    found = METHODS.get(" ".join(words))
    return found or next((METHODS[w] for w in words if w in METHODS), None)


def _label(text: str) -> str:
    """A label on one line: exports wrap long labels, the words are the bank's own."""
    if "\n" in text:
        return " ".join(part.strip() for part in text.split("\n") if part.strip())
    return text.strip()


def _summary(row: list[str]) -> bool:
    """A balance or total line ("Solde au …", "Kontostand", "Total") rather than a payment."""
    return any(not SUMMARY_WORDS.isdisjoint(key(cell).split()) for cell in row if cell)


@dataclass(frozen=True)
class Options:
    """The ``--option KEY=VALUE`` choices this importer understands, checked up front."""

    columns: Profile | None = None
    date_order: str | None = None
    date_format: str | None = None
    decimal: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    currency: str | None = None
    profile: str | None = None
    save_profile: str | None = None
    bank: str | None = None
    invert_signs: bool | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> Options:
        for name in raw:
            if name not in OPTIONS:
                raise unknown("csv import option", name, OPTIONS)
        fmt = raw.get("date_format") or None
        order = raw.get("date_order") or None
        if fmt is not None:
            order = order_of_format(fmt)
            FormatReader(fmt)
        delimiter = raw.get("delimiter") or None
        if delimiter in {"tab", "\\t"}:
            delimiter = "\t"
        if delimiter is not None and len(delimiter) != 1:
            raise BadInput(f"option delimiter={delimiter!r}: give one character or 'tab'")
        currency = (raw.get("currency") or "").strip().upper() or None
        if currency is not None and not (len(currency) == 3 and currency.isalpha()):
            raise BadInput(f"option currency={currency!r}: give an ISO 4217 code like EUR")
        saving = raw.get("save_profile") or None
        if saving is not None and not slug(saving):
            raise BadInput(f"option save_profile={saving!r}: give a name with letters or digits")
        if order is not None and order not in ORDERS:
            raise BadInput(f"option date_order={order!r}: give one of {', '.join(ORDERS)}")
        decimal = raw.get("decimal") or None
        if decimal not in (None, ",", "."):
            raise BadInput(f"option decimal={decimal!r}: give ',' or '.'")
        invert = raw.get("invert_signs") or None
        if invert is not None and invert.strip().lower() not in YES:
            raise BadInput(f"option invert_signs={invert!r}: give yes or no")
        return cls(
            columns=_columns_option(raw["columns"]) if raw.get("columns") else None,
            date_order=order,
            date_format=fmt,
            decimal=decimal,
            delimiter=delimiter,
            encoding=raw.get("encoding") or None,
            currency=currency,
            profile=raw.get("profile") or None,
            save_profile=saving,
            bank=raw.get("bank") or None,
            invert_signs=None if invert is None else YES[invert.strip().lower()],
        )


def _columns_option(text: str) -> Profile:
    """``date:Date,amount:Amount,label:Description`` (or column numbers) as a profile."""
    columns: dict[str, Any] = {}
    for part in text.split(","):
        name, sep, column = part.partition(":")
        name, column = name.strip(), column.strip()
        if not sep or not column:
            raise BadInput(f"option columns: {part.strip()!r} is not FIELD:COLUMN")
        if name not in FIELDS:
            raise unknown("field in option columns", name, FIELDS)
        parts = [c.strip() for c in column.split("+")]
        columns[name] = int(column) if column.isdigit() else parts if len(parts) > 1 else column
    numbers = [v for v in columns.values() if isinstance(v, int)]
    shape = {"width": max(numbers)} if numbers else {}
    return Profile.from_json({"name": "options", "columns": columns, **shape}, "option columns")


class CsvImporter(FileImporter):
    """Bank CSV exports: bank profiles, or any file whose header names a date and an amount."""

    manifest = Manifest(
        id="csv",
        name="Bank CSV export",
        version="1.0.0",
        kind="file",
        writes=("bank.accounts", "bank.transactions"),
        categories=("banking",),
        personal_data=("pd:FinancialAccount", "pd:Transaction"),
        purposes=("Keep your bank transactions from CSV exports in your own store",),
        description={
            "en": "Imports the CSV statements your bank lets you download; files stay on "
            "your machine.",
            "es": "Importa los extractos CSV que descargas de tu banco; los archivos no salen "
            "de tu equipo.",
            "fr": "Importe les relevés CSV téléchargés depuis votre banque ; les fichiers ne "
            "quittent pas votre ordinateur.",
        },
    )
    formats: ClassVar[str] = "bank CSV"

    @classmethod
    def identify(cls, name: str, head: bytes) -> bool:
        """Claim text tables whose header a bank profile or a date and an amount column name."""
        text = codepages.head_text(head)
        if text is None:
            return False
        start = text.lstrip("\ufeff \t\r\n")
        if not start or start[0] in "<!{[" or "OFXHEADER" in start[:200]:
            return False  # XML (camt, OFX 2), OFX 1 headers, QIF, JSON
        lines = layouts.lines_of(text).split("\n", layouts.SCAN_LINES)[: layouts.SCAN_LINES]
        try:
            return layouts.find(lines, [*saved(strict=False), *builtin()]) is not None
        except (BadInput, ValueError, csv.Error):
            return False

    def parse(self, statement: Statement) -> Iterator[Record | Rejected | Skipped]:
        reading, preamble = self._open(statement)
        self._opened = (statement, reading)
        yield from reading.run(preamble)

    def census(self, statement: Statement) -> int:
        """The records below the header that hold anything: what the file calls data."""
        opened = getattr(self, "_opened", None)
        reading = opened[1] if opened and opened[0] is statement else self._open(statement)[0]
        return sum(any(c.strip() for c in row) for _, row in reading.rows())

    def _open(self, statement: Statement) -> tuple[_Reading, list[str]]:
        """The file decoded, its layout found and its options checked; nothing read yet."""
        where = str(statement.path)
        opts = Options.parse(statement.options)
        profiles = [*saved(strict=True, home=statement.workspace), *builtin()]
        forced = None
        if opts.profile is not None:
            chosen = {p.name: p for p in reversed(profiles)}  # a saved one beats a built-in
            if opts.profile not in chosen:
                raise unknown("csv profile", opts.profile, chosen)
            forced = chosen[opts.profile]
        text, encoding = codepages.decode(statement.data, where, opts.encoding)
        text = layouts.lines_of(text)
        head = text[:HEAD_CHARS].split("\n", layouts.SCAN_LINES)[: layouts.SCAN_LINES]
        mapping = opts.columns
        found = layouts.find(
            head,
            [forced] if forced is not None else profiles,
            mapping.columns if mapping is not None else None,
            mapping.positions if mapping is not None else None,
            opts.delimiter or (forced.delimiter if forced is not None else None),
        )
        if found is None and mapping is not None:
            wanted = ", ".join(repr(n) for names in mapping.columns.values() for n in names)
            raise BadInput(f"{where}: no line has the columns {wanted} (from --option columns)")
        if found is None:
            raise BadInput(
                f"{where}: no header line names a date and an amount column; map the columns "
                "with --option columns=date:NAME,amount:NAME,label:NAME"
            )
        profile = forced or found.profile
        if profile is not None and profile.encoding and not opts.encoding:
            text, encoding = self._prefer(statement.data, text, encoding, profile.encoding)
        reading = _Reading(where, statement, opts, found, profile, text, encoding)
        return reading, head[: found.start]

    @staticmethod
    def _prefer(data: bytes, text: str, encoding: str, hint: str) -> tuple[str, str]:
        """Use the bank's known code page when the file is not UTF-8 and decodes with it."""
        if encoding.startswith("utf") or encoding == hint or encoding in codepages.LEGACY:
            return text, encoding
        try:
            return layouts.lines_of(data.decode(hint)), hint
        except (UnicodeDecodeError, LookupError):
            return text, encoding


class _Reading:
    """One file being read: decides the styles, then turns rows into records."""

    def __init__(
        self,
        where: str,
        statement: Statement,
        opts: Options,
        found: Layout,
        profile: Profile | None,
        text: str,
        encoding: str,
    ) -> None:
        self.where = where
        self.statement = statement
        self.opts = opts
        self.layout = found
        self.profile = profile
        self.encoding = encoding
        offset = 0
        for _ in range(found.start):
            offset = text.find("\n", offset) + 1
            if offset == 0:
                offset = len(text)
                break
        self.body = text[offset:]
        self.cols = found.columns
        fmt = opts.date_format or (profile.date_format if profile else None)
        self.order = opts.date_order or (order_of_format(fmt) if fmt else None)
        self.decimal = opts.decimal or (profile.decimal if profile else None)
        self.currency = opts.currency or (profile.currency if profile else None)
        if self.currency is None:
            money = (n for f in MONEY_FIELDS for n in found.names.get(f, ()))
            self.currency = layouts.header_currency(money)
        self.account_id, self.account_name = self._account()
        self.invert = opts.invert_signs
        if self.invert is None and profile is not None and profile.invert_signs:
            self.invert = True
        self.fee_included = profile.amount_includes_fee if profile else None
        self.direction_from_type = False

    def one(self, name: str) -> int | None:
        indices = self.cols.get(name)
        return indices[0] if indices else None

    def rows(self) -> Iterator[table.Row]:
        """The records after the header, with the file line each starts on."""
        return table.rows(self.body, self.layout.delimiter, self.layout.start + 1, self.where)

    def _account(self) -> tuple[str, str]:
        name = self.statement.account
        if name:
            if not slug(name):
                raise BadInput(f"--account {name!r}: give a name with letters or digits")
            return f"csv:{slug(name)}", name
        if self.profile is not None:
            return f"csv:{self.profile.name}", self.profile.bank
        if self.opts.save_profile:
            return f"csv:{slug(self.opts.save_profile)}", self.opts.bank or self.opts.save_profile
        if self.one("account") is not None:
            return "", ""  # named row by row by the file's account column
        raise BadInput(
            f"{self.where}: this CSV matches no bank profile; say which account it is with "
            "--account NAME"
        )

    def _survey(self) -> Survey:
        """Read the whole file once for what must be known before the first row is kept.

        Kept to ``csv``'s pace: per row only cheap string tests, and each distinct type or
        label word set is looked at once.
        """
        survey = Survey()
        date_i = self.cols["date"][0]
        money = [
            i for f in ("amount", "debit", "credit", "balance", "fee") for i in self.cols.get(f, ())
        ]
        amount_i, account_i, method_i = self.one("amount"), self.one("account"), self.one("method")
        fee_i, balance_i = self.one("fee"), self.one("balance")
        labels = self.cols.get("label", ())
        signs = amount_i is not None and self.one("direction") is None and self.invert is None
        fees = fee_i is not None and balance_i is not None and amount_i is not None
        types: dict[str, str] = {}
        styles_known = self.order is not None and self.decimal is not None
        for _, row in self.rows():
            if len(row) <= date_i or not row[date_i].strip():
                continue
            survey.rows += 1
            if not styles_known:
                survey.dates.feed(row[date_i])
                survey.amounts.feed(row[i] for i in money if i < len(row))
                styles_known = bool(
                    (self.order or survey.dates.order) and (self.decimal or survey.amounts.decimal)
                )
            if account_i is not None and account_i < len(row) and row[account_i].strip():
                survey.accounts.setdefault(row[account_i].strip(), None)
            if method_i is not None and method_i < len(row):
                raw = row[method_i]
                if raw not in types and len(types) < 256:
                    types[raw] = key(raw)
                    survey.types.add(types[raw])
            if signs and amount_i is not None and amount_i < len(row):
                cell = row[amount_i]
                survey.negative = survey.negative or any(m in cell for m in "-\u2212\u2013(")
                text = " ".join(row[i] for i in labels if i < len(row))
                if method_i is not None and method_i < len(row):
                    text += " " + row[method_i]
                survey.card_like += CARD_WORDS.search(text.casefold()) is not None
            if fees and len(survey.fees) < FEE_SAMPLE:
                assert amount_i is not None and fee_i is not None and balance_i is not None
                if max(amount_i, fee_i, balance_i) < len(row):
                    survey.fees.append((row[amount_i], row[fee_i], row[balance_i]))
        return survey

    def _styles(self, survey: Survey) -> tuple[DateReader, AmountReader]:
        """Date order and decimal separator, from the options, the profile or the columns."""
        order, decimal = self.order, self.decimal
        if order is None:
            order = survey.dates.decide()
            if order is None:
                raise BadInput(
                    f"{self.where}: dates such as {survey.dates.example!r} read both as "
                    "day/month and month/day; say which with --option date_format=%d/%m/%Y "
                    "(or %m/%d/%Y)"
                )
        if decimal is None:
            decimal = survey.amounts.decimal or ("," if self.layout.delimiter == ";" else ".")
        self.order, self.decimal = order, decimal
        dates = FormatReader(self.opts.date_format) if self.opts.date_format else DateReader(order)
        return dates, AmountReader(decimal)

    def _decide(self, survey: Survey, amounts: AmountReader) -> None:
        """Signs, a type column's direction and fees: from the options, profile or file."""
        method_i = self.one("method")
        types = survey.types - {""}
        if self.one("direction") is None and method_i is not None and types:
            self.direction_from_type = types <= TYPE_DEBIT | TYPE_CREDIT
        signed_by_file = self.one("amount") is None or self.one("direction") is not None
        if self.invert is None and not signed_by_file and not self.direction_from_type:
            card_like = survey.rows > 0 and survey.card_like * 2 >= survey.rows
            if not survey.negative and card_like:
                raise BadInput(
                    f"{self.where}: every amount is positive and the rows look like card "
                    "purchases; if purchases are money out, import with --option "
                    "invert_signs=yes, else with --option invert_signs=no"
                )
        if self.fee_included is None and survey.fees:
            self.fee_included = fee_proof(survey.fees, amounts, bool(self.invert))

    def run(self, preamble: list[str]) -> Iterator[Record | Rejected | Skipped]:
        survey = self._survey()
        dates, amounts = self._styles(survey)
        self._decide(survey, amounts)
        state = _State(self, amounts, self._books(survey))
        yield from state.transactions(dates)
        if self.opts.save_profile:
            self._save(state)
        for book in state.books.values():
            if book.rows or len(state.books) == 1:
                yield Record("bank.accounts", self._account_record(state, book, preamble))

    def _books(self, survey: Survey) -> dict[str, Book]:
        """The file's accounts by their account-column cell ("" for a one-account file)."""
        values = list(survey.accounts)
        if len(values) <= 1 and self.account_id:
            return {"": Book(self.account_id, self.account_name, values[0] if values else "")}
        books: dict[str, Book] = {}
        for number, value in enumerate(values, start=1):
            ident = slug(value) or f"account-{number}"
            books[value] = Book(f"csv:{ident}", value, value)
        return books

    def _account_record(self, state: _State, book: Book, preamble: list[str]) -> dict[str, Any]:
        currency = self.currency or book.currency or state.first_currency
        if currency is None:
            raise BadInput(
                f"{self.where}: no currency in this file; say which with --option currency=EUR"
            )
        data: dict[str, Any] = {"id": book.id, "name": book.name, "currency": currency}
        iban = _iban(book.value) or (_iban("\n".join(preamble)) if len(state.books) == 1 else None)
        if iban:
            data["iban"] = iban
        if self.profile is not None:
            data["institution"] = self.profile.bank
            if self.profile.account_type:
                data["type"] = self.profile.account_type
        balance = book.balance()
        if balance is not None:
            data["balance"], data["balance_date"] = balance[1], balance[0]
        return data

    def _save(self, state: _State) -> None:
        name = self.opts.save_profile or ""
        fmt = self.opts.date_format or (self.profile.date_format if self.profile else None)
        if fmt is None:
            fmt = format_of(self.order or "dmy", state.date_sample or "")
        base = self.profile
        positional = not self.layout.header
        self.profile = Profile(
            name=slug(name),
            bank=self.opts.bank or (base.bank if base else name),
            columns={} if positional else dict(self.layout.names),
            positions={f: i[0] + 1 for f, i in self.cols.items()} if positional else {},
            date_format=fmt,
            decimal=self.decimal,
            delimiter=self.layout.delimiter,
            encoding=None if self.encoding.startswith("utf") else self.encoding,
            currency=self.currency or state.first_currency,
            account_type=base.account_type if base else None,
            pending=base.pending if base else (),
            skip=base.skip if base else (),
            skip_labels=base.skip_labels if base else (),
            width=state.width if positional else None,
            invert_signs=bool(self.invert),
            amount_includes_fee=self.fee_included,
            origin="saved",
        )
        save(self.profile, self.statement.workspace)


class _State:
    """The row loop of one file, and what it learns on the way (currency, balance, accounts)."""

    def __init__(self, reading: _Reading, amounts: AmountReader, books: dict[str, Book]) -> None:
        self.reading = reading
        self.amounts = amounts
        self.books = books
        self.first_currency: str | None = None
        self.date_sample: str | None = None
        self.width = 0
        profile = reading.profile
        self.pending = _keys(profile.pending if profile else (), PENDING)
        self.skip = _keys(profile.skip if profile else (), SKIPPED)
        self.skip_labels = tuple(v.casefold() for v in profile.skip_labels) if profile else ()
        self.methods: dict[str, str | None] = {}
        self.currencies: dict[str, str] = {}
        one = reading.one
        self.cur_i, self.dir_i, self.fee_i = one("currency"), one("direction"), one("fee")
        self.party_i, self.method_i = one("counterparty"), one("method")
        self.cat_i, self.id_i, self.acct_i = one("category"), one("id"), one("account")
        if reading.direction_from_type:
            self.dir_i, self.method_i = self.method_i, None

    def transactions(self, dates: DateReader) -> Iterator[Record | Rejected | Skipped]:
        """One record, rejection or skip for every row that holds anything.

        A row whose date does not read is a transaction the importer cannot read when it has
        a date-like cell or an amount (rejected), else a line of text such as a footer
        (skipped); totals and repeated headers are skipped, each with its reason.
        """
        reading = self.reading
        date_i = reading.cols["date"][0]
        width = reading.layout.width
        build = self._builder(dates)
        for line, row in reading.rows():
            if not any(c.strip() for c in row):
                continue
            if len(row) < width:
                row = row + [""] * (width - len(row))
            raw_date = row[date_i]
            try:
                day = dates(raw_date)
            except ValueError as exc:
                yield self._undated(row, raw_date, exc, f"line {line}")
                continue
            try:
                data = build(row, day)
            except ValueError as exc:
                yield Rejected(str(exc), f"line {line}")
                continue
            if isinstance(data, str):
                yield Skipped(data, f"line {line}")
                continue
            if self.date_sample is None:
                self.date_sample, self.width = raw_date, len(row)
            yield Record("bank.transactions", data)

    def _undated(self, row: list[str], raw: str, exc: ValueError, where: str) -> Rejected | Skipped:
        header = list(self.reading.layout.header)
        if header and row[: len(header)] == header:
            return Skipped("repeats the header line", where)
        if _summary(row):
            return Skipped("a balance or total line, not a transaction", where)
        if not raw.strip():
            if self._has_amount(row):
                return Rejected("no date", where)
        elif looks_like_date(raw) or self._has_amount(row):
            return Rejected(str(exc), where)
        return Skipped("neither a date nor an amount: not a transaction", where)

    def _has_amount(self, row: list[str]) -> bool:
        for name in MONEY_FIELDS:
            for i in self.reading.cols.get(name, ()):
                try:
                    if self.amounts(row[i])[0] is not None:
                        return True
                except ValueError:
                    continue
        return False

    def _builder(self, dates: DateReader) -> Callable[[list[str], dt.date], dict[str, Any] | str]:
        """A function turning one row into a transaction (or why it is none), columns bound.

        Built once per file so the per-row work is only what the file's columns need: a
        million-row statement spends its time in ``csv`` and ``Decimal``, not in lookups.
        """
        one = self.reading.one
        amount_i, debit_i, credit_i = one("amount"), one("debit"), one("credit")
        value_i, state_i, bal_i = one("value_date"), one("state"), one("balance")
        labels = self.reading.cols.get("label", ())
        label_i = labels[0] if len(labels) == 1 else None
        optional = (self.dir_i, self.fee_i, self.party_i, self.method_i, self.cat_i, self.id_i)
        extras = any(i is not None for i in optional)
        books, acct_i = self.books, self.acct_i if len(self.books) > 1 else None
        single = next(iter(books.values()))
        amounts, cache = self.amounts, self.amounts.cache
        currency_of = self._currency
        invert = bool(self.reading.invert)
        # Without a currency column every row has the file's currency unless one is glued on.
        fixed = self.reading.currency if self.cur_i is None else None
        pending_words, skip_words, skip_labels = self.pending, self.skip, self.skip_labels
        state_name = (
            self.reading.layout.header[state_i]
            if state_i is not None and (state_i < len(self.reading.layout.header))
            else "state"
        )

        def build(row: list[str], day: dt.date) -> dict[str, Any] | str:
            pending = False
            if state_i is not None:
                state = key(row[state_i])
                if state in skip_words:
                    return f"{state_name} {row[state_i].strip()!r} is one the profile leaves out"
                pending = state in pending_words
            if amount_i is not None:
                raw = row[amount_i]
                amount, glued = cache.get(raw) or amounts(raw)
                if invert and amount is not None:
                    amount = -amount
            else:
                raw = row[debit_i] if debit_i is not None else ""
                debit, glued = cache.get(raw) or amounts(raw)
                raw = row[credit_i] if credit_i is not None else ""
                credit, glued2 = cache.get(raw) or amounts(raw)
                amount, glued = _debit_credit(debit, credit), glued or glued2
            if label_i is not None:
                label = row[label_i]
                label = _label(label) if "\n" in label else label.strip()
            else:
                label = self._label(row, labels)
            if skip_labels and label.casefold().startswith(skip_labels):
                return f"the label {label!r} is one the bank's profile leaves out"
            if amount is None:
                if _summary(row):
                    return "a balance or total line, not a transaction"
                raise ValueError("no amount")
            book = single if acct_i is None else books.get(row[acct_i].strip())
            if book is None:
                raise ValueError("no account named in the account column")
            currency = fixed if glued is None and fixed else currency_of(row, glued)
            data: dict[str, Any] = {
                "account_id": book.id,
                "date": day,
                "amount": amount,
                "currency": currency,
                "label": label,
                "pending": pending,
            }
            if value_i is not None and row[value_i].strip():
                data["value_date"] = dates(row[value_i])
            if extras:
                self._extras(row, data)
            balance = None
            if bal_i is not None and not pending:
                balance = amounts(row[bal_i])[0]
            book.seen(day, balance)
            if book.currency is None:
                book.currency = currency
            return data

        return build

    def _extras(self, row: list[str], data: dict[str, Any]) -> None:
        """The optional columns: sign marker, fee, counterparty, method, category, ids."""
        direction, fee_i = self.dir_i, self.fee_i
        if direction is not None:
            data["amount"] = self._direction(row[direction], data["amount"])
        if fee_i is not None:
            fee = self.amounts(row[fee_i])[0]
            if fee:
                data["fee"] = abs(fee)
                if self.reading.fee_included is False:
                    data["amount"] -= abs(fee)
        party_i, method_i, cat_i = self.party_i, self.method_i, self.cat_i
        if party_i is not None and row[party_i].strip():
            data["counterparty"] = row[party_i].strip()
            data["label"] = data["label"] or data["counterparty"]
        if method_i is not None:
            raw = row[method_i]
            if raw not in self.methods:
                self.methods[raw] = _method(raw)
            if self.methods[raw]:
                data["method"] = self.methods[raw]
        if cat_i is not None and row[cat_i].strip():
            data["category"] = row[cat_i].strip()
        id_i = self.id_i
        if id_i is not None and row[id_i].strip():
            data["id"] = f"{data['account_id']}:{row[id_i].strip()}"

    def _label(self, row: list[str], labels: tuple[int, ...]) -> str:
        """Several label columns joined, leaving out a part another part already says."""
        parts: list[str] = []
        for i in labels:
            part = _label(row[i])
            folded = part.casefold()
            if not part or any(folded in p.casefold() for p in parts):
                continue
            parts = [p for p in parts if p.casefold() not in folded]
            parts.append(part)
        return " ".join(parts)

    @staticmethod
    def _direction(mark: str, amount: Decimal) -> Decimal:
        word = key(mark)
        if word in DEBIT_MARKS or mark.strip() == "-":
            return -abs(amount)
        if word in CREDIT_MARKS or mark.strip() == "+":
            return abs(amount)
        raise ValueError(f"{mark.strip()!r} says neither debit nor credit")

    def _currency(self, row: list[str], glued: str | None) -> str:
        """The currency column, else a code glued to the amount, else the file's currency."""
        code = None
        raw = row[self.cur_i] if self.cur_i is not None else ""
        if raw:
            code = self.currencies.get(raw)
            text = raw.strip()
            if code is None and text:
                code = SYMBOLS.get(text, text.upper())
                if not (len(code) == 3 and code.isalpha()):
                    raise ValueError(f"{text!r} is not a currency code")
                self.currencies[raw] = code
        code = code or glued or self.reading.currency
        if code is None:
            raise BadInput(
                f"{self.reading.where}: no currency in this file; say which with "
                "--option currency=EUR"
            )
        if self.first_currency is None:
            self.first_currency = code
        return code


def _debit_credit(debit: Decimal | None, credit: Decimal | None) -> Decimal | None:
    """Debit and credit columns: money out is negative whatever sign the bank wrote."""
    if debit and credit:
        raise ValueError("both a debit and a credit amount")
    if debit:
        return -abs(debit)
    if credit:
        return abs(credit)
    return debit if debit is not None else credit


def _keys(values: tuple[str, ...], default: frozenset[str]) -> frozenset[str]:
    return frozenset(key(v) for v in values) if values else default
