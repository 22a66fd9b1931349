"""Amounts and dates as banks write them in CSV exports, read exactly.

Hand-written on purpose: ``locale``-based parsing depends on the machine's locale rather than
the file's, ``babel`` and ``dateutil`` guess per value (so ``03/04`` flips meaning between rows)
and neither reads currency signs glued to amounts. Here the style is decided once per file
from the whole column, then every value is read in that one style, and what does not fit is
reported instead of guessed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal

from cozy_kernel.errors import BadInput

CENT = Decimal("0.01")
SYMBOLS = {"€": "EUR", "£": "GBP", "$": "USD", "US$": "USD", "¥": "JPY", "CHF": "CHF"}
MINUS = "-\u2212\u2013"
GROUPING = " \u00a0\u202f'\u2019"

# Currency and sign may sit on either side of the number, in any order: "-£12.30",
# "EUR -5,00", "1 234,56 €", "12.30-", "(12.30)".
_AMOUNT = re.compile(
    r"""\s*(?P<open>\()?\s*
    (?P<cur1>[A-Z]{3}|US\$|[€£$¥])?\s*
    (?P<sign1>[-+\u2212\u2013])?\s*
    (?P<cur2>US\$|[€£$¥])?\s*
    (?P<num>[0-9](?:[0-9.,'\u2019 \u00a0\u202f]*[0-9])?|[.,][0-9]+)
    \s*(?P<sign2>-)?\s*
    (?P<cur3>[A-Z]{3}|[€£$¥])?\s*
    (?P<sign3>-)?\s*(?P<close>\))?\s*""",
    re.VERBOSE,
)
_NUMERIC_DATE = re.compile(
    r"\s*([0-9]{1,4})([./:-]|\s)([0-9]{1,2})\2([0-9]{2,4})(?:(?:\s+|T).*)?", re.DOTALL
)
# Year first without separators, as databases and some banks write it: 20240605, with an
# optional time (20240605 134501, 20240605T134501, 202406051345).
_COMPACT_DATE = re.compile(r"\s*((?:19|20)[0-9]{2})([01][0-9])([0-3][0-9])(?:[ T]?[0-9]{4,6})?\s*")
_NAMED_DATE = re.compile(
    r"\s*([0-9]{1,2})[ .-]+([^\W\d_]{3,})\.?[ .-]+([0-9]{2,4})(?:\s.*)?", re.DOTALL
)
_NAMED_DATE_US = re.compile(
    r"\s*([^\W\d_]{3,})\.?\s+([0-9]{1,2}),?\s+([0-9]{4})(?:\s.*)?", re.DOTALL
)
_FORMAT_TOKEN = re.compile(r"%[dmyYbB]")

# Month names and abbreviations of the languages the bank profiles cover, without accents.
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "jan january janv janvier ene enero januar janner",
            "feb february fev fevr fevrier febrero februar",
            "mar march mars marzo marz mrz maerz",
            "apr april avr avril abr abril",
            "may mai mayo",
            "jun june juin junio juni",
            "jul july juil juillet julio juli",
            "aug august aou aout ago agosto",
            "sep sept september septembre septiembre set",
            "oct october octobre octubre okt oktober",
            "nov november novembre noviembre",
            "dec december decembre dic diciembre dez dezember",
        ),
        start=1,
    )
    for name in names.split()
}

ORDERS = ("dmy", "mdy", "ymd")
CACHE_LIMIT = 200_000
MAX_DIGITS = 15  # under 10^15: beyond any account, and far inside Decimal's precision
Amount = tuple[Decimal | None, str | None]


def _bare(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class AmountReader:
    """Reads amounts in one decimal style, with the currency glued to an amount if any.

    Results are cached by text: a statement repeats the same amounts (rent, subscriptions,
    coffees) so often that most rows of a large file never reach the parser.
    """

    def __init__(self, decimal: str) -> None:
        if decimal not in {",", "."}:
            raise BadInput(f"decimal separator must be ',' or '.', not {decimal!r}")
        self.decimal = decimal
        thousands = "." if decimal == "," else ","
        group = re.escape(thousands + GROUPING)
        point = re.escape(decimal)
        self._body = re.compile(
            rf"[0-9]{{1,3}}(?:[{group}][0-9]{{3}})+(?:{point}[0-9]*)?|[0-9]*(?:{point}[0-9]+)?"
        )
        self._simple = re.compile(rf"-?[0-9]{{1,12}}(?:{point}[0-9]{{1,2}})?")
        self._clean = str.maketrans({c: None for c in thousands + GROUPING} | {decimal: "."})
        self.cache: dict[str, Amount] = {"": (None, None)}

    def __call__(self, raw: str) -> Amount:
        """The signed amount (``None`` for an empty cell) and its glued currency code.

        Raises ``ValueError`` saying what is wrong with the text.
        """
        found = self.cache.get(raw)
        if found is None:
            found = self._read(raw)
            if len(self.cache) < CACHE_LIMIT:
                self.cache[raw] = found
        return found

    def _read(self, raw: str) -> Amount:
        if self._simple.fullmatch(raw):
            return Decimal(raw.translate(self._clean)), None
        if raw.isspace():
            return None, None
        m = _AMOUNT.fullmatch(raw)
        if m is None:
            raise ValueError(f"{raw.strip()!r} is not an amount")
        num = m["num"]
        if not self._body.fullmatch(num):
            style = "1 234,56" if self.decimal == "," else "1,234.56"
            raise ValueError(f"{raw.strip()!r} is not an amount written like {style}")
        signs = [s for s in (m["sign1"], m["sign2"], m["sign3"]) if s]
        currencies = [c for c in (m["cur1"], m["cur2"], m["cur3"]) if c]
        if len(signs) > 1 or len(currencies) > 1 or bool(m["open"]) != bool(m["close"]):
            raise ValueError(f"{raw.strip()!r} is not an amount")
        digits = num.translate(self._clean)
        if len(digits.partition(".")[0]) > MAX_DIGITS:
            raise ValueError(f"{raw.strip()!r} is too large to be an amount")
        value = Decimal(digits)
        if m["open"] or (signs and signs[0] in MINUS):
            value = -value
        currency = SYMBOLS.get(currencies[0], currencies[0]) if currencies else None
        return exact(value, raw), currency


def exact(value: Decimal, raw: str) -> Decimal:
    """Keep cents; refuse sub-cent amounts rather than round someone's money."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        rounded = value.quantize(CENT)
        if rounded != value:
            raise ValueError(f"{raw.strip()!r} has more than 2 decimal places")
        return rounded
    return value


def decimal_hint(raw: str) -> str | None:
    """The decimal separator a single amount proves, if any ("1,234" proves nothing)."""
    digits = raw.strip().lstrip("(+-\u2212€£$¥ ").rstrip(")-€£$¥ ")
    comma, point = digits.rfind(","), digits.rfind(".")
    if comma >= 0 and point >= 0:
        return "," if comma > point else "."
    last = max(comma, point)
    if last < 0:
        return None
    sep = digits[last]
    tail = digits[last + 1 :].split(maxsplit=1)[:1]
    if digits.count(sep) > 1:
        return "." if sep == "," else ","
    if not tail or not tail[0].isdigit() or len(tail[0]) == 3:
        return None
    return sep


class DateReader:
    """Reads dates in one field order (day/month/year, month/day/year or year/month/day).

    Numeric dates may use any of ``/ . -``; month names (English, French, Spanish, German)
    are read whatever the order. A time after the date is ignored: the date stays the one the
    bank wrote, never shifted by a time zone.
    """

    def __init__(self, order: str) -> None:
        if order not in ORDERS:
            raise BadInput(f"date order must be one of {', '.join(ORDERS)}, not {order!r}")
        self.order = order
        self.cache: dict[str, dt.date] = {}

    def __call__(self, raw: str) -> dt.date:
        found = self.cache.get(raw)
        if found is None:
            found = self.cache[raw] = self._read(raw)
        return found

    def _read(self, raw: str) -> dt.date:
        compact = _COMPACT_DATE.fullmatch(raw)
        if compact is not None:
            year, month, day = (int(g) for g in compact.groups())
            return _date(year, month, day, raw)
        m = _NUMERIC_DATE.fullmatch(raw)
        if m is not None:
            a, _, b, c = m.groups()
            if self.order == "ymd":
                if len(a) != 4:
                    raise ValueError(f"{raw.strip()!r} is not a date written year first")
                year, month, day = int(a), int(b), int(c)
            elif len(a) > 2:
                raise ValueError(f"{raw.strip()!r} is not a date written year last")
            else:
                year = _year(c)
                day, month = (int(a), int(b)) if self.order == "dmy" else (int(b), int(a))
            return _date(year, month, day, raw)
        named = _named(raw)
        if named is None:
            raise ValueError(f"{raw.strip()!r} is not a date")
        return named


class FormatReader(DateReader):
    """Reads dates in exactly the strptime-style format the user gave (``%Y%m%d``, ``%d.%m.%y``).

    A time after the date is still ignored. ``strptime`` itself is not used: its ``%b`` knows
    only the machine locale's month names, where the importer reads four languages.
    """

    def __init__(self, fmt: str) -> None:
        super().__init__(order_of_format(fmt))
        self.format = fmt
        parts: list[str] = []
        tokens = _FORMAT_TOKEN.split(fmt)
        codes = _FORMAT_TOKEN.findall(fmt)
        for index, literal in enumerate(tokens):
            parts.append(re.escape(literal).replace("\\ ", "\\s+"))
            if index < len(codes):
                after = tokens[index + 1]
                glued = (index > 0 and literal == "") or (after == "" and index + 1 < len(codes))
                parts.append(_PATTERNS[codes[index]][glued])
        self._pattern = re.compile(r"\s*" + "".join(parts) + r"(?:(?:\s+|T).*)?", re.DOTALL)
        self._codes = codes

    def _read(self, raw: str) -> dt.date:
        m = self._pattern.fullmatch(raw)
        if m is None:
            raise ValueError(f"{raw.strip()!r} is not a date written as {self.format}")
        fields = dict(zip((c[1].lower() for c in self._codes), m.groups(), strict=True))
        year = _year(fields["y"])
        text = fields.get("b")
        if text is not None:
            key = _bare(text)
            month = _MONTHS.get(key) or _MONTHS.get(key[:4]) or _MONTHS.get(key[:3])
            if month is None:
                raise ValueError(f"{raw.strip()!r}: unknown month {text!r}")
        else:
            month = int(fields["m"])
        return _date(year, month, int(fields["d"]), raw)


# Per strptime code: its pattern when separated from the next code, and when glued to it.
_PATTERNS = {
    "%d": ("([0-9]{1,2})", "([0-9]{2})"),
    "%m": ("([0-9]{1,2})", "([0-9]{2})"),
    "%Y": ("([0-9]{4})", "([0-9]{4})"),
    "%y": ("([0-9]{2})", "([0-9]{2})"),
    "%b": ("([^\\W\\d_]{3,})\\.?", "([^\\W\\d_]{3})"),
    "%B": ("([^\\W\\d_]{3,})", "([^\\W\\d_]{3,})"),
}


def _year(text: str) -> int:
    if len(text) == 2:  # the strptime %y convention: 69-99 are 1900s
        number = int(text)
        return number + (1900 if number >= 69 else 2000)
    if len(text) != 4:
        raise ValueError(f"{text!r} is not a year")
    return int(text)


def _date(year: int, month: int, day: int, raw: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"{raw.strip()!r} is not a valid date") from None


def _named(raw: str) -> dt.date | None:
    m = _NAMED_DATE.fullmatch(raw)
    if m is not None:
        day, name, year = m.groups()
    else:
        m = _NAMED_DATE_US.fullmatch(raw)
        if m is None:
            return None
        name, day, year = m.groups()
    key = _bare(name)
    month = _MONTHS.get(key) or _MONTHS.get(key[:4]) or _MONTHS.get(key[:3])
    if month is None:
        raise ValueError(f"{raw.strip()!r}: unknown month {name!r}")
    return _date(_year(year), month, int(day), raw)


def looks_like_date(raw: str) -> bool:
    """Whether a cell is meant as a date (valid or not), to tell data from summary lines."""
    if _NUMERIC_DATE.fullmatch(raw) or _COMPACT_DATE.fullmatch(raw):
        return True
    m = _NAMED_DATE.fullmatch(raw) or _NAMED_DATE_US.fullmatch(raw)
    if m is None:
        return False
    name = m[2] if m.re is _NAMED_DATE else m[1]
    key = _bare(name)
    return any(k in _MONTHS for k in (key, key[:4], key[:3]))


def order_of_format(fmt: str) -> str:
    """The field order a strptime-style format such as ``%d/%m/%Y`` stands for."""
    tokens = "".join(t[1].lower() for t in _FORMAT_TOKEN.findall(fmt)).replace("b", "m")
    if sorted(tokens) != ["d", "m", "y"]:
        raise BadInput(
            f"date_format {fmt!r} must contain %d, %m (or %b) and %Y (or %y), e.g. %d/%m/%Y"
        )
    return tokens


def format_of(order: str, sample: str) -> str:
    """A strptime-style format for ``order`` shaped like ``sample``, for saved profiles."""
    if _COMPACT_DATE.fullmatch(sample):
        return "%Y%m%d"
    m = _NUMERIC_DATE.fullmatch(sample)
    if m is None:
        return {"dmy": "%d %b %Y", "mdy": "%b %d, %Y", "ymd": "%Y %b %d"}[order]
    sep = m[2]
    year = "%Y" if len(m[4] if order != "ymd" else m[1]) == 4 else "%y"
    codes = {"d": "%d", "m": "%m", "y": year}
    return sep.join(codes[c] for c in order)


class OrderVote:
    """Decides the date order from a whole column: a value over 12 or a 4-digit first field.

    When no value decides, a bank statement's sort order still can: if exactly one reading
    makes the dates run in order, it is that one. Otherwise the caller must ask the user.
    """

    def __init__(self) -> None:
        self.order: str | None = None
        self.undecided: list[tuple[int, int, int]] = []
        self._seen: set[str] = set()
        self.example: str | None = None

    def feed(self, raw: str) -> None:
        if self.order is not None or raw in self._seen:
            return
        self._seen.add(raw)
        if _COMPACT_DATE.fullmatch(raw):
            self.order = "ymd"
            return
        m = _NUMERIC_DATE.fullmatch(raw)
        if m is None:
            return
        a, sep, b, c = m.groups()
        if len(a) == 4:
            self.order = "ymd"
        elif sep == "." or int(a) > 12:
            self.order = "dmy"  # nobody writes month.day.year
        elif int(b) > 12:
            self.order = "mdy"
        else:
            self.example = self.example or raw.strip()
            if len(c) in (2, 4):
                self.undecided.append((int(a), int(b), _year(c)))

    def decide(self) -> str | None:
        """The order, "dmy" when there is nothing to decide, or ``None`` if truly ambiguous."""
        if self.order is not None or not self.undecided:
            return self.order or "dmy"
        readings = {
            "dmy": [(y, m, d) for d, m, y in self.undecided],
            "mdy": [(y, m, d) for m, d, y in self.undecided],
        }
        in_order = [k for k, v in readings.items() if _monotonic(v)]
        return in_order[0] if len(in_order) == 1 else None


def _monotonic(values: list[tuple[int, int, int]]) -> bool:
    pairs = list(itertools.pairwise(values))
    return all(a <= b for a, b in pairs) or all(a >= b for a, b in pairs)


class DecimalVote:
    """Decides the decimal separator from a whole amount column."""

    def __init__(self) -> None:
        self.decimal: str | None = None

    def feed(self, values: Iterable[str]) -> None:
        for raw in values:
            if self.decimal is None and raw:
                self.decimal = decimal_hint(raw)
