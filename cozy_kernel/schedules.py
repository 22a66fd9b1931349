"""Automatic syncs: when each connector runs by itself, and when it must wait for the user.

A connector runs daily or weekly (the user's choice, else the operator's default, else its
manifest's) at a slot drawn at random once per workspace, so that many users of one server
do not all call their banks at midnight. After an authentication failure or a lapsed
consent, automatic runs pause until the user acts — reconnects, or syncs by hand — since
retrying with refused credentials only gets an account locked.

Times are POSIX seconds; ``day`` is how long a day lasts (shorter in tests and demos).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from typing import Any

from cozy_kernel import config
from cozy_kernel.connector import Manifest
from cozy_kernel.errors import BadInput, ConsentRequired, CozyError
from cozy_kernel.store import Store

DAY = 86_400.0
PERIODS = {"daily": 1, "weekly": 7}
# Failures that only the user can fix: retrying would fail the same way, or worse.
PAUSING = (ConsentRequired,)  # ReconnectNeeded and GrantRequired are ConsentRequired


def frequency(store: Store, manifest: Manifest) -> str:
    """``daily``, ``weekly`` or ``off``; file importers never run by themselves."""
    if manifest.kind == "file":
        return "off"
    row = store.schedule(manifest.id)
    chosen = row["frequency"] if row is not None else None
    return str(chosen or config.default_frequency() or manifest.default_frequency or "off")


def slot(store: Store, connector: str) -> float:
    """The connector's place in its period, in [0, 1): random per workspace and connector.

    Derived from the store's random id, so that reading it (a listing, a scheduler tick)
    writes nothing and never waits on a sync's write lock; kept in the schedule once saved.
    """
    row = store.schedule(connector)
    if row is not None:
        return float(row["slot"])
    digest = hashlib.sha256(f"{store.store_id}/{connector}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose(store: Store, manifest: Manifest, chosen: str) -> None:
    """Record the user's frequency for a connector; call inside a transaction."""
    if chosen not in config.FREQUENCIES:
        raise BadInput(f"frequency {chosen!r} is not one of {', '.join(config.FREQUENCIES)}")
    if manifest.kind == "file" and chosen != "off":
        raise BadInput(f"connector {manifest.id!r} imports files: it cannot run by itself")
    store.save_schedule(manifest.id, slot(store, manifest.id), chosen)


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def next_run(store: Store, manifest: Manifest, day: float = DAY) -> float | None:
    """When the connector next runs by itself, or None (off, paused, never connected).

    The first slot strictly after its last run (automatic or not) or, before any run,
    after it was connected: a sync by hand at 10:00 does not prevent the 14:00 slot.
    """
    chosen = frequency(store, manifest)
    row = store.schedule(manifest.id)
    if chosen == "off" or (row is not None and row["paused"]):
        return None
    connected = store.db.execute(
        "SELECT connected_at FROM connections WHERE connector = ?", (manifest.id,)
    ).fetchone()
    if connected is None:
        return None
    last = store.runs(manifest.id, limit=1)
    anchor = _epoch(last[0]["started_at"] if last else connected[0])
    period = PERIODS[chosen] * day
    offset = slot(store, manifest.id) * period
    return (math.floor((anchor - offset) / period) + 1) * period + offset


def pause(store: Store, connector: str, error: CozyError) -> None:
    """Stop automatic runs after a failure only the user can fix; call in a transaction."""
    if store.schedule(connector) is None:
        store.save_schedule(connector, slot(store, connector), None)
    store.pause_schedule(connector, error.message)


def resume(store: Store, connector: str) -> None:
    """The user acted (reconnected, synced by hand): automatic runs go on."""
    if store.schedule(connector) is not None:
        store.pause_schedule(connector, None)


def status(store: Store, manifest: Manifest, day: float = DAY) -> dict[str, Any]:
    """What the sidebar shows: frequency, next run, and why automatic runs wait, if they do."""
    row = store.schedule(manifest.id)
    upcoming = next_run(store, manifest, day)
    automatic = store.db.execute(
        "SELECT outcome, started_at FROM runs WHERE connector = ? AND trigger = 'schedule' "
        "ORDER BY id DESC LIMIT 1",
        (manifest.id,),
    ).fetchone()
    return {
        "frequency": frequency(store, manifest),
        "next_run": None
        if upcoming is None
        else dt.datetime.fromtimestamp(upcoming, dt.UTC).isoformat(timespec="seconds"),
        "paused": None if row is None else row["paused"],
        "last_automatic": None
        if automatic is None
        else {"outcome": automatic[0], "started_at": automatic[1]},
    }
