"""Read accounts and transactions from an OFX element tree.

Fields are read from the tree ofxtools built rather than through ``OFXTree.convert()``:
convert shifts every date to UTC (a card payment at 22:00 in New York would land on the next
day), refuses a whole file over one deviation from the spec (an unknown ``TRNTYPE``, a
``MEMO`` over 255 characters, a missing ``SONRS`` field) and, on a large file, takes three
times as long as parsing it. The field rules still come from ofxtools where they fit: its
date pattern and its entity unescaping.

Every ``STMTTRN``/``STMTTRNP`` element of the tree is accounted for exactly once: read into
a transaction, rejected with its line and reason, or skipped with its reason (a repeat of a
FITID already read), so the core can check the count against the file's own.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import unescape

from ofxtools.Types import DT_REGEX

from cozy_connectors.ofx.markup import OFX_START, uncommented
from cozy_kernel.connector import Record, Rejected, Skipped
from cozy_kernel.errors import BadInput
from cozy_kernel.importer import Statement, normalise_label

ACCOUNT_TYPES = {
    "CHECKING": "checking",
    "SAVINGS": "savings",
    "MONEYMRKT": "savings",
    "CD": "savings",
    "CREDITLINE": "loan",
}
_CENT = Decimal("0.01")
# ofxtools' Decimal also takes exponents, NaN and Infinity, which no bank means as an amount;
# a comma decimal mark is allowed by the OFX spec and used by French banks.
_AMOUNT = re.compile(r"[+-]?(?:\d{1,16}(?:[.,]\d*)?|[.,]\d+)")
_CURRENCY = re.compile(r"[A-Z]{3}")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
# The same entities ofxtools' String type unescapes: banks mix XML and HTML habits.
_ENTITIES = {"&nbsp;": " ", "&apos;": "'", "&quot;": '"'}
_ROWS = ("STMTTRN", "STMTTRNP")


class _Bad(Exception):
    """A field that cannot be read; ``tag`` points the user at its line."""

    def __init__(self, reason: str, tag: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tag = tag


def _text(element: ET.Element | None) -> str | None:
    if element is None or not element.text:
        return None
    text = element.text.strip()
    if "&" in text:
        text = unescape(text, _ENTITIES)
    return text or None


def _amount(text: str | None, tag: str) -> Decimal:
    """An exact amount from its text, never through float; more than cents is refused."""
    if text is None:
        raise _Bad(f"{tag} is missing", tag)
    if not _AMOUNT.fullmatch(text):
        raise _Bad(f"{tag} {text!r} is not an amount", tag)
    value = Decimal(text.replace(",", "."))
    cents = value.quantize(_CENT)
    if cents != value:
        raise _Bad(f"{tag} {text} has more than 2 decimal places", tag)
    return cents


def _date(text: str | None, tag: str) -> dt.date:
    """The calendar date as the bank wrote it, whatever time zone follows it."""
    if text is None:
        raise _Bad(f"{tag} is missing", tag)
    match = DT_REGEX.match(text)
    if match is None:
        raise _Bad(f"{tag} {text!r} is not an OFX date (YYYYMMDD…)", tag)
    try:
        return dt.date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        raise _Bad(f"{tag} {text!r} is not a real date", tag) from None


def _currency(text: str | None, tag: str) -> str:
    code = (text or "").upper()
    if not _CURRENCY.fullmatch(code):
        raise _Bad(f"{tag} {text!r} is not an ISO 4217 currency code", tag)
    return code


def _is_iban(text: str) -> bool:
    """European banks often put the IBAN in ACCTID; the ISO 13616 check tells it apart."""
    if not _IBAN.fullmatch(text):
        return False
    digits = "".join(str(int(c, 36)) for c in text[4:] + text[:4])
    return int(digits) % 97 == 1


def _bare(text: str) -> str:
    """The core's label comparison, skipping accent stripping when there are none."""
    return " ".join(text.lower().split()) if text.isascii() else normalise_label(text)


