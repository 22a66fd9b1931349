"""Automatic syncs inside the user's server: every tick, each due connector gets a job.

The core decides what is due and pauses a connector whose failure needs the user; the
scheduler only starts the jobs, through the same queue as "Sync now", so the sidebar shows
their progress and a sync never runs twice at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tornado.ioloop import PeriodicCallback

from cozy_jupyterlab.jobs import AlreadyRunning, Jobs
from cozy_kernel import api
from cozy_kernel.errors import CozyError


class Scheduler:
    def __init__(self, jobs: Jobs, *, tick: float, day: float, log: logging.Logger) -> None:
        self.jobs = jobs
        self.day = day
        self.log = log
        self._callback = PeriodicCallback(self._tick, tick * 1000)
        self._busy = False

    def start(self) -> None:
        self._callback.start()

    def stop(self) -> None:
        self._callback.stop()

    async def _tick(self) -> None:
        if self._busy:  # a slow store must not stack ticks
            return
        self._busy = True
        try:
            due = await asyncio.to_thread(api.due, day=self.day)
        except CozyError as exc:
            self.log.warning("cozy scheduler: %s", exc)
            return
        finally:
            self._busy = False
        for connector in due:
            try:
                self.jobs.start(connector, _work(connector))
            except AlreadyRunning:
                continue
            self.log.info("cozy scheduler: automatic sync of %s", connector)


def _work(connector: str) -> Callable[[Callable[[int, int | None], None]], Any]:
    def work(progress: Callable[[int, int | None], None]) -> dict[str, Any]:
        return api.scheduled_sync(connector, progress=progress).as_dict()

    return work
