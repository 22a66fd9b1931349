"""Transactions for other software: OFX 2.2 (built with ofxtools' models) and Beancount text.

Both are written from the typed frame, so amounts stay exact Decimals and dates stay dates.
Beancount has no library to *write* a ledger from records, so its text is written here after
its grammar: ``open`` directives first, then one balanced transaction per row — the bank
account against an ``Expenses:``/``Income:`` account named after the row's category.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, BinaryIO

from cozy_kernel.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

NEEDED = ("id", "account_id", "date", "amount", "currency", "label")
ACCOUNT_TYPES = {"checking": "CHECKING", "savings": "SAVINGS", "card": "CREDITLINE",
                 "loan": "CREDITLINE", "money market": "MONEYMRKT"}  # fmt: skip
OFX_NAME, OFX_MEMO, OFX_ID, OFX_ACCOUNT = 32, 255, 255, 22


def _rows(data: pa.Table, fmt: str) -> list[dict[str, Any]]:
    missing = [c for c in NEEDED if c not in data.column_names]
    if missing:
        raise UsageError(
            f"format {fmt} needs bank.transactions with {', '.join(NEEDED)}; "
            f"missing {', '.join(missing)}"
        )
    rows: list[dict[str, Any]] = data.to_pylist()
    return sorted(rows, key=lambda r: (r["date"], r["id"]))


def _component(text: str) -> str:
    """One Beancount account component: ASCII letters, digits and dashes, capitalised."""
    bare = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    clean = re.sub(r"[^A-Za-z0-9-]+", "-", bare).strip("-") or "X"
    return clean[0].upper() + clean[1:]


def _string(text: object) -> str:
    """A Beancount string literal: quotes and backslashes escaped, on one line."""
    flat = " ".join(str(text).split())
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_beancount(data: pa.Table, out: BinaryIO) -> None:
    """Open directives, then per row the bank account against its category, balanced."""
    rows = _rows(data, "beancount")
    opened: dict[str, tuple[dt.date, set[str]]] = {}
    entries = []
    for r in rows:
        amount: Decimal = r["amount"]
        bank = f"Assets:Bank:{_component(str(r['account_id']))}"
        side = "Income" if amount > 0 else "Expenses"
        category = str(r.get("category") or "uncategorised")
        other = ":".join([side, *(_component(part) for part in category.split(":"))])
        for account in (bank, other):
            first, currencies = opened.get(account, (r["date"], set()))
            opened[account] = (min(first, r["date"]), currencies | {str(r["currency"])})
        payee = f"{_string(r['counterparty'])} " if r.get("counterparty") else ""
        flag = "!" if r.get("pending") else "*"
        entries.append(
            f"{r['date']:%Y-%m-%d} {flag} {payee}{_string(r['label'])}\n"
            f"  id: {_string(r['id'])}\n"
            f"  {bank}  {amount} {r['currency']}\n"
            f"  {other}  {-amount} {r['currency']}\n"
        )
    out.write(b"; Exported by Cozy Notebook: bank.transactions as Beancount.\n\n")
    for account, (first, currencies) in sorted(opened.items()):
        out.write(f"{first:%Y-%m-%d} open {account} {','.join(sorted(currencies))}\n".encode())
    for entry in entries:
        out.write(b"\n" + entry.encode())


def write_ofx(data: pa.Table, out: BinaryIO, accounts: pa.Table | None = None) -> None:
    """One OFX 2.2 bank statement per account and currency, built with ofxtools' models.

    The ledger balance is the account's stored balance when it has one in that currency;
    otherwise the sum of the rows listed (OFX requires a balance).
    """
    import xml.etree.ElementTree as ET

    from ofxtools.header import make_header
    from ofxtools.models import (
        BANKACCTFROM,
        BANKMSGSRSV1,
        BANKTRANLIST,
        LEDGERBAL,
        SIGNONMSGSRSV1,
        SONRS,
        STATUS,
        STMTRS,
        STMTTRN,
        STMTTRNRS,
    )  # fmt: skip
    from ofxtools.models.ofx import OFX  # the package does not re-export it

    rows = _rows(data, "ofx")
    known: Mapping[str, dict[str, Any]] = {
        str(a["id"]): a for a in (accounts.to_pylist() if accounts is not None else [])
    }
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((str(r["account_id"]), str(r["currency"])), []).append(r)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def moment(day: dt.date) -> dt.datetime:
        # Noon UTC: the same calendar day in every timezone a reader may convert to.
        return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)

    statements = []
    for n, ((account, currency), items) in enumerate(sorted(groups.items())):
        lines = [
            STMTTRN(
                trntype="CREDIT" if r["amount"] > 0 else "DEBIT",
                dtposted=moment(r["date"]),
                trnamt=r["amount"],
                fitid=str(r["id"])[:OFX_ID],
                name=str(r.get("counterparty") or r["label"])[:OFX_NAME] or None,
                memo=str(r["label"])[:OFX_MEMO] or None,
            )
            for r in items
        ]
        held = known.get(account, {})
        if held.get("balance") is not None and str(held.get("currency")) == currency:
            balance, asof = held["balance"], held.get("balance_date") or items[-1]["date"]
        else:
            balance, asof = sum((r["amount"] for r in items), Decimal("0.00")), items[-1]["date"]
        kind = ACCOUNT_TYPES.get(str(held.get("type") or "").lower(), "CHECKING")
        statements.append(
            STMTTRNRS(
                trnuid=str(n + 1),
                status=STATUS(code=0, severity="INFO"),
                stmtrs=STMTRS(
                    curdef=currency,
                    bankacctfrom=BANKACCTFROM(
                        bankid="COZY", acctid=account[:OFX_ACCOUNT], accttype=kind
                    ),
                    banktranlist=BANKTRANLIST(
                        *lines, dtstart=moment(items[0]["date"]), dtend=moment(items[-1]["date"])
                    ),
                    ledgerbal=LEDGERBAL(balamt=balance, dtasof=moment(asof)),
                ),
            )
        )
    document = OFX(
        signonmsgsrsv1=SIGNONMSGSRSV1(
            sonrs=SONRS(status=STATUS(code=0, severity="INFO"), dtserver=now, language="ENG")
        ),
        bankmsgsrsv1=BANKMSGSRSV1(*statements),
    )
    out.write(str(make_header(version=220)).encode())
    out.write(ET.tostring(document.to_etree(), encoding="utf-8", xml_declaration=False))
    out.write(b"\n")
