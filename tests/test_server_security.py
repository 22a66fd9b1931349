"""The REST face against hostile or careless clients, on a real Jupyter server on 127.0.0.1:
uploads without the token, uploads cut short, names and bodies no handler expected, and
jobs asked for before the terms."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import write_connector
from tests.jupyter import running
from tests.test_server_api import QIF, SLOW, Server


@pytest.fixture
def server(fresh_home: Path, tmp_path: Path) -> Iterator[Server]:
    token = uuid.uuid4().hex
    command = ["jupyter_server", f"--ServerApp.root_dir={tmp_path}"]
    with running(command, tmp_path, token, {"COZY_HOME": str(fresh_home)}) as base:
        yield Server(base, token)


def sizes(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` with its size: what a request wrote shows up here."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def upload(server: Server, headers: dict[str, str], length: int, sent: bytes) -> socket.socket:
    """Start ``POST bundles`` by hand: announce ``length`` bytes, send only ``sent``."""
    address = urllib.parse.urlsplit(server.base)
    conn = socket.create_connection((address.hostname, address.port), timeout=10)
    lines = [
        "POST /cozy/api/bundles HTTP/1.1",
        f"Host: {address.netloc}",
        "Content-Type: application/zip",
        f"Content-Length: {length}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + sent)
    return conn


def answer(conn: socket.socket, wait: float) -> bytes:
    """What the server said before it closed the connection, or within ``wait`` seconds."""
    conn.settimeout(wait)
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):  # a server that stops reading may reset
        pass
    return data


def until(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_an_upload_without_the_token_is_refused_before_one_byte_is_written(
    server: Server, fresh_home: Path
) -> None:
    # Given a workspace that accepts bundles, and a client with no token: a forged XSRF
    # cookie and header pass the XSRF check, which proves nothing about who asks
    assert server.call("post", "terms/accept", json={}).status_code == 200
    before = sizes(fresh_home)

    # When it announces a gigabyte and sends the first 64 KiB
    forged = {"Cookie": "_xsrf=forged", "X-XSRFToken": "forged"}
    conn = upload(server, forged, 1 << 30, b"\0" * (1 << 16))
    reply = answer(conn, wait=10)
    written = sizes(fresh_home)
    conn.close()

    # Then it is refused at once, and nothing of its body reached the workspace
    assert written == before
    assert reply.startswith(b"HTTP/1.1 403 "), reply[:200]


def test_an_upload_cut_short_leaves_no_partial_file(server: Server, fresh_home: Path) -> None:
    # Given an authenticated upload of 10 MiB under way
    assert server.call("post", "terms/accept", json={}).status_code == 200
    exports = fresh_home / "exports"
    conn = upload(server, {"Authorization": f"token {server.token}"}, 10 << 20, b"\0" * (1 << 18))
    assert until(lambda: any(p.stat().st_size for p in exports.glob("*"))), "no upload began"

    # When the client goes away before the end
    conn.close()

    # Then its partial file goes too
    assert until(lambda: not any(exports.glob("*"))), sorted(p.name for p in exports.glob("*"))


def assert_refused(response: requests.Response, status: int) -> None:
    """A refusal in the usual shape, never a server error."""
    assert response.status_code == status, response.text[:300]
    assert set(response.json()) == {"message", "reason", "detail"}, response.text


DEEP = ("[" * 100_000 + "]" * 100_000).encode()
LONG_NUMBER = ('{"full": ' + "1" * 5_000 + "}").encode()
JSON_ROUTES = [
    ("post", "terms/accept"),
    ("post", "terms/decline"),
    ("post", "connectors/demo-bank/consent"),
    ("put", "connectors/demo-bank/settings"),
    ("put", "connectors/demo-bank/credentials"),
    ("put", "connectors/demo-bank/schedule"),
    ("post", "connectors/demo-bank/sync"),
    ("post", "templates/Welcome.ipynb"),
]


def test_odd_names_and_bodies_are_refused_as_bad_requests(server: Server) -> None:
    server.call("post", "terms/accept", json={})

    # Uploaded file names that cannot be file names
    for name in ("..", "a" * 300, "a" * 296 + ".qif", "folder/" + "é" * 150 + ".qif"):
        files = {"file": (name, QIF.read_bytes())}
        assert_refused(server.call("post", "import", files=files, data={"grant": "1"}), 400)

    # JSON bodies Python refuses to read: too deep, or a number past 4,300 digits
    for method, path in JSON_ROUTES:
        for body in (DEEP, LONG_NUMBER):
            assert_refused(server.call(method, path, data=body), 400)


def test_jobs_wait_for_the_terms(server: Server, fresh_home: Path) -> None:
    # Before the terms: no sync, no export is even queued
    for path in ("connectors/demo-bank/sync", "bundles/export"):
        refused = server.call("post", path, json={})
        assert_refused(refused, 403)
        assert refused.json()["reason"] == "consent-required"
    server.call("post", "terms/accept", json={})
    time.sleep(1)  # an export taken before the terms would have written its file by now
    assert not list((fresh_home / "exports").glob("cozy-export-*"))


def test_a_connector_named_export_and_an_export_are_two_jobs(
    server: Server, fresh_home: Path
) -> None:
    # Given a connector whose id is "export", syncing
    server.call("post", "terms/accept", json={})
    write_connector(fresh_home, "export", SLOW.replace('id="slow"', 'id="export"'))
    assert server.call("post", "connectors/export/consent", json={}).status_code == 200
    sync = server.call("post", "connectors/export/sync", json={})

    # When the workspace is exported meanwhile
    export = server.call("post", "bundles/export", json={})

    # Then neither waits on the other, and the connector's listing shows its own sync
    assert (sync.status_code, export.status_code) == (202, 202), export.text
    assert (sync.json()["kind"], export.json()["kind"]) == ("sync", "export")
    listed = {c["id"]: c for c in server.call("get", "connectors").json()}
    assert listed["export"]["job"]["id"] == sync.json()["id"]
    for job in (sync.json(), export.json()):
        while job["state"] in ("queued", "running"):
            time.sleep(0.2)
            job = server.call("get", f"jobs/{job['id']}").json()
        assert job["state"] == "done", json.dumps(job)
