"""``cozy lab`` (what ``make lab`` runs): JupyterLab on 127.0.0.1 whose kernels see the data."""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.request
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import UNTIL, run_cozy
from tests.jupyter import execute, running

TOKEN = uuid.uuid4().hex


def get(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, method=method, data=body, headers={"Authorization": f"token {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


@pytest.fixture
def lab(home: Path, tmp_path: Path) -> Iterator[str]:
    command = ["cozy_kernel", "--home", str(home), "lab"]
    env = {k: v for k, v in os.environ.items() if k != "COZY_HOME"}
    with running(command, tmp_path, TOKEN, env, binds_itself=True) as base:
        yield base


def test_lab_serves_the_notebooks_and_its_kernels_read_the_workspace(home: Path, lab: str) -> None:
    # Given the demo bank connected and synced from the command line
    assert run_cozy(home, "connect", "demo-bank", "--yes", "--set", f"until={UNTIL}").code == 0
    assert run_cozy(home, "sync", "demo-bank").code == 0

    # Then JupyterLab serves its page and the notebooks folder
    status, page = get(f"{lab}/lab")
    assert status == 200 and b"JupyterLab" in page
    # No telemetry: the news feed is off (page config) and nothing is fetched
    assert re.search(rb'"news":\s*\{"disabled":\s*true\}', page)
    assert json.loads(get(f"{lab}/lab/api/news")[1])["news"] == []
    assert json.loads(get(f"{lab}/lab/api/update")[1])["notification"] is None
    # It opens the workspace's own private notebooks folder, the welcome notebook copied in
    listing = json.loads(get(f"{lab}/api/contents")[1])
    assert "Welcome.ipynb" in {item["name"] for item in listing["content"]}
    assert (home / "notebooks").stat().st_mode & 0o777 == 0o700

    # And a kernel started by it reads the same workspace with cozy.frame
    kernel = json.loads(get(f"{lab}/api/kernels", "POST", b'{"name": "python3"}')[1])
    out = asyncio.run(
        execute(
            lab,
            TOKEN,
            kernel["id"],
            "import cozy_kernel as cozy\n"
            "tx = cozy.frame('bank.transactions')\n"
            "print(len(tx), tx['amount'].sum(), tx['date'].max().date())",
        )
    )
    records = json.loads(run_cozy(home, "frame", "bank.transactions", "--format", "json").out)
    total = sum(Decimal(r["amount"]) for r in records)
    assert out.split() == [str(len(records)), str(total), UNTIL]
