"""Shared fixtures: a fresh workspace per test and a way to run the real ``cozy`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# A fixed last day keeps the demo's history identical whatever day the tests run.
UNTIL = "2026-06-30"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace folder, also exported as COZY_HOME for in-process API calls."""
    path = tmp_path / "home"
    monkeypatch.setenv("COZY_HOME", str(path))
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.delenv("COZY_TERMS_DIR", raising=False)
    monkeypatch.setenv("COZY_CONFIG", str(tmp_path / "no-config.toml"))
    return path


def accept_terms(home: Path) -> None:
    """Accept the current terms in a workspace, as the user does once."""
    import cozy_kernel as api

    api.accept_terms(home=home)


@pytest.fixture
def home(fresh_home: Path) -> Path:
    """A workspace whose user accepted the current terms (most tests start here)."""
    accept_terms(fresh_home)
    return fresh_home


def run_cozy(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``cozy --home HOME ARGS`` in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "cozy_kernel", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cozy(home: Path):
    """``cozy("sync", "demo-bank")`` runs the CLI on this test's workspace."""

    def call(*args: str, env: dict[str, str] | None = None) -> Result:
        return run_cozy(home, *args, env=env)

    return call


@pytest.fixture
def demo(home: Path) -> Iterator[Path]:
    """A workspace with the demo bank connected (fixed end date) and synced once."""
    import cozy_kernel as api

    api.connect("demo-bank", home=home, grant=True, until=UNTIL)
    api.sync("demo-bank", home=home)
    yield home


def write_connector(home: Path, name: str, source: str) -> Path:
    """Drop a user connector into the workspace's connectors folder, as a user would."""
    folder = home / "connectors"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source)
    return path
