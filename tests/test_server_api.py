"""The REST face under /cozy/api/, against a real Jupyter server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

import cozy_kernel as cozy
from cozy_jupyterlab.handlers import ROUTES
from tests.conftest import UNTIL, write_connector
from tests.jupyter import running

ROOT = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((ROOT / "extensions" / "cozy_jupyterlab" / "openapi.yaml").read_text())
QIF = ROOT / "tests" / "fixtures" / "qif" / "uk_barclays.qif"


class Server:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def url(self, path: str) -> str:
        return f"{self.base}/cozy/api/{path}"

    def call(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, self.url(path), headers=headers, timeout=30, **kwargs)


@pytest.fixture
def server(fresh_home: Path, tmp_path: Path) -> Iterator[Server]:
    token = uuid.uuid4().hex
    command = ["jupyter_server", f"--ServerApp.root_dir={tmp_path}"]
    with running(command, tmp_path, token, {"COZY_HOME": str(fresh_home)}) as base:
        yield Server(base, token)


def spec_path(route: str) -> str:
    return "/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)


SAMPLE = {
    "{connector_id}": "demo-bank",
    "{job_id}": "0" * 32,
    "{name}": "Welcome.ipynb",
    "{export}": "cozy-export-20260101T000000.zip",
}


def routes() -> list[tuple[str, str]]:
    out = []
    for route, handler in ROUTES:
        path = spec_path(route)
        for method in ("get", "post", "put", "delete"):
            if method in vars(handler):
                concrete = path
                for name, value in SAMPLE.items():
                    concrete = concrete.replace(name, value)
                out.append((method, concrete.lstrip("/")))
    return out


def test_every_route_is_described_by_the_openapi_spec_and_back() -> None:
    served = {
        (spec_path(route), m)
        for route, handler in ROUTES
        for m in ("get", "post", "put", "delete")
        if m in vars(handler)
    }
    described = {
        (path, m) for path, item in SPEC["paths"].items() for m in item if m != "parameters"
    }

    assert served == described


def test_every_route_refuses_requests_without_the_token(server: Server) -> None:
    for method, path in routes():
        response = requests.request(method, server.url(path), timeout=10)
        assert response.status_code == 403, (method, path, response.status_code)


def test_state_changes_by_cookie_need_the_xsrf_token(server: Server) -> None:
    browser = requests.Session()
    browser.get(f"{server.base}/tree?token={server.token}", timeout=10)
    xsrf = browser.cookies.get("_xsrf")
    assert xsrf

    forged = browser.post(server.url("terms/accept"), json={}, timeout=10)
    genuine = browser.post(server.url("terms/accept"), json={}, timeout=10,
                           headers={"X-XSRFToken": xsrf})  # fmt: skip

    assert forged.status_code == 403
    assert genuine.status_code == 200 and genuine.json()["method"] == "jupyterlab"


def test_the_gate_the_grant_a_background_sync_and_erasure(server: Server, fresh_home: Path) -> None:
    # The gate: nothing works before the terms are accepted, and the refusal says why
    terms = server.call("get", "terms?lang=fr").json()
    assert terms["status"]["state"] == "required" and terms["language"] == "fr"
    assert "Aucune télémétrie" in terms["text"]
    assert {c["connector"] for c in terms["collect"]} >= {"demo-bank", "gocardless"}
    assert {(t["processor"], t["location"]) for t in terms["third_parties"]} >= {
        ("GoCardless Ltd", "GB")
    }
    refused = server.call("post", "connectors/demo-bank/consent", json={})
    assert refused.status_code == 403
    assert refused.json()["reason"] == "consent-required"
    assert "cozy terms accept" in refused.json()["detail"]["hint"]

    assert server.call("post", "terms/accept", json={"language": "fr"}).status_code == 200

    # The consent screen, then the grant with settings
    screen = server.call("get", "connectors/demo-bank/consent").json()
    assert screen["state"] == "missing" and "no network connection" in screen["text"]
    unset = server.call("put", "connectors/demo-bank/settings", json={"settings": {"seed": "1"}})
    assert unset.status_code == 403 and unset.json()["reason"] == "grant-required"
    granted = server.call("post", "connectors/demo-bank/consent",
                          json={"settings": {"until": UNTIL}})  # fmt: skip
    assert granted.status_code == 200 and granted.json()["settings"] == {"until": UNTIL}
    bad = server.call("put", "connectors/demo-bank/settings", json={"settings": {"seed": "x"}})
    assert bad.status_code == 422 and "setting 'seed'" in bad.json()["message"]

    # A background sync, polled to its end; the data is committed for any kernel to read
    started = server.call("post", "connectors/demo-bank/sync", json={})
    assert started.status_code == 202
    job = started.json()
    while job["state"] in ("queued", "running"):
        time.sleep(0.2)
        job = server.call("get", f"jobs/{job['id']}").json()
    assert job["state"] == "done" and job["report"]["added"] > 1000
    assert len(cozy.frame("bank.transactions", home=fresh_home)) == job["report"]["added"] - 2
    listed = {c["id"]: c for c in server.call("get", "connectors").json()}
    assert listed["demo-bank"]["grant"] == "granted"
    assert listed["demo-bank"]["last_run"]["outcome"] == "ok"
    assert listed["demo-bank"]["status"] == "connected"
    assert listed["demo-bank"]["rows"] == {
        "bank.accounts": 2,
        "bank.transactions": job["report"]["added"] - 2,
    }
    assert listed["qif"]["status"] == "not_connected" and listed["qif"]["rows"] == {}
    assert server.call("get", "report").json()["data"]
    page = server.call("get", "report?format=html")
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Demo Bank" in page.text and "<script" not in page.text.lower()

    # Withdrawal with erasure
    erased = server.call("delete", "connectors/demo-bank/consent?erase=1")
    assert erased.status_code == 200
    assert erased.json()["erased"]["bank.transactions"] == job["report"]["added"] - 2
    assert cozy.frame("bank.transactions", home=fresh_home).empty


SLOW = """
import time
from cozy_kernel.connector import Connector, Manifest

