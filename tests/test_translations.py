"""The frontend speaks Spanish and French: every message has both, with the same placeholders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jupyterlab_server.translation_utils import get_language_pack

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "extensions" / "src").glob("*.ts*"))
LOCALE = ROOT / "extensions" / "cozy_jupyterlab" / "locale"
# trans.__('text' …) and trans._n('singular', 'plural' …), possibly over several lines
CALL = re.compile(r"trans\.(__|_n)\(\s*'((?:[^'\\]|\\.)*)'(?:\s*,\s*'((?:[^'\\]|\\.)*)')?")


def messages() -> dict[str, str | None]:
    """Each message id of the frontend, with its plural form when it has one."""
    found: dict[str, str | None] = {}
    for source in SOURCES:
        for kind, msgid, plural in CALL.findall(source.read_text(encoding="utf-8")):
            found[msgid] = plural if kind == "_n" else None
    return found


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\d", text))


def test_the_frontend_has_messages_to_translate() -> None:
    found = messages()

    assert "Sync now" in found and found["%1 row in %2"] == "%1 rows in %2"


@pytest.mark.parametrize("locale", ["fr_FR", "es_ES"])
def test_every_message_is_translated_with_its_placeholders(locale: str) -> None:
    catalog = json.loads((LOCALE / locale / "LC_MESSAGES" / "cozy_jupyterlab.json").read_text())
    header = catalog.pop("")
    assert header["domain"] == "cozy_jupyterlab"

    expected = messages()
    assert set(catalog) == set(expected), "catalog and sources differ"
    for msgid, plural in expected.items():
        forms = catalog[msgid]
        assert len(forms) == (2 if plural else 1), msgid
        for form in forms:
            assert (form.strip() and form != msgid) or msgid == "error", msgid
            assert placeholders(form) == placeholders(plural or msgid) | placeholders(msgid), msgid


@pytest.mark.parametrize(("locale", "word"), [("fr_FR", "Synchroniser"), ("es_ES", "Sincronizar")])
def test_jupyterlab_serves_our_messages_with_its_language_pack(locale: str, word: str) -> None:
    # The installed language pack plus our `jupyterlab.locale` entry point: what the lab loads
    data, _ = get_language_pack(locale)

    assert data["cozy_jupyterlab"]["Sync now"] == [word]
    assert "jupyterlab" in data  # the rest of JupyterLab speaks the language too
