"""The five budgeting templates run top to bottom on real data, export to HTML, and follow
what the user changes; every total they print is checked against an independent computation.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

import cozy_kernel as cozy
from cozy_connectors.demo_bank.merchants import BILLS
from cozy_kernel import budget
from tests.conftest import UNTIL

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FIXTURES = Path(__file__).parent / "fixtures" / "budget"
TEMPLATES = (
    "Monthly-budget.ipynb", "Spending-by-category.ipynb", "Subscriptions.ipynb",
    "Cash-flow-forecast.ipynb", "Net-worth.ipynb",
)  # fmt: skip
D = Decimal


def execute(name: str, home: Path, **parameters: object) -> nbformat.NotebookNode:
    """Run a template as a kernel would for this workspace, parameters injected papermill-style."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    if parameters:
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
        injected = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
        nb.cells.insert(at + 1, injected)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COZY_HOME", str(home))
        mp.delenv("JUPYTERHUB_USER", raising=False)
        NotebookClient(
            nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(home)}}
        ).execute()
    return nb


def text(nb: nbformat.NotebookNode) -> str:
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    return "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def charts(nb: nbformat.NotebookNode) -> int:
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    return sum("image/png" in o.get("data", {}) for o in outputs)


def amount(nb: nbformat.NotebookNode, label: str) -> Decimal:
    """The amount a template printed after ``label`` (e.g. "Spending in 2026-06:")."""
    found = re.search(re.escape(label) + r" (-?\d+\.\d{2})", text(nb))
    assert found, (label, text(nb))
    return D(found.group(1))


def sql_money(home: Path, query: str, *args: object) -> Decimal:
    with sqlite3.connect(home / "cozy.db") as db:
        return D(db.execute(query, args).fetchone()[0] or 0).scaleb(-2)


def workspace(root: Path) -> Path:
    home = root / "home"
    cozy.accept_terms(home=home)
    return home


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = workspace(tmp_path_factory.mktemp("demo"))
    cozy.connect("demo-bank", home=home, grant=True, until=UNTIL)
    cozy.sync("demo-bank", home=home)
    budget.set_budget("groceries", "600", envelope=True, home=home)
    budget.set_budget("food", "150", home=home)
    return home


@pytest.fixture(scope="module")
def demo_runs(demo_home: Path) -> dict[str, nbformat.NotebookNode]:
    return {name: execute(name, demo_home) for name in TEMPLATES}


@pytest.fixture(scope="module")
def imported_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = workspace(tmp_path_factory.mktemp("imported"))
    statements = [FIXTURES / "checking_eur.ofx", FIXTURES / "current_gbp_barclays.csv"]
    cozy.import_files(statements, grant=True, home=home)
    return home


@pytest.fixture(scope="module")
def imported_runs(imported_home: Path) -> dict[str, nbformat.NotebookNode]:
    return {name: execute(name, imported_home) for name in TEMPLATES}


@pytest.fixture
def env_home(tmp_path: Path) -> Iterator[Path]:
    yield workspace(tmp_path)


