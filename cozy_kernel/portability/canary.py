"""The canary scan: no stored secret leaves in a bundle, in any spelling.

Before a bundle is published, every file of it is searched for every secret the keyring holds
for any connector — literal, base64 and URL-encoded (:func:`cozy_kernel.secrets.forms`).
Parquet pages are compressed, so their decoded text columns are searched too. A hit refuses
the export naming the file, never the secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from cozy_kernel import secrets
from cozy_kernel.errors import IntegrityError
from cozy_kernel.store import Store

CHUNK = 1 << 20
MIN_LENGTH = 4  # as secrets.redact: shorter values would match everywhere


def spellings(store: Store) -> list[bytes]:
    """Every form of every secret stored for any connector of this workspace."""
    connectors = [r[0] for r in store.db.execute("SELECT DISTINCT connector FROM secret_names")]
    found: set[bytes] = set()
    for connector in connectors:
        for secret in secrets.load(store, connector).values():
            value = secret.reveal()
            if len(value) >= MIN_LENGTH:
                found.update(f.encode() for f in secrets.forms(value) if len(f) >= MIN_LENGTH)
    return sorted(found, key=len, reverse=True)


def scan(paths: Iterable[Path], forms: list[bytes], root: Path) -> None:
    """Raise IntegrityError naming the first file (relative to ``root``) holding a secret."""
    if not forms:
        return
    pattern = re.compile(b"|".join(re.escape(f) for f in forms))
    overlap = max(len(f) for f in forms) - 1
    for path in paths:
        if _in_bytes(path, pattern, overlap) or (
            path.suffix == ".parquet" and _in_parquet(path, forms)
        ):
            raise IntegrityError(
                f"export refused: {path.relative_to(root).as_posix()} contains a stored secret",
                hint="remove it from that setting, label or notebook, then export again",
            )


def _in_bytes(path: Path, pattern: re.Pattern[bytes], overlap: int) -> bool:
    tail = b""
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            window = tail + block
            if pattern.search(window):
                return True
            tail = window[-overlap:] if overlap else b""
    return False


def _in_parquet(path: Path, forms: list[bytes]) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    texts = [f.decode() for f in forms]
    for batch in pq.ParquetFile(path).iter_batches():
        for col in batch.columns:
            if pa.types.is_dictionary(col.type):
                col = col.dictionary
            if not (pa.types.is_string(col.type) or pa.types.is_binary(col.type)):
                continue
            for text in texts:
                if pc.any(pc.match_substring(col, text)).as_py():
                    return True
    return False
