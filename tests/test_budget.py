"""Budgeting on a real store: the user's tree, corrections, rules, proposals, the model, CLI."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import cozy_kernel as cozy
from cozy_kernel import budget
from cozy_kernel.budget import tree as budget_tree
from cozy_kernel.errors import BadInput, NotFound, UsageError
from tests.conftest import run_cozy

FIXTURES = Path(__file__).parent / "fixtures"


def sql(home: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "cozy.db") as db:
        return db.execute(query, args).fetchall()


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A ``bank.transactions``-shaped frame from a few rows, categorised on the default tree."""
    base = {"account_id": "a", "currency": "EUR", "counterparty": None, "category": None,
            "pending": False, "label": "X"}  # fmt: skip
    data = pd.DataFrame(
        [{"id": f"t{i:03d}", **base, **row} for i, row in enumerate(rows)],
        columns=["id", "account_id", "date", "amount", "currency", "label", "counterparty",
                 "category", "pending"],
    )  # fmt: skip
    data["date"] = pd.to_datetime(data["date"])
    return budget.categorise(data, budget_tree.frame(budget_tree.DEFAULT_TREE))


def rows_of(tx: pd.DataFrame, **where: str) -> pd.DataFrame:
    mask = pd.Series(True, index=tx.index)
    for column, value in where.items():
        mask &= tx[column].astype(str) == value
    return tx[mask]


def test_the_default_tree_is_seeded_on_first_use_in_three_languages(demo: Path) -> None:
    assert sql(demo, "SELECT count(*) FROM budget_categories") == [(0,)]

    english = budget.categories()
    spanish = budget.categories("es")

    assert len(english) == len(budget_tree.DEFAULT_TREE)
    bakery = english.set_index("id").loc["food:bakery"]
    assert (bakery["name"], bakery["path"], bakery["top"]) == (
        "Bakery",
        "Eating out / Bakery",
        "food",
    )
    assert spanish.set_index("id").loc["food:bakery", "name"] == "Panadería"
    assert budget.categories("fr").set_index("id").loc["groceries", "name"] == "Courses"
    # Every demo category lands on the tree: as is, or mapped (utilities -> bills).
    tx = budget.transactions()
    assert not (tx["category"] == "uncategorised").any()
    assert set(rows_of(tx, bank_category="utilities:energy")["category"]) == {"bills:energy"}
    assert set(rows_of(tx, bank_category="transfer:savings")["category"]) == {"transfers:savings"}
    assert set(tx["category_source"]) == {"bank"}


def test_a_users_tree_add_rename_move_merge(demo: Path) -> None:
    added = run_cozy(demo, "categories", "add", "food:market", "--name", "Marché", "--lang", "fr")
    assert added.code == 0, added.err
    assert "added food:market under food" in added.out
    assert run_cozy(demo, "categories", "rename", "groceries", "Supermarket").code == 0
    assert run_cozy(demo, "categories", "move", "cash", "--parent", "shopping").code == 0

    tree = budget.categories().set_index("id")
    assert tree.loc["food:market", "parent"] == "food"
    assert tree.loc["food:market", "name"] == "Marché"  # one name given: used in every language
    assert tree.loc["cash", "path"] == "Shopping / Cash"
    listing = run_cozy(demo, "categories", "list").out
    assert "\nSupermarket  [groceries]\n" in listing and "\n  Cash  [cash]\n" in listing
    tx = budget.transactions()
    assert set(rows_of(tx, category="groceries")["category_name"]) == {"Supermarket"}
    assert set(rows_of(tx, category="cash")["category_top"]) == {"shopping"}

    # Merging folds the café into restaurants: its rows, rules and budgets follow.
    budget.set_budget("food:cafe", "40")
    budget.set_budget("food:restaurant", "100")
    rule = budget.add_rule("food:cafe", contains="STARBUCKS")
    cafes = set(rows_of(tx, category="food:cafe")["id"])
    merged = run_cozy(demo, "categories", "merge", "food:cafe", "food:restaurant")
    assert merged.code == 0, merged.err
    assert "1 rules, 1 budgets moved" in merged.out

    after = budget.transactions().set_index("id")
    assert set(after.loc[sorted(cafes), "category"]) == {"food:restaurant"}
    assert "food:cafe" not in set(budget.categories()["id"])
    assert budget.rules().set_index("id").loc[rule, "category"] == "food:restaurant"
    plans = budget.budgets()
    assert list(plans["category"]) == ["food:restaurant"]
    assert plans["amount"].iloc[0] == Decimal("140.00")  # the two budgets add up
    # Creating the merged id again makes it a category of its own again (the rule moved).
    budget.add_category("food:cafe", name="Coffee")
    again = budget.transactions().set_index("id").loc[sorted(cafes)]
    assert set(again[again["category_source"] == "bank"]["category"]) == {"food:cafe"}
    assert set(again[again["category_source"] == "rule"]["category"]) == {"food:restaurant"}


