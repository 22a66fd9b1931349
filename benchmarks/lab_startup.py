"""Benchmark: JupyterLab ready with the cozy_jupyterlab extension ÷ without it, and the
latency of the sidebar's ``GET /cozy/api/connectors``.

Both labs start the same way in fresh processes on 127.0.0.1 and count as ready when
``/lab`` answers 200; the only difference is the extension switched off through
``ServerApp.jpserver_extensions``, so the ratio is what the extension adds to a start.
Run alone with ``.venv/bin/python benchmarks/lab_startup.py``.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

TARGET = 1.15
RUNS = 3


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(home: Path, folder: Path, enabled: bool) -> tuple[subprocess.Popen[bytes], str, str]:
    port, token = _port(), uuid.uuid4().hex
    env = {**os.environ, "COZY_HOME": str(home), "JUPYTER_RUNTIME_DIR": str(folder / "rt")}
    argv = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}",
            "--no-browser", "--allow-root", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={folder}", "--LabApp.news_url=None"]  # fmt: skip
    if not enabled:
        argv.append("--ServerApp.jpserver_extensions={'cozy_jupyterlab': False}")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}", token


def _ready(home: Path, folder: Path, enabled: bool) -> float:
    start = time.perf_counter()
    proc, base, token = _start(home, folder, enabled)
    try:
        while True:
            try:
                if requests.get(f"{base}/lab?token={token}", timeout=2).status_code == 200:
                    return time.perf_counter() - start
            except requests.ConnectionError:
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _latency(home: Path, folder: Path) -> float:
    proc, base, token = _start(home, folder, True)
    headers = {"Authorization": f"token {token}"}
    try:
        while True:
            try:
                if requests.get(f"{base}/cozy/api/version", headers=headers, timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            requests.get(f"{base}/cozy/api/connectors", headers=headers, timeout=10)
            times.append(time.perf_counter() - t)
        return statistics.median(times)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cozy-lab-bench-") as tmp:
        folder = Path(tmp)
        home = folder / "home"
        subprocess.run([sys.executable, "-m", "cozy_kernel", "--home", str(home), "terms",
                        "accept", "--yes"], check=True, capture_output=True)  # fmt: skip
        _ready(home, folder, True)  # warm the disk cache for both
        with_ext, without = [], []
        for _ in range(RUNS):
            with_ext.append(_ready(home, folder, True))
            without.append(_ready(home, folder, False))
        ready, bare = statistics.median(with_ext), statistics.median(without)
        return {"with_s": ready, "without_s": bare, "ratio": ready / bare,
                "connectors_ms": _latency(home, folder) * 1000}  # fmt: skip


if __name__ == "__main__":
    figures = run()
    print(
        f"lab ready with / without the extension: {figures['with_s']:.2f} s / "
        f"{figures['without_s']:.2f} s = {figures['ratio']:.2f}x (target <= {TARGET})"
    )
    print(f"GET /cozy/api/connectors: {figures['connectors_ms']:.1f} ms (median of 20)")
