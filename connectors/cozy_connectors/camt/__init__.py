"""``camt``: ISO 20022 bank statements (camt.053) and intraday account reports (camt.052).

Each camt version has its own XML namespace (``camt.053.001.02`` … ``.001.10``) but keeps the
element names, so the reader matches local names and reads every version the same way. XML
goes through ``defusedxml`` with DTDs refused: a camt document never needs one, and refusing
it stops entity bombs and external fetches before anything is expanded. Only the mapping of
elements to rows is written here: the Python camt readers on PyPI are 0.0.x pre-releases.

camt.052.001.01 and camt.053.001.01, the 2006 versions some German banks still send, differ
in places: the message element carries its version (``BkToCstmrAcctRptV01``), a balance type
is ``Tp/Cd`` rather than ``Tp/CdOrPrtry/Cd``, ``TxDtls`` sit right under ``Ntry`` without
``NtryDtls``, and an account may be a ``PrtryAcct``. Both shapes are read.

The account's balance is the booked one (``CLBD``, in an intraday report ``ITBD``, else the
``PRCD`` a report starts from), the latest such date winning: an available balance (``CLAV``)
is used only when the file gives no booked balance, and a forward one (``FWAV``) never, as
either includes money not yet booked and is often dated days after the closing balance.

Each transaction of an entry (each ``TxDtls``, or the entry itself when it has none) is a
data row, which :meth:`CamtImporter.census` counts apart from the reading. A batch whose
transactions carry amounts adding up to its total is split into them; any other batch is one
row for its total, and its other transactions are reported as skipped, not silently merged.

Signs follow the ISO usage rule: ``CdtDbtInd`` is the direction of the entry itself, and
``RvslInd`` says the entry undoes an earlier one of the opposite direction. A reversal
therefore keeps its sign but flips which related party is the counterparty: a returned
direct debit is money in whose counterparty is still the creditor that had collected it.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DTDForbidden

from cozy_kernel.connector import Manifest, Record, Rejected, Skipped
from cozy_kernel.errors import BadInput
from cozy_kernel.importer import FileImporter, Statement
from cozy_kernel.schemas import money_to_minor

# Message element -> (statement element, message number its namespace must carry); the 2006
# versions (.001.01) add their version to the element name.
_MESSAGES = {"BkToCstmrStmt": ("Stmt", "053"), "BkToCstmrAcctRpt": ("Rpt", "052")}
_VERSIONED = re.compile(r"(BkToCstmr(?:Stmt|AcctRpt))(?:V01)?")
_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.(05[23])\.\d{3}\.\d{2}")
_XML_ERRORS = (ParseError, ValueError, LookupError)  # defusedxml's refusals are ValueErrors
_HEAD_ELEMENTS = 200  # the message element follows the root, or a business application header

# xs:decimal as camt writes it: unsigned (CdtDbtInd gives the direction), a dot, no exponent.
_DECIMAL = re.compile(r"([0-9]{1,18})(?:\.([0-9]+))?")
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SEQUENCE_NUMBER = re.compile(r"[0-9]{1,6}")
_PLACEHOLDERS = frozenset({"NONREF", "NOTPROVIDED", "NOT PROVIDED", "NONE"})

# Balance types that can stand for the account's balance on their date: (booked, rank).
# A booked balance always beats an available one, whatever their dates; then the latest.
_BALANCES = {"CLBD": (1, 3), "ITBD": (1, 2), "PRCD": (1, 1), "CLAV": (0, 0)}
_STATUSES = {"BOOK": False, "PDNG": True, "INFO": True, "FUTR": True}
_ACCOUNT_TYPES = {"CACC": "checking", "SLRY": "checking", "TRAN": "checking",
                  "SVGS": "savings", "LLSV": "savings", "LOAN": "loan"}  # fmt: skip
# ISO bank transaction codes: sub-families that say more than their family, then families.
_SUB_FAMILIES = {"CWDL": "atm", "INTR": "interest", "CHRG": "fee", "FEES": "fee",
                 "COMM": "fee", "ESDD": "direct_debit", "BBDD": "direct_debit",
                 "POSD": "card", "POSC": "card", "SMRT": "card"}  # fmt: skip
_FAMILIES = {"ICDT": "transfer", "RCDT": "transfer", "IDDT": "direct_debit",
             "RDDT": "direct_debit", "CCRD": "card", "MCRD": "card", "ICHQ": "check",
             "RCHQ": "check", "CNTR": "cash"}  # fmt: skip
# SWIFT MT940 mnemonics that German and Austrian banks put first in a proprietary code.
_MNEMONICS = {"NTRF": "transfer", "NSTO": "transfer", "NDDT": "direct_debit",
              "NCHK": "check", "NCHG": "fee", "NINT": "interest"}  # fmt: skip


class _Invalid(Exception):
    """An element the reader cannot take; becomes a ``Rejected`` naming the element path."""

    def __init__(self, reason: str, source: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.source = source


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _message(tag: object) -> str | None:
    """The statement element name if ``tag`` is a camt.053/052 message element."""
    versioned = _VERSIONED.fullmatch(_local(tag))
    if versioned is None or not isinstance(tag, str):
        return None
    kind, number = _MESSAGES[versioned.group(1)]
    namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
    match = _NAMESPACE.fullmatch(namespace)
    if namespace and (match is None or match.group(1) != number):
        return None
    return kind


def _child(el: Element | None, path: str) -> Element | None:
    for name in path.split("/"):
        if el is None:
            return None
        el = next((c for c in el if _local(c.tag) == name), None)
    return el


def _first(el: Element, paths: tuple[str, ...]) -> Element | None:
    """The first of ``paths`` present; never ``a or b``, as a childless Element is falsy."""
    return next((found for p in paths if (found := _child(el, p)) is not None), None)


def _first_text(el: Element | None, paths: tuple[str, ...]) -> str | None:
    return next((text for p in paths if (text := _text(el, p)) is not None), None)


def _details(entry: Element, where: str) -> list[tuple[Element, str]]:
    """An entry's transactions with their paths: in ``NtryDtls``, or right under the entry
    in the 2006 versions."""
    groups = _children(entry, "NtryDtls")
    found = []
    for number, group in enumerate(groups, start=1):
        prefix = f"{where}/NtryDtls" + (f"[{number}]" if len(groups) > 1 else "")
        txs = _children(group, "TxDtls")
        found += [(tx, f"{prefix}/TxDtls[{i}]") for i, tx in enumerate(txs, start=1)]
    txs = _children(entry, "TxDtls")
    return found + [(tx, f"{where}/TxDtls[{i}]") for i, tx in enumerate(txs, start=1)]


def _children(el: Element | None, name: str) -> list[Element]:
    return [] if el is None else [c for c in el if _local(c.tag) == name]


def _clean(el: Element | None) -> str | None:
    """An element's text with whitespace normalised, or None when absent or blank."""
    text = " ".join((el.text or "").split()) if el is not None else ""
    return text or None


