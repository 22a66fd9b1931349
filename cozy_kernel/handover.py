"""Bundles on their way in or out of this workspace: direct transfer, downloads, uploads.

Direct transfer (GDPR Art. 20 (2)): a full bundle streamed to another running instance.

The bundle is written in the private workspace, sent as the body of one request to the other
instance's ``POST /cozy/api/bundles`` (which verifies and restores it), then deleted. The
request goes through the egress guard like a connector's: to that host only, logged in the
request log the transparency report shows, with the token out of every log and message.
Plain HTTP is refused except to this machine: the token and the data would travel in clear.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import requests

from cozy_kernel.egress import GuardedSession, host_of
from cozy_kernel.errors import (
    ConnectorFailed,
    ConsentRequired,
    IntegrityError,
    NotFound,
    UsageError,
)
from cozy_kernel.portability.bag import Limits
from cozy_kernel.secrets import Secret, redact
from cozy_kernel.store import Store
from cozy_kernel.workspace import Workspace

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
CONNECTOR = "transfer"  # how the request log names these requests
TIMEOUT_S = 3600.0
EXPORT_NAME = re.compile(r"cozy-export-\d{8}T\d{6}\.zip")


def endpoint(url: str) -> str:
    """The bundles route of the instance at ``url`` (its base URL, e.g. a hub user's)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--to {url!r}: give the other instance's http(s) address")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise UsageError(f"--to {url!r}: use https, or the token and your data travel in clear")
    base = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, base + "cozy/api/bundles", "", ""))


def _refusal(response: requests.Response, token: Secret) -> Exception:
    try:
        message = str(response.json().get("message", ""))
    except ValueError:
        message = response.reason or ""
    message = redact(message, [token])
    where = host_of(response.url)
    if response.status_code == 403 and "terms" in message:
        return ConsentRequired(f"{where} refused the bundle: {message}",
                               hint="accept the terms on the other instance first")  # fmt: skip
    if response.status_code in (401, 403):
        return UsageError(f"{where} refused the token (HTTP {response.status_code})")
    if response.status_code == 409:
        return IntegrityError(f"{where} refused the bundle: {message}")
    return ConnectorFailed(f"{where} answered HTTP {response.status_code}: {message}")


def send(ws: Workspace, store: Store, bundle: Path, url: str, token: Secret) -> dict[str, Any]:
    """Stream ``bundle`` to the instance at ``url``; its restore summary, or why it refused."""
    target = endpoint(url)
    session = GuardedSession(CONNECTOR, [host_of(target)], timeout=TIMEOUT_S,
                             secrets={"token": token})  # fmt: skip
    try:
        with bundle.open("rb") as body:
            response = session.post(
                target,
                data=body,  # a file object: requests streams it, never all in memory
                headers={"Authorization": f"token {token.reveal()}",
                         "Content-Type": "application/zip"},
            )  # fmt: skip
    except requests.RequestException as exc:
        raise ConnectorFailed(
            f"cannot reach {host_of(target)}: {redact(str(exc), [token])}"
        ) from None
    finally:
        session.save(store, None)
    if response.status_code != 200:
        raise _refusal(response, token)
    summary: dict[str, Any] = response.json()
    return summary


def exports_dir(ws: Workspace) -> Path:
    """The private folder of bundles made here or received, inside the workspace."""
    folder = ws.root / "exports"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")


def scratch(ws: Workspace) -> Path:
    """A private path for the bundle on its way out to another instance."""
    return exports_dir(ws) / f"transfer-{_stamp()}-{os.getpid()}.zip"


def download_target(ws: Workspace) -> Path:
    """Where "Export my data" writes the bundle the user then downloads."""
    return exports_dir(ws) / f"cozy-export-{_stamp()}.zip"


def exported(ws: Workspace, name: str) -> Path:
    """An export made by :func:`download_target`; no other file of the workspace."""
    path = exports_dir(ws) / name
    if not EXPORT_NAME.fullmatch(name) or not path.is_file():
        raise NotFound(f"no export {name!r}; make one with POST bundles/export")
    return path


def incoming(ws: Workspace) -> tuple[int, Path]:
    """A private file (descriptor, path) for a bundle being received, before its restore."""
    handle, name = tempfile.mkstemp(prefix="incoming-", suffix=".zip", dir=exports_dir(ws))
    return handle, Path(name)


def max_incoming() -> int:
    """The largest bundle accepted: what verification would unpack at the most."""
    return Limits.default().total_bytes
