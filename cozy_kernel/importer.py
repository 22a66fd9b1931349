"""File imports: route each statement to the one importer that claims it, write all or nothing.

Importing is the user's own act, so the first import through an importer records its grant.
Every file is read and parsed before anything is written. Every data row a file holds is
imported, rejected with its line and reason, or skipped as no transaction (a total line, a
declined payment) with its reason: the core counts the rows apart (:meth:`FileImporter.census`)
and refuses a file whose rows are not all accounted for, so nothing is silently dropped. A file
where no row can be read is refused whole with a one-line error naming the file and line, and
the store stays as it was. Originals are kept byte-identical under ``raw/<importer>/``.

Transactions without a bank id get a composite id — account, date, amount, normalised label —
plus their occurrence number within the statement, so two identical coffees on one day stay
two rows, and re-importing the same or an overlapping statement adds only what is new.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from cozy_kernel import consent, registry, terms
from cozy_kernel.connector import Connector, Item, Record, Rejected, Skipped
from cozy_kernel.errors import (
    BadInput,
    ConnectorFailed,
    CozyError,
    GrantRequired,
    UsageError,
    unknown,
)
from cozy_kernel.runner import SyncReport, Writer, fail
from cozy_kernel.store import Store
from cozy_kernel.workspace import Workspace

HEAD_BYTES = 64 * 1024
MAX_PROBLEMS_SHOWN = 1


@dataclass(frozen=True)
class Statement:
    """One file handed to an importer: its name for messages, its bytes, the user's choices."""

    path: Path
    data: bytes
    account: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    workspace: Path | None = None  # the import's workspace, for what an importer keeps there

    @property
    def name(self) -> str:
        return self.path.name


class FileImporter(Connector):
    """Base of file connectors: ``identify`` claims a file, ``census`` counts its rows and
    ``parse`` reads them.

    ``parse`` yields ``bank.accounts`` records and, for each data row of the file, exactly one
    of: a ``bank.transactions`` record (which may omit ``id`` when the file has no bank id:
    the core assigns a composite one), a :class:`Rejected` for a row it cannot read, or a
    :class:`Skipped` for a row that is no transaction to keep — both with ``source`` naming
    the line or element. It raises :class:`BadInput` when the file as a whole is unreadable.
    """

    formats: ClassVar[str]

    @classmethod
    def identify(cls, name: str, head: bytes) -> bool:
        raise NotImplementedError

    def parse(self, statement: Statement) -> Iterator[Record | Rejected | Skipped]:
        raise NotImplementedError

    def census(self, statement: Statement) -> int:
        """How many data rows the file holds, counted apart from ``parse`` by a simpler pass.

        The core checks that ``parse`` accounted for each (imported, rejected or skipped), so
        a parser that loses rows fails loudly instead of importing less than the file holds.
        """
        raise NotImplementedError

    def fetch(self, since: str | None) -> Iterator[Item]:
        raise UsageError(f"{self.manifest.id} imports files: cozy import PATH")


@lru_cache(maxsize=65536)
def normalise_label(label: str) -> str:
    """Compare labels the way a person would: no accents, no case, single spaces."""
    if label.isascii():  # most labels: skip the per-character Unicode walk
        return " ".join(label.casefold().split())
    decomposed = unicodedata.normalize("NFKD", label)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def assign_ids(records: Sequence[Record]) -> list[Record]:
    """Give id-less transactions their composite id, counting identical twins."""
    seen: Counter[tuple[str, str, str, str]] = Counter()
    out = []
    for record in records:
        data = record.data
        if record.collection != "bank.transactions" or data.get("id"):
            out.append(record)
            continue
        label = normalise_label(str(data.get("label") or ""))
        key = (str(data.get("account_id")), str(data.get("date")), str(data.get("amount")), label)
        seen[key] += 1
        digest = hashlib.sha256(label.encode()).hexdigest()[:12]
        tid = f"{key[0]}:{key[1]}:{key[2]}:{digest}:{seen[key]}"
        out.append(Record(record.collection, {**data, "id": tid}, record.raw))
    return out


