"""Cozy Notebook's core: your own data, in your own store, as pandas DataFrames.

``import cozy_kernel as cozy`` runs in every kernel start, so it imports nothing heavy: each
public function is loaded from :mod:`cozy_kernel.api` on first use.
"""

from __future__ import annotations

# Not ``typing.TYPE_CHECKING``: importing typing alone would double the import time.
TYPE_CHECKING = False

__version__ = "0.1.0"
__all__ = [
    "accept_terms",
    "collections",
    "connect",
    "connectors",
    "consent_log",
    "consent_screen",
    "decline_terms",
    "disconnect",
    "doctor",
    "edit",
    "export_bundle",
    "frame",
    "import_files",
    "link",
    "missing_secrets",
    "receipts",
    "refuse_grant",
    "report",
    "restore_bundle",
    "revert",
    "runs",
    "schedule",
    "sync",
    "sync_all",
    "terms_status",
    "terms_text",
    "terms_view",
    "transfer",
    "verify_bundle",
    "workspace_dir",
]
# Leaving with your data (cozy_kernel.portability), loaded on first use like the rest.
PORTABILITY = ("export_bundle", "restore_bundle", "verify_bundle")

if TYPE_CHECKING:
    from typing import Any

    from cozy_kernel import budget as budget
    from cozy_kernel.api import (
        accept_terms,
        collections,
        connect,
        connectors,
        consent_log,
        consent_screen,
        decline_terms,
        disconnect,
        doctor,
        edit,
        frame,
        import_files,
        link,
        missing_secrets,
        receipts,
        refuse_grant,
        report,
        revert,
        runs,
        schedule,
        sync,
        sync_all,
        terms_status,
        terms_text,
        terms_view,
        transfer,
        workspace_dir,
    )
    from cozy_kernel.portability import export_bundle, restore_bundle, verify_bundle


def __getattr__(name: str) -> Any:
    if name in PORTABILITY:
        from cozy_kernel import portability

        return getattr(portability, name)
    if name in __all__:
        from cozy_kernel import api

        return getattr(api, name)
    if name == "budget":  # ``cozy.budget``: a namespace of its own, imported on first use
        import importlib

        return importlib.import_module("cozy_kernel.budget")
    raise AttributeError(f"module 'cozy_kernel' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__", "budget"])
