"""The deployment guide's example files load, and mean what the guide says."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import requests
import yaml
from jupyterhub.app import JupyterHub
from traitlets.config import Config, KVArgParseConfigLoader, PyFileConfigLoader

import cozy_kernel as cozy
from cozy_jupyterlab.config import CozyNotebook
from tests.jupyter import running

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"
OFFERED = {"demo-bank", "gocardless", "ofx", "qif", "csv", "camt"}


def pyconfig(name: str) -> Config:
    return PyFileConfigLoader(name, path=str(DEPLOY)).load_config()


def test_the_operator_settings_start_a_server_that_applies_them(
    fresh_home: Path, tmp_path: Path
) -> None:
    config = pyconfig("jupyter_server_config.py")
    settings = CozyNotebook(config=config)
    assert set(settings.allowed_connectors) == OFFERED
    assert settings.default_frequency == "daily" and settings.scheduled_syncs

    # A real server started with the file (the terms folder moved into the test's reach)
    terms = tmp_path / "terms"
    terms.mkdir()
    (terms / "terms.en.md").write_text("---\nversion: 1.0.0-20260101\n---\nOur terms\n")
    token = uuid.uuid4().hex
    command = ["jupyter_server", f"--config={DEPLOY / 'jupyter_server_config.py'}",
               f"--CozyNotebook.terms_dir={terms}", f"--ServerApp.root_dir={tmp_path}"]  # fmt: skip
    with running(command, tmp_path, token) as base:
        headers = {"Authorization": f"token {token}"}
        view = requests.get(f"{base}/cozy/api/terms", headers=headers, timeout=10).json()
        requests.post(f"{base}/cozy/api/terms/accept", headers=headers, json={}, timeout=10)
        listed = requests.get(f"{base}/cozy/api/connectors", headers=headers, timeout=10).json()

    assert view["status"]["latest_version"] == "1.0.0-20260101"
    assert {c["connector"] for c in view["collect"]} <= OFFERED
    assert {c["id"] for c in listed} == OFFERED
    frequencies = {c["id"]: c["schedule"]["frequency"] for c in listed}
    assert frequencies["gocardless"] == frequencies["demo-bank"] == "daily"
    assert frequencies["csv"] == "off"


def test_the_single_machine_hub_config_loads_into_jupyterhub() -> None:
    config = pyconfig("jupyterhub_config.py")

    hub = JupyterHub(config=config)

    assert hub.bind_url == "http://127.0.0.1:8000"
    assert hub.spawner_class.__name__ == "LocalProcessSpawner"
    assert hub.authenticator_class.__name__ == "PAMAuthenticator"
    assert config.Spawner.cmd[0].endswith("jupyterhub-singleuser")
    assert "COZY_KEYRING_FILE" in config.Spawner.environment
    assert {s["name"] for s in hub.services} == {"idle-culler"}


def test_the_zero_to_jupyterhub_values_render_to_working_settings(
    fresh_home: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    values = yaml.safe_load((DEPLOY / "values.yaml").read_text())
    singleuser = values["singleuser"]

    # hub.extraConfig is Python the hub runs: it gives each server the operator's flags
    config = Config()
    for snippet in values["hub"]["extraConfig"].values():
        exec(compile(snippet, "extraConfig", "exec"), {"c": config})
    flags = KVArgParseConfigLoader(list(config.KubeSpawner.args)).load_config()
    assert CozyNotebook(config=flags).default_frequency == "daily"

    # The operator file mounted in every server
    files = singleuser["extraFiles"]
    operator = Config(files["cozy-operator"]["data"])
    assert set(CozyNotebook(config=operator).allowed_connectors) == OFFERED
    assert files["cozy-operator"]["mountPath"].startswith("/etc/jupyter/jupyter_server_config.d/")

    # The mounted terms are valid terms, with the operator as controller
    terms = tmp_path / "terms"
    terms.mkdir()
    (terms / "terms.en.md").write_text(files["operator-terms"]["stringData"])
    monkeypatch.setenv("COZY_TERMS_DIR", str(terms))
    view = cozy.terms_view()
    assert view["status"]["latest_version"] == "1.0.0-20261201"
    assert "Example association" in view["title"]

    # A persistent home per user holds the workspace; the keyring key comes from a Secret
    assert singleuser["storage"]["type"] == "dynamic"
    assert singleuser["storage"]["homeMountPath"] == "/home/jovyan"
    env = singleuser["extraEnv"]
    assert env["COZY_KEYRING_FILE"].startswith(singleuser["storage"]["homeMountPath"])
    assert env["COZY_KEYRING_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "cozy-keyring"
    assert values["cull"]["enabled"] is True
