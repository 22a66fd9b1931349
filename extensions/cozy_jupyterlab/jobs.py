"""Background syncs and exports in the server process, so a request returns at once with a
job id.

Each sync commits in one transaction like any other, so a kernel reading frames meanwhile
sees the data before or after it, never in between. One job per kind and name at a time (a
sync per connector, one export): a second request gets 409 while the first runs. Kinds keep
their own names, so a connector called ``export`` never waits on an export.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from cozy_kernel.errors import CozyError

MAX_KEPT = 200
ACTIVE = ("queued", "running")
Kind = Literal["sync", "export"]


class AlreadyRunning(CozyError):
    exit_code = 1
    http_status = 409
    reason = "already-running"


@dataclass
class Job:
    id: str
    kind: Kind
    connector: str  # the connector a sync runs; "export" for an export (the sidebar's key)
    state: str = "queued"  # queued, running, done, failed
    done: int = 0
    total: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    report: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}
        data["percent"] = None if not self.total else min(100, round(100 * self.done / self.total))
        return data


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Jobs:
    """The server's jobs, newest kept, at most one running per kind and name."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cozy-sync")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(
        self,
        connector: str,
        work: Callable[[Callable[[int, int | None], None]], Any],
        *,
        kind: Kind = "sync",
    ) -> Job:
        with self._lock:
            for job in self._jobs.values():
                if (job.kind, job.connector) == (kind, connector) and job.state in ACTIVE:
                    what = f"a sync of {connector!r}" if kind == "sync" else f"an {kind}"
                    raise AlreadyRunning(f"{what} is already running (job {job.id})")
            job = Job(uuid.uuid4().hex, kind, connector)
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_KEPT:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].state in ACTIVE:
                    break
                del self._jobs[oldest]
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Callable[[int, int | None], None]], Any]) -> None:
        def progress(done: int, total: int | None) -> None:
            with job._lock:
                job.done, job.total = done, total

        with job._lock:
            job.state, job.started_at = "running", _now()
        try:
            result = work(progress)
        except CozyError as exc:
            error = {"status": exc.http_status, "reason": exc.reason, "message": str(exc)}
            with job._lock:
                job.state, job.error, job.ended_at = "failed", error, _now()
            return
        except Exception as exc:  # reported to the user through the job, not lost in a thread
            error = {"status": 500, "reason": "error", "message": f"{type(exc).__name__}: {exc}"}
            with job._lock:
                job.state, job.error, job.ended_at = "failed", error, _now()
            return
        with job._lock:
            job.state, job.report, job.ended_at = "done", result, _now()

    def running(self) -> dict[str, Job]:
        """The queued or running sync of each busy connector."""
        with self._lock:
            return {
                job.connector: job
                for job in self._jobs.values()
                if job.kind == "sync" and job.state in ACTIVE
            }

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)
