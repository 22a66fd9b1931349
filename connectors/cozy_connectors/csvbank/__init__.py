"""``csv``: bank statement CSV exports from French, Spanish, British, German and US banks.

Every bank writes CSV its own way — encoding, delimiter, decimal comma, date order, a preamble
before the header, summary lines after the data — so the importer decides each of these once
per file from the whole file (or from the bank's profile), then reads every row the same way
and reports the rows that do not fit instead of guessing row by row. A file carries no account
id: transactions go to ``--account NAME`` or, by default, to one account per bank profile.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from cozy_connectors.csvbank import layout as layouts
from cozy_connectors.csvbank.banks import builtin
from cozy_connectors.csvbank.layout import Layout
from cozy_connectors.csvbank.profiles import FIELDS, Profile, key, save, saved, slug
from cozy_connectors.csvbank.values import (
    ORDERS,
    SYMBOLS,
    AmountReader,
    DateReader,
    DecimalVote,
    OrderVote,
    format_of,
    looks_like_date,
    order_of_format,
)
from cozy_kernel.connector import Manifest, Record, Rejected
from cozy_kernel.errors import BadInput, unknown
from cozy_kernel.importer import FileImporter, Statement

if TYPE_CHECKING:
    from _csv import Reader

OPTIONS = (
    "bank",
    "columns",
    "currency",
    "date_format",
    "date_order",
    "decimal",
    "delimiter",
    "encoding",
    "profile",
    "save_profile",
)
SUMMARY_WORDS = frozenset(
    {"solde", "soldes", "total", "totaux", "totales", "saldo", "kontostand", "balance", "summe"}
)
PENDING = frozenset({"pending", "en attente", "a venir", "pendiente", "vorgemerkt", "authorised"})
SKIPPED = frozenset({"declined", "reverted", "failed", "cancelled", "canceled", "rejected"})
DEBIT_MARKS = frozenset({"s", "d", "dr", "db", "debit", "soll", "cargo", "debe", "-"})
CREDIT_MARKS = frozenset({"h", "c", "cr", "credit", "haben", "abono", "haber", "+"})
# The payment method behind the type words banks use, in the profiles' languages.
_METHOD_WORDS = {
    "card": (
        "card", "carte", "cb", "tarjeta", "kartenzahlung", "girocard", "pos", "debit card",
        "card payment", "paiement carte", "pago con tarjeta",
    ),
    "transfer": (
        "transfer", "virement", "vir", "transferencia", "uberweisung", "ueberweisung",
        "gutschrift", "gutschr", "faster payment", "ft", "bacs", "standing order",
        "dauerauftrag", "zelle", "quickpay credit", "quickpay debit", "ach credit", "topup",
        "lohn", "transferencia recibida",
    ),
    "direct_debit": (
        "direct debit", "directdebit", "dd", "prelevement", "prlv", "recibo", "adeudo",
        "lastschrift", "folgelastschrift", "erstlastschrift", "ach debit",
    ),
    "atm": ("atm", "retrait", "cash", "cajero", "bargeld", "bargeldauszahlung"),
    "cheque": ("cheque", "check", "chq", "scheck", "check paid"),
    "fee": ("fee", "frais", "comision", "entgelt", "entgeltabschluss"),
    "interest": ("interest", "interets", "intereses", "zinsen"),
}  # fmt: skip
METHODS = {word: method for method, words in _METHOD_WORDS.items() for word in words}
_IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b")
HEAD_CHARS = 64 * 1024


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

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> Options:
        for name in raw:
            if name not in OPTIONS:
                raise unknown("csv import option", name, OPTIONS)
        fmt = raw.get("date_format") or None
        order = raw.get("date_order") or None
        if fmt is not None:
            order = order_of_format(fmt)
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
        text = layouts.head_text(head)
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

    def parse(self, statement: Statement) -> Iterator[Record | Rejected]:
        where = str(statement.path)
        opts = Options.parse(statement.options)
        profiles = [*saved(strict=True, home=statement.workspace), *builtin()]
        forced = None
        if opts.profile is not None:
            chosen = {p.name: p for p in reversed(profiles)}  # a saved one beats a built-in
            if opts.profile not in chosen:
                raise unknown("csv profile", opts.profile, chosen)
            forced = chosen[opts.profile]
        text, encoding = layouts.decode(statement.data, where, opts.encoding)
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
        yield from reading.run(head[: found.start])

    @staticmethod
    def _prefer(data: bytes, text: str, encoding: str, hint: str) -> tuple[str, str]:
        """Use the bank's known code page when the file is not UTF-8 and decodes with it."""
        if encoding.startswith("utf") or encoding == hint:
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
        self.account_id, self.account_name = self._account()

    def one(self, name: str) -> int | None:
        indices = self.cols.get(name)
        return indices[0] if indices else None

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
        raise BadInput(
            f"{self.where}: this CSV matches no bank profile; say which account it is with "
            "--account NAME"
        )

    def reader(self, strict: bool) -> Reader:
        """The data rows as ``csv`` reads them, from the line after the header."""
        return csv.reader(io.StringIO(self.body), delimiter=self.layout.delimiter, strict=strict)

    def _styles(self) -> tuple[DateReader, AmountReader]:
        """Date order and decimal separator, from the options, the profile or the columns."""
        order, decimal = self.order, self.decimal
        if order is None or decimal is None:
            dates, amounts = OrderVote(), DecimalVote()
            date = self.cols["date"][0]
            money = [
                i
                for f in ("amount", "debit", "credit", "balance", "fee")
                for i in self.cols.get(f, ())
            ]
            try:
                for row in self.reader(strict=False):
                    if len(row) > date:
                        dates.feed(row[date])
                    amounts.feed(row[i] for i in money if i < len(row))
                    if (order or dates.order) and (decimal or amounts.decimal):
                        break
            except csv.Error:
                pass  # the row loop reports where the file breaks
            if order is None:
                order = dates.decide()
                if order is None:
                    raise BadInput(
                        f"{self.where}: dates such as {dates.example!r} read both as day/month "
                        "and month/day; say which with --option date_format=%d/%m/%Y "
                        "(or %m/%d/%Y)"
                    )
            if decimal is None:
                decimal = amounts.decimal or ("," if self.layout.delimiter == ";" else ".")
        self.order, self.decimal = order, decimal
        return DateReader(order), AmountReader(decimal)

    def run(self, preamble: list[str]) -> Iterator[Record | Rejected]:
        dates, amounts = self._styles()
        state = _State(self, amounts)
        yield from state.transactions(dates)
        if state.rejected:
            return
        if self.opts.save_profile:
            self._save(state)
        yield Record("bank.accounts", self._account_record(state, preamble))

    def _account_record(self, state: _State, preamble: list[str]) -> dict[str, Any]:
        currency = self.currency or state.first_currency
        if currency is None:
            raise BadInput(
                f"{self.where}: no currency in this file; say which with --option currency=EUR"
            )
        data: dict[str, Any] = {"id": self.account_id, "name": self.account_name}
        data["currency"] = currency
        if len(state.accounts) > 1:
            shown = ", ".join(repr(a) for a in sorted(state.accounts)[:2])
            raise BadInput(f"{self.where}: holds several accounts ({shown}); export one per file")
        iban = _iban(next(iter(state.accounts), "")) or _iban("\n".join(preamble))
        if iban:
            data["iban"] = iban
        if self.profile is not None:
            data["institution"] = self.profile.bank
            if self.profile.account_type:
                data["type"] = self.profile.account_type
        balance = state.balance()
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
            origin="saved",
        )
        save(self.profile, self.statement.workspace)


