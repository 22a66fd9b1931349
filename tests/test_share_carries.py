"""What a share bundle carries: only what each public function handed the notebook, and with
--pseudonymise no identifier in any form (the bundle's every file scanned, Parquet decoded)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cozy_kernel as cozy
from cozy_kernel import budget
from cozy_kernel.importer import normalise_label
from cozy_kernel.schemas import BUILTIN
from tests.conftest import UNTIL, run_cozy
from tests.test_share import notebook

FIXTURES = Path(__file__).parent / "fixtures"
SINCE = "2026-06-01"
# Each note sits on one row; a bundle may hold it only if that row and the notes were returned.
NOTES = {("demo-checking", "2026-05"): "note-before-june", ("demo-savings", "2026-06"): "note-june"}
# The account numbers inside the fixtures' IBANs and the OFX statement's account id.
ACCOUNT_NUMBERS = ("12345678901", "12345678910", "5407324931", "0001234567", "00050123456")
Returned = dict[str, tuple[set[str], set[str]]]  # collection -> (ids, columns) handed over


@pytest.fixture(scope="module")
def sender(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Bank rows from a demo bank, an OFX and two CSVs (ids from label hashes), with notes."""
    home = tmp_path_factory.mktemp("sender") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COZY_CONFIG", str(home.parent / "no-config.toml"))
        cozy.accept_terms(home=home)
        cozy.connect("demo-bank", home=home, grant=True, until=UNTIL, months=2)
        cozy.sync("demo-bank", home=home)
        files = [FIXTURES / "ofx" / "fr_societe_generale.ofx", FIXTURES / "csv" / "nl_ing.csv",
                 FIXTURES / "csv" / "de_ing.csv"]  # fmt: skip
        cozy.import_files(files, grant=True, home=home)
        tx = cozy.frame("bank.transactions", home=home)
        for (account, month), text in NOTES.items():
            row = tx[(tx["account_id"] == account) & (tx["date"].dt.strftime("%Y-%m") == month)]
            cozy.edit("bank.transactions", row["id"].iloc[0], notes=text, home=home)
        budget.add_rule("bills", account="csv:nl20ingb0001234567", counterparty="Vattenfall",
                        contains="Termijnbedrag", home=home)  # fmt: skip
        yield home


def members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {i.filename.split("/", 1)[1]: zf.read(i) for i in zf.infolist()}


def tables(bundle: Path) -> dict[str, pa.Table]:
    found = members(bundle)
    return {
        name.removeprefix("data/collections/").removesuffix(".parquet"): pq.read_table(
            io.BytesIO(data)
        )
        for name, data in found.items()
        if name.startswith("data/collections/") and name.endswith(".parquet")
    }


def everything(bundle: Path) -> str:
    """Every file of the bundle as lowercase text, Parquet decoded value by value."""
    texts = []
    for name, data in members(bundle).items():
        if name.endswith(".parquet"):
            rows = pq.read_table(io.BytesIO(data)).to_pylist()
            texts.append(json.dumps(rows, default=str, ensure_ascii=False))
        else:
            texts.append(data.decode("utf-8", "replace"))
    return "\n".join(texts).lower()


def share(sender: Path, folder: Path, call: str, *, pseudonymise: bool = False) -> Path:
    source = notebook(
        folder / "Call.ipynb",
        ("import cozy_kernel as cozy\nfrom cozy_kernel import budget\n"
         f"out = {call}\nprint(type(out).__name__)", []),
    )  # fmt: skip
    out = folder / "call.zip"
    cozy.export_bundle(out, share=source, pseudonymise=pseudonymise, home=sender)
    return out


def frame(
    name: str, since: str | None = None, until: str | None = None, columns: list[str] | None = None
) -> Callable[[Path], Returned]:
    def returned(home: Path) -> Returned:
        rows = cozy.frame(name, since=since, until=until, home=home)
        return {name: (set(rows["id"]), {*(columns or rows.columns), "id"})}

    return returned


def stored(*frames: tuple[str, pd.DataFrame]) -> Returned:
    """What budget frames hand over: their rows, and those of their columns a collection has."""
    return {
        name: (set(data["id"]), {str(c) for c in data.columns if c in BUILTIN[name].columns})
        for name, data in frames
    }


def book(home: Path) -> Returned:
    held = budget.book(accounts=["demo-savings"], home=home)
    return stored(("bank.transactions", held.transactions), ("bank.accounts", held.accounts))


