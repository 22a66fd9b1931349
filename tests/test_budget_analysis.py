"""The pure budget functions, each checked against a computation made independently."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cozy_kernel as cozy
from cozy_kernel import budget
from cozy_kernel.budget import categorisation
from cozy_kernel.budget import tree as budget_tree
from cozy_kernel.errors import BadInput
from tests.test_budget import FIXTURES, frame, sql

D = Decimal


def monthly_rows(first: dt.date, months: int, **row: object) -> list[dict[str, object]]:
    """The same payment on the same day of ``months`` consecutive months."""
    out = []
    for i in range(months):
        year, month = divmod(first.month - 1 + i, 12)
        out.append({"date": dt.date(first.year + year, month + 1, first.day), **row})
    return out


def test_transfers_between_own_accounts_pair_up_and_never_count_as_spending(demo: Path) -> None:
    tx = budget.transactions()

    paired = tx[tx["transfer_pair"].notna()]
    truth = sql(demo, "SELECT id FROM \"bank.transactions\" WHERE category = 'transfer:savings'")
    assert set(paired["id"]) == {r[0] for r in truth}
    partners = paired.set_index("id")["transfer_pair"]
    for tid, other in partners.items():
        assert partners[other] == tid
        assert (
            tx.set_index("id").loc[other, "account_id"] != tx.set_index("id").loc[tid, "account_id"]
        )
    assert set(tx[tx["transfer"]]["flow"]) == {"transfer"}

    spent = budget.spending(tx)
    outflow = sql(
        demo,
        'SELECT sum(amount) FROM "bank.transactions" WHERE category NOT LIKE \'transfer%\' '
        "AND category NOT LIKE 'income%'",
    )[0][0]  # fmt: skip
    assert budget.total(spent["amount"]) == -D(outflow).scaleb(-2)
    assert all(isinstance(a, Decimal) for a in spent["amount"])


def test_a_pair_needs_two_accounts_opposite_amounts_and_a_few_days() -> None:
    tx = frame([
        {"date": "2026-05-01", "amount": D("-250.00"), "account_id": "a", "label": "TO SAVINGS"},
        {"date": "2026-05-03", "amount": D("250.00"), "account_id": "b", "label": "FROM CURRENT"},
        {"date": "2026-05-01", "amount": D("-80.00"), "account_id": "a", "label": "SHOP"},
        {"date": "2026-05-01", "amount": D("80.00"), "account_id": "a", "label": "REFUND"},
        {"date": "2026-05-01", "amount": D("-40.00"), "account_id": "a", "label": "GIFT"},
        {"date": "2026-05-09", "amount": D("40.00"), "account_id": "b", "label": "LATER"},
        {"date": "2026-04-26", "amount": D("-250.00"), "account_id": "c", "label": "ANOTHER"},
    ])  # fmt: skip

    pairs = dict(zip(tx["id"], tx["transfer_pair"], strict=True))
    assert pairs == {"t000": "t001", "t001": "t000", "t002": None, "t003": None, "t004": None,
                     "t005": None, "t006": None}  # fmt: skip
    assert list(tx["flow"]) == ["transfer", "transfer", "spending", "income", "spending",
                                "income", "spending"]  # fmt: skip


def test_recurring_series_on_the_demo_bank(demo: Path) -> None:
    tx = budget.transactions()

    found = budget.recurring(tx).set_index("name")
    subs = budget.subscriptions(tx).set_index("name")

    netflix = found.loc["NETFLIX"]
    assert (netflix["period"], netflix["amount"], netflix["fixed"]) == (
        "monthly",
        D("-13.49"),
        True,
    )
    assert netflix["next_date"] == dt.date(2026, 7, 15)
    assert found.loc["VEOLIA", "period"] == "quarterly"
    assert found.loc["MAIF", "period"] == "yearly"
    assert found.loc["MAIF", "next_date"] == dt.date(2027, 1, 10)
    assert not found.loc["EDF", "fixed"]  # energy varies with the seasons, yet recurs
    salary = found[(found["period"] == "monthly") & (found["direction"] == "in")].loc["ACME SAS"]
    assert salary["price_change"] and salary["changed_on"] == dt.date(2026, 1, 30)
    assert set(subs.index) == {"FONCIA", "ILE-DE-FRANCE MOBILITES", "BASIC FIT", "FREE",
                               "VEOLIA", "FREE MOBILE", "MAIF", "NETFLIX", "SPOTIFY", "AMAZON",
                               "APPLE"}  # fmt: skip
    assert subs.loc["VEOLIA", "yearly_cost"] == D("273.60")
    assert subs.loc["VEOLIA", "monthly_cost"] == D("22.80")
    assert "LIVRET A" not in subs.index  # own transfers are not subscriptions
    card_merchants = set(tx[tx["method"] == "card"]["counterparty"].dropna()) - {
        "NETFLIX", "SPOTIFY", "AMAZON", "APPLE"
    }  # fmt: skip
    assert not card_merchants & set(found.index)  # everyday shops never look recurring


def test_price_changes_weekly_series_and_tolerance() -> None:
    netflix = monthly_rows(dt.date(2025, 9, 15), 10, label="CB NETFLIX.COM", amount=D("-13.49"))
    for row in netflix[-3:]:
        row["amount"] = D("-15.49")
    yoga = [{"date": dt.date(2026, 3, 7) + dt.timedelta(weeks=i), "label": f"YOGA {i:02d}/03",
             "amount": D("-12.00")} for i in range(8)]  # fmt: skip
    energy = monthly_rows(dt.date(2025, 9, 12), 10, label="EDF", amount=D("-50.00"))
    for i, row in enumerate(energy):
        row["amount"] = D("-50.00") - D(i * 9)
    tx = frame(netflix + yoga + energy)

    found = budget.recurring(tx, tolerance=0.1).set_index("name")
    loose = budget.recurring(tx, tolerance=0.3).set_index("name")

    assert found.loc["CB NETFLIX COM", "price_change"]
    assert found.loc["CB NETFLIX COM", "previous_amount"] == D("-13.49")
    assert found.loc["CB NETFLIX COM", "changed_on"] == dt.date(2026, 4, 15)
    assert found.loc["CB NETFLIX COM", "amount"] == D("-15.49")
    assert found.loc["YOGA", "period"] == "weekly"
    assert found.loc["YOGA", "next_date"] == dt.date(2026, 5, 2)
    assert not found.loc["EDF", "fixed"] and loose.loc["EDF", "fixed"]


def test_budget_vs_actual_pro_rates_the_current_month_and_rolls_envelopes() -> None:
    rows = []
    for month, spent in (("2026-04", "250.00"), ("2026-05", "180.00"), ("2026-06", "90.00")):
        rows.append({"date": f"{month}-10", "amount": -D(spent), "category": "groceries"})
        rows.append({"date": f"{month}-11", "amount": D("-30.00"), "category": "food:bakery"})
    rows.append({"date": "2026-06-12", "amount": D("10.00"), "category": "food:bakery"})
    tx = frame(rows)
    tree = budget_tree.frame(budget_tree.DEFAULT_TREE)
    plans = pd.DataFrame(
        [("groceries", "", "EUR", D("200.00"), True), ("food", "", "EUR", D("50.00"), False),
         ("food", "2026-06", "EUR", D("40.00"), False)],
        columns=["category", "month", "currency", "amount", "envelope"],
    )  # fmt: skip

    table = budget.budget_vs_actual(
        tx, plans, tree, ["2026-04", "2026-05", "2026-06"], today=dt.date(2026, 6, 15)
    )

    groceries = table[table["category"] == "groceries"].set_index("month")
    assert list(groceries["actual"]) == [D("250.00"), D("180.00"), D("90.00")]
    assert list(groceries["carried_in"]) == [D("0.00"), D("-50.00"), D("-30.00")]
    assert list(groceries["available"]) == [D("-50.00"), D("-30.00"), D("80.00")]
    assert groceries.loc["2026-06", "prorated"] == D("100.00")  # 15 of 30 days
    assert groceries.loc["2026-06", "elapsed"] == 0.5
    assert groceries.loc["2026-06", "over"]  # 100 due less 30 overspent before < 90 spent
    food = table[table["category"] == "food"].set_index("month")
    assert food.loc["2026-06", "budget"] == D("40.00")  # the month's own budget wins
    assert food.loc["2026-06", "actual"] == D("20.00")  # the bakery, net of a refund
    assert food.loc["2026-05", "carried_in"] == D("0.00")  # not an envelope
    assert food.loc["2026-06", "prorated"] == D("20.00")


def test_forecast_lays_recurring_payments_ahead_and_finds_the_lowest_point() -> None:
    rows = monthly_rows(dt.date(2026, 1, 28), 6, label="SALARY", amount=D("2000.00"),
                        category="income:salary")  # fmt: skip
    rows += monthly_rows(dt.date(2026, 1, 5), 6, label="RENT", amount=D("-900.00"))
    rows += [{"date": "2026-06-29", "label": "SHOP", "amount": D("-90.00")}]
    tx = frame(rows)
    accounts = pd.DataFrame(
        [{"id": "a", "name": "Current", "currency": "EUR", "balance": D("500.00"),
          "balance_date": pd.Timestamp("2026-06-30")}]
    )  # fmt: skip

    daily = budget.forecast(tx, accounts, days=45)
    low = budget.lowest_point(daily).iloc[0]

    assert len(daily) == 45 and daily["date"].iloc[0] == pd.Timestamp("2026-07-01")
    everyday = D("1.00")  # 90.00 of unexplained spending over 90 days
    assert daily.set_index("date").loc["2026-07-05", "events"] == "RENT (Uncategorised)"
    expected_low = D("500.00") - 4 * everyday - D("900.00") - 23 * everyday
    assert (low["date"], low["balance"]) == (pd.Timestamp("2026-07-27"), expected_low)
    last = expected_low + D("2000.00") - D("900.00") - 18 * everyday  # pay day, then rent
    assert daily["balance"].iloc[-1] == last
    with pytest.raises(BadInput, match="between 1 and 366"):
        budget.forecast(tx, accounts, days=400)


def test_net_worth_ends_on_the_banks_balances_and_savings_rate_is_exact(demo: Path) -> None:
    tx = budget.transactions()
    accounts = budget.accounts()

    worth = budget.net_worth(tx, accounts)
    months = budget.monthly(tx).set_index("month")

    balances = sql(demo, 'SELECT sum(balance) FROM "bank.accounts"')[0][0]
    assert worth["net_worth"].iloc[-1] == D(balances).scaleb(-2)
    assert worth["month"].iloc[-1] == "2026-06" and set(worth["accounts"]) == {2}
    # A month back: today's balances less the booked rows since.
    since = sql(demo, 'SELECT sum(amount) FROM "bank.transactions" '
                "WHERE date >= '2026-06-01' AND pending = 0")[0][0]  # fmt: skip
    assert worth.set_index("month").loc["2026-05", "net_worth"] == D(balances - since).scaleb(-2)
    income, spent = (
        D(v).scaleb(-2)
        for v in sql(
            demo,
            "SELECT sum(CASE WHEN category LIKE 'income%' THEN amount END), "
            "-sum(CASE WHEN category NOT LIKE 'income%' THEN amount END) "
            'FROM "bank.transactions" WHERE date LIKE \'2026-05-%\' '
            "AND category NOT LIKE 'transfer%'",
        )[0]
    )  # fmt: skip
    may = months.loc["2026-05"]
    assert (may["income"], may["spending"], may["savings"]) == (income, spent, income - spent)
    assert may["rate"] == ((income - spent) / income).quantize(D("0.0001"))


def test_currencies_are_never_added_together(home: Path) -> None:
    cozy.import_files(
        [
            FIXTURES / "budget" / "checking_eur.ofx",
            FIXTURES / "budget" / "current_gbp_barclays.csv",
        ],
        grant=True,
    )
    tx = budget.transactions()

    with pytest.raises(BadInput, match="amounts in EUR, GBP are never added together"):
        budget.one_currency(tx, None)
    spent = budget.spending(tx)
    gbp = sql(home, 'SELECT -sum(amount) FROM "bank.transactions" WHERE currency = \'GBP\' '
              "AND amount < 0")[0][0]  # fmt: skip
    assert budget.total(spent[spent["currency"] == "GBP"]["amount"]) == D(gbp).scaleb(-2)
    assert set(budget.net_worth(tx, budget.accounts())["currency"]) == {"EUR", "GBP"}
    book = budget.book()
    assert book.currency == "EUR" and "also hold GBP" in (book.note or "")
    assert set(book.transactions["currency"]) == {"EUR"}
    assert set(budget.book(currency="GBP").transactions["currency"]) == {"GBP"}


def test_the_model_on_a_held_out_part_of_the_demo_bank(demo: Path) -> None:
    tx = budget.transactions(learn=False)
    decided = categorisation.decide(tx, budget.categories())

    result = budget.evaluate(decided, holdout=0.2)

    assert result["test_rows"] == pytest.approx(0.2 * len(tx), abs=1)
    assert result["accuracy"] >= 0.95, result
    assert result["classes"] >= 25
    # Payees it never saw: mostly unsure (so it stays out of the way), right when it is sure.
    unseen = budget.evaluate(decided, holdout=0.2, split="text")
    assert unseen["confident_share"] < 0.5
    assert unseen["confident_accuracy"] in (None, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-500_000, 500_000), st.sampled_from(["EUR", "GBP"]),
                  st.integers(0, 90)),
        min_size=1, max_size=40,
    )
)  # fmt: skip
def test_every_total_is_the_exact_sum_of_cents_per_currency(
    rows: list[tuple[int, str, int]],
) -> None:
    tx = frame([
        {"date": dt.date(2026, 1, 1) + dt.timedelta(days=day), "amount": D(cents).scaleb(-2),
         "currency": currency, "category": "groceries", "account_id": currency}
        for cents, currency, day in rows
    ])  # fmt: skip

    spent = budget.spending(tx).set_index("currency")["amount"]
    months = budget.monthly(tx)

    for currency in {c for _, c, _ in rows}:
        cents = [c for c, cur, _ in rows if cur == currency]  # groceries: money in is a refund
        assert spent[currency] == -D(sum(cents)).scaleb(-2)
        mine = months[months["currency"] == currency]
        assert budget.total(mine["spending"]) == -D(sum(cents)).scaleb(-2)
