"""A kernel reading frames while a sync commits in another process sees whole states only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import UNTIL, run_cozy, write_connector

ROWS = 45_000  # more than two runner batches: a partial commit would show as a short frame

GENERATIONS = f'''
import datetime as dt
import time
from decimal import Decimal
from cozy_kernel.connector import Connector, Manifest, Record

class Generations(Connector):
    """Every run rewrites every row with a new generation label."""
    manifest = Manifest(id="generations", name="Generations", version="1", kind="file",
                        writes=("bank.transactions",), description={{"en": "test"}})

    def fetch(self, since):
        label = f"generation {{time.time_ns()}}"
        for i in range({ROWS}):
            yield Record("bank.transactions", {{
                "id": f"g{{i}}", "account_id": "g", "date": dt.date(2026, 1, 1),
                "amount": Decimal(i).scaleb(-2), "currency": "EUR", "label": label,
                "pending": False}})

connector = Generations
'''

READER = """
import json, sys, pathlib
import cozy_kernel as cozy
stop = pathlib.Path(sys.argv[1])
loads, errors, partial, generations, sizes = 0, [], 0, set(), set()
while not stop.exists() or loads == 0:
    try:
        tx = cozy.frame("bank.transactions")
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        continue
    loads += 1
    sizes.add(len(tx))
    if tx["connector"].astype(str).eq("generations").any():
        labels = set(tx.loc[tx["connector"] == "generations", "label"])
        if len(labels) != 1 or (tx["connector"] == "generations").sum() != int(sys.argv[2]):
            partial += 1
        generations |= labels
print(json.dumps({"loads": loads, "errors": errors, "partial": partial,
                  "generations": len(generations), "sizes": sorted(sizes)}))
"""


def read_while(home: Path, tmp_path: Path, writes: list[list[str]]) -> dict:
    stop = tmp_path / "stop"
    stop.unlink(missing_ok=True)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(stop), str(ROWS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"COZY_HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    try:
        time.sleep(1.0)  # let the reader start looping before the first write
        for args in writes:
            result = run_cozy(home, *args)
            assert result.code == 0, result.err
        stop.touch()
        out, err = reader.communicate(timeout=120)
    finally:
        reader.kill()
    assert reader.returncode == 0, err
    return json.loads(out)


def test_frames_read_during_repeated_full_syncs_are_never_partial(
    home: Path, tmp_path: Path
) -> None:
    # Given a synced demo bank
    assert run_cozy(home, "connect", "demo-bank", "--yes", "--set", f"until={UNTIL}").code == 0
    assert run_cozy(home, "sync", "demo-bank").code == 0

    # When a reader loops over frames while full syncs run again and again
    demo = read_while(home, tmp_path, [["sync", "demo-bank", "--full"]] * 4)

    # Then it never fails and always sees the same complete history
    assert demo["errors"] == [] and demo["loads"] > 0
    assert len(demo["sizes"]) == 1

    # And when every full sync rewrites every row of another connector
    write_connector(home, "generations", GENERATIONS)
    assert run_cozy(home, "connect", "generations", "--yes").code == 0
    seen = read_while(home, tmp_path, [["sync", "generations", "--full"]] * 4)

    # Then each frame holds exactly one generation, whole
    assert seen["errors"] == []
    assert seen["partial"] == 0
    assert seen["loads"] >= 4
    assert seen["generations"] >= 2
