"""OFX bytes to an element tree: ofxtools first, then the repairs real bank files need.

ofxtools reads the header and the SGML/XML tag soup, the hard part of OFX. It refuses files
that bend the spec the way banks often do (a byte-order mark before the XML declaration, a
header with a field missing or an unknown charset name, an empty ``<MEMO>`` left unclosed in
SGML), so when it refuses, the file is decoded by what its own header declares and the tag
soup is repaired before ofxtools' tree builder reads it again. That second reading also
takes what SGML allows and banks write: comments (ofxstatement wraps its header in one), a
header that starts at ``DATA:OFXSGML``, and end tags that close an outer element while inner
ones are still open. Anything still unreadable raises :class:`Unreadable` with the line where
reading stopped.
"""

from __future__ import annotations

import codecs
import io
import re
import xml.etree.ElementTree as ET
from functools import cache

from ofxtools.models.base import Aggregate
from ofxtools.Parser import OFXTree, ParseError, TreeBuilder

_BOM = b"\xef\xbb\xbf"
# Tag names may be followed by spaces (``<OFX >``), as ofxtools' own tag pattern allows.
OFX_START = re.compile(rb"<OFX *>", re.IGNORECASE)
_OFX_END = re.compile(r"</OFX *>", re.IGNORECASE)
_COMMENT = re.compile(rb"<!--.*?(?:-->|\Z)", re.DOTALL)
_NOT_NEWLINE = re.compile(rb"[^\n]")
# ofxtools' pattern sees only upper-case tags and skips the others without a word, and it
# reads comments as markup: such files take the lenient path, which handles both.
_NOT_STRICT = re.compile(rb"<!--|</?[A-Z0-9._]*[a-z][A-Za-z0-9._]* *>")
_XML_ENCODING = re.compile(r"""encoding\s*=\s*["']([\w.:-]+)["']""", re.IGNORECASE)
_V1_FIELD = re.compile(r"([A-Z]+)\s*:\s*([\w-]*)")
_LOWER_TAG = re.compile(r"</?[A-Z0-9._]*[a-z][A-Za-z0-9._]* *>")
_EMPTY_LEAF = re.compile(r"<([A-Z0-9.]+)\s*/>|<([A-Z0-9.]+)>(?=\s*<(?!/\2>))")
_POSITION = re.compile(r" - position=\[(\d+):\d+\]$")
# OFX 1.x names charsets its own way; everything else is a Python codec name.
_CHARSETS = {"1252": "cp1252", "8859-1": "latin_1", "NONE": "utf-8"}


class Unreadable(Exception):
    """The file as a whole cannot be read as OFX; the message is one line for the user."""


class _Builder(TreeBuilder):
    """ofxtools' tree builder, strict about end tags unless told to read them as SGML does.

    The C tree builder underneath pops whatever is open, so an unclosed empty ``<MEMO>``
    would silently swallow the rest of its transaction instead of failing: the strict
    reading refuses any end tag that does not close the innermost open element, and the
    file is then repaired and read again, tolerantly. The tolerant reading follows SGML: an
    end tag closes its element and every element still open inside it (a ``</BANKTRANLIST>``
    also ends the last ``<STMTTRN>``), an end tag that closes nothing open is ignored (some
    banks end a ``<CCSTMTRS>`` with ``</STMTRS>``), and a start tag of an element already
    open ends that one first (a ``<STMTTRN>`` whose ``</STMTTRN>`` is missing). Popping one
    element per end tag, as the C builder does, would file the ledger balance and every
    later statement under the wrong parent. A second top-level element is always refused.
    """

    def __init__(self, *, tolerant: bool = False) -> None:
        super().__init__()
        self.tolerant = tolerant
        self.open: list[str] = []
        self.elements: list[ET.Element] = []
        self.done = False

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        tag = tag.rstrip()
        if self.tolerant and tag in self.open:
            self._close(tag)
        if self.done:
            raise ParseError(f"<{tag}> after the end of the OFX element")
        element: ET.Element = super().start(tag, attrs)
        self.open.append(tag)
        self.elements.append(element)
        return element

    def end(self, tag: str) -> ET.Element:
        tag = tag.rstrip()
        if not self.open:
            raise ParseError(f"</{tag}> closes nothing")
        if self.open[-1] != tag:
            if not self.tolerant:
                raise ParseError(f"</{tag}> found where </{self.open[-1]}> was expected")
            if tag not in self.open:
                return self.elements[-1]
        return self._close(tag)

    def _close(self, tag: str) -> ET.Element:
        """End the innermost open ``tag`` and everything opened inside it."""
        while True:
            name = self.open.pop()
            self.elements.pop()
            element: ET.Element = super().end(name)
            if name == tag:
                self.done = not self.open
                return element

    def close(self) -> ET.Element:
        if self.open:
            raise ParseError(f"the file ends inside <{self.open[-1]}> (truncated?)")
        root: ET.Element | None = super().close()
        if root is None:
            raise ParseError("no OFX element")
        return root


