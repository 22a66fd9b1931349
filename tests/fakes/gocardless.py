"""A local GoCardless Bank Account Data (API v2), after its public documentation.

Routes under ``/api/v2/``: ``token/new/`` and ``token/refresh/`` (JWT access and refresh
tokens, 401 "Token is invalid or expired" otherwise), ``institutions/?country=`` and
``institutions/{id}/``, ``agreements/enduser/``, ``requisitions/`` and ``requisitions/{id}/``
(status CR until a test approves it), and ``accounts/{id}/details|balances|transactions/``
(``date_from``/``date_to``, refused before the agreement's ``max_historical_days``). Errors
carry the service's ``{summary, detail, status_code}`` body, 400s name their fields. As the
real service does, every requisition gets fresh account ids for the same bank accounts.

The sandbox bank holds a French EUR current account (accents in its labels) and a British
GBP account with pending rows without ids (two of them identical); tests edit ``accounts``.
Knobs: ``approve()``, ``set_status()`` (``EX``: accounts answer 409), ``revoked`` ((account,
endpoint) pairs answering 403), ``reject_tokens()`` (issued access tokens stop working: the
next call gets a 401), ``revoke_keys()`` (the keys and every token get 401s),
``access_lifetime``, ``rate_limit`` ((reset seconds, how many 429s)
on account endpoints, with the documented ``HTTP_X_RATELIMIT_*`` headers), ``redirect``
(302 to another host). ``calls`` records what was asked; ``issued`` every token handed out.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from keyrings.cryptfile.cryptfile import CryptFileKeyring

SECRET_ID = "c4nary1d-7f3a-4c9e-9d2e-0b5e+/=Zq1"
SECRET_KEY = "CANARYkey+/=9d2e!x7f3a9c0b5e1d2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
SANDBOX = "SANDBOXFINANCE_SFIN0000"
SIGNING_KEY = b"fake-gocardless-signing-key"

INSTITUTIONS = [
    {"id": SANDBOX, "name": "Sandbox Finance", "bic": "SFIN0000", "countries": ["XX"]},
    {"id": "BNP_PARIBAS_BNPAFRPP", "name": "BNP Paribas", "bic": "BNPAFRPP", "countries": ["FR"]},
    {"id": "BOURSORAMA_BOUSFRPP", "name": "Boursorama", "bic": "BOUSFRPP", "countries": ["FR"]},
    {"id": "LCL_CRLYFRPP", "name": "LCL", "bic": "CRLYFRPP", "countries": ["FR"]},
]
for _bank in INSTITUTIONS:
    _bank.update(
        transaction_total_days="90",
        max_access_valid_for_days="90",
        logo=f"https://cdn-logos.gocardless.com/ais/{_bank['id']}.png",
    )


def days_ago(n: int) -> str:
    return (dt.date.today() - dt.timedelta(days=n)).isoformat()


def euro_account() -> dict[str, Any]:
    return {
        "details": {
            "resourceId": "FR-ACC-001",
            "iban": "FR76 3000 6000 0112 3456 7890 189",
            "currency": "EUR",
            "ownerName": "Camille Dupré",
            "name": "Compte Chèques",
            "product": "Compte courant",
            "cashAccountType": "CACC",
        },
        "balances": [
            {
                "balanceAmount": {"amount": "2400.00", "currency": "EUR"},
                "balanceType": "interimAvailable",
                "referenceDate": days_ago(0),
            },
            {
                "balanceAmount": {"amount": "2383.45", "currency": "EUR"},
                "balanceType": "closingBooked",
                "referenceDate": days_ago(1),
            },
        ],
        "booked": [
            {
                "transactionId": "FR-0000",
                "bookingDate": days_ago(120),
                "valueDate": days_ago(120),
                "transactionAmount": {"amount": "-9.99", "currency": "EUR"},
                "remittanceInformationUnstructured": "Beyond the agreement's history",
            },
            {
                "transactionId": "FR-0001",
                "bookingDate": days_ago(40),
                "valueDate": days_ago(40),
                "transactionAmount": {"amount": "2450.00", "currency": "EUR"},
                "debtorName": "ACME SAS",
                "remittanceInformationUnstructured": "VIR SEPA ACME SAS SALAIRE",
            },
            {
                "transactionId": "FR-0002",
                "bookingDate": days_ago(12),
                "valueDate": days_ago(13),
                "transactionAmount": {"amount": "-4.20", "currency": "EUR"},
                "creditorName": "Café de la Gare",
                "remittanceInformationUnstructured": "CB Café de la Gare  crème brûlée",
            },
            {
                "transactionId": "FR-0003",
                "bookingDate": days_ago(5),
                "valueDate": days_ago(5),
                "transactionAmount": {"amount": "-62.35", "currency": "EUR"},
                "creditorName": "EDF",
                "remittanceInformationUnstructuredArray": ["PRLV SEPA Électricité", "Échéance"],
            },
        ],
        "pending": [],
    }


def pound_account() -> dict[str, Any]:
    return {
        "details": {
            "resourceId": "GB-ACC-002",
            "iban": "GB33BUKB20201555555555",
            "currency": "GBP",
            "ownerName": "Camille Dupré",
            "product": "Everyday Account",
        },
        "balances": [
            {"balanceAmount": {"amount": "512.40", "currency": "GBP"}, "balanceType": "expected"},
            {
                "balanceAmount": {"amount": "500.00", "currency": "GBP"},
                "balanceType": "interimAvailable",
                "referenceDate": days_ago(0),
            },
        ],
        "booked": [
            {
                "internalTransactionId": "5c0b3e8f2d9a4b17a6e2c0d4f1b8a9e3",
                "bookingDateTime": f"{days_ago(3)}T23:30:00+01:00",
                "valueDate": days_ago(3),
                "transactionAmount": {"amount": "-12.50", "currency": "GBP"},
                "creditorName": "Tesco",
                "remittanceInformationUnstructured": "TESCO STORES 2041",
            },
            {
                "transactionId": "GB-0001",
                "bookingDate": days_ago(2),
                "transactionAmount": {"amount": "100.00", "currency": "GBP"},
                "debtorName": "J Smith",
                "remittanceInformationStructured": "INV-2024-17",
            },
        ],
        "pending": [
            {
                "valueDate": days_ago(1),
                "transactionAmount": {"amount": "-3.10", "currency": "GBP"},
                "remittanceInformationUnstructured": "PRET A MANGER",
            },
            {
                "valueDate": days_ago(1),
                "transactionAmount": {"amount": "-3.10", "currency": "GBP"},
                "remittanceInformationUnstructured": "PRET A MANGER",
            },
            {
                "valueDate": days_ago(0),
                "transactionAmount": {"amount": "-45.00", "currency": "GBP"},
                "creditorName": "Amazon",
                "remittanceInformationUnstructured": "Amazon.co.uk*AB12C",
            },
        ],
    }


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    status: int
    authorization: str | None


@dataclass
class FakeGoCardless:
    """The service's state; tests flip the knobs between calls."""

    access_lifetime: int = 86400
    rate_limit: tuple[int, int] | None = None
    revoked: set[tuple[str, str]] = field(default_factory=set)
    redirect: str | None = None
    keys_revoked: bool = False
    accounts: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"euro": euro_account(), "pound": pound_account()}
    )
    agreements: dict[str, dict[str, Any]] = field(default_factory=dict)
    requisitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    account_ids: dict[str, tuple[str, str]] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    # knobs -----------------------------------------------------------------------------
    def approve(self, status: str = "LN") -> None:
        """The user opens the latest link and approves: its requisition gets accounts."""
        with self.lock:
            requisition = list(self.requisitions.values())[-1]
            if not requisition["accounts"]:
                for key in self.accounts:
                    gid = str(uuid.uuid4())
                    self.account_ids[gid] = (requisition["id"], key)
                    requisition["accounts"].append(gid)
            requisition["status"] = status
            self.agreements[requisition["agreement"]]["accepted"] = now()

    def set_status(self, status: str) -> None:
        with self.lock:
            list(self.requisitions.values())[-1]["status"] = status

    def revoke_keys(self) -> None:
        """The user deleted their secrets at GoCardless: every token and the keys get 401s."""
        with self.lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()
            self.keys_revoked = True

    def reject_tokens(self) -> None:
        """Every access token issued so far stops working (as when one expires early)."""
        with self.lock:
            self.access_tokens.clear()

    def paths(self, prefix: str = "/api/v2/") -> list[str]:
        return [f"{c.method} {c.path}" for c in self.calls if c.path.startswith(prefix)]

    # handlers --------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, str], body: Any, token: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        parts = path.removeprefix("/api/v2/").strip("/").split("/")
        if parts[:1] == ["token"] and method == "POST":
            return self.token(parts[1:], body)
        if token not in self.access_tokens:
            return error(401, "Invalid token", "Token is invalid or expired")
        route = (method, parts[0], len(parts))
        if route == ("GET", "institutions", 1):
            country = query.get("country", "").upper()
            found = [i for i in INSTITUTIONS if not country or country in i["countries"]]
            return 200, found, {}
        if route == ("GET", "institutions", 2):
            match = [i for i in INSTITUTIONS if i["id"] == parts[1]]
            return (200, match[0], {}) if match else error(404, "Not found.", "Not found.")
        if route == ("POST", "agreements", 2) and parts[1] == "enduser":
            return self.agreement(body)
        if route == ("POST", "requisitions", 1):
            return self.requisition(body)
        if route == ("GET", "requisitions", 2):
            found = self.requisitions.get(parts[1])
            return (200, found, {}) if found else error(404, "Not found.", "Not found.")
        if method == "GET" and parts[0] == "accounts" and len(parts) == 3:
            return self.account(parts[1], parts[2], query)
        return error(404, "Not found.", "Not found.")

    def token(self, parts: list[str], body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if parts == ["new"]:
            given = (body.get("secret_id"), body.get("secret_key"))
            if given != (SECRET_ID, SECRET_KEY) or self.keys_revoked:
                return error(
                    401,
                    "Authentication failed",
                    "No active account found with the given credentials",
                )
            refresh = jwt("refresh", 30 * 86400)
            self.refresh_tokens.add(refresh)
            self.issued.append(refresh)
            access = self.issue()
            return (
                200,
                {
                    "access": access,
                    "access_expires": self.access_lifetime,
                    "refresh": refresh,
                    "refresh_expires": 30 * 86400,
                },
                {},
            )
        if parts == ["refresh"]:
            if body.get("refresh") not in self.refresh_tokens:
                return error(401, "Invalid token", "Token is invalid or expired")
            access = self.issue()
            return 200, {"access": access, "access_expires": self.access_lifetime}, {}
        return error(404, "Not found.", "Not found.")

    def issue(self) -> str:
        access = jwt("access", self.access_lifetime)
        self.access_tokens.add(access)
        self.issued.append(access)
        return access

    def agreement(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        institution = body.get("institution_id")
        if institution not in {i["id"] for i in INSTITUTIONS}:
            return field_error(
                "institution_id",
                f"Unknown Institution ID {institution}",
                "Get Institution IDs from /institutions/?country={$COUNTRY_CODE}",
            )
        history = int(body.get("max_historical_days", 90))
        if not 1 <= history <= 90:
            return field_error(
                "max_historical_days",
                "Incorrect max_historical_days",
                f"max_historical_days must be > 0 and <= 90 for {institution}",
            )
        valid = int(body.get("access_valid_for_days", 90))
        if not 1 <= valid <= 90:
            return field_error(
                "access_valid_for_days",
                "Incorrect access_valid_for_days",
                "access_valid_for_days must be > 0 and <= 90",
            )
        agreement = {
            "id": str(uuid.uuid4()),
            "created": now(),
            "institution_id": institution,
            "max_historical_days": history,
            "access_valid_for_days": valid,
            "access_scope": body.get("access_scope", ["balances", "details", "transactions"]),
            "accepted": None,
        }
        self.agreements[agreement["id"]] = agreement
        return 201, agreement, {}

    def requisition(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if not body.get("redirect"):
            return field_error("redirect", "This field is required.", "This field is required.")
        agreement = self.agreements.get(body.get("agreement", ""))
        if agreement is None or agreement["institution_id"] != body.get("institution_id"):
            return field_error(
                "agreement",
                "Incorrect agreement",
                "The agreement does not exist or is for another institution",
            )
        if body.get("reference") in {r["reference"] for r in self.requisitions.values()}:
            return field_error(
                "reference", "Client reference must be unique", "Client reference must be unique"
            )
        rid = str(uuid.uuid4())
        requisition = {
            "id": rid,
            "created": now(),
            "redirect": body["redirect"],
            "status": "CR",
            "institution_id": body["institution_id"],
            "agreement": agreement["id"],
            "reference": body.get("reference"),
            "accounts": [],
            "user_language": body.get("user_language", "EN"),
            "link": f"https://ob.gocardless.com/ob-psd2/start/{rid}/{body['institution_id']}",
            "ssn": None,
            "account_selection": False,
            "redirect_immediate": False,
        }
        self.requisitions[rid] = requisition
        return 201, requisition, {}

    def account(
        self, gid: str, what: str, query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        if gid not in self.account_ids:
            return error(404, "Account ID not found", f"Account ID {gid} not found")
        rid, key = self.account_ids[gid]
        requisition = self.requisitions[rid]
        if self.rate_limit is not None:
            reset, left = self.rate_limit
            self.rate_limit = (reset, left - 1) if left > 1 else None
            status, body, _ = error(
                429,
                "Rate limit exceeded",
                "Daily request limit set by the Institution has been exceeded.",
            )
            return (
                status,
                body,
                {
                    "HTTP_X_RATELIMIT_LIMIT": "100",
                    "HTTP_X_RATELIMIT_REMAINING": "99",
                    "HTTP_X_RATELIMIT_RESET": "30",
                    "HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_LIMIT": "4",
                    "HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_REMAINING": "0",
                    "HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_RESET": str(reset),
                },
            )
        if requisition["status"] == "EX":
            days = self.agreements[requisition["agreement"]]["access_valid_for_days"]
            return error(
                409,
                f"EUA was valid for {days} days and has expired",
                f"End User Agreement (EUA) {requisition['agreement']} has expired. "
                "In order to retrieve data, please create new EUA and requisition",
            )
        if (key, what) in self.revoked:
            return error(
                403,
                "Access has expired or it has been revoked",
                "To restore access reconnect the account.",
            )
        if self.redirect is not None:
            return 302, None, {"Location": f"{self.redirect}/api/v2/accounts/{gid}/{what}/"}
        data = self.accounts[key]
        if what == "details":
            return 200, {"account": {**data["details"]}}, {}
        if what == "balances":
            return 200, {"balances": data["balances"]}, {}
        if what == "transactions":
            earliest = dt.date.today() - dt.timedelta(
                days=self.agreements[requisition["agreement"]]["max_historical_days"]
            )
            first = query.get("date_from", earliest.isoformat())
            last = query.get("date_to", dt.date.today().isoformat())
            if first < earliest.isoformat():
                return field_error(
                    "date_from",
                    "Date can't be before max_historical_days",
                    f"date_from must be on or after {earliest}",
                )

            def within(row: dict[str, Any]) -> bool:
                day = str(
                    row.get("bookingDate") or row.get("bookingDateTime") or row.get("valueDate")
                )[:10]
                return first <= day <= last

            return (
                200,
                {
                    "transactions": {
                        "booked": [r for r in data["booked"] if within(r)],
                        "pending": [r for r in data["pending"] if within(r)],
                    },
                    "last_updated": now(),
                },
                {},
            )
        return error(404, "Not found.", "Not found.")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def error(status: int, summary: str, detail: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"summary": summary, "detail": detail, "status_code": status}, {}


def field_error(name: str, summary: str, detail: str) -> tuple[int, Any, dict[str, str]]:
    return 400, {name: {"summary": summary, "detail": detail}, "status_code": 400}, {}


def jwt(kind: str, lifetime: int) -> str:
    """A signed JWT as simplejwt issues them: ``token_type``, ``exp``, ``jti``."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"token_type": kind, "exp": int(time.time()) + lifetime, "jti": secrets.token_hex(16)}
    payload = part(json.dumps(claims).encode())
    signature = hmac.new(SIGNING_KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.answer("GET")

    def do_POST(self) -> None:
        self.answer("POST")

    def answer(self, method: str) -> None:
        fake = self.server.fake
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization")
        token = auth.removeprefix("Bearer ") if auth and auth.startswith("Bearer ") else None
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        with fake.lock:
            if body is None:
                status, payload, headers = error(400, "Invalid JSON", "Body is not JSON")
            else:
                status, payload, headers = fake.handle(method, split.path, query, body, token)
            fake.calls.append(Call(method, split.path, query, status, auth))
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    fake: FakeGoCardless


def serve(fake: FakeGoCardless) -> _Server:
    """Start ``fake`` on a free port of 127.0.0.1; ``shutdown()`` and ``server_close()`` it."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class QuickKeyring(CryptFileKeyring):
    """The same encrypted file keyring with test-sized Argon2 costs, for the tests that are
    not about the keyring: the real costs take most of a second per entry and per process.

    Chosen with ``PYTHON_KEYRING_BACKEND=tests.fakes.gocardless.QuickKeyring``; the file is
    ``$GC_QUICK_KEYRING``.
    """

    time_cost = 1
    memory_cost = 2**10
    parallelism = 1

    def __init__(self) -> None:
        super().__init__()
        self.file_path = os.environ["GC_QUICK_KEYRING"]
        self.keyring_key = "a long passphrase for the test keyring"
