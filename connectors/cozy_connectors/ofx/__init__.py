"""``ofx``: OFX and QFX statements — OFX 1.x SGML, OFX 2.x XML and Quicken's QFX.

Bank (``STMTRS``) and credit-card (``CCSTMTRS``) statements, several per file, with their
ledger balance and pending transactions (``BANKTRANLISTP``). Transactions keep the bank's
``FITID``, so re-importing a statement or an overlapping one adds only what is new.
Files written by ofxstatement (header in a comment, empty balance) are read as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from cozy_kernel.connector import Manifest, Record, Rejected, Skipped
from cozy_kernel.errors import BadInput
from cozy_kernel.importer import FileImporter, Statement

# An OFX 1.x header (some banks' start at DATA:OFXSGML, ofxstatement's is in a comment), an
# OFX 2.x processing instruction (after an XML declaration or not), or a bare <OFX> element,
# each possibly after comments; camt's <Document>, QIF and CSV are someone else's.
# A comment never runs past its first -->: letting it would make a failed match exponential.
_COMMENTS = rb"(?:<!--(?:(?!-->).)*-->\s*)*"
_SIGNATURE = re.compile(
    rb"\s*" + _COMMENTS + rb"(?:<!--\s*)?(?:OFXHEADER\s*:|DATA\s*:\s*OFXSGML\b|<\?OFX\s|<OFX *>"
    rb"|<\?xml[^>]*\?>\s*" + _COMMENTS + rb"(?:<\?OFX\s|<OFX *>))",
    re.IGNORECASE | re.DOTALL,
)
# The census's own reading of the rows: start tags between the first <OFX> and the last
# </OFX>, comments blanked out (a space keeps a tag split by a comment from joining up).
_COMMENT = re.compile(rb"<!--.*?(?:-->|\Z)", re.DOTALL)
_OFX_OPEN = re.compile(rb"<OFX *>", re.IGNORECASE)
_OFX_CLOSE = re.compile(rb"</OFX *>", re.IGNORECASE)
_ROW = re.compile(rb"<STMTTRNP? *>", re.IGNORECASE)


class OfxImporter(FileImporter):
    """Reads the OFX/QFX files banks offer as "Money", "Quicken" or "OFX" downloads."""

    manifest = Manifest(
        id="ofx",
        name="OFX/QFX statements",
        version="1.0.0",
        kind="file",
        writes=("bank.accounts", "bank.transactions"),
        categories=("banking",),
        personal_data=("pd:FinancialAccount", "pd:Transaction"),
        purposes=("Keep your bank statements, downloaded as OFX or QFX files, in your own store",),
        description={
            "en": "Import bank and credit-card statements saved as OFX or QFX files.",
            "es": "Importa extractos bancarios y de tarjetas guardados como archivos OFX o QFX.",
            "fr": "Importez vos relevés bancaires et de carte enregistrés en fichiers OFX ou QFX.",
        },
    )
    formats: ClassVar[str] = "OFX/QFX"

    @classmethod
    def identify(cls, name: str, head: bytes) -> bool:
        return _SIGNATURE.match(head.removeprefix(b"\xef\xbb\xbf")) is not None

    def parse(self, statement: Statement) -> Iterator[Record | Rejected | Skipped]:
        # ofxtools takes ~0.4 s to import: load it only when a file is actually read.
        from cozy_connectors.ofx import markup, statements

        try:
            root = markup.read(statement.data)
        except markup.Unreadable as exc:
            raise BadInput(f"{statement.path}: {exc}") from None
        yield from statements.Reader(statement, root).items()

    def census(self, statement: Statement) -> int:
        """The ``<STMTTRN>`` and pending ``<STMTTRNP>`` start tags, counted on the bytes."""
        text = _COMMENT.sub(b" ", statement.data)
        start = _OFX_OPEN.search(text)
        if start is None:
            return 0
        end = max((m.end() for m in _OFX_CLOSE.finditer(text, start.end())), default=len(text))
        return len(_ROW.findall(text, start.start(), end))