def test_each_template_explains_itself_and_takes_parameters() -> None:
    for name in TEMPLATES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
        (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        for parameter in ("month = None", "accounts = None", "currency = None"):
            assert parameter in params.source, (name, parameter)
        assert "ipywidgets" in "".join(c.source for c in nb.cells), name


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_runs_on_the_demo_bank_and_exports_to_html(
    name: str, demo_runs: dict[str, nbformat.NotebookNode]
) -> None:
    nb = demo_runs[name]

    html, _ = HTMLExporter().from_notebook_node(nb)

    assert charts(nb) >= 1
    assert "1290 transactions in EUR, showing 2026-06." in text(nb)
    assert html.count("data:image/png;base64") >= charts(nb)  # widgets keep theirs too
    first = text(nb).splitlines()[1]
    assert first.split(":")[0] in html  # the static result is in the export, not in a widget


def test_monthly_budget_totals(
    demo_home: Path, demo_runs: dict[str, nbformat.NotebookNode]
) -> None:
    nb = demo_runs["Monthly-budget.ipynb"]
    june = "date LIKE '2026-06-%'"

    spent = -sql_money(demo_home, f'SELECT sum(amount) FROM "bank.transactions" WHERE {june} '
                       "AND category NOT LIKE 'transfer%' "
                       "AND category NOT LIKE 'income%'")  # fmt: skip
    groceries = -sql_money(demo_home, f'SELECT sum(amount) FROM "bank.transactions" WHERE {june} '
                           "AND category = 'groceries'")  # fmt: skip
    food = -sql_money(demo_home, f'SELECT sum(amount) FROM "bank.transactions" WHERE {june} '
                      "AND category LIKE 'food%'")  # fmt: skip

    assert amount(nb, "Spending in 2026-06:") == spent
    assert amount(nb, "Budgeted in 2026-06:") == D("750.00")
    assert amount(nb, "Groceries: budget 600.00, spent") == groceries
    assert amount(nb, "Eating out: budget 150.00, spent") == food
    # Groceries is an envelope: every month since the first carries into June.
    months = sorted({m for m in budget.book(home=demo_home).months})
    carried = sum(
        (D("600.00") + sql_money(demo_home, 'SELECT sum(amount) FROM "bank.transactions" '
                                 "WHERE date LIKE ? AND category = 'groceries'", f"{m}-%")
         for m in months),
        D(0),
    )  # fmt: skip
    assert amount(nb, f"Groceries: budget 600.00, spent {groceries}, left") == carried


def test_spending_by_category_totals(
    demo_home: Path, demo_runs: dict[str, nbformat.NotebookNode]
) -> None:
    nb = demo_runs["Spending-by-category.ipynb"]
    with sqlite3.connect(demo_home / "cozy.db") as db:
        rows = db.execute(
            'SELECT category, -sum(amount) FROM "bank.transactions" '
            "WHERE date LIKE '2026-06-%' AND category NOT LIKE 'transfer%' "
            "AND category NOT LIKE 'income%' GROUP BY category"
        ).fetchall()
    by_top: dict[str, Decimal] = {}
    for category, cents in rows:
        top = {"utilities": "bills"}.get(category.split(":")[0], category.split(":")[0])
        by_top[top] = by_top.get(top, D(0)) + D(cents).scaleb(-2)
    names = budget.categories(home=demo_home).set_index("id")["name"]

    assert amount(nb, "Spending in 2026-06:") == sum(by_top.values(), D(0))
    for top, spent in by_top.items():
        assert amount(nb, f"  {names[top]}:") == spent, top
    assert "Who decided the categories: bank 53" in text(nb)


def test_subscriptions_totals(demo_runs: dict[str, nbformat.NotebookNode]) -> None:
    nb = demo_runs["Subscriptions.ipynb"]
    # From the demo bank's own bill list: every fixed bill, at its yearly cost.
    fixed = [b for b in BILLS if b.cents]
    monthly = sum(
        (D(b.cents * (12 if b.months is None else len(b.months))).scaleb(-2) / 12).quantize(
            D("0.01"), rounding=ROUND_HALF_EVEN
        )
        for b in fixed
    )
    yearly = sum(D(b.cents * (12 if b.months is None else len(b.months))).scaleb(-2) for b in fixed)

    assert f"Subscriptions and fixed payments in EUR: {len(fixed)}, {monthly} a month, " \
        f"{yearly} a year" in text(nb)  # fmt: skip
    assert "  NETFLIX (Video streaming, monthly): -13.49 EUR, next on 2026-07-15" in text(nb)
    assert "  VEOLIA (Water, quarterly): -68.40 EUR, next on 2026-09-20" in text(nb)
    assert "Price changes: 3" in text(nb)  # the salary's and the bonus's raises, the interest


def test_cash_flow_forecast_totals(
    demo_home: Path, demo_runs: dict[str, nbformat.NotebookNode]
) -> None:
    nb = demo_runs["Cash-flow-forecast.ipynb"]
    today = sql_money(demo_home, 'SELECT sum(balance) FROM "bank.accounts"')
    expected = budget.forecast(
        budget.transactions(home=demo_home), budget.accounts(home=demo_home), days=90
    )
    low = budget.lowest_point(expected).iloc[0]

    assert amount(nb, "Balance today:") == today
    assert amount(nb, "Lowest point in the next 90 days:") == low["balance"] < today
    assert f"EUR on {low['date']:%Y-%m-%d}" in text(nb)
    assert amount(nb, "Expected in 90 days:") == expected["balance"].iloc[-1]
    assert "2026-07-05: FONCIA (Rent); balance" in text(nb)


def test_net_worth_totals(demo_home: Path, demo_runs: dict[str, nbformat.NotebookNode]) -> None:
    nb = demo_runs["Net-worth.ipynb"]
    june = "date LIKE '2026-06-%' AND category NOT LIKE 'transfer%'"
    income = sql_money(demo_home, f'SELECT sum(amount) FROM "bank.transactions" WHERE {june} '
                       "AND category LIKE 'income%'")  # fmt: skip
    spent = -sql_money(demo_home, f'SELECT sum(amount) FROM "bank.transactions" WHERE {june} '
                       "AND category NOT LIKE 'income%'")  # fmt: skip

    assert amount(nb, "Net worth at the end of 2026-06:") == sql_money(
        demo_home, 'SELECT sum(balance) FROM "bank.accounts"'
    )
    assert amount(nb, "Income in 2026-06:") == income
    assert amount(nb, "Spending in 2026-06:") == spent
    assert amount(nb, "Saved in 2026-06:") == income - spent
    rate = ((income - spent) / income * 100).quantize(D("0.01"))
    assert f"(savings rate {rate} %)" in text(nb)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_runs_on_imported_statements(
    name: str, imported_home: Path, imported_runs: dict[str, nbformat.NotebookNode]
) -> None:
    nb = imported_runs[name]

    html, _ = HTMLExporter().from_notebook_node(nb)

    assert charts(nb) >= 1 and "data:image/png;base64" in html
    assert "Showing EUR; these accounts also hold GBP, never added to it." in text(nb)
    june = "currency = 'EUR' AND date LIKE '2026-06-%'"
    out = -sql_money(imported_home, f'SELECT sum(amount) FROM "bank.transactions" WHERE {june} '
                     "AND amount < 0")  # fmt: skip
    if name in ("Monthly-budget.ipynb", "Spending-by-category.ipynb", "Net-worth.ipynb"):
        assert amount(nb, "Spending in 2026-06:") == out  # nothing categorised: all money out
    if name == "Subscriptions.ipynb":
        assert "  CB NETFLIX COM (Uncategorised, monthly): -15.49 EUR, next on 2026-07-15, " \
            "was -13.49 until 2026-04-15" in text(nb)  # fmt: skip
    if name in ("Cash-flow-forecast.ipynb", "Net-worth.ipynb"):
        query = "SELECT balance FROM \"bank.accounts\" WHERE currency = 'EUR'"
        balance = sql_money(imported_home, query)
        label = "Balance today:" if name.startswith("Cash") else "Net worth at the end of 2026-06:"
        assert amount(nb, label) == balance == D("7995.26")


def test_another_currency_is_shown_on_its_own(imported_home: Path) -> None:
    nb = execute("Net-worth.ipynb", imported_home, currency="GBP", month="2026-05")

    gbp = sql_money(imported_home, "SELECT sum(amount) FROM \"bank.transactions\" "
                    "WHERE currency = 'GBP' AND date < '2026-06-01'")  # fmt: skip
    assert "transactions in GBP, showing 2026-05." in text(nb)
    assert amount(nb, "Net worth at the end of 2026-05:") == gbp  # no balance: from zero
    assert "EUR" not in text(nb)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_on_an_empty_workspace_says_what_to_connect(name: str, env_home: Path) -> None:
    nb = execute(name, env_home)

    assert 'cozy.connect("demo-bank", grant=True)' in text(nb)
    assert "cozy import FILE" in text(nb)
    assert charts(nb) >= 1  # an empty chart, not an error


def test_templates_follow_a_rename_a_rule_and_a_correction(
    demo_home: Path, demo_runs: dict[str, nbformat.NotebookNode], tmp_path: Path
) -> None:
    # Given a copy of the demo workspace the templates already ran on
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    tx = budget.transactions(home=home, since="2026-06-01")
    shop = tx[tx["category"] == "groceries"].sort_values("amount").iloc[0]
    moved = -shop["amount"]

    # When the user renames a category, adds a rule and corrects one payment
    budget.rename_category("groceries", "Food shopping", home=home)
    budget.add_rule("leisure", counterparty="NETFLIX", home=home)
    cozy.edit("bank.transactions", shop["id"], category="transfers", home=home)
    after = {name: execute(name, home) for name in TEMPLATES}

    # Then every template shows it
    before = demo_runs
    monthly = after["Monthly-budget.ipynb"]
    spent_before = amount(before["Monthly-budget.ipynb"], "Groceries: budget 600.00, spent")
    assert amount(monthly, "Food shopping: budget 600.00, spent") == spent_before - moved
    assert (
        amount(monthly, "Spending in 2026-06:")
        == amount(before["Monthly-budget.ipynb"], "Spending in 2026-06:") - moved
    )  # the rule moves Netflix within spending, not out of it
    spending = after["Spending-by-category.ipynb"]
    assert amount(spending, "  Food shopping:") == spent_before - moved
    assert "Who decided the categories: manual 1, rule 1, bank 51" in text(spending)
    assert "  NETFLIX (Leisure, monthly): -13.49 EUR" in text(after["Subscriptions.ipynb"])
    forecast = after["Cash-flow-forecast.ipynb"]
    assert "2026-07-15: NETFLIX (Leisure); balance" in text(forecast)
    assert amount(forecast, "Lowest point in the next 90 days:") > amount(
        before["Cash-flow-forecast.ipynb"], "Lowest point in the next 90 days:"
    )  # less everyday spending once the payment is a transfer
    worth = after["Net-worth.ipynb"]
    assert (
        amount(worth, "Spending in 2026-06:")
        == amount(before["Net-worth.ipynb"], "Spending in 2026-06:") - moved
    )
    assert "Food shopping" in text(worth).split("Where most of it went:")[1]
