"""Reading a SimpleFIN *account set* (the ``/accounts`` reply) into records.

Two shapes exist. Version 1 embeds the institution in each account (``org``) and lists
problems as plain strings (``errors``). The bridge's newer shape lists the bank connections
once (``connections``, each with a ``conn_id``), has accounts point at them by ``conn_id``,
and gives problems as objects (``errlist``: ``code``, ``msg``, maybe ``conn_id``). Both are
read by what the reply holds, so a bridge moving from one to the other needs no setting.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from cozy_kernel.connector import Checkpoint, Item, Record, Rejected

_ISO_CURRENCY = re.compile(r"[A-Za-z]{3}")
_MALFORMED = (KeyError, TypeError, ValueError, InvalidOperation)


def day_of(timestamp: Any) -> dt.date:
    """The UTC calendar date of a SimpleFIN timestamp.

    The protocol gives instants, never the bank's time zone. A bank's booking *day* becomes an
    instant at midnight or noon UTC of that day, the usual way date-only data is stamped: the
    UTC date gives that day back, whereas a US zone would move a midnight stamp a day back.
    """
    return dt.datetime.fromtimestamp(int(timestamp), dt.UTC).date()


def money(value: Any) -> Decimal:
    """Amounts are strings in the protocol (and any bare number was parsed as a Decimal)."""
    if not isinstance(value, str | Decimal | int) or isinstance(value, bool):
        raise TypeError(f"amount {value!r} is not a number")
    return Decimal(value)


def _raw(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode()


class AccountSet:
    """One ``/accounts`` reply; ``items`` yields its records, problems and the checkpoint."""

    def __init__(self, payload: Mapping[str, Any], connector_id: str, today: dt.date) -> None:
        """``today`` dates a pending row that carries no timestamp at all: it is "seen now"."""
        self.payload = payload
        self.connector_id = connector_id
        self.today = today
        self.connections = {
            str(c.get("conn_id")): c
            for c in payload.get("connections") or ()
            if isinstance(c, Mapping)
        }
        self.last_booked: dt.date | None = None

    def messages(self) -> list[str]:
        """What the bridge says is wrong (a bank connection needing attention, a limit)."""
        if "errlist" in self.payload:
            out = []
            for error in self.payload.get("errlist") or ():
                about = [str(error.get("code") or "error")]
                conn = self.connections.get(str(error.get("conn_id")))
                if conn is not None and conn.get("name"):
                    about.append(str(conn["name"]))
                out.append(f"SimpleFIN Bridge ({', '.join(about)}): {error.get('msg', '')}")
            return out
        return [f"SimpleFIN Bridge: {text}" for text in self.payload.get("errors") or ()]

    def items(self) -> Iterator[Item]:
        """Accounts and transactions; the checkpoint only if the bridge reported no problem.

        A problem usually means a bank connection went stale: its rows of the last days may
        come later, older than the overlap of the next sync, so the cursor must not move.
        """
        messages = self.messages()
        for text in messages:
            yield Rejected(text, source="bridge")
        for account in self.payload.get("accounts") or ():
            yield from self._account(account)
        if not messages and self.last_booked is not None:
            yield Checkpoint(self.last_booked.isoformat())

    def _institution(self, account: Mapping[str, Any]) -> str | None:
        org = account.get("org")
        if isinstance(org, Mapping):
            return str(org.get("name") or org.get("domain") or "") or None
        conn = self.connections.get(str(account.get("conn_id")))
        return None if conn is None else str(conn.get("name") or "") or None

    def _account(self, account: Mapping[str, Any]) -> Iterator[Item]:
        service_id = str(account.get("id", ""))
        account_id = f"{self.connector_id}:{service_id}"
        transactions = account.get("transactions") or []
        currency = str(account.get("currency", ""))
        if not _ISO_CURRENCY.fullmatch(currency):
            yield Rejected(
                f"account {service_id} ({account.get('name', '')}) is in a custom currency "
                f"({currency}), not an ISO 4217 code, which cannot be kept as money; it and its "
                f"{len(transactions)} transactions were skipped",
                source=account_id,
            )
            return
        currency = currency.upper()
        try:
            data = {
                "id": account_id,
                "name": str(account["name"]),
                "currency": currency,
                "balance": money(account["balance"]),
                "balance_date": day_of(account["balance-date"]),
                "institution": self._institution(account),
            }
        except _MALFORMED as exc:
            yield Rejected(f"account {service_id}: unreadable field {exc}", source=account_id)
            return
        kept = {k: v for k, v in account.items() if k != "transactions"}
        yield Record("bank.accounts", data, _raw(kept))
        for tx in transactions:
            yield self._transaction(tx, account_id, currency)

    def _transaction(self, tx: Mapping[str, Any], account_id: str, currency: str) -> Item:
        try:
            posted = int(tx["posted"])
            transacted = tx.get("transacted_at")
            value_date = day_of(transacted) if transacted else None
            pending = bool(tx.get("pending")) or posted == 0
            date = day_of(posted) if posted else value_date or self.today
            data = {
                "id": f"{account_id}:{tx['id']}",
                "account_id": account_id,
                "date": date,
                "value_date": value_date,
                "amount": money(tx["amount"]),
                "currency": currency,
                "label": str(tx["description"]),
                "counterparty": str(tx.get("payee") or "") or None,
                "pending": pending,
            }
        except _MALFORMED as exc:
            return Rejected(
                f"transaction {tx.get('id', '?')} of {account_id}: unreadable field {exc}",
                source=account_id,
            )
        if not pending and (self.last_booked is None or date > self.last_booked):
            self.last_booked = date
        return Record("bank.transactions", data, _raw(tx))
