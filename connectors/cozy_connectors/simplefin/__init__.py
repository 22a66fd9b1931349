"""``simplefin``: US bank and card accounts through a SimpleFIN bridge (simplefin.org).

The user creates a *setup token* at the bridge: base64 of a one-time claim URL. ``link``
claims it once and receives the *access URL* (``https://user:password@host/simplefin``), the
real credential: it lives in the keyring only and travels as HTTP Basic auth, never inside a
URL that could be logged. ``fetch`` reads ``/accounts`` for a date window with pending rows.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import requests

from cozy_connectors.simplefin.accounts import AccountSet
from cozy_kernel.connector import Connector, Credential, Item, Link, Manifest, Processor, Setting
from cozy_kernel.egress import GuardedSession, host_of
from cozy_kernel.errors import BadInput, ConnectorFailed, ReconnectNeeded

if TYPE_CHECKING:
    from cozy_kernel.secrets import Vault

BRIDGE = "https://beta-bridge.simplefin.org"
HISTORY_DAYS = 90  # the bridge serves about 90 days of history
OVERLAP_DAYS = 7  # banks book card payments days late: re-read the last week
MAX_WAIT = 10.0  # seconds of rate limiting worth waiting for within a sync
ATTEMPTS = 3
ACCESS, SETUP, CLAIMED = "access_url", "setup_token", "claimed_setup_token"
_DATA = ("account details, balances and transactions",)


def _epoch(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())


def _retry_after(response: requests.Response) -> float:
    """Seconds to wait, from ``Retry-After``; a minute when it gives no number of seconds."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return 60.0


def claim_url(setup_token: str) -> str:
    """The claim URL a setup token encodes; the error never repeats the token."""
    text = "".join(setup_token.split()).replace("-", "+").replace("_", "/")
    try:
        url = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        url = ""
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise BadInput(
            "this is not a SimpleFIN setup token, which is base64 of a claim URL",
            hint="copy the whole setup token the bridge showed, with nothing around it",
        )
    return url


def split_access(access_url: str) -> tuple[str, tuple[str, str]]:
    """The access URL without its credentials, and the credentials for HTTP Basic auth.

    Raises ``ValueError`` with a message that never holds the URL.
    """
    parts = urllib.parse.urlsplit(access_url)
    problem = ValueError("not an access URL (https://user:password@host/path)")
    try:
        port = parts.port
    except ValueError:
        raise problem from None
    if parts.scheme not in ("https", "http") or not parts.hostname or not parts.username:
        raise problem
    netloc = parts.hostname + (f":{port}" if port else "")
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    user = urllib.parse.unquote(parts.username)
    return base, (user, urllib.parse.unquote(parts.password or ""))