def _label(name: str | None, memo: str | None) -> str | None:
    """NAME, with MEMO when it adds something: banks cut NAME at 32 characters."""
    if not memo or name is None:
        return name or memo
    if memo in name:
        return name
    if name in memo:
        return memo
    bare_name, bare_memo = _bare(name), _bare(memo)
    if bare_memo in bare_name:
        return name
    if bare_name in bare_memo:
        return memo
    return f"{name} {memo}"


class _Locator:
    """Line numbers of elements in the file's bytes, worked out only once a row needs one.

    The tree keeps no positions, but the n-th ``<STMTTRN>`` element is the n-th
    ``<STMTTRN>`` tag from ``<OFX>`` on, comments aside, and tag names are ASCII in every
    charset OFX allows.
    """

    def __init__(self, data: bytes, root: ET.Element) -> None:
        self.data = uncommented(data)
        start = OFX_START.search(self.data)
        self.start = start.start() if start else 0
        self.root = root
        self.newlines = [m.start() for m in re.finditer(b"\n", data)]
        self.indexes: dict[str, dict[int, int]] = {}
        self.offsets: dict[str, list[int]] = {}

    def _tag(self, tag: str) -> re.Pattern[bytes]:
        return re.compile(b"<" + re.escape(tag.encode("ascii", "replace")) + b" *>", re.I)

    def line(self, element: ET.Element, field: str | None = None) -> str:
        tag = element.tag
        if tag not in self.indexes:
            self.indexes[tag] = {id(e): i for i, e in enumerate(self.root.iter(tag))}
            tags = self._tag(tag).finditer(self.data, self.start)
            self.offsets[tag] = [m.start() for m in tags]
        index = self.indexes[tag].get(id(element), -1)
        offsets = self.offsets[tag]
        if not 0 <= index < len(offsets):
            return tag
        start = offsets[index]
        if field is not None:
            end = offsets[index + 1] if index + 1 < len(offsets) else len(self.data)
            found = self._tag(field).search(self.data, start, end)
            start = found.start() if found else start
        return f"line {bisect.bisect_left(self.newlines, start) + 1}"


