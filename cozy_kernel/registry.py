"""Connector discovery: the ``cozy.connectors`` entry-point group plus the user's own folder.

Built-ins register through the same entry points a third party uses. A connector that fails
to load (a missing optional dependency, a syntax error in the user's file) is listed as
disabled with the reason instead of breaking every other connector.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from cozy_kernel import config
from cozy_kernel.connector import Connector
from cozy_kernel.errors import BadInput, CozyError, UsageError, unknown
from cozy_kernel.workspace import Workspace

GROUP = "cozy.connectors"


@dataclass(frozen=True)
class Entry:
    """One discovered connector; ``cls`` is None when it could not be loaded."""

    id: str
    origin: str
    cls: type[Connector] | None
    error: str | None = None

    @property
    def enabled(self) -> bool:
        return self.cls is not None

    def load(self) -> type[Connector]:
        if self.cls is None:
            raise UsageError(f"connector {self.id!r} is disabled: {self.error}")
        return self.cls


def _check(cls: object, origin: str) -> type[Connector]:
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise BadInput(f"{origin} does not name a cozy_kernel.connector.Connector subclass")
    if not hasattr(cls, "manifest"):
        raise BadInput(f"{origin} has no manifest")
    return cls


def _from_entry_points() -> list[Entry]:
    found = []
    for ep in entry_points(group=GROUP):
        origin = f"entry point {ep.value}"
        try:
            cls = _check(ep.load(), origin)
        except ImportError as exc:
            found.append(Entry(ep.name, origin, None, f"missing dependency: {exc}; install it"))
            continue
        except (CozyError, Exception) as exc:  # a broken plugin must not hide the others
            found.append(Entry(ep.name, origin, None, str(exc)))
            continue
        if cls.manifest.id != ep.name:
            found.append(
                Entry(ep.name, origin, None, f"manifest id {cls.manifest.id!r} != {ep.name!r}")
            )
            continue
        found.append(Entry(ep.name, origin, cls))
    return found


_LOADED: dict[Path, tuple[tuple[int, int], type[Connector]]] = {}


def _load_file(path: Path) -> type[Connector]:
    """Import a user's connector file, again only when it changed on disk.

    Re-importing on every lookup would reset module state and cost time in every call; a
    changed file (the user edited it) is picked up without restarting the kernel.
    """
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _LOADED.get(path)
    if cached is not None and cached[0] == version:
        return cached[1]
    module_name = f"cozy_user_connectors.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BadInput(f"{path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    cls = _check(getattr(module, "connector", None), f"{path}: 'connector'")
    _LOADED[path] = (version, cls)
    return cls


def _from_folder(folder: Path) -> list[Entry]:
    found = []
    for path in sorted(folder.glob("*.py")):
        try:
            cls = _load_file(path)
        except Exception as exc:  # the user's file may hold any error
            found.append(Entry(path.stem, str(path), None, f"{type(exc).__name__}: {exc}"))
            continue
        found.append(Entry(cls.manifest.id, str(path), cls))
    return found


def discover(ws: Workspace) -> dict[str, Entry]:
    """All connectors by id; a user's connector may not shadow an installed one.

    On a shared server the operator may offer only some: the others are not there at all,
    for every face (listing, terms tables, connect, sync).
    """
    entries: dict[str, Entry] = {}
    allowed = config.allowed_connectors()
    for entry in (*_from_entry_points(), *_from_folder(ws.connectors_dir)):
        if allowed is not None and entry.id not in allowed:
            continue
        if entry.id in entries:
            key = f"{entry.id}@{entry.origin}"
            clash = f"id also used by {entries[entry.id].origin}"
            entries[key] = Entry(key, entry.origin, None, clash)
            continue
        entries[entry.id] = entry
    return dict(sorted(entries.items()))


def get(ws: Workspace, connector_id: str) -> type[Connector]:
    entries = discover(ws)
    if connector_id not in entries:
        raise unknown("connector", connector_id, entries)
    return entries[connector_id].load()
