"""Benchmark of leaving and coming back: export, restore, and their peak memory.

* export — ``cozy.export_bundle`` of the workspace (every collection as Parquet and CSV, the
  store's own tables, consent records, hashed, scanned for secrets, bagged and zipped) against
  the least work that puts the same Parquet files in a zip: one ADBC read of each table the
  bundle carries, ``pyarrow.parquet.write_table`` straight into a stored zip entry. Target ≤ 2.
* restore — ``cozy.restore_bundle`` of that bundle into a fresh workspace (verify, then merge
  through the same upsert as a sync) against the export that made it, median of ``RUNS``
  fresh workspaces. Target ≤ 2.
* peak memory — each run's maximum resident set, in its own process (``os.wait4``), against
  the baseline's, which holds each table whole: export and restore stream batches.

Times are measured inside each child after its imports, so interpreter start-up cancels out;
baseline and export alternate, median of ``RUNS``. Run with ``.venv/bin/python
benchmarks/portability.py [--rows N]``; ``benchmarks/run.py`` calls :func:`run` on the
workspace it already synced.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

UNTIL = "2026-06-30"
RUNS = 3
EXPORT_TARGET, RESTORE_TARGET = 2.0, 2.0

# Each child imports the libraries both sides use before its clock starts, as the baseline does.
EXPORT = """
import time
import adbc_driver_sqlite.dbapi, pyarrow.csv, pyarrow.parquet
import cozy_kernel.portability as p
start = time.perf_counter()
p.export_bundle({out!r}, home={home!r})
print(time.perf_counter() - start)
"""
RESTORE = """
import time
import adbc_driver_sqlite.dbapi, pyarrow.csv, pyarrow.parquet
import cozy_kernel as cozy
import cozy_kernel.portability as p
cozy.accept_terms(home={target!r})
start = time.perf_counter()
p.restore_bundle({out!r}, home={target!r})
print(time.perf_counter() - start)
"""
# The bare floor: every table the bundle carries, read once through ADBC, written as Parquet
# into a zip (stored: Parquet is compressed already).
BASELINE = """
import sqlite3, time, zipfile
import adbc_driver_sqlite.dbapi as adbc
import pyarrow.parquet as pq
db = sqlite3.connect({db!r})
tables = [r[0] for r in db.execute(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
    "('meta', 'collections', 'consent_events', 'secret_names')")]
db.close()
start = time.perf_counter()
with adbc.connect({db!r}) as conn, zipfile.ZipFile({out!r}, "w") as zf:
    for name in tables:
        with conn.cursor() as cur:
            cur.execute(f'SELECT count(*) FROM "{{name}}"')
            rows = max(int(cur.fetchone()[0]), 1)
            cur.adbc_statement.set_options(**{{"adbc.sqlite.query.batch_rows": str(rows)}})
            cur.execute(f'SELECT * FROM "{{name}}"')
            table = cur.fetch_arrow_table()
        with zf.open(f"{{name}}.parquet", "w") as sink:
            pq.write_table(table, sink)
print(time.perf_counter() - start)
"""


# The child's own high-water mark. Not ``ru_maxrss``: Linux carries it across exec, so a child
# of a big parent (``run.py`` after its million-row sync) would report the parent's size.
PEAK = "\nprint(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"


def child(code: str) -> tuple[float, float]:
    """(seconds the child reports, its peak resident memory in MiB)."""
    done = subprocess.run(
        [sys.executable, "-c", code + PEAK], capture_output=True, stdin=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({done.returncode}): {done.stderr[-500:]}")
    seconds, peak_kib = done.stdout.strip().splitlines()[-2:]
    return float(seconds), int(peak_kib) / 1024


def run(home: Path) -> dict[str, Any]:
    """Export, restore and baseline on the synced workspace ``home``."""
    work = Path(tempfile.mkdtemp(prefix="cozy-bench-portability-"))
    try:
        bundle, bare = work / "bundle.zip", work / "bare.zip"
        exports, baselines = [], []
        for _ in range(RUNS):
            baselines.append(child(BASELINE.format(db=str(home / "cozy.db"), out=str(bare))))
            exports.append(child(EXPORT.format(out=str(bundle), home=str(home))))
        restores = [
            child(RESTORE.format(out=str(bundle), target=str(work / f"restored-{n}")))
            for n in range(RUNS)
        ]
        restore = (statistics.median(t for t, _ in restores), max(m for _, m in restores))
        export_s = statistics.median(t for t, _ in exports)
        baseline_s = statistics.median(t for t, _ in baselines)
        export_mb, baseline_mb = max(m for _, m in exports), max(m for _, m in baselines)
        return {
            "export_s": export_s,
            "baseline_s": baseline_s,
            "restore_s": restore[0],
            "export_ratio": export_s / baseline_s,
            "restore_ratio": restore[0] / export_s,
            "bundle_mb": bundle.stat().st_size / 2**20,
            "bare_mb": bare.stat().st_size / 2**20,
            "export_peak_mb": export_mb,
            "restore_peak_mb": restore[1],
            "baseline_peak_mb": baseline_mb,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(figures: dict[str, Any], line: Any) -> None:
    """Print the section the way ``run.py`` prints the others (``line`` is its ratio_line)."""
    print(f"  {'cozy export':<26}{figures['export_s']:8.2f} s  ({figures['bundle_mb']:.1f} MiB)")
    print(f"  {'baseline: Parquet in zip':<26}{figures['baseline_s']:8.2f} s  "
          f"({figures['bare_mb']:.1f} MiB)")  # fmt: skip
    print(line("export / baseline", figures["export_ratio"], EXPORT_TARGET))
    print(f"  {'cozy restore (fresh)':<26}{figures['restore_s']:8.2f} s")
    print(line("restore / export", figures["restore_ratio"], RESTORE_TARGET))
    print(f"  {'peak memory: export':<26}{figures['export_peak_mb']:8.0f} MiB")
    print(f"  {'peak memory: restore':<26}{figures['restore_peak_mb']:8.0f} MiB")
    print(f"  {'baseline (tables whole)':<26}{figures['baseline_peak_mb']:8.0f} MiB")
    print(line("export peak / baseline", figures["export_peak_mb"] / figures["baseline_peak_mb"]))
    print(line("restore peak / baseline", figures["restore_peak_mb"] / figures["baseline_peak_mb"]))


def main() -> None:
    import cozy_kernel as cozy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="demo transactions")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="cozy-bench-home-"))
    try:
        cozy.accept_terms(home=home)
        cozy.connect("demo-bank", home=home, grant=True, transactions=args.rows, until=UNTIL)
        cozy.sync("demo-bank", home=home)
        print(f"portability, {args.rows:,} transactions, median of {RUNS}")
        from run import ratio_line

        report(run(home), ratio_line)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