def _text(el: Element | None, path: str) -> str | None:
    return _clean(_child(el, path))


def _texts(el: Element | None, path: str, name: str) -> list[str | None]:
    return [_clean(line) for line in _children(_child(el, path), name)]


def _date_text(text: str, source: str) -> dt.date:
    """The calendar date as the bank wrote it; a time zone never shifts it."""
    try:
        match = _DATE.fullmatch(text)
        if match is not None:
            return dt.date.fromisoformat(match.group(1))
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        raise _Invalid(f"{text!r} is not an ISO date", source) from None


def _date(el: Element | None, source: str) -> dt.date | None:
    """A DateAndDateTimeChoice (``Dt`` or ``DtTm``) as a date, None when absent."""
    for name in ("Dt", "DtTm"):
        text = _text(el, name)
        if text is not None:
            return _date_text(text, f"{source}/{name}")
    return None


def _amount(el: Element | None, source: str) -> Decimal:
    """An unsigned camt amount, exact to the cent or refused."""
    text = "" if el is None else (el.text or "").strip()
    match = _DECIMAL.fullmatch(text)
    if match is None:
        raise _Invalid(f"amount {text!r} is not an unsigned decimal like 1234.56", source)
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    if len(fraction) > 2:
        raise _Invalid(f"amount {text} has more than 2 decimal places", source)
    value = Decimal(f"{whole}.{fraction.ljust(2, '0')}")
    try:
        money_to_minor(value)
    except ValueError as exc:
        raise _Invalid(str(exc), source) from None
    return value


