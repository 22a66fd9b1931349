"""``qif``: Quicken Interchange Format statements (``!Type:Bank``, ``!Type:CCard``, ``!Type:Cash``).

No maintained Python library parses QIF's real-world variants (apostrophe years, spaced
day numbers, European decimal commas, ``!Account`` blocks), so this module reads the line
format itself: one code letter per line, ``^`` ends a record. QIF carries no date order; it
is detected from the whole file and asked for (``--option date_order=dmy|mdy``) only when
every date could be read both ways.

A full Quicken export holds lists besides transactions: an ``!Account`` list, categories
(``!Type:Cat``), classes, memorized payees, securities, prices. Lists are read past; each
``!Account`` record names the account of the transaction sections that follow it, so every
account of the export keeps its own transactions. Records of sections that are no bank,
card, cash or asset/liability account (investments, unknown types) are skipped with their
line, never read as bank transactions.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from cozy_kernel.connector import Manifest, Record, Rejected, Skipped
from cozy_kernel.errors import BadInput
from cozy_kernel.importer import FileImporter, Statement

ACCOUNT_TYPES = {"bank": "checking", "ccard": "card", "cash": "cash", "oth a": "asset",
                 "oth l": "loan"}  # fmt: skip
# Quicken's list sections: categories, classes, memorized payees, securities and the like.
# Their records describe the file's vocabulary, not money that moved: no data rows.
LISTS = frozenset({"cat", "category", "class", "memorized", "memorized payee", "security",
                   "prices", "tag", "budget", "template", "payee"})  # fmt: skip
_ACCOUNT_LIST = "!account"  # what ``!Account`` opens; no !Type: name can be this
_REPEATABLE = frozenset("SE$%A")  # split lines and address lines come several per record
_DATE = re.compile(r"^\s*(\d{1,4})\s*[/.\-]\s*(\d{1,2})\s*(?:[/.\-']\s*(\d{1,4}))\s*$")
_HEADER = re.compile(rb"^\s*!(type|account|option|clear)", re.IGNORECASE)


@dataclass
class _Record:
    """One record's fields, from its first line; ``problem`` says why it is no record."""

    line: int
    fields: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    def add(self, code: str, value: str, number: int) -> None:
        if code in self.fields and code not in _REPEATABLE and self.problem is None:
            self.problem = f"field {code} twice in one record (line {number}: missing ^?)"
        self.fields[code] = value


@dataclass
class _Section:
    """A ``!Type:`` section (or an unknown header) holding records, and its account's name."""

    kind: str
    header: str
    account: str | None
    records: list[_Record] = field(default_factory=list)


def _kind(header: str) -> str | None:
    """What a ``!`` header opens: a section kind, the account list, or None for options,
    which change nothing (``!Option:AllXfr`` sits right after ``!Type:Bank``)."""
    lowered = " ".join(header.lower().split())
    if lowered == "account":
        return _ACCOUNT_LIST
    if lowered.startswith(("option:", "clear:")):
        return None
    return lowered.removeprefix("type:").strip() or f"!{lowered}"


