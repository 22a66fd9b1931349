"""Finding the table in a bank export: its delimiter, header row and columns.

Exports start with whatever the bank likes (account number, period, balance lines) and put
the header somewhere below, so the header is found by what it says, not where it is: every
delimiter candidate splits the first lines, and the line whose cells name a bank profile's
columns, or a date and an amount, wins. ``csv.Sniffer`` guesses from character frequencies
and is fooled by decimal commas and preambles; matching known column names is not.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cozy_connectors.csvbank.profiles import Profile, key
from cozy_connectors.csvbank.values import AmountReader, DateReader, format_of, order_of_format
from cozy_connectors.csvbank.vocabulary import ALIASES, LABEL_STEMS

DELIMITERS = (";", ",", "\t", "|")
SCAN_LINES = 60
_CURRENCY_WORDS = {
    "eur": "EUR", "euro": "EUR", "euros": "EUR", "gbp": "GBP", "usd": "USD", "chf": "CHF"
}  # fmt: skip

MONEY = ("amount", "debit", "credit")


@dataclass(frozen=True)
class Layout:
    """Where the data is: delimiter, first data line (0-based) and field → column indices."""

    delimiter: str
    start: int
    columns: Mapping[str, tuple[int, ...]]
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    header: tuple[str, ...] = ()
    profile: Profile | None = None

    @property
    def width(self) -> int:
        """Cells a row needs so that every mapped column exists."""
        return 1 + max(i for indices in self.columns.values() for i in indices)


def lines_of(text: str) -> str:
    """One newline convention, so line numbers match what an editor shows."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def split(line: str, delimiter: str) -> list[str]:
    """One line's cells; a line ``csv`` refuses (a NUL character) has none."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def column_key(name: str) -> str:
    """A header cell as matched against aliases: ``Débit euros`` → ``debit``."""
    words = key(name).split()
    if len(words) > 1 and words[-1] in _CURRENCY_WORDS:
        words.pop()
        if len(words) > 1 and words[-1] in {"en", "in"}:
            words.pop()
    return " ".join(words)


def header_currency(names: Iterable[str]) -> str | None:
    """The currency a money column's header names: "Bedrag (EUR)", "Débit euros"."""
    for name in names:
        words = key(name).split()
        if len(words) > 1 and words[-1] in _CURRENCY_WORDS:
            return _CURRENCY_WORDS[words[-1]]
    return None


