"""Transactions for other software: a Beancount ledger that bean-check accepts, and OFX."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

import cozy_kernel as cozy
from tests.conftest import UNTIL, run_cozy

TRICKY = 'Caf\u00e9 "Le Z\u00e8bre" \\ back\nslash'


@pytest.fixture
def ledger(home: Path) -> Path:
    cozy.connect("demo-bank", grant=True, until=UNTIL, months=2)
    cozy.sync("demo-bank")
    tx = cozy.frame("bank.transactions")
    cozy.edit("bank.transactions", tx["id"].iloc[0], label=TRICKY, category="food:caf\u00e9 & co")
    cozy.edit("bank.transactions", tx["id"].iloc[1], pending=True)
    return home


def test_beancount_output_passes_bean_check_with_exact_balanced_postings(
    ledger: Path, tmp_path: Path
) -> None:
    from beancount import loader
    from beancount.core import data

    out = tmp_path / "ledger.beancount"
    result = run_cozy(ledger, "frame", "bank.transactions", "--format", "beancount", "--out",
                      str(out))  # fmt: skip

    assert result.code == 0, result.err
    check = subprocess.run(
        [str(Path(sys.executable).parent / "bean-check"), str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    entries, errors, _ = loader.load_file(str(out))
    assert errors == []
    frame = cozy.frame("bank.transactions")
    txns = [e for e in entries if isinstance(e, data.Transaction)]
    assert len(txns) == len(frame)
    held: Counter[str] = Counter()
    for txn in txns:
        assert sum(p.units.number for p in txn.postings) == 0  # balanced
        bank = txn.postings[0]
        held[bank.account] += bank.units.number
    for account, amounts in frame.groupby("account_id", observed=True)["amount"]:
        name = f"Assets:Bank:{account[0].upper()}{account[1:]}"
        assert held[name] == sum(amounts, Decimal(0))  # exact, to the cent
    first = next(t for t in txns if t.meta["id"] == frame["id"].iloc[0])
    assert first.narration == " ".join(TRICKY.split())
    assert first.postings[1].account.startswith(("Expenses:Food:Cafe", "Income:Food:Cafe"))
    assert any(t.flag == "!" for t in txns)


def test_ofx_output_reads_back_with_ofxtools_and_imports_into_cozy(
    ledger: Path, tmp_path: Path
) -> None:
    from ofxtools.Parser import OFXTree

    out = tmp_path / "statement.ofx"
    assert run_cozy(ledger, "frame", "bank.transactions", "--format", "ofx", "--out",
                    str(out)).code == 0  # fmt: skip
    frame = cozy.frame("bank.transactions", home=ledger)

    tree = OFXTree()
    tree.parse(str(out))
    statements = tree.convert().statements
    parsed = [(t.fitid, t.trnamt) for s in statements for t in s.transactions]
    assert sorted(parsed) == sorted(zip(frame["id"], frame["amount"], strict=True))
    balances = {s.account.acctid: s.balance.balamt for s in statements}
    accounts = cozy.frame("bank.accounts", home=ledger).set_index("id")
    assert balances == {a: accounts.loc[a, "balance"] for a in balances}

    # And Cozy's own OFX importer takes it back, amounts and dates exact
    receiver = tmp_path / "receiver"
    run_cozy(receiver, "terms", "accept", "--yes")
    imported = run_cozy(receiver, "import", str(out), "--yes")
    assert imported.code == 0, imported.err
    back = cozy.frame("bank.transactions", home=receiver)
    assert Counter(zip(back["date"], back["amount"], strict=True)) == Counter(
        zip(frame["date"], frame["amount"], strict=True)
    )


def test_other_collections_are_not_bank_statements(ledger: Path) -> None:
    result = run_cozy(ledger, "frame", "bank.accounts", "--format", "beancount")
    assert result.code == 2 and "format beancount needs bank.transactions" in result.err
