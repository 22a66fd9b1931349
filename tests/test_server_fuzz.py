"""Schemathesis drives every route of the OpenAPI description against a live server.

Whatever it sends — odd JSON, unknown connectors, bad languages, garbage uploads — the
server answers with a documented status and never a 5xx.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.jupyter import running

ROOT = Path(__file__).resolve().parent.parent
TOKEN = uuid.uuid4().hex
SPEC = ROOT / "extensions" / "cozy_jupyterlab" / "openapi.yaml"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server over a workspace with accepted terms and a synced demo bank."""
    folder = tmp_path_factory.mktemp("fuzz")
    home = folder / "home"
    env = {
        **os.environ,
        "COZY_HOME": str(home),
        "JUPYTER_RUNTIME_DIR": str(folder / "rt"),
        "JUPYTER_CONFIG_DIR": str(folder / "cf"),
        "COZY_CONFIG": str(folder / "none.toml"),
    }
    env.pop("COZY_TERMS_DIR", None)
    for args in (
        ["terms", "accept", "--yes"],
        ["connect", "demo-bank", "--yes", "--set", "months=2"],
        ["sync", "demo-bank"],
    ):
        subprocess.run([sys.executable, "-m", "cozy_kernel", *args], env=env, check=True,
                       capture_output=True)  # fmt: skip
    with running(["jupyter_server", f"--ServerApp.root_dir={folder}"], folder, TOKEN, env) as base:
        yield base


schema = schemathesis.openapi.from_path(str(SPEC))


@schemathesis.serializer("application/zip")
def zip_body(ctx: object, value: object) -> bytes:
    """Bundles are bytes: whatever the generator made (hostile by construction) is sent raw."""
    return value if isinstance(value, bytes) else str(value).encode()


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_route_ever_answers_5xx(case: schemathesis.Case, live: str) -> None:
    response = case.call(base_url=f"{live}/cozy/api",
                         headers={"Authorization": f"token {TOKEN}"})  # fmt: skip

    assert response.status_code < 500, (case.method, case.path, response.text[:300])
