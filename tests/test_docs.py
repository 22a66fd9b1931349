"""Docs drive tests: every command, option group and connector the CLI offers is in the README."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import click

from cozy_kernel.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
MAKEFILE = (Path(__file__).resolve().parent.parent / "Makefile").read_text()


def commands(group: click.Group, prefix: str = "cozy") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found.extend(commands(command, path))
        else:
            found.append((path, command))
    return found


def test_every_cli_command_and_its_options_are_documented() -> None:
    for path, command in commands(cli):
        rows = [line for line in README.splitlines() if f"`{path}" in line]
        assert rows, f"README does not document `{path}`"
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                flag = max(param.opts, key=len)
                assert any(flag in row for row in rows), (path, flag)


def test_the_readme_commands_exist_in_the_makefile() -> None:
    for target in re.findall(r"^make (\w+)", README, flags=re.MULTILINE):
        assert re.search(rf"^{target}:", MAKEFILE, flags=re.MULTILINE), target
    assert "make lab" in README and "make test" in README


def test_every_built_in_connector_and_its_settings_are_documented() -> None:
    for ep in entry_points(group="cozy.connectors"):
        if not ep.value.startswith("cozy_connectors."):
            continue
        assert ep.name in README
        for setting in ep.load().manifest.settings:
            assert f"`{setting.name}`" in README, (ep.name, setting.name)
