"""Verify proves what a restore reads: declarations, the Parquet's types and values, the CSV's
agreement with it, and the names a restore turns into SQL.

Each hostile bundle here is made as one who knows the format would make it: fixity, sizes,
hashes and manifests all hold (:func:`tests.test_portability_hostile.rebuilt`), so only the
checks of what the files say can refuse it.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cozy_kernel as cozy
from cozy_kernel.errors import IntegrityError
from cozy_kernel.portability import tables
from tests.conftest import UNTIL, run_cozy
from tests.test_portability_hostile import Edit, Payload, entries, everything, rebuilt, write

TRANSACTIONS = "collections/bank.transactions.parquet"
ACCOUNTS = "collections/bank.accounts"
Declaration = dict[str, Any]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A month of the demo bank; its export is the bundle made hostile here."""
    home = tmp_path_factory.mktemp("contents") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COZY_CONFIG", str(home.parent / "no-config.toml"))
        cozy.accept_terms(home=home)
        cozy.connect("demo-bank", home=home, grant=True, until=UNTIL, months=1)
        cozy.sync("demo-bank", home=home)
        yield home


@pytest.fixture(scope="module")
def exported(workspace: Path) -> Path:
    out = workspace.parent / "exported.zip"
    cozy.export_bundle(out, home=workspace)
    return out


def table_of(data: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(data))


