"""The budget functions that read or change the workspace, each behind the terms gate.

Like :mod:`cozy_kernel.api`, each call opens the store for its own duration. Reads return
DataFrames that the pure functions of this package take; writes go through
:mod:`cozy_kernel.budget.storage`, one transaction each.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cozy_kernel import terms
from cozy_kernel.api import Home, session
from cozy_kernel.budget import categorisation as _categorise
from cozy_kernel.budget import matching as _rules
from cozy_kernel.budget import plans as _plans
from cozy_kernel.budget import storage
from cozy_kernel.budget import tree as _tree
from cozy_kernel.budget.model import CategoryModel, examples, fingerprint, texts
from cozy_kernel.errors import BadInput, unknown
from cozy_kernel.frames import DateLike
from cozy_kernel.schemas import BANK_ACCOUNTS, BANK_TRANSACTIONS, Collection, money_to_minor
from cozy_kernel.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd


def categories(language: str = "en", *, home: Home = None) -> pd.DataFrame:
    """Your category tree in display order, names in ``language`` (en, es, fr)."""
    with session(home) as (_, store):
        return _tree.frame(storage.nodes(store), language)


def add_category(
    category_id: str,
    *,
    parent: str | None = None,
    name: str | None = None,
    language: str = "en",
    home: Home = None,
) -> dict[str, Any]:
    """Add a category (``"food:market"`` goes under ``food`` unless ``parent`` says)."""
    names = {language: name} if name else {}
    with session(home) as (_, store):
        return storage.add_category(store, category_id, parent, names)._asdict()


def rename_category(
    category_id: str, name: str, *, language: str = "en", home: Home = None
) -> None:
    """Give a category your own name in one language; its id (and history) stays."""
    with session(home) as (_, store):
        storage.rename_category(store, category_id, name, language)


def move_category(category_id: str, parent: str | None = None, *, home: Home = None) -> None:
    """Put a category under ``parent`` (at the top when ``None``), with all under it."""
    with session(home) as (_, store):
        storage.move_category(store, category_id, parent)


def merge_categories(source: str, into: str, *, home: Home = None) -> dict[str, int]:
    """Fold ``source`` into ``into``; transactions naming ``source`` follow."""
    with session(home) as (_, store):
        return storage.merge_categories(store, source, into)


def rules(*, home: Home = None) -> pd.DataFrame:
    """Your rules, active and proposed, in the order they are tried."""
    with session(home) as (_, store):
        return _shown(_rules.frame(storage.rules(store)))


# A rule's conditions name what transactions hold: a pseudonymised share hides them alike.
_RULE_VALUES = {"account": "account_id", "counterparty": "counterparty", "contains": "label",
                "regex": "label"}  # fmt: skip


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    from cozy_kernel import frames

    return frames.pseudonymous(table, BANK_TRANSACTIONS, _RULE_VALUES)


def _minor(value: Decimal | int | str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return money_to_minor(Decimal(value) if isinstance(value, str) else value)
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise BadInput(f"{name}: {exc}") from None


def add_rule(
    category: str,
    *,
    contains: str | None = None,
    regex: str | None = None,
    min_amount: Decimal | int | str | None = None,
    max_amount: Decimal | int | str | None = None,
    account: str | None = None,
    counterparty: str | None = None,
    priority: int = 0,
    home: Home = None,
) -> int:
    """Add an active rule; every condition given must hold. Returns the rule's id.

    Amounts are signed (negative is money out) and inclusive: ``max_amount="-100"``.
    """
    rule = storage.Rule(
        category, contains=contains, regex=regex,
        min_amount=_minor(min_amount, "min_amount"), max_amount=_minor(max_amount, "max_amount"),
        account=account, counterparty=counterparty, priority=priority,
    )  # fmt: skip
    with session(home) as (_, store):
        return storage.add_rule(store, rule)


def remove_rule(rule_id: int, *, home: Home = None) -> None:
    """Delete a rule (a proposal you do not want, or one of yours)."""
    with session(home) as (_, store):
        storage.remove_rule(store, rule_id)


def accept_rule(rule_id: int, *, home: Home = None) -> None:
    """Turn a proposed rule into an active one."""
    with session(home) as (_, store):
        storage.accept_rule(store, rule_id)


def propose_rules(*, home: Home = None) -> pd.DataFrame:
    """Record rules suggested by your corrections (state ``proposed``) and return them."""
    from cozy_kernel.budget.proposals import suggest

    tx = _categorised(None, None, None, "en", True, home)
    with session(home) as (_, store):
        added = set(storage.add_proposals(store, suggest(tx)))
        table = _rules.frame(storage.rules(store))
    return _shown(table[table["id"].isin(added)].reset_index(drop=True))


def budgets(*, home: Home = None) -> pd.DataFrame:
    """Your budgets: category, month ("" = every month), currency, amount, envelope."""
    with session(home) as (_, store):
        return _plans.frame(storage.budgets(store))


def set_budget(
    category: str,
    amount: Decimal | int | str,
    *,
    month: str | None = None,
    currency: str = "EUR",
    envelope: bool = False,
    home: Home = None,
) -> None:
    """Budget ``amount`` a month for a category (one month with ``month="2026-05"``).

    ``envelope=True`` carries what is left (or overspent) into the next month.
    """
    minor = _minor(amount, "amount")
    assert minor is not None
    with session(home) as (_, store):
        storage.set_budget(store, category, minor, month, currency, envelope)


def remove_budget(
    category: str, *, month: str | None = None, currency: str = "EUR", home: Home = None
) -> int:
    """Drop a budget (the default one when ``month`` is ``None``)."""
    with session(home) as (_, store):
        return storage.remove_budget(store, category, month, currency)


def accounts(*, home: Home = None) -> pd.DataFrame:
    """Your bank accounts (``bank.accounts``), empty with the right columns when none."""
    from cozy_kernel import frames

    with session(home) as (ws, store):
        return frames.to_pandas(frames.table(ws, store, "bank.accounts"))


def _accounts(home: Home) -> pd.DataFrame:
    """``bank.accounts`` for a function that returns only some of them (not noted)."""
    from cozy_kernel import frames

    with session(home) as (ws, store):
        return frames.to_pandas(frames.read(ws, store, "bank.accounts"))


def transactions(
    since: DateLike = None,
    until: DateLike = None,
    *,
    accounts: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    language: str = "en",
    learn: bool = True,
    home: Home = None,
) -> pd.DataFrame:
    """Your transactions, categorised: category, its source and confidence, transfers, flow.

    The whole history is categorised (the model and transfer pairs need it) before
    ``since``/``until`` (inclusive dates) and ``accounts`` (ids) select rows; ``columns``
    keeps only those of ``bank.transactions`` (and its ``id``) beside the categorisation's
    own. ``learn=False`` leaves the model out. A share of the notebook holds only the rows
    and columns returned.
    """
    own = BANK_TRANSACTIONS.columns
    for c in columns or ():
        if c not in own:
            raise unknown("column of bank.transactions", c, own)
    out = _categorised(since, until, accounts, language, learn, home)
    if columns is not None:
        # ``category`` is the decision, not the stored column (that one is ``bank_category``)
        kept = {BANK_TRANSACTIONS.key, "category", *columns}
        out = out[[c for c in out.columns if c in kept or c not in own]]
    return _handed(BANK_TRANSACTIONS, out)


def _handed(coll: Collection, frame: pd.DataFrame) -> pd.DataFrame:
    """What a share of the notebook may hold: the rows returned, and their stored columns.

    A transaction's ``transfer_pair`` holds another row's id: pseudonymised like one.
    """
    from cozy_kernel import frames

    stored = [c for c in frame.columns if c in coll.columns]
    return frames.handed_over(coll, frame, stored, {"transfer_pair": coll.key})


def _categorised(
    since: DateLike,
    until: DateLike,
    accounts: Sequence[str] | None,
    language: str,
    learn: bool,
    home: Home,
) -> pd.DataFrame:
    """Every transaction categorised, then the rows asked for; never noted by a share."""
    import pandas as pd

    from cozy_kernel import frames

    with session(home) as (ws, store):
        terms.require(store)
        tree = _tree.frame(storage.nodes(store), language)
        aliases = storage.aliases(store)
        active = storage.rules(store)
        tx = frames.to_pandas(frames.read(ws, store, "bank.transactions"))
        manual = storage.manual_categories(store)
    if manual:
        ids = [m[0] for m in manual]
        user = pd.Series([m[1] or _tree.UNCATEGORISED for m in manual], index=ids)
        source = pd.Series([m[2] for m in manual], index=ids, dtype=object)
        key = tx["id"].astype(str)
        tx["manual_category"] = key.map(user).astype(object)
        tx["bank_category"] = (
            tx["category"].astype(object).where(~key.isin(source.index), key.map(source))
        )
    decided = _categorise.decide(tx, tree, active, aliases)
    model = None
    features = texts(decided)
    if learn:
        model = _cached_model(ws, examples(decided, features))
    out = _categorise.label(_categorise.apply_model(decided, model, features), tree)
    if since is not None:
        out = out[out["date"] >= _day(since, "since")]
    if until is not None:
        out = out[out["date"] <= _day(until, "until")]
    if accounts is not None:
        out = out[out["account_id"].astype(str).isin(list(accounts))]
    return out.reset_index(drop=True)


def _day(value: DateLike, name: str) -> pd.Timestamp:
    import pandas as pd

    try:
        return pd.Timestamp(dt.date.fromisoformat(str(value)[:10]))
    except ValueError:
        raise BadInput(f"{name}={value!r} is not a date (YYYY-MM-DD)") from None


def _cached_model(ws: Workspace, training: pd.DataFrame) -> CategoryModel | None:
    """The model for exactly this training data, from the workspace cache when it is there."""
    import joblib  # type: ignore[import-untyped]

    if training.empty:
        return None
    key = fingerprint(training)
    folder = ws.root / "cache" / "budget"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"model-{key[:24]}.joblib"
    try:
        cached = joblib.load(path)
        if isinstance(cached, CategoryModel) and cached.key == key:
            return cached
    except (FileNotFoundError, EOFError, ValueError, AttributeError, ImportError):
        pass
    model = CategoryModel.fit(training, key)
    if model is None:
        return None
    for old in folder.glob("model-*.joblib"):
        old.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".model.", suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(model, tmp)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return model


NO_TERMS = (
    "Cozy Notebook reads nothing until you accept its terms: read them with "
    "print(cozy.terms_text()), then run cozy.accept_terms()."
)
NO_DATA = (
    "Your workspace holds no bank transactions yet. Connect a bank — try the demo bank with "
    'cozy.connect("demo-bank", grant=True) then cozy.sync("demo-bank") — or import a statement '
    'you downloaded: cozy import FILE in a terminal, or cozy.import_files(["FILE"], grant=True).'
)


class Book:
    """What a budgeting notebook works on, or why it cannot yet (``missing``).

    Never raises for missing consent or data: a template run on an empty workspace should
    say what to connect, then still draw its (empty) charts.
    """

    def __init__(
        self,
        transactions: pd.DataFrame,
        accounts: pd.DataFrame,
        tree: pd.DataFrame,
        budgets: pd.DataFrame,
        currency: str | None,
        missing: str | None = None,
        note: str | None = None,
    ) -> None:
        self.transactions = transactions
        self.accounts = accounts
        self.tree = tree
        self.budgets = budgets
        self.currency = currency
        self.missing = missing
        self.note = note

    @property
    def ready(self) -> bool:
        return self.missing is None

    @property
    def months(self) -> list[str]:
        """Months with transactions, oldest first ("YYYY-MM")."""
        if self.transactions.empty:
            return []
        return sorted(set(self.transactions["date"].dt.to_period("M").astype(str)))

    def explain(self) -> str:
        """One paragraph for the notebook: what is shown, or what to do first."""
        return self.missing or self.note or ""


def book(
    *,
    accounts: Sequence[str] | None = None,
    currency: str | None = None,
    language: str = "en",
    explain: bool = True,
    home: Home = None,
) -> Book:
    """Load what the budgeting templates need for ``accounts`` (ids; all when ``None``).

    With several currencies and none chosen, the one with the most transactions is shown
    and the note says so: amounts of different currencies are never added together.
    Terms not accepted become the book's ``missing`` text, unless ``explain=False``.
    """

    from cozy_kernel import frames
    from cozy_kernel.errors import ConsentRequired

    default = _tree.frame(_tree.DEFAULT_TREE, language)
    nothing = frames.to_pandas(frames.arrow_schema(BANK_TRANSACTIONS).empty_table())
    empty_tx = _categorise.label(_categorise.decide(nothing, default), default)
    empty_accounts = frames.to_pandas(frames.arrow_schema(BANK_ACCOUNTS).empty_table())
    try:
        tree = categories(language, home=home)
        tx = _categorised(None, None, accounts, language, True, home)
        acc = _accounts(home)
        plan = budgets(home=home)
    except ConsentRequired:
        if not explain:
            raise
        return Book(empty_tx, empty_accounts, default, _plans.frame([]), currency, NO_TERMS)
    if accounts is not None:
        acc = acc[acc["id"].astype(str).isin(list(accounts))]
    if tx.empty:
        return Book(_handed(BANK_TRANSACTIONS, tx), _handed(BANK_ACCOUNTS, acc), tree, plan,
                    currency, NO_DATA)  # fmt: skip
    found = tx["currency"].astype(str).value_counts()
    note = None
    if currency is None:
        currency = str(found.index[0])
        if len(found) > 1:
            others = ", ".join(sorted(set(found.index) - {currency}))
            note = (
                f"Showing {currency}; these accounts also hold {others}, never added to it. "
                "Set currency in the parameters cell to see another."
            )
    tx = tx[tx["currency"].astype(str) == currency].reset_index(drop=True)
    acc = acc[acc["currency"].astype(str) == currency].reset_index(drop=True)
    plan = plan[plan["currency"] == currency].reset_index(drop=True)
    missing = None if not tx.empty else f"No transactions in {currency}. " + NO_DATA
    tx, acc = _handed(BANK_TRANSACTIONS, tx), _handed(BANK_ACCOUNTS, acc)
    return Book(tx, acc, tree, plan, currency, missing, note)
