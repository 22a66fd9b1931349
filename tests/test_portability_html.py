"""What a person opens from a bundle runs nothing: its HTML no script, its CSV no formula.

A bundle's notebook pages are opened from disk, often by someone who did not write the
notebook (a share bundle's receiver); its CSV files are opened in spreadsheets, where a text
starting with ``=`` is a formula.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

import cozy_kernel as cozy
from tests.conftest import write_connector

EVIL = "evil.example"
TABLE = pd.DataFrame({"payee": ["Bakery Dupont"], "amount": ["-3.20"]}).to_html()
OUTPUT_HTML = (
    f"<script>alert('output')</script><img src=x onerror=\"alert('img')\">"
    f'<iframe src="https://{EVIL}/frame"></iframe>'
    f"<p onclick=\"alert('p')\" onmouseover=alert(1)>Visible paragraph</p>"
    f'<a href="https://{EVIL}/x">a link</a> <a href="javascript:alert(2)">js link</a>'
    f'<img src="https://{EVIL}/pixel.png" alt="pixel"><img src="//{EVIL}/proto.png">'
    f'<div style="background:url(https://{EVIL}/bg.png); color: red">styled</div>'
    f'<form action="https://{EVIL}/post"><input name=q></form>'
    f'<object data="https://{EVIL}/x.swf"></object><embed src="https://{EVIL}/e">'
    f'<link rel=stylesheet href="https://{EVIL}/s.css"><meta http-equiv=refresh content="0">'
    f'<style>@import url(https://{EVIL}/i.css);</style><base href="https://{EVIL}/">'
    f"<svg><script>alert('svg')</script><image href=\"https://{EVIL}/s.png\"/></svg>"
    f"<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')></style></mglyph>"
    f"</table></mtext></math>"
    f"{TABLE}"
)
MARKDOWN = (
    "Some **bold words** <script>alert('md')</script> <img src=x onerror=alert('md-img')>\n\n"
    f'<iframe src="https://{EVIL}/md"></iframe>\n\n[the docs](https://{EVIL}/doc)\n\n'
    f"![remote](https://{EVIL}/m.png)"
)
NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "id": "md", "metadata": {}, "source": MARKDOWN},
        {"cell_type": "raw", "id": "raw", "metadata": {"raw_mimetype": "text/html"},
         "source": "<b>raw bold</b><script>alert('raw')</script>"},
        {"cell_type": "code", "id": "code", "execution_count": 1, "source": "show()",
         "metadata": {"tags": ["x\"><script>alert('tag')</script>"]},
         "outputs": [
             {"output_type": "display_data", "metadata": {},
              "data": {"text/html": OUTPUT_HTML, "text/plain": "<table>"}},
             {"output_type": "display_data", "metadata": {},
              "data": {"application/javascript": "alert('js')", "text/plain": "js"}},
             {"output_type": "display_data", "metadata": {},
              "data": {"text/markdown": f"markdown output [out](https://{EVIL}/o)"}},
             {"output_type": "display_data", "metadata": {},
              "data": {"text/vnd.mermaid": "graph TD; A</pre><script>alert('mermaid')</script>"}},
             {"output_type": "display_data", "metadata": {},
              "data": {"application/vnd.jupyter.widget-view+json":
                       {"model_id": "m", "version_major": 2, "version_minor": 0},
                       "text/plain": "IntSlider(value=3)"}},
         ]},
    ],
    "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "version_major": 2, "version_minor": 0}}},
    "nbformat": 4, "nbformat_minor": 5,
}  # fmt: skip


class Elements(HTMLParser):
    """Every element of a page with its attributes, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def bundle_file(out: Path, suffix: str) -> str:
    with zipfile.ZipFile(out) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(suffix)]
        return zf.read(name).decode("utf-8")