def parquet_of(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def csv_of(table: pa.Table) -> bytes:
    """The CSV an export writes of these rows."""
    sink = pa.BufferOutputStream()
    view = [tables.csv_view(batch) for batch in table.to_batches()]
    options = pacsv.WriteOptions(quoting_style="needed")
    pacsv.write_csv(pa.Table.from_batches(view), sink, options)
    return bytes(sink.getvalue().to_pybytes())


def hostile(exported: Path, folder: Path, edit: Edit) -> Path:
    return write(folder / "hostile.zip", rebuilt(edit)(entries(exported)))


def refused(bundle: Path) -> str:
    """Verify ``bundle`` in this process; the one line it is refused with."""
    with pytest.raises(IntegrityError) as caught:
        cozy.verify_bundle(bundle)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_rebuilt_bundle_still_verifies(exported: Path, tmp_path: Path) -> None:
    """The harness itself changes nothing a check could see (else every refusal is moot)."""
    bundle = hostile(exported, tmp_path, with_things(lambda declaration, schema: None))

    held = cozy.verify_bundle(bundle)

    assert held["collections"]["evil.things"] == held["collections"]["bank.accounts"]


# -- declarations ------------------------------------------------------------------------


def with_things(change: Callable[[Declaration, dict[str, Any]], None]) -> Edit:
    """The bundle with one more collection, ``evil.things`` (bank accounts' rows), whose
    declaration and Table Schema ``change`` alters."""

    def edit(payload: Payload, package: dict[str, Any]) -> None:
        resources = package["resources"]
        (table,) = [r for r in resources if r["path"] == f"{ACCOUNTS}.csv"]
        (twin,) = [r for r in resources if r["path"] == f"{ACCOUNTS}.parquet"]
        payload["collections/evil.things.csv"] = payload[f"{ACCOUNTS}.csv"]
        payload["collections/evil.things.parquet"] = payload[f"{ACCOUNTS}.parquet"]
        things = copy.deepcopy(table)
        things.update(name="evil.things", path="collections/evil.things.csv")
        things["cozy:collection"]["name"] = "evil.things"
        pair = copy.deepcopy(twin)
        pair.update(name="evil.things.parquet", path="collections/evil.things.parquet")
        pair["cozy:table"] = "evil.things"
        change(things["cozy:collection"], things["schema"])
        resources += [things, pair]

    return edit


def renamed_field(declaration: Declaration, schema: dict[str, Any]) -> None:
    declaration["fields"][1]["name"] = "Name"
    schema["fields"][1]["name"] = "Name"


DECLARATIONS: dict[str, tuple[Callable[[Declaration, dict[str, Any]], None], str]] = {
    "unknown-kind": (lambda d, s: d["fields"][1].update(kind="float"), "kind 'float'"),
    "key-is-no-field": (lambda d, s: d.update(key="nope"), "key 'nope' is not a field"),
    "nullable-is-text": (lambda d, s: d["fields"][2].update(nullable="no"), "nullable is 'no'"),
    "order-by-is-text": (lambda d, s: d.update(order_by="id"), "order_by of 'evil.things'"),
    "field-name": (renamed_field, "field name 'Name' must be lower_snake_case"),
    "collection-name": (lambda d, s: d.update(name="Evil"), "must look like 'domain.things'"),
    "kind-against-its-table-schema": (
        lambda d, s: d["fields"][1].update(kind="int"), "field 'name' differs from its declaration"
    ),
    "required-against-its-table-schema": (
        lambda d, s: d["fields"][1].update(nullable=True),
        "field 'name' differs from its declaration",
    ),
    "primary-key": (lambda d, s: s.update(primaryKey=["name"]), "its primary key is not 'id'"),
    "column-it-does-not-declare": (
        lambda d, s: d.update(fields=d["fields"][:-1]), "its columns are not those evil.things"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(DECLARATIONS))
def test_a_declaration_the_code_would_refuse_is_refused(
    case: str, exported: Path, tmp_path: Path
) -> None:
    change, message = DECLARATIONS[case]
    bundle = hostile(exported, tmp_path, with_things(change))

    assert message in refused(bundle)


def test_a_built_in_collection_declared_otherwise_is_refused(
    exported: Path, tmp_path: Path
) -> None:
    def category(payload: Payload, package: dict[str, Any]) -> None:
        (accounts,) = [r for r in package["resources"] if r["path"] == f"{ACCOUNTS}.csv"]
        accounts["cozy:collection"]["fields"][1]["kind"] = "category"

    bundle = hostile(exported, tmp_path, category)

    assert "bank.accounts declares 'name' otherwise than here" in refused(bundle)


def test_order_by_on_no_field_is_refused_and_report_and_export_keep_working(
    exported: Path, workspace: Path, tmp_path: Path
) -> None:
    # Given a bundle bringing a collection ordered by a field it does not have
    bundle = hostile(exported, tmp_path, with_things(lambda d, s: d.update(order_by=["nope"])))
    before = everything(workspace)

    # When it is verified, then restored
    verified = run_cozy(workspace, "verify", str(bundle))
    restored = run_cozy(workspace, "restore", str(bundle), "--yes")

    # Then both refuse it, in one line, and the workspace is as it was: report and export work
    for result in (verified, restored):
        assert result.code == 5, result.err
        assert "order_by 'nope' is not a field" in result.err
        assert len(result.err.strip().splitlines()) == 1
    assert everything(workspace) == before
    assert run_cozy(workspace, "report").code == 0
    assert run_cozy(workspace, "export", "--out", str(tmp_path / "again.zip")).code == 0


def test_a_collection_held_here_declared_otherwise_is_refused(
    exported: Path, home: Path, tmp_path: Path
) -> None:
    # Given a workspace that holds evil.things, whose "type" is a category
    (tmp_path / "first").mkdir()
    cozy.restore_bundle(hostile(exported, tmp_path / "first", with_things(lambda d, s: None)))
    before = everything(home)

    # And a bundle declaring it text there (its Parquet and CSV agreeing)
    def as_text(declaration: Declaration, schema: dict[str, Any]) -> None:
        declaration["fields"][2]["kind"] = "text"

    def change(payload: Payload, package: dict[str, Any]) -> None:
        with_things(as_text)(payload, package)
        things = table_of(payload["collections/evil.things.parquet"])
        position = things.schema.get_field_index("type")
        things = things.set_column(position, "type", things["type"].cast(pa.string()))
        payload["collections/evil.things.parquet"] = parquet_of(things)

    bundle = hostile(exported, tmp_path, change)

    # When it is restored
    result = run_cozy(home, "restore", str(bundle), "--yes")

    # Then it is refused, and nothing changed
    assert result.code == 5, result.err
    assert "evil.things declares 'type' otherwise than this workspace holds it" in result.err
    assert everything(home) == before


# -- the Parquet a restore reads ----------------------------------------------------------

RETYPED = [
    ("amount", pa.float64()), ("amount", pa.decimal128(38, 10)), ("amount", pa.string()),
    ("date", pa.string()), ("date", pa.timestamp("us", tz="UTC")), ("pending", pa.int64()),
    ("label", pa.large_string()), ("account_id", pa.string()), ("id", pa.large_string()),
    ("run_id", pa.int32()), ("fee", pa.float64()), ("currency", pa.string()),
]  # fmt: skip
ROW = st.integers(0, 1 << 20)  # taken modulo the row count
MUTATIONS = st.one_of(
    st.tuples(st.just("amount"), ROW, st.integers(-(10**8), 10**8).filter(bool)),
    st.tuples(st.just("extra"), ROW),
    st.tuples(st.just("drop"), ROW),
    st.tuples(st.just("impossible-date"), ROW,
              st.sampled_from(["2026-02-30", "2026-13-01", "2026-1-5", "0000-01-01", "x"])),
    st.tuples(st.just("far-date"), ROW, st.integers(3_000_000, 2**31 - 1)),
    st.tuples(st.just("label"), ROW, st.text(max_size=12)),
    st.tuples(st.just("pending"), ROW),
    st.tuples(st.just("retype"), st.sampled_from(RETYPED)),
)  # fmt: skip


def mutated(table: pa.Table, mutation: tuple[Any, ...]) -> pa.Table:
    """The transactions with one change that a CSV left as it was cannot agree with."""
    kind, *args = mutation
    if kind == "retype":
        name, to = args[0]
        return table.set_column(table.schema.get_field_index(name), name, table[name].cast(to))
    i = args[0] % table.num_rows
    rows = table.to_pylist()
    if kind == "amount":
        rows[i]["amount"] += Decimal(args[1]).scaleb(-2)
    elif kind == "extra":
        rows.append({**rows[i], "id": f"{rows[i]['id']}-again"})
    elif kind == "drop":
        del rows[i]
    elif kind == "label":
        assume(rows[i]["label"] != args[1])
        rows[i]["label"] = args[1]
    elif kind == "pending":
        rows[i]["pending"] = not rows[i]["pending"]
    elif kind == "far-date":
        days = table["date"].cast(pa.int32()).to_pylist()
        days[i] = args[1]
        return table.set_column(table.schema.get_field_index("date"), "date", pa.array(
            days, pa.int32()).cast(pa.date32()))  # fmt: skip
    else:  # impossible-date: the date column as text, one of them no date at all
        texts = [d.isoformat() for d in table["date"].to_pylist()]
        texts[i] = args[1]
        return table.set_column(table.schema.get_field_index("date"), "date", pa.array(texts))
    return pa.Table.from_pylist(rows, schema=table.schema)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutation=MUTATIONS)
def test_a_parquet_that_differs_from_its_csv_is_refused(
    exported: Path, mutation: tuple[Any, ...]
) -> None:
    def change(payload: Payload, package: dict[str, Any]) -> None:
        payload[TRANSACTIONS] = parquet_of(mutated(table_of(payload[TRANSACTIONS]), mutation))

    with tempfile.TemporaryDirectory() as folder:
        message = refused(hostile(exported, Path(folder), change))

    assert TRANSACTIONS in message


def test_an_impossible_date_in_the_parquet_changes_nothing_and_frames_still_load(
    exported: Path, workspace: Path, tmp_path: Path
) -> None:
    # Given a bundle whose Parquet holds 2026-02-30 where its CSV holds a real date
    def change(payload: Payload, package: dict[str, Any]) -> None:
        table = table_of(payload[TRANSACTIONS])
        payload[TRANSACTIONS] = parquet_of(mutated(table, ("impossible-date", 0, "2026-02-30")))

    bundle = hostile(exported, tmp_path, change)
    before = everything(workspace)

    # When it is verified, then restored
    verified = run_cozy(workspace, "verify", str(bundle))
    restored = run_cozy(workspace, "restore", str(bundle), "--yes")

    # Then both refuse, naming the Parquet, and every frame still loads
    for result in (verified, restored):
        assert result.code == 5, result.err
        assert f"{TRANSACTIONS}: column 'date' is string, not date32[day]" in result.err
    assert everything(workspace) == before
    assert len(cozy.frame("bank.transactions", home=workspace)) > 0


def test_the_csv_and_parquet_agree_value_by_value_wherever_batches_split(
    exported: Path, tmp_path: Path
) -> None:
    """Rows past the first Parquet batch are compared too: the last row's amount differs."""

    def change(payload: Payload, package: dict[str, Any]) -> None:
        table = table_of(payload[TRANSACTIONS])
        copies = pa.concat_tables([table] * (70_000 // table.num_rows + 1))
        ids = pa.array([f"t{n:06d}" for n in range(copies.num_rows)])
        copies = copies.set_column(0, "id", ids)
        payload[TRANSACTIONS.replace(".parquet", ".csv")] = csv_of(copies)
        last = copies.num_rows - 1
        payload[TRANSACTIONS] = parquet_of(mutated(copies, ("amount", last, 1)))
        for resource in package["resources"]:  # account ids are all still held: keep the key
            resource.get("schema", {}).pop("foreignKeys", None)

    message = refused(hostile(exported, tmp_path, change))

    assert re.search(rf"{TRANSACTIONS}: row 7\d{{4}} differs from .*\.csv", message), message


# -- the store's own tables ---------------------------------------------------------------

# Were it put into SQL, it would close the quote and select a run of its own.
INJECTED = 'error" IS ? UNION SELECT 4242 --'


def test_a_column_name_that_is_sql_is_refused_before_any_sql(
    exported: Path, workspace: Path, tmp_path: Path
) -> None:
    # Given a bundle whose run log has one more column, named with SQL
    def change(payload: Payload, package: dict[str, Any]) -> None:
        runs = table_of(payload["workspace/runs.parquet"])
        runs = runs.append_column(INJECTED, pa.array([None] * runs.num_rows, pa.string()))
        payload["workspace/runs.parquet"] = parquet_of(runs)
        payload["workspace/runs.csv"] = csv_of(runs)
        (table,) = [r for r in package["resources"] if r.get("cozy:store-table") == "runs"]
        table["schema"]["fields"].append({"name": INJECTED, "type": "string"})

    bundle = hostile(exported, tmp_path, change)
    before = everything(workspace)

    # When it is restored
    result = run_cozy(workspace, "restore", str(bundle), "--yes")

    # Then it is refused, naming the column, and nothing changed
    assert result.code == 5, result.err
    assert f"workspace/runs.csv: unknown column {INJECTED!r}" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert everything(workspace) == before


def test_a_row_this_stores_rules_refuse_is_refused_with_exit_5(
    exported: Path, workspace: Path, tmp_path: Path
) -> None:
    # Given a bundle whose run log holds an outcome the store's CHECK constraint refuses
    def change(payload: Payload, package: dict[str, Any]) -> None:
        runs = table_of(payload["workspace/runs.parquet"])
        hacked = pa.array(["hacked"] * runs.num_rows)
        runs = runs.set_column(runs.schema.get_field_index("outcome"), "outcome", hacked)
        payload["workspace/runs.parquet"] = parquet_of(runs)
        payload["workspace/runs.csv"] = csv_of(runs)

    bundle = hostile(exported, tmp_path, change)
    before = everything(workspace)

    # When it is restored
    result = run_cozy(workspace, "restore", str(bundle), "--yes")

    # Then it is refused in one line, and nothing changed
    assert result.code == 5, result.err
    assert "a row breaks a rule of this store (CHECK constraint failed" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert everything(workspace) == before


def without_connector(runs: pa.Table, fields: list[dict[str, Any]]) -> pa.Table:
    fields[:] = [f for f in fields if f["name"] != "connector"]
    return runs.drop_columns(["connector"])


def full_as_text(runs: pa.Table, fields: list[dict[str, Any]]) -> pa.Table:
    (full,) = [f for f in fields if f["name"] == "full"]
    full["type"] = "string"
    return runs.set_column(runs.schema.get_field_index("full"), "full", runs["full"].cast("string"))


def connector_optional(runs: pa.Table, fields: list[dict[str, Any]]) -> pa.Table:
    (connector,) = [f for f in fields if f["name"] == "connector"]
    del connector["constraints"]
    return runs


RUN_LOGS = {
    "lacking-a-column": (without_connector, "workspace/runs.csv: it lacks column 'connector'"),
    "typed-otherwise": (full_as_text, "column 'full' is not typed as this store's"),
    "optional-where-required": (connector_optional, "'connector' may be empty, this store's not"),
}


@pytest.mark.parametrize("case", list(RUN_LOGS))
def test_a_store_table_unlike_this_stores_is_refused(
    case: str, exported: Path, workspace: Path, tmp_path: Path
) -> None:
    change_runs, message = RUN_LOGS[case]

    def change(payload: Payload, package: dict[str, Any]) -> None:
        (table,) = [r for r in package["resources"] if r.get("cozy:store-table") == "runs"]
        runs = change_runs(table_of(payload["workspace/runs.parquet"]), table["schema"]["fields"])
        payload["workspace/runs.parquet"] = parquet_of(runs)
        payload["workspace/runs.csv"] = csv_of(runs)

    bundle = hostile(exported, tmp_path, change)
    before = everything(workspace)

    result = run_cozy(workspace, "restore", str(bundle), "--yes")

    assert result.code == 5, result.err
    assert message in result.err
    assert everything(workspace) == before


# -- whatever a descriptor says ------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)  # fmt: skip


def places(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a JSON value (keys and indexes from its top)."""
    inner = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(
        value, list) else ()  # fmt: skip
    return [at, *(p for key, item in inner for p in places(item, (*at, key)))]


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_value_anywhere_in_the_descriptor_verifies_or_is_refused_in_one_line(
    exported: Path, data: st.DataObject
) -> None:
    with zipfile.ZipFile(exported) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith("data/datapackage.json")]
        described = json.loads(zf.read(name))
    place = data.draw(st.sampled_from([p for p in places(described) if len(p) > 1]))
    value, drop = data.draw(JSON), data.draw(st.booleans())

    def change(payload: Payload, package: dict[str, Any]) -> None:
        inner = package
        for key in place[:-1]:
            inner = inner[key]
        if drop and isinstance(inner, dict):
            del inner[place[-1]]
        else:
            inner[place[-1]] = value

    with tempfile.TemporaryDirectory() as folder:
        bundle = hostile(exported, Path(folder), change)
        try:
            cozy.verify_bundle(bundle)
        except IntegrityError as exc:
            assert "\n" not in str(exc)