class Slow(Connector):
    manifest = Manifest(id="slow", name="Slow", version="1", kind="file",
                        writes=("bank.accounts",), description={"en": "takes its time"})

    def fetch(self, since):
        time.sleep(3)
        yield from ()

connector = Slow
"""


def test_a_second_sync_of_the_same_connector_is_refused_while_one_runs(
    server: Server, fresh_home: Path
) -> None:
    write_connector(fresh_home, "slow", SLOW)
    server.call("post", "terms/accept", json={})
    assert server.call("post", "connectors/slow/consent", json={}).status_code == 200

    first = server.call("post", "connectors/slow/sync", json={})
    second = server.call("post", "connectors/slow/sync", json={})

    assert first.status_code == 202
    assert second.status_code == 409 and second.json()["reason"] == "already-running"
    # The listing shows the running job, so every page (and the scheduler's runs) show up
    listed = {c["id"]: c for c in server.call("get", "connectors").json()}
    assert listed["slow"]["job"]["id"] == first.json()["id"]
    assert listed["demo-bank"]["job"] is None
    assert server.call("get", "jobs/" + "f" * 32).status_code == 404


def test_import_asks_for_the_grant_then_takes_the_file(server: Server) -> None:
    server.call("post", "terms/accept", json={})
    files = {"file": (QIF.name, QIF.read_bytes())}

    asked = server.call("post", "import", files=files)
    taken = server.call("post", "import", files=files, data={"grant": "1"})

    assert asked.status_code == 403
    assert (asked.json()["reason"], asked.json()["detail"]["connector"]) == ("grant-required",
                                                                               "qif")  # fmt: skip
    assert taken.status_code == 200, taken.text
    assert taken.json()["runs"][0]["added"] == 4
    garbage = server.call("post", "import", files={"file": ("x.qif", b"!Type:Bank\nD1\n")},
                          data={"grant": "1"})  # fmt: skip
    assert garbage.status_code == 422 and "x.qif" in garbage.json()["message"]


def test_templates_are_copied_into_the_root_under_a_free_name(
    server: Server, tmp_path: Path
) -> None:
    listed = server.call("get", "templates").json()
    assert listed[0]["name"] == "Welcome.ipynb" and listed[0]["title"]

    first = server.call("post", "templates/Welcome.ipynb", json={})
    second = server.call("post", "templates/Welcome.ipynb", json={})

    assert (first.status_code, first.json()) == (201, {"path": "Welcome.ipynb"})
    assert second.json() == {"path": "Welcome-1.ipynb"}
    source = json.loads((ROOT / "notebooks" / "Welcome.ipynb").read_text())
    copied = json.loads((tmp_path / "Welcome-1.ipynb").read_text())
    assert [c["source"] for c in copied["cells"]] == [c["source"] for c in source["cells"]]
    assert server.call("post", "templates/nothing.ipynb", json={}).status_code == 404
    assert server.call("post", "templates/..%2Fcozy.ipynb", json={}).status_code == 404
    missing = server.call("post", "templates/Welcome.ipynb", json={"path": "no/such"})
    assert missing.status_code == 400 and "no/such" in missing.json()["message"]


def test_credentials_are_write_only_and_checked(server: Server) -> None:
    server.call("post", "terms/accept", json={})
    server.call("post", "connectors/demo-bank/consent", json={})

    unknown = server.call("put", "connectors/demo-bank/credentials",
                          json={"credentials": {"password": "hunter22"}})  # fmt: skip

    assert unknown.status_code == 404
    assert "hunter22" not in unknown.text
    listed = json.dumps(server.call("get", "connectors").json())
    assert "hunter22" not in listed


def test_the_operator_sets_the_workspace_and_terms_as_jupyter_settings(tmp_path: Path) -> None:
    home, terms = tmp_path / "alice", tmp_path / "terms"
    terms.mkdir()
    (terms / "terms.en.md").write_text("---\nversion: 7.0.0-20200101\ncontroller: Ops\n---\nHi\n")
    env = {k: v for k, v in os.environ.items() if k not in ("COZY_HOME", "COZY_TERMS_DIR")}
    command = ["jupyter_server", f"--CozyNotebook.home={home}", f"--CozyNotebook.terms_dir={terms}"]

    with running(command, tmp_path, "t", env) as base:
        terms_view = Server(base, "t").call("get", "terms").json()

    assert terms_view["status"]["latest_version"] == "7.0.0-20200101"
    assert (home / "cozy.db").exists()
