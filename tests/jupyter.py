"""Start a real Jupyter server (or the lab ``cozy lab`` runs) on 127.0.0.1 for a test."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _up(base: str, token: str) -> bool:
    request = urllib.request.Request(
        f"{base}/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def running(
    command: Sequence[str],
    folder: Path,
    token: str,
    env: Mapping[str, str] | None = None,
    *,
    binds_itself: bool = False,
) -> Iterator[str]:
    """Run ``python -m COMMAND`` with a free port and ``token``; yield its base URL.

    The server's config and runtime folders live in ``folder``, so a test never writes to
    the user's or the venv's Jupyter folders, and it is stopped when the test ends.
    ``binds_itself`` is for ``cozy lab``, which sets the address and ``--allow-root`` itself.
    """
    port = free_port()
    merged = {**os.environ, **(env or {})}
    merged["JUPYTER_RUNTIME_DIR"] = str(folder / "jupyter-runtime")
    merged["JUPYTER_CONFIG_DIR"] = str(folder / "jupyter-config")
    log_path = folder / "server.log"
    with log_path.open("w") as log:
        own = [] if binds_itself else ["--ip=127.0.0.1", "--allow-root"]
        proc = subprocess.Popen(
            [sys.executable, "-m", *command, *own, f"--port={port}", "--no-browser",
             f"--IdentityProvider.token={token}"],
            stdout=log, stderr=subprocess.STDOUT, env=merged,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while not _up(base, token):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(log_path.read_text())
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def execute(base: str, token: str, kernel_id: str, code: str) -> str:
    """Run code in a server-side kernel over the Jupyter websocket protocol; return stdout."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = base.replace("http", "ws") + f"/api/kernels/{kernel_id}/channels"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}))
    msg_id = uuid.uuid4().hex
    ws.write_message(
        json.dumps(
            {
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "t",
                           "session": uuid.uuid4().hex, "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": code, "silent": False, "store_history": False,
                            "user_expressions": {}, "allow_stdin": False},
            }
        )
    )  # fmt: skip
    out: list[str] = []
    while True:
        raw = await asyncio.wait_for(ws.read_message(), timeout=90)
        assert raw is not None, "kernel websocket closed"
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        elif kind == "error":
            pytest.fail("\n".join(msg["content"]["traceback"]))
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            ws.close()
            return "".join(out)
