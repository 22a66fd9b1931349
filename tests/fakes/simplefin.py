"""A local SimpleFIN Bridge, after the protocol at https://www.simplefin.org/protocol.html.

Routes: ``POST /simplefin/claim/<token>`` answers the access URL once (a second claim gets
403), ``GET /simplefin/accounts`` wants HTTP Basic auth and filters by ``start-date`` (on or
after), ``end-date`` (before) and ``pending=1``. It speaks the v1 shape (``org`` in each
account, ``errors`` as strings) or the newer one (``connections`` + ``conn_id``, ``errlist``).

Knobs: ``version``, ``problems`` (what ``errors``/``errlist`` say), ``payment_due`` (402),
``revoked`` (403), ``retry_after`` (429s to answer, with their ``Retry-After``),
``redirect`` (302 to ``localhost``, another host), ``points`` (an account in a custom
currency), and the ``accounts`` themselves. ``requests`` records what was asked.

:class:`PlainKeyring` stands in for the OS keyring: the encrypted file derives an Argon2 key
for every entry it reads (about a second each here), which would make a dozen CLI syncs take
minutes; the canary test keeps the encrypted file, since it checks what lands on disk.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

USER = "CANARYuser7f3a9c"
PASSWORD = "pw+/=CANARY-9d2e!x"

CONNECTIONS = {
    "CON-PFCU": {
        "name": "Prairie Federal Credit Union",
        "org_id": "ORG-PFCU",
        "domain": "prairiefcu.example",
        "url": "https://www.prairiefcu.example",
    },
    "CON-SUMMIT": {
        "name": "Summit Card Services",
        "org_id": "ORG-SUMMIT",
        "domain": "summitcard.example",
        "url": "https://www.summitcard.example",
    },
}


def epoch(moment: dt.datetime | dt.date) -> int:
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(), dt.UTC)
    return int(moment.timestamp())


@dataclass
class Tx:
    id: str
    amount: str
    description: str
    posted: dt.datetime | None  # None: pending with ``posted`` 0, as some bridges send
    payee: str | None = None
    transacted_at: dt.datetime | None = None
    pending: bool = False
    memo: str | None = None

    @property
    def when(self) -> int:
        """The instant the date filters look at; 0 when the row has none."""
        moment = self.posted or self.transacted_at
        return 0 if moment is None else epoch(moment)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "posted": 0 if self.posted is None else epoch(self.posted),
            "amount": self.amount,
            "description": self.description,
        }
        if self.pending:
            out["pending"] = True
        if self.transacted_at is not None:
            out["transacted_at"] = epoch(self.transacted_at)
        if self.payee is not None:
            out["payee"] = self.payee
        if self.memo is not None:
            out["memo"] = self.memo
        return out


@dataclass
class Account:
    id: str
    conn_id: str
    name: str
    currency: str
    balance: str
    available: str
    balance_date: dt.datetime
    transactions: list[Tx] = field(default_factory=list)


def fixture(today: dt.date) -> list[Account]:
    """A checking account and a credit card, with pending rows and an accented payee."""

    def at(days_ago: int, hour: int = 12) -> dt.datetime:
        return dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(hour), dt.UTC)

    checking = Account(
        "ACT-CHK", "CON-PFCU", "Everyday Checking", "USD", "2406.17", "2387.77", at(0, 6),
        [
            Tx("C0", "500.00", "MOBILE DEPOSIT", at(100)),
            Tx("C1", "2150.00", "PAYROLL ACME CORP DIR DEP", at(20), "Acme Corp"),
            Tx("C2", "-1200.00", "ONLINE TRANSFER TO OAK STREET APTS", at(12),
               "Oak Street Apartments", memo="rent"),
            Tx("C3", "-64.35", "CAFE OLE PORTLAND OR", at(5, 2), "Café Olé", at(6, 20)),
            Tx("C4", "-18.40", "POS PURCHASE GREEN GROCER", None, "Green Grocer", at(1, 18),
               pending=True),
        ],
    )  # fmt: skip
    card = Account(
        "ACT-CARD", "CON-SUMMIT", "Summit Rewards Visa", "USD", "-342.88", "4657.12", at(0, 6),
        [
            Tx("K1", "-89.99", "HILLTOP HARDWARE #12", at(15), "Hilltop Hardware"),
            Tx("K2", "250.00", "PAYMENT - THANK YOU", at(3)),
            Tx("K3", "-12.50", "CAFE OLE PORTLAND OR", at(1, 16), "Café Olé", at(1, 16),
               pending=True),
            Tx("K4", "-7.25", "CITY PARKING METER", None, pending=True),
        ],
    )  # fmt: skip
    return [checking, card]


def points_account(today: dt.date) -> Account:
    """Reward points: the protocol's custom currency, named by a URL."""
    moment = dt.datetime.combine(today, dt.time(6), dt.UTC)
    return Account(
        "ACT-PTS", "CON-SUMMIT", "Summit Points", "https://www.summitcard.example/points.json",
        "12840", "12840", moment, [Tx("P1", "320", "POINTS EARNED", moment)],
    )  # fmt: skip


