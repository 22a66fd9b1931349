"""Benchmark of categorising a million transactions: ``budget.transactions`` end to end.

It loads the frame (Parquet snapshot), lays the user's corrections and rules over the bank's
categories, trains the local model (cold) or reuses it (warm), pairs own-account transfers
and labels every row. Baseline, in the same run on the same frame: a bare pandas pass doing
the least a rule engine must — ``cozy.frame`` to load the rows, then one vectorised
``str.contains`` per rule on the labels and a ``map`` of the bank's categories onto the tree.

Run with ``.venv/bin/python benchmarks/categorise.py [--rows N]``; ``benchmarks/run.py``
calls :func:`run` on the workspace it already synced.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import cozy_kernel as cozy
from cozy_kernel import budget
from cozy_kernel.budget import tree as budget_tree

UNTIL = "2026-06-30"
RULES = (
    {"category": "groceries", "contains": "MONOPRIX"},
    {"category": "food:restaurant", "regex": r"\bBISTROT\b"},
    {"category": "home", "min_amount": "-5000", "max_amount": "-250"},
    {"category": "leisure:travel", "counterparty": "RENFE VIAJEROS"},
    {"category": "shopping:online", "contains": "AMAZON", "account": "demo-checking"},
)
CORRECTIONS = 200


def prepare(home: Path) -> None:
    """Give the workspace rules and a few hundred corrections, as a real user's has."""
    for rule in RULES:
        budget.add_rule(home=home, **rule)
    ids = cozy.frame("bank.transactions", columns=["id"], home=home)["id"]
    for tid in ids.iloc[:: max(len(ids) // CORRECTIONS, 1)][:CORRECTIONS]:
        cozy.edit("bank.transactions", str(tid), category="food:market", home=home)


def bare(home: Path) -> float:
    """Seconds for the baseline pass (see the module's docstring)."""
    start = time.perf_counter()
    tx = cozy.frame("bank.transactions", home=home)
    known = budget_tree.mapper(budget_tree.frame(budget_tree.DEFAULT_TREE), {})
    category = tx["category"].astype(str).map(known)
    for rule in RULES:
        if "contains" in rule:
            category = category.where(~tx["label"].str.contains(rule["contains"]), "x")
    return time.perf_counter() - start


def run(home: Path) -> dict[str, Any]:
    """Time categorising every transaction of ``home`` (cold, then warm) against the baseline."""
    prepare(home)
    rows = len(cozy.frame("bank.transactions", columns=["id"], home=home))
    start = time.perf_counter()
    budget.transactions(home=home)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    tx = budget.transactions(home=home)
    warm = time.perf_counter() - start
    baseline = min(bare(home) for _ in range(2))
    sources = tx["category_source"].value_counts().to_dict()
    return {
        "rows": rows, "cold_s": cold, "warm_s": warm, "baseline_s": baseline,
        "rows_per_s": rows / warm, "ratio": warm / baseline,
        "sources": {str(k): int(v) for k, v in sources.items()},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="demo transactions")
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        cozy.accept_terms(home=home)
        cozy.connect("demo-bank", home=home, grant=True, transactions=rows, until=UNTIL)
        cozy.sync("demo-bank", home=home)
        result = run(home)
    print(
        f"categorise {result['rows']:,} rows: cold {result['cold_s']:.2f} s, "
        f"warm {result['warm_s']:.2f} s ({result['rows_per_s']:,.0f} rows/s), "
        f"baseline {result['baseline_s']:.2f} s, ratio {result['ratio']:.2f}x, "
        f"sources {result['sources']}"
    )


if __name__ == "__main__":
    main()
