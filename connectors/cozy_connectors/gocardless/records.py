"""GoCardless accounts, balances and transactions as ``bank.accounts`` and ``bank.transactions``.

Amounts arrive as JSON strings and stay exact Decimals; dates are the bank's calendar dates
as written (a ``...DateTime`` field's date part), never shifted by a time zone.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

BALANCE_PREFERENCE = ("closingBooked", "interimBooked", "expected")
TYPES = {"CACC": "checking", "SVGS": "savings", "CARD": "card", "LOAN": "loan"}
LABEL_FIELDS = (
    "remittanceInformationUnstructured",
    "remittanceInformationUnstructuredArray",
    "remittanceInformationStructured",
    "remittanceInformationStructuredArray",
    "additionalInformation",
)


def account_ids(connector: str, details: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Our id for each GoCardless account id, keyed by IBAN where there is one.

    GoCardless gives an account a new id with every requisition, so with its ids the renewal
    the bank demands every 90 days would duplicate the whole history. The IBAN stays; the
    currency is added when several accounts share one IBAN (a multi-currency account).
    """
    ibans = Counter(iban(d) for d in details.values())
    out = {}
    for gid, info in details.items():
        number = iban(info)
        if number is None:
            out[gid] = f"{connector}:{gid}"
        elif ibans[number] > 1:
            out[gid] = f"{connector}:{number}:{info.get('currency')}"
        else:
            out[gid] = f"{connector}:{number}"
    return out


def iban(info: Mapping[str, Any]) -> str | None:
    value = info.get("iban")
    return "".join(value.split()).upper() if isinstance(value, str) and value.strip() else None


def account(
    account_id: str,
    info: Mapping[str, Any],
    balances: Sequence[Mapping[str, Any]],
    institution: str,
    today: dt.date,
) -> dict[str, Any]:
    """A ``bank.accounts`` row from ``/details/`` and ``/balances/``."""
    chosen = next(
        (b for kind in BALANCE_PREFERENCE for b in balances if b.get("balanceType") == kind),
        None,
    )
    data: dict[str, Any] = {
        "id": account_id,
        "name": next(
            (str(info[k]) for k in ("name", "displayName", "product", "ownerName") if info.get(k)),
            iban(info) or account_id,
        ),
        "type": TYPES.get(str(info.get("cashAccountType"))),
        "iban": iban(info),
        "currency": info.get("currency"),
        "institution": institution,
    }
    if chosen is not None:
        amount = chosen["balanceAmount"]
        data["currency"] = data["currency"] or amount["currency"]
        data["balance"] = money(amount["amount"])
        stated = chosen.get("referenceDate") or chosen.get("lastChangeDateTime")
        data["balance_date"] = calendar_day(stated) if stated else today
    return data


def transaction(account_id: str, row: Mapping[str, Any], pending: bool) -> dict[str, Any]:
    """A ``bank.transactions`` row; without a bank id it has no ``id`` yet."""
    amount = money(row["transactionAmount"]["amount"])
    booked = row.get("bookingDate") or row.get("bookingDateTime")
    valued = row.get("valueDate") or row.get("valueDateTime")
    names = (row.get("creditorName"), row.get("debtorName"))
    ordered = names if amount < 0 else names[::-1]
    counterparty = next((str(n).strip() for n in ordered if n and str(n).strip()), None)
    data: dict[str, Any] = {
        "account_id": account_id,
        "date": calendar_day(booked or valued),
        "value_date": calendar_day(valued) if valued else None,
        "amount": amount,
        "currency": row["transactionAmount"]["currency"],
        "label": label(row) or counterparty or "",
        "counterparty": counterparty,
        "pending": pending,
    }
    ident = row.get("transactionId") or row.get("internalTransactionId")
    if ident:
        data["id"] = f"{account_id}:{ident}"
    return data


def label(row: Mapping[str, Any]) -> str:
    """The bank's wording: unstructured remittance first, as banks fill it most."""
    for name in LABEL_FIELDS:
        value = row.get(name)
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value or "")
        if text.strip():
            return " ".join(text.split())
    return ""


def money(value: Any) -> Decimal:
    """An exact amount from the JSON string (or number decoded as Decimal)."""
    problem = ValueError(f"amount {value!r} is not a decimal number")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise problem
    try:
        return Decimal(value)
    except InvalidOperation:
        raise problem from None


def calendar_day(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise ValueError(f"date {value!r} is missing or not text")
    return dt.date.fromisoformat(value[:10])
