"""``demo-bank``: a convincing, deterministic household bank to try everything on.

Each day's transactions come from a random generator seeded by (seed, day), so a day never
changes once generated and syncing again finds the same rows; card payments of the last three
days are pending and get booked (same id) by a later sync. Balances equal the opening balance
plus every booked transaction of the window, so budgets and balances agree.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cozy_connectors.demo_bank.merchants import BILLS, MERCHANTS, Merchant, card_label
from cozy_kernel.connector import Checkpoint, Connector, Health, Item, Manifest, Record, Setting
from cozy_kernel.errors import BadInput

CHECKING = "demo-checking"
SAVINGS = "demo-savings"
OPENING = {CHECKING: 185_000, SAVINGS: 800_000}
PENDING_DAYS = 3
OVERLAP_DAYS = 7
CURRENCY = "EUR"


def _iban(country: str, bban: str) -> str:
    """An IBAN with valid ISO 13616 check digits, so validators accept the demo's accounts."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


@dataclass(frozen=True, slots=True)
class Event:
    account: str
    day: dt.date
    cents: int
    label: str
    counterparty: str | None
    category: str
    method: str
    value_day: dt.date | None = None
    pending: bool = False


def _shift_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def _last_business_day(year: int, month: int) -> dt.date:
    day = _shift_months(dt.date(year, month, 1), -1) - dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


