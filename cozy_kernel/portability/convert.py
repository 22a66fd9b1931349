"""nbconvert pieces: offline HTML, the ``private`` cell remover, and the ``cozy_bundle`` exporter.

``jupyter nbconvert --to cozy_bundle NOTEBOOK`` makes a share bundle (registered under the
``nbconvert.exporters`` entry-point group). :class:`RemovePrivateCells` drops cells tagged
``private`` for any format: ``--Exporter.preprocessors=cozy_kernel.portability.convert.
RemovePrivateCells``. HTML in a bundle must open offline, so :func:`html` uses the lab
template without the scripts it loads from CDNs (require.js, MathJax, Mermaid, widgets),
without JavaScript outputs, widget views and saved widget state (each a script element), and
with Mermaid sources as escaped text; images are embedded.

A bundle's HTML is also opened by someone who did not write the notebook (a share bundle's
receiver), from a file on disk: whatever HTML the notebook's outputs, markdown and raw cells
hold is cut down to an allow-list (:func:`clean`: text, structure, tables, embedded images;
no script, event handler, frame, form or style sheet, no address of another host), and a
Content-Security-Policy forbids the page to run scripts or load anything but what it embeds,
should a rendering path ever let something through.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nbconvert.exporters import Exporter
from nbconvert.preprocessors import TagRemovePreprocessor
from traitlets import Bool, Set, Unicode, default

PRIVATE_TAG = "private"
# Inline styles and data: images and fonts only: nothing runs, nothing comes from elsewhere.
POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "form-action 'none'; base-uri 'none'"
)
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{% block html_head %}
<meta http-equiv="Content-Security-Policy" content="POLICY">
{{ super() }}
{% endblock html_head %}
{% block html_head_js %}{% endblock html_head_js %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block html_head_js_mathjax %}{% endblock html_head_js_mathjax %}
{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}
{% block data_javascript %}{% endblock data_javascript %}
{% block data_widget_view %}{% endblock data_widget_view %}
{% block footer %}
</html>
{% endblock footer %}
{% block data_mermaid scoped %}
<div class="jp-Mermaid"><pre class="mermaid">
{{- output.data['text/vnd.mermaid'].strip() | escape_html -}}
</pre></div>
{% endblock data_mermaid %}
""".replace("POLICY", POLICY)
# What a notebook's own HTML keeps: text, structure, tables, lists and embedded images.
KEPT_TAGS = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite", "code", "col",
    "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p",
    "pre", "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strong", "sub", "summary",
    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul", "var", "wbr",
})  # fmt: skip
# Elements whose content is code, a style sheet or another document: removed with it, where
# other unknown elements (font, center…) give way to their text.
DROPPED_TAGS = frozenset({
    "script", "style", "template", "iframe", "frame", "frameset", "object", "embed", "applet",
    "noscript", "noembed", "noframes", "title", "textarea", "select", "svg", "math",
})  # fmt: skip
KEPT_ATTRIBUTES = {
    "*": frozenset({"class", "id", "title", "lang", "dir", "align", "style"}),
    "a": frozenset({"name"}),
    "img": frozenset({"alt", "width", "height"}),
    "table": frozenset({"border", "cellpadding", "cellspacing", "summary"}),
    "td": frozenset({"colspan", "rowspan", "valign"}),
    "th": frozenset({"colspan", "rowspan", "scope", "valign"}),
    "col": frozenset({"span", "width"}),
    "colgroup": frozenset({"span", "width"}),
    "ol": frozenset({"start", "type", "reversed"}),
    "li": frozenset({"value"}),
}


class RemovePrivateCells(TagRemovePreprocessor):
    """Drop every cell tagged ``private`` (enabled by default, unlike its parent)."""

    remove_cell_tags = Set(
        Unicode(), default_value={PRIVATE_TAG}, help="Cells with these tags are removed."
    ).tag(config=True)

    @default("enabled")
    def _enabled_default(self) -> bool:
        return True


def html(nb: Any) -> str:
    """A notebook as a self-contained HTML page that runs nothing and loads nothing."""
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"cozy-offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="cozy-offline.html.j2",
        embed_images=True,
        # The lab template passes markdown, raw cells, code and HTML outputs through its
        # clean_html filter, which then is ours.
        sanitize_html=True,
        filters={"clean_html": clean},
    )
    body, _ = exporter.from_notebook_node(nb)
    return str(body)


