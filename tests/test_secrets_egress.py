"""Secrets live in the keyring only; an api connector reaches only the hosts it declared."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import cozy_kernel as cozy
from cozy_kernel import secrets
from cozy_kernel.errors import BadInput, GrantRequired
from cozy_kernel.store import Store
from tests.conftest import run_cozy, write_connector

TOKEN = "tok_CANARY-7f3a9c+/=Zq"  # the canary: it must appear nowhere but the keyring

BANKAPI = """
import os
from cozy_kernel.connector import Connector, Credential, Manifest, Record, Setting

class BankApi(Connector):
    manifest = Manifest(
        id="bankapi", name="Bank API", version="1", kind="api", writes=("bank.accounts",),
        personal_data=("pd:FinancialAccount",), purposes=("Read your accounts",),
        settings=(Setting("base_url", "Service address"), Setting("mode", "Test mode",
                                                                  default="ok")),
        credentials=(Credential("token", "API token"),),
        description={"en": "A bank's API"},
    )

    def fetch(self, since):
        token = self.secrets["token"].reveal()
        base = self.settings["base_url"]
        path = {"ok": "/accounts", "redirect": "/redirect", "leak": "/boom"}[self.settings["mode"]]
        response = self.http.get(base + path, params={"access_token": token},
                                 headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 200:
            raise RuntimeError(f"server said {response.text} for token {token}")
        for account in response.json():
            yield Record("bank.accounts", account)

connector = BankApi
"""


class Bank(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        authorised = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        if path == "/redirect":
            self.send_response(302)
            port = self.server.server_address[1]
            self.send_header("Location", f"http://localhost:{port}/accounts")
            self.end_headers()
            return
        if path == "/boom" or not authorised:
            body = f"invalid token {TOKEN} ({base64.b64encode(TOKEN.encode()).decode()})".encode()
            self.send_response(401)
        else:
            body = json.dumps([{"id": "api-1", "name": "Checking", "currency": "EUR"}]).encode()
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Bank)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keyring" / "secrets.cfg"
    path.parent.mkdir()
    monkeypatch.setenv("COZY_KEYRING_KEY", "a long passphrase for the test keyring")
    monkeypatch.setenv("COZY_KEYRING_FILE", str(path))
    monkeypatch.setenv("BANK_TOKEN", TOKEN)
    return path


@pytest.fixture
def bankapi(home: Path, server: str, keyring_file: Path) -> str:
    write_connector(home, "bankapi", BANKAPI)
    connected = run_cozy(home, "connect", "bankapi", "--set", f"base_url={server}",
                         "--secret-env", "token=BANK_TOKEN", "--yes")  # fmt: skip
    assert connected.code == 0, connected.err
    assert f"network hosts it will contact: {server.removeprefix('http://')}" in connected.err
    assert "secrets it needs (kept in your keyring only): API token" in connected.err
    return server


def test_a_synced_api_connector_logs_its_requests_without_secrets(home: Path, bankapi: str) -> None:
    result = run_cozy(home, "sync", "bankapi")

    assert result.code == 0, result.err
    assert set(cozy.frame("bank.accounts")["id"]) == {"api-1"}
    (request,) = json.loads(run_cozy(home, "report", "--json").out)["network_requests"]
    assert request["host"] == bankapi.removeprefix("http://")
    assert (request["path"], request["status"], request["allowed"]) == ("/accounts", 200, 1)


def test_a_redirect_to_an_undeclared_host_is_refused_and_logged(home: Path, bankapi: str) -> None:
    cozy.connect("bankapi", mode="redirect")

    result = run_cozy(home, "sync", "bankapi")

    port = bankapi.rsplit(":", 1)[1]
    assert result.code == 3
    assert f"tried to reach localhost:{port}, which it did not declare" in result.err
    log = json.loads(run_cozy(home, "report", "--json").out)["network_requests"]
    assert [(r["host"], r["allowed"]) for r in log] == [
        (f"localhost:{port}", 0),
        (f"127.0.0.1:{port}", 1),
    ]
    assert cozy.collections() == [] or cozy.frame("bank.accounts").empty


def test_changing_the_base_url_needs_a_new_grant(home: Path, bankapi: str) -> None:
    with pytest.raises(GrantRequired):
        cozy.connect("bankapi", base_url="http://127.0.0.2:9")

    assert run_cozy(home, "sync", "bankapi").code == 0
    moved = run_cozy(home, "connect", "bankapi", "--set", "base_url=http://127.0.0.2:9", "--yes")
    assert moved.code == 0 and "127.0.0.2:9" in moved.err
    assert cozy.consent_log()[-1]["kind"] == "renewed"


def test_the_consent_screen_names_the_host_a_typed_address_sends_to(
    home: Path, bankapi: str
) -> None:
    screen = cozy.consent_screen("bankapi", settings={"base_url": "https://elsewhere.example/v2"})
    assert "elsewhere.example" in screen["text"] and screen["state"] != "granted"
    assert "elsewhere.example" not in cozy.consent_screen("bankapi")["text"]
    for bad in ("elsewhere.example", "ftp://elsewhere.example", "http://[::1"):
        with pytest.raises(BadInput, match=r"setting 'base_url'.*is not a web address"):
            cozy.consent_screen("bankapi", settings={"base_url": bad})
        with pytest.raises(BadInput, match="setting 'base_url'"):
            cozy.connect("bankapi", base_url=bad, grant=True)


def canary_forms() -> list[bytes]:
    return [form.encode() for form in secrets.forms(TOKEN)]


def test_the_canary_secret_is_nowhere_but_in_the_encrypted_keyring(
    home: Path, bankapi: str, keyring_file: Path, tmp_path: Path
) -> None:
    # Given a sync that works, then one whose server echoes the token into an error
    outputs = [run_cozy(home, "sync", "bankapi")]
    cozy.connect("bankapi", mode="leak")
    outputs.append(run_cozy(home, "sync", "bankapi"))
    outputs += [
        run_cozy(home, *args)
        for args in (["report", "--json"], ["report", "--html"], ["runs", "--json"],
                     ["consent", "log", "--json"], ["doctor", "--json"],
                     ["frame", "bank.accounts", "--format", "json"],
                     ["consent", "receipts", "--out", str(tmp_path / "receipts")])
    ]  # fmt: skip
    assert outputs[1].code == 1 and "***" in outputs[1].err

    # Then no output and no file of the workspace holds the token in any spelling
    texts = [(o.out + o.err).encode() for o in outputs]
    files = [p.read_bytes() for p in (*home.rglob("*"), *tmp_path.joinpath("receipts").rglob("*"))
             if p.is_file()]  # fmt: skip
    for form in canary_forms():
        for blob in (*texts, *files):
            assert form not in blob
    # And the keyring file is encrypted, yet gives the token back
    assert all(form not in keyring_file.read_bytes() for form in canary_forms())
    assert secrets.load(Store(home / "cozy.db"), "bankapi")["token"].reveal() == TOKEN


def test_erasing_the_connector_deletes_its_keyring_entries(home: Path, bankapi: str) -> None:
    assert cozy.missing_secrets("bankapi") == []

    assert run_cozy(home, "disconnect", "bankapi", "--erase", "--yes").code == 0

    assert [s["name"] for s in cozy.missing_secrets("bankapi")] == ["token"]
    store_id = Store(home / "cozy.db").store_id
    assert secrets.backend().get_password(f"cozy-notebook/{store_id}/bankapi", "token") is None


def test_without_a_secure_keyring_secrets_are_refused_with_the_fix(
    home: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_connector(home, "bankapi", BANKAPI)
    monkeypatch.delenv("COZY_KEYRING_KEY", raising=False)
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "BANK_TOKEN": TOKEN}

    result = run_cozy(home, "connect", "bankapi", "--set", f"base_url={server}",
                      "--secret-env", "token=BANK_TOKEN", "--yes", env=env)  # fmt: skip

    assert result.code == 1
    assert "no secure keyring" in result.err and "COZY_KEYRING_KEY" in result.err
    assert all(form.decode() not in result.err for form in canary_forms())


def test_an_encrypted_file_keyring_without_its_key_never_asks_a_password(
    home: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the machine's default keyring chain (the encrypted file, no system keyring) and
    # no COZY_KEYRING_KEY: it would ask for a password at a terminal nobody watches
    write_connector(home, "bankapi", BANKAPI)
    monkeypatch.delenv("COZY_KEYRING_KEY", raising=False)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(home.parent / "xdg"))

    result = run_cozy(home, "connect", "bankapi", "--set", f"base_url={server}",
                      "--secret-env", "token=BANK_TOKEN", "--yes",
                      env={"BANK_TOKEN": TOKEN})  # fmt: skip

    assert result.code == 1
    assert "set a password" not in result.err and "aborted" not in result.err
    last = result.err.strip().splitlines()[-1]
    assert "no secure keyring" in last and "set COZY_KEYRING_KEY" in last


def test_secret_values_hide_from_repr_and_redact_in_every_spelling() -> None:
    secret = secrets.Secret(TOKEN)
    text = f"url?t={urllib.parse.quote(TOKEN, safe='')} auth={base64.b64encode(TOKEN.encode())}"

    assert TOKEN not in repr(secret) and TOKEN not in str(secret) and TOKEN not in f"{[secret]}"
    assert "***" in secrets.redact(text, [secret])
    assert all(form not in secrets.redact(text + TOKEN, [secret]) for form in secrets.forms(TOKEN))


ROTATING = """
from cozy_kernel.connector import Connector, Credential, Link, Manifest, Record, Setting

class Rotating(Connector):
    manifest = Manifest(
        id="rotating", name="Rotating", version="1", kind="api", writes=("bank.accounts",),
        settings=(Setting("base_url", "Service address"), Setting("linked", "Linked")),
        credentials=(Credential("token", "API token"),), description={"en": "rotates"},
    )

    def link(self):
        return Link({"linked": "yes"}, "Open https://bank.example/authorise to finish")

    def fetch(self, since):
        assert self.settings["linked"] == "yes"
        self.vault.put("token", "rotated-" + self.secrets["token"].reveal())
        raise RuntimeError("service down after rotating " + self.secrets["token"].reveal())

connector = Rotating
"""


def test_link_keeps_its_settings_and_a_rotated_secret_survives_a_failed_run(
    home: Path, server: str, keyring_file: Path
) -> None:
    write_connector(home, "rotating", ROTATING)
    connected = run_cozy(home, "connect", "rotating", "--set", f"base_url={server}",
                         "--secret-env", "token=BANK_TOKEN", "--yes")  # fmt: skip
    assert connected.code == 0, connected.err
    assert "Open https://bank.example/authorise to finish" in connected.out

    failed = run_cozy(home, "sync", "rotating")

    assert failed.code == 1 and "service down after rotating ***" in failed.err
    kept = secrets.load(Store(home / "cozy.db"), "rotating")
    assert kept["token"].reveal() == "rotated-" + TOKEN
