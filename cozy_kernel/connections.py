"""Connections: connecting (settings + grant) and disconnecting (withdrawal, erasure).

Settings are validated against the manifest when given, so a typo fails at ``connect`` time
with "did you mean" rather than at the next sync.
"""

from __future__ import annotations

import shutil
import urllib.parse
from collections.abc import Mapping
from typing import Any

from cozy_kernel import consent, ledger, secrets, terms
from cozy_kernel.connector import Manifest
from cozy_kernel.errors import BadInput, ConsentRequired, GrantRequired, unknown
from cozy_kernel.store import Store
from cozy_kernel.workspace import Workspace


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


def extra_hosts(manifest: Manifest, settings: Mapping[str, str]) -> tuple[str, ...]:
    """The host of a ``base_url`` setting, which the grant must cover too."""
    url = settings.get("base_url")
    if not url or "base_url" not in {s.name for s in manifest.settings}:
        return ()
    from cozy_kernel.egress import host_of

    try:
        scheme, host = urllib.parse.urlsplit(url).scheme, host_of(url)
    except ValueError:  # a malformed address (an unclosed IPv6 bracket, a bad port)
        scheme = host = ""
    if scheme not in ("https", "http") or not host:
        raise BadInput(f"setting 'base_url': {url!r} is not a web address (https://host/…)")
    return (host,)


def connect(
    store: Store,
    manifest: Manifest,
    settings: Mapping[str, str],
    *,
    grant: bool,
    method: str,
) -> dict[str, str]:
    """Record the connection and, if needed, the user's grant, in one transaction.

    ``grant`` says the user saw the consent screen and agreed; without it a connector that
    is not granted yet (or whose manifest changed) is refused, naming the fix.
    """
    terms.require(store)
    merged = {**(store.connection(manifest.id) or {}), **validate(manifest, settings)}
    hosts = extra_hosts(manifest, merged)
    if not grant and consent.state(store, manifest, hosts) != "granted":
        raise GrantRequired(
            f"connecting {manifest.id!r} needs your consent",
            hint=f"review what it shares, then: cozy connect {manifest.id} --yes",
            connector=manifest.id,
        )
    with store.transaction():
        consent.grant(store, manifest, method=method, extra_hosts=hosts)
        store.save_connection(manifest.id, merged)
    return merged


def require(store: Store, manifest: Manifest) -> dict[str, Any]:
    """The typed settings of a granted connector, or the error telling how to connect."""
    stored = store.connection(manifest.id)
    consent.require(store, manifest, extra_hosts(manifest, stored or {}))
    if stored is None:
        raise ConsentRequired(
            f"connector {manifest.id!r} is not connected", hint=f"run: cozy connect {manifest.id}"
        )
    return resolve(manifest, stored)


def disconnect(
    ws: Workspace, store: Store, connector_id: str, *, erase: bool, method: str
) -> dict[str, int]:
    """Withdraw consent for a connector; ``erase`` also deletes everything it brought.

    Always allowed, terms or not: withdrawing must be as easy as consenting. Erasure removes
    the connector's rows, raw payloads and original files, cursors, settings and run log —
    nothing of any other connector's rows — and drops the frame snapshots and the bundles
    kept in the workspace, which held its rows too.
    """
    known = (
        store.connection(connector_id) is not None
        or ledger.last(store, scope="connector", connector=connector_id) is not None
    )
    if not known:
        raise unknown("connected connector", connector_id, store.connections())
    with store.transaction():
        consent.withdraw(store, connector_id, method=method, erase=erase)
        erased = store.erase_connector(connector_id) if erase else {}
        if erase:
            secrets.erase(store, connector_id)
    if erase:
        store.checkpoint()
        for name in erased:
            (ws.cache_dir / f"{name}.parquet").unlink(missing_ok=True)
        shutil.rmtree(ws.raw_dir / connector_id, ignore_errors=True)
        # The local category model learned from every connector's rows: it goes with any
        # erasure, and is trained again from what remains the next time it is needed.
        shutil.rmtree(ws.root / "cache" / "budget", ignore_errors=True)
        _drop_bundles(ws)
    return erased


def _drop_bundles(ws: Workspace) -> None:
    """Delete the bundles kept in the workspace, which hold every connector's rows.

    Exports waiting to be downloaded, bundles received for a restore, and bundles a killed
    restore left unpacked would otherwise keep a copy of what the user asked to erase.
    """
    exports = ws.root / "exports"
    if exports.is_dir():
        for path in exports.iterdir():
            if path.is_file() or path.is_symlink():
                path.unlink(missing_ok=True)
    for unpacked in ws.cache_dir.parent.glob(".cozy-bundle-*"):
        shutil.rmtree(unpacked, ignore_errors=True)
