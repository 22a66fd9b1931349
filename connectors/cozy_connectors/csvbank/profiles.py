"""Bank profiles: how one bank lays out its CSV export, as plain data.

A profile maps the bank's column names to transaction fields and pins what cannot be seen from
a single file (date order, decimal style, currency). Built-in profiles and the ones a user saves
with ``--option save_profile=NAME`` share one JSON shape, so a saved profile is a file the user
can read, edit and share, and the importer treats both the same way.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cozy_connectors.csvbank.values import order_of_format
from cozy_kernel.errors import BadInput
from cozy_kernel.workspace import Workspace, default_home

FIELDS = (
    "date",
    "value_date",
    "amount",
    "debit",
    "credit",
    "direction",
    "fee",
    "label",
    "counterparty",
    "currency",
    "balance",
    "state",
    "id",
    "method",
    "category",
    "account",
)
MULTI = frozenset({"label"})
_SLUG = re.compile(r"[^a-z0-9]+")
_KEY = re.compile(r"[^0-9a-z]+")
_KEYS = frozenset(
    {
        "name",
        "bank",
        "country",
        "columns",
        "require",
        "date_format",
        "decimal",
        "delimiter",
        "encoding",
        "currency",
        "account_type",
        "pending",
        "skip",
        "skip_labels",
        "width",
        "literals",
        "invert_signs",
        "amount_includes_fee",
    }
)


def slug(text: str) -> str:
    """``"Crédit Agricole"`` → ``"credit-agricole"``: ids and file names without surprises."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SLUG.sub("-", bare.casefold()).strip("-")


def key(text: str) -> str:
    """A column name as compared: no accents, case, punctuation or spacing differences."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_KEY.sub(" ", bare.casefold()).split())


@dataclass(frozen=True)
class Profile:
    """One bank's export layout; ``positions`` replaces ``columns`` for header-less files."""

    name: str
    bank: str
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    positions: Mapping[str, int] = field(default_factory=dict)
    country: str | None = None
    require: tuple[str, ...] = ()
    date_format: str | None = None
    decimal: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    currency: str | None = None
    account_type: str | None = None
    pending: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    skip_labels: tuple[str, ...] = ()
    width: int | None = None
    literals: Mapping[int, str] = field(default_factory=dict)
    # Card issuers that list purchases as positive amounts: money out is the opposite sign.
    invert_signs: bool = False
    # Whether the amount column already counts the fee column (True), or the account moves
    # by amount minus fee (False); None when the bank's layout does not say.
    amount_includes_fee: bool | None = None
    origin: str = "built-in"

    @property
    def headerless(self) -> bool:
        return bool(self.positions)

    def signature(self) -> frozenset[str]:
        """The column names (compared as keys) whose presence recognises this bank."""
        names = [n for names in self.columns.values() for n in names]
        return frozenset(key(n) for n in (*names, *self.require))

    @classmethod
    def from_json(cls, data: object, origin: str) -> Profile:
        """Validate a profile's JSON, naming the file and the entry that is wrong."""
        if not isinstance(data, dict):
            raise BadInput(f"{origin}: a profile is a JSON object")
        extra = set(data) - _KEYS
        if extra:
            raise BadInput(f"{origin}: unknown profile entry {sorted(extra)[0]!r}")
        name = _text(data, "name", origin)
        if name is None or slug(name) != name:
            raise BadInput(f"{origin}: 'name' must be a lower-case slug like 'my-bank'")
        columns, positions = _columns(data.get("columns"), origin)
        width = data.get("width")
        if width is not None and (not isinstance(width, int) or isinstance(width, bool)):
            raise BadInput(f"{origin}: 'width' is a number of columns")
        if positions and (width is None or max(positions.values()) > width):
            raise BadInput(f"{origin}: a header-less profile needs 'width' (its column count)")
        literals = data.get("literals", {})
        if not isinstance(literals, dict) or not all(
            isinstance(v, str) and k.isdigit() for k, v in literals.items()
        ):
            raise BadInput(f"{origin}: 'literals' maps column numbers to fixed text")
        decimal = _text(data, "decimal", origin)
        if decimal not in (None, ",", "."):
            raise BadInput(f"{origin}: 'decimal' is ',' or '.'")
        delimiter = _text(data, "delimiter", origin)
        if delimiter is not None and len(delimiter) != 1:
            raise BadInput(f"{origin}: 'delimiter' is one character")
        date_format = _text(data, "date_format", origin)
        if date_format is not None:
            try:
                order_of_format(date_format)
            except BadInput as exc:
                raise BadInput(f"{origin}: {exc}") from None
        return cls(
            name=name,
            bank=_text(data, "bank", origin) or name,
            columns=columns,
            positions=positions,
            country=_text(data, "country", origin),
            require=_texts(data, "require", origin),
            date_format=date_format,
            decimal=decimal,
            delimiter=delimiter,
            encoding=_text(data, "encoding", origin),
            currency=_text(data, "currency", origin),
            account_type=_text(data, "account_type", origin),
            pending=_texts(data, "pending", origin),
            skip=_texts(data, "skip", origin),
            skip_labels=_texts(data, "skip_labels", origin),
            width=width,
            literals={int(k): v for k, v in literals.items()},
            invert_signs=_flag(data, "invert_signs", origin) or False,
            amount_includes_fee=_flag(data, "amount_includes_fee", origin),
            origin=origin,
        )

    def to_json(self) -> dict[str, Any]:
        """The profile as saved: only what is set, in the documented shape."""
        columns: dict[str, Any] = {
            f: list(names) if len(names) > 1 else names[0] for f, names in self.columns.items()
        }
        columns |= dict(self.positions)
        data: dict[str, Any] = {"name": self.name, "bank": self.bank, "columns": columns}
        optional = {
            "country": self.country,
            "require": list(self.require),
            "date_format": self.date_format,
            "decimal": self.decimal,
            "delimiter": self.delimiter,
            "encoding": self.encoding,
            "currency": self.currency,
            "account_type": self.account_type,
            "pending": list(self.pending),
            "skip": list(self.skip),
            "skip_labels": list(self.skip_labels),
            "width": self.width,
            "literals": {str(k): v for k, v in self.literals.items()},
            "invert_signs": self.invert_signs,
        }
        data |= {k: v for k, v in optional.items() if v}
        if self.amount_includes_fee is not None:
            data["amount_includes_fee"] = self.amount_includes_fee
        return data


