"""Restore: merge a verified bundle into this workspace — lossless, idempotent, all or nothing.

Rows are staged first (:func:`.merge.stage`, outside the store), then merge as a sync does
(:meth:`Store.merge_staged`: by key; a key another connector holds is
left alone and counted as a conflict); the store's own tables merge as :data:`.layout.MERGE`
says; the run log is merged first, keeping each run's id where this store has it free, so
rows keep their provenance. Connector settings come back without a grant: grants are given
per instance. Files (originals, notebooks, the archived consent records) are only ever added,
never overwritten. Everything is written in one store transaction, and files are moved in
just before it commits and removed again if anything fails: a failed restore leaves the
workspace exactly as it was, and one that would change nothing writes nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cozy_kernel import terms
from cozy_kernel.errors import IntegrityError
from cozy_kernel.portability import bag, chain, layout
from cozy_kernel.portability.layout import Progress
from cozy_kernel.portability.merge import STAGE, Merge, Staged, stage
from cozy_kernel.portability.share import check_namespace
from cozy_kernel.portability.verify import Bundle, Unpacked, checked, namespace_of, unpacked
from cozy_kernel.store import Store
from cozy_kernel.workspace import Workspace

_STAGING = "stage.db"


class _Unchanged(Exception):
    """Raised inside the transaction to roll back a restore that would change nothing."""


@dataclass
class Plan:
    """Files to move into the workspace, and what was done, for the summary."""

    moves: list[tuple[Path, Path]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # same name, other bytes: the target's stays
    unchanged: int = 0


def restore(ws: Workspace, store: Store, path: Path, progress: Progress | None) -> dict[str, Any]:
    terms.require(store)
    with unpacked(path, within=ws.cache_dir.parent) as raw:
        bundle, staged = _verified_and_staged(raw, progress)
        namespace = namespace_of(bundle.kind, bundle.descriptor)
        share = namespace is not None
        if namespace is not None:  # never another instance's share: theirs would be overwritten
            check_namespace(bundle.source, bundle.descriptor, namespace)
        plan = _plan_files(ws, bundle, namespace)
        moved: list[Path] = []
        made: list[Path] = []
        result: dict[str, Any] = {"kind": bundle.kind, "source": bundle.source,
                                  "created": bundle.created, "run_id": None}  # fmt: skip
        try:
            with store.attached(raw.scratch / _STAGING, STAGE), store.transaction():
                store.db.execute("PRAGMA defer_foreign_keys = ON")
                merged = Merge(store, bundle, namespace, staged)
                result["collections"] = merged.collections()
                result["workspace"] = {} if share else merged.workspace()
                _check_foreign_keys(store)
                changed = merged.changes or plan.moves
                if not changed:
                    raise _Unchanged
                result["run_id"] = merged.finish()
                for source, target in plan.moves:
                    made.extend(_mkdirs(target.parent))
                    source.replace(target)
                    moved.append(target)
        except _Unchanged:
            pass
        except BaseException as exc:
            for target in moved:
                target.unlink(missing_ok=True)
            for folder in reversed(made):
                with suppress(OSError):
                    folder.rmdir()
            if isinstance(exc, sqlite3.IntegrityError):
                # A row the checks let through but this store's own rules refuse (a CHECK).
                raise IntegrityError(f"bundle: a row breaks a rule of this store ({exc})") from None
            raise
        result["files"] = {
            "added": [t.relative_to(ws.root).as_posix() for t in moved],
            "unchanged": plan.unchanged,
            "kept_yours": plan.kept,
        }
        result["changed"] = result["run_id"] is not None
        return result


def _verified_and_staged(raw: Unpacked, progress: Progress | None) -> tuple[Bundle, list[Staged]]:
    """Verify the bundle while its rows are staged on the other core; staging waits on it.

    Staging only writes a scratch file, and its result (or error) is used only once the
    bundle is verified: a bundle that fails verification is refused for that, and staging
    stops at its next batch.
    """
    cancel = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="cozy-stage") as pool:
        staging = pool.submit(stage, raw, raw.scratch / _STAGING, progress, cancel)
        try:
            bundle = checked(raw, staged=True)
        except BaseException:
            cancel.set()
            raise
        return bundle, staging.result()


def _mkdirs(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents (private); return those created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700)
    return list(reversed(missing))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _history(ws: Workspace, bundle: Bundle) -> Path:
    """Where the source's consent records are archived: one folder per state of its ledger.

    Named by the (verified) ledger's length and head, so bundles made at different times from
    the same history are archived once, and a later history (more events) lands beside it.
    """
    events, last = chain.head(bundle.payload / layout.LEDGER)
    return ws.root / layout.ARCHIVE / bundle.source[:32] / f"ledger-{events}-{last[:12]}"


def _plan_files(ws: Workspace, bundle: Bundle, namespace: str | None) -> Plan:
    """Which payload files land where: originals, notebooks, the source's consent records."""
    plan = Plan()
    history = _history(ws, bundle) if bundle.kind == layout.FULL else None
    originals = bag.original_paths(bundle.descriptor["resources"])  # names made portable
    for rel, checksum in sorted(bundle.manifest.items()):
        parts = originals.get(rel, rel).split("/")
        source = bundle.payload / rel
        if namespace is not None:
            if parts[0] != layout.NOTEBOOKS or not rel.endswith(".ipynb"):
                continue
            target = ws.root / layout.NOTEBOOKS / "shared" / namespace / "/".join(parts[1:])
        elif parts[0] == layout.RAW:
            target = ws.raw_dir.joinpath(*parts[1:])
        elif parts[0] == layout.NOTEBOOKS and rel.endswith(".ipynb"):
            target = ws.root.joinpath(*parts)
        elif parts[0] == layout.CONSENT and history is not None:
            # File by file: a folder a crash left half-written is completed, never trusted.
            # A file already there stays: receipts are made anew with each export, so two
            # bundles of one ledger state differ in bytes, not in the history they hold.
            target = history / rel
            if target.exists():
                plan.unchanged += 1
                continue
        else:
            continue
        if target.exists() and _sha256(target) != checksum:
            if parts[0] == layout.RAW:
                plan.kept.append(target.relative_to(ws.root).as_posix())
                continue
            # Your notebook of the same name stays; the bundle's lands beside it.
            target = target.with_name(f"{target.stem}.restored-{bundle.source[:8]}{target.suffix}")
        if target.exists() and _sha256(target) == checksum:
            plan.unchanged += 1
        elif target.exists():
            plan.kept.append(target.relative_to(ws.root).as_posix())
        else:
            plan.moves.append((source, target))
    return plan


def _check_foreign_keys(store: Store) -> None:
    """Checked before COMMIT: a COMMIT refused for a deferred key would leave it open."""
    bad = store.db.execute("PRAGMA foreign_key_check").fetchone()
    if bad is not None:
        raise IntegrityError(f"bundle: a row of {bad[0]} points to no row of {bad[2]}")
