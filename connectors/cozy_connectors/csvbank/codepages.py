"""The text of a bank export: its bytes decoded in the code page it was written in.

UTF-8 first (a valid UTF-8 file is almost never anything else), a BOM where there is one, then
the Western European code pages; the DOS and Mac ones only on strong evidence.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence

from cozy_kernel.errors import BadInput

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
