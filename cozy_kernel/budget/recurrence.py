"""Recurring payments: weekly, monthly, quarterly and yearly series, and what comes next.

A series is one account's payments to (or from) one counterparty, in one direction and
currency, whose amounts stay in one band (a salary and a yearly bonus from the same employer
are two series). It recurs when most gaps between payments fall in one period's window;
its amount is *fixed* when most payments are within ``tolerance`` of the latest ones, and a
step in a fixed amount is flagged as a price change. Variable bills (energy) still recur.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cozy_kernel.budget.model import normalise
from cozy_kernel.budget.money import as_money

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Period:
    name: str
    days: float  # typical gap
    slack: float  # how far a gap may stray from it
    months: int  # calendar step for the next date (0: use days)
    fewest: int  # payments needed before calling it a series


PERIODS = (
    Period("weekly", 7, 2, 0, 4),
    Period("monthly", 30.44, 5, 1, 3),
    Period("quarterly", 91.3, 12, 3, 3),
    Period("yearly", 365.25, 20, 12, 2),
)
REGULARITY = 0.7  # share of gaps that must fall in the period's window
BAND_GAP = 0.35  # a jump of more than this between sorted amounts starts another band
PRICE_CHANGE_DAYS = 400  # flag a change of a fixed amount this recent

COLUMNS = [
    "series", "name", "account_id", "currency", "direction", "category", "category_name",
    "period", "occurrences", "first_date", "last_date", "amount", "last_amount", "fixed",
    "price_change", "previous_amount", "changed_on", "next_date", "active", "transfer",
]  # fmt: skip


def step(day: dt.date, period: Period, times: int = 1) -> dt.date:
    """The date ``times`` periods after ``day`` (calendar months for monthly and longer)."""
    import pandas as pd

    if period.months:
        moved = pd.Timestamp(day) + pd.DateOffset(months=period.months * times)
        return dt.date(moved.year, moved.month, moved.day)
    return day + dt.timedelta(days=round(period.days * times))


def _bands(amounts: list[Decimal]) -> list[list[int]]:
    """Indexes of ``amounts`` grouped into bands of similar size."""
    order = sorted(range(len(amounts)), key=lambda i: abs(amounts[i]))
    bands: list[list[int]] = []
    for i in order:
        if bands and abs(amounts[i]) <= abs(amounts[bands[-1][-1]]) * Decimal(1 + BAND_GAP):
            bands[-1].append(i)
        else:
            bands.append([i])
    return bands


def _period(gaps: list[int]) -> Period | None:
    if not gaps:
        return None
    typical = statistics.median(gaps)
    for period in PERIODS:
        if abs(typical - period.days) <= period.slack:
            regular = sum(abs(g - period.days) <= period.slack for g in gaps) / len(gaps)
            return period if regular >= REGULARITY else None
    return None


def _keys(tx: pd.DataFrame) -> pd.Series[Any]:
    """Who a row is paid to or by: the counterparty, else the label without its digits."""
    import pandas as pd

    who = tx["counterparty"].astype("string").str.strip().str.upper()
    codes, uniques = pd.factorize(tx["label"].astype("string").fillna(""))
    cleaned = pd.Series([normalise(str(u)) for u in uniques], dtype=object)
    fallback = pd.Series(cleaned.to_numpy()[codes], index=tx.index, dtype=object)
    return who.astype(object).where(who.notna() & (who != ""), fallback)


def detect(
    tx: pd.DataFrame, *, tolerance: float = 0.1, as_of: Any = None
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The recurring series of ``tx`` and, per series, the ids of its transactions."""
    import pandas as pd

    if tx.empty:
        return pd.DataFrame(columns=COLUMNS), {}
    today = pd.Timestamp(as_of if as_of is not None else tx["date"].max()).date()
    base = tx.assign(_key=_keys(tx), _out=[as_money(a) < 0 for a in tx["amount"]])
    base = base[[as_money(a) != 0 for a in base["amount"]]]
    sizes = base.groupby(["account_id", "currency", "_key", "_out"], observed=True)["id"]
    base = base[sizes.transform("size") >= 2]
    found: list[dict[str, Any]] = []
    members: dict[str, list[str]] = {}
    for (account, currency, key, out), group in base.groupby(
        ["account_id", "currency", "_key", "_out"], observed=True, sort=True
    ):
        group = group.sort_values(["date", "id"])
        amounts = [as_money(a) for a in group["amount"]]
        for band in _bands(amounts):
            rows = group.iloc[sorted(band)]
            series = _series(rows, tolerance, today)
            if series is None:
                continue
            series.update(
                series=f"{account}/{key}/{'out' if out else 'in'}/{len(found)}",
                account_id=str(account), currency=str(currency),
                direction="out" if out else "in",
            )  # fmt: skip
            members[series["series"]] = [str(i) for i in rows["id"]]
            found.append(series)
    return pd.DataFrame(found, columns=COLUMNS), members


