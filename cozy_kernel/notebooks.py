"""The notebook templates Cozy Notebook ships (welcome, budgeting), and where the user's go.

Templates are read-only sources: the launcher and ``cozy lab`` copy them into the user's own
notebooks folder, so an upgrade never overwrites a notebook the user changed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from cozy_kernel.errors import BadInput, unknown
from cozy_kernel.workspace import Workspace

WELCOME = "Welcome.ipynb"


def templates_dir() -> Path:
    """``COZY_TEMPLATES``, else the checkout's ``notebooks/`` (development), else the copy the
    wheel installs under ``<prefix>/share/cozy-notebook/templates``."""
    configured = os.environ.get("COZY_TEMPLATES")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parent.parent / "notebooks"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "cozy-notebook" / "templates"


def _summary(path: Path) -> dict[str, Any]:
    """Name, title and first paragraph, from the notebook's opening markdown cell."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"template {path.name}: not a notebook ({exc})") from None
    title, description = path.stem, ""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        lines = [
            line.strip()
            for line in (source if isinstance(source, str) else "".join(source)).splitlines()
        ]
        heading = next((line for line in lines if line.startswith("#")), None)
        if heading:
            title = heading.lstrip("#").strip()
        text = [line for line in lines if line and not line.startswith("#")]
        description = text[0] if text else ""
        break
    return {"name": path.name, "title": title, "description": description}


def templates() -> list[dict[str, Any]]:
    """Every template, the welcome notebook first, then by title."""
    folder = templates_dir()
    found = [_summary(p) for p in folder.glob("*.ipynb")] if folder.is_dir() else []
    return sorted(found, key=lambda t: (t["name"] != WELCOME, t["title"].lower()))


def template(name: str) -> dict[str, Any]:
    """One template's notebook JSON; only names the listing offers are accepted."""
    names = {t["name"] for t in templates()}
    if name not in names:
        raise unknown("template", name, names)
    result: dict[str, Any] = json.loads((templates_dir() / name).read_text(encoding="utf-8"))
    return result


def notebooks_dir(ws: Workspace) -> Path:
    """The user's notebooks folder inside the private workspace, with the welcome notebook
    copied in the first time so a new user lands on it."""
    ws.ensure()
    folder = ws.root / "notebooks"
    if not folder.exists():
        folder.mkdir(mode=0o700)
        welcome = templates_dir() / WELCOME
        if welcome.is_file():
            shutil.copyfile(welcome, folder / WELCOME)
    return folder
