"""Benchmark: twenty users syncing the demo bank at once on one machine.

Each user has a workspace of their own (as under JupyterHub) with a demo history drawn from
their own seed, and syncs it in a process of their own, all started together. Baseline: one
user alone, same history size, measured in the same run (median of three). Printed: the
total time against the ideal (users * alone / cores), the median and slowest user's latency
against alone, and a check that every workspace holds exactly the rows of its own seed and
nothing else.
Run alone with ``.venv/bin/python benchmarks/users_load.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cozy_kernel as cozy
from cozy_connectors.demo_bank import DemoBank
from cozy_kernel.connections import resolve
from cozy_kernel.connector import Record

USERS = 20
UNTIL = "2026-06-30"
TRANSACTIONS = 5_000
RUNS = 3  # lone syncs, of which the median is the baseline


def _prepare(home: Path, seed: int) -> None:
    cozy.accept_terms(home=home)
    cozy.connect("demo-bank", home=home, grant=True, until=UNTIL, seed=seed,
                 transactions=TRANSACTIONS)  # fmt: skip


def _sync(home: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "cozy_kernel", "--home", str(home), "sync", "demo-bank"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _expected(seed: int) -> set[tuple[str, int]]:
    """(id, amount in cents) of every transaction the demo bank makes for this seed."""
    settings = resolve(DemoBank.manifest, {"until": UNTIL, "seed": str(seed),
                                           "transactions": str(TRANSACTIONS)})  # fmt: skip
    rows = set()
    for item in DemoBank(settings).fetch(None):
        if isinstance(item, Record) and item.collection == "bank.transactions":
            rows.add((str(item.data["id"]), round(item.data["amount"] * 100)))
    return rows


def _held(home: Path) -> set[tuple[str, int]]:
    frame = cozy.frame("bank.transactions", home=home)
    return {(i, round(a * 100)) for i, a in zip(frame["id"], frame["amount"], strict=True)}


def _alone(home: Path, seed: int) -> float:
    """Seconds one user's sync takes with the machine to itself."""
    _prepare(home, seed)
    start = time.perf_counter()
    if _sync(home).wait() != 0:
        raise SystemExit("the lone sync failed")
    return time.perf_counter() - start


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cozy-users-") as tmp:
        root = Path(tmp)
        alone_s = statistics.median(_alone(root / f"alone{n}", 1000 + n) for n in range(RUNS))

        homes = [root / f"user{i:02d}" for i in range(USERS)]
        for seed, home in enumerate(homes):
            _prepare(home, seed)
        start = time.perf_counter()
        pending = {home: (_sync(home), time.perf_counter()) for home in homes}
        latencies = []
        while pending:
            for home, (proc, began) in list(pending.items()):
                code = proc.poll()
                if code is None:
                    continue
                if code != 0:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise SystemExit(f"{home.name}'s sync failed: {err}")
                latencies.append(time.perf_counter() - began)
                del pending[home]
            time.sleep(0.01)
        total_s = time.perf_counter() - start

        own = all(_held(home) == _expected(seed) for seed, home in enumerate(homes))
    cores = os.cpu_count() or 1
    ideal_s = USERS * alone_s / cores
    return {
        "alone_s": alone_s,
        "total_s": total_s,
        "ideal_s": ideal_s,
        "total_ratio": total_s / ideal_s,
        "median_s": statistics.median(latencies),
        "slowest_s": max(latencies),
        "median_ratio": statistics.median(latencies) / alone_s,
        "own_rows": own,
    }


if __name__ == "__main__":
    figures = run()
    for name, value in figures.items():
        print(f"{name:<14}{value}")
