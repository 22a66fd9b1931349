"""Budgeting the user owns: categories, rules and a local model, recurring payments,
budget against actual, a cash-flow forecast, savings rate and net worth.

Functions that read or change the workspace take ``home=`` and pass the terms gate
(:mod:`cozy_kernel.budget.api`); the rest are pure functions over DataFrames, tested on
their own and used by the notebooks in ``notebooks/``. Money stays ``Decimal`` in every
total, and amounts of different currencies are never added together.

    from cozy_kernel import budget
    tx = budget.transactions(since="2026-01-01")
    budget.spending(tx)                      # by top-level category, per currency
    budget.subscriptions(tx)                 # recurring fixed payments, price changes
"""

from cozy_kernel.budget.api import (
    Book,
    accept_rule,
    accounts,
    add_category,
    add_rule,
    book,
    budgets,
    categories,
    merge_categories,
    move_category,
    propose_rules,
    remove_budget,
    remove_rule,
    rename_category,
    rules,
    set_budget,
    transactions,
)
from cozy_kernel.budget.cashflow import forecast, lowest_point
from cozy_kernel.budget.categorisation import categorise, decide, transfer_pairs
from cozy_kernel.budget.model import CategoryModel, evaluate
from cozy_kernel.budget.money import one_currency, total
from cozy_kernel.budget.plans import budget_vs_actual
from cozy_kernel.budget.proposals import suggest
from cozy_kernel.budget.recurrence import recurring, subscriptions
from cozy_kernel.budget.wealth import balances, monthly, net_worth, spending

# Read or change the workspace (gated on the terms); everything else is pure.
STORE_FUNCTIONS = (
    "accept_rule", "accounts", "add_category", "add_rule", "book", "budgets", "categories",
    "merge_categories", "move_category", "propose_rules", "remove_budget", "remove_rule",
    "rename_category", "rules", "set_budget", "transactions",
)  # fmt: skip
__all__ = [
    "Book", "CategoryModel", "accept_rule", "accounts", "add_category", "add_rule", "balances",
    "book", "budget_vs_actual", "budgets", "categories", "categorise", "decide", "evaluate",
    "forecast", "lowest_point", "merge_categories", "monthly", "move_category", "net_worth",
    "one_currency", "propose_rules", "recurring", "remove_budget", "remove_rule",
    "rename_category", "rules", "set_budget", "spending", "subscriptions", "suggest", "total",
    "transactions", "transfer_pairs",
]  # fmt: skip