def test_tree_changes_are_checked(demo: Path) -> None:
    with pytest.raises(BadInput, match="under itself or its own child"):
        budget.move_category("food", "food:bakery")
    with pytest.raises(BadInput, match="into its own child"):
        budget.merge_categories("food", "food:bakery")
    with pytest.raises(UsageError, match="already exists"):
        budget.add_category("groceries")
    with pytest.raises(NotFound, match="did you mean 'groceries'"):
        budget.rename_category("grocerie", "x")
    with pytest.raises(BadInput, match="lower case words"):
        budget.add_category("Food Market")
    bad = run_cozy(demo, "categories", "merge", "uncategorised", "food")
    assert bad.code == 4 and bad.err.startswith("cozy: 'uncategorised' cannot be merged away")
    assert len(bad.err.strip().splitlines()) == 1


def test_manual_beats_rules_beats_model_beats_bank(demo: Path) -> None:
    tx = budget.transactions()
    paul = rows_of(tx, counterparty="BOULANGERIE PAUL").sort_values("date")
    corrected = paul["id"].iloc[-1]
    cozy.edit("bank.transactions", corrected, category="groceries")
    rule = budget.add_rule("food:restaurant", counterparty="boulangerie paul")

    after = budget.transactions().set_index("id")

    mine = after.loc[corrected]
    assert (mine["category"], mine["category_source"]) == ("groceries", "manual")
    assert (mine["bank_category"], mine["category_confidence"]) == ("food:bakery", 1.0)
    others = after.loc[paul["id"].iloc[:-1]]
    assert set(others["category"]) == {"food:restaurant"}
    assert set(others["category_source"]) == {"rule"} and set(others["rule_id"]) == {rule}
    untouched = after[~after.index.isin(paul["id"])]
    assert set(untouched["category_source"]) == {"bank"}
    assert untouched["category_confidence"].between(0.9, 1.0).all()
    # Reverting the correction hands the row back to the rule.
    cozy.revert("bank.transactions", corrected)
    assert budget.transactions().set_index("id").loc[corrected, "category_source"] == "rule"