def _preferred(old: Record, new: Record) -> Record:
    """Of two records with one id: booked over pending, the later balance, else the first."""
    if old.collection == "bank.transactions":
        return new if old.data.get("pending") and not new.data.get("pending") else old
    old_day, new_day = old.data.get("balance_date"), new.data.get("balance_date")
    if new_day is not None and (old_day is None or new_day > old_day):
        return new
    return old


def merge_duplicates(records: Sequence[Record]) -> list[Record]:
    """One record per id across the statements of one import, whatever their order.

    The same account appears in every statement of it, and an intraday report's pending row
    may come with the end-of-day statement that books it.
    """
    chosen: dict[tuple[str, str], Record] = {}
    order: list[tuple[str, str]] = []
    for record in records:
        key = (record.collection, str(record.data.get("id")))
        if key in chosen:
            chosen[key] = _preferred(chosen[key], record)
        else:
            chosen[key] = record
            order.append(key)
    return [chosen[k] for k in order]


def importers(ws: Workspace) -> dict[str, type[FileImporter]]:
    found = {}
    for entry in registry.discover(ws).values():
        if entry.cls is not None and issubclass(entry.cls, FileImporter):
            found[entry.id] = entry.cls
    return found


def route(ws: Workspace, path: Path, head: bytes) -> type[FileImporter]:
    """The one importer that claims a file, or an error naming the competitors or formats."""
    candidates = importers(ws)
    claims = [cls for cls in candidates.values() if cls.identify(path.name, head)]
    if len(claims) > 1:
        names = " and ".join(sorted(c.manifest.id for c in claims))
        raise BadInput(f"{path}: claimed by {names}; say which with --importer")
    if not claims:
        formats = ", ".join(sorted({c.formats for c in candidates.values()}))
        raise BadInput(f"{path}: no importer recognises this file (known formats: {formats})")
    return claims[0]


@dataclass
class ImportReport:
    """Per importer: what the statements added; ``files`` maps each file to its importer.

    ``rows`` tells, per file, how many data rows it holds and how many were read, rejected
    and skipped: read + rejected + skipped = rows, always.
    """

    files: dict[str, str]
    runs: list[SyncReport]
    rows: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "rows": self.rows,
            "runs": [r.as_dict() for r in self.runs],
        }


@dataclass
class Parsed:
    """One file's reading: its records, and the rows it rejected or skipped, with where."""

    records: list[Record]
    rejected: list[Rejected]
    skipped: list[Skipped]
    rows: int


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from None


def _parse(importer: FileImporter, statement: Statement) -> Parsed:
    where = str(statement.path)
    records: list[Record] = []
    rejected: list[Rejected] = []
    skipped: list[Skipped] = []
    try:
        for item in importer.parse(statement):
            if isinstance(item, Record):
                records.append(item)
            elif isinstance(item, Rejected):
                rejected.append(Rejected(item.reason, _at(where, item.source)))
            else:
                skipped.append(Skipped(item.reason, _at(where, item.source)))
        rows = importer.census(statement)
    except CozyError:
        raise
    except NotImplementedError:
        raise ConnectorFailed(
            f"importer {importer.manifest.id!r} does not count the rows of {where} "
            "(FileImporter.census), so what it reads cannot be checked",
            hint="nothing was imported",
        ) from None
    except Exception as exc:  # a parser bug must still name the file, and write nothing
        raise BadInput(f"{where}: cannot be read ({type(exc).__name__}: {exc})") from exc
    read = sum(r.collection == "bank.transactions" for r in records)
    if read + len(rejected) + len(skipped) != rows:
        raise ConnectorFailed(
            f"{where}: holds {rows} data rows, but {importer.manifest.id} imported {read}, "
            f"rejected {len(rejected)} and skipped {len(skipped)}",
            hint="nothing was imported; this is a bug in the importer, please report it",
        )
    if rejected and not read:
        first = rejected[0]
        more = f" (and the {len(rejected) - 1} other rows)" if len(rejected) > 1 else ""
        raise BadInput(
            f"{first.source}: {first.reason}{more}; no row of this file could be read",
            hint="nothing was imported",
        )
    if not records:
        raise BadInput(f"{where}: holds no account or transaction", hint="nothing was imported")
    return Parsed(assign_ids(records), rejected, skipped, rows)