CALLS = [
    pytest.param('cozy.frame("bank.transactions", since="2026-06-01")',
                 frame("bank.transactions", since=SINCE), id="cozy.frame-since"),
    pytest.param('cozy.frame("bank.transactions", until="2026-05-31", columns=["date", "amount"])',
                 frame("bank.transactions", until="2026-05-31", columns=["date", "amount"]),
                 id="cozy.frame-until-columns"),
    pytest.param('cozy.frame("bank.accounts", columns=["currency"])',
                 frame("bank.accounts", columns=["currency"]), id="cozy.frame-accounts-columns"),
    pytest.param('budget.transactions(since="2026-06-01")',
                 lambda h: stored(("bank.transactions", budget.transactions(since=SINCE, home=h))),
                 id="budget.transactions-since"),
    pytest.param('budget.transactions(accounts=["demo-savings"], columns=["date", "amount"])',
                 lambda h: stored(("bank.transactions", budget.transactions(
                     accounts=["demo-savings"], columns=["date", "amount"], home=h))),
                 id="budget.transactions-accounts-columns"),
    pytest.param("budget.accounts()", lambda h: stored(("bank.accounts", budget.accounts(home=h))),
                 id="budget.accounts"),
    pytest.param('budget.book(accounts=["demo-savings"])', book, id="budget.book-accounts"),
    pytest.param("(budget.categories(), budget.rules(), budget.budgets(), budget.propose_rules())",
                 lambda h: {}, id="budget.categories-rules-budgets-propose_rules"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "returned"), CALLS)
def test_a_share_holds_only_the_rows_and_columns_each_function_returned(
    sender: Path, tmp_path: Path, call: str, returned: Callable[[Path], Returned]
) -> None:
    # Given what the call returns
    expected = returned(sender)

    # When a notebook making it is shared
    bundle = share(sender, tmp_path, call)

    # Then the bundle holds exactly those rows, and none of the columns it did not return
    got = tables(bundle)
    assert set(got) == set(expected)
    for name, (ids, columns) in expected.items():
        assert set(got[name].column_names) == columns
        assert set(got[name].column("id").to_pylist()) == ids
        if "since" in call and name == "bank.transactions":
            assert min(got[name].column("date").to_pylist()).isoformat() >= SINCE
    text = everything(bundle)
    ids, columns = expected.get("bank.transactions", (set(), set()))
    tx = cozy.frame("bank.transactions", home=sender).set_index("id")
    for key, note in tx["notes"].dropna().items():
        assert (note.lower() in text) == (key in ids and "notes" in columns), note


@pytest.fixture(scope="module")
def pseudonymised(sender: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The same notebook shared twice with --pseudonymise: all it reads, printed in full."""
    call = ('(budget.transactions(), cozy.frame("bank.accounts", columns=["name", "iban", '
            '"currency"]), budget.rules())\nfor part in out: print(part.to_string())')  # fmt: skip
    return [share(sender, tmp_path_factory.mktemp("pseudo"), call, pseudonymise=True)
            for _ in range(2)]  # fmt: skip


def test_a_pseudonymised_share_holds_no_identifier_in_any_file(
    sender: Path, pseudonymised: list[Path], home: Path
) -> None:
    accounts = cozy.frame("bank.accounts", home=sender)
    tx = cozy.frame("bank.transactions", home=sender)
    ibans = [str(i) for i in accounts["iban"].dropna()]
    label_hashes = {  # what assign_ids puts in an id: anyone can hash a dictionary of labels
        hashlib.sha256(normalise_label(str(label)).encode()).hexdigest()[:12]
        for label in tx["label"]
    }
    assert any(h in i for i in tx["id"] for h in label_hashes)  # the store's ids hold them
    forbidden = {
        *accounts["id"], *tx["id"], *ibans, *(" ".join(i[n:n + 4] for n in range(0, len(i), 4))
                                             for i in ibans),
        *ACCOUNT_NUMBERS, *label_hashes, *(str(lb) for lb in tx["label"] if len(str(lb)) >= 10),
    }  # fmt: skip
    bundle = pseudonymised[0]

    text = everything(bundle)

    assert run_cozy(sender, "verify", str(bundle)).code == 0
    assert not sorted(f for f in forbidden if str(f).lower() in text)
    got = tables(bundle)
    # Never a column the notebook did not read; the keys it names rows by are pseudonyms
    assert set(got["bank.accounts"].column_names) == {"id", "name", "iban", "currency"}
    assert all(i.startswith("id-") for i in got["bank.transactions"].column("id").to_pylist())
    held = set(got["bank.accounts"].column("id").to_pylist())
    assert set(got["bank.transactions"].column("account_id").to_pylist()) <= held  # joins hold
    restored = run_cozy(home, "restore", str(bundle), "--yes")
    assert restored.code == 0, restored.err


def test_the_same_pseudonymised_share_made_twice_shows_the_same_pseudonyms(
    pseudonymised: list[Path],
) -> None:
    first, second = (tables(bundle) for bundle in pseudonymised)
    for name in ("bank.transactions", "bank.accounts"):
        assert first[name].to_pylist() == second[name].to_pylist()
    assert first["bank.transactions"].num_rows > 100