def generic(cells: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Map header cells to fields by common names in English, French, Spanish and German."""
    keys = [column_key(c) for c in cells]
    used: set[int] = set()
    found: dict[str, tuple[int, ...]] = {}
    for name, aliases in ALIASES.items():
        for alias in aliases:
            index = next((i for i, k in enumerate(keys) if k == alias and i not in used), None)
            if index is not None:
                found[name] = (index,)
                used.add(index)
                break
    if "amount" in found:
        found.pop("debit", None)
        found.pop("credit", None)
    if "date" not in found or not any(m in found for m in MONEY):
        return {}
    if "label" not in found:
        index = next(
            (i for i, k in enumerate(keys) if i not in used and LABEL_STEMS.search(k)), None
        )
        if index is not None:
            found["label"] = (index,)
    return found


def by_names(
    cells: Sequence[str], wanted: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[int, ...]] | None:
    """Indices of the named columns, or ``None`` if one is missing from ``cells``."""
    keys = [key(c) for c in cells]
    found: dict[str, tuple[int, ...]] = {}
    for name, names in wanted.items():
        indices = []
        for column in names:
            if key(column) not in keys:
                return None
            indices.append(keys.index(key(column)))
        found[name] = tuple(indices)
    return found


def _score_profile(profile: Profile, cells: Sequence[str]) -> int:
    keys = {key(c) for c in cells}
    signature = profile.signature()
    return len(signature) if signature <= keys else 0


def find(
    lines: Sequence[str],
    profiles: Iterable[Profile],
    mapping: Mapping[str, tuple[str, ...]] | None = None,
    positions: Mapping[str, int] | None = None,
    delimiter: str | None = None,
) -> Layout | None:
    """The layout of a file from its first lines, or ``None`` if it is no bank CSV.

    A profile's header beats a generic one; among profiles the one naming most columns wins,
    so a bank adding a column to its export does not lose its profile to a plainer one.
    """
    profiles = list(profiles)
    if positions:
        return _positional(lines, positions, delimiter)
    best: tuple[int, Layout] | None = None
    for sep in (delimiter,) if delimiter else DELIMITERS:
        for index, line in enumerate(lines[:SCAN_LINES]):
            if sep not in line:
                continue
            cells = split(line, sep)
            found = _header(cells, sep, index, profiles, mapping)
            if found is not None:
                if best is None or found[0] > best[0]:
                    best = found
                break
    if best is not None:
        return best[1]
    if mapping:
        return None
    return _headerless(lines, profiles)


def _header(
    cells: list[str],
    sep: str,
    index: int,
    profiles: Sequence[Profile],
    mapping: Mapping[str, tuple[str, ...]] | None,
) -> tuple[int, Layout] | None:
    if len(cells) < 2:
        return None
    header = tuple(cells)
    if mapping:
        columns = by_names(cells, mapping)
        if columns is None:
            return None
        names = dict(mapping)
        return 10_000, Layout(sep, index + 1, columns, names, header)
    scored = [
        (_score_profile(p, cells), p)
        for p in profiles
        if not p.headerless and (p.delimiter is None or p.delimiter == sep)
    ]
    score, profile = max(scored, key=lambda s: s[0], default=(0, None))
    if profile is not None and score:
        columns = by_names(cells, profile.columns)
        if columns is not None:
            return 1_000 + score, Layout(sep, index + 1, columns, profile.columns, header, profile)
    columns = generic(cells)
    if not columns:
        return None
    names = {f: tuple(cells[i] for i in indices) for f, indices in columns.items()}
    return len(columns), Layout(sep, index + 1, columns, names, header)


def _data_lines(lines: Sequence[str], count: int) -> list[str]:
    return [line for line in lines[:SCAN_LINES] if line.strip()][:count]


def _headerless(lines: Sequence[str], profiles: Sequence[Profile]) -> Layout | None:
    """A header-less bank export: every first line has the profile's shape."""
    sample = _data_lines(lines, 5)
    if not sample:
        return None
    for profile in profiles:
        if not profile.headerless or profile.width is None:
            continue
        sep = profile.delimiter or ","
        rows = [split(line, sep) for line in sample]
        if all(_fits(profile, row) for row in rows):
            columns = {f: (p - 1,) for f, p in profile.positions.items()}
            return Layout(sep, lines.index(sample[0]), columns, profile=profile)
    return None


def _fits(profile: Profile, row: list[str]) -> bool:
    width = profile.width or 0
    if len(row) != width and not (len(row) == width + 1 and not row[-1].strip()):
        return False
    if any(row[i - 1].strip() != text for i, text in profile.literals.items() if i <= len(row)):
        return False
    fmt = profile.date_format or "%d/%m/%Y"
    order = order_of_format(fmt)
    raw_date = row[profile.positions["date"] - 1]
    try:
        DateReader(order)(raw_date)
        if format_of(order, raw_date.strip().split()[0] if "%b" not in fmt else raw_date) != fmt:
            return False
        amount = profile.positions.get("amount")
        if amount is not None:
            AmountReader(profile.decimal or ".")(row[amount - 1])
    except (ValueError, IndexError):
        return False
    return True


def _positional(
    lines: Sequence[str], positions: Mapping[str, int], delimiter: str | None
) -> Layout | None:
    """A header-less file mapped by the user's column numbers."""
    sample = _data_lines(lines, 5)
    need = max(positions.values())
    for sep in (delimiter,) if delimiter else DELIMITERS:
        if sample and all(len(split(line, sep)) >= need for line in sample):
            columns = {f: (p - 1,) for f, p in positions.items()}
            return Layout(sep, lines.index(sample[0]), columns)
    return None