class SimpleFin(Connector):
    """Accounts, balances and transactions, pending included, from a SimpleFIN bridge."""

    manifest = Manifest(
        id="simplefin",
        name="SimpleFIN Bridge",
        version="1.0.0",
        kind="api",
        writes=("bank.accounts", "bank.transactions"),
        categories=("banking",),
        personal_data=("pd:FinancialAccount", "pd:Transaction"),
        purposes=("Keep your US bank and card accounts and transactions in your own store",),
        description={
            "en": "US bank and credit-card accounts through SimpleFIN Bridge, with a setup token.",
            "es": "Cuentas bancarias y tarjetas de EE. UU. mediante SimpleFIN Bridge.",
            "fr": "Comptes bancaires et cartes américains via SimpleFIN Bridge.",
        },
        processors=(
            Processor(
                "SimpleFIN Bridge (SimpleFIN Inc.)",
                "account aggregator",
                _DATA,
                "fetch your accounts with the access you created",
                "US",
            ),
            Processor(
                "MX Technologies, Inc.",
                "bank data aggregator the bridge uses",
                _DATA,
                "read your banks for the bridge",
                "US",
            ),
        ),
        egress_hosts=("beta-bridge.simplefin.org", "bridge.simplefin.org"),
        settings=(
            Setting(
                "base_url",
                "Bridge address",
                default=BRIDGE,
                help="the SimpleFIN bridge your setup token comes from",
            ),
        ),
        credentials=(
            Credential(
                SETUP,
                "SimpleFIN setup token",
                "create one at your bridge; it can be claimed once, by this connection",
            ),
        ),
        default_frequency="daily",
    )

    @property
    def bridge(self) -> str:
        return str(self.settings.get("base_url") or BRIDGE)

    @property
    def renew(self) -> str:
        return (
            f"at {self.bridge} create a new setup token, then run: "
            f"cozy connect {self.manifest.id} --secret-env {SETUP}=ENVVAR --yes"
        )

    def _tools(self) -> tuple[requests.Session, Vault]:
        if self.http is None or self.vault is None:
            raise ConnectorFailed(f"{self.manifest.id} runs only with the network and keyring")
        return self.http, self.vault

    def _check(self, url: str, what: str) -> None:
        """Refuse a URL off the granted hosts, or one that would carry a secret in clear."""
        host = host_of(url)
        allowed = {*self.manifest.egress_hosts, host_of(self.bridge)}
        plain_ok = host == host_of(self.bridge) and self.bridge.startswith("http://")
        if host not in allowed and host.split(":")[0] not in allowed:
            raise BadInput(
                f"the {what} points at {host}, not at your bridge ({', '.join(sorted(allowed))})",
                hint=f"if you trust it, connect again with --set base_url=https://{host}",
            )
        if not (url.startswith("https://") or plain_ok):
            raise BadInput(
                f"the {what} would travel unencrypted (http) to {host}",
                hint="create a setup token at a bridge reached over https",
            )

    def link(self) -> Link:
        """Claim the setup token, once: a second claim would fail and look like a theft."""
        http, vault = self._tools()
        setup = self.secrets[SETUP]
        if ACCESS in self.secrets and self.secrets.get(CLAIMED) == setup:
            return Link(message="SimpleFIN is linked already; the setup token was not used again")
        url = claim_url(setup.reveal())
        self._check(url, "setup token")
        host = host_of(url)
        if isinstance(http, GuardedSession):
            # The claim path holds the one-time token: keep it out of the request log.
            http.hide(urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
        try:
            response = http.post(url, data=b"", allow_redirects=False)
        except requests.RequestException as exc:
            raise ConnectorFailed(
                f"could not reach the SimpleFIN bridge at {host} ({type(exc).__name__})",
                hint="try again; if the bridge then says the token was already used, " + self.renew,
            ) from None
        if response.status_code == 403:
            raise ReconnectNeeded(
                "this setup token was already used: if you did not use it, someone else may "
                "have your access — disable it at the bridge and create a new one",
                hint=self.renew,
            )
        if response.status_code != 200:
            raise ConnectorFailed(
                f"the SimpleFIN bridge at {host} answered HTTP {response.status_code} to the claim",
                hint="try again later",
            )
        access = response.text.strip()
        try:
            split_access(access)
        except ValueError as exc:
            raise ConnectorFailed(f"the bridge's answer to the claim is {exc}") from None
        vault.put(ACCESS, access)
        vault.put(CLAIMED, setup.reveal())
        self._check(access, "access the bridge gave")
        return Link(
            message=(
                f"claimed the setup token at {host}: the access it gave is in your keyring only. "
                f"The token is used up now; if the bridge ever says it was claimed by someone "
                f"else, disable that access at {self.bridge}."
            )
        )

    def fetch(self, since: str | None) -> Iterator[Item]:
        access = self.secrets.get(ACCESS)
        if access is None:
            raise ReconnectNeeded("SimpleFIN is not linked: no setup token was claimed yet",
                                  hint=self.renew)  # fmt: skip
        try:
            base, auth = split_access(access.reveal())
        except ValueError as exc:
            raise ReconnectNeeded(f"the SimpleFIN access in your keyring is {exc}",
                                  hint=self.renew) from None  # fmt: skip
        today = dt.datetime.now(dt.UTC).date()
        if since is None:
            start = today - dt.timedelta(days=HISTORY_DAYS)
        else:
            start = dt.date.fromisoformat(since) - dt.timedelta(days=OVERLAP_DAYS)
        params = {
            "start-date": _epoch(start),
            "end-date": _epoch(today + dt.timedelta(days=1)),
            "pending": 1,
        }
        payload = self._accounts(f"{base}/accounts", auth, params)
        yield from AccountSet(payload, self.manifest.id, today).items()

    def _accounts(
        self, url: str, auth: tuple[str, str], params: Mapping[str, int]
    ) -> Mapping[str, Any]:
        """GET the account set, waiting out a short rate limit; errors say what to do."""
        http, _ = self._tools()
        host = host_of(url)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = http.get(url, params=params, auth=auth)
            except requests.RequestException as exc:
                raise ConnectorFailed(
                    f"could not reach the SimpleFIN bridge at {host} ({type(exc).__name__})",
                    hint="check the network and try again; nothing was written",
                ) from None
            if response.status_code != 429:
                break
            wait = _retry_after(response)
            if wait > MAX_WAIT or attempt == ATTEMPTS:
                at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
                raise ConnectorFailed(
                    f"the SimpleFIN bridge is limiting requests; try again at {at:%H:%M} (UTC)",
                    hint="nothing was written",
                )
            time.sleep(wait)
        status = response.status_code
        if status in (401, 403):
            raise ReconnectNeeded(
                f"the SimpleFIN bridge refused the access (HTTP {status}): it was revoked or "
                "disabled at the bridge",
                hint=self.renew,
            )
        if status == 402:
            raise ConnectorFailed(
                "your SimpleFIN subscription needs payment at the bridge",
                hint=f"renew it at {self.bridge}, then sync again; nothing was written",
            )
        if status != 200:
            raise ConnectorFailed(f"the SimpleFIN bridge at {host} answered HTTP {status}",
                                  hint="try again later; nothing was written")  # fmt: skip
        try:
            payload = response.json(parse_float=Decimal)
        except ValueError:
            payload = None
        if not isinstance(payload, Mapping):
            raise ConnectorFailed(f"the SimpleFIN bridge at {host} sent a reply that is not "
                                  "an account set", hint="nothing was written")  # fmt: skip
        return payload