def read(data: bytes) -> ET.Element:
    """The file's ``<OFX>`` element, read strictly if possible, leniently otherwise."""
    if _NOT_STRICT.search(data):
        return _lenient(data)
    try:
        tree = OFXTree()
        root: ET.Element = tree.parse(io.BytesIO(data), parser=_Builder())
    except (SyntaxError, ValueError, LookupError):  # OFXHeaderError, ParseError, decoding
        return _lenient(data)
    if root.tag != "OFX" or (tree.header.codec != "utf_8" and _utf8_beyond_ascii(data)):
        return _lenient(data)
    return root


def uncommented(data: bytes) -> bytes:
    """The bytes with every ``<!-- -->`` comment blanked out, offsets and line breaks kept.

    A comment is no part of the statement, even when it holds tags; keeping every offset
    lets the rows' line numbers be worked out on the original file.
    """
    if b"<!--" not in data:
        return data
    return _COMMENT.sub(lambda m: _NOT_NEWLINE.sub(b" ", m[0]), data)


def _utf8_beyond_ascii(data: bytes) -> bool:
    """True for UTF-8 text with accents: in a file declared single-byte, it is mislabelled.

    Multi-byte UTF-8 sequences practically never occur by chance in Windows-1252 text, so
    such a file is read as UTF-8 rather than turning every ``é`` into ``Ã©``.
    """
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _lenient(data: bytes) -> ET.Element:
    raw = data.removeprefix(_BOM)
    bare = uncommented(raw)
    start = OFX_START.search(bare)
    if start is None:
        raise Unreadable("no <OFX> element: not an OFX file, or cut short")
    first_line = raw.count(b"\n", 0, start.start()) + 1
    # The header may sit inside a comment (ofxstatement's does): read it from the raw bytes.
    body = _decode(bare[start.start() :], _codec(raw[: start.start()]), first_line)
    ends = list(_OFX_END.finditer(body))
    if not ends:
        raise Unreadable("the closing </OFX> tag is missing: the file was cut short")
    body = _repair(body[: ends[-1].end()])
    builder = _Builder(tolerant=True)
    try:
        builder.feed(body)
        return builder.close()
    except ParseError as exc:
        message = str(exc.args[0]) if exc.args else "malformed OFX"
        position = _POSITION.search(message)
        if position is None:
            raise Unreadable(_explain(message)) from None
        line = first_line + body.count("\n", 0, int(position.group(1)))
        raise Unreadable(f"line {line}: {_explain(message[: position.start()])}") from None


def _codec(header: bytes) -> str:
    """The codec the header declares: an OFX 1.x ``CHARSET``/``ENCODING`` or XML's own."""
    text = header.decode("ascii", "replace")
    if "<?" in text:
        declared = _XML_ENCODING.search(text)
        return declared.group(1) if declared else "utf-8"
    fields = dict(_V1_FIELD.findall(text.upper()))
    if fields.get("ENCODING") in ("UTF-8", "UNICODE"):
        return "utf-8"
    charset = fields.get("CHARSET") or "NONE"
    return _CHARSETS.get(charset, charset)


def _decode(body: bytes, codec: str, first_line: int) -> str:
    if codec.replace("_", "-").lower() not in ("utf-8", "utf8") and _utf8_beyond_ascii(body):
        codec = "utf-8"
    try:
        return body.decode(codec)
    except LookupError:
        raise Unreadable(f"the header names an unknown character set {codec!r}") from None
    except UnicodeDecodeError as exc:
        line = first_line + body.count(b"\n", 0, exc.start)
        name = codecs.lookup(codec).name
        raise Unreadable(
            f"line {line}: byte 0x{body[exc.start]:02X} is not valid {name} text, "
            "the character set its header declares"
        ) from None
    except UnicodeError:  # codecs such as idna fail without a position
        raise Unreadable(f"the text is not valid {codec} as its header declares") from None


def _repair(body: str) -> str:
    """Upper-case tag names and close empty leaf elements, keeping every line break.

    ``<MEMO/>`` and an unclosed empty ``<MEMO>`` become ``<MEMO></MEMO>``: ofxtools reads
    that as an empty element. Deleting them instead could join the text around them into a
    tag (``<STMTTR<MEMO/>N>``) that the census, reading the file as written, does not see.
    """
    if _LOWER_TAG.search(body):
        body = _LOWER_TAG.sub(lambda m: m.group(0).upper(), body)
    leaves = _leaf_tags()

    def closed(m: re.Match[str]) -> str:
        tag = m[1] or m[2]
        return f"<{tag}></{tag}>" if (m[1] or tag in leaves) else m[0]

    return _EMPTY_LEAF.sub(closed, body)


@cache
def _leaf_tags() -> frozenset[str]:
    """Tags that hold text in ofxtools' models: an empty, unclosed one carries nothing."""
    aggregates: set[str] = set()
    leaves: set[str] = set()
    todo: list[type[Aggregate]] = [Aggregate]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        aggregates.add(cls.__name__)
        leaves.update(name.upper() for name in cls.elements)
    return frozenset(leaves - aggregates)


def _explain(message: str) -> str:
    """ofxtools' message made one short line (its tail-text errors quote the whole file)."""
    if message.startswith("Tail text"):
        return "text outside any element"
    return " ".join(message.split())[:120] or "malformed OFX"
