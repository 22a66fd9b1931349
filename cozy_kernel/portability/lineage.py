"""What a notebook received, recorded while a share bundle runs it; and keyed pseudonyms.

A share bundle runs the notebook in a fresh kernel with ``COZY_LINEAGE`` naming a file. Every
public function that hands rows of a collection to the notebook — ``cozy.frame`` (through
:func:`cozy_kernel.frames.table`) and the budget functions that return rows
(:func:`cozy_kernel.frames.handed_over`) — appends one line: the collection, the columns it
handed over and the keys of those rows. The bundle then holds only those rows and columns.
What a function reads for its own work is not noted (the budget categorises the whole history
to return one month): the bundle carries what the notebook got, not what the core looked at.

With ``COZY_PSEUDONYM_KEY`` set too, whatever names a person, an account or a row becomes a
keyed pseudonym (HMAC-SHA256) before the notebook sees it, so its outputs and the bundle's
tables show the same pseudonyms. That covers counterparties, labels, account names and IBANs,
and the keys: a row's id can hold an IBAN or an account number, and an id built from a label's
plain hash gives the label away to anyone hashing a dictionary of labels. The key stays in the
sender's store, so the same share made twice shows the same pseudonyms and no receiver can
reverse them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cozy_kernel.frames import LINEAGE_ENV
from cozy_kernel.schemas import Collection

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

KEY_ENV = "COZY_PSEUDONYM_KEY"
# Text that names someone or an account, whatever collection it sits in.
NAMING = ("counterparty", "label", "name", "iban")
# The prefix shared by every key and every column pointing at one: an ``account_id`` and the
# ``id`` of that account get the same pseudonym, so the notebook's joins still hold.
KEYS = "id"
DIGITS = 16  # 64 bits: two of a million keys meet in about one share in 4·10^7
Read = dict[str, tuple[set[str], set[str]]]


def identifying(coll: Collection) -> dict[str, str]:
    """Each column of ``coll`` that names someone, an account or a row -> its pseudonym prefix.

    Dates, amounts and booleans name no one and stay as they are, or a pseudonymised
    notebook could no longer count anything.
    """
    found = {}
    for f in coll.fields:
        if f.kind not in ("text", "category", "int"):
            continue
        if f.name in (coll.key, KEYS) or f.name.endswith("_id"):
            found[f.name] = KEYS
        elif f.name in NAMING:
            found[f.name] = f.name
    return found


def observe(coll: Collection, table: pa.Table, columns: Sequence[str] | None) -> pa.Table:
    """Select the columns, note what is handed over, pseudonymise if asked."""
    selected = table if columns is None else table.select(list(columns))
    _note(coll, selected.column_names, table.column(coll.key).to_pylist())
    key = _key()
    return selected if key is None else pseudonymise(coll, selected, key)


def received(
    coll: Collection,
    frame: pd.DataFrame,
    columns: Sequence[str],
    like: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Note a frame of ``coll``'s rows that a function hands over, pseudonymise if asked.

    ``columns`` are the collection's columns the frame carries; ``like`` maps more columns of
    the frame to the column of ``coll`` whose values they hold (a transfer's other row holds
    an ``id``), pseudonymised the same way.
    """
    _note(coll, columns, frame[coll.key].tolist())
    return disguised(frame, coll, {**{c: c for c in frame.columns}, **(like or {})})


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
    """The same value always gets the same pseudonym under one key; the key never leaves.

    The prefix is hashed too, so a label and a counterparty that read the same do not show it.
    """
    digest = hmac.new(key, f"{field}\0{value}".encode(), hashlib.sha256).hexdigest()
    return f"{field}-{digest[:DIGITS]}"


def pseudonymise(coll: Collection, table: pa.Table, key: bytes) -> pa.Table:
    """Replace every identifying column of ``table`` by pseudonyms (each distinct value once).

    Text stays text and categories stay categories; an integer key becomes text.
    """
    import pyarrow as pa

    for name, prefix in identifying(coll).items():
        if name not in table.column_names:
            continue
        position = table.column_names.index(name)
        encoded = table.column(name).cast(pa.string()).dictionary_encode().combine_chunks()
        names = [pseudonym(prefix, str(v), key) for v in encoded.dictionary.to_pylist()]
        hidden = pa.DictionaryArray.from_arrays(encoded.indices, pa.array(names, pa.string()))
        field = table.schema.field(position)
        kept = field.type if pa.types.is_dictionary(field.type) else pa.string()
        table = table.set_column(position, field.with_type(kept), hidden.cast(kept))
    return table


def disguised(frame: pd.DataFrame, coll: Collection, like: Mapping[str, str]) -> pd.DataFrame:
    """``frame`` with its identifying columns pseudonymised, while a pseudonymised share runs.

    ``like`` maps columns of ``frame`` to the column of ``coll`` whose values they hold: a
    value gets the same pseudonym there as in the collection (a budget rule's ``account``
    holds a transaction's ``account_id``).
    """
    import pandas as pd

    key = _key()
    if key is None:
        return frame
    prefixes = identifying(coll)
    out = frame.copy()
    for name, field in like.items():
        if name not in out.columns or field not in prefixes:
            continue
        prefix, values = prefixes[field], out[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            hidden = [pseudonym(prefix, str(v), key) for v in values.cat.categories]
            out[name] = values.cat.rename_categories(hidden)
        else:
            names = {v: pseudonym(prefix, str(v), key) for v in values.dropna().unique()}
            out[name] = values.map(names, na_action="ignore").astype(values.dtype)
    return out


def _key() -> bytes | None:
    hex_key = os.environ.get(KEY_ENV)
    return bytes.fromhex(hex_key) if hex_key else None


def _note(coll: Collection, columns: Sequence[str], keys: Sequence[Any]) -> None:
    line = {"collection": coll.name, "columns": list(columns), "keys": keys}
    with Path(os.environ[LINEAGE_ENV]).open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
