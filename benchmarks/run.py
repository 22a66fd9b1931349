"""Benchmarks of the paths a user waits on: sync, frame load and ``import cozy_kernel``.

Every figure is a ratio against a baseline measured in the same run on the same machine, so
the machine's speed cancels out and figures compare across laptops and CI. Baselines:

* sync — the floor cost of the same work done bare: the demo connector alone generating the
  same records (``DemoBank(settings).fetch(None)`` exhausted), plus a bare ``sqlite3``
  ``executemany`` of as many equally-sized rows into a plain table (no key, no index) in one
  transaction, with the store's pragmas. Nothing can sync faster than producing the rows and
  writing them once, so the ratio is the price of validation, encoding, staging, change
  counting and the run log. ``cozy.sync`` is called in-process, like the baseline, so neither
  side pays interpreter start-up.
* frame load — a fresh ``python -c`` that reads the same Parquet snapshot with
  ``pyarrow.parquet.read_table`` and converts it exactly as ``cozy_kernel.frames.to_pandas``
  does, without importing cozy_kernel: the least work that yields the same DataFrame from the
  same file. Both run in fresh processes because a kernel loads a frame in a new process, so
  the ratio is what opening the workspace and checking the snapshot's tag add.
* import — ``python -c pass``, the interpreter's own start-up: ``import cozy_kernel`` runs at
  every kernel start, so it must add little on top of starting Python at all.
* users — one user syncing alone (see ``users_load.py``): twenty at once should take about
  twenty times as long divided by the cores, and each workspace must hold only its own rows.
* portability — ``cozy.export_bundle`` against the same tables written bare as Parquet into a
  zip, ``cozy.restore_bundle`` against the export, and both runs' peak memory against the
  bare run's (see ``portability.py``).
* categorise — ``budget.transactions`` on the synced workspace (rules, corrections, the local
  model, transfer pairs) against a bare pandas pass over the same rows: load the frame, one
  ``str.contains`` per rule, a ``map`` of the bank's categories (see ``categorise.py``).

Run with ``make bench`` or ``.venv/bin/python benchmarks/run.py [--rows N]``. It always exits 0:
it is a report, and a missed target is printed as FAIL.
"""

from __future__ import annotations

import argparse
import collections
import gc
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import categorise
import csv_import
import lab_startup
import ofx_import
import portability
import users_load

import cozy_kernel as cozy
from cozy_connectors.demo_bank import DemoBank
from cozy_kernel.connections import resolve
from cozy_kernel.connector import Record
from cozy_kernel.schemas import BANK_TRANSACTIONS

BENCH = Path(__file__).resolve().parent.parent / ".bench"
UNTIL = "2026-06-30"
FRAME_RUNS, IMPORT_RUNS = 5, 20
FRAME_TARGET, IMPORT_TARGET = 1.5, 1.3

FRAME_CODE = "import cozy_kernel as cozy; cozy.frame('bank.transactions', home={home!r})"
# The same conversion as cozy_kernel.frames.to_pandas, inlined so cozy_kernel is not imported.
BARE_CODE = "import pyarrow.parquet as pq; pq.read_table({path!r}).to_pandas(date_as_object=False)"


def fresh(code: str) -> float:
    """Wall time of a fresh interpreter running ``code``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def alternate(a: str, b: str, runs: int) -> tuple[float, float]:
    """Medians of ``runs`` fresh runs of each, interleaved so drift hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        times[0].append(fresh(a))
        times[1].append(fresh(b))
    return statistics.median(times[0]), statistics.median(times[1])


