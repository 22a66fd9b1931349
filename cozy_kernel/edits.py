"""The user's own edits to their data: a category, a corrected label, a note.

Edits live in their own table and are laid over the source's values when frames are built,
so a sync or an import — which only ever writes the source's values — can never overwrite
what the user decided. Reverting an edit shows the source's value again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cozy_kernel import terms
from cozy_kernel.errors import BadInput, UsageError
from cozy_kernel.frames import collection_from_store
from cozy_kernel.schemas import encode_field
from cozy_kernel.store import Store


def edit(store: Store, name: str, key: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Set fields of one row to the user's values; returns them as stored."""
    terms.require(store)
    coll = collection_from_store(store, name)
    if not values:
        raise UsageError("give at least one field to edit")
    encoded = {}
    for field_name, value in values.items():
        f = coll.field(field_name)
        if f.name == coll.key:
            raise UsageError(f"{name}: the key {coll.key!r} cannot be edited")
        try:
            encoded[f.name] = encode_field(f, value)
        except ValueError as exc:
            raise BadInput(f"{name} {coll.key}={key!r}: {exc}") from None
    with store.transaction():
        store.edit(coll, key, encoded)
    return dict(values)


def revert(store: Store, name: str, key: str, fields: list[str]) -> int:
    """Forget the user's values of these fields (all edited ones if none are named)."""
    terms.require(store)
    coll = collection_from_store(store, name)
    names = [coll.field(f).name for f in fields] or store.edited_fields(name)
    with store.transaction():
        return store.revert(coll, key, names) if names else 0
