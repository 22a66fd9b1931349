"""Consent receipts: each recorded consent as Kantara Consent Receipt v1.1 JSON and W3C DPV.

Receipts are built from the ledger event itself (the terms version and the consent screen
recorded with a grant), not from today's manifest, so a receipt states what was consented to.
The receipt id is derived from the event's hash: the same consent always gets the same id.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from cozy_kernel import ledger, terms
from cozy_kernel.store import Store

KANTARA_VERSION = "KI-CR-v1.1.0"
RECEIPT_NAMESPACE = uuid.UUID("6f0c3b4e-3d0e-5f1a-9a57-6b1c0a7e2c11")
DPV_CONTEXT = {
    "dpv": "https://w3id.org/dpv#",
    "pd": "https://w3id.org/dpv/pd#",
    "dct": "http://purl.org/dc/terms/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
TERMS_PURPOSE = "Keep your own data in your own workspace and analyse it in your notebooks"


def receipt_id(event: ledger.Event) -> str:
    return str(uuid.uuid5(RECEIPT_NAMESPACE, event.hash))


def _controller(op: terms.Operator) -> dict[str, Any]:
    return {
        "piiController": op.controller,
        "onBehalf": False,
        "contact": op.contact,
        "address": {"streetAddress": op.address, "addressCountry": op.jurisdiction},
        "email": op.email,
        "phone": op.phone,
    }


def _service(event: ledger.Event) -> dict[str, Any]:
    if event.scope == "terms":
        return {
            "service": "Cozy Notebook",
            "purposes": [
                {
                    "purpose": TERMS_PURPOSE,
                    "purposeCategory": ["Core function"],
                    "consentType": "EXPLICIT",
                    "piiCategory": ["Data the user chooses to connect"],
                    "primaryPurpose": True,
                    "termination": "Decline the terms (cozy terms decline) or delete the workspace",
                    "thirdPartyDisclosure": False,
                    "thirdPartyName": "",
                }
            ],
        }
    screen = json.loads(event.details)["screen"]
    names = [p["name"] for p in screen["processors"]]
    return {
        "service": screen["name"],
        "purposes": [
            {
                "purpose": purpose,
                "purposeCategory": screen.get("categories") or ["Personal data management"],
                "consentType": "EXPLICIT",
                "piiCategory": screen["personal_data"] or ["none"],
                "primaryPurpose": i == 0,
                "termination": f"Withdraw at any time: cozy disconnect {screen['connector']}",
                "thirdPartyDisclosure": bool(names),
                "thirdPartyName": ", ".join(names),
            }
            for i, purpose in enumerate(
                screen["purposes"] or ["Bring your data into your workspace"]
            )
        ],
    }


def kantara(event: ledger.Event, op: terms.Operator) -> dict[str, Any]:
    """One consent as a Kantara Initiative Consent Receipt, specification v1.1."""
    at = dt.datetime.fromisoformat(event.at)
    return {
        "version": KANTARA_VERSION,
        "jurisdiction": op.jurisdiction,
        "consentTimestamp": int(at.timestamp()),
        "collectionMethod": event.method,
        "consentReceiptID": receipt_id(event),
        "language": event.language or "en",
        "piiPrincipalId": event.subject,
        "piiControllers": [_controller(op)],
        "policyUrl": op.policy_url or "urn:cozy-notebook:terms",
        "services": [_service(event)],
        "sensitive": False,
        "spiCat": [],
    }


def dpv(event: ledger.Event, op: terms.Operator) -> dict[str, Any]:
    """The same consent as a W3C Data Privacy Vocabulary (DPV) JSON-LD record."""
    service = _service(event)
    processors = []
    if event.scope == "connector":
        screen = json.loads(event.details)["screen"]
        processors = [
            {
                "@type": "dpv:DataProcessor",
                "dct:title": p["name"],
                "dpv:hasPurpose": p["purpose"],
                "dpv:hasLocation": p["country"],
            }
            for p in screen["processors"]
        ]
    categories = sorted({c for p in service["purposes"] for c in p["piiCategory"]})
    return {
        "@context": DPV_CONTEXT,
        "@id": f"urn:uuid:{receipt_id(event)}",
        "@type": "dpv:ConsentRecord",
        "dct:created": {"@value": event.at, "@type": "xsd:dateTime"},
        "dpv:hasConsentStatus": {"@id": "dpv:ConsentGiven"},
        "dpv:hasDataSubject": {"@id": event.subject, "@type": "dpv:DataSubject"},
        "dpv:hasDataController": {"@type": "dpv:DataController", "dct:title": op.controller},
        "dpv:hasJurisdiction": op.jurisdiction,
        "dpv:hasPurpose": [{"@type": "dpv:Purpose", "dct:description": p["purpose"]}
                           for p in service["purposes"]],
        "dpv:hasPersonalData": [
            {"@id": c} if c.startswith("pd:") else {"dct:title": c} for c in categories
        ],
        "dpv:hasDataProcessor": processors,
        "dpv:hasConsentNotice": {
            "dct:title": service["service"],
            "dct:hasVersion": event.version,
            "dpv:hasIdentifier": event.text_sha256 or event.manifest_sha256,
        },
        "dpv:hasIndicationMethod": event.method,
    }  # fmt: skip


def write_all(store: Store, out: Path) -> list[Path]:
    """Write both views of every consent given or renewed; return the files written."""
    op = terms.operator()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for event in ledger.events(store):
        if event.kind not in ("given", "renewed"):
            continue
        rid = receipt_id(event)
        for suffix, view in ((".json", kantara(event, op)), (".jsonld", dpv(event, op))):
            path = out / f"{rid}{suffix}"
            path.write_text(json.dumps(view, indent=2, ensure_ascii=False) + "\n")
            written.append(path)
    return written
