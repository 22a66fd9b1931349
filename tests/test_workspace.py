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


def _snapshot(folder: Path) -> list[tuple[str, int]]:
    inside = sorted((str(p.relative_to(folder)), p.stat().st_mode) for p in folder.rglob("*"))
    return [*inside, (".", folder.stat().st_mode)]


def test_a_folder_that_is_not_a_workspace_is_refused_and_never_changed(tmp_path: Path) -> None:
    from cozy_kernel.errors import BadInput

    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "notes.txt").write_text("mine")
    project.chmod(0o755)
    before = _snapshot(project)

    with pytest.raises(BadInput, match=r"is not a Cozy Notebook workspace: it holds 'notes\.txt'"):
        Workspace.open(project)

    assert _snapshot(project) == before


def test_a_shared_folder_is_refused_and_never_changed(tmp_path: Path) -> None:
    from cozy_kernel.errors import BadInput

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)

    with pytest.raises(BadInput, match=r"is shared \(mode 1777"):
        Workspace.open(shared)

    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert list(shared.iterdir()) == []


def test_an_empty_folder_of_ones_own_becomes_a_private_workspace(tmp_path: Path) -> None:
    given = tmp_path / "empty"
    given.mkdir(mode=0o755)
    given.chmod(0o755)

    ws = Workspace.open(given)

    assert stat.S_IMODE(ws.root.stat().st_mode) == 0o700


def test_an_existing_workspace_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    from cozy_kernel.store import Store

    ws = Workspace.open(tmp_path / "ws")
    Store(ws.db_path).close()
    ws.root.chmod(0o750)

    Workspace.open(ws.root)

    assert stat.S_IMODE(ws.root.stat().st_mode) == 0o750


def test_the_cli_refuses_a_foreign_folder_with_exit_4(tmp_path: Path) -> None:
    from tests.conftest import run_cozy

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")

    result = run_cozy(tmp_path / "photos", "consent", "log", "--verify")

    assert result.code == 4, result.err
    assert "is not a Cozy Notebook workspace" in result.err
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["cat.jpg"]