def test_rules_conditions_and_priorities(demo: Path) -> None:
    tx = budget.transactions()
    cinema = budget.add_rule("leisure", regex=r"^CB CINEMA\b")
    big = budget.add_rule("home", min_amount="-10000", max_amount="-200", priority=5)
    amazon = budget.add_rule("shopping", contains="amazon", account="demo-checking")
    budget.add_rule("cash", contains="amazon", account="demo-savings")  # matches nothing

    after = budget.transactions().set_index("id")
    by_rule = after.groupby("rule_id")["category"].agg(lambda c: set(c.astype(str)))

    amounts = tx.set_index("id")["amount"]
    expected_big = set(amounts[(amounts >= Decimal("-10000")) & (amounts <= Decimal("-200"))].index)
    assert set(after[after["rule_id"] == big].index) == expected_big  # priority 5 tried first
    label_amazon = tx["label"].str.contains("AMAZON") | tx["counterparty"].str.contains("AMAZON")
    amazon_ids = set(tx[label_amazon.fillna(False)]["id"]) - expected_big
    assert set(after[after["rule_id"] == amazon].index) == amazon_ids
    cinema_ids = set(tx[tx["label"].str.startswith("CB CINEMA")]["id"]) - expected_big
    assert set(after[after["rule_id"] == cinema].index) == cinema_ids
    assert by_rule[big] == {"home"} and by_rule[cinema] == {"leisure"}
    table = budget.rules()
    assert list(table["id"]) == [big, 4, amazon, cinema]  # priority, then newest first
    with pytest.raises(BadInput, match="at least one condition"):
        budget.add_rule("home")
    with pytest.raises(BadInput, match="regex '\\(': missing"):
        budget.add_rule("home", regex="(")
    listed = json.loads(run_cozy(demo, "rules", "list", "--json").out)
    assert listed[0]["min_amount"] == "-10000.00" and listed[0]["priority"] == 5
    assert run_cozy(demo, "rules", "remove", str(big)).code == 0
    missing = run_cozy(demo, "rules", "remove", str(big))
    assert missing.code == 2 and "unknown rule" in missing.err


def test_corrections_propose_a_rule_that_applies_once_accepted(demo: Path) -> None:
    # Given the user moved most of a café's recent payments to restaurants
    tx = budget.transactions()
    cafe = rows_of(tx, counterparty="LE PETIT CAFE").sort_values("date")
    for tid in cafe["id"].iloc[-6:]:
        cozy.edit("bank.transactions", tid, category="food:restaurant")
    cozy.edit("bank.transactions", cafe["id"].iloc[0], category="groceries")  # a one-off

    # When rules are proposed
    proposed = run_cozy(demo, "rules", "propose")

    # Then exactly one rule is proposed, and it changes nothing until accepted
    assert proposed.code == 0, proposed.err
    assert "counterparty=LE PETIT CAFE -> food:restaurant" in proposed.out
    (rule,) = budget.rules().to_dict("records")
    assert (rule["state"], rule["origin"]) == ("proposed", "proposed from 6 corrections")
    older = cafe["id"].iloc[1:-6]
    assert set(budget.transactions().set_index("id").loc[older, "category"]) == {"food:cafe"}
    assert run_cozy(demo, "rules", "propose").out.strip() == "no new rule to propose"

    assert run_cozy(demo, "rules", "accept", str(rule["id"])).code == 0
    after = budget.transactions().set_index("id")
    assert set(after.loc[older, "category"]) == {"food:restaurant"}
    assert set(after.loc[older, "category_source"]) == {"rule"}
    assert after.loc[cafe["id"].iloc[0], "category"] == "groceries"  # manual still wins


def test_statements_without_categories_learn_from_the_users_corrections(home: Path) -> None:
    statement = FIXTURES / "budget" / "checking_eur.ofx"
    cozy.import_files([statement], grant=True)
    tx = budget.transactions()
    assert set(tx["category_source"]) == {"none"}  # OFX carries no category
    assert set(tx["category"]) == {"uncategorised"}

    # The user corrects two payments of a few payees; the model generalises to the rest.
    taught = {"MONOPRIX": "groceries", "NETFLIX": "subscriptions:video", "FONCIA": "housing:rent",
              "ACME": "income:salary", "RATP": "transport:public"}  # fmt: skip
    for word, category in taught.items():
        for tid in tx[tx["label"].str.contains(word)]["id"].iloc[:2]:
            cozy.edit("bank.transactions", tid, category=category)
    after = budget.transactions()

    for word, category in taught.items():
        rows = after[after["label"].str.contains(word)]
        learned = rows[rows["category_source"] == "model"]
        assert len(learned) == len(rows) - 2, word
        assert set(learned["category"]) == {category}, word
        assert learned["category_confidence"].between(0.4, 1.0).all()
    model_files = list((home / "cache" / "budget").glob("model-*.joblib"))
    assert len(model_files) == 1
    stamp = model_files[0].stat().st_mtime_ns
    budget.transactions()  # same training data: the cached model is reused
    assert model_files[0].stat().st_mtime_ns == stamp
    assert set(budget.transactions(learn=False)["category_source"]) == {"manual", "none"}


