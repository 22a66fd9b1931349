"""Who decided each transaction's category: the user, a rule, the model or the bank.

Priority, highest first: the user's own correction (an edit of ``bank.transactions``), an
active rule, the local model, the bank's category. The model only overrides a category the
bank gave when it is surer than the bank is trusted to be (:data:`BANK_CONFIDENCE`); where
the bank gave none, it needs :data:`MODEL_FLOOR`. Every row keeps ``category_source`` and
``category_confidence``, so a notebook can show why a payment sits where it does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cozy_kernel.budget import matching as _rules
from cozy_kernel.budget import tree as _tree
from cozy_kernel.budget.model import CategoryModel, texts
from cozy_kernel.budget.storage import Rule

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    Features = tuple[npt.NDArray[np.intp], list[str]]

BANK_CONFIDENCE = 0.9
MODEL_FLOOR = 0.4
TRANSFER_WINDOW_DAYS = 3


def decide(
    tx: pd.DataFrame,
    tree: pd.DataFrame,
    rules: Sequence[Rule] | pd.DataFrame = (),
    aliases: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Categories from the user's corrections, rules and the bank, before any model.

    ``tx`` is a ``bank.transactions`` frame; ``bank_category`` (the source's value) and
    ``manual_category`` (the user's) columns are used when present, else ``category`` is
    taken as the bank's. ``rules`` is ``budget.rules()`` or a list of ``Rule``.
    """
    import numpy as np

    out = tx.copy()
    known = _tree.mapper(tree, aliases or {})
    bank_raw = out["bank_category"] if "bank_category" in out else out["category"]
    out["bank_category"] = bank_raw.astype(object).where(bank_raw.notna(), None)
    bank = _tree.resolve(out["bank_category"], known)
    category = bank.where(bank.notna(), _tree.UNCATEGORISED)
    source = np.where(bank.notna() & (bank != _tree.UNCATEGORISED), "bank", "none").astype(object)
    confidence = np.where(source == "bank", BANK_CONFIDENCE, 0.0)
    by_rule, rule_id = _rules.apply(out, rules)
    hit = by_rule.notna().to_numpy()
    category[hit] = _tree.resolve(by_rule[hit], known)
    source[hit], confidence[hit] = "rule", 1.0
    if "manual_category" in out:
        manual = out["manual_category"]
        hit = manual.notna().to_numpy()
        category[hit] = _tree.resolve(manual[hit], known)
        source[hit], confidence[hit] = "manual", 1.0
    out["category"] = category.astype(object)
    out["category_source"] = source
    out["category_confidence"] = confidence.astype("float64")
    out["rule_id"] = rule_id.where(out["category_source"] == "rule").astype("Int64")
    return out


def apply_model(
    decided: pd.DataFrame, model: CategoryModel | None, features: Features | None = None
) -> pd.DataFrame:
    """Let the model decide rows no correction or rule decided, where it is sure enough."""
    import numpy as np

    out = decided.copy()
    if model is None or out.empty:
        return out
    codes, distinct = texts(out) if features is None else features
    labels, probability = model.predict(distinct)
    predicted = np.asarray(labels, dtype=object)[codes]
    p = probability[codes]
    source = out["category_source"].to_numpy(dtype=object, copy=True)
    confidence = out["category_confidence"].to_numpy(dtype="float64", copy=True)
    category = out["category"].to_numpy(dtype=object, copy=True)
    open_ = (source == "bank") | (source == "none")
    agrees = open_ & (source == "bank") & (predicted == category)
    overrides = open_ & (source == "bank") & (predicted != category) & (p > BANK_CONFIDENCE)
    fills = open_ & (source == "none") & (p >= MODEL_FLOOR)
    confidence[agrees] = np.maximum(confidence[agrees], p[agrees])
    take = overrides | fills
    category[take], source[take], confidence[take] = predicted[take], "model", p[take]
    out["category"], out["category_source"], out["category_confidence"] = (
        category, source, confidence,
    )  # fmt: skip
    return out


