"""Declared schemas of the data a workspace holds.

A collection names its fields, their kinds and its key, so that the store can create its table,
the sync runner can validate what connectors produce, and frames can give pandas real dtypes.
Money is a ``money`` field: Python ``Decimal`` in records, integer minor units (cents) in SQLite,
``decimal128`` in Arrow and pandas — never a float anywhere on the way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from cozy_kernel.errors import BadInput, unknown

FieldKind = Literal["text", "category", "date", "timestamp", "money", "bool", "int"]
KINDS: tuple[FieldKind, ...] = ("text", "category", "date", "timestamp", "money", "bool", "int")
SQL_TYPES: dict[FieldKind, str] = {
    "text": "TEXT",
    "category": "TEXT",
    "date": "TEXT",
    "timestamp": "TEXT",
    "money": "INTEGER",
    "bool": "INTEGER",
    "int": "INTEGER",
}
MONEY_SCALE = 2
MONEY_PRECISION = 18
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")
PROVENANCE = ("connector", "run_id")

Encoder = Callable[[Any], Any]


@dataclass(frozen=True)
class Field:
    """One typed column; ``nullable`` fields may be missing from a record."""

    name: str
    kind: FieldKind
    nullable: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not _FIELD.match(self.name):
            raise BadInput(f"field name {self.name!r} must be lower_snake_case")
        if self.kind not in KINDS:
            raise BadInput(f"field {self.name!r}: kind {self.kind!r} is not one of {KINDS}")


@dataclass(frozen=True)
class Collection:
    """A declared schema: dotted name (``bank.transactions``), fields and the key field."""

    name: str
    fields: tuple[Field, ...]
    key: str = "id"
    description: str = ""
    order_by: tuple[str, ...] = ("id",)
    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise BadInput(f"collection name {self.name!r} must look like 'domain.things'")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise BadInput(f"collection {self.name!r} declares a field twice")
        clash = set(names) & set(PROVENANCE)
        if clash:
            raise BadInput(f"collection {self.name!r}: {sorted(clash)} are provenance columns")
        if self.key not in names:
            raise BadInput(f"collection {self.name!r}: key {self.key!r} is not a field")
        # Frames sort by it and the report reads its dates: a name that is no field breaks both.
        unordered = [n for n in self.order_by if n not in names]
        if unordered:
            raise BadInput(f"collection {self.name!r}: order_by {unordered[0]!r} is not a field")
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})

    @property
    def table(self) -> str:
        """SQLite table name, quoted because collection names contain dots."""
        return f'"{self.name}"'

    @property
    def columns(self) -> tuple[str, ...]:
        """Stored columns in order: declared fields, then provenance."""
        return (*(f.name for f in self.fields), *PROVENANCE)

    def field(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise unknown(f"field of {self.name}", name, self._by_name) from None

    def encoder(self) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
        """Return a function turning a record's data into a row of SQL values.

        It raises ``ValueError`` naming the field, which the runner reports as a rejected
        record; unknown fields are refused rather than silently dropped.
        """
        encoders = [(f.name, _ENCODERS[f.kind], f.nullable) for f in self.fields]
        allowed = frozenset(self._by_name)

        def encode(data: Mapping[str, Any]) -> tuple[Any, ...]:
            row: list[Any] = []
            for name, enc, nullable in encoders:
                value = data.get(name)
                if value is None:
                    if not nullable:
                        raise ValueError(f"field {name!r} is required")
                    row.append(None)
                    continue
                try:
                    row.append(enc(value))
                except (TypeError, ValueError, InvalidOperation) as exc:
                    raise ValueError(f"field {name!r}: {exc}") from None
            if len(data) > len(encoders) or not allowed.issuperset(data):
                extra = sorted(set(data) - allowed)
                if extra:
                    raise ValueError(f"unknown field {extra[0]!r}")
            return tuple(row)

        return encode


def encode_field(f: Field, value: Any) -> Any:
    """One value as the store keeps it, or ``ValueError`` naming the field."""
    if value is None:
        if not f.nullable:
            raise ValueError(f"field {f.name!r} is required")
        return None
    try:
        return _ENCODERS[f.kind](value)
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise ValueError(f"field {f.name!r}: {exc}") from None


def parse_text(f: Field, text: str) -> Any:
    """A value typed on a command line, read as the field's kind ("" means empty)."""
    if text == "":
        return None
    try:
        if f.kind == "date":
            return dt.date.fromisoformat(text)
        if f.kind == "timestamp":
            return dt.datetime.fromisoformat(text)
        if f.kind == "money":
            return Decimal(text)
        if f.kind == "int":
            return int(text)
        if f.kind == "bool":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
    except (ValueError, InvalidOperation):
        raise BadInput(f"field {f.name!r}: {text!r} is not a {f.kind}") from None
    return text


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _date(value: Any) -> str:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise TypeError(f"expected a calendar date, got {type(value).__name__}")
    return value.isoformat()