class FakeBridge:
    """The bridge on 127.0.0.1, a free port, in a thread; use it as a context manager."""

    def __init__(self, today: dt.date | None = None) -> None:
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.accounts = fixture(self.today)
        self.version = 1
        self.problems: list[tuple[str, str, str | None]] = []  # (code, msg, conn_id)
        self.payment_due = False
        self.revoked = False
        self.retry_after: list[str] = []
        self.redirect = False
        self.points = False
        self.requests: list[dict[str, Any]] = []
        self.claims: dict[str, bool] = {}  # token -> claimed
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeBridge:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def setup_token(self) -> str:
        """A new setup token: base64 of a one-time claim URL."""
        token = secrets.token_hex(16)
        self.claims[token] = False
        return base64.b64encode(self.claim_url(token).encode()).decode()

    def claim_url(self, token: str) -> str:
        return f"{self.url}/simplefin/claim/{token}"

    @property
    def access_url(self) -> str:
        user, password = (urllib.parse.quote(v, safe="") for v in (USER, PASSWORD))
        return f"http://{user}:{password}@127.0.0.1:{self.port}/simplefin"

    def account_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/simplefin/accounts"]

    def payload(self, query: dict[str, str]) -> dict[str, Any]:
        start = int(query.get("start-date", 0))
        end = int(query["end-date"]) if "end-date" in query else None
        with_pending = query.get("pending") == "1"
        accounts = [*self.accounts, *([points_account(self.today)] if self.points else [])]
        out = []
        for a in accounts:
            rows = []
            for tx in a.transactions:
                if tx.pending and not with_pending:
                    continue
                in_window = start <= tx.when and (end is None or tx.when < end)
                if in_window or (tx.pending and tx.when == 0):
                    rows.append(tx.as_json())
            item: dict[str, Any] = {
                "id": a.id,
                "name": a.name,
                "currency": a.currency,
                "balance": a.balance,
                "available-balance": a.available,
                "balance-date": epoch(a.balance_date),
                "transactions": rows,
                "holdings": [],
            }
            conn = CONNECTIONS[a.conn_id]
            if self.version == 1:
                item["org"] = {
                    "domain": conn["domain"],
                    "name": conn["name"],
                    "sfin-url": f"{self.url}/simplefin",
                    "url": conn["url"],
                    "id": conn["org_id"],
                }
            else:
                item["conn_id"] = a.conn_id
            out.append(item)
        if self.version == 1:
            return {"errors": [msg for _, msg, _ in self.problems], "accounts": out}
        return {
            "errlist": [
                {"code": code, "msg": msg, **({"conn_id": conn} if conn else {})}
                for code, msg, conn in self.problems
            ],
            "connections": [
                {"conn_id": cid, "name": c["name"], "org_id": c["org_id"], "org_url": c["url"],
                 "sfin_url": f"{self.url}/simplefin"}
                for cid, c in CONNECTIONS.items()
            ],
            "accounts": out,
        }  # fmt: skip


def _handler(bridge: FakeBridge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def _record(self) -> tuple[str, dict[str, str]]:
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            bridge.requests.append({
                "method": self.command, "path": parts.path, "query": query,
                "authorization": self.headers.get("Authorization"),
                "length": self.headers.get("Content-Length"),
            })  # fmt: skip
            return parts.path, query

        def do_POST(self) -> None:
            path, _ = self._record()
            token = path.removeprefix("/simplefin/claim/")
            if path.startswith("/simplefin/claim/") and bridge.claims.get(token) is False:
                bridge.claims[token] = True
                self._send(200, bridge.access_url.encode(), "text/plain")
            else:
                self._send(403, b"Forbidden", "text/plain")

        def do_GET(self) -> None:
            path, query = self._record()
            expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if path != "/simplefin/accounts":
                self._send(404, b"Not Found", "text/plain")
            elif bridge.retry_after:
                self._send(429, b"Too Many Requests", "text/plain",
                           Retry_After=bridge.retry_after.pop(0))  # fmt: skip
            elif bridge.redirect:
                location = f"http://localhost:{bridge.port}{self.path}"
                self._send(302, b"", "text/plain", Location=location)
            elif bridge.revoked or self.headers.get("Authorization") != f"Basic {expected}":
                self._send(403, b"Forbidden", "text/plain")
            elif bridge.payment_due:
                self._send(402, b"Payment Required", "text/plain")
            else:
                body = json.dumps(bridge.payload(query), ensure_ascii=False).encode()
                self._send(200, body, "application/json")

    return Handler


class PlainKeyring(KeyringBackend):
    """A keyring in a JSON file named by ``$SIMPLEFIN_TEST_KEYRING``, shared by subprocesses."""

    @properties.classproperty
    def priority(cls) -> float:
        return 1

    def _load(self) -> dict[str, str]:
        path = Path(os.environ["SIMPLEFIN_TEST_KEYRING"])
        return json.loads(path.read_text()) if path.exists() else {}

    def _save(self, values: dict[str, str]) -> None:
        Path(os.environ["SIMPLEFIN_TEST_KEYRING"]).write_text(json.dumps(values))

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._save({**self._load(), f"{service}\0{username}": password})

    def delete_password(self, service: str, username: str) -> None:
        values = self._load()
        if values.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError(username)
        self._save(values)
