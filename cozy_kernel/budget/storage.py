"""The user's categories, rules and budgets in the workspace store.

Every write checks the terms gate and runs in one transaction, so a refused or failed change
leaves nothing half done. The default tree is written on first use, not at migration, so a
workspace that never budgets holds none of it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cozy_kernel import terms
from cozy_kernel.budget.plans import require_month
from cozy_kernel.budget.tree import DEFAULT_TREE, LANGUAGES, UNCATEGORISED, Node, check_id
from cozy_kernel.errors import BadInput, UsageError, unknown
from cozy_kernel.schemas import BANK_TRANSACTIONS
from cozy_kernel.store import Store

RULE_STATES = ("active", "proposed")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Rule:
    """Conditions (all must hold) that put a transaction in ``category``.

    ``contains`` looks in the label and the counterparty, case-insensitively; ``regex``
    searches the label; amounts are signed minor units (negative is money out), inclusive.
    """

    category: str
    contains: str | None = None
    regex: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    account: str | None = None
    counterparty: str | None = None
    priority: int = 0
    state: str = "active"
    origin: str = "user"
    id: int | None = None

    def check(self) -> None:
        if not any(
            v is not None
            for v in (self.contains, self.regex, self.min_amount, self.max_amount,
                      self.account, self.counterparty)
        ):  # fmt: skip
            raise BadInput("a rule needs at least one condition (contains, regex, amount…)")
        if self.state not in RULE_STATES:
            raise BadInput(f"rule state {self.state!r} is not one of {', '.join(RULE_STATES)}")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise BadInput(f"regex {self.regex!r}: {exc}") from None
        low, high = self.min_amount, self.max_amount
        if low is not None and high is not None and low > high:
            raise BadInput("the rule's minimum amount is above its maximum")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def ensure_tree(store: Store) -> None:
    """Seed the default tree the first time a workspace budgets."""
    terms.require(store)
    if store.db.execute("SELECT 1 FROM budget_categories LIMIT 1").fetchone():
        return
    with store.transaction():
        store.db.executemany(
            "INSERT OR IGNORE INTO budget_categories VALUES (?, ?, ?, ?, ?, ?)", DEFAULT_TREE
        )


def nodes(store: Store) -> list[Node]:
    ensure_tree(store)
    return [Node(*row) for row in store.db.execute("SELECT * FROM budget_categories")]


def aliases(store: Store) -> dict[str, str]:
    terms.require(store)
    return dict(store.db.execute("SELECT alias, category FROM budget_aliases"))


def _known(store: Store) -> dict[str, str | None]:
    return dict(store.db.execute("SELECT id, parent FROM budget_categories"))


def _require(store: Store, category_id: str) -> None:
    known = _known(store)
    if category_id not in known:
        raise unknown("category", category_id, known)


def _names(names: Mapping[str, str]) -> tuple[str, str, str]:
    for language in names:
        if language not in LANGUAGES:
            raise BadInput(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    given = [n.strip() for n in names.values() if n.strip()]
    if not given:
        raise BadInput("a category needs a name")
    first = names.get("en", "").strip() or given[0]
    en, es, fr = (names.get(lang, "").strip() or first for lang in LANGUAGES)
    return en, es, fr


def add_category(
    store: Store, category_id: str, parent: str | None, names: Mapping[str, str]
) -> Node:
    """A new category; a ``parent:child`` id without a parent goes under its prefix."""
    ensure_tree(store)
    check_id(category_id)
    known = _known(store)
    if category_id in known:
        raise UsageError(f"category {category_id!r} already exists")
    if parent is None and ":" in category_id and category_id.rpartition(":")[0] in known:
        parent = category_id.rpartition(":")[0]
    if parent is not None and parent not in known:
        raise unknown("parent category", parent, known)
    en, es, fr = _names(names or {"en": category_id.rpartition(":")[2].replace("-", " ")})
    with store.transaction():
        position = store.db.execute(
            "SELECT coalesce(max(position) + 1, 0) FROM budget_categories WHERE parent IS ?",
            (parent,),
        ).fetchone()[0]
        node = Node(category_id, parent, en, es, fr, int(position))
        store.db.execute("INSERT INTO budget_categories VALUES (?, ?, ?, ?, ?, ?)", node)
        # An id that was merged away and is created again stands for itself from now on.
        store.db.execute("DELETE FROM budget_aliases WHERE alias = ?", (category_id,))
    return node


def rename_category(store: Store, category_id: str, name: str, language: str) -> None:
    ensure_tree(store)
    _require(store, category_id)
    if language not in LANGUAGES:
        raise BadInput(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    if not name.strip():
        raise BadInput("a category needs a name")
    with store.transaction():
        store.db.execute(
            f"UPDATE budget_categories SET name_{language} = ? WHERE id = ?",
            (name.strip(), category_id),
        )


def move_category(store: Store, category_id: str, parent: str | None) -> None:
    """Put a category (with everything under it) under another one, or at the top."""
    ensure_tree(store)
    known = _known(store)
    _require(store, category_id)
    if parent is not None:
        if parent not in known:
            raise unknown("parent category", parent, known)
        ancestor: str | None = parent
        while ancestor is not None:
            if ancestor == category_id:
                raise BadInput(f"cannot move {category_id!r} under itself or its own child")
            ancestor = known[ancestor]
    with store.transaction():
        position = store.db.execute(
            "SELECT coalesce(max(position) + 1, 0) FROM budget_categories WHERE parent IS ?",
            (parent,),
        ).fetchone()[0]
        store.db.execute(
            "UPDATE budget_categories SET parent = ?, position = ? WHERE id = ?",
            (parent, position, category_id),
        )


def merge_categories(store: Store, source: str, into: str) -> dict[str, int]:
    """Fold ``source`` into ``into``: its children, rules and budgets move, its id stays an alias.

    Transactions that name ``source`` (the bank's value or the user's own edit) resolve to
    ``into`` through the alias, so nothing the user or a connector recorded is rewritten.
    """
    ensure_tree(store)
    _require(store, source)
    _require(store, into)
    if source == into:
        raise BadInput("a category cannot be merged into itself")
    if source == UNCATEGORISED:
        raise BadInput(f"{UNCATEGORISED!r} cannot be merged away")
    known = _known(store)
    ancestor: str | None = into
    while ancestor is not None:
        if ancestor == source:
            raise BadInput(f"cannot merge {source!r} into its own child {into!r}")
        ancestor = known[ancestor]
    db = store.db
    with store.transaction():
        children = db.execute(
            "UPDATE budget_categories SET parent = ? WHERE parent = ?", (into, source)
        ).rowcount
        rules = db.execute(
            "UPDATE budget_rules SET category = ? WHERE category = ?", (into, source)
        ).rowcount
        # Budgets of both in the same month and currency add up.
        budgets = db.execute(
            "INSERT INTO budget_amounts SELECT ?, month, currency, amount, envelope "
            "FROM budget_amounts WHERE category = ? ON CONFLICT "
            "(category, month, currency) DO UPDATE SET amount = amount + excluded.amount",
            (into, source),
        ).rowcount
        db.execute("DELETE FROM budget_amounts WHERE category = ?", (source,))
        db.execute("UPDATE budget_aliases SET category = ? WHERE category = ?", (into, source))
        db.execute("DELETE FROM budget_categories WHERE id = ?", (source,))
        db.execute("INSERT OR REPLACE INTO budget_aliases VALUES (?, ?)", (source, into))
    return {"children": children, "rules": rules, "budgets": budgets}


# -- rules ------------------------------------------------------------------------------

_RULE_COLUMNS = (
    "id", "category", "contains", "regex", "min_amount", "max_amount", "account",
    "counterparty", "priority", "state", "origin",
)  # fmt: skip


def rules(store: Store) -> list[Rule]:
    terms.require(store)
    cur = store.db.execute(f"SELECT {', '.join(_RULE_COLUMNS)} FROM budget_rules ORDER BY id")
    return [Rule(**dict(zip(_RULE_COLUMNS, row, strict=True))) for row in cur]


def add_rule(store: Store, rule: Rule) -> int:
    ensure_tree(store)
    rule.check()
    _require(store, rule.category)
    with store.transaction():
        cur = store.db.execute(
            "INSERT INTO budget_rules (category, contains, regex, min_amount, max_amount, "
            "account, counterparty, priority, state, origin, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rule.category, rule.contains, rule.regex, rule.min_amount, rule.max_amount,
             rule.account, rule.counterparty, rule.priority, rule.state, rule.origin, _now()),
        )  # fmt: skip
    assert cur.lastrowid is not None
    return cur.lastrowid


def add_proposals(store: Store, proposals: list[Rule]) -> list[int]:
    """Record proposed rules, skipping any the user already has in some state."""
    terms.require(store)
    have = {_shape(r) for r in rules(store)}
    added = []
    for rule in proposals:
        if _shape(rule) not in have:
            added.append(add_rule(store, rule))
            have.add(_shape(rule))
    return added


def _shape(rule: Rule) -> tuple[Any, ...]:
    return (rule.category, rule.contains, rule.regex, rule.min_amount, rule.max_amount,
            rule.account, rule.counterparty)  # fmt: skip


def remove_rule(store: Store, rule_id: int) -> None:
    terms.require(store)
    with store.transaction():
        if not store.db.execute("DELETE FROM budget_rules WHERE id = ?", (rule_id,)).rowcount:
            raise unknown("rule", str(rule_id), [str(r.id) for r in rules(store)])


def accept_rule(store: Store, rule_id: int) -> None:
    terms.require(store)
    with store.transaction():
        cur = store.db.execute("UPDATE budget_rules SET state = 'active' WHERE id = ?", (rule_id,))
        if not cur.rowcount:
            raise unknown("rule", str(rule_id), [str(r.id) for r in rules(store)])


# -- budgets ----------------------------------------------------------------------------


def budgets(store: Store) -> list[tuple[str, str, str, int, bool]]:
    """(category, month or "" for every month, currency, minor units, envelope)."""
    terms.require(store)
    return [
        (c, m, cur, int(a), bool(e))
        for c, m, cur, a, e in store.db.execute(
            "SELECT category, month, currency, amount, envelope FROM budget_amounts "
            "ORDER BY category, month, currency"
        )
    ]


def set_budget(
    store: Store, category: str, minor: int, month: str | None, currency: str, envelope: bool
) -> None:
    ensure_tree(store)
    _require(store, category)
    if month is not None:
        require_month(month)
    if not _CURRENCY.match(currency):
        raise BadInput(f"currency {currency!r} is not an ISO 4217 code like EUR")
    if minor < 0:
        raise BadInput("a budget cannot be negative")
    with store.transaction():
        store.db.execute(
            "INSERT INTO budget_amounts VALUES (?, ?, ?, ?, ?) ON CONFLICT "
            "(category, month, currency) DO UPDATE SET amount = excluded.amount, "
            "envelope = excluded.envelope",
            (category, month or "", currency, minor, int(envelope)),
        )


def remove_budget(store: Store, category: str, month: str | None, currency: str) -> int:
    terms.require(store)
    with store.transaction():
        return store.db.execute(
            "DELETE FROM budget_amounts WHERE category = ? AND month = ? AND currency = ?",
            (category, month or "", currency),
        ).rowcount


def manual_categories(store: Store) -> list[tuple[str, Any, Any]]:
    """(transaction id, the user's category, the bank's category) for every corrected row."""
    terms.require(store)
    return store.edited_values(BANK_TRANSACTIONS, "category")
