"""The demo bank: realistic, deterministic, consistent, and scalable to a million rows."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

import cozy_kernel as cozy
from cozy_connectors.demo_bank import CHECKING, SAVINGS, DemoBank, opening_balance
from cozy_kernel.connections import resolve
from cozy_kernel.connector import Record
from tests.conftest import UNTIL, accept_terms


def rows(home: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(home / "cozy.db") as db:
        return db.execute(sql).fetchall()


def test_history_covers_two_accounts_and_24_months_ending_on_the_last_day(demo: Path) -> None:
    tx = cozy.frame("bank.transactions")
    accounts = cozy.frame("bank.accounts")

    assert set(accounts["type"]) >= {"checking", "savings"}
    assert set(tx["account_id"]) == {CHECKING, SAVINGS}
    assert tx["date"].max() == dt.datetime.fromisoformat(UNTIL)
    months = tx["date"].dt.to_period("M").nunique()
    assert months >= 24
    assert tx["id"].is_unique
    assert len(tx) > 1000


def test_history_has_what_a_real_household_account_has(demo: Path) -> None:
    tx = cozy.frame("bank.transactions")
    per_month = tx.groupby(tx["date"].dt.to_period("M"))
    full_months = list(per_month.groups)[1:-1]

    def monthly(category: str) -> set:
        return set(tx.loc[tx["category"] == category, "date"].dt.to_period("M"))

    # Salary and rent every month; subscriptions monthly and yearly.
    assert set(full_months) <= monthly("income:salary")
    assert set(full_months) <= monthly("housing:rent")
    assert set(full_months) <= monthly("subscriptions:video")
    yearly = tx[tx["category"] == "insurance:home"]
    assert 2 <= len(yearly) <= 3
    assert (yearly["date"].dt.month == 1).all()
    assert len(tx[tx["category"] == "utilities:energy"]) >= 24
    # Transfers between the two accounts balance out exactly.
    transfers = tx[tx["category"] == "transfer:savings"]
    assert set(transfers["account_id"]) == {CHECKING, SAVINGS}
    assert transfers["amount"].sum() == Decimal("0.00")
    # Refunds are money in from merchants; cash withdrawals exist.
    refunds = tx[tx["category"] == "refund"]
    assert len(refunds) >= 5 and (refunds["amount"] > 0).all()
    assert (tx["method"] == "atm").any()
    # Card labels in French, Spanish and English bank wording.
    labels = tx.loc[tx["method"] == "card", "label"]
    assert labels.str.startswith("CB ").any()
    assert labels.str.startswith("COMPRA TARJ.").any()
    assert labels.str.startswith("CARD PAYMENT TO").any()
    # A few pending card payments, all within the last days.
    pending = tx[tx["pending"]]
    assert 1 <= len(pending) <= 30
    assert (pending["date"] > dt.datetime.fromisoformat(UNTIL) - dt.timedelta(days=3)).all()
    assert (pending["method"] == "card").all()


def test_balances_equal_opening_plus_booked_transactions_to_the_cent(demo: Path) -> None:
    tx = cozy.frame("bank.transactions")
    accounts = cozy.frame("bank.accounts").set_index("id")
    booked = tx[~tx["pending"]]

    for account in (CHECKING, SAVINGS):
        total = booked.loc[booked["account_id"] == account, "amount"].sum()
        assert isinstance(total, Decimal)
        assert accounts.loc[account, "balance"] == opening_balance(account) + total
    # The same figure from the store's exact integer cents, without pandas in between.
    (cents,) = rows(demo, 'SELECT sum(amount) FROM "bank.transactions" WHERE NOT pending')[0]
    assert Decimal(cents).scaleb(-2) == booked["amount"].sum()


def test_every_amount_is_exact_to_the_cent(demo: Path) -> None:
    tx = cozy.frame("bank.transactions")
    stored = dict(rows(demo, 'SELECT id, amount FROM "bank.transactions"'))

    for tid, amount in zip(tx["id"], tx["amount"], strict=True):
        assert amount == Decimal(stored[tid]).scaleb(-2)
        assert amount.as_tuple().exponent == -2


def test_syncing_again_or_in_full_adds_nothing(demo: Path) -> None:
    before = rows(demo, 'SELECT * FROM "bank.transactions" ORDER BY id')

    again = cozy.sync("demo-bank")
    full = cozy.sync("demo-bank", full=True)

    assert (again.added, again.updated, again.rejected) == (0, 0, [])
    assert (full.added, full.updated, full.rejected) == (0, 0, [])
    assert full.unchanged == len(before) + 2  # every transaction plus the two accounts
    assert rows(demo, 'SELECT * FROM "bank.transactions" ORDER BY id') == before


def test_a_later_sync_books_pending_rows_under_the_same_id(home: Path) -> None:
    cozy.connect("demo-bank", grant=True, until="2026-06-28")
    cozy.sync("demo-bank")
    pending = set(cozy.frame("bank.transactions").query("pending")["id"])
    assert pending

    cozy.connect("demo-bank", grant=True, until="2026-07-05")
    report = cozy.sync("demo-bank")

    tx = cozy.frame("bank.transactions").set_index("id")
    assert report.added > 0
    assert report.updated >= len(pending)
    assert not tx.loc[sorted(pending), "pending"].any()
    assert tx.index.is_unique


def test_same_seed_same_history_other_seed_other_history(tmp_path: Path) -> None:
    def history(name: str, seed: int) -> list:
        home = tmp_path / name
        accept_terms(home)
        cozy.connect("demo-bank", grant=True, home=home, until=UNTIL, seed=seed)
        cozy.sync("demo-bank", home=home)
        return rows(home, 'SELECT id, date, amount, label FROM "bank.transactions" ORDER BY id')

    assert history("a", 7) == history("b", 7)
    assert history("a", 7) != history("c", 8)


def test_transactions_setting_scales_to_exactly_n_rows() -> None:
    settings = {"seed": "1", "transactions": "5000", "until": UNTIL}
    bank = DemoBank(resolve(DemoBank.manifest, settings))
    records = [i for i in bank.fetch(None) if isinstance(i, Record)]
    txns = [r for r in records if r.collection == "bank.transactions"]

    assert len(txns) == 5000
    assert len({r.data["id"] for r in txns}) == 5000


def test_too_few_transactions_is_a_clear_error(home: Path) -> None:
    from cozy_kernel.errors import BadInput

    cozy.connect("demo-bank", grant=True, until=UNTIL, transactions=10)
    with pytest.raises(BadInput, match="'transactions': 10 is fewer than"):
        cozy.sync("demo-bank")
    assert cozy.collections() == []


@pytest.mark.slow
def test_one_million_transactions_sync_and_load(home: Path) -> None:
    cozy.connect("demo-bank", grant=True, until=UNTIL, transactions=1_000_000)
    report = cozy.sync("demo-bank")
    tx = cozy.frame("bank.transactions", columns=["id", "amount"])

    assert report.added == 1_000_002
    assert len(tx) == 1_000_000
    assert tx["id"].is_unique
