"""Grants per connector: what connecting shares, the recorded grant, and its withdrawal.

A grant covers the consent-relevant part of a connector's manifest (data categories,
purposes, processors, hosts, collections) by its SHA-256: when a new version of the connector
changes any of those, the old grant no longer covers it and syncing asks for a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Literal

from cozy_kernel import ledger
from cozy_kernel.connector import Manifest
from cozy_kernel.errors import ConsentRequired
from cozy_kernel.store import Store

GrantState = Literal["granted", "missing", "withdrawn", "changed"]


def manifest_terms(manifest: Manifest, extra_hosts: Sequence[str] = ()) -> dict[str, Any]:
    """The part of a manifest the user consents to; other fields may change freely.

    ``extra_hosts`` is the host of a ``base_url`` the user set (a sandbox, a self-hosted
    service): it is part of the grant, so changing it asks again.
    """
    return {
        "id": manifest.id,
        "writes": sorted(manifest.writes),
        "categories": sorted(manifest.categories),
        "personal_data": sorted(manifest.personal_data),
        "purposes": sorted(manifest.purposes),
        "processors": sorted(
            (asdict(p) for p in manifest.processors), key=lambda p: ledger.canonical(p)
        ),
        "egress_hosts": sorted({*manifest.egress_hosts, *extra_hosts}),
    }


def manifest_sha256(manifest: Manifest, extra_hosts: Sequence[str] = ()) -> str:
    terms = manifest_terms(manifest, extra_hosts)
    return hashlib.sha256(ledger.canonical(terms).encode()).hexdigest()


def screen(
    manifest: Manifest, language: str = "en", extra_hosts: Sequence[str] = ()
) -> dict[str, Any]:
    """Everything the user must see before granting a connector, as data for any face."""
    return {
        "connector": manifest.id,
        "name": manifest.name,
        "version": manifest.version,
        "description": manifest.description.get(language, manifest.description["en"]),
        "collections": list(manifest.writes),
        "categories": list(manifest.categories),
        "personal_data": list(manifest.personal_data),
        "purposes": list(manifest.purposes),
        "processors": [asdict(p) for p in manifest.processors],
        "egress_hosts": sorted({*manifest.egress_hosts, *extra_hosts}),
        "credentials": [c.label for c in manifest.credentials],
        "manifest_sha256": manifest_sha256(manifest, extra_hosts),
    }


def render(view: dict[str, Any]) -> str:
    """The consent screen as plain text, for the CLI and the kernel."""
    lines = [
        f"{view['name']} ({view['connector']} {view['version']}): {view['description']}",
        f"  writes into your workspace: {', '.join(view['collections'])}",
        f"  personal data collected: {', '.join(view['personal_data']) or 'none'}",
        f"  purposes: {'; '.join(view['purposes']) or 'none declared'}",
    ]
    if view["processors"]:
        lines.append("  third parties that will process this data:")
        for p in view["processors"]:
            lines.append(
                f"    - {p['name']} ({p['role']}, {p['country']}): receives "
                f"{', '.join(p['data_shared'])} to {p['purpose']}"
            )
    else:
        lines.append("  third parties: none — the data stays on this computer")
    hosts = ", ".join(view["egress_hosts"]) or "none — it makes no network connection"
    lines.append(f"  network hosts it will contact: {hosts}")
    if view["credentials"]:
        lines.append(
            f"  secrets it needs (kept in your keyring only): {', '.join(view['credentials'])}"
        )
    return "\n".join(lines)


def state(store: Store, manifest: Manifest, extra_hosts: Sequence[str] = ()) -> GrantState:
    last = ledger.last(store, scope="connector", connector=manifest.id)
    if last is None:
        return "missing"
    if last.kind not in ("given", "renewed"):
        return "withdrawn"
    if last.manifest_sha256 != manifest_sha256(manifest, extra_hosts):
        return "changed"
    return "granted"


def require(store: Store, manifest: Manifest, extra_hosts: Sequence[str] = ()) -> None:
    """Refuse to run a connector the user has not granted, or whose terms changed since."""
    current = state(store, manifest, extra_hosts)
    if current == "granted":
        return
    reasons = {
        "missing": f"connector {manifest.id!r} has not been granted",
        "withdrawn": f"you withdrew your consent for connector {manifest.id!r}",
        "changed": (
            f"connector {manifest.id!r} changed what it collects or who processes it "
            "since you granted it"
        ),
    }
    raise ConsentRequired(reasons[current], hint=f"review and grant it: cozy connect {manifest.id}")


def grant(
    store: Store, manifest: Manifest, *, method: str, extra_hosts: Sequence[str] = ()
) -> ledger.Event | None:
    """Record a grant; call inside a transaction. Nothing is recorded if already granted."""
    current = state(store, manifest, extra_hosts)
    if current == "granted":
        return None
    kind: ledger.EventKind = "given" if current == "missing" else "renewed"
    return ledger.append(
        store, kind=kind, scope="connector", method=method, connector=manifest.id,
        version=manifest.version, manifest_sha256=manifest_sha256(manifest, extra_hosts),
        details={"screen": screen(manifest, extra_hosts=extra_hosts)},
    )  # fmt: skip


def refuse(store: Store, manifest: Manifest, *, method: str) -> ledger.Event:
    with store.transaction():
        return ledger.append(
            store, kind="refused", scope="connector", method=method, connector=manifest.id,
            version=manifest.version, manifest_sha256=manifest_sha256(manifest),
        )  # fmt: skip


def withdraw(store: Store, connector_id: str, *, method: str, erase: bool) -> ledger.Event:
    """Record a withdrawal; call inside the transaction that also erases, if it does."""
    return ledger.append(
        store, kind="withdrawn", scope="connector", method=method, connector=connector_id,
        details={"erase": erase},
    )  # fmt: skip