class _Generator:
    """Builds every event of the window; fixed events first, so card payments can fill to N."""

    def __init__(self, seed: int, start: dt.date, end: dt.date, transactions: int | None) -> None:
        self.seed = seed
        self.start = start
        self.end = end
        self.days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        self.transactions = transactions
        self.weights = [m.weight for m in MERCHANTS]

    def rng(self, day: dt.date, stream: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + day.toordinal() * 7 + stream)

    def fixed(self, day: dt.date) -> list[Event]:
        """Salary, bills, subscriptions, transfers, refunds and cash: the month's skeleton."""
        events: list[Event] = []
        rng = self.rng(day, 1)
        if day == _last_business_day(day.year, day.month):
            raise_steps = day.year - 2020
            cents = int(Decimal(285_000) * Decimal("1.02") ** raise_steps)
            month = day.strftime("%m/%Y")
            events.append(
                Event(
                    CHECKING,
                    day,
                    cents,
                    f"VIR SEPA ACME SAS SALAIRE {month}",
                    "ACME SAS",
                    "income:salary",
                    "transfer",
                )
            )
            if day.month == 12:
                events.append(
                    Event(
                        CHECKING,
                        day,
                        cents // 2,
                        f"VIR SEPA ACME SAS PRIME {day.year}",
                        "ACME SAS",
                        "income:bonus",
                        "transfer",
                    )
                )
        for bill in BILLS:
            if day.day != bill.day or (bill.months is not None and day.month not in bill.months):
                continue
            cents = bill.cents
            if cents == 0:  # energy follows the seasons
                winter = day.month in (11, 12, 1, 2, 3)
                cents = rng.randint(7800, 11900) if winter else rng.randint(3900, 6200)
            events.append(
                Event(
                    CHECKING, day, -cents, bill.label, bill.counterparty, bill.category, bill.method
                )
            )
        if day.day == 1:
            events.append(
                Event(
                    CHECKING,
                    day,
                    -30_000,
                    "VIR PERMANENT VERS LIVRET A",
                    "LIVRET A",
                    "transfer:savings",
                    "transfer",
                )
            )
            events.append(
                Event(
                    SAVINGS,
                    day,
                    30_000,
                    "VIR PERMANENT DEPUIS COMPTE COURANT",
                    "COMPTE COURANT",
                    "transfer:savings",
                    "transfer",
                )
            )
        if day.month == 7 and day.day == 3:
            events.append(
                Event(
                    SAVINGS,
                    day,
                    -120_000,
                    "VIR VERS COMPTE COURANT VACANCES",
                    "COMPTE COURANT",
                    "transfer:savings",
                    "transfer",
                )
            )
            events.append(
                Event(
                    CHECKING,
                    day,
                    120_000,
                    "VIR DEPUIS LIVRET A VACANCES",
                    "LIVRET A",
                    "transfer:savings",
                    "transfer",
                )
            )
        if day.month == 12 and day.day == 31:
            events.append(
                Event(
                    SAVINGS,
                    day,
                    rng.randint(21_000, 29_000),
                    f"INTERETS ANNUELS {day.year}",
                    "DEMO BANK",
                    "income:interest",
                    "interest",
                )
            )
        if rng.random() < 1 / 30:
            merchant = rng.choice((MERCHANTS[26], MERCHANTS[27], MERCHANTS[14]))
            cents = rng.randint(merchant.low_cents, merchant.high_cents)
            events.append(
                Event(
                    CHECKING,
                    day,
                    cents,
                    f"REMBOURSEMENT CB {merchant.name}",
                    merchant.name,
                    "refund",
                    "card",
                )
            )
        if rng.random() < 1 / 12:
            cents = rng.choice((2000, 4000, 6000, 10000))
            events.append(
                Event(
                    CHECKING,
                    day,
                    -cents,
                    f"RETRAIT DAB {day:%d/%m} BNP PARIBAS PARIS 11",
                    None,
                    "cash",
                    "atm",
                )
            )
        return events

    def card_counts(self, fixed_total: int) -> list[int]:
        if self.transactions is None:
            return [self.rng(day, 2).choice((0, 0, 1, 1, 1, 2, 2, 3)) for day in self.days]
        extra = self.transactions - fixed_total
        if extra < 0:
            raise BadInput(
                f"setting 'transactions': {self.transactions} is fewer than the "
                f"{fixed_total} recurring transactions of the window; use at least {fixed_total}"
            )
        n = len(self.days)
        return [extra * (i + 1) // n - extra * i // n for i in range(n)]

    def cards(self, day: dt.date, count: int) -> Iterator[Event]:
        rng = self.rng(day, 3)
        picks: list[Merchant] = rng.choices(MERCHANTS, weights=self.weights, k=count)
        pending = (self.end - day).days < PENDING_DAYS
        for m in picks:
            value_day = day - dt.timedelta(days=rng.choice((0, 1, 1, 2)))
            cents = rng.randint(m.low_cents, m.high_cents)
            label = card_label(m, value_day.day, value_day.month)
            yield Event(
                CHECKING, day, -cents, label, m.name, m.category, "card", value_day, pending
            )

    def events(self) -> Iterator[list[Event]]:
        """Each day's events, in order."""
        fixed = [self.fixed(day) for day in self.days]
        counts = self.card_counts(sum(len(f) for f in fixed))
        for day, day_fixed, count in zip(self.days, fixed, counts, strict=True):
            yield day_fixed + list(self.cards(day, count))


class DemoBank(Connector):
    """Two accounts (checking, savings) of a household with a realistic two-year history."""

    manifest = Manifest(
        id="demo-bank",
        name="Demo Bank",
        version="1.0.0",
        kind="demo",
        writes=("bank.accounts", "bank.transactions"),
        categories=("banking",),
        personal_data=("pd:FinancialAccount", "pd:Transaction"),
        purposes=("Try Cozy Notebook on realistic data that belongs to nobody",),
        description={
            "en": "A made-up household's checking and savings accounts: try everything safely.",
            "es": "Las cuentas corriente y de ahorro de un hogar ficticio: pruébalo todo.",
            "fr": "Les comptes courant et épargne d'un foyer fictif : essayez tout sans risque.",
        },
        settings=(
            Setting("seed", "Random seed", "int", "42", "same seed, same history"),
            Setting("months", "Months of history", "int", "24"),
            Setting(
                "transactions",
                "Exact number of transactions",
                "int",
                None,
                "scale the history to this many rows, e.g. 1000000 for benchmarks",
            ),
            Setting(
                "until", "Last day of the history (YYYY-MM-DD)", "date", None, "defaults to today"
            ),
        ),
    )

    def _window(self) -> tuple[dt.date, dt.date]:
        until: dt.date | None = self.settings.get("until")
        end = dt.date.today() if until is None else until
        months = int(self.settings.get("months") or 24)
        if months < 1:
            raise BadInput("setting 'months' must be at least 1")
        return _shift_months(end, months), end

    def _generator(self) -> _Generator:
        start, end = self._window()
        transactions = self.settings.get("transactions")
        return _Generator(int(self.settings.get("seed") or 0), start, end, transactions)

    def estimate(self) -> int | None:
        return self.settings.get("transactions")

    def check(self) -> Health:
        start, end = self._window()
        return Health(ok=True, details={"from": start.isoformat(), "until": end.isoformat()})

    def fetch(self, since: str | None) -> Iterator[Item]:
        gen = self._generator()
        first = dt.date.min
        if since is not None:
            first = dt.date.fromisoformat(since) - dt.timedelta(days=OVERLAP_DAYS)
        balances = dict(OPENING)
        for events in gen.events():
            numbers = {CHECKING: 0, SAVINGS: 0}
            for e in events:
                numbers[e.account] += 1
                if not e.pending:
                    balances[e.account] += e.cents
                if e.day < first:
                    continue
                yield Record("bank.transactions", self._transaction(e, numbers[e.account]))
        for account, data in self._accounts(gen.end, balances).items():
            yield Record("bank.accounts", {"id": account, **data})
        yield Checkpoint(gen.end.isoformat())

    @staticmethod
    def _transaction(e: Event, number: int) -> dict[str, Any]:
        return {
            "id": f"{e.account}-{e.day:%Y%m%d}-{number:04d}",
            "account_id": e.account,
            "date": e.day,
            "value_date": e.value_day or e.day,
            "amount": Decimal(e.cents).scaleb(-2),
            "currency": CURRENCY,
            "label": e.label,
            "counterparty": e.counterparty,
            "category": e.category,
            "method": e.method,
            "pending": e.pending,
        }

    @staticmethod
    def _accounts(end: dt.date, balances: dict[str, int]) -> dict[str, dict[str, Any]]:
        common = {"currency": CURRENCY, "balance_date": end, "institution": "Demo Bank"}
        return {
            CHECKING: {
                "name": "Compte courant",
                "type": "checking",
                "iban": _iban("FR", "30004000031234567890143"),
                "balance": Decimal(balances[CHECKING]).scaleb(-2),
                **common,
            },
            SAVINGS: {
                "name": "Livret A",
                "type": "savings",
                "iban": _iban("FR", "30004000031234567891046"),
                "balance": Decimal(balances[SAVINGS]).scaleb(-2),
                **common,
            },
        }


def opening_balance(account: str) -> Decimal:
    """The balance an account had before the window's first day (for consistency checks)."""
    return Decimal(OPENING[account]).scaleb(-2)
