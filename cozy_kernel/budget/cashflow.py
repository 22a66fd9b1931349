"""Cash-flow forecast: today's balances, the recurring series ahead, and everyday spending.

The horizon starts the day after the latest balance. Each active recurring series is laid
on its next dates; the rest of the spending (what no series explains, own transfers apart)
goes out as a daily average of the last 90 days. Transfers between the accounts forecast
together cancel out, so their series are left out unless a single account is forecast.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from cozy_kernel.budget.money import ZERO, as_money, cents, total
from cozy_kernel.budget.recurrence import PERIODS, detect, step
from cozy_kernel.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

EVERYDAY_DAYS = 90
COLUMNS = ["date", "currency", "inflow", "outflow", "balance", "events"]


def start_balances(
    tx: pd.DataFrame, accounts: pd.DataFrame
) -> tuple[dict[str, Any], dt.date | None]:
    """Balance per currency on the latest balance date, and that date.

    An account whose bank reported no balance counts from the sum of its transactions.
    """
    import pandas as pd

    balances: dict[str, Any] = {}
    dates = [pd.Timestamp(d).date() for d in accounts["balance_date"].dropna()]
    if not tx.empty:
        dates.append(pd.Timestamp(tx["date"].max()).date())
    if not dates:
        return balances, None
    as_of = max(dates)
    for _, account in accounts.iterrows():
        rows = tx[(tx["account_id"].astype(str) == account["id"]) & ~tx["pending"].astype(bool)]
        if pd.notna(account["balance"]) and pd.notna(account["balance_date"]):
            # Bring the bank's balance forward to the common date.
            later = rows[rows["date"] > account["balance_date"]]
            start = as_money(account["balance"]) + total(later["amount"])
        else:
            start = total(rows["amount"])
        currency = str(account["currency"])
        balances[currency] = balances.get(currency, ZERO) + start
    return balances, as_of


def forecast(
    tx: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    days: int = 90,
    everyday: bool = True,
) -> pd.DataFrame:
    """Day-by-day balance per currency for ``days`` (1 to 366) after the latest balance.

    ``events`` names the recurring payments of the day, with their category.
    """
    import pandas as pd

    if not 1 <= days <= 366:
        raise BadInput(f"days={days}: forecast between 1 and 366 days ahead")
    wanted = set(accounts["id"].astype(str))
    tx = tx[tx["account_id"].astype(str).isin(wanted)] if not tx.empty else tx
    balances, as_of = start_balances(tx, accounts)
    if as_of is None:
        return pd.DataFrame(columns=COLUMNS)
    end = as_of + dt.timedelta(days=days)
    series, members = detect(tx, as_of=as_of)
    if len(wanted) > 1 and not series.empty:
        series = series[~series["transfer"].astype(bool)]
    events: dict[tuple[dt.date, str], list[tuple[Any, str]]] = {}
    periods = {p.name: p for p in PERIODS}
    for s in series[series["active"]].to_dict("records") if not series.empty else []:
        period, last = periods[s["period"]], s["last_date"]
        day, n = s["next_date"], 1
        while day <= as_of:  # overdue: the next one still to come
            n += 1
            day = step(last, period, n)
        while day <= end:
            what = f"{s['name']} ({s['category_name']})" if s["category_name"] else s["name"]
            events.setdefault((day, s["currency"]), []).append((s["amount"], what))
            n += 1
            day = step(last, period, n)
    daily = _everyday(tx, members, as_of) if everyday else {}
    rows = []
    for currency in sorted(set(balances) | {c for _, c in events}):
        balance = balances.get(currency, ZERO)
        for offset in range(1, days + 1):
            day = as_of + dt.timedelta(days=offset)
            today = events.get((day, currency), [])
            inflow = total(a for a, _ in today if a > 0)
            outflow = total(a for a, _ in today if a < 0) - daily.get(currency, ZERO)
            balance += inflow + outflow
            rows.append(
                {"date": pd.Timestamp(day), "currency": currency, "inflow": inflow,
                 "outflow": outflow, "balance": balance,
                 "events": ", ".join(name for _, name in today)}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def _everyday(tx: pd.DataFrame, members: dict[str, list[str]], as_of: dt.date) -> dict[str, Any]:
    """Average daily spending per currency that no recurring series explains."""
    import pandas as pd

    if tx.empty:
        return {}
    explained = {i for ids in members.values() for i in ids}
    since = pd.Timestamp(as_of - dt.timedelta(days=EVERYDAY_DAYS))
    recent = tx[(tx["date"] > since) & ~tx["id"].astype(str).isin(explained)]
    if "flow" in recent:
        recent = recent[recent["flow"] == "spending"]
    out: dict[str, Any] = {}
    for currency, rows in recent.groupby("currency", observed=True):
        spent = -total(rows["amount"])
        out[str(currency)] = cents(spent / EVERYDAY_DAYS) if spent > 0 else ZERO
    return out


def lowest_point(forecast_frame: pd.DataFrame) -> pd.DataFrame:
    """Per currency, the lowest forecast balance and the first day it is reached."""
    import pandas as pd

    rows = []
    for currency, days in forecast_frame.groupby("currency", sort=True):
        low = min(days["balance"])
        first = days[days["balance"] == low].iloc[0]
        rows.append({"currency": currency, "date": first["date"], "balance": low})
    return pd.DataFrame(rows, columns=["currency", "date", "balance"])
