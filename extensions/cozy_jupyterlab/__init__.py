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
    setup_handlers(serverapp.web_app)
    serverapp.log.info("cozy_jupyterlab: REST API under /cozy/api/")
