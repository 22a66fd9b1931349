"""What a notebook read, recorded while a share bundle runs it; and stable pseudonyms.

A share bundle runs the notebook in a fresh kernel with ``COZY_LINEAGE`` naming a file. Every
read of a collection (``cozy.frame``, the budget functions: all go through
:func:`cozy_kernel.frames.table`) then appends one line — the collection, the columns it
returned and the keys of its rows — and the bundle holds only those rows and columns. With
``COZY_PSEUDONYM_KEY`` set too, counterparties and labels are replaced by keyed hashes before
the notebook sees them, so its outputs and the bundle's tables show the same pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cozy_kernel.frames import LINEAGE_ENV
from cozy_kernel.schemas import Collection

if TYPE_CHECKING:
    import pyarrow as pa

KEY_ENV = "COZY_PSEUDONYM_KEY"
PSEUDONYMISED = ("counterparty", "label")
Read = dict[str, tuple[set[str], set[str]]]


def observe(coll: Collection, table: pa.Table, columns: Sequence[str] | None) -> pa.Table:
    """Pseudonymise if asked, select the columns, and note what was read."""
    key = os.environ.get(KEY_ENV)
    if key:
        table = pseudonymise(table, bytes.fromhex(key))
    selected = table if columns is None else table.select(list(columns))
    line = {
        "collection": coll.name,
        "columns": selected.column_names,
        "keys": table.column(coll.key).to_pylist(),
    }
    with Path(os.environ[LINEAGE_ENV]).open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return selected


def read(path: Path) -> Read:
    """Collection -> (columns read, keys of the rows read), over every read of the run."""
    found: Read = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        columns, keys = found.setdefault(entry["collection"], (set(), set()))
        columns.update(entry["columns"])
        keys.update(str(k) for k in entry["keys"])
    return found


def pseudonym(field: str, value: str, key: bytes) -> str:
    """The same value always gets the same pseudonym under one key; the key never leaves."""
    return f"{field}-{hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:12]}"


def pseudonymise(table: pa.Table, key: bytes) -> pa.Table:
    """Replace counterparties and labels by their pseudonyms (each distinct value once)."""
    import pyarrow as pa

    for name in PSEUDONYMISED:
        if name not in table.column_names:
            continue
        position = table.column_names.index(name)
        encoded = table.column(name).cast(pa.string()).dictionary_encode().combine_chunks()
        names = [pseudonym(name, str(v), key) for v in encoded.dictionary.to_pylist()]
        hidden = pa.DictionaryArray.from_arrays(encoded.indices, pa.array(names, pa.string()))
        field = table.schema.field(position)
        table = table.set_column(position, field, hidden.cast(field.type))
    return table
