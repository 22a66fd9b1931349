"""The user's edits are laid over the source's values, and no sync ever overwrites them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import cozy_kernel as cozy
from cozy_kernel.errors import BadInput, NotFound, UsageError
from tests.conftest import UNTIL, run_cozy


def transaction(tid: str):
    return cozy.frame("bank.transactions").set_index("id").loc[tid]


def test_an_edit_survives_every_later_sync_until_reverted(demo: Path) -> None:
    tid = cozy.frame("bank.transactions").query("category == 'groceries'")["id"].iloc[0]

    edited = run_cozy(demo, "edit", "bank.transactions", tid, "--set", "category=food:market",
                      "--set", "label=Saturday market", "--set", "notes=for the party")  # fmt: skip
    assert edited.code == 0, edited.err
    assert transaction(tid)["category"] == "food:market"

    cozy.sync("demo-bank", full=True)
    cozy.connect("demo-bank", until="2026-07-10")
    cozy.sync("demo-bank")

    row = transaction(tid)
    assert (row["category"], row["label"]) == ("food:market", "Saturday market")
    assert row["notes"] == "for the party"
    assert run_cozy(demo, "edit", "bank.transactions", tid, "--revert", "label").code == 0
    assert transaction(tid)["label"] != "Saturday market"
    assert transaction(tid)["category"] == "food:market"
    cozy.revert("bank.transactions", tid)
    assert transaction(tid)["category"] == "groceries"


def test_an_edited_pending_row_keeps_the_edit_once_booked(home: Path) -> None:
    cozy.connect("demo-bank", grant=True, until="2026-06-28")
    cozy.sync("demo-bank")
    tid = cozy.frame("bank.transactions").query("pending")["id"].iloc[0]
    cozy.edit("bank.transactions", tid, category="travel")

    cozy.connect("demo-bank", until=UNTIL)
    cozy.sync("demo-bank")

    row = transaction(tid)
    assert not row["pending"] and row["category"] == "travel"


def test_edits_are_checked_like_the_data(demo: Path) -> None:
    tid = cozy.frame("bank.transactions")["id"].iloc[0]

    with pytest.raises(NotFound, match="did you mean 'category'"):
        cozy.edit("bank.transactions", tid, categroy="x")
    with pytest.raises(UsageError, match="the key 'id' cannot be edited"):
        cozy.edit("bank.transactions", tid, id="other")
    with pytest.raises(BadInput, match="field 'amount': expected a Decimal amount, got float"):
        cozy.edit("bank.transactions", tid, amount=1.5)
    with pytest.raises(NotFound, match=r"unknown bank\.transactions id 'nope'"):
        cozy.edit("bank.transactions", "nope", category="x")
    bad = run_cozy(demo, "edit", "bank.transactions", tid, "--set", "amount=abc")
    assert bad.code == 4 and "'abc' is not a money" in bad.err
    money = run_cozy(demo, "edit", "bank.transactions", tid, "--set", "amount=-12.30")
    assert money.code == 0
    assert str(transaction(tid)["amount"]) == "-12.30"


def test_erasing_a_connector_drops_the_edits_of_its_rows(demo: Path) -> None:
    tid = cozy.frame("bank.transactions")["id"].iloc[0]
    cozy.edit("bank.transactions", tid, category="mine")

    cozy.disconnect("demo-bank", erase=True)

    with sqlite3.connect(demo / "cozy.db") as db:
        assert db.execute("SELECT count(*) FROM edits").fetchone()[0] == 0