class _State:
    """The row loop of one file, and what it learns on the way (currency, balance, account)."""

    def __init__(self, reading: _Reading, amounts: AmountReader) -> None:
        self.reading = reading
        self.amounts = amounts
        self.rejected = False
        self.first_currency: str | None = None
        self.date_sample: str | None = None
        self.width = 0
        self.accounts: set[str] = set()
        self.first_date: dt.date | None = None
        self.last_date: dt.date | None = None
        self.first_latest: tuple[dt.date, Decimal] | None = None
        self.last_latest: tuple[dt.date, Decimal] | None = None
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

    def balance(self) -> tuple[dt.date, Decimal] | None:
        """The running balance of the latest day, whichever way the file is sorted."""
        first, last = self.first_date, self.last_date
        descending = first is not None and last is not None and first > last
        return self.first_latest if descending else self.last_latest

    def transactions(self, dates: DateReader) -> Iterator[Record | Rejected]:
        """Records and rejections, skipping blank, summary and trailing footer lines.

        A line without a date is held back: if data follows it was a bad row and is
        reported, if nothing does it was the bank's footer. A broken quote fails the file.
        """
        reading = self.reading
        date_i = reading.cols["date"][0]
        width = reading.layout.width
        header = list(reading.layout.header)
        cache = dates.cache
        build = self._builder(dates)
        footers: list[Rejected] = []
        rows = reading.reader(strict=True)
        base = reading.layout.start + 1  # file line of the row csv has just read
        previous = 0
        try:
            for row in rows:
                line = base + previous
                previous = rows.line_num
                if len(row) < width:
                    if not any(c.strip() for c in row):
                        continue
                    row = row + [""] * (width - len(row))
                raw_date = row[date_i]
                try:
                    day = cache.get(raw_date) or dates(raw_date)
                except ValueError as exc:
                    if not any(c.strip() for c in row) or row[: len(header)] == header:
                        continue
                    if _summary(row):
                        continue
                    if looks_like_date(raw_date):
                        self.rejected = True
                        yield Rejected(str(exc), f"line {line}")
                    else:
                        footers.append(
                            Rejected(f"{raw_date.strip()!r} is not a date", f"line {line}")
                        )
                    continue
                if footers:
                    self.rejected = True
                    yield from footers
                    footers.clear()
                try:
                    data = build(row, day)
                except ValueError as exc:
                    self.rejected = True
                    yield Rejected(str(exc), f"line {line}")
                    continue
                if data is not None:
                    if self.first_date is None:
                        self.first_date, self.date_sample = day, raw_date
                        self.width = len(row)
                    self.last_date = day
                    yield Record("bank.transactions", data)
        except csv.Error as exc:
            raise BadInput(
                f"{reading.where}:line {base + previous}: {exc} (is the file truncated?)"
            ) from None

    def _builder(self, dates: DateReader) -> Callable[[list[str], dt.date], dict[str, Any] | None]:
        """A function turning one row into a transaction, with this file's columns bound.

        Built once per file so the per-row work is only what the file's columns need: a
        million-row statement spends its time in ``csv`` and ``Decimal``, not in lookups.
        """
        one = self.reading.one
        amount_i, debit_i, credit_i = one("amount"), one("debit"), one("credit")
        value_i, state_i, bal_i = one("value_date"), one("state"), one("balance")
        labels = self.reading.cols.get("label", ())
        label_i = labels[0] if len(labels) == 1 else None
        optional = (self.dir_i, self.fee_i, self.party_i, self.method_i, self.cat_i, self.id_i)
        extras = any(i is not None for i in (*optional, self.acct_i))
        account_id = self.reading.account_id
        amounts, cache = self.amounts, self.amounts.cache
        currency_of = self._currency
        # Without a currency column every row has the file's currency unless one is glued on.
        fixed = self.reading.currency if self.cur_i is None else None
        pending_words, skip_words, skip_labels = self.pending, self.skip, self.skip_labels

        def build(row: list[str], day: dt.date) -> dict[str, Any] | None:
            pending = False
            if state_i is not None:
                state = key(row[state_i])
                if state in skip_words:
                    return None
                pending = state in pending_words
            if amount_i is not None:
                raw = row[amount_i]
                amount, glued = cache.get(raw) or amounts(raw)
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
            skipped = bool(skip_labels) and label.casefold().startswith(skip_labels)
            if amount is None or skipped:
                if skipped or _summary(row):
                    return None
                raise ValueError("no amount")
            data = {
                "account_id": account_id,
                "date": day,
                "amount": amount,
                "currency": fixed if glued is None and fixed else currency_of(row, glued),
                "label": label,
                "pending": pending,
            }
            if value_i is not None and row[value_i].strip():
                data["value_date"] = dates(row[value_i])
            if extras:
                self._extras(row, data)
            if bal_i is not None and not pending:
                self._balance(day, amounts(row[bal_i])[0])
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
        id_i, acct_i = self.id_i, self.acct_i
        if id_i is not None and row[id_i].strip():
            data["id"] = f"{self.reading.account_id}:{row[id_i].strip()}"
        if acct_i is not None and row[acct_i].strip():
            self.accounts.add(row[acct_i].strip())

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

    def _balance(self, day: dt.date, balance: Decimal | None) -> None:
        if balance is None:
            return
        if self.first_latest is None or day > self.first_latest[0]:
            self.first_latest = (day, balance)
        if self.last_latest is None or day >= self.last_latest[0]:
            self.last_latest = (day, balance)


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
