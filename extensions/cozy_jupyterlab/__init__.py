"""Cozy Notebook's Jupyter server extension: the REST face of the core under ``/cozy/api/``.

Enabled by the wheel (``etc/jupyter/jupyter_server_config.d``). Every handler translates
one request into one core call; consent, secrets and exact money stay decided in the core.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "cozy_jupyterlab"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    import os

    from cozy_jupyterlab.config import CozyNotebook
    from cozy_jupyterlab.handlers import setup_handlers

    config = CozyNotebook(parent=serverapp)
    # The core and the kernels this server starts read the environment: set it once here.
    if config.home:
        os.environ["COZY_HOME"] = config.home
    if config.terms_dir:
        os.environ["COZY_TERMS_DIR"] = config.terms_dir
    if config.allowed_connectors:
        os.environ["COZY_ALLOWED_CONNECTORS"] = ",".join(config.allowed_connectors)
    if config.default_frequency:
        os.environ["COZY_DEFAULT_FREQUENCY"] = config.default_frequency
    web_app = serverapp.web_app
    web_app.settings["cozy_day"] = config.day_seconds
    setup_handlers(web_app)
    serverapp.log.info("cozy_jupyterlab: REST API under /cozy/api/")
    if config.scheduled_syncs:
        from cozy_jupyterlab.scheduler import Scheduler

        scheduler = Scheduler(
            web_app.settings["cozy_jobs"],
            tick=config.schedule_tick,
            day=config.day_seconds,
            log=serverapp.log,
        )
        scheduler.start()
        web_app.settings["cozy_scheduler"] = scheduler
