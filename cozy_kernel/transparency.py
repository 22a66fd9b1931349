"""The transparency report, rebuilt from live state: what we hold and who processes it.

"Data we hold" comes from the store itself (rows, first and last dates per connector);
"third parties" comes from the consent screens the user granted, so the report states exactly
what each granted connector declared — processor, data shared, purpose, country, since when.
Reading it is always allowed: it is how a user decides whether to accept or leave.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from cozy_kernel import consent, egress, ledger, registry, terms
from cozy_kernel.frames import collection_from_store
from cozy_kernel.store import Store
from cozy_kernel.workspace import Workspace

HISTORY_FIELDS = ("seq", "at", "kind", "scope", "connector", "version", "language", "method")


def _granted_screens(store: Store) -> dict[str, tuple[str, dict[str, Any]]]:
    """Connector id -> (granted since, recorded consent screen) for current grants."""
    current: dict[str, tuple[str, dict[str, Any]]] = {}
    for event in ledger.events(store, scope="connector"):
        assert event.connector is not None
        if event.kind in ("given", "renewed"):
            since = (
                current[event.connector][0]
                if event.kind == "renewed" and (event.connector in current)
                else event.at
            )
            current[event.connector] = (since, json.loads(event.details)["screen"])
        elif event.kind in ("withdrawn", "refused", "expired"):
            current.pop(event.connector, None)
    return current


def _held(store: Store, screens: dict[str, tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for name in store.collection_names():
        coll = collection_from_store(store, name)
        time_field = next(
            (coll.field(n).name for n in coll.order_by
             if coll.field(n).kind in ("date", "timestamp")),
            None,
        )  # fmt: skip
        span = f"min({time_field}), max({time_field})" if time_field else "NULL, NULL"
        query = f"SELECT connector, count(*), {span} FROM {coll.table} GROUP BY connector"
        for connector, count, first, last in store.db.execute(query):
            screen = screens.get(connector, ("", {}))[1]
            rows.append(
                {
                    "collection": name,
                    "description": coll.description,
                    "connector": connector,
                    "source": screen.get("name", connector),
                    "personal_data": screen.get("personal_data", []),
                    "rows": count,
                    "first": first,
                    "last": last,
                }
            )
    return rows


def build(ws: Workspace, store: Store) -> dict[str, Any]:
    screens = _granted_screens(store)
    processors = []
    local = []
    for connector, (since, screen) in sorted(screens.items()):
        for p in screen["processors"]:
            processors.append(
                {
                    "connector": connector,
                    "source": screen["name"],
                    "processor": p["name"],
                    "role": p["role"],
                    "data_shared": p["data_shared"],
                    "purpose": p["purpose"],
                    "location": p["country"],
                    "since": since,
                }
            )
        if not screen["processors"]:
            local.append({"connector": connector, "source": screen["name"], "since": since})
    discovered = registry.discover(ws)
    changed = [
        c for c in screens
        if c in discovered and discovered[c].cls is not None
        and consent.state(store, discovered[c].load().manifest) == "changed"
    ]  # fmt: skip
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "workspace": str(ws.root),
        "terms": terms.status(store),
        "data": _held(store, screens),
        "processors": processors,
        "local_sources": local,
        "network_hosts": {c: s["egress_hosts"] for c, (_, s) in sorted(screens.items())},
        "grants_needing_review": changed,
        "telemetry": "none: Cozy Notebook sends nothing except a connector's own sync",
        "network_requests": egress.recent(store, limit=50),
        "consent_history": [
            {k: e.as_dict()[k] for k in HISTORY_FIELDS} for e in ledger.events(store)
        ],
    }


def render(report: dict[str, Any], fmt: str) -> str:
    """The report as Markdown or as a self-contained HTML page (no scripts, no CDN)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cozy_kernel", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(f"report.{fmt}").render(r=report)
