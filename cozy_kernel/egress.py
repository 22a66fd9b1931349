"""The egress guard: the only HTTP session a connector gets.

It reaches the hosts the connector's manifest declares (plus the ``base_url`` host the user
set, which the grant recorded) and nothing else — every hop of a redirect included — and logs
each request (host, path without query string, status, bytes, time), never a header or a
query string, which is where tokens travel. The log is written after the run, so requests
made by a sync that failed are still shown in ``cozy report``.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from cozy_kernel.errors import ConsentRequired
from cozy_kernel.secrets import Secret, redact
from cozy_kernel.store import Store


class EgressDenied(ConsentRequired):
    """A connector tried to reach a host the user was not told about."""

    reason = "egress-denied"


@dataclass(frozen=True)
class Request:
    at: str
    method: str
    host: str
    path: str
    status: int | None
    bytes: int  # received
    ms: int
    allowed: bool
    sent: int = 0


def host_of(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    host = (parsed.hostname or "").lower()
    return f"{host}:{parsed.port}" if parsed.port else host


class GuardedSession(requests.Session):
    """A ``requests`` session limited to an allow-list of hosts, logging every request."""

    def __init__(
        self,
        connector: str,
        hosts: Iterable[str],
        timeout: float = 30.0,
        secrets: Mapping[str, Secret] | None = None,
    ) -> None:
        super().__init__()
        self.connector = connector
        self.hosts = frozenset(h.lower() for h in hosts)
        self.timeout = timeout
        self.log: list[Request] = []
        self.headers["User-Agent"] = "cozy-notebook"
        self._secrets = secrets if secrets is not None else {}
        self._hidden: list[Secret] = []

    def hide(self, *values: str) -> None:
        """Keep these strings (a token inside a URL path, say) out of the request log."""
        self._hidden.extend(Secret(v) for v in values)

    def _path(self, url: str) -> str:
        path = urllib.parse.urlsplit(url).path or "/"
        return redact(path, [*self._secrets.values(), *self._hidden])

    def allows(self, url: str) -> bool:
        host = host_of(url)
        return host in self.hosts or host.split(":")[0] in self.hosts

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        path = self._path(url)
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        if not self.allows(url):
            self.log.append(Request(stamp, request.method or "", host_of(url), path, None, 0, 0,
                                    False))  # fmt: skip
            raise EgressDenied(
                f"connector {self.connector!r} tried to reach {host_of(url)}, which it did not "
                f"declare (allowed: {', '.join(sorted(self.hosts)) or 'none'})"
            )
        kwargs.setdefault("timeout", self.timeout)
        follow = kwargs.pop("allow_redirects", True)
        start = time.monotonic()
        response = super().send(request, allow_redirects=False, **kwargs)
        ms = int((time.monotonic() - start) * 1000)
        size = len(response.content) if not kwargs.get("stream") else 0
        sent = int(request.headers.get("Content-Length") or 0)  # requests sets it, files too
        self.log.append(Request(stamp, request.method or "", host_of(url), path,
                                response.status_code, size, ms, True, sent))  # fmt: skip
        if not follow:
            return response
        # Follow redirects here, hop by hop, so each hop is checked and logged by ``send``.
        history = list(self.resolve_redirects(response, request, **kwargs))
        if not history:
            return response
        final: requests.Response = history.pop()
        final.history = [response, *history]
        return final

    def save(self, store: Store, run_id: int | None) -> None:
        """Persist the request log, outside the run's transaction so failures keep it."""
        if not self.log:
            return
        with store.transaction():
            store.db.executemany(
                "INSERT INTO egress_log (connector, run_id, at, method, host, path, status, "
                "bytes, ms, allowed, sent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (self.connector, run_id, r.at, r.method, r.host, r.path, r.status, r.bytes,
                     r.ms, int(r.allowed), r.sent)
                    for r in self.log
                ),
            )  # fmt: skip
        self.log.clear()


def recent(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    cur = store.db.execute(
        "SELECT connector, run_id, at, method, host, path, status, sent, bytes, ms, allowed "
        "FROM egress_log ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur]