def bare_insert(path: Path, rows: list[tuple[Any, ...]]) -> float:
    """Seconds to executemany ``rows`` into a plain table in one transaction."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    width = len(rows[0])
    db.execute(f"CREATE TABLE t ({', '.join(f'c{i}' for i in range(width))})")
    start = time.perf_counter()
    db.execute("BEGIN")
    db.executemany(f"INSERT INTO t VALUES ({', '.join('?' * width)})", rows)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def floor(rows: int) -> tuple[float, float]:
    """The sync baseline: (seconds to generate the records, seconds to insert them bare)."""
    settings = resolve(DemoBank.manifest, {"transactions": str(rows), "until": UNTIL})
    start = time.perf_counter()
    collections.deque(DemoBank(settings).fetch(None), maxlen=0)
    generate = time.perf_counter() - start
    # Rows shaped like the store's: a real encoded transaction, a same-length unique key,
    # then the two provenance columns.
    sample = next(iter(DemoBank(settings).fetch(None)))
    assert isinstance(sample, Record)
    row = BANK_TRANSACTIONS.encoder()(sample.data)
    tuples = [(f"demo-checking-{i:013d}", *row[1:], "demo-bank", 1) for i in range(rows)]
    insert = bare_insert(BENCH / "bare.db", tuples)
    return generate, insert


def ratio_line(label: str, ratio: float, target: float | None = None) -> str:
    """One figure, with its verdict when it has a target."""
    line = f"  {label:<26}{ratio:8.2f}x"
    if target is not None:
        line += f"  target <= {target}  {'PASS' if ratio <= target else 'FAIL'}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="demo transactions")
    parser.add_argument("--ofx-rows", type=int, default=100_000, help="OFX transactions")
    parser.add_argument("--csv-rows", type=int, default=1_000_000, help="CSV lines")
    args = parser.parse_args()
    rows = args.rows
    shutil.rmtree(BENCH, ignore_errors=True)
    BENCH.mkdir()
    home = BENCH / "home"
    snapshot = home / "cache" / "frames" / "bank.transactions.parquet"
    print(f"Cozy Notebook benchmarks: {rows:,} rows, Python {sys.version.split()[0]}, {home}")

    print("\n[a] sync (in-process cozy.sync); baseline: connector alone + bare sqlite3 insert")
    cozy.accept_terms(home=home)
    cozy.connect("demo-bank", home=home, grant=True, transactions=rows, until=UNTIL)
    start = time.perf_counter()
    report = cozy.sync("demo-bank", home=home)
    sync_s = time.perf_counter() - start
    written = report.added + report.updated + report.unchanged
    gc.collect()
    generate_s, insert_s = floor(rows)
    sync = sync_s / (generate_s + insert_s)
    print(f"  {'sync':<26}{sync_s:8.2f} s  {written / sync_s:,.0f} rows/s")
    print(f"  {'':<26}added {report.added:,}, rejected {len(report.rejected)}")
    print(f"  {'baseline: generate':<26}{generate_s:8.2f} s")
    print(f"  {'baseline: sqlite3 insert':<26}{insert_s:8.2f} s")
    print(f"  {'baseline: total':<26}{generate_s + insert_s:8.2f} s")
    print(ratio_line("sync / baseline", sync))

    print(f"\n[b] frame load, fresh processes, median of {FRAME_RUNS}, alternating")
    frame_code = FRAME_CODE.format(home=str(home))
    print(f"  {'cold (builds snapshot)':<26}{fresh(frame_code):8.2f} s")
    frame_s, bare_s = alternate(frame_code, BARE_CODE.format(path=str(snapshot)), FRAME_RUNS)
    frame = frame_s / bare_s
    print(f"  {'cozy.frame (warm)':<26}{frame_s:8.2f} s")
    print(f"  {'baseline: bare pyarrow':<26}{bare_s:8.2f} s")
    print(ratio_line("frame / baseline", frame, FRAME_TARGET))

    print(f"\n[c] import, fresh processes, median of {IMPORT_RUNS}, alternating")
    import_s, pass_s = alternate("import cozy_kernel", "pass", IMPORT_RUNS)
    imports = import_s / pass_s
    print(f"  {'import cozy_kernel':<26}{import_s * 1000:8.1f} ms")
    print(f"  {'baseline: python -c pass':<26}{pass_s * 1000:8.1f} ms")
    print(ratio_line("import / baseline", imports, IMPORT_TARGET))

    print(f"\n[d] OFX import of {args.ofx_rows:,} transactions; baseline: ofxtools parsing alone")
    ofx = ofx_import.run(args.ofx_rows)
    print(f"  {'cozy import':<26}{ofx['import_s']:8.2f} s")
    print(f"  {'baseline: ofxtools':<26}{ofx['ofxtools_s']:8.2f} s")
    print(ratio_line("import / ofxtools", ofx["ratio"], ofx_import.TARGET))

    print(f"\n[e] CSV import of {args.csv_rows:,} lines (a French bank's export)")
    csv = csv_import.run(args.csv_rows)
    print(f"  {'cozy import':<26}{csv['seconds']:8.2f} s  {csv['rows_per_s']:,.0f} rows/s")

    print(f"\n[f] JupyterLab ready with the extension ÷ without, median of {lab_startup.RUNS}")
    lab = lab_startup.run()
    print(f"  {'with cozy_jupyterlab':<26}{lab['with_s']:8.2f} s")
    print(f"  {'baseline: without':<26}{lab['without_s']:8.2f} s")
    print(ratio_line("lab ready / without", lab["ratio"], lab_startup.TARGET))
    print(f"  {'GET /cozy/api/connectors':<26}{lab['connectors_ms']:8.1f} ms (median of 20)")

    print(f"\n[g] categorise {rows:,} transactions; baseline: a bare pandas pass")
    cat = categorise.run(home)
    print(f"  {'cold (trains the model)':<26}{cat['cold_s']:8.2f} s")
    print(f"  {'warm (model cached)':<26}{cat['warm_s']:8.2f} s  {cat['rows_per_s']:,.0f} rows/s")
    print(f"  {'baseline: pandas pass':<26}{cat['baseline_s']:8.2f} s")
    print(ratio_line("categorise / baseline", cat["ratio"]))

    print(f"\n[h] {users_load.USERS} users syncing the demo bank at once, a process each")
    load = users_load.run()
    print(f"  {'baseline: one user alone':<26}{load['alone_s']:8.2f} s")
    print(f"  {'all users, total':<26}{load['total_s']:8.2f} s  (ideal {load['ideal_s']:.2f} s)")
    print(f"  {'per user: median':<26}{load['median_s']:8.2f} s")
    print(f"  {'per user: slowest':<26}{load['slowest_s']:8.2f} s")
    print(ratio_line("total / ideal", load["total_ratio"]))
    print(f"  {'each holds its own rows':<26}{'yes' if load['own_rows'] else 'NO: FAIL'}")

    print(f"\n[i] portability: export and restore {rows:,} transactions (see portability.py)")
    moved = portability.run(home)
    portability.report(moved, ratio_line)

    print("\n== summary ==")
    print(ratio_line("sync / bare floor", sync) + f"  ({written / sync_s:,.0f} rows/s)")
    print(ratio_line("frame / bare pyarrow", frame, FRAME_TARGET))
    print(ratio_line("import / python -c pass", imports, IMPORT_TARGET))
    print(ratio_line("OFX import / ofxtools", ofx["ratio"], ofx_import.TARGET))
    print(f"  {'CSV import':<26}{csv['rows_per_s']:8,.0f} rows/s")
    print(ratio_line("lab ready / without", lab["ratio"], lab_startup.TARGET))
    print(
        ratio_line("categorise / pandas pass", cat["ratio"])
        + f"  ({cat['rows_per_s']:,.0f} rows/s)"
    )
    print(
        ratio_line(f"{users_load.USERS} users / ideal", load["total_ratio"])
        + f"  (own rows only: {'yes' if load['own_rows'] else 'NO'})"
    )
    print(ratio_line("export / Parquet in zip", moved["export_ratio"], portability.EXPORT_TARGET))
    print(ratio_line("restore / export", moved["restore_ratio"], portability.RESTORE_TARGET))
    print(
        ratio_line("export peak memory / bare", moved["export_peak_mb"] / moved["baseline_peak_mb"])
        + f"  ({moved['export_peak_mb']:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