def _timestamp(value: Any) -> str:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(dt.UTC).isoformat()


def money_to_minor(value: Any) -> int:
    """Exact conversion of a Decimal (or int) amount to integer minor units."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"expected a Decimal amount, got {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"amount {value} is not finite")
    if amount.quantize(_QUANTUM) != amount:
        raise ValueError(f"amount {value} has more than {MONEY_SCALE} decimal places")
    minor = int(amount.scaleb(MONEY_SCALE))
    if abs(minor) >= 10**MONEY_PRECISION:
        raise ValueError(f"amount {value} is out of range")
    return minor


def minor_to_money(minor: int) -> Decimal:
    return Decimal(minor).scaleb(-MONEY_SCALE)


def _bool(value: Any) -> int:
    if not isinstance(value, bool):
        raise TypeError(f"expected true/false, got {type(value).__name__}")
    return int(value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


_ENCODERS: dict[FieldKind, Encoder] = {
    "text": _text,
    "category": _text,
    "date": _date,
    "timestamp": _timestamp,
    "money": money_to_minor,
    "bool": _bool,
    "int": _int,
}


BANK_ACCOUNTS = Collection(
    name="bank.accounts",
    description="Bank accounts, with the balance the bank reported",
    fields=(
        Field("id", "text", description="stable account id, unique across connectors"),
        Field("name", "text", description="the account's name as the user knows it"),
        Field("type", "category", nullable=True, description="checking, savings, card, loan"),
        Field("iban", "text", nullable=True),
        Field("currency", "category", description="ISO 4217 code"),
        Field("balance", "money", nullable=True, description="booked balance on balance_date"),
        Field("balance_date", "date", nullable=True),
        Field("institution", "text", nullable=True),
    ),
    order_by=("id",),
)

BANK_TRANSACTIONS = Collection(
    name="bank.transactions",
    description="Money in (positive) and out (negative) of bank accounts",
    fields=(
        Field("id", "text", description="stable transaction id, unique across connectors"),
        Field("account_id", "category", description="bank.accounts id"),
        Field("date", "date", description="booking date, the bank's calendar date"),
        Field("value_date", "date", nullable=True),
        Field("amount", "money", description="signed: negative is money out"),
        Field("currency", "category"),
        Field("label", "text", description="the bank's wording"),
        Field("counterparty", "text", nullable=True),
        Field("category", "category", nullable=True),
        Field("method", "category", nullable=True, description="card, transfer, direct debit…"),
        Field("pending", "bool", description="not yet booked by the bank"),
        Field("notes", "text", nullable=True, description="your own notes (cozy edit)"),
        Field(
            "fee",
            "money",
            nullable=True,
            description="a fee the bank listed beside the amount, as a positive charge",
        ),
    ),
    order_by=("date", "id"),
)

BUILTIN: dict[str, Collection] = {c.name: c for c in (BANK_ACCOUNTS, BANK_TRANSACTIONS)}
