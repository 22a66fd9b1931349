"""nbconvert pieces: offline HTML, the ``private`` cell remover, and the ``cozy_bundle`` exporter.

``jupyter nbconvert --to cozy_bundle NOTEBOOK`` makes a share bundle (registered under the
``nbconvert.exporters`` entry-point group). :class:`RemovePrivateCells` drops cells tagged
``private`` for any format: ``--Exporter.preprocessors=cozy_kernel.portability.convert.
RemovePrivateCells``. HTML in a bundle must open offline, so :func:`html` uses the lab
template without the scripts it loads from CDNs (require.js, MathJax, Mermaid, widgets) and
without JavaScript outputs; images are embedded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from nbconvert.exporters import Exporter
from nbconvert.preprocessors import TagRemovePreprocessor
from traitlets import Bool, Set, Unicode, default

PRIVATE_TAG = "private"
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{% block html_head_js %}{% endblock html_head_js %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block html_head_js_mathjax %}{% endblock html_head_js_mathjax %}
{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}
{% block data_javascript %}{% endblock data_javascript %}
"""


class RemovePrivateCells(TagRemovePreprocessor):
    """Drop every cell tagged ``private`` (enabled by default, unlike its parent)."""

    remove_cell_tags = Set(
        Unicode(), default_value={PRIVATE_TAG}, help="Cells with these tags are removed."
    ).tag(config=True)

    @default("enabled")
    def _enabled_default(self) -> bool:
        return True


def html(nb: Any) -> str:
    """A notebook as a self-contained HTML page that loads nothing from the network."""
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"cozy-offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="cozy-offline.html.j2",
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    return str(body)


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
