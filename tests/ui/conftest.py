"""Browser tests: a real ``jupyter lab`` with the built labextension, driven by headless Chromium.

Run apart from the main suite (pyproject ignores this folder): ``python -m pytest tests/ui``.
Needs ``/usr/bin/chromium`` (Debian's package; Playwright downloads no browser) and a built
``extensions/cozy_jupyterlab/labextension``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.jupyter import running

ROOT = Path(__file__).resolve().parents[2]
LABEXTENSION = ROOT / "extensions" / "cozy_jupyterlab" / "labextension"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = uuid.uuid4().hex


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "locale(code): JupyterLab's display language, e.g. fr_FR")
    config.addinivalue_line("markers", "without_server_extension: the lab runs without our API")
    config.addinivalue_line("markers", "server_args(*args): more arguments for the lab server")
    config.addinivalue_line("markers", "user_settings(plugin, json): a user's settings file")


@pytest.fixture
def lab(fresh_home: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """JupyterLab on 127.0.0.1 over a fresh workspace, settings and layout; yields its URL."""
    if not (LABEXTENSION / "package.json").exists():
        pytest.fail(f"build the labextension first: {LABEXTENSION} is missing")
    marker = request.node.get_closest_marker("locale")
    if marker is not None:
        # As the user picks it in Settings > Language
        settings = tmp_path / "settings" / "@jupyterlab" / "translation-extension"
        settings.mkdir(parents=True)
        (settings / "plugin.jupyterlab-settings").write_text(f'{{"locale": "{marker.args[0]}"}}')
    # The labextension is found through JUPYTER_PATH, so the tests never write to the venv.
    data = tmp_path / "data"
    (data / "labextensions").mkdir(parents=True)
    (data / "labextensions" / "cozy-jupyterlab").symlink_to(LABEXTENSION)
    env = dict(os.environ)
    env["JUPYTER_PATH"] = str(data)
    command = ["jupyterlab", f"--ServerApp.root_dir={tmp_path}", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
               f"--LabApp.user_settings_dir={tmp_path / 'settings'}"]  # fmt: skip
    for marker in request.node.iter_markers("user_settings"):
        plugin, text = marker.args
        path = tmp_path / "settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    args = request.node.get_closest_marker("server_args")
    if args is not None:
        command.extend(args.args)
    if request.node.get_closest_marker("without_server_extension"):
        command.append("--ServerApp.jpserver_extensions=cozy_jupyterlab=False")
    with running(command, tmp_path, TOKEN, env) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, lab: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """JupyterLab opened in a fresh browser context; a screenshot is kept after each test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{lab}/lab?token={TOKEN}")
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()
