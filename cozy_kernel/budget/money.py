"""Exact money for budgets: ``Decimal`` totals, and never two currencies in one total.

pandas sums ``Decimal`` objects exactly, but an empty sum comes back as the integer 0 and a
stray float would silently round; these helpers keep every total a ``Decimal`` and refuse to
add amounts of different currencies together.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from cozy_kernel.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def as_money(value: Any) -> Decimal:
    """One amount as a ``Decimal``; an int (pandas' empty sum) is fine, a float never is."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value) + ZERO
    raise TypeError(f"money must be Decimal, got {type(value).__name__}")


def total(values: Iterable[Any]) -> Decimal:
    """The exact sum of amounts."""
    out = ZERO
    for value in values:
        out += as_money(value)
    return out


def cents(value: Decimal) -> Decimal:
    """Round to the cent, half to even (a pro-rated budget, a daily average)."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def sums(frame: pd.DataFrame, by: list[str], column: str = "amount") -> pd.Series[Any]:
    """Exact sums of ``column`` grouped by ``by`` (which should include the currency)."""
    grouped = frame.groupby(by, observed=True, sort=True)[column].sum()
    return grouped.map(as_money)


def currencies(frame: pd.DataFrame) -> list[str]:
    return sorted(str(c) for c in frame["currency"].dropna().unique())


def one_currency(frame: pd.DataFrame, currency: str | None) -> tuple[pd.DataFrame, str | None]:
    """Keep one currency's rows, refusing to pick one silently when several are present."""
    if currency is not None:
        return frame[frame["currency"] == currency], currency
    found = currencies(frame)
    if len(found) > 1:
        raise BadInput(
            f"amounts in {', '.join(found)} are never added together; "
            f"choose one with currency={found[0]!r}"
        )
    return frame, (found[0] if found else None)
