"""The store: WAL, versioned schema, upsert by key with honest counts, all-or-nothing writes."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from cozy_kernel.errors import IntegrityError
from cozy_kernel.schemas import BANK_ACCOUNTS, Field
from cozy_kernel.store import MIGRATIONS, PAGE_SIZE, Store
from cozy_kernel.workspace import Workspace


@pytest.fixture
def store(home: Path) -> Store:
    ws = Workspace.open(home)
    s = Store(ws.db_path)
    with s.transaction():
        s.ensure_collection(BANK_ACCOUNTS)
    return s


def account(key: str, name: str, balance: str = "10.00") -> tuple:
    encode = BANK_ACCOUNTS.encoder()
    return encode(
        {"id": key, "name": name, "currency": "EUR", "balance": Decimal(balance),
         "balance_date": dt.date(2026, 1, 31)}
    )  # fmt: skip


def test_store_is_private_in_wal_mode_at_the_latest_schema(store: Store) -> None:
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert len(store.store_id) == 32


def test_upsert_counts_added_updated_unchanged(store: Store) -> None:
    with store.transaction():
        first, _, _ = store.upsert(BANK_ACCOUNTS, [account("a", "A"), account("b", "B")], "x", 1)
    with store.transaction():
        second, _, _ = store.upsert(
            BANK_ACCOUNTS, [account("a", "A"), account("b", "B2"), account("c", "C")], "x", 2
        )

    assert (first.added, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.added, second.updated, second.unchanged) == (1, 1, 1)
    rows = dict(store.db.execute('SELECT id, run_id FROM "bank.accounts"').fetchall())
    assert rows == {"a": 1, "b": 2, "c": 2}  # an unchanged row keeps the run that wrote it


def test_keys_of_another_connector_are_returned_not_overwritten(store: Store) -> None:
    with store.transaction():
        store.upsert(BANK_ACCOUNTS, [account("a", "A")], "x", 1)
    with store.transaction():
        counts, conflicts, _ = store.upsert(BANK_ACCOUNTS, [account("a", "Mine")], "y", 2)

    assert conflicts == ["a"]
    assert (counts.added, counts.updated, counts.unchanged) == (0, 0, 0)
    assert store.db.execute('SELECT name, connector FROM "bank.accounts"').fetchall() == [
        ("A", "x")
    ]


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert(BANK_ACCOUNTS, [account("a", "A")], "x", 1)
        store.bump("bank.accounts")
        raise RuntimeError("interrupted")

    assert store.db.execute('SELECT count(*) FROM "bank.accounts"').fetchone()[0] == 0
    assert store.counter("bank.accounts") == 0


def test_a_newer_store_schema_is_refused_with_the_fix(home: Path) -> None:
    ws = Workspace.open(home)
    Store(ws.db_path).close()
    with sqlite3.connect(ws.db_path) as db:
        db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")

    with pytest.raises(IntegrityError, match="upgrade cozy-notebook"):
        Store(ws.db_path)


def test_reopening_does_not_migrate_again(home: Path) -> None:
    ws = Workspace.open(home)
    first = Store(ws.db_path)
    store_id = first.store_id
    first.close()

    assert Store(ws.db_path).store_id == store_id


def test_a_key_given_twice_in_one_batch_is_written_once_and_reported(store: Store) -> None:
    with store.transaction():
        counts, _, twice = store.upsert(
            BANK_ACCOUNTS, [account("a", "First"), account("a", "Second"), account("b", "B")],
            "x", 1,
        )  # fmt: skip

    assert twice == ["a"]
    assert (counts.added, counts.updated, counts.unchanged) == (2, 0, 0)
    assert store.db.execute('SELECT name FROM "bank.accounts" WHERE id = ?', ("a",)).fetchone() == (
        "First",
    )


def test_a_newer_release_adds_optional_fields_to_stored_collections(home: Path) -> None:
    from cozy_kernel.frames import collection_from_store
    from cozy_kernel.schemas import BANK_TRANSACTIONS, Collection

    # Given a store written by a release whose transactions had no "notes" field
    ws = Workspace.open(home)
    older = Collection(
        BANK_TRANSACTIONS.name,
        tuple(f for f in BANK_TRANSACTIONS.fields if f.name != "notes"),
        order_by=BANK_TRANSACTIONS.order_by,
    )
    first = Store(ws.db_path)
    with first.transaction():
        first.ensure_collection(older)
    first.close()

    # When this release opens it
    store = Store(ws.db_path)

    # Then the column exists, the recorded schema has it, and frames see it
    columns = {r[1] for r in store.db.execute('PRAGMA table_info("bank.transactions")')}
    assert "notes" in columns
    assert "notes" in {f.name for f in collection_from_store(store, "bank.transactions").fields}
    with pytest.raises(IntegrityError, match="gained a required field 'mood'"), store.transaction():
        store.ensure_collection(
            Collection("bank.transactions", (*BANK_TRANSACTIONS.fields, Field("mood", "text")))
        )


def test_merging_staged_rows_maps_runs_refuses_other_connectors_keys_and_counts(
    store: Store,
) -> None:
    names = ", ".join(BANK_ACCOUNTS.columns)
    marks = ", ".join("?" for _ in BANK_ACCOUNTS.columns)
    with store.transaction():
        store.upsert(BANK_ACCOUNTS, [account("a", "A"), account("b", "B")], "x", 1)
        store.db.execute(f"CREATE TEMP TABLE staged ({names})")
        store.db.executemany(
            f"INSERT INTO staged VALUES ({marks})",
            [(*account("a", "Theirs"), "y", 7), (*account("b", "B"), "x", 7),
             (*account("c", "C"), "x", 7), (*account("d", "D"), "x", 8)],
        )  # fmt: skip
        counts, conflicts = store.merge_staged(BANK_ACCOUNTS, "temp.staged", 4, {7: 2})

    assert conflicts == ["a"]
    assert (counts.added, counts.updated, counts.unchanged) == (2, 0, 1)
    rows = store.db.execute('SELECT id, name, connector, run_id FROM "bank.accounts" ORDER BY id')
    assert rows.fetchall() == [
        ("a", "A", "x", 1), ("b", "B", "x", 1), ("c", "C", "x", 2), ("d", "D", "x", 8),
    ]  # fmt: skip


def test_a_new_store_has_large_pages_and_an_older_one_keeps_its_own(home: Path) -> None:
    ws = Workspace.open(home)
    fresh = Store(ws.db_path)
    assert fresh.db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    fresh.close()
    older = home / "older.db"
    with sqlite3.connect(older) as db:
        db.execute("PRAGMA page_size=4096")
        db.execute("CREATE TABLE kept (x)")
    store = Store(older)
    with store.transaction():
        store.ensure_collection(BANK_ACCOUNTS)
        store.upsert(BANK_ACCOUNTS, [account("a", "A")], "x", 1)

    assert store.db.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert store.db.execute('SELECT count(*) FROM "bank.accounts"').fetchone()[0] == 1


def test_an_error_after_sqlite_ended_the_transaction_itself_is_the_one_reported(
    store: Store,
) -> None:
    # A full disk makes SQLite roll the transaction back on its own; the error that caused
    # it must reach the user, not "cannot rollback - no transaction is active".
    full = pytest.raises(sqlite3.OperationalError, match="database or disk is full")
    with full, store.transaction() as db:
        db.execute("ROLLBACK")  # what SQLite does itself on SQLITE_FULL
        raise sqlite3.OperationalError("database or disk is full")

    with store.transaction() as db:  # and the store is usable again
        db.execute("INSERT INTO meta VALUES ('probe', '1')")
    assert store.db.execute("SELECT value FROM meta WHERE key = 'probe'").fetchone() == ("1",)


def test_a_commit_that_fails_rolls_back_and_reports_its_error(store: Store) -> None:
    store.db.execute("PRAGMA foreign_keys = ON")
    store.db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    store.db.execute(
        "CREATE TABLE child (id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )

    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), store.transaction() as db:
        db.execute("INSERT INTO child VALUES (1)")  # fails only at COMMIT

    assert not store.db.in_transaction
    assert store.db.execute("SELECT count(*) FROM child").fetchone() == (0,)