def clean(fragment: str | bytes) -> str:
    """A notebook's HTML cut down to :data:`KEPT_TAGS`: nothing that runs or loads.

    bleach (nbconvert's own sanitiser, on html5lib, which parses as browsers do) keeps the
    allowed elements and attributes; links keep only ``#anchors`` and images only ``data:``
    addresses. nbconvert's default filter lets ``https:`` links through and escapes, rather
    than keeps, the ``thead``/``th`` of every pandas table.
    """
    import bleach  # type: ignore[import-untyped]
    from bleach.css_sanitizer import (  # type: ignore[import-untyped]
        ALLOWED_CSS_PROPERTIES,
        CSSSanitizer,
    )

    text = fragment.decode() if isinstance(fragment, bytes) else str(fragment)
    cleaner = bleach.Cleaner(
        tags=KEPT_TAGS | DROPPED_TAGS,
        attributes=_kept_attribute,
        protocols={"data"},
        strip=True,
        strip_comments=True,
        filters=[_DropContent],
        # cursor is the one listed property that takes a url()
        css_sanitizer=CSSSanitizer(allowed_css_properties=ALLOWED_CSS_PROPERTIES - {"cursor"}),
    )
    return str(cleaner.clean(text))


def _kept_attribute(tag: str, name: str, value: str) -> bool:
    address = value.strip().lower()
    if name == "src":
        return tag == "img" and address.startswith("data:image/")
    if name == "href":
        return tag == "a" and address.startswith("#")
    return name in KEPT_ATTRIBUTES["*"] or name in KEPT_ATTRIBUTES.get(tag, ())


class _DropContent:
    """A filter on bleach's token stream (html5lib's: balanced, as a tree walker makes it)
    that removes each element of :data:`DROPPED_TAGS` with all it holds; stripping the tags
    alone would print their code or style sheet as text."""

    def __init__(self, source: Iterable[dict[str, Any]]) -> None:
        self.source = source

    def __iter__(self) -> Iterator[dict[str, Any]]:
        depth = 0
        for token in self.source:
            dropped = token.get("name") in DROPPED_TAGS
            if token["type"] == "StartTag" and dropped:
                depth += 1
            elif token["type"] == "EndTag" and dropped:
                depth -= 1
            elif depth == 0 and not (token["type"] == "EmptyTag" and dropped):
                yield token


def strip_private(nb: Any) -> Any:
    """The notebook without its ``private`` cells."""
    remover = RemovePrivateCells()  # type: ignore[no-untyped-call]
    stripped, _ = remover.preprocess(nb, {})  # type: ignore[no-untyped-call]
    return stripped


class CozyBundleExporter(Exporter):
    """``--to cozy_bundle``: run the notebook on your workspace and zip a share bundle.

    The notebook runs in a fresh kernel that records what it reads; the bundle holds the
    executed notebook without its ``private`` cells and only the rows and columns it read.
    """

    export_from_notebook = "Cozy share bundle"
    output_mimetype = "application/zip"
    pseudonymise = Bool(False, help="Replace counterparties and labels by stable pseudonyms.").tag(
        config=True
    )
    home = Unicode(None, allow_none=True, help="The Cozy workspace (default: COZY_HOME).").tag(
        config=True
    )

    @default("file_extension")
    def _file_extension_default(self) -> str:
        return ".zip"

    # Bytes, as nbconvert's own binary exporters (PDF) return.
    def from_notebook_node(  # type: ignore[override]
        self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[bytes, dict[str, Any]]:
        from cozy_kernel.portability.share import export_share

        nb, resources = super().from_notebook_node(nb, resources, **kw)
        meta = resources.get("metadata") or {}
        workdir = Path(meta.get("path") or ".")
        name = str(meta.get("name") or "notebook")
        with tempfile.TemporaryDirectory(prefix="cozy-bundle-") as tmp:
            out = Path(tmp) / f"{name}.zip"
            export_share(nb, name, workdir, out, pseudonymise=self.pseudonymise, home=self.home)
            # nbconvert's writers take the output whole; a share bundle is one notebook's data.
            return out.read_bytes(), resources
