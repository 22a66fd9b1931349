"""Declared schemas: exact money, calendar dates, aware datetimes, no silent extra fields."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cozy_kernel.errors import BadInput
from cozy_kernel.schemas import BANK_TRANSACTIONS, Collection, Field, minor_to_money, money_to_minor


@pytest.mark.parametrize(
    ("amount", "minor"),
    [
        (Decimal("0.10"), 10),
        (Decimal("-1234.5"), -123450),
        (Decimal("0.1") + Decimal("0.2"), 30),
        (7, 700),
        (Decimal("99999999999999.99"), 9999999999999999),
    ],
)
def test_money_round_trips_exactly(amount: Decimal | int, minor: int) -> None:
    assert money_to_minor(amount) == minor
    assert minor_to_money(minor) == amount


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.1, "expected a Decimal amount, got float"),
        (Decimal("1.005"), "more than 2 decimal places"),
        (Decimal("NaN"), "not finite"),
        (Decimal("1e20"), "out of range"),
        (True, "got bool"),
        ("12.00", "got str"),
    ],
)
def test_inexact_or_foreign_amounts_are_refused(value: object, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        money_to_minor(value)


def test_encoder_names_the_bad_field() -> None:
    encode = BANK_TRANSACTIONS.encoder()
    good = {
        "id": "t1", "account_id": "a", "date": dt.date(2026, 3, 31), "amount": Decimal("-5.00"),
        "currency": "EUR", "label": "x", "pending": False,
    }  # fmt: skip

    assert encode(good)[2] == "2026-03-31"
    with pytest.raises(ValueError, match="field 'date': expected a calendar date, got datetime"):
        encode({**good, "date": dt.datetime(2026, 3, 31, 23, 30)})
    with pytest.raises(ValueError, match="field 'label' is required"):
        encode({**good, "label": None})
    with pytest.raises(ValueError, match="field 'pending': expected true/false, got int"):
        encode({**good, "pending": 0})
    with pytest.raises(ValueError, match="unknown field 'colour'"):
        encode({**good, "colour": "red"})


def test_timestamps_must_be_aware_and_are_stored_in_utc() -> None:
    coll = Collection("x.events", (Field("id", "text"), Field("at", "timestamp")))
    encode = coll.encoder()
    paris = dt.timezone(dt.timedelta(hours=2))

    assert encode({"id": "e", "at": dt.datetime(2026, 6, 1, 1, 0, tzinfo=paris)})[1] == (
        "2026-05-31T23:00:00+00:00"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        encode({"id": "e", "at": dt.datetime(2026, 6, 1)})


def test_declarations_are_checked() -> None:
    with pytest.raises(BadInput, match=r"must look like 'domain\.things'"):
        Collection("transactions", (Field("id", "text"),))
    with pytest.raises(BadInput, match="key 'uid' is not a field"):
        Collection("a.b", (Field("id", "text"),), key="uid")
    with pytest.raises(BadInput, match="provenance columns"):
        Collection("a.b", (Field("id", "text"), Field("connector", "text")))
    with pytest.raises(BadInput, match="kind 'float'"):
        Field("x", "float")  # type: ignore[arg-type]