class Reader:
    """One file's accounts and transactions, from its ``<OFX>`` element."""

    def __init__(self, statement: Statement, root: ET.Element) -> None:
        self.statement = statement
        self.root = root
        self.institution = _text(root.find("SIGNONMSGSRSV1/SONRS/FI/ORG"))
        self.locator: _Locator | None = None

    def where(self, element: ET.Element, field: str | None = None) -> str:
        if self.locator is None:
            self.locator = _Locator(self.statement.data, self.root)
        return self.locator.line(element, field)

    def items(self) -> Iterator[Record | Rejected | Skipped]:
        statements = [*self.root.iter("STMTRS"), *self.root.iter("CCSTMTRS")]
        if not statements:
            raise BadInput(f"{self.statement.path}: {self._missing()}")
        several = len({_text(s.find("*/ACCTID")) for s in statements}) > 1
        accounts: dict[str, dict[str, Any]] = {}
        rows: list[tuple[dict[str, Any], ET.Element]] = []
        seen: set[int] = set()
        for element in statements:
            entries = [(e, pending) for e, pending in self._entries(element) if id(e) not in seen]
            seen.update(id(e) for e, _ in entries)
            try:
                account = self._account(element, several)
            except _Bad as bad:
                where = self.where(element, bad.tag)
                reason = f"its statement's account cannot be read ({where}: {bad.reason})"
                for entry, _ in entries:
                    yield Rejected(reason, self.where(entry))
                continue
            known = accounts.get(account["id"])
            if known is None or _newer(account, known):
                accounts[account["id"]] = account
            for entry, pending in entries:
                try:
                    rows.append((self._transaction(entry, account, pending), entry))
                except _Bad as bad:
                    yield Rejected(bad.reason, self.where(entry, bad.tag))
        for account in accounts.values():
            yield Record("bank.accounts", account)
        yield from self._unique(rows)
        yield from self._strays(seen)

    def _unique(self, rows: list[tuple[dict[str, Any], ET.Element]]) -> Iterator[Record | Skipped]:
        """Skip repeats of one FITID; a FITID reused for different rows is not trusted.

        A file with overlapping statements lists a transaction twice under one FITID: the
        repeat is skipped, and says so. Some banks also reuse a FITID for different
        transactions: keeping it as the id would let one row overwrite the other, so those
        rows get the core's composite id instead.
        """
        by_id: dict[str, list[dict[str, Any]]] = {}
        for row, _ in rows:
            if "id" in row:
                by_id.setdefault(row["id"], []).append(row)
        reused = {key for key, same in by_id.items() if any(r != same[0] for r in same[1:])}
        first: dict[str, ET.Element] = {}
        for row, entry in rows:
            key = row.get("id")
            if key in reused:
                yield Record("bank.transactions", {k: v for k, v in row.items() if k != "id"})
            elif key is None:
                yield Record("bank.transactions", row)
            elif key in first:
                fitid = _text(entry.find("FITID"))
                yield Skipped(
                    f"repeats FITID {fitid} already read at {self.where(first[key])}",
                    self.where(entry),
                )
            else:
                first[key] = entry
                yield Record("bank.transactions", row)

    def _strays(self, seen: set[int]) -> Iterator[Rejected | Skipped]:
        """Rows outside a statement's transaction lists: counted, never silently lost.

        An investment statement's cash rows (``INVBANKTRAN``) are skipped, as investment
        statements are not imported; any other row sits where no statement can own it.
        """
        strays = [e for e in self.root.iter() if e.tag in _ROWS and id(e) not in seen]
        if not strays:
            return
        parents = {id(child): parent for parent in self.root.iter() for child in parent}
        for entry in strays:
            ancestor: ET.Element | None = entry
            while ancestor is not None and ancestor.tag != "INVSTMTRS":
                ancestor = parents.get(id(ancestor))
            if ancestor is not None:
                reason = "an investment statement's cash movement: only bank and card ones are read"
                yield Skipped(reason, self.where(entry))
            else:
                home = "BANKTRANLISTP" if entry.tag == "STMTTRNP" else "BANKTRANLIST"
                reason = f"{entry.tag} outside the {home} of a bank or card statement"
                yield Rejected(reason, self.where(entry))

    def _missing(self) -> str:
        """Why a file holds no statement, in the bank's words when it sent an error."""
        for status in self.root.iterfind(".//STATUS"):
            if (_text(status.find("SEVERITY")) or "").upper() == "ERROR":
                said = _text(status.find("MESSAGE")) or f"code {_text(status.find('CODE'))}"
                return f"the bank sent an error instead of a statement: {said}"
        if self.root.find(".//INVSTMTRS") is not None:
            return "investment statements (INVSTMTRS) are not imported, only bank and card ones"
        return "no bank or credit-card statement (STMTRS or CCSTMTRS) in this OFX file"

    def _account(self, element: ET.Element, several: bool) -> dict[str, Any]:
        card = element.tag == "CCSTMTRS"
        holder = element.find("CCACCTFROM" if card else "BANKACCTFROM")
        if holder is None:
            raise _Bad(f"{element.tag} has no {'CC' if card else 'BANK'}ACCTFROM", element.tag)
        number = _text(holder.find("ACCTID"))
        if number is None:
            raise _Bad(f"{holder.tag} has no ACCTID", holder.tag)
        bank = None if card else _text(holder.find("BANKID"))
        prefix = "cc" if card else bank
        key = f"ofx:{prefix}:{number}" if prefix else f"ofx:{number}"
        last4 = number[-4:]
        if self.statement.account:
            name = f"{self.statement.account} {last4}" if several else self.statement.account
        else:
            fallback = "Credit card" if card else "Bank account"
            name = f"{self.institution or bank or fallback} {last4}"
        kind = _text(holder.find("ACCTTYPE"))
        compact = number.replace(" ", "").upper()
        balance, balance_date = _balance(element.find("LEDGERBAL"))
        return {
            "id": key,
            "name": name,
            "type": "card" if card else ACCOUNT_TYPES.get((kind or "").upper()),
            "iban": compact if _is_iban(compact) else None,
            "currency": _currency(_text(element.find("CURDEF")), "CURDEF"),
            "balance": balance,
            "balance_date": balance_date,
            "institution": self.institution,
        }

    @staticmethod
    def _entries(element: ET.Element) -> Iterable[tuple[ET.Element, bool]]:
        for entry in element.iterfind("BANKTRANLIST/STMTTRN"):
            yield entry, False
        for entry in element.iterfind("BANKTRANLISTP/STMTTRNP"):
            yield entry, True

    @staticmethod
    def _transaction(entry: ET.Element, account: dict[str, Any], pending: bool) -> dict[str, Any]:
        # An empty element (<DTUSER/>, <CURRENCY></CURRENCY>) says nothing: read as absent.
        fields = {child.tag: child for child in entry if child.text or len(child)}
        when = "DTTRAN" if pending else "DTPOSTED"
        date = _date(_text(fields.get(when)), when)
        value_date = None
        if not pending and "DTUSER" in fields:
            value_date = _date(_text(fields["DTUSER"]), "DTUSER")
        amount = _amount(_text(fields.get("TRNAMT")), "TRNAMT")
        currency = account["currency"]
        foreign = fields.get("CURRENCY")  # the amount is in CURSYM (with ORIGCURRENCY, in CURDEF)
        if foreign is not None:
            code = _text(foreign.find("CURSYM")) if len(foreign) else _text(foreign)
            currency = _currency(code, "CURSYM")
        payee = fields.get("PAYEE")
        counterparty = None if payee is None else _text(payee.find("NAME"))
        kind = (_text(fields.get("TRNTYPE")) or "").upper()
        name = _text(fields.get("NAME")) or _text(fields.get("EXTDNAME")) or counterparty
        label = _label(name, _text(fields.get("MEMO")))
        if label is None:  # a cheque often carries only its number
            number = _text(fields.get("CHECKNUM"))
            label = " ".join(p for p in (kind or "OFX transaction", number) if p)
        row = {
            "account_id": account["id"],
            "date": date,
            "value_date": value_date,
            "amount": amount,
            "currency": currency,
            "label": label,
            "counterparty": counterparty,
            "method": kind.lower() if kind and kind != "OTHER" else None,
            "pending": pending,
        }
        fitid = _text(fields.get("FITID"))
        if fitid:
            row["id"] = f"{account['id']}:{fitid}"
        return row


def _balance(ledger: ET.Element | None) -> tuple[Decimal | None, dt.date | None]:
    """The ledger balance and its date, or neither: the balance is optional.

    ofxstatement writes an empty ``<BALAMT/>`` whenever it knows no balance, and a file may
    carry a malformed date (``00000000``); the transactions are no less good for it. A
    balance without its date is dropped too: it could not be ordered against the one
    already stored, which the core then keeps.
    """
    if ledger is None:
        return None, None
    try:
        return (
            _amount(_text(ledger.find("BALAMT")), "BALAMT"),
            _date(_text(ledger.find("DTASOF")), "DTASOF"),
        )
    except _Bad:
        return None, None


def _newer(account: dict[str, Any], known: dict[str, Any]) -> bool:
    """Of two statements of one account in a file, the later balance wins."""
    mine: dt.date = account["balance_date"] or dt.date.min
    theirs: dt.date = known["balance_date"] or dt.date.min
    return mine >= theirs
