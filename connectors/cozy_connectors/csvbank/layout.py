"""Finding the table in a bank export: its encoding, delimiter, header row and columns.

Exports start with whatever the bank likes (account number, period, balance lines) and put
the header somewhere below, so the header is found by what it says, not where it is: every
delimiter candidate splits the first lines, and the line whose cells name a bank profile's
columns, or a date and an amount, wins. ``csv.Sniffer`` guesses from character frequencies
and is fooled by decimal commas and preambles; matching known column names is not.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cozy_connectors.csvbank.profiles import Profile, key
from cozy_connectors.csvbank.values import AmountReader, DateReader, format_of, order_of_format
from cozy_kernel.errors import BadInput

DELIMITERS = (";", ",", "\t", "|")
SCAN_LINES = 60
# Enough text to tell code pages apart; reading all of a 100 MB export would only cost time.
SAMPLE_BYTES = 1024 * 1024
# Bank exports from the countries covered are Western European text when not UTF-8: Windows'
# and ISO code pages first; DOS and Mac ones only when the text clearly reads better in them.
STANDARD = ("cp1252", "iso8859_15", "latin_1")
LEGACY = ("cp850", "mac_roman")
LEGACY_MARGIN = 4
COMMON_LETTERS = frozenset("àâäáãçèéêëìíîïñòóôöõùúûüÿœßÀÂÄÁÃÇÈÉÊËÌÍÎÏÑÒÓÔÖÕÙÚÛÜŒ")
# Punctuation and signs of Western text: plausible between words, not inside one.
TYPOGRAPHY = frozenset(
    "\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2026\u2022\u00a0«»¿¡·€£°§"
)
ONE_LETTER_WORDS = frozenset("àÀèéóòúÉ")
APOSTROPHES = frozenset("\u2019·")
OPENERS = frozenset("\u201a\u201e«¿¡")
RARE_LETTERS = frozenset("ŠšŽžŸƒ")
# The UTF-8 forms of à-ÿ, NBSP-¿ and €: seen next to invalid bytes, the file mixes encodings.
_UTF8_LATIN = re.compile(rb"\xc3[\x80-\xbf]|\xc2[\xa0-\xbf]|\xe2\x82\xac")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_CURRENCY_WORDS = {
    "eur": "EUR", "euro": "EUR", "euros": "EUR", "gbp": "GBP", "usd": "USD", "chf": "CHF"
}  # fmt: skip

ALIASES: dict[str, tuple[str, ...]] = {
    "date": (
        "date operation",
        "date de l operation",
        "date op",
        "dateop",
        "date",
        "date comptable",
        "buchungstag",
        "buchungsdatum",
        "buchung",
        "datum",
        "fecha operacion",
        "fecha de operacion",
        "f operacion",
        "fecha",
        "posting date",
        "posted date",
        "post date",
        "booking date",
        "date posted",
        "transaction date",
        "date de comptabilisation",
        "date comptabilisation",
        "fecha contable",
        "fecha movimiento",
        "boekdatum",
        "transactiedatum",
        "data",
        "data operazione",
        "data contabile",
        "data registrazione",
        "data movimento",
        "data lancamento",
        "data operacao",
        "data mov",
        "trans date",
        "belegdatum",
        "started date",
    ),
    "value_date": (
        "date de valeur",
        "date valeur",
        "dateval",
        "valeur",
        "value date",
        "fecha valor",
        "f valor",
        "valutadatum",
        "valuta",
        "wertstellung",
        "wertstellungsdatum",
        "wert",
        "data valuta",
        "data valor",
        "rentedatum",
    ),
    "amount": (
        "montant",
        "montant operation",
        "montant de l operation",
        "amount",
        "importe",
        "betrag",
        "umsatz",
        "transaction amount",
        "bedrag",
        "transactiebedrag",
        "importo",
        "montante",
        "valor",
        "importe movimiento",
        "net amount",
        "net",
    ),
    "debit": (
        "debit",
        "debits",
        "soll",
        "cargo",
        "cargos",
        "money out",
        "paid out",
        "withdrawals",
        "withdrawal",
        "debit amount",
        "dare",
        "addebiti",
        "uscite",
        "debito",
        "debitos",
        "saida",
        "saidas",
        "af",
        "ausgang",
        "belastung",
    ),
    "credit": (
        "credit",
        "credits",
        "haben",
        "abono",
        "abonos",
        "money in",
        "paid in",
        "deposits",
        "deposit",
        "credit amount",
        "avere",
        "accrediti",
        "entrate",
        "credito",
        "creditos",
        "entrada",
        "entradas",
        "bij",
        "eingang",
    ),
    "direction": (
        "soll haben",
        "s h",
        "debit credit",
        "d c",
        "cr dr",
        "dr cr",
        "sens",
        "af bij",
        "debit credit indicator",
        "dr cr indicator",
        "credit debit indicator",
        "debet credit",
    ),
    "label": (
        "libelle",
        "libelle operation",
        "libelle de l operation",
        "label",
        "description",
        "concepto",
        "verwendungszweck",
        "memo",
        "narrative",
        "transaction description",
        "vorgang verwendungszweck",
        "details",
        "detail",
        "naam omschrijving",
        "omschrijving",
        "umsatztext",
        "buchungsdetails",
        "beschreibung",
        "text",
        "vorgang",
        "zahlungsgrund",
        "remarque",
        "remarques",
        "intitule",
        "intitule operation",
        "designation",
        "motif",
        "commentaire",
        "descripcion",
        "observaciones",
        "concepto comun",
        "detalle",
        "mededelingen",
        "beschrijving",
        "descrizione",
        "causale",
        "descrizione operazione",
        "dettagli",
        "descricao",
        "descritivo",
        "historico",
        "descricao do movimento",
        "transaction details",
        "particulars",
        "narration",
        "original description",
    ),
    "counterparty": (
        "beguenstigter zahlungspflichtiger",
        "begunstigter zahlungspflichtiger",
        "begunstigter auftraggeber",
        "auftraggeber empfanger",
        "auftraggeber empfaenger",
        "empfanger zahlungspflichtiger",
        "payee",
        "counterparty",
        "beneficiary",
        "beneficiary payer",
        "payer beneficiary",
        "receiver payer",
        "beneficiaire",
        "beneficiario",
        "tiers",
        "merchant",
        "name",
        "naam tegenpartij",
        "tegenpartij",
        "controparte",
        "ordinante",
        "contraparte",
        "zahlungsempfanger",
        "empfanger",
        "payee name",
        "merchant name",
        "nom du tiers",
    ),
    "currency": (
        "devise",
        "currency",
        "moneda",
        "divisa",
        "wahrung",
        "waehrung",
        "munt",
        "moeda",
        "currency code",
    ),
    "balance": (
        "solde",
        "balance",
        "saldo",
        "running bal",
        "running balance",
        "kontostand",
        "saldo na mutatie",
        "saldo contabile",
        "saldo contabilistico",
        "solde apres operation",
    ),
    "state": (
        "state",
        "status",
        "statut",
        "estado",
        "stato",
        "transaction status",
    ),
    "id": (
        "transaction id",
        "id transaction",
        "transaction reference",
        "reference number",
        "referencia",
    ),
    "method": (
        "type",
        "type operation",
        "type d operation",
        "transaction type",
        "umsatzart",
        "buchungstext",
        "tipo",
        "tipo de operacion",
        "movimiento",
        "mutatiesoort",
        "tipo movimento",
    ),
    "category": (
        "category",
        "categorie",
        "categoria",
        "kategorie",
        "categoria operazione",
        "rubrique",
    ),
    "fee": (
        "fee",
        "fees",
        "frais",
        "comision",
        "gebuhr",
        "gebuehr",
        "gebuehren",
        "commissione",
        "commissioni",
        "comissao",
        "kosten",
        "fee amount",
    ),
    "account": (
        "account name",
        "client account",
        "account",
        "account number",
        "nom du compte",
        "compte",
        "numero de compte",
        "cuenta",
        "nombre de la cuenta",
        "konto",
        "kontonummer",
        "auftragskonto",
        "rekening",
        "rekeningnummer",
        "conto",
        "numero conto",
        "conta",
    ),
}
MONEY = ("amount", "debit", "credit")
# Word stems that name a description column in the languages covered, for headers no alias
# lists ("Buchungstext Umsatz", "Libellé simplifié", "Descrição do movimento").
LABEL_STEMS = re.compile(
    r"\b(?:libell|descri|concept|verwendung|umsatztext|beschreib|omschrijv|causal|narrat"
    r"|memo|remar|detail|intitul|hist[oó]ric|particular|purpose|wording)"
)


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


def decode(data: bytes, where: str, forced: str | None = None) -> tuple[str, str]:
    """The file's text and encoding: the user's choice, a BOM, strict UTF-8, then Western.

    UTF-8 is tried strictly first because a valid UTF-8 file is almost never anything else;
    a file that is UTF-8 in parts is refused rather than turned into mojibake.
    """
    if forced:
        return _decode_as(data, where, forced), forced
    if data.startswith(codecs.BOM_UTF8):
        return _decode_as(data, where, "utf-8-sig"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_as(data, where, "utf-16"), "utf-16"
    if b"\x00" in data:
        raise BadInput(f"{where}: holds binary data, not CSV text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.end == len(data) and exc.reason == "unexpected end of data":
            raise BadInput(f"{where}: ends in the middle of a character (truncated?)") from None
        if _UTF8_LATIN.search(data, 0, exc.start + SAMPLE_BYTES):
            line = data.count(b"\n", 0, exc.start) + 1
            raise BadInput(
                f"{where}:line {line}: bytes are not UTF-8 although the rest of the file is "
                "(mixed encodings); re-export it or give --option encoding=NAME"
            ) from None
    encoding = western(data[:SAMPLE_BYTES])
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin_1"


def western(sample: bytes) -> str:
    """The Western European code page a non-UTF-8 export is written in.

    Windows-1252 (or its ISO cousins) unless the text reads clearly better in a legacy DOS
    (cp850) or Mac (mac_roman) code page: those put accented letters where cp1252 has
    punctuation, so "Kontof\\x81hrung" or "Caf\\x8e" only make words in them. Statistical
    detectors (charset-normalizer, chardet) judge a short export by too few letters and
    picked mac_roman or cp850 for plain cp1252 files; this scores only what decides here.
    """
    standard = _best(STANDARD, sample)
    legacy = _best(LEGACY, sample)
    if legacy[1] >= standard[1] + LEGACY_MARGIN:
        return legacy[0]
    return standard[0]


def _best(encodings: Sequence[str], sample: bytes) -> tuple[str, int]:
    best, best_score = encodings[0], -(10**9)
    for encoding in encodings:
        try:
            score = _plausibility(sample.decode(encoding))
        except UnicodeDecodeError:
            continue
        if score > best_score:
            best, best_score = encoding, score
    return best, best_score


def _plausibility(text: str) -> int:
    """How much the non-ASCII characters of ``text`` look like Western European writing."""
    score = 0
    for found in _NON_ASCII.finditer(text):
        index, char = found.start(), found[0]
        before = text[index - 1 : index]
        if "\x80" <= char <= "\x9f":
            score -= 5  # a C1 control character: no real text holds one
        elif char.isalpha():
            alone = not before.isalpha() and not text[index + 1 : index + 2].isalpha()
            if char.isupper() and before.isalpha() and before.islower():
                score -= 2  # a capital inside a word is a misread small letter
            elif alone and char not in ONE_LETTER_WORDS:
                score -= 2  # "2 Û": a lone accented letter is a misread sign
            elif char in COMMON_LETTERS:
                score += 2
            elif char in RARE_LETTERS:
                score -= 2  # "šberweisung", "MŸller": cp1252's reading of DOS and Mac letters
            else:
                score += 1
        elif char in TYPOGRAPHY:
            after = text[index + 1 : index + 2]
            inside = before.isalpha() and after.isalpha() and char not in APOSTROPHES
            glued = before.isalpha() and char in OPENERS
            score += -3 if inside or glued else 2 if char in "€£" else 1
        else:
            score -= 3  # box drawing, mathematical and other symbols
    return score


def _decode_as(data: bytes, where: str, encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise BadInput(f"{where}: unknown encoding {encoding!r}") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadInput(f"{where}:line {line}: bytes are not valid {encoding}") from None


def head_text(head: bytes) -> str | None:
    """Decode the first bytes of a file for recognition, forgiving broken characters.

    The head may end inside a character, and a stray byte is no reason not to recognise a
    bank export: ``parse`` then names the line that is wrong.
    """
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    for cut in range(4):
        try:
            text, _ = decode(head[: len(head) - cut] if cut else head, "head")
            return text
        except BadInput:
            continue
    return head.decode("utf-8", errors="replace")


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
