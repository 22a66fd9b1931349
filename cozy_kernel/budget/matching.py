"""Rules: the user's own "this kind of transaction goes there", applied to a whole frame.

Rules are few and rows many, so each text condition is evaluated once per distinct label
(``pd.factorize``), not once per row: a million rows with a few thousand distinct labels cost
a few thousand regex searches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cozy_kernel.budget.money import as_money
from cozy_kernel.budget.storage import Rule
from cozy_kernel.schemas import minor_to_money

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd


def frame(rules: Sequence[Rule]) -> pd.DataFrame:
    """Rules as a table, amounts as ``Decimal``; in the order they are tried."""
    import pandas as pd

    rows = [
        {"id": r.id, "category": r.category, "contains": r.contains, "regex": r.regex,
         "min_amount": None if r.min_amount is None else minor_to_money(r.min_amount),
         "max_amount": None if r.max_amount is None else minor_to_money(r.max_amount),
         "account": r.account, "counterparty": r.counterparty, "priority": r.priority,
         "state": r.state, "origin": r.origin}
        for r in ordered(rules)
    ]  # fmt: skip
    columns = ["id", "category", "contains", "regex", "min_amount", "max_amount", "account",
               "counterparty", "priority", "state", "origin"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def as_rules(rules: Sequence[Rule] | pd.DataFrame) -> list[Rule]:
    """Rules as :class:`Rule` objects, from a sequence of them or a :func:`frame` table."""
    import pandas as pd

    from cozy_kernel.schemas import money_to_minor

    if not isinstance(rules, pd.DataFrame):
        return list(rules)
    out = []
    for row in rules.to_dict("records"):
        values: dict[str, Any] = {
            str(k): (None if v is None or v != v else v) for k, v in row.items()
        }
        for money in ("min_amount", "max_amount"):
            if values[money] is not None:
                values[money] = money_to_minor(values[money])
        out.append(Rule(**values))
    return out


def ordered(rules: Sequence[Rule]) -> list[Rule]:
    """Highest priority first; among equals the newest rule, the user's latest word, wins."""
    return sorted(rules, key=lambda r: (-r.priority, -(r.id or 0)))


def _texts(tx: pd.DataFrame, column: str) -> tuple[npt.NDArray[np.intp], list[str]]:
    import pandas as pd

    codes, uniques = pd.factorize(tx[column].fillna("").astype(str))
    return codes, [str(u) for u in uniques]


def matches(tx: pd.DataFrame, rule: Rule, cache: dict[str, Any] | None = None) -> pd.Series[bool]:
    """Which rows of ``tx`` meet every condition of ``rule``."""
    import numpy as np
    import pandas as pd

    cache = {} if cache is None else cache
    mask = np.ones(len(tx), dtype=bool)

    def per_text(column: str, test: Any) -> npt.NDArray[np.bool_]:
        if column not in cache:
            cache[column] = _texts(tx, column)
        codes, uniques = cache[column]
        hits = np.fromiter((test(u) for u in uniques), dtype=bool, count=len(uniques))
        return hits[codes] if len(codes) else np.zeros(0, dtype=bool)

    if rule.contains is not None:
        needle = rule.contains.casefold()
        mask &= per_text("label", lambda t: needle in t.casefold()) | per_text(
            "counterparty", lambda t: needle in t.casefold()
        )
    if rule.regex is not None:
        pattern = re.compile(rule.regex, re.IGNORECASE)
        mask &= per_text("label", lambda t: pattern.search(t) is not None)
    if rule.counterparty is not None:
        who = rule.counterparty.casefold().strip()
        mask &= per_text("counterparty", lambda t: t.casefold().strip() == who)
    if rule.account is not None:
        mask &= (tx["account_id"].astype(str) == rule.account).to_numpy()
    if rule.min_amount is not None or rule.max_amount is not None:
        low = None if rule.min_amount is None else minor_to_money(rule.min_amount)
        high = None if rule.max_amount is None else minor_to_money(rule.max_amount)
        if "amount" not in cache:
            codes, uniques = pd.factorize(tx["amount"])
            cache["amount"] = codes, [as_money(u) for u in uniques]
        codes, amounts = cache["amount"]
        hits = np.fromiter((_within(a, low, high) for a in amounts), dtype=bool)
        mask &= hits[codes] if len(codes) else np.zeros(0, dtype=bool)
    return pd.Series(mask, index=tx.index, dtype=bool)


def _within(amount: Decimal, low: Decimal | None, high: Decimal | None) -> bool:
    return (low is None or amount >= low) and (high is None or amount <= high)


def apply(
    tx: pd.DataFrame, rules: Sequence[Rule] | pd.DataFrame
) -> tuple[pd.Series[Any], pd.Series[Any]]:
    """The category each row's first matching active rule gives (or None), and that rule's id."""
    import pandas as pd

    category = pd.Series([None] * len(tx), index=tx.index, dtype=object)
    rule_id = pd.Series([None] * len(tx), index=tx.index, dtype=object)
    cache: dict[str, Any] = {}
    for rule in ordered([r for r in as_rules(rules) if r.state == "active"]):
        hit = matches(tx, rule, cache) & category.isna()
        category[hit] = rule.category
        rule_id[hit] = rule.id
    return category, rule_id