def _text(data: Mapping[str, Any], name: str, origin: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise BadInput(f"{origin}: {name!r} must be text")
    return value


def _flag(data: Mapping[str, Any], name: str, origin: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise BadInput(f"{origin}: {name!r} must be true or false")
    return value


def _texts(data: Mapping[str, Any], name: str, origin: str) -> tuple[str, ...]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"{origin}: {name!r} must be a list of texts")
    return tuple(value)


def _columns(raw: object, origin: str) -> tuple[dict[str, tuple[str, ...]], dict[str, int]]:
    if not isinstance(raw, dict) or not raw:
        raise BadInput(f"{origin}: 'columns' maps fields to column names")
    columns: dict[str, tuple[str, ...]] = {}
    positions: dict[str, int] = {}
    for name, value in raw.items():
        if name not in FIELDS:
            raise BadInput(f"{origin}: unknown field {name!r} (known: {', '.join(FIELDS)})")
        if isinstance(value, bool):
            raise BadInput(f"{origin}: column of {name!r} must be a name or a number")
        if isinstance(value, int):
            if value < 1:
                raise BadInput(f"{origin}: column numbers start at 1")
            positions[name] = value
        elif isinstance(value, str):
            columns[name] = (value,)
        elif (
            isinstance(value, list)
            and value
            and name in MULTI
            and all(isinstance(v, str) for v in value)
        ):
            columns[name] = tuple(value)
        else:
            raise BadInput(f"{origin}: column of {name!r} must be a name or a number")
    if columns and positions:
        raise BadInput(f"{origin}: give columns either all by name or all by number")
    if "date" not in columns and "date" not in positions:
        raise BadInput(f"{origin}: 'columns' must name the date column")
    money = {"amount", "debit", "credit"}
    if not money & (set(columns) | set(positions)):
        raise BadInput(f"{origin}: 'columns' must name an amount (or debit/credit) column")
    return columns, positions


def folder(home: Path | None = None) -> Path:
    """``<workspace>/profiles/csv``: where saved profiles live, next to the user's data."""
    root = home if home is not None else default_home().expanduser().absolute()
    return root / "profiles" / "csv"


def saved(strict: bool, home: Path | None = None) -> Iterator[Profile]:
    """The user's saved profiles; broken ones raise when ``strict``, else are left out.

    Reading must not create the workspace (``identify`` runs on every import), so this looks
    at the resolved path instead of opening the workspace.
    """
    where = folder(home)
    if not where.is_dir():
        return
    for path in sorted(where.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            yield Profile.from_json(data, str(path))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            if strict:
                raise BadInput(f"{path}: cannot read this profile ({exc})") from None
        except BadInput:
            if strict:
                raise


def save(profile: Profile, home: Path | None = None) -> Path:
    """Write a profile into the import's workspace, atomically, private like the rest."""
    where = folder(Workspace.open(home).root)
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = where / f"{profile.name}.json"
    tmp = target.with_name(f".{target.name}.tmp")
    text = json.dumps(profile.to_json(), ensure_ascii=False, indent=2) + "\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    tmp.replace(target)
    return target