def _currency(code: str | None, source: str) -> str:
    if code is None or not _CURRENCY.fullmatch(code):
        raise _Invalid(f"currency {code!r} is not an ISO 4217 code", source)
    return code


def _sign(el: Element, source: str) -> int:
    indicator = _text(el, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise _Invalid(f"CdtDbtInd {indicator!r} is neither CRDT nor DBIT", source)
    return 1 if indicator == "CRDT" else -1


def _party(tx: Element, role: str) -> str | None:
    """A related party's name; camt.053.001.08 and later wrap it in ``Pty``."""
    return _text(tx, f"RltdPties/{role}/Nm") or _text(tx, f"RltdPties/{role}/Pty/Nm")


def _reference(text: str | None) -> str | None:
    return None if text is None or text.upper() in _PLACEHOLDERS else text


def _single(values: list[str | None]) -> str | None:
    """The one value every element agrees on, else None (refs must be unique to be ids)."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _label(parts: list[str | None]) -> str:
    """Join the bank's texts, saying nothing twice (banks often repeat themselves)."""
    label = ""
    for part in parts:
        if not part or part.casefold() in label.casefold():
            continue
        label = part if label.casefold() in part.casefold() else f"{label} {part}"
    return label


def _method(entry: Element) -> str | None:
    code = _child(entry, "BkTxCd")
    sub_family = _text(code, "Domn/Fmly/SubFmlyCd")
    family = _text(code, "Domn/Fmly/Cd")
    if sub_family in _SUB_FAMILIES:
        return _SUB_FAMILIES[sub_family]
    if family in _FAMILIES:
        return _FAMILIES[family]
    proprietary = _text(code, "Prtry/Cd") or ""
    return _MNEMONICS.get(re.split(r"[+/ ]", proprietary, maxsplit=1)[0])


def _load(statement: Statement) -> Element:
    try:
        root: Element = safe_xml.fromstring(statement.data, forbid_dtd=True)
    except DTDForbidden:
        raise BadInput(
            f"{statement.path}: refused: the XML declares a DTD, which camt never uses "
            "(it can hide an entity expansion bomb)"
        ) from None
    except _XML_ERRORS as exc:
        raise BadInput(f"{statement.path}: unreadable XML: {exc}") from None
    return root


@dataclass(frozen=True, order=True)
class _Balance:
    """A candidate for the account's balance; the greatest wins (see the module's docstring)."""

    booked: int
    date: dt.date
    rank: int
    order: int  # of its statement in the file: the later one, for two of one type and date
    amount: Decimal = field(compare=False)


@dataclass
class _Account:
    id: str
    name: str
    currency: str
    iban: str | None
    type: str | None
    institution: str | None
    balance: _Balance | None = None

    def record(self) -> Record:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "currency": self.currency}
        optional = {"iban": self.iban, "type": self.type, "institution": self.institution}
        data.update({k: v for k, v in optional.items() if v is not None})
        if self.balance is not None:
            data["balance_date"], data["balance"] = self.balance.date, self.balance.amount
        return Record("bank.accounts", data)


@dataclass
class _Transaction:
    data: dict[str, Any]
    ref: str | None


