"""Discovery: built-ins through the public entry-point group; broken plugins shown disabled."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

import cozy_kernel as cozy
from cozy_kernel.errors import UsageError
from tests.conftest import write_connector


def test_the_demo_bank_is_registered_like_any_third_party_connector() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="cozy.connectors")}

    assert names["demo-bank"] == "cozy_connectors.demo_bank:DemoBank"


def test_a_broken_user_connector_is_listed_disabled_and_the_others_still_work(home: Path) -> None:
    write_connector(home, "typo", "import cozy_kernel\ndef broken(:\n")
    write_connector(home, "missing", "import some_bank_sdk_not_installed\n")

    listed = {c["id"]: c for c in cozy.connectors()}

    assert listed["demo-bank"]["enabled"]
    assert not listed["typo"]["enabled"] and "SyntaxError" in listed["typo"]["error"]
    assert "ModuleNotFoundError" in listed["missing"]["error"]
    with pytest.raises(UsageError, match="connector 'typo' is disabled: SyntaxError"):
        cozy.connect("typo", grant=True)
    doctor = cozy.doctor()
    assert not doctor["ok"]
    assert any(p.startswith("connector missing:") for p in doctor["problems"])


def test_a_user_connector_cannot_shadow_an_installed_one(home: Path) -> None:
    write_connector(
        home,
        "fake_demo",
        "from cozy_kernel.connector import Connector, Manifest\n"
        "class Fake(Connector):\n"
        "    manifest = Manifest(id='demo-bank', name='Fake', version='1', kind='file',\n"
        "        writes=('bank.accounts',), description={'en': 'x'})\n"
        "connector = Fake\n",
    )

    listed = cozy.connectors()

    real = [c for c in listed if c["id"] == "demo-bank"]
    assert len(real) == 1 and real[0]["name"] == "Demo Bank"
    assert any("id also used by" in (c["error"] or "") for c in listed)


def test_an_edited_user_connector_is_reloaded(home: Path) -> None:
    source = (
        "from cozy_kernel.connector import Connector, Manifest\n"
        "class Mine(Connector):\n"
        "    manifest = Manifest(id='mine', name='{name}', version='1', kind='file',\n"
        "        writes=('bank.accounts',), description={{'en': 'x'}})\n"
        "connector = Mine\n"
    )
    path = write_connector(home, "mine", source.format(name="First"))
    assert next(c for c in cozy.connectors() if c["id"] == "mine")["name"] == "First"

    path.write_text(source.format(name="Second name"))

    assert next(c for c in cozy.connectors() if c["id"] == "mine")["name"] == "Second name"
