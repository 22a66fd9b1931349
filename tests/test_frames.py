"""Frames: real dtypes, exact money, inclusive date bounds, snapshots rebuilt only on change."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import cozy_kernel as cozy
from cozy_kernel.errors import NotFound, UsageError
from tests.conftest import UNTIL, accept_terms, write_connector


def sqlite_rows(home: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(home / "cozy.db") as db:
        return db.execute(sql).fetchall()


def snapshot(home: Path, name: str = "bank.transactions") -> Path:
    return home / "cache" / "frames" / f"{name}.parquet"


def test_frame_has_real_dtypes(demo: Path) -> None:
    tx = cozy.frame("bank.transactions")

    assert pd.api.types.is_datetime64_dtype(tx["date"])
    assert pd.api.types.is_datetime64_dtype(tx["value_date"])
    assert tx["amount"].map(type).eq(Decimal).all()
    assert pd.api.types.is_string_dtype(tx["label"])
    assert isinstance(tx["account_id"].dtype, pd.CategoricalDtype)
    assert isinstance(tx["category"].dtype, pd.CategoricalDtype)
    assert tx["pending"].dtype == bool
    assert list(tx.columns[-2:]) == ["connector", "run_id"]
    assert tx["date"].is_monotonic_increasing


def test_money_stays_exact_through_sums_groupbys_and_arithmetic(demo: Path) -> None:
    tx = cozy.frame("bank.transactions")
    cents = dict(sqlite_rows(demo, 'SELECT id, amount FROM "bank.transactions"'))
    exact_total = Decimal(sum(cents.values())).scaleb(-2)

    by_category = tx.groupby("category", observed=True)["amount"].sum()
    monthly = (
        tx.assign(month=tx["date"].dt.to_period("M"), inflow=tx["amount"] > 0)
        .groupby(["month", "inflow"])["amount"]
        .sum()
        .unstack(fill_value=Decimal(0))
    )
    net = monthly[True] + monthly[False]  # adding two sums: income + spending
    running = tx["amount"].cumsum()

    assert tx["amount"].sum() == exact_total
    assert all(isinstance(v, Decimal) for v in by_category)
    assert sum(by_category, Decimal(0)) == exact_total
    assert net.sum() == exact_total
    assert running.iloc[-1] == exact_total
    assert (tx["amount"] * 2 - tx["amount"]).equals(tx["amount"])


def test_since_and_until_are_inclusive_calendar_dates(demo: Path) -> None:
    june = cozy.frame("bank.transactions", since="2026-06-01", until=dt.date(2026, 6, 30))

    assert june["date"].min() == pd.Timestamp("2026-06-01")
    assert june["date"].max() == pd.Timestamp("2026-06-30")
    everything = cozy.frame("bank.transactions")
    in_june = everything[(everything["date"] >= "2026-06-01") & (everything["date"] <= UNTIL)]
    assert len(june) == len(in_june)


def test_columns_select_and_unknown_names_say_did_you_mean(demo: Path) -> None:
    tx = cozy.frame("bank.transactions", columns=["date", "amount"])

    assert list(tx.columns) == ["date", "amount"]
    with pytest.raises(NotFound, match="did you mean 'amount'"):
        cozy.frame("bank.transactions", columns=["amout"])
    with pytest.raises(NotFound, match=r"did you mean 'bank\.transactions'"):
        cozy.frame("bank.transaction")
    with pytest.raises(UsageError, match="since='last week' is not a date"):
        cozy.frame("bank.transactions", since="last week")


def test_builtin_collection_is_an_empty_typed_frame_before_any_sync(home: Path) -> None:
    tx = cozy.frame("bank.transactions")

    assert len(tx) == 0
    assert list(tx.columns[:5]) == ["id", "account_id", "date", "value_date", "amount"]
    assert pd.api.types.is_datetime64_dtype(tx["date"])


def test_snapshot_is_reused_until_the_collection_changes(home: Path) -> None:
    cozy.connect("demo-bank", grant=True, until="2026-06-20")
    cozy.sync("demo-bank")
    cozy.frame("bank.transactions")
    first = snapshot(home).stat()

    cozy.frame("bank.transactions")
    cozy.sync("demo-bank")  # nothing new: the snapshot stays
    cozy.frame("bank.transactions")
    assert snapshot(home).stat().st_mtime_ns == first.st_mtime_ns
    assert snapshot(home).stat().st_ino == first.st_ino

    cozy.connect("demo-bank", grant=True, until=UNTIL)
    cozy.sync("demo-bank")
    tx = cozy.frame("bank.transactions")
    assert snapshot(home).stat().st_ino != first.st_ino
    assert tx["date"].max() == pd.Timestamp(UNTIL)


def test_a_fresh_process_loads_the_same_frame_from_the_snapshot(demo: Path) -> None:
    here = cozy.frame("bank.transactions")
    code = (
        "import cozy_kernel as cozy, sys; "
        "tx = cozy.frame('bank.transactions'); "
        "print(len(tx), tx['amount'].sum(), tx['id'].iloc[-1])"
    )

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()

    assert out == [str(len(here)), str(here["amount"].sum()), here["id"].iloc[-1]]


def test_a_stale_or_foreign_snapshot_is_never_served(demo: Path) -> None:
    # Given a snapshot left by another store (say, a restored backup) under the same name
    other = demo.parent / "other"
    accept_terms(other)
    cozy.connect("demo-bank", grant=True, home=other, until="2025-01-31", months=1)
    cozy.sync("demo-bank", home=other)
    cozy.frame("bank.transactions", home=other)
    snapshot(other).replace(snapshot(demo))

    # When the frame loads, it is rebuilt from this store
    tx = cozy.frame("bank.transactions")

    assert tx["date"].max() == pd.Timestamp(UNTIL)


USER_CONNECTOR = """
import datetime as dt
import sqlite3
from cozy_kernel.connector import Connector, Manifest, Record
from cozy_kernel.schemas import Collection, Field