@dataclass(frozen=True)
class _Entry:
    """What an entry's transactions share."""

    account: str
    date: dt.date
    value_date: dt.date | None
    currency: str
    pending: bool
    method: str | None
    ref: str | None
    role: str  # the related party that is the counterparty: Cdtr or Dbtr
    info: str | None

    def transaction(
        self, amount: Decimal, label: list[str | None], party: str | None, ref: str | None
    ) -> _Transaction:
        data = {
            "account_id": self.account,
            "date": self.date,
            "value_date": self.value_date,
            "amount": amount,
            "currency": self.currency,
            "label": _label([self.info, *label]) or party or "",
            "counterparty": party,
            "pending": self.pending,
            "method": self.method,
        }
        return _Transaction(data, ref)


class _Reader:
    """Reads one document into accounts and transactions, with the rows it rejects or skips."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self.accounts: dict[str, _Account] = {}
        self.transactions: list[_Transaction] = []
        self.refused: list[Rejected | Skipped] = []

    def read(self, root: Element) -> None:
        messages = [el for el in root.iter() if _message(el.tag) is not None]
        if not messages:
            raise BadInput(
                f"{self.statement.path}: not a camt.053 statement or camt.052 report "
                f"(root element <{_local(root.tag)}>)"
            )
        count = 0
        for message in messages:
            kind = _message(message.tag) or ""
            created = _text(message, "GrpHdr/CreDtTm")
            for report in _children(message, kind):
                count += 1
                self.report(report, count, created)
        if count == 0:
            raise BadInput(f"{self.statement.path}: holds no statement or report")

    def report(self, report: Element, number: int, created: str | None) -> None:
        source = f"{_local(report.tag)}[{number}]"
        entries = []
        for index, entry in enumerate(_children(report, "Ntry"), start=1):
            where = f"{source}/Ntry[{index}]"
            entries.append((entry, where, _details(entry, where)))
        try:
            account = self.account(report, source)
        except _Invalid as exc:  # no account to put them in: each of its rows is refused
            reason = f"{exc.reason} ({exc.source})"
            for _, where, details in entries:
                self.refused.append(Rejected(reason, where))
                self.refused.extend(Rejected(reason, path) for _, path in details[1:])
            return
        self.balance(report, source, number, account)
        # Pending entries may carry no date at all; the report's own date is the best left.
        when = _text(report, "FrToDt/ToDtTm") or _text(report, "CreDtTm") or created
        try:
            fallback = _date_text(when, source) if when else None
        except _Invalid:
            fallback = None  # only an undated entry needs it, and is refused without it
        for entry, where, details in entries:
            try:
                rows = self.entry(entry, where, [tx for tx, _ in details], account, fallback)
            except _Invalid as exc:
                self.refused.append(Rejected(exc.reason, exc.source))
                self.refused.extend(
                    Rejected(f"part of the refused entry {where}", path) for _, path in details[1:]
                )
                continue
            self.transactions.extend(rows)
            if len(rows) < len(details):
                self.refused.extend(
                    Skipped(
                        f"part of the batch {where}, imported as one row for its total (its "
                        "transactions carry no amounts that add up to it)",
                        path,
                    )
                    for _, path in details[1:]
                )

    def account(self, report: Element, source: str) -> _Account:
        acct = _child(report, "Acct")
        iban = _text(acct, "Id/IBAN")
        iban = iban.replace(" ", "").upper() if iban else None
        key = iban or _first_text(acct, ("Id/Othr/Id", "Id/PrtryAcct/Id", "Id/BBAN"))
        if key is None:
            raise _Invalid("the account has neither an IBAN nor another id", f"{source}/Acct/Id")
        servicer = _child(acct, "Svcr/FinInstnId")
        bic = _first_text(servicer, ("BIC", "BICFI", "CmbndId/BIC"))
        bank = _first_text(servicer, ("Nm", "NmAndAdr/Nm", "CmbndId/Nm"))
        account_id = f"camt:{key}"
        account = self.accounts.get(account_id)
        if account is None:
            amounts = [_child(b, "Amt") for b in _children(report, "Bal")]
            amounts.append(_child(report, "Ntry/Amt"))
            currency = _text(acct, "Ccy") or next(
                (a.get("Ccy") for a in amounts if a is not None and a.get("Ccy")), None
            )
            name = self.statement.account or _text(acct, "Nm")
            account = _Account(
                id=account_id,
                name=name or " ".join(p for p in (bic or bank, key[-4:]) if p),
                currency=_currency(currency, f"{source}/Acct/Ccy"),
                iban=iban,
                type=_ACCOUNT_TYPES.get(_text(acct, "Tp/Cd") or ""),
                institution=bank or bic,
            )
            self.accounts[account_id] = account
        return account

    @staticmethod
    def balance(report: Element, source: str, order: int, account: _Account) -> None:
        """Offer the report's balances to its account.

        A report whose balances cannot all be read offers none: a weaker or older balance
        must not stand in for the one the bank meant, and the account keeps the one it had.
        """
        candidates = []
        for number, bal in enumerate(_children(report, "Bal"), start=1):
            code = _text(bal, "Tp/CdOrPrtry/Cd") or _text(bal, "Tp/Cd") or ""
            if code not in _BALANCES:
                continue
            where = f"{source}/Bal[{number}]"
            try:
                amount = _amount(_child(bal, "Amt"), f"{where}/Amt")
                if amount and _sign(bal, f"{where}/CdtDbtInd") < 0:
                    amount = -amount
                day = _date(_child(bal, "Dt"), f"{where}/Dt")
            except _Invalid:
                return
            if day is None:
                return
            booked, rank = _BALANCES[code]
            candidates.append(_Balance(booked, day, rank, order, amount))
        if account.balance is not None:
            candidates.append(account.balance)
        account.balance = max(candidates, default=None)

    def entry(
        self,
        entry: Element,
        source: str,
        details: list[Element],
        account: _Account,
        fallback: dt.date | None,
    ) -> list[_Transaction]:
        amount_el = _child(entry, "Amt")
        amount = _amount(amount_el, f"{source}/Amt")
        code = amount_el.get("Ccy") if amount_el is not None else None
        currency = _currency(code or account.currency, f"{source}/Amt/@Ccy")
        sign = _sign(entry, f"{source}/CdtDbtInd")
        status = _text(entry, "Sts/Cd") or _text(entry, "Sts/Prtry") or _text(entry, "Sts")
        if status not in _STATUSES:
            raise _Invalid(f"status {status!r} is not BOOK, PDNG, INFO or FUTR", f"{source}/Sts")
        value_date = _date(_child(entry, "ValDt"), f"{source}/ValDt")
        date = _date(_child(entry, "BookgDt"), f"{source}/BookgDt") or value_date or fallback
        if date is None:
            raise _Invalid("the entry has no booking date", f"{source}/BookgDt")
        reversal = _text(entry, "RvslInd") in ("true", "1")
        shared = _Entry(
            account=account.id,
            date=date,
            value_date=value_date,
            currency=currency,
            pending=_STATUSES[status],
            method=_method(entry),
            ref=self.entry_ref(entry, details, date),
            role="Cdtr" if (sign < 0) != reversal else "Dbtr",
            info=_text(entry, "AddtlNtryInf"),
        )
        parts = self.split(details, sign * amount, currency, sign)
        if parts is not None:
            return [
                shared.transaction(
                    part,
                    [*_texts(tx, "RmtInf", "Ustrd"), _text(tx, "AddtlTxInf")],
                    _party(tx, shared.role),
                    f"{shared.ref}/{number}" if shared.ref else None,
                )
                for number, (tx, part) in enumerate(zip(details, parts, strict=True), start=1)
            ]
        label = [text for tx in details for text in _texts(tx, "RmtInf", "Ustrd")]
        label += [_text(tx, "AddtlTxInf") for tx in details]
        party = _single([_party(tx, shared.role) for tx in details])
        return [shared.transaction(sign * amount, label, party, shared.ref)]

    @staticmethod
    def entry_ref(entry: Element, details: list[Element], date: dt.date) -> str | None:
        """The bank's id for the entry: its servicer reference first, then weaker ones.

        A short number in ``NtryRef`` is a line number that restarts each statement, and an
        end-to-end id is chosen by the payer, who may reuse it; neither may merge rows.
        """
        ref = _reference(_text(entry, "AcctSvcrRef"))
        entry_ref = _reference(_text(entry, "NtryRef"))
        if ref is None and entry_ref and not _SEQUENCE_NUMBER.fullmatch(entry_ref):
            ref = entry_ref
        if ref is None and details:
            ref = _single([_reference(_text(tx, "Refs/AcctSvcrRef")) for tx in details])
        if ref is None and details:
            end_to_end = _single([_reference(_text(tx, "Refs/EndToEndId")) for tx in details])
            ref = f"{date.isoformat()}:{end_to_end}" if end_to_end else None
        return ref

    @staticmethod
    def split(
        details: list[Element], total: Decimal, currency: str, sign: int
    ) -> list[Decimal] | None:
        """Per-transaction amounts of a batch, only when each is given and they add up."""
        if len(details) < 2:
            return None
        parts = []
        for tx in details:
            el = _first(tx, ("Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt"))
            if el is None or el.get("Ccy", currency) != currency:
                return None
            try:
                amount = _amount(el, "")
                tx_sign = _sign(tx, "") if _child(tx, "CdtDbtInd") is not None else sign
            except _Invalid:
                return None
            parts.append(tx_sign * amount)
        return parts if sum(parts) == total else None

    def records(self) -> Iterator[Record | Rejected | Skipped]:
        yield from self.refused
        for account in self.accounts.values():
            yield account.record()
        counts = Counter((t.data["account_id"], t.ref) for t in self.transactions if t.ref)
        for t in self.transactions:
            data = t.data
            # A reference shared by two entries of one account is no id: it would merge them.
            if t.ref and counts[(data["account_id"], t.ref)] == 1:
                data = {"id": f"{data['account_id']}:{t.ref}", **data}
            yield Record("bank.transactions", data)


class CamtImporter(FileImporter):
    """ISO 20022 camt.053 statements and camt.052 intraday reports, any version."""

    formats: ClassVar[str] = "camt.053/052 (ISO 20022 XML)"
    manifest = Manifest(
        id="camt",
        name="ISO 20022 camt statements",
        version="1.0.0",
        kind="file",
        writes=("bank.accounts", "bank.transactions"),
        categories=("banking",),
        personal_data=("pd:FinancialAccount", "pd:Transaction"),
        purposes=("Import the statements you downloaded from your bank into your workspace",),
        description={
            "en": "ISO 20022 camt.053 statements and camt.052 intraday reports (XML) from "
            "your bank.",
            "es": "Extractos ISO 20022 camt.053 e informes intradía camt.052 (XML) de tu banco.",
            "fr": "Relevés ISO 20022 camt.053 et rapports intrajournaliers camt.052 (XML) de "
            "votre banque.",
        },
    )

    @classmethod
    def identify(cls, name: str, head: bytes) -> bool:
        """Claim XML whose message element is a camt.053 statement or camt.052 report."""
        try:
            events = safe_xml.iterparse(io.BytesIO(head), events=("start",), forbid_dtd=True)
            for seen, (_event, element) in enumerate(events):
                if _message(element.tag) is not None:
                    return True
                if seen >= _HEAD_ELEMENTS:
                    return False
        except _XML_ERRORS:
            return False
        return False

    def parse(self, statement: Statement) -> Iterator[Record | Rejected | Skipped]:
        reader = _Reader(statement)
        reader.read(_load(statement))
        yield from reader.records()

    def census(self, statement: Statement) -> int:
        """Entries of the statements and reports, each counting its ``TxDtls`` (at least one)
        in ``NtryDtls`` or right under it."""
        count = 0
        for message in _load(statement).iter():
            kind = _message(message.tag)
            for report in _children(message, kind) if kind else []:
                for entry in _children(report, "Ntry"):
                    holders = [entry, *_children(entry, "NtryDtls")]
                    count += max(1, sum(_local(c.tag) == "TxDtls" for h in holders for c in h))
        return count
