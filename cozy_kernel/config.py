"""What the operator of a shared server decides for every user: terms, connectors, syncs.

Each value comes from an environment variable (the Jupyter server extension sets them from
its traitlets) or else from the operator's TOML file (``COZY_CONFIG``, default
``/etc/cozy-notebook/config.toml``), so the CLI, kernels and the server agree.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from cozy_kernel.errors import BadInput

SYSTEM_CONFIG = Path("/etc/cozy-notebook/config.toml")
FREQUENCIES = ("daily", "weekly", "off")


def value(key: str) -> Any:
    """``COZY_<KEY>`` if set, else ``key`` in the config file, else None."""
    env = os.environ.get(f"COZY_{key.upper()}")
    if env:
        return env
    path = Path(os.environ.get("COZY_CONFIG", SYSTEM_CONFIG))
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: {exc}") from None
    return data.get(key)


def allowed_connectors() -> frozenset[str] | None:
    """The connectors the operator offers (None: every installed one)."""
    raw = value("allowed_connectors")
    if raw is None or raw == "":
        return None
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise BadInput("allowed_connectors must be a list of connector ids")
    return frozenset(n.strip() for n in names if n.strip())


def default_frequency() -> str | None:
    """The operator's sync frequency for connectors the user has not set (None: each
    manifest's own default)."""
    raw = value("default_frequency")
    if raw is None or raw == "":
        return None
    if raw not in FREQUENCIES:
        raise BadInput(f"default_frequency {raw!r} is not one of {', '.join(FREQUENCIES)}")
    return str(raw)
