"""``ofx``: OFX and QFX statements — OFX 1.x SGML, OFX 2.x XML and Quicken's QFX.

Bank (``STMTRS``) and credit-card (``CCSTMTRS``) statements, several per file, with their
ledger balance and pending transactions (``BANKTRANLISTP``). Transactions keep the bank's
``FITID``, so re-importing a statement or an overlapping one adds only what is new.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from cozy_kernel.connector import Manifest, Record, Rejected
from cozy_kernel.errors import BadInput
from cozy_kernel.importer import FileImporter, Statement

# An OFX 1.x header, an OFX 2.x processing instruction (after an XML declaration or not), or
# a bare <OFX> element; anything else — camt's <Document>, QIF, CSV — is someone else's.
_SIGNATURE = re.compile(
    rb"\s*(?:OFXHEADER\s*:|<\?OFX\s|<OFX>|<\?xml[^>]*\?>\s*(?:<\?OFX\s|<OFX>))", re.IGNORECASE
)


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

    def parse(self, statement: Statement) -> Iterator[Record | Rejected]:
        # ofxtools takes ~0.4 s to import: load it only when a file is actually read.
        from cozy_connectors.ofx import markup, statements

        try:
            root = markup.read(statement.data)
        except markup.Unreadable as exc:
            raise BadInput(f"{statement.path}: {exc}") from None
        yield from statements.Reader(statement, root).items()