def test_budgets_through_the_cli(demo: Path) -> None:
    assert run_cozy(demo, "budget", "set", "groceries", "450", "--envelope").code == 0
    assert run_cozy(demo, "budget", "set", "food", "150.50", "--month", "2026-06").code == 0
    bad = run_cozy(demo, "budget", "set", "food", "12.345")
    assert bad.code == 4 and "more than 2 decimal places" in bad.err
    assert run_cozy(demo, "budget", "set", "food", "10", "--month", "2026-13").code == 4
    for month in ("2026-13", "2026-5", "may"):  # refused by the core, not answered wrongly
        shown_bad = run_cozy(demo, "budget", "show", "--month", month)
        assert shown_bad.code == 4 and f"month {month!r} is not YYYY-MM" in shown_bad.err

    shown = json.loads(run_cozy(demo, "budget", "show", "--month", "2026-06", "--json").out)
    text = run_cozy(demo, "budget", "show", "--month", "2026-06").out

    by_category = {row["category"]: row for row in shown}
    spent = sql(
        demo, 'SELECT -sum(amount) FROM "bank.transactions" WHERE date LIKE \'2026-06-%\' '
        "AND category = 'groceries'",
    )[0][0]  # fmt: skip
    assert Decimal(by_category["groceries"]["actual"]) == Decimal(spent).scaleb(-2)
    assert Decimal(by_category["food"]["budget"]) == Decimal("150.50")
    assert "Groceries" in text and "Eating out" in text
    plans = budget.budgets().set_index("category")
    assert plans.loc["groceries", "month"] == "" and bool(plans.loc["groceries", "envelope"])
    assert budget.remove_budget("food", month="2026-06") == 1


def test_everything_lands_in_the_store_in_one_transaction_and_stays_after_a_sync(
    demo: Path,
) -> None:
    budget.add_category("food:market")
    budget.add_rule("food:market", contains="MARCHE")
    budget.set_budget("food:market", "80", currency="GBP")
    cozy.sync("demo-bank", full=True)

    assert sql(demo, "SELECT category, currency, amount FROM budget_amounts") == [
        ("food:market", "GBP", 8000)
    ]
    assert sql(demo, "SELECT category, contains, state FROM budget_rules") == [
        ("food:market", "MARCHE", "active")
    ]
    with pytest.raises(BadInput, match="ISO 4217"):
        budget.set_budget("food:market", "80", currency="euro")


def test_since_until_accounts_select_after_categorising(demo: Path) -> None:
    june = budget.transactions(since="2026-06-01", until=dt.date(2026, 6, 30))
    savings = budget.transactions(accounts=["demo-savings"])

    assert june["date"].min() >= pd.Timestamp("2026-06-01")
    assert june["date"].max() == pd.Timestamp("2026-06-30")
    assert set(savings["account_id"].astype(str)) == {"demo-savings"}
    # A transfer keeps its pair even when the other account is not selected.
    assert savings[savings["category"] == "transfers:savings"]["transfer_pair"].notna().all()
    with pytest.raises(BadInput, match="not a date"):
        budget.transactions(since="June")


def test_erasing_a_connector_drops_the_model_learned_from_its_rows(demo: Path) -> None:
    budget.transactions(home=demo)
    models = demo / "cache" / "budget"
    assert any(models.iterdir())

    cozy.disconnect("demo-bank", erase=True, home=demo)

    assert not models.exists()
