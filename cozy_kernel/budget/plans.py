"""Budget against actual spending, per month and category, with envelopes that roll over.

A budget on a category covers everything under it (a budget on ``food`` counts the bakery).
The current month's budget is pro-rated by day, as Fava does, so "on track" means spent no
more than the share of the month gone by. In envelope mode what a month leaves unspent (or
overspends) carries into the next month's envelope.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cozy_kernel.budget import tree as _tree
from cozy_kernel.budget.money import ZERO, cents, total
from cozy_kernel.errors import BadInput
from cozy_kernel.schemas import minor_to_money

if TYPE_CHECKING:
    import pandas as pd

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def require_month(month: str) -> None:
    """A month as budgets name it (YYYY-MM), or BadInput: months are compared as text."""
    if not _MONTH.match(month):
        raise BadInput(f"month {month!r} is not YYYY-MM")


COLUMNS = [
    "month", "category", "name", "currency", "budget", "actual", "remaining", "prorated",
    "elapsed", "envelope", "carried_in", "available", "over",
]  # fmt: skip


def frame(rows: Sequence[tuple[str, str, str, int, bool]]) -> pd.DataFrame:
    """Stored budgets as a table: month is "" for every month; amount is ``Decimal``."""
    import pandas as pd

    return pd.DataFrame(
        [(c, m, cur, minor_to_money(a), e) for c, m, cur, a, e in rows],
        columns=["category", "month", "currency", "amount", "envelope"],
    )


def budget_vs_actual(
    tx: pd.DataFrame,
    budgets: pd.DataFrame,
    tree: pd.DataFrame,
    months: Sequence[str],
    *,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """One row per month, budgeted category and currency, in ``months`` order.

    ``tx`` is a categorised frame (see :func:`cozy_kernel.budget.transactions`); own-account
    transfers never count. ``actual`` is money out net of refunds (money in, for a category
    under income). Envelopes start carrying at the first month of ``months``.
    """
    import pandas as pd

    for month in months:
        require_month(month)
    today = today or dt.date.today()
    if budgets.empty or not months:
        return pd.DataFrame(columns=COLUMNS)
    names = dict(zip(tree["id"], tree["name"], strict=True))
    income = _tree.subtree(tree, _tree.INCOME) if _tree.INCOME in names else set()
    moving = tx[tx["flow"] != "transfer"] if not tx.empty else tx
    month_col = moving["date"].dt.to_period("M").astype(str) if not moving.empty else None
    rows: list[dict[str, Any]] = []
    for (category, currency), plan in budgets.groupby(["category", "currency"], sort=True):
        if category not in names:
            continue
        covered = _tree.subtree(tree, str(category))
        sign = 1 if category in income else -1
        default = plan[plan["month"] == ""]
        carried = ZERO
        for month in sorted(months):
            chosen = plan[plan["month"] == month]
            if chosen.empty:
                chosen = default
            if chosen.empty:
                continue
            amount = chosen["amount"].iloc[0]
            envelope = bool(chosen["envelope"].iloc[0])
            if month_col is None:
                actual = ZERO
            else:
                mask = (month_col == month) & moving["category"].isin(covered)
                mask &= moving["currency"] == currency
                actual = sign * total(moving.loc[mask, "amount"])
            prorated, elapsed = _prorate(amount, month, today)
            carried_in = carried if envelope else ZERO
            available = amount + carried_in - actual
            rows.append(
                {"month": month, "category": category, "name": names[category],
                 "currency": currency, "budget": amount, "actual": actual,
                 "remaining": amount - actual, "prorated": prorated, "elapsed": elapsed,
                 "envelope": envelope, "carried_in": carried_in, "available": available,
                 "over": actual > prorated + carried_in}
            )  # fmt: skip
            carried = available if envelope else ZERO
    result = pd.DataFrame(rows, columns=COLUMNS)
    return result.sort_values(["month", "category", "currency"], ignore_index=True)


def _prorate(amount: Decimal, month: str, today: dt.date) -> tuple[Decimal, float]:
    """The share of a month's budget due by ``today``: all of a past month, none of a future."""
    year, number = (int(p) for p in month.split("-"))
    days = calendar.monthrange(year, number)[1]
    first, last = dt.date(year, number, 1), dt.date(year, number, days)
    if today >= last:
        return amount, 1.0
    if today < first:
        return ZERO, 0.0
    gone = today.day
    return cents(amount * gone / days), gone / days