def _at(where: str, source: str) -> str:
    return f"{where}:{source}" if source else where


def run(
    ws: Workspace,
    store: Store,
    paths: Sequence[Path],
    *,
    account: str | None = None,
    importer: str | None = None,
    options: Mapping[str, str] | None = None,
    grant: Sequence[str] = (),
    method: str,
) -> ImportReport:
    """Import statement files; ``grant`` lists importers the user just agreed to."""
    terms.require(store)
    if not paths:
        raise UsageError("give at least one file to import")
    chosen = importers(ws)
    plan: dict[str, list[Statement]] = {}
    files: dict[str, str] = {}
    for path in paths:
        data = _read(path)
        if importer is not None:
            if importer not in chosen:
                raise unknown("importer", importer, chosen)
            cls = chosen[importer]
        else:
            cls = route(ws, path, data[:HEAD_BYTES])
        plan.setdefault(cls.manifest.id, []).append(
            Statement(path, data, account, dict(options or {}), ws.root)
        )
        files[str(path)] = cls.manifest.id
    for connector_id in plan:
        manifest = chosen[connector_id].manifest
        if consent.state(store, manifest) != "granted" and connector_id not in grant:
            raise GrantRequired(
                f"importing with {connector_id!r} needs your consent",
                hint="review what it collects, then rerun with --yes",
                connector=connector_id,
            )
    readings = {
        cid: [_parse(chosen[cid]({}), s) for s in statements] for cid, statements in plan.items()
    }
    report = _write(ws, store, plan, readings, chosen, method)
    report.files = files
    for cid, statements in plan.items():
        for statement, parsed in zip(statements, readings[cid], strict=True):
            report.rows[str(statement.path)] = {
                "rows": parsed.rows,
                "read": parsed.rows - len(parsed.rejected) - len(parsed.skipped),
                "rejected": len(parsed.rejected),
                "skipped": len(parsed.skipped),
            }
    return report


def _write(
    ws: Workspace,
    store: Store,
    plan: Mapping[str, list[Statement]],
    readings: Mapping[str, list[Parsed]],
    chosen: Mapping[str, type[FileImporter]],
    method: str,
) -> ImportReport:
    """Write every importer's records in one transaction; rejected rows go to its run log."""
    runs = {cid: store.start_run(cid, full=False) for cid in plan}
    kept: list[Path] = []
    writers: dict[str, Writer] = {}
    try:
        with store.transaction():
            for cid, parsed in readings.items():
                manifest = chosen[cid].manifest
                consent.grant(store, manifest, method=method)
                if store.connection(cid) is None:
                    store.save_connection(cid, {})
                writer = writers[cid] = Writer(store, runs[cid], manifest)
                for one in parsed:
                    for rejected in one.rejected:
                        writer.add(rejected)
                for record in merge_duplicates([r for one in parsed for r in one.records]):
                    writer.add(record)
                writer.finish()
                kept.extend(p for p in (_keep(ws, cid, s) for s in plan[cid]) if p)
    except BaseException as exc:
        for path in kept:
            path.unlink(missing_ok=True)
        for run_id in runs.values():
            fail(store, run_id, str(exc) if isinstance(exc, CozyError) else repr(exc))
        raise
    reports = []
    for cid in plan:
        report = writers[cid].fill(SyncReport(cid, runs[cid], False))
        report.rejected = [f"{s}: {r}" if s else r for r, s in writers[cid].rejected]
        report.skipped = [f"{s.source}: {s.reason}" for one in readings[cid] for s in one.skipped]
        reports.append(report)
    return ImportReport({}, reports)


def _keep(ws: Workspace, connector_id: str, statement: Statement) -> Path | None:
    """Store the original byte for byte, named by its content; return it if newly kept."""
    folder = ws.raw_dir / connector_id
    folder.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256(statement.data).hexdigest()[:16]
    target = folder / f"{digest}-{statement.name}"
    if target.exists():
        return None
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(statement.data)
    tmp.replace(target)
    return target
