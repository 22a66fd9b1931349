"""Direct transfer between two running instances on 127.0.0.1 (GDPR Art. 20 (2)), and the
REST routes behind "Export my data" and "Import a bundle"."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

import cozy_kernel as cozy
from tests.conftest import UNTIL, run_cozy
from tests.jupyter import running

FIXTURES = Path(__file__).parent / "fixtures"


class Instance:
    """A Jupyter server with Cozy Notebook over a workspace of its own."""

    def __init__(self, base: str, token: str, home: Path) -> None:
        self.base, self.token, self.home = base, token, home

    def call(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.base}/cozy/api/{path}", headers=headers,
                                timeout=120, **kwargs)  # type: ignore[arg-type]  # fmt: skip


def start(tmp_path: Path, name: str) -> Iterator[Instance]:
    folder = tmp_path / name
    folder.mkdir()
    home, token = folder / "home", uuid.uuid4().hex
    with running(["jupyter_server", f"--ServerApp.root_dir={folder}"], folder, token,
                 {"COZY_HOME": str(home)}) as base:  # fmt: skip
        yield Instance(base, token, home)


@pytest.fixture
def sender(tmp_path: Path) -> Iterator[Instance]:
    """An instance with the demo bank synced and a statement imported."""
    for instance in start(tmp_path, "sender"):
        cozy.accept_terms(home=instance.home)
        cozy.connect("demo-bank", home=instance.home, grant=True, until=UNTIL, months=2)
        cozy.sync("demo-bank", home=instance.home)
        cozy.import_files([FIXTURES / "qif" / "uk_barclays.qif"], grant=True,
                          home=instance.home)  # fmt: skip
        yield instance


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Instance]:
    yield from start(tmp_path, "receiver")


def files(home: Path) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


def frames(home: Path) -> dict[str, pd.DataFrame]:
    return {
        name: cozy.frame(name, home=home).drop(columns=["run_id"], errors="ignore")
        for name in ("bank.accounts", "bank.transactions")
    }


def test_cozy_transfer_sends_everything_to_another_instance(
    sender: Instance, receiver: Instance
) -> None:
    receiver.call("post", "terms/accept", json={})
    env = {"TARGET_TOKEN": receiver.token}

    sent = run_cozy(sender.home, "transfer", "--to", receiver.base + "/",
                    "--token-env", "TARGET_TOKEN", "--json", env=env)  # fmt: skip

    assert sent.code == 0, sent.err
    summary = json.loads(sent.out)
    assert summary["collections"]["bank.transactions"]["added"] > 100
    for name, frame in frames(sender.home).items():
        pd.testing.assert_frame_equal(frame, frames(receiver.home)[name], check_like=True)
    assert cozy.consent_log(verify=True, home=receiver.home)  # still a valid chain there
    # The original statement arrived byte for byte
    (raw,) = (receiver.home / "raw").rglob("*.qif")
    assert raw.name.endswith("uk_barclays.qif")
    assert raw.read_bytes() == (FIXTURES / "qif" / "uk_barclays.qif").read_bytes()

    # Sending again, a newer bundle of the same data, changes nothing there: no row, no file
    # (the same consent history is archived once); the bundle did not stay behind here
    held = files(receiver.home)
    again = run_cozy(sender.home, "transfer", "--to", receiver.base, "--token-env",
                     "TARGET_TOKEN", "--json", env=env)  # fmt: skip
    assert again.code == 0, again.err
    second = json.loads(again.out)
    assert all(c["added"] == c["updated"] == 0 for c in second["collections"].values())
    assert second["changed"] is False and second["files"]["added"] == []
    assert files(receiver.home) == held
    assert not list((sender.home / "exports").glob("*.zip"))

    # The transfer is in the sender's request log, without the token, with what it sent
    report = cozy.report(home=sender.home)
    text = json.dumps(report)
    assert "/cozy/api/bundles" in text and receiver.token not in text
    posts = [r for r in report["network_requests"] if r["path"].endswith("/cozy/api/bundles")]
    assert len(posts) == 2 and all(r["sent"] > 20 * r["bytes"] > 0 for r in posts)  # a bundle
    assert receiver.token not in sent.out + sent.err


def test_a_transfer_refused_says_why_and_leaks_no_token(
    sender: Instance, receiver: Instance
) -> None:
    before = files(receiver.home) if receiver.home.exists() else {}
    env = {"TARGET_TOKEN": receiver.token, "WRONG": "not-the-token-" + uuid.uuid4().hex}

    # Their terms are not accepted yet
    unaccepted = run_cozy(sender.home, "transfer", "--to", receiver.base, "--token-env",
                          "TARGET_TOKEN", env=env)  # fmt: skip
    assert unaccepted.code == 3 and "accept the terms on the other instance" in unaccepted.err

    # A wrong token
    receiver.call("post", "terms/accept", json={})
    wrong = run_cozy(sender.home, "transfer", "--to", receiver.base, "--token-env", "WRONG",
                     env=env)  # fmt: skip
    assert wrong.code == 2 and "refused the token" in wrong.err
    assert env["WRONG"] not in wrong.out + wrong.err

    # Plain HTTP to another machine is refused before anything is exported or sent
    clear = run_cozy(sender.home, "transfer", "--to", "http://example.org/", "--token", "x")
    assert clear.code == 2 and "use https" in clear.err
    assert frames(receiver.home)["bank.transactions"].empty
    assert set(before) <= set(files(receiver.home))


def test_export_my_data_then_import_it_on_another_instance(
    sender: Instance, receiver: Instance
) -> None:
    # "Export my data": a job, then the download
    job = sender.call("post", "bundles/export").json()
    while job["state"] in ("queued", "running"):
        time.sleep(0.2)
        job = sender.call("get", f"jobs/{job['id']}").json()
    assert job["state"] == "done", job
    download = sender.call("get", f"bundles/exports/{job['report']['name']}")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/zip"
    assert "attachment" in download.headers["Content-Disposition"]
    bundle = download.content
    assert cozy.verify_bundle(_saved(sender.home, bundle))["kind"] == "full"

    # "Import a bundle" on the other instance: refused before its terms, restored after
    assert receiver.call("post", "bundles", data=bundle).status_code == 403
    receiver.call("post", "terms/accept", json={})
    before = files(receiver.home)
    damaged = bytearray(bundle)
    damaged[len(damaged) // 2] ^= 0xFF
    refused = receiver.call("post", "bundles", data=bytes(damaged))
    assert refused.status_code == 409 and refused.json()["reason"] == "integrity"
    assert files(receiver.home) == before  # nothing changed, no file left behind
    restored = receiver.call("post", "bundles", data=bundle)
    assert restored.status_code == 200, restored.text
    assert restored.json()["collections"]["bank.transactions"]["added"] > 100
    assert not list((receiver.home / "exports").glob("incoming-*"))
    missing = sender.call("get", "bundles/exports/cozy-export-20000101T000000.zip")
    assert missing.status_code == 404


def _saved(home: Path, data: bytes) -> Path:
    path = home.parent / "downloaded.zip"
    path.write_bytes(data)
    path.chmod(0o600)
    return path