STEPS = Collection(
    name="health.steps",
    fields=(Field("id", "text"), Field("day", "date"), Field("steps", "int"),
            Field("device", "category", nullable=True)),
    order_by=("day", "id"),
)

class Steps(Connector):
    manifest = Manifest(id="steps", name="Steps", version="1", kind="file",
                        writes=("health.steps",), declares=(STEPS,),
                        description={"en": "Daily steps"})

    def fetch(self, since):
        for i in range(10):
            day = dt.date(2026, 1, 1) + dt.timedelta(days=i)
            yield Record("health.steps", {"id": f"s{i}", "day": day, "steps": 1000 * i,
                                          "device": None if i % 2 else "watch"})

connector = Steps
"""


def test_a_connector_may_declare_its_own_collection(home: Path) -> None:
    write_connector(home, "steps", USER_CONNECTOR)
    cozy.connect("steps", grant=True)
    cozy.sync("steps")

    steps = cozy.frame("health.steps", since="2026-01-05")

    assert list(steps["steps"]) == [4000, 5000, 6000, 7000, 8000, 9000]
    assert pd.api.types.is_integer_dtype(steps["steps"])
    assert pd.api.types.is_datetime64_dtype(steps["day"])
    assert "health.steps" in {c["name"] for c in cozy.collections()}
    # The store keeps the schema, so the frame loads even without the connector installed.
    (home / "connectors" / "steps.py").unlink()
    assert len(cozy.frame("health.steps")) == 10


def test_a_column_empty_in_every_row_keeps_its_declared_type(home: Path) -> None:
    write_connector(
        home,
        "bare",
        "from cozy_kernel.connector import Connector, Manifest, Record\n"
        "class Bare(Connector):\n"
        "    manifest = Manifest(id='bare', name='Bare', version='1', kind='file',\n"
        "        writes=('bank.accounts',), description={'en': 'x'})\n"
        "    def fetch(self, since):\n"
        "        yield Record('bank.accounts', {'id': 'b1', 'name': 'B', 'currency': 'EUR'})\n"
        "connector = Bare\n",
    )
    cozy.connect("bare", grant=True)
    cozy.sync("bare")

    accounts = cozy.frame("bank.accounts")

    assert accounts["balance_date"].isna().all()
    assert pd.api.types.is_datetime64_dtype(accounts["balance_date"])
    assert accounts["balance"].isna().all()


def test_safe_csv_keeps_formula_like_texts_as_text_and_numbers_as_numbers(
    home: Path, tmp_path: Path
) -> None:
    import csv as csvlib

    from tests.conftest import run_cozy

    statement = tmp_path / "formulas.csv"
    statement.write_text(
        "Date;Libellé;Montant;Devise\n"
        '03/06/2024;=HYPERLINK("http://evil.example","x");-3,50;EUR\n'
        "14/06/2024;+33 6 12 34 56 78;-800,00;EUR\n"
        "15/06/2024;@SUM(A1);12,00;EUR\n15/06/2024;CAFE;-2,00;EUR\n"
    )
    assert run_cozy(home, "import", str(statement), "--account", "A", "--yes").code == 0
    plain, safe = tmp_path / "plain.csv", tmp_path / "safe.csv"

    assert run_cozy(home, "frame", "bank.transactions", "--out", str(plain)).code == 0
    done = run_cozy(home, "frame", "bank.transactions", "--safe-csv", "--out", str(safe))

    assert done.code == 0, done.err
    lossless = {r["label"]: r for r in csvlib.DictReader(plain.open())}
    rows = {r["label"]: r for r in csvlib.DictReader(safe.open())}
    assert set(lossless) == {'=HYPERLINK("http://evil.example","x")', "+33 6 12 34 56 78",
                             "@SUM(A1)", "CAFE"}  # fmt: skip
    assert set(rows) == {"'" + k if k != "CAFE" else k for k in lossless}
    assert rows["CAFE"]["amount"] == "-2.00"  # a negative amount is no formula