def test_a_notebook_page_in_a_bundle_runs_nothing_and_loads_nothing(
    home: Path, tmp_path: Path
) -> None:
    # Given a notebook whose outputs, markdown and raw cells carry scripts, handlers, frames
    # and addresses of another host
    (home / "notebooks").mkdir()
    (home / "notebooks" / "Hostile.ipynb").write_text(json.dumps(NOTEBOOK))

    # When the workspace is exported
    out = tmp_path / "bundle.zip"
    cozy.export_bundle(out, home=home)

    # Then its page has no script, handler, frame, plug-in, form or outside address
    page = bundle_file(out, "notebooks/Hostile.html")
    parsed = Elements()
    parsed.feed(page)
    tags = {tag for tag, _ in parsed.elements}
    assert not tags & {"script", "iframe", "frame", "object", "embed", "form", "link", "base"}
    assert not [(t, a) for t, a in parsed.elements for name in a if name.startswith("on")]
    for tag, attrs in parsed.elements:
        assert attrs.get("src", "data:").startswith("data:"), (tag, attrs)
        assert attrs.get("href", "#").startswith("#"), (tag, attrs)
        assert "url(" not in attrs.get("style", ""), (tag, attrs)
        if tag == "meta":
            assert attrs.get("http-equiv", "").lower() in ("", "content-security-policy")
    assert EVIL not in page and "@import" not in page
    # (markdown prints a script's text in its own paragraph: words, never run)
    for script in ("output", "svg", "mxss", "raw", "tag", "js", "mermaid"):
        assert f"<script>alert('{script}')" not in page, script
    # and a Content-Security-Policy forbids scripts and loads should anything slip through
    (policy,) = [a["content"] for t, a in parsed.elements if a.get("http-equiv")]
    assert "default-src 'none'" in policy and "script-src" not in policy

    # And the words and the table stay
    text = " ".join(" ".join(parsed.text).split())
    for words in ("Visible paragraph", "bold words", "raw bold", "a link", "js link",
                  "the docs", "markdown output", "styled", "Bakery Dupont", "-3.20"):  # fmt: skip
        assert words in text, words
    assert {"table", "thead", "tbody", "tr", "th", "td"} <= tags
    assert ("img", {"alt": "remote"}) in parsed.elements  # its words, not its address


LABELS = """
from cozy_kernel.connector import Connector, Manifest, Record
from cozy_kernel.schemas import Collection, Field

LABELS = Collection("notes.labels", (Field("id", "text"), Field("label", "text")))

class Labels(Connector):
    manifest = Manifest(
        id="labels", name="Labels", version="1", kind="demo", writes=("notes.labels",),
        declares=(LABELS,), description={"en": "Labels"},
    )

    def fetch(self, since):
        for i, label in enumerate(%r):
            yield Record("notes.labels", {"id": f"l{i}", "label": label})

connector = Labels
"""
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+2", "-3+4", "@SUM(A1)", '=1,"2"\n3']


def test_bundle_csv_keeps_formula_like_labels_and_its_readme_says_how_to_open_them(
    home: Path, tmp_path: Path
) -> None:
    # Given labels a spreadsheet would read as formulas
    write_connector(home, "labels", LABELS % (FORMULAS,))
    cozy.connect("labels", home=home, grant=True)
    cozy.sync("labels", home=home)

    # When the workspace is exported
    out = tmp_path / "bundle.zip"
    cozy.export_bundle(out, home=home)

    # Then the CSV keeps each label exactly (lossless, for every other tool)
    rows = csv.DictReader(io.StringIO(bundle_file(out, "collections/notes.labels.csv")))
    assert [r["label"] for r in rows] == FORMULAS
    # and the README says how to open the CSV without running them
    readme = bundle_file(out, "data/README.md")
    advice = readme.split("Opening a CSV file in a spreadsheet")[1].split("## How to check")[0]
    assert "`=`, `+`, `-` or `@`" in advice and "formula" in advice
    assert "as text" in advice and "`.parquet`" in advice