def _series(rows: pd.DataFrame, tolerance: float, today: dt.date) -> dict[str, Any] | None:
    dates = [d.date() for d in rows["date"]]
    gaps = [(b - a).days for a, b in itertools.pairwise(dates)]
    period = _period(gaps)
    if period is None or len(dates) < period.fewest:
        return None
    amounts = [as_money(a) for a in rows["amount"]]
    expected = _median(amounts[-3:])
    # Fixed: from one payment to the next the amount mostly stays within the tolerance, so
    # a subscription whose price went up once is still fixed (and its change is flagged).
    steady = [
        abs(b - a) <= abs(a) * Decimal(str(tolerance)) for a, b in itertools.pairwise(amounts)
    ]
    fixed = sum(steady) / len(steady) >= REGULARITY
    if fixed:
        expected = amounts[-1]
    previous: Decimal | None = None
    changed_on: dt.date | None = None
    last = amounts[-1]
    if fixed:
        i = len(amounts) - 1
        while i > 0 and amounts[i - 1] == last:
            i -= 1
        if i > 0 and (today - dates[i]).days <= PRICE_CHANGE_DAYS:
            previous, changed_on = amounts[i - 1], dates[i]
    following = step(dates[-1], period)
    grace = dt.timedelta(days=round(period.days * 0.5) + period.slack)
    categories = rows["category"].astype(str).value_counts()
    names = rows["category_name"] if "category_name" in rows else rows["category"]
    top = str(categories.index[0]) if len(categories) else None
    who = rows["counterparty"].dropna()
    return {
        "name": str(who.iloc[-1]) if len(who) else normalise(str(rows["label"].iloc[-1])),
        "category": top,
        "category_name": str(names[rows["category"].astype(str) == top].iloc[0]) if top else None,
        "period": period.name,
        "occurrences": len(dates),
        "first_date": dates[0],
        "last_date": dates[-1],
        "amount": expected,
        "last_amount": last,
        "fixed": fixed,
        "price_change": previous is not None,
        "previous_amount": previous,
        "changed_on": changed_on,
        "next_date": following,
        "active": today <= following + grace,
        "transfer": bool(rows["transfer"].any()) if "transfer" in rows else False,
    }


def _median(amounts: list[Decimal]) -> Decimal:
    ordered = sorted(amounts)
    return ordered[len(ordered) // 2]


def recurring(tx: pd.DataFrame, *, tolerance: float = 0.1, as_of: Any = None) -> pd.DataFrame:
    """Every recurring series (see the module's docstring), one row each, newest first."""
    found, _ = detect(tx, tolerance=tolerance, as_of=as_of)
    return found.sort_values(["active", "last_date"], ascending=False, ignore_index=True)


def subscriptions(tx: pd.DataFrame, *, tolerance: float = 0.1, as_of: Any = None) -> pd.DataFrame:
    """Active fixed-amount payments going out (not transfers), with price changes flagged.

    ``monthly_cost`` and ``yearly_cost`` bring every period to the same footing (exact
    ``Decimal``, rounded to the cent).
    """
    import pandas as pd

    from cozy_kernel.budget.money import cents

    found = recurring(tx, tolerance=tolerance, as_of=as_of)
    subs = found[found["active"] & found["fixed"] & (found["direction"] == "out")]
    subs = subs[~subs["transfer"].astype(bool)].copy()
    per_year = {"weekly": Decimal(52), "monthly": Decimal(12), "quarterly": Decimal(4),
                "yearly": Decimal(1)}  # fmt: skip
    yearly = [-a * per_year[p] for a, p in zip(subs["amount"], subs["period"], strict=True)]
    subs["yearly_cost"] = pd.Series(yearly, index=subs.index, dtype=object)
    subs["monthly_cost"] = pd.Series(
        [cents(y / 12) for y in yearly], index=subs.index, dtype=object
    )
    return subs.sort_values(["yearly_cost", "name"], ascending=[False, True], ignore_index=True)
