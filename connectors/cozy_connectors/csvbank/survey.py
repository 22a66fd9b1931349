"""What one pass over a whole bank export tells before any row is kept.

The accounts an account column names, the words of a type column, whether every amount is a
positive card purchase, whether a running balance proves the amount to count its fee — each
decided once per file from all its rows, never guessed row by row.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from cozy_connectors.csvbank.values import AmountReader, DecimalVote, OrderVote


@dataclass
class Book:
    """One account of the file, and what its rows taught: currency, latest balance, dates."""

    id: str
    name: str
    value: str = ""  # the file's own cell naming it, if it has an account column
    currency: str | None = None
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    first_latest: tuple[dt.date, Decimal] | None = None
    last_latest: tuple[dt.date, Decimal] | None = None
    rows: int = 0

    def balance(self) -> tuple[dt.date, Decimal] | None:
        """The running balance of the latest day, whichever way the file is sorted."""
        first, last = self.first_date, self.last_date
        descending = first is not None and last is not None and first > last
        return self.first_latest if descending else self.last_latest

    def seen(self, day: dt.date, balance: Decimal | None) -> None:
        self.rows += 1
        if self.first_date is None:
            self.first_date = day
        self.last_date = day
        if balance is None:
            return
        if self.first_latest is None or day > self.first_latest[0]:
            self.first_latest = (day, balance)
        if self.last_latest is None or day >= self.last_latest[0]:
            self.last_latest = (day, balance)


@dataclass
class Survey:
    """What one pass over the whole file tells before any row is read as a transaction.

    Styles (date order, decimal separator), the accounts an account column names, whether a
    type column says debit/credit, whether every amount is positive on card-like rows, and
    whether a running balance proves the amount to count its fee or not.
    """

    dates: OrderVote = field(default_factory=OrderVote)
    amounts: DecimalVote = field(default_factory=DecimalVote)
    accounts: dict[str, None] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)
    rows: int = 0
    negative: bool = False
    card_like: int = 0
    fees: list[tuple[str, str, str]] = field(default_factory=list)


def fee_proof(
    samples: list[tuple[str, str, str]], amounts: AmountReader, invert: bool
) -> bool | None:
    """Whether the running balance moves by the amount (True) or by amount minus fee (False).

    Consecutive rows are compared both ways round (files run oldest or newest first); only
    rows with a fee can tell, and the answer stands only if no such row says otherwise.
    """
    values: list[tuple[Decimal, Decimal, Decimal] | None] = []
    for raw_amount, raw_fee, raw_balance in samples:
        try:
            amount, fee, balance = (amounts(r)[0] for r in (raw_amount, raw_fee, raw_balance))
        except ValueError:
            values.append(None)
            continue
        if amount is None or balance is None:
            values.append(None)
            continue
        values.append((-amount if invert else amount, abs(fee or Decimal(0)), balance))
    included = excluded = 0
    for older, newer in itertools.pairwise(values):
        if older is None or newer is None:
            continue
        for row, delta in ((newer, newer[2] - older[2]), (older, older[2] - newer[2])):
            if not row[1]:
                continue
            if delta == row[0]:
                included += 1
            elif delta == row[0] - row[1]:
                excluded += 1
    if included and not excluded:
        return True
    if excluded and not included:
        return False
    return None
