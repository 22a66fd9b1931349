"""Connections: a connector the user has connected, with its non-secret settings.

Settings are validated against the manifest when given, so a typo fails at ``connect`` time
with "did you mean" rather than at the next sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cozy_kernel.connector import Manifest
from cozy_kernel.errors import ConsentRequired
from cozy_kernel.store import Store


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """Split ``KEY=VALUE`` strings as typed on a command line."""
    from cozy_kernel.errors import UsageError

    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {pair!r}: expected KEY=VALUE")
        out[name.strip()] = value
    return out


def validate(manifest: Manifest, raw: Mapping[str, str]) -> dict[str, str]:
    """Check every given setting exists and parses; keep the text form for storage."""
    for name, value in raw.items():
        manifest.setting(name).parse(value)
    return dict(raw)


def resolve(manifest: Manifest, stored: Mapping[str, str]) -> dict[str, Any]:
    """Typed settings for a run: defaults first, then what the user stored."""
    values: dict[str, Any] = {}
    for setting in manifest.settings:
        text = stored.get(setting.name, setting.default)
        values[setting.name] = None if text is None else setting.parse(text)
    return values


def connect(store: Store, manifest: Manifest, settings: Mapping[str, str]) -> dict[str, str]:
    """Record the connection, merging new settings over the ones already stored."""
    merged = {**(store.connection(manifest.id) or {}), **validate(manifest, settings)}
    with store.transaction():
        store.save_connection(manifest.id, merged)
    return merged


def require(store: Store, manifest: Manifest) -> dict[str, Any]:
    """The typed settings of a connected connector, or the error telling how to connect."""
    stored = store.connection(manifest.id)
    if stored is None:
        raise ConsentRequired(
            f"connector {manifest.id!r} is not connected", hint=f"run: cozy connect {manifest.id}"
        )
    return resolve(manifest, stored)
