"""Where a user's data lives.

The workspace is one private folder (mode 0700) holding the store, the raw originals, the frame
snapshots and the user's own connectors. Every face resolves it the same way, so a notebook
kernel and the CLI started by the same person see the same data.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cozy_kernel.errors import BadInput

ENV_HOME = "COZY_HOME"
# What a workspace's own folder holds: anything else means it belongs to someone or something.
ENTRIES = frozenset(
    {
        "cozy.db", "cozy.db-wal", "cozy.db-shm", "cozy.db-journal", "raw", "cache",
        "connectors", "notebooks", "exports", "profiles", "archive",
    }
)  # fmt: skip
APP_NAME = "cozy-notebook"


def default_home() -> Path:
    """Pick the workspace when none is given.

    Under JupyterHub each single-user server runs with its user's ``HOME`` and the
    ``JUPYTERHUB_USER`` variable, so the data goes beside that user's notebooks; elsewhere the
    platform's per-user data folder is the conventional place.
    """
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    if os.environ.get("JUPYTERHUB_USER"):
        return Path.home() / ".cozy"
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)


@dataclass(frozen=True)
class Workspace:
    """Paths of one user's workspace; creating it makes the folders private."""

    root: Path

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None) -> Workspace:
        root = Path(home).expanduser() if home is not None else default_home()
        ws = cls(root.absolute())
        ws.ensure()
        return ws

    def ensure(self) -> None:
        """Create the workspace, or check that an existing folder is one before touching it.

        A folder holding anything but a workspace's own entries (a home folder, a project,
        a shared ``/tmp``) is refused as it is: making it private or adding files to it would
        change someone's folder that Cozy Notebook does not own.
        """
        if self.root.exists() and not self.root.is_dir():
            raise BadInput(f"workspace {self.root} exists and is not a folder")
        if self.root.is_dir() and not (self.root / "cozy.db").exists():
            strangers = sorted(p.name for p in self.root.iterdir() if p.name not in ENTRIES)
            if strangers:
                raise BadInput(
                    f"{self.root} is not a Cozy Notebook workspace: it holds {strangers[0]!r} "
                    "and no cozy.db; give a new or empty folder (--home, COZY_HOME)"
                )
            if self.root.stat().st_mode & 0o7022 or self.root.stat().st_uid != os.getuid():
                raise BadInput(
                    f"{self.root} is shared (mode {stat.S_IMODE(self.root.stat().st_mode):o}, "
                    "or another user's); give a folder of your own"
                )
        new = not (self.root / "cozy.db").exists()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if new:  # mkdir's mode is masked by the umask and ignored for an empty folder given
            self.root.chmod(0o700)
        for folder in (self.raw_dir, self.cache_dir.parent, self.cache_dir, self.connectors_dir):
            if not folder.is_dir():
                folder.mkdir(mode=0o700)

    @property
    def db_path(self) -> Path:
        return self.root / "cozy.db"

    @property
    def raw_dir(self) -> Path:
        """Raw originals (files and payloads as received), kept for lossless export."""
        return self.root / "raw"

    @property
    def cache_dir(self) -> Path:
        """Derived data (frame snapshots) that can always be rebuilt from the store."""
        return self.root / "cache" / "frames"

    @property
    def connectors_dir(self) -> Path:
        """The user's own connectors: one ``*.py`` file each, exposing ``connector``."""
        return self.root / "connectors"
