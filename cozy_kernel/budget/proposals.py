"""Rules proposed from the user's corrections, as Actual Budget learns them.

When the user has corrected a counterparty's category at least twice and most of that
counterparty's recent rows now sit in the category they chose, a rule would save them the
next correction: it is proposed (state ``proposed``), never applied until accepted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

from cozy_kernel.budget.model import normalise
from cozy_kernel.budget.storage import Rule

if TYPE_CHECKING:
    import pandas as pd

RECENT_ROWS = 10
MIN_CORRECTIONS = 2


def _who(tx: pd.DataFrame) -> pd.Series[str]:
    """The counterparty, else the label's words (dates and numbers vary between rows)."""
    who = tx["counterparty"].astype("string").str.strip()
    words = tx["label"].astype("string").map(lambda t: "\x00" + normalise(str(t)))
    return who.where(who.notna() & (who != ""), words).astype(str)


def _condition(who: str) -> dict[str, str]:
    if not who.startswith("\x00"):
        return {"counterparty": who}
    words = [re.escape(w) for w in who[1:].split()]
    return {"regex": r"\b" + r"\b.*\b".join(words) + r"\b"}


def suggest(
    tx: pd.DataFrame, *, recent: int = RECENT_ROWS, min_corrections: int = MIN_CORRECTIONS
) -> list[Rule]:
    """Rules worth proposing, given a categorised frame (see ``budget.transactions``)."""
    if tx.empty:
        return []
    frame = tx.assign(_who=_who(tx), _category=tx["category"].astype(str))
    manual = frame[frame["category_source"] == "manual"]
    corrected = manual[manual["bank_category"].astype(object) != manual["_category"]]
    proposals = []
    counts = corrected.groupby(["_who", "_category"]).size()
    for key, count in counts.items():
        who, category = cast(tuple[str, str], key)
        if count < min_corrections:
            continue
        rows = frame[frame["_who"] == who].sort_values(["date", "id"])
        latest = rows.tail(recent)
        if (latest["_category"] == category).mean() <= 0.5:
            continue
        others = rows[rows["category_source"] != "manual"]
        if not others.empty and (others["_category"] == category).all():
            continue  # nothing left for a rule to change
        condition = _condition(who)
        proposals.append(
            Rule(category, regex=condition.get("regex"),
                 counterparty=condition.get("counterparty"), state="proposed",
                 origin=f"proposed from {count} corrections")
        )  # fmt: skip
    return proposals
