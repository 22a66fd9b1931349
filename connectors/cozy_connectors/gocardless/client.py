"""Calls to GoCardless Bank Account Data (API v2): tokens, rate limits and actionable errors.

An access token lasts a day and a refresh token a month; both are JWTs whose ``exp`` claim
says when they lapse, so a run reuses a stored access token while it is valid, refreshes it
when it lapsed or the service refuses it, and spends the user's secret keys on a new pair
only when the refresh token lapsed too. Rotated tokens go to the keyring at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import requests

from cozy_kernel.egress import host_of
from cozy_kernel.errors import ConnectorFailed, ReconnectNeeded

if TYPE_CHECKING:
    from cozy_kernel.secrets import Secret, Vault

API = "/api/v2/"
MAX_WAIT_SECONDS = 10
MAX_WAITS = 3
EARLY_SECONDS = 60
ACCOUNT_RESET = "HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_RESET"
RESET = "HTTP_X_RATELIMIT_RESET"
LAPSED = re.compile(r"expired|revoked", re.IGNORECASE)
RENEW = (
    "to renew: run `cozy connect gocardless` (it creates a new agreement and prints a new "
    "link), open the link and approve at your bank, then run `cozy sync gocardless`"
)
NEW_KEYS = (
    "create a secret_id and secret_key at bankaccountdata.gocardless.com (Developers > User "
    "secrets), then: cozy connect gocardless --secret-env secret_id=VAR --secret-env "
    "secret_key=VAR"
)


class ApiError(ConnectorFailed):
    """GoCardless refused a request; ``status`` lets callers treat a 404 or 400 apart."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Client:
    """One run's view of the API through the egress-guarded session and the keyring."""

    def __init__(self, http: requests.Session, base_url: str, vault: Vault) -> None:
        self.http = http
        # The official clients write the service address as the API root (".../api/v2"):
        # take both that and the bare host, never doubling the path.
        self.root = base_url.rstrip("/").removesuffix(API.rstrip("/")) + API
        self.host = host_of(base_url)
        self.vault = vault
        self.access: str | None = None

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        account: bool = False,
    ) -> Any:
        """The decoded answer; ``account`` marks the endpoints a bank's consent guards."""
        if self.access is None:
            self.access = self._token(renew=False)
        response = self._send(method, path, body, params, self.access, account)
        if response.status_code == 401:
            self.access = self._token(renew=True)
            response = self._send(method, path, body, params, self.access, account)
        return self._answer(response, method, path, account)

    def _token(self, *, renew: bool) -> str:
        """The stored access token while valid, else a refreshed one, else a new pair."""
        if not renew and _fresh(self.vault.get("access_token")):
            return self.vault["access_token"].reveal()
        refresh = self.vault.get("refresh_token")
        if refresh is not None and _fresh(refresh):
            answer = self._auth("token/refresh/", {"refresh": refresh.reveal()})
            if answer is not None:
                self.vault.put("access_token", answer["access"])
                return str(answer["access"])
        keys = {k: self.vault[k].reveal() for k in ("secret_id", "secret_key")}
        answer = self._auth("token/new/", keys)
        if answer is None:
            raise ReconnectNeeded("GoCardless refused your secret_id and secret_key", hint=NEW_KEYS)
        self.vault.put("access_token", answer["access"])
        self.vault.put("refresh_token", answer["refresh"])
        return str(answer["access"])

    def _auth(self, path: str, body: Mapping[str, str]) -> Any:
        """A token endpoint's answer, or None when it refused what we sent (401)."""
        response = self._send("POST", path, body, None, None, False)
        return None if response.status_code == 401 else self._answer(response, "POST", path, False)

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        token: str | None,
        account: bool,
    ) -> requests.Response:
        """Send, waiting out short rate limits; a long one ends the run with when to retry."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        for _ in range(MAX_WAITS + 1):
            try:
                response = self.http.request(
                    method, self.root + path, json=body, params=params, headers=headers
                )
            except requests.RequestException as exc:
                # The exception's text holds the URL and its query: name the host only.
                raise ConnectorFailed(
                    f"could not reach {self.host} ({type(exc).__name__})",
                    hint="check the network connection, then sync again",
                ) from None
            if response.status_code != 429:
                return response
            wait = _reset(response, account)
            if wait is None or wait > MAX_WAIT_SECONDS:
                break
            time.sleep(wait)
        when = "later" if wait is None else f"at {_clock(wait)} (UTC)"
        raise ConnectorFailed(
            f"GoCardless rate limit reached ({_reason(response)}); try again {when}",
            hint="banks let GoCardless read an account only a few times a day",
        )

    def _answer(self, response: requests.Response, method: str, path: str, account: bool) -> Any:
        status = response.status_code
        if status < 400:
            try:
                return response.json(parse_float=Decimal)
            except ValueError:
                raise ConnectorFailed(
                    f"GoCardless answered {path} with something not JSON"
                ) from None
        reason = _reason(response)
        if account and status in (401, 403, 409) and LAPSED.search(reason):
            raise ReconnectNeeded(f"your bank's consent to share this account lapsed: {reason}",
                                  hint=RENEW)  # fmt: skip
        if status == 401:
            raise ReconnectNeeded(f"GoCardless refused a fresh access token: {reason}",
                                  hint=NEW_KEYS)  # fmt: skip
        raise ApiError(status, f"GoCardless answered {status} to {method} {path}: {reason}")


def _fresh(token: Secret | None) -> bool:
    """Whether a stored token is still valid for a while; one of unknown shape is trusted."""
    if token is None:
        return False
    try:
        claims = token.reveal().split(".")[1]
        padded = claims + "=" * (-len(claims) % 4)
        expires = float(json.loads(base64.urlsafe_b64decode(padded))["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        expires = math.inf
    return expires > time.time() + EARLY_SECONDS


def _reset(response: requests.Response, account: bool) -> int | None:
    """Seconds until the limit that refused us resets, from the documented headers."""
    names = (ACCOUNT_RESET, RESET) if account else (RESET, ACCOUNT_RESET)
    for name in names:
        value = response.headers.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


def _clock(seconds: int) -> str:
    """When a wait ends, rounded up to the minute; the date too if it is not today."""
    now = dt.datetime.now(dt.UTC)
    at = now + dt.timedelta(seconds=seconds + 59)
    return at.strftime("%H:%M") if at.date() == now.date() else at.strftime("%Y-%m-%d %H:%M")


def _reason(response: requests.Response) -> str:
    """The service's own words: ``summary``/``detail``, or the fields a 400 names."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    parts = [str(body[k]) for k in ("summary", "detail") if body.get(k)]
    for name, value in body.items():
        if isinstance(value, dict):
            parts.append(f"{name}: {value.get('detail') or value.get('summary')}")
        elif isinstance(value, list):
            parts.append(f"{name}: {' '.join(map(str, value))}")
    unique = list(dict.fromkeys(parts))
    return "; ".join(unique)[:300] or f"HTTP {response.status_code}"