def transfer_pairs(tx: pd.DataFrame, window_days: int = TRANSFER_WINDOW_DAYS) -> pd.Series[Any]:
    """For each row moving money between two of the user's own accounts, the other row's id.

    A pair is one row out and one row in, of the same amount and currency, on two different
    accounts, booked within ``window_days``; each row pairs at most once, closest dates first.
    """
    import numpy as np
    import pandas as pd

    pair = pd.Series([None] * len(tx), index=tx.index, dtype=object)
    if tx.empty:
        return pair
    codes, uniques = pd.factorize(tx["amount"])
    signed = np.fromiter((int(u.scaleb(2)) for u in uniques), dtype=np.int64)[codes]
    # Only amounts seen both out and in can pair: usually a small share of the rows.
    both_ways = np.intersect1d(-signed[signed < 0], signed[signed > 0])
    near = np.isin(np.abs(signed), both_ways)
    if not near.any():
        return pair
    chosen = tx[near]
    signed = signed[near]
    base = pd.DataFrame(
        {"id": chosen["id"].astype(str).to_numpy(),
         "account": chosen["account_id"].astype(str).to_numpy(),
         "currency": chosen["currency"].astype(str).to_numpy(),
         "date": chosen["date"].to_numpy(), "cents": np.abs(signed)}
    )  # fmt: skip
    out_rows, in_rows = base[signed < 0], base[signed > 0]
    if len(out_rows["account"].unique()) + len(in_rows["account"].unique()) < 2:
        return pair
    both = out_rows.merge(in_rows, on=["currency", "cents"], suffixes=("_out", "_in"))
    both = both[both["account_out"] != both["account_in"]]
    gap = (both["date_in"] - both["date_out"]).abs().dt.days
    both = both.assign(gap=gap)[gap <= window_days]
    both = both.sort_values(["gap", "date_out", "id_out", "id_in"])
    taken: set[str] = set()
    found: dict[str, str] = {}
    for a, b in zip(both["id_out"], both["id_in"], strict=True):
        if a not in taken and b not in taken:
            taken.update((a, b))
            found[a], found[b] = b, a
    ids = tx["id"].astype(str)
    paired = ids.isin(found.keys()).to_numpy()
    pair[paired] = ids[paired].map(found).to_numpy(dtype=object)
    return pair


def label(categorised: pd.DataFrame, tree: pd.DataFrame) -> pd.DataFrame:
    """Add names, the top-level category, transfers and the flow (income/spending/transfer)."""
    import numpy as np
    import pandas as pd

    out = categorised.copy()
    info = tree.set_index("id")
    codes, distinct = pd.factorize(out["category"].astype(object))
    tops = info["top"].reindex(distinct)
    for column, values in (("category_name", info["name"].reindex(distinct)),
                           ("category_path", info["path"].reindex(distinct)),
                           ("category_top", tops),
                           ("category_top_name", info["name"].reindex(tops))):  # fmt: skip
        out[column] = values.to_numpy(dtype=object)[codes] if len(codes) else []
    out["transfer_pair"] = transfer_pairs(out)
    moves = set(_tree.subtree(tree, _tree.TRANSFERS)) if _tree.TRANSFERS in info.index else set()
    earns = set(_tree.subtree(tree, _tree.INCOME)) if _tree.INCOME in info.index else set()
    out["transfer"] = (out["transfer_pair"].notna() | out["category"].isin(moves)).astype(bool)
    positive = pd.Series(
        np.fromiter((a > 0 for a in out["amount"]), dtype=bool, count=len(out)), index=out.index
    )
    income = out["category"].isin(earns) | ((out["category"] == _tree.UNCATEGORISED) & positive)
    out["flow"] = np.where(out["transfer"], "transfer", np.where(income, "income", "spending"))
    for column in ("category", "category_source", "category_top", "flow"):
        out[column] = out[column].astype("category")
    return out


def categorise(
    tx: pd.DataFrame,
    tree: pd.DataFrame,
    rules: Sequence[Rule] | pd.DataFrame = (),
    aliases: Mapping[str, str] | None = None,
    model: CategoryModel | None = None,
) -> pd.DataFrame:
    """Every transaction with its category, who decided it, how sure, and its flow."""
    return label(apply_model(decide(tx, tree, rules, aliases), model), tree)
