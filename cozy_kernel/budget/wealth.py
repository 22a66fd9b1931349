"""Where the money goes and what stays: spending by category, savings rate, net worth.

Every total is an exact ``Decimal`` per currency; own-account transfers are neither income
nor spending. Net worth walks each account back from the balance its bank reported, so the
line ends exactly on today's balance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from cozy_kernel.budget.money import ZERO, as_money, sums, total

if TYPE_CHECKING:
    import pandas as pd


def spending(tx: pd.DataFrame, by: str = "category_top") -> pd.DataFrame:
    """Money out net of refunds per currency and category (``category`` for the leaves).

    Columns: currency, category, name, amount (positive = spent), share of the currency's
    total (a float, for charts only).
    """
    import pandas as pd

    columns = ["currency", "category", "name", "amount", "share"]
    rows = tx[tx["flow"] == "spending"] if not tx.empty else tx
    if rows.empty:
        return pd.DataFrame(columns=columns)
    name = "category_top_name" if by == "category_top" else "category_name"
    spent = -sums(rows, ["currency", by, name])
    out = spent.rename("amount").reset_index()
    out.columns = pd.Index(["currency", "category", "name", "amount"])
    totals = {c: total(g["amount"]) for c, g in out.groupby("currency")}
    out["share"] = [
        float(a / totals[c]) if totals[c] else 0.0
        for a, c in zip(out["amount"], out["currency"], strict=True)
    ]
    return out.sort_values(["currency", "amount"], ascending=[True, False], ignore_index=True)


def monthly(tx: pd.DataFrame) -> pd.DataFrame:
    """Income, spending, savings and savings rate per month and currency.

    ``rate`` is savings ÷ income as a ``Decimal`` to four places, ``None`` without income.
    """
    import pandas as pd

    columns = ["month", "currency", "income", "spending", "savings", "rate"]
    moving = tx[tx["flow"] != "transfer"] if not tx.empty else tx
    if moving.empty:
        return pd.DataFrame(columns=columns)
    moving = moving.assign(month=moving["date"].dt.to_period("M").astype(str))
    flows = sums(moving, ["month", "currency", "flow"]).unstack("flow")
    rows = []
    for key, values in flows.iterrows():
        month, currency = cast(tuple[str, str], key)
        income = _get(values, "income")
        spent = -_get(values, "spending")
        saved = income - spent
        rate = (saved / income).quantize(Decimal("0.0001")) if income > 0 else None
        rows.append([month, currency, income, spent, saved, rate])
    return pd.DataFrame(rows, columns=columns)


def _get(values: pd.Series[Any], key: str) -> Decimal:
    value = values.get(key)
    return ZERO if value is None or value != value else as_money(value)


def balances(tx: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Each account's balance at the end of every month of its history.

    Booked rows only (a pending payment is not in the bank's balance). An account without a
    reported balance counts from zero and is marked ``estimated``.
    """
    import pandas as pd

    columns = ["month", "account_id", "name", "currency", "balance", "estimated"]
    rows: list[list[Any]] = []
    booked = tx[~tx["pending"].astype(bool)] if not tx.empty else tx
    for _, account in accounts.iterrows():
        mine = booked[booked["account_id"].astype(str) == account["id"]]
        if mine.empty:
            continue
        month = mine["date"].dt.to_period("M")
        per_month = sums(mine.assign(month=month), ["month"])
        known = pd.notna(account["balance"]) and pd.notna(account["balance_date"])
        offset = ZERO
        if known:
            upto = mine[mine["date"] <= account["balance_date"]]
            offset = as_money(account["balance"]) - total(upto["amount"])
        running = offset
        for period in pd.period_range(month.min(), month.max(), freq="M"):
            running += per_month.get(period, ZERO)
            rows.append([str(period), account["id"], account["name"], account["currency"],
                         running, not known])  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def net_worth(tx: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """The sum of every account's month-end balance, per month and currency, never mixed."""
    import pandas as pd

    each = balances(tx, accounts)
    columns = ["month", "currency", "net_worth", "accounts"]
    if each.empty:
        return pd.DataFrame(columns=columns)
    # Carry each account's last balance forward so a quiet month does not drop it.
    wide = each.pivot(index="month", columns=["currency", "account_id"], values="balance")
    wide = wide.ffill()
    rows = []
    for month, values in wide.iterrows():
        for currency in sorted(set(wide.columns.get_level_values(0))):
            held = [as_money(v) for v in values[currency] if v == v and v is not None]
            rows.append([month, currency, total(held), len(held)])
    return pd.DataFrame(rows, columns=columns)
