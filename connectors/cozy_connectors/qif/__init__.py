"""``qif``: Quicken Interchange Format statements (``!Type:Bank``, ``!Type:CCard``, ``!Type:Cash``).

No maintained Python library parses QIF's real-world variants (apostrophe years, spaced
day numbers, European decimal commas, ``!Account`` blocks), so this module reads the line
format itself: one code letter per line, ``^`` ends a record. QIF carries no date order; it
is detected from the whole file and asked for (``--option date_order=dmy|mdy``) only when
every date could be read both ways.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from cozy_kernel.connector import Manifest, Record, Rejected
from cozy_kernel.errors import BadInput
from cozy_kernel.importer import FileImporter, Statement

ACCOUNT_TYPES = {"bank": "checking", "ccard": "card", "cash": "cash", "oth a": "asset",
                 "oth l": "loan"}  # fmt: skip
_DATE = re.compile(r"^\s*(\d{1,4})\s*[/.\-]\s*(\d{1,2})\s*(?:[/.\-']\s*(\d{1,4}))\s*$")
_HEADER = re.compile(rb"^\s*!(type|account|option|clear)", re.IGNORECASE)


@dataclass
class _Entry:
    line: int
    fields: dict[str, str] = field(default_factory=dict)


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

    def parse(self, statement: Statement) -> Iterator[Record | Rejected]:
        where = str(statement.path)
        text = _decode(statement.data, where)
        blocks = self._blocks(text, where)
        dates = [e.fields["D"] for _, _, entries in blocks for e in entries if "D" in e.fields]
        order = _order(dates, statement.options.get("date_order"), where)
        for account_name, kind, entries in blocks:
            name = statement.account or account_name or "QIF"
            account_id = f"qif:{_slug(name)}"
            yield Record(
                "bank.accounts",
                {"id": account_id, "name": name, "type": ACCOUNT_TYPES.get(kind),
                 "currency": statement.options.get("currency", "EUR")},
            )  # fmt: skip
            for entry in entries:
                yield self._transaction(entry, account_id, order, statement)

    @staticmethod
    def _blocks(text: str, name: str) -> list[tuple[str | None, str, list[_Entry]]]:
        """Split the file into (account name, account type, entries) sections."""
        blocks: list[tuple[str | None, str, list[_Entry]]] = []
        account: str | None = None
        in_account = False
        kind: str | None = None
        entry = _Entry(1)
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            if line.startswith("!"):
                header = line[1:].strip().lower()
                if header == "account":
                    in_account = True
                elif header.startswith("type:"):
                    kind = header[5:].strip()
                    if kind.startswith("invst") or kind in ("cat", "class", "memorized"):
                        raise BadInput(f"{name}:line {number}: !Type:{line[6:].strip()} is not a "
                                       "bank, credit-card or cash account")  # fmt: skip
                    in_account = False
                    blocks.append((account, kind, []))
                entry = _Entry(number + 1)
                continue
            code, value = line[0], line[1:]
            if code == "^":
                if in_account:
                    in_account = False
                elif entry.fields and blocks:
                    blocks[-1][2].append(entry)
                entry = _Entry(number + 1)
                continue
            if in_account:
                if code == "N":
                    account = value.strip()
                continue
            if kind is None:
                raise BadInput(f"{name}:line {number}: data before any !Type: header")
            if code in entry.fields and code not in "SE$A":
                raise BadInput(
                    f"{name}:line {number}: field {code} twice in one record (missing ^?)"
                )
            entry.fields[code] = value
        if entry.fields:
            raise BadInput(
                f"{name}:line {entry.line}: the last record has no closing ^ (truncated?)"
            )
        if not blocks:
            raise BadInput(f"{name}: no !Type: section")
        return blocks

    @staticmethod
    def _transaction(
        entry: _Entry, account_id: str, order: str, statement: Statement
    ) -> Record | Rejected:
        f = entry.fields
        where = f"line {entry.line}"
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
        label = " — ".join(p for p in (payee, memo) if p) or (f.get("N", "").strip() or "")
        if not label:
            return Rejected("the record has no payee, memo or number to label it", where)
        number = f.get("N", "").strip()
        method = "check" if number.isdigit() else (number.lower() or None)
        return Record(
            "bank.transactions",
            {
                "account_id": account_id, "date": day, "amount": amount,
                "currency": statement.options.get("currency", "EUR"), "label": label,
                "counterparty": payee, "category": f.get("L", "").strip() or None,
                "method": method, "pending": False,
            },
        )  # fmt: skip
