"""Portability: leave with everything, verifiably, and bring it into another Cozy Notebook.

* :func:`export_bundle` — the whole workspace (or, with ``share=``, one notebook and only the
  rows and columns it read) as a zipped BagIt bag holding a Frictionless Data Package.
* :func:`verify_bundle` — fixity, Data Package, notebooks, consent ledger, format version.
* :func:`restore_bundle` — merge a bundle into this workspace: lossless, idempotent, all or
  nothing.

Every failure of a bundle is an :class:`~cozy_kernel.errors.IntegrityError` (exit 5, HTTP 409)
with one line naming the file. Faces (CLI, REST, the nbconvert exporter) call these only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cozy_kernel.portability.layout import Progress
from cozy_kernel.portability.verify import verify_bundle

Home = str | os.PathLike[str] | None

__all__ = ["export_bundle", "restore_bundle", "verify_bundle"]


def export_bundle(
    out: str | os.PathLike[str],
    *,
    share: str | os.PathLike[str] | None = None,
    pseudonymise: bool = False,
    progress: Progress | None = None,
    home: Home = None,
) -> dict[str, Any]:
    """Write a bundle to ``out`` (replaced atomically); return what it holds.

    Without ``share``: everything but secrets. With ``share=NOTEBOOK``: the notebook, run in a
    fresh kernel, and only what it read; ``pseudonymise`` replaces counterparties and labels
    by stable keyed pseudonyms. ``progress(done, total)`` counts rows written.
    """
    from cozy_kernel.api import session
    from cozy_kernel.portability.export import export_full
    from cozy_kernel.portability.share import export_notebook

    target = Path(out).absolute()
    if share is not None:
        return export_notebook(Path(share), target, pseudonymise=pseudonymise, home=home)
    with session(home) as (ws, store):
        return export_full(ws, store, target, progress)


def restore_bundle(
    path: str | os.PathLike[str], *, home: Home = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Verify a bundle, then merge it into this workspace; return what was added or unchanged.

    Needs the terms accepted here. Connectors come back with their settings but no grant.
    """
    from cozy_kernel.api import session
    from cozy_kernel.portability.restore import restore

    with session(home) as (ws, store):
        return restore(ws, store, Path(path), progress)
