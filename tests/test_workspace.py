"""Where data lives: --home, COZY_HOME, the JupyterHub user's home, else the platform's folder."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cozy_kernel.workspace import Workspace, default_home


def test_cozy_home_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COZY_HOME", str(tmp_path / "mine"))
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")

    assert default_home() == tmp_path / "mine"


def test_under_jupyterhub_the_users_home_holds_the_workspace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("COZY_HOME", raising=False)
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    monkeypatch.setenv("HOME", str(tmp_path / "alice"))

    assert default_home() == tmp_path / "alice" / ".cozy"


def test_otherwise_the_platform_user_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("COZY_HOME", raising=False)
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    assert default_home() == tmp_path / "data" / "cozy-notebook"


def test_workspace_folders_are_private_even_under_a_loose_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        ws = Workspace.open(tmp_path / "a" / "b")
    finally:
        os.umask(old)

    for folder in (ws.root, ws.raw_dir, ws.cache_dir, ws.cache_dir.parent, ws.connectors_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_a_file_in_the_way_is_a_clear_error(tmp_path: Path) -> None:
    from cozy_kernel.errors import BadInput

    (tmp_path / "taken").write_text("x")
    with pytest.raises(BadInput, match="exists and is not a folder"):
        Workspace.open(tmp_path / "taken")
