"""Many users on one machine: a real JupyterHub, two Unix accounts, and nothing shared.

The hub runs as root on 127.0.0.1 with configurable-http-proxy and LocalProcessSpawner, so
each user's server runs under that user's own uid, with a workspace of mode 0700 in their
home. The test creates the accounts (``useradd``) and removes them afterwards.

The users' servers need a Python they may execute: the test venv's interpreter can live under
root's private home, so they run the system's Python 3.11 with the test venv's packages, as a
deployment installs Cozy Notebook into an environment every user can read.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import UNTIL
from tests.jupyter import execute, free_port

ROOT = Path(__file__).resolve().parent.parent
PROXY = ROOT / "tests" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
USERS = ("cozy-alice", "cozy-bob")
ADMIN = uuid.uuid4().hex

CONFIG = """
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.db_url = "sqlite:///{folder}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{folder}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [{python!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.environment = {{"PATH": {path!r}, "JUPYTER_CONFIG_PATH": {config_path!r}}}
c.Spawner.start_timeout = 90
c.Spawner.http_timeout = 90
c.JupyterHub.services = [{{"name": "cozy-test", "api_token": {admin!r}}}]
c.JupyterHub.load_roles = [
    {{"name": "cozy-test", "services": ["cozy-test"],
      "scopes": ["admin:users", "admin:servers", "tokens", "list:users"]}},
]
"""


class Hub:
    def __init__(self, base: str) -> None:
        self.base = base

    def api(self, method: str, path: str, token: str = ADMIN, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {token}"}
        return requests.request(
            method, f"{self.base}/hub/api/{path}", headers=headers, timeout=30, **kwargs
        )

    def cozy(
        self, user: str, token: str, method: str, path: str, **kwargs: Any
    ) -> requests.Response:
        """A call to a user's server through the proxy, as the hub routes a browser's."""
        headers = {"Authorization": f"token {token}"}
        url = f"{self.base}/user/{user}/cozy/api/{path}"
        return requests.request(method, url, headers=headers, timeout=60, **kwargs)

    def start(self, user: str) -> None:
        started = self.api("post", f"users/{user}/server")
        assert started.status_code in (201, 202), started.text
        deadline = time.monotonic() + 120
        while not self.api("get", f"users/{user}").json()["servers"].get("", {}).get("ready"):
            assert time.monotonic() < deadline, f"{user}'s server did not start"
            time.sleep(0.5)

    def token(self, user: str) -> str:
        made = self.api("post", f"users/{user}/tokens", json={"note": "cozy test"})
        assert made.status_code == 201, made.text
        return str(made.json()["token"])


@pytest.fixture(scope="module")
def unix_users() -> Iterator[dict[str, Path]]:
    if os.geteuid() != 0:
        pytest.fail("the hub test creates Unix accounts: run it as root (CI does)")
    homes = {}
    for user in USERS:
        subprocess.run(["userdel", "-r", user], capture_output=True)
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", user], check=True)
        homes[user] = Path(pwd.getpwnam(user).pw_dir)
    yield homes
    for user in USERS:
        subprocess.run(["pkill", "-u", user], capture_output=True)
        subprocess.run(["userdel", "-r", user], capture_output=True)


@pytest.fixture(scope="module")
def user_python() -> Iterator[Path]:
    """A venv of the system's Python 3.11, readable by every user, seeing the test venv's
    packages (compiled for the same Python ABI)."""
    system = Path("/usr/bin/python3.11")
    if not system.exists():
        pytest.fail("the hub test needs /usr/bin/python3.11 (Debian's python3.11)")
    folder = Path(tempfile.mkdtemp(prefix="cozy-hub-env-"))
    folder.chmod(0o755)
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(folder)], check=True)
    (site,) = folder.glob("lib/python3.11/site-packages")
    packages = sysconfig.get_paths()["purelib"]
    (site / "cozy-test-venv.pth").write_text(f"import site; site.addsitedir({packages!r})\n")
    yield folder / "bin" / "python"
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def hub(
    unix_users: dict[str, Path], user_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    if not PROXY.exists():
        pytest.fail(f"{PROXY} is missing: run `make test` (it runs npm ci in tests/hub)")
    folder = tmp_path_factory.mktemp("hub")
    port = free_port()
    config = folder / "jupyterhub_config.py"
    config.write_text(
        CONFIG.format(
            port=port, hub_port=free_port(), proxy_api_port=free_port(), proxy=str(PROXY),
            folder=folder, users=set(USERS), admin=ADMIN, python=str(user_python),
            path=f"{user_python.parent}:/usr/local/bin:/usr/bin:/bin",
            config_path=str(Path(sys.prefix) / "etc" / "jupyter"),
        )
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COZY_", "JUPYTER"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    log_path = folder / "hub.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        hub = Hub(f"http://127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if hub.api("get", "").status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(log_path.read_text())
                time.sleep(0.3)
            for user in USERS:
                hub.start(user)
            yield hub
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            for user in USERS:
                subprocess.run(["pkill", "-u", user], capture_output=True)


def test_each_user_has_a_private_workspace_and_their_own_gate(
    hub: Hub, unix_users: dict[str, Path]
) -> None:
    alice, bob = USERS
    a_token, b_token = hub.token(alice), hub.token(bob)

    # Alice accepts the terms and syncs the demo bank on her own server
    assert hub.cozy(alice, a_token, "post", "terms/accept", json={}).status_code == 200
    granted = hub.cozy(alice, a_token, "post", "connectors/demo-bank/consent",
                       json={"settings": {"until": UNTIL, "months": "3"}})  # fmt: skip
    assert granted.status_code == 200, granted.text
    job = hub.cozy(alice, a_token, "post", "connectors/demo-bank/sync", json={}).json()
    while job["state"] in ("queued", "running"):
        time.sleep(0.3)
        job = hub.cozy(alice, a_token, "get", f"jobs/{job['id']}").json()
    assert job["state"] == "done", job

    # Her workspace is in her home, hers alone
    workspace = unix_users[alice] / ".cozy"
    info = workspace.stat()
    assert info.st_mode & 0o777 == 0o700
    assert info.st_uid == pwd.getpwnam(alice).pw_uid

    # Bob's server has its own gate: his terms are not accepted, he sees nothing of hers
    terms = hub.cozy(bob, b_token, "get", "terms").json()
    assert terms["status"]["state"] == "required"
    locked = hub.cozy(bob, b_token, "post", "connectors/demo-bank/consent", json={})
    assert (locked.status_code, locked.json()["reason"]) == (403, "consent-required")
    hub.cozy(bob, b_token, "post", "terms/accept", json={})
    listed = {c["id"]: c for c in hub.cozy(bob, b_token, "get", "connectors").json()}
    assert listed["demo-bank"]["rows"] == {} and not listed["demo-bank"]["connected"]


def test_bob_cannot_reach_alice_data_by_api_token_or_kernel(
    hub: Hub, unix_users: dict[str, Path]
) -> None:
    alice, bob = USERS
    a_token, b_token = hub.token(alice), hub.token(bob)

    # Through the REST API: Bob's token does not open Alice's server
    for method, path in (("get", "connectors"), ("get", "report"), ("post", "terms/accept")):
        refused = hub.cozy(alice, b_token, method, path, json={}, allow_redirects=False)
        assert refused.status_code in (302, 403, 404), (path, refused.status_code)
        assert "bank.transactions" not in refused.text

    # With Alice's token presented to Bob's server: refused too
    crossed = hub.cozy(bob, a_token, "get", "connectors", allow_redirects=False)
    assert crossed.status_code in (302, 403, 404)

    # Through Bob's kernel: the files are his neighbour's, and the kernel runs as Bob
    server = f"{hub.base}/user/{bob}"
    kernel = requests.post(f"{server}/api/kernels", json={"name": "python3"}, timeout=60,
                           headers={"Authorization": f"token {b_token}"}).json()  # fmt: skip
    target = unix_users[alice] / ".cozy" / "cozy.db"
    code = (
        "import os, pwd\n"
        "print(pwd.getpwuid(os.getuid()).pw_name)\n"
        f"for path in ({str(target)!r}, {str(target.parent)!r}):\n"
        "    try:\n"
        "        open(path, 'rb').read(16) if path.endswith('.db') else os.listdir(path)\n"
        "        print('READ')\n"
        "    except PermissionError:\n"
        "        print('denied')\n"
        "import cozy_kernel as cozy\n"
        "try:\n"
        f"    cozy.frame('bank.transactions', home={str(target.parent)!r})\n"
        "    print('READ')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    out = asyncio.run(execute(server, b_token, kernel["id"], code)).split()
    assert out[:3] == [bob, "denied", "denied"]
    assert out[3] != "READ"
