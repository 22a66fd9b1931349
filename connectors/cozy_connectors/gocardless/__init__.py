"""``gocardless``: your bank accounts through GoCardless Bank Account Data (formerly Nordigen).

GoCardless is a licensed account information service: with the user's own API keys it asks
the bank for read access (an end-user agreement), the user approves it at the bank through
a link (a requisition), and the accounts can then be read for at most 90 days, after which
the bank wants a new approval. ``link`` sets this up; ``fetch`` reads every linked account.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from cozy_connectors.gocardless import records
from cozy_connectors.gocardless.client import RENEW, ApiError, Client
from cozy_kernel.connector import (
    Checkpoint,
    Connector,
    Credential,
    Health,
    Item,
    Link,
    Manifest,
    Processor,
    Record,
    Rejected,
    Setting,
)
from cozy_kernel.errors import BadInput, ConsentRequired, ReconnectNeeded, UsageError, unknown
from cozy_kernel.importer import assign_ids

OVERLAP_DAYS = 7
SCOPE = ("balances", "details", "transactions")
# Where the bank sends the browser after approval; nothing needs to listen there.
REDIRECT = "http://localhost/cozy-notebook/linked"
STATUS = {
    "CR": "created, waiting for you to open the link",
    "GC": "giving consent",
    "UA": "undergoing authentication at your bank",
    "RJ": "rejected",
    "SA": "selecting accounts",
    "GA": "granting access",
    "LN": "linked",
    "EX": "expired",
}
WAITING = ("CR", "GC", "UA", "SA", "GA")
LINK_AGAIN = "run `cozy connect gocardless` for a new link"


class GoCardless(Connector):
    """Accounts, balances and transactions of one bank, read through GoCardless."""

    manifest = Manifest(
        id="gocardless",
        name="GoCardless Bank Account Data",
        version="1.0.0",
        kind="api",
        writes=("bank.accounts", "bank.transactions"),
        categories=("banking",),
        personal_data=("pd:FinancialAccount", "pd:Transaction"),
        purposes=("Keep a copy of your bank accounts, balances and transactions",),
        processors=(
            Processor(
                name="GoCardless Ltd",
                role="account information service provider",
                data_shared=("your bank account details", "balances", "transactions"),
                purpose="fetch your accounts from your bank with your authorisation",
                country="GB",
            ),
            Processor(
                name="Your bank (the institution_id you choose)",
                role="source: the bank that holds your accounts",
                data_shared=("your approval to share your accounts with GoCardless",),
                purpose="share your accounts for as long as you authorise it",
                country="your bank's country",
            ),
        ),
        egress_hosts=("bankaccountdata.gocardless.com",),
        description={
            "en": "Your bank accounts through GoCardless Bank Account Data, with your own keys.",
            "fr": "Vos comptes bancaires via GoCardless Bank Account Data, avec vos propres clés.",
            "es": "Sus cuentas bancarias a través de GoCardless Bank Account Data, con sus claves.",
        },
        settings=(
            Setting(
                "base_url", "Service address", default="https://bankaccountdata.gocardless.com"
            ),
            Setting(
                "institution_id",
                "Your bank's GoCardless id",
                help="e.g. SANDBOXFINANCE_SFIN0000; set country to list your country's banks",
            ),
            Setting("country", "Your bank's country (ISO code)", help="e.g. FR; lists banks"),
            Setting("max_historical_days", "Days of history to ask for", "int", "90"),
            Setting("access_valid_for_days", "Days the bank's approval lasts", "int", "90"),
            Setting("agreement_id", "End-user agreement (kept by cozy connect)"),
            Setting("requisition_id", "Requisition (kept by cozy connect)"),
            Setting("linked_at", "When the link was made (kept by cozy connect)"),
            Setting("institution_name", "Your bank's name (kept by cozy connect)"),
        ),
        credentials=(
            Credential("secret_id", "GoCardless secret ID", "Developers > User secrets"),
            Credential("secret_key", "GoCardless secret key", "shown once when created"),
        ),
        default_frequency="daily",
    )

    def link(self) -> Link:
        """Ask the bank for read access: an agreement, then a requisition whose link to open."""
        client = self._client()
        bank = self._institution(client)
        try:
            agreement = client.call(
                "POST",
                "agreements/enduser/",
                body={
                    "institution_id": bank["id"],
                    "max_historical_days": self.settings["max_historical_days"],
                    "access_valid_for_days": self.settings["access_valid_for_days"],
                    "access_scope": list(SCOPE),
                },
            )
        except ApiError as exc:
            if exc.status != 400:
                raise
            raise BadInput(
                exc.message, hint="change it with cozy connect gocardless --set"
            ) from None
        requisition = client.call(
            "POST",
            "requisitions/",
            body={
                "redirect": REDIRECT,
                "institution_id": bank["id"],
                "agreement": agreement["id"],
                "reference": f"cozy-{uuid.uuid4().hex}",
                "user_language": "EN",
            },
        )
        return Link(
            settings={
                "agreement_id": str(agreement["id"]),
                "requisition_id": str(requisition["id"]),
                "linked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "institution_name": str(bank["name"]),
            },
            message=(
                f"Open this link to let {bank['name']} share your data with Cozy Notebook: "
                f"{requisition['link']}"
            ),
        )

    def fetch(self, since: str | None) -> Iterator[Item]:
        """Every linked account, from a week before ``since`` so late-booked rows come too."""
        client = self._client()
        accounts = self._linked_accounts(client)
        today = dt.date.today()
        # A day inside the agreement's history: the service refuses an earlier date_from.
        start = today - dt.timedelta(days=int(self.settings["max_historical_days"]) - 1)
        if since is not None:
            start = max(start, dt.date.fromisoformat(since) - dt.timedelta(days=OVERLAP_DAYS))
        window = {"date_from": min(start, today).isoformat(), "date_to": today.isoformat()}
        details = {
            gid: client.call("GET", f"accounts/{gid}/details/", account=True).get("account", {})
            for gid in accounts
        }
        ids = records.account_ids(self.manifest.id, details)
        last_booked: dt.date | None = None
        for gid, info in details.items():
            balances = client.call("GET", f"accounts/{gid}/balances/", account=True)
            found = client.call("GET", f"accounts/{gid}/transactions/", params=window,
                                account=True)  # fmt: skip
            booked, items = self._transactions(ids[gid], found.get("transactions", {}))
            yield from items
            if booked is not None:
                last_booked = booked if last_booked is None else max(last_booked, booked)
            try:
                row = records.account(ids[gid], info, balances.get("balances", []),
                                      self._bank(), today)  # fmt: skip
            except (KeyError, TypeError, ValueError) as exc:
                yield Rejected(f"account {ids[gid]}: {_why(exc)}")
                continue
            yield Record("bank.accounts", row, _raw({"details": info, **balances}))
        if last_booked is not None:
            yield Checkpoint(min(last_booked, today).isoformat())

    def check(self) -> Health:
        """The requisition's status when the network is at hand, else what the link says."""
        requisition = self.settings.get("requisition_id")
        if not requisition:
            return Health(False, "not linked to a bank yet: run cozy connect gocardless")
        details = {"institution": self._bank(), "requisition_id": requisition,
                   "linked_at": self.settings.get("linked_at")}  # fmt: skip
        if self.http is None or self.vault is None:
            return Health(True, f"linked to {self._bank()} on {details['linked_at']}", details)
        status = self._client().call("GET", f"requisitions/{requisition}/")["status"]
        described = STATUS.get(status, f"unknown status {status}")
        return Health(status == "LN", f"{self._bank()}: {described}", {**details, "status": status})

    def _client(self) -> Client:
        if self.http is None or self.vault is None:
            raise UsageError("gocardless reaches the network only through cozy sync or connect")
        return Client(self.http, str(self.settings["base_url"]), self.vault)

    def _bank(self) -> str:
        return str(self.settings.get("institution_name") or self.settings.get("institution_id"))

    def _institution(self, client: Client) -> Any:
        """The chosen bank, or an error listing the banks of ``country`` to choose from."""
        chosen = self.settings.get("institution_id")
        country = self.settings.get("country")
        if chosen:
            try:
                return client.call("GET", f"institutions/{chosen}/")
            except ApiError as exc:
                if exc.status != 404:
                    raise
        if not country:
            problem = f"GoCardless knows no bank {chosen!r}" if chosen else "choose your bank"
            raise UsageError(
                problem, hint="--set country=XX (your bank's country code) lists the banks"
            )
        banks = client.call("GET", "institutions/", params={"country": str(country).lower()})
        if chosen:
            raise unknown(f"GoCardless bank in {country}", chosen, [b["id"] for b in banks])
        listing = "; ".join(f"{b['id']} ({b['name']})" for b in banks) or "none"
        raise UsageError(
            "choose your bank with --set institution_id=ID",
            hint=f"GoCardless serves in {country}: {listing}",
        )

    def _linked_accounts(self, client: Client) -> list[str]:
        """The requisition's accounts, or the error saying what the user must do first."""
        requisition = self.settings.get("requisition_id")
        if not requisition:
            raise ConsentRequired(
                "gocardless is not linked to a bank yet",
                hint="run: cozy connect gocardless --set institution_id=YOUR_BANK",
            )
        try:
            found = client.call("GET", f"requisitions/{requisition}/")
        except ApiError as exc:
            if exc.status != 404:
                raise
            raise ReconnectNeeded("GoCardless no longer has this bank link", hint=RENEW) from None
        status, bank = found["status"], self._bank()
        if status in WAITING:
            raise ConsentRequired(
                f"{bank} has not yet authorised access ({STATUS[status]})",
                hint="open the link cozy connect printed and approve at your bank; lost it? "
                + LINK_AGAIN,
            )
        if status == "RJ":
            raise ReconnectNeeded(
                f"the bank refused access: {bank} rejected the approval, or it was cancelled",
                hint=f"{LINK_AGAIN}, open it and approve at your bank",
            )
        if status == "EX":
            days = self.settings["access_valid_for_days"]
            raise ReconnectNeeded(
                f"access to {bank} expired: a bank lets an app read your accounts for a limited "
                f"time only (at most 90 days under PSD2; this link asked for {days})",
                hint=RENEW,
            )
        if status != "LN":
            raise ConsentRequired(f"GoCardless link to {bank} has status {status!r}", hint=RENEW)
        return [str(a) for a in found.get("accounts", [])]

    def _transactions(
        self, account_id: str, found: Mapping[str, Any]
    ) -> tuple[dt.date | None, list[Record | Rejected]]:
        """Booked and pending rows of one answer, id-less ones numbered like an import's."""
        rows: list[Record] = []
        problems: list[Record | Rejected] = []
        for pending, key in ((False, "booked"), (True, "pending")):
            for row in found.get(key, []):
                try:
                    data = records.transaction(account_id, row, pending)
                except (KeyError, TypeError, ValueError) as exc:
                    ident = row.get("transactionId") or "(no id)"
                    problems.append(Rejected(f"{account_id} transaction {ident}: {_why(exc)}"))
                    continue
                rows.append(Record("bank.transactions", data, _raw(row)))
        booked = [r.data["date"] for r in rows if not r.data["pending"]]
        return max(booked, default=None), [*assign_ids(rows), *problems]


def _raw(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()


def _why(exc: Exception) -> str:
    return f"field {exc} is missing" if isinstance(exc, KeyError) else str(exc)