def _decode(data: bytes, name: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Quicken on Windows writes the ANSI code page; cp1252 is what it is in practice.
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            raise BadInput(f"{name}: neither UTF-8 nor Windows-1252 text") from None


def _amount(text: str) -> Decimal:
    """QIF amounts: ``-1,234.56`` (US/UK) or ``-1.234,56`` (European Quicken)."""
    raw = text.strip().replace(" ", "").replace("\u00a0", "")
    if "," in raw and "." in raw:
        decimal_mark = "," if raw.rfind(",") > raw.rfind(".") else "."
    elif "," in raw:
        decimal_mark = "," if len(raw) - raw.rfind(",") - 1 in (1, 2) else "."
    else:
        decimal_mark = "."
    thousands = "." if decimal_mark == "," else ","
    cleaned = raw.replace(thousands, "").replace(decimal_mark, ".")
    value = Decimal(cleaned)
    if value != value.quantize(Decimal("0.01")):
        raise InvalidOperation(text)
    return value.quantize(Decimal("0.01"))


def _year(text: str, apostrophe: bool) -> int:
    year = int(text)
    if len(text) <= 2:
        # Quicken writes 2000s years after an apostrophe (1/2'05) and 1900s after a slash.
        year += 2000 if apostrophe or year < 70 else 1900
    return year


def _date_parts(text: str) -> tuple[int, int, int, bool]:
    match = _DATE.match(text)
    if match is None:
        raise ValueError(text)
    a, b, c = match.groups()
    return int(a), int(b), _year(c, "'" in text) if len(a) <= 2 else int(c), len(a) == 4


def _order(dates: list[str], chosen: str | None, name: str) -> str:
    if chosen is not None:
        if chosen not in ("dmy", "mdy", "ymd"):
            raise BadInput(f"{name}: option date_order={chosen!r} is not dmy, mdy or ymd")
        return chosen
    firsts, seconds = set(), set()
    for text in dates:
        try:
            a, b, _, year_first = _date_parts(text)
        except ValueError:
            continue
        if year_first:
            return "ymd"
        firsts.add(a)
        seconds.add(b)
    if any(v > 12 for v in firsts):
        return "dmy"
    if any(v > 12 for v in seconds):
        return "mdy"
    if not dates:
        return "mdy"
    raise BadInput(
        f"{name}: every date could be day/month or month/day (e.g. {dates[0].strip()})",
        hint="rerun with --option date_order=dmy or --option date_order=mdy",
    )


def _date(text: str, order: str) -> dt.date:
    a, b, c, _ = _date_parts(text)
    if order == "ymd":
        match = _DATE.match(text)
        assert match is not None
        return dt.date(a, b, int(match.group(3)))
    day, month = (a, b) if order == "dmy" else (b, a)
    return dt.date(c, month, day)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "account"


class _Reader:
    """Splits QIF text into sections of records, reading account names past list sections.

    A record runs from its first field line to ``^``. One still open at the next ``!`` header
    or at the end of the file lost its ``^``: it is kept with that problem, so the importer
    refuses that row instead of the file or, worse, merging it into the next record.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.sections: list[_Section] = []
        self.account: str | None = None  # the last account an !Account record named
        self.kind: str | None = None  # what the last header opened
        self.record: _Record | None = None

    def read(self, text: str) -> list[_Section]:
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("!"):
                self.close(f"the record has no closing ^ before line {number}")
                self.header(line[1:].strip())
            elif line.startswith("^"):
                self.close(None)
            elif self.kind is None:
                raise BadInput(f"{self.name}:line {number}: data before any !Type: header")
            else:
                if self.record is None:
                    self.record = _Record(number)
                self.record.add(line[0], line[1:], number)
        self.close("the last record has no closing ^ (truncated?)")
        return self.sections

    def header(self, header: str) -> None:
        kind = _kind(header)
        if kind is None:
            return
        self.kind = kind
        if kind != _ACCOUNT_LIST and kind not in LISTS:
            self.sections.append(_Section(kind, header, self.account))

    def close(self, problem: str | None) -> None:
        record, self.record = self.record, None
        if record is None:
            return
        if self.kind == _ACCOUNT_LIST:
            self.account = record.fields.get("N", "").strip() or self.account
        elif self.kind not in LISTS:
            record.problem = record.problem or problem
            self.sections[-1].records.append(record)


def _skip_reason(section: _Section) -> str:
    if section.kind == "invst":
        return f"!{section.header} holds investment transactions, which are not imported"
    return f"!{section.header} is no bank, card, cash or asset account: not imported"


class QifImporter(FileImporter):
    """Quicken QIF exports of bank, credit-card and cash accounts."""

    formats: ClassVar[str] = "QIF"
    manifest = Manifest(
        id="qif",
        name="QIF statements",
        version="1.0.0",
        kind="file",
        writes=("bank.accounts", "bank.transactions"),
        categories=("banking",),
        personal_data=("pd:FinancialAccount", "pd:Transaction"),
        purposes=("Import the statements you downloaded from your bank into your workspace",),
        description={
            "en": "Quicken QIF files (bank, credit card, cash) you exported yourself.",
            "es": "Archivos QIF de Quicken (banco, tarjeta, efectivo) que exportaste tú.",
            "fr": "Fichiers QIF de Quicken (banque, carte, espèces) que vous avez exportés.",
        },
    )

    @classmethod
    def identify(cls, name: str, head: bytes) -> bool:
        return _HEADER.match(head.removeprefix(b"\xef\xbb\xbf")) is not None

    def parse(self, statement: Statement) -> Iterator[Record | Rejected | Skipped]:
        where = str(statement.path)
        sections = _Reader(where).read(_decode(statement.data, where))
        banking = [s for s in sections if s.kind in ACCOUNT_TYPES]
        if not banking:
            why = _skip_reason(sections[0]) + "; there is" if sections else "only lists, and"
            raise BadInput(f"{where}: {why} no !Type:Bank, CCard, Cash, Oth A or Oth L section")
        dates = [r.fields["D"] for s in banking for r in s.records if "D" in r.fields]
        order = _order(dates, statement.options.get("date_order"), where)
        named = sorted({s.account for s in banking if s.records and s.account})
        if statement.account and len(named) > 1:
            raise BadInput(
                f"{where}: holds {len(named)} accounts ({', '.join(named)}); --account would "
                "merge them into one",
                hint="import this file without --account",
            )
        currency = statement.options.get("currency", "EUR")
        accounts: set[str] = set()
        for section in sections:
            if section.kind not in ACCOUNT_TYPES:
                reason = _skip_reason(section)
                yield from (Skipped(reason, f"line {r.line}") for r in section.records)
                continue
            name = statement.account or section.account or "QIF"
            account_id = f"qif:{_slug(name)}"
            if account_id not in accounts:
                accounts.add(account_id)
                yield Record(
                    "bank.accounts",
                    {"id": account_id, "name": name, "type": ACCOUNT_TYPES[section.kind],
                     "currency": currency},
                )  # fmt: skip
            for record in section.records:
                yield self._transaction(record, account_id, order, currency)

    def census(self, statement: Statement) -> int:
        """Records in sections other than lists, counted line by line without reading them."""
        text = _decode(statement.data, str(statement.path))
        count, counting, open_record = 0, False, False
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith(("!", "^")) and open_record:
                count += counting
                open_record = False
            if line.startswith("!"):
                kind = _kind(line[1:])
                counting = counting if kind is None else kind not in LISTS | {_ACCOUNT_LIST}
            elif line and not line.startswith("^"):
                open_record = True
        return count + (counting and open_record)

    @staticmethod
    def _transaction(
        record: _Record, account_id: str, order: str, currency: str
    ) -> Record | Rejected:
        """One bank, card or cash record as a transaction.

        A record with no payee, memo or number is still money that moved: it is kept with
        an empty label rather than one made up from its category, so that its composite id
        (date, amount, label) stays the same when the category is changed and re-exported.
        """
        f = record.fields
        where = f"line {record.line}"
        if record.problem is not None:
            return Rejected(record.problem, where)
        if "D" not in f:
            return Rejected("the record has no D (date) line", where)
        amount_text = f.get("T", f.get("U"))
        if amount_text is None:
            return Rejected("the record has no T (amount) line", where)
        try:
            day = _date(f["D"], order)
        except ValueError:
            return Rejected(f"date {f['D'].strip()!r} is not a date", where)
        try:
            amount = _amount(amount_text)
        except (InvalidOperation, ValueError):
            return Rejected(f"amount {amount_text.strip()!r} is not an amount in cents", where)
        payee = f.get("P", "").strip() or None
        memo = f.get("M", "").strip()
        number = f.get("N", "").strip()
        label = " — ".join(p for p in (payee, memo) if p) or number
        method = "check" if number.isdigit() else (number.lower() or None)
        return Record(
            "bank.transactions",
            {
                "account_id": account_id, "date": day, "amount": amount, "currency": currency,
                "label": label, "counterparty": payee, "category": f.get("L", "").strip() or None,
                "method": method, "pending": False,
            },
        )  # fmt: skip
