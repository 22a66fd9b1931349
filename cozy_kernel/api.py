"""The kernel-facing API (``import cozy_kernel as cozy``) — the same core calls as the CLI.

Each call opens the workspace and its store for the duration of the call only, so a notebook
never holds a lock or a stale connection between cells.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cozy_kernel import connections as _connections
from cozy_kernel import consent as _consent
from cozy_kernel import ledger as _ledger
from cozy_kernel import registry as _registry
from cozy_kernel import runner as _runner
from cozy_kernel import schedules as _schedule
from cozy_kernel import secrets as _secrets
from cozy_kernel import terms as _terms
from cozy_kernel.errors import CozyError, unknown
from cozy_kernel.frames import DateLike, collection_from_store
from cozy_kernel.store import Store
from cozy_kernel.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

Home = str | os.PathLike[str] | None


@contextmanager
def session(home: Home = None) -> Iterator[tuple[Workspace, Store]]:
    """Open the workspace and its store for one operation."""
    ws = Workspace.open(home)
    store = Store(ws.db_path)
    try:
        yield ws, store
    finally:
        store.close()


def workspace_dir(*, home: Home = None) -> str:
    """The folder holding this user's data (created private if missing)."""
    return str(Workspace.open(home).root)


def frame(
    name: str,
    since: DateLike = None,
    until: DateLike = None,
    columns: Sequence[str] | None = None,
    *,
    home: Home = None,
) -> pd.DataFrame:
    """A collection as a DataFrame with real dtypes; ``since``/``until`` are inclusive dates."""
    from cozy_kernel import frames

    with session(home) as (ws, store):
        return frames.to_pandas(
            frames.table(ws, store, name, since=since, until=until, columns=columns)
        )


def edit(name: str, key: str, /, *, home: Home = None, **values: Any) -> dict[str, Any]:
    """Set fields of one row to your own values (``category="groceries"``).

    Your edits are kept apart from what connectors bring, so no sync ever overwrites them.
    """
    from cozy_kernel import edits as _edits

    with session(home) as (_, store):
        return _edits.edit(store, name, key, values)


def revert(name: str, key: str, /, *fields: str, home: Home = None) -> int:
    """Drop your edits of these fields of one row (all of them if none are named)."""
    from cozy_kernel import edits as _edits

    with session(home) as (_, store):
        return _edits.revert(store, name, key, list(fields))


def collections(*, home: Home = None) -> list[dict[str, Any]]:
    """The collections the workspace holds, with their row counts and fields."""
    with session(home) as (_, store):
        _terms.require(store)
        out = []
        for name in store.collection_names():
            coll = collection_from_store(store, name)
            changed = store.db.execute(
                "SELECT changed_at FROM collections WHERE name = ?", (name,)
            ).fetchone()[0]
            out.append(
                {
                    "name": name,
                    "rows": store.count_rows(coll),
                    "changed_at": changed,
                    "description": coll.description,
                    "fields": [
                        {"name": f.name, "kind": f.kind, "nullable": f.nullable}
                        for f in coll.fields
                    ],
                }
            )
        return out


def connectors(*, home: Home = None, day: float = _schedule.DAY) -> list[dict[str, Any]]:
    """Every discovered connector, whether it is connected, and why it is disabled if so.

    ``status`` is what a badge shows: ``not_connected``, ``connected``, ``needs_reconnect``
    (the grant no longer covers what the connector does) or ``error`` (its last run failed);
    ``rows`` counts what it brought, per collection; ``schedule`` says when it runs by
    itself (``day`` is how long a day lasts for the scheduler). Until the current terms are
    accepted this is the catalogue only: nothing of what the user connected, stored or holds.
    """
    with session(home) as (ws, store):
        locked = _terms.status(store)["state"] == "required"
        connected = set() if locked else set(store.connections())
        rows: dict[str, dict[str, int]] = {}
        for name in [] if locked else store.collection_names():
            table = collection_from_store(store, name).table
            query = f"SELECT connector, count(*) FROM {table} GROUP BY connector"
            for connector, count in store.db.execute(query):
                rows.setdefault(connector, {})[name] = count
        out = []
        for entry in _registry.discover(ws).values():
            item: dict[str, Any] = {
                "id": entry.id,
                "enabled": entry.enabled,
                "connected": entry.id in connected,
                "origin": entry.origin,
                "error": entry.error,
            }
            if entry.cls is not None:
                m = entry.cls.manifest
                stored = {} if locked else store.connection(m.id) or {}
                last = [] if locked else store.runs(m.id, limit=1)
                held = set() if locked else set(_secrets.names(store, m.id))
                item.update(
                    name=m.name,
                    version=m.version,
                    kind=m.kind,
                    categories=list(m.categories),
                    writes=list(m.writes),
                    description=dict(m.description),
                    grant="missing"
                    if locked
                    else _consent.state(store, m, _connections.extra_hosts(m, stored)),
                    settings=[
                        {"name": s.name, "label": s.label, "kind": s.kind,
                         "default": s.default, "help": s.help, "value": stored.get(s.name)}
                        for s in m.settings
                    ],
                    credentials=[
                        {"name": c.name, "label": c.label, "help": c.help,
                         "stored": c.name in held}
                        for c in m.credentials
                    ],
                    last_run=last[0] if last else None,
                    rows=rows.get(m.id, {}),
                    schedule=None if locked else _schedule.status(store, m, day),
                )  # fmt: skip
                item["status"] = _status(item)
            out.append(item)
        return out


# A last run that failed for one of these reasons needs the user, not a retry.
_RECONNECT = ("reconnect-needed", "consent-required", "grant-required")


def _status(item: Mapping[str, Any]) -> str:
    if not item["connected"]:
        return "not_connected"
    last = item["last_run"]
    failed = last is not None and last["outcome"] == "failed"
    if item["grant"] != "granted" or item["schedule"]["paused"]:
        return "needs_reconnect"
    if failed and last["reason"] in _RECONNECT:
        return "needs_reconnect"
    return "error" if failed else "connected"


def terms_view(language: str = "en", *, home: Home = None) -> dict[str, Any]:
    """Everything the terms gate shows: status, the text, what is collected and by whom.

    The two tables come from every installed connector's manifest, so a newcomer sees what
    each could collect and which third parties would process it before accepting anything.
    """
    with session(home) as (ws, store):
        doc = _terms.document(language)
        collect: list[dict[str, Any]] = []
        third_parties: list[dict[str, Any]] = []
        for entry in _registry.discover(ws).values():
            if entry.cls is None:
                continue
            m = entry.cls.manifest
            collect.append(
                {"connector": m.id, "name": m.name, "personal_data": list(m.personal_data),
                 "purposes": list(m.purposes), "collections": list(m.writes)}
            )  # fmt: skip
            third_parties.extend(
                {"connector": m.id, "processor": p.name, "role": p.role,
                 "data_shared": list(p.data_shared), "purpose": p.purpose, "location": p.country}
                for p in m.processors
            )  # fmt: skip
        return {
            "status": _terms.status(store),
            "language": doc.language,
            "title": doc.title,
            "text": doc.text,
            "collect": collect,
            "third_parties": third_parties,
        }


def connect(
    connector_id: str,
    settings: Mapping[str, Any] | None = None,
    /,
    *,
    grant: bool = False,
    secrets: Mapping[str, str] | None = None,
    home: Home = None,
    method: str = "notebook",
    **more: Any,
) -> dict[str, str]:
    """Connect a connector with non-secret settings, as a mapping or keywords.

    The first time (or when the connector changed what it shares), pass ``grant=True`` after
    reading :func:`consent_screen`: that records your consent. ``secrets`` (passwords,
    tokens) go to the keyring only. A setting whose name clashes with a keyword here goes in
    the mapping: ``cozy.connect("x", {"home": "..."})``.
    """
    text = {k: str(v) for k, v in {**(settings or {}), **more}.items()}
    with session(home) as (ws, store):
        manifest = _registry.get(ws, connector_id).manifest
        if secrets:
            known = {c.name for c in manifest.credentials}
            for name in secrets:
                if name not in known:
                    raise unknown(f"credential of {connector_id}", name, known)
        stored = _connections.connect(store, manifest, text, grant=grant, method=method)
        if secrets:
            _secrets.save(store, connector_id, secrets)
        _schedule.resume(store, connector_id)  # the user acted: automatic runs may go on
        return stored


def link(connector_id: str, *, home: Home = None) -> str:
    """Set up access at the connector's service (e.g. open a bank authorisation link).

    Returns what to tell the user — often a link to open — or an empty string when the
    connector needs no such step. ``cozy connect`` runs it after connecting.
    """
    with session(home) as (ws, store):
        return _runner.link(ws, store, connector_id)


def missing_secrets(connector_id: str, *, home: Home = None) -> list[dict[str, str]]:
    """The credentials a connector still needs (name, label, help): never their values."""
    with session(home) as (ws, store):
        manifest = _registry.get(ws, connector_id).manifest
        have = set(_secrets.names(store, connector_id))
        return [
            {"name": c.name, "label": c.label, "help": c.help}
            for c in manifest.credentials
            if c.name not in have
        ]


def consent_screen(
    connector_id: str,
    *,
    language: str = "en",
    settings: Mapping[str, str] | None = None,
    home: Home = None,
) -> dict[str, Any]:
    """What connecting a connector shares, with whom and where, plus whether it is granted.

    ``settings`` are the ones about to be saved: a ``base_url`` among them adds its host.
    """
    with session(home) as (ws, store):
        manifest = _registry.get(ws, connector_id).manifest
        given = _connections.validate(manifest, settings or {})
        merged = {**(store.connection(connector_id) or {}), **given}
        hosts = _connections.extra_hosts(manifest, merged)
        view = _consent.screen(manifest, language, hosts)
        view["state"] = _consent.state(store, manifest, hosts)
        view["text"] = _consent.render(view)
        return view


def refuse_grant(connector_id: str, *, home: Home = None, method: str = "notebook") -> None:
    """Record that the user saw a connector's consent screen and said no."""
    with session(home) as (ws, store):
        _consent.refuse(store, _registry.get(ws, connector_id).manifest, method=method)


def disconnect(
    connector_id: str, *, erase: bool = False, home: Home = None, method: str = "notebook"
) -> dict[str, int]:
    """Withdraw consent for a connector; ``erase=True`` also deletes all it brought."""
    with session(home) as (ws, store):
        return _connections.disconnect(ws, store, connector_id, erase=erase, method=method)


def sync(
    connector_id: str,
    *,
    full: bool = False,
    home: Home = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> _runner.SyncReport:
    """Run a connected connector and write what it found, all or nothing.

    A successful sync by hand also resumes automatic runs paused after a failure.
    """
    with session(home) as (ws, store):
        report = _runner.run(ws, store, connector_id, full=full, progress=progress)
        _schedule.resume(store, connector_id)
        return report


def transfer(
    url: str,
    token: str,
    *,
    home: Home = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Send everything this workspace holds to another running instance, which verifies and
    restores it; returns its summary. Nothing here changes, and the token is kept nowhere."""
    from cozy_kernel import handover as _transfer
    from cozy_kernel.portability import export_bundle
    from cozy_kernel.secrets import Secret

    with session(home) as (ws, store):
        _terms.require(store)
        _transfer.endpoint(url)  # a wrong address fails before the export
        bundle = _transfer.scratch(ws)
        try:
            export_bundle(bundle, progress=progress, home=ws.root)
            return _transfer.send(ws, store, bundle, url, Secret(token))
        finally:
            bundle.unlink(missing_ok=True)


def export_download(
    *, home: Home = None, progress: Callable[[int, int | None], None] | None = None
) -> dict[str, Any]:
    """A full export into the workspace's exports, for "Export my data" to download."""
    from cozy_kernel import handover as _handover
    from cozy_kernel.portability import export_bundle

    target = _handover.download_target(Workspace.open(home))
    summary = export_bundle(target, progress=progress, home=home)
    return {**summary, "name": target.name}


def export_file(name: str, *, home: Home = None) -> Path:
    """One export made by :func:`export_download`, once the terms are accepted."""
    from cozy_kernel import handover as _handover

    with session(home) as (ws, store):
        _terms.require(store)
        return _handover.exported(ws, name)


def incoming_bundle(*, home: Home = None) -> tuple[int, Path]:
    """A private file (descriptor, path) to receive a bundle into, once the terms are
    accepted: a workspace that could not restore it takes no byte of it."""
    from cozy_kernel import handover as _handover

    with session(home) as (ws, store):
        _terms.require(store)
        return _handover.incoming(ws)


def schedule(connector_id: str, frequency: str, *, home: Home = None) -> dict[str, Any]:
    """Run a connector by itself ``daily``, ``weekly`` or never (``off``)."""
    with session(home) as (ws, store):
        _terms.require(store)
        manifest = _registry.get(ws, connector_id).manifest
        with store.transaction():
            _schedule.choose(store, manifest, frequency)
        return _schedule.status(store, manifest)


def due(*, home: Home = None, now: float | None = None, day: float = _schedule.DAY) -> list[str]:
    """The connectors whose automatic run is due: connected, granted, not paused."""
    with session(home) as (ws, store):
        if _terms.status(store)["state"] == "required":
            return []
        now = time.time() if now is None else now
        connected = set(store.connections())
        ready = []
        for entry in _registry.discover(ws).values():
            if entry.cls is None or entry.id not in connected:
                continue
            upcoming = _schedule.next_run(store, entry.cls.manifest, day)
            if upcoming is not None and upcoming <= now:
                ready.append(entry.id)
        return ready


def scheduled_sync(
    connector_id: str,
    *,
    home: Home = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> _runner.SyncReport:
    """An automatic run: a failure only the user can fix pauses the next ones."""
    with session(home) as (ws, store):
        try:
            return _runner.run(ws, store, connector_id, progress=progress, trigger="schedule")
        except _schedule.PAUSING as exc:
            _schedule.pause(store, connector_id, exc)
            raise


def sync_all(
    *, home: Home = None, progress: Callable[[str, int, int | None], None] | None = None
) -> list[dict[str, Any]]:
    """Sync every connected connector that runs by itself (for cron on headless servers).

    Paused ones are skipped with their reason; a failure does not stop the others.
    """
    with session(home) as (ws, store):
        _terms.require(store)
        connected = set(store.connections())
        chosen = []
        for entry in _registry.discover(ws).values():
            if entry.cls is None or entry.id not in connected:
                continue
            state = _schedule.status(store, entry.cls.manifest)
            if state["frequency"] != "off":
                chosen.append((entry.id, state["paused"]))
    results: list[dict[str, Any]] = []
    for connector_id, paused in chosen:
        if paused:
            results.append({"connector": connector_id, "outcome": "paused", "error": paused})
            continue
        step = None if progress is None else functools.partial(progress, connector_id)
        try:
            report = scheduled_sync(connector_id, home=home, progress=step)
        except CozyError as exc:
            results.append({"connector": connector_id, "outcome": "failed", "error": str(exc)})
            continue
        results.append({"connector": connector_id, "outcome": "ok", "added": report.added,
                        "updated": report.updated})  # fmt: skip
    return results


def import_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    account: str | None = None,
    importer: str | None = None,
    options: Mapping[str, str] | None = None,
    grant: bool | Sequence[str] = False,
    home: Home = None,
    method: str = "notebook",
) -> dict[str, Any]:
    """Import bank statement files (OFX/QFX, QIF, CSV, camt.053/052), all or nothing.

    The first import through an importer needs ``grant=True`` (or the importer ids you agree
    to) after reading :func:`consent_screen`; files without an account id go to ``account``.
    """
    from cozy_kernel import importer as _importer

    with session(home) as (ws, store):
        granted: Sequence[str]
        if isinstance(grant, bool):
            granted = list(_importer.importers(ws)) if grant else []
        else:
            granted = grant
        return _importer.run(
            ws, store, [Path(p) for p in paths], account=account, importer=importer,
            options=options, grant=granted, method=method,
        ).as_dict()  # fmt: skip


def runs(
    connector_id: str | None = None, *, limit: int = 20, home: Home = None
) -> list[dict[str, Any]]:
    """The run log, newest first."""
    with session(home) as (_, store):
        _terms.require(store)
        return store.runs(connector_id, limit)


def doctor(*, home: Home = None) -> dict[str, Any]:
    """Health of the workspace and of every connector, shared by every face."""
    from cozy_kernel import health

    with session(home) as (ws, store):
        return health.report(ws, store)


def terms_status(*, home: Home = None) -> dict[str, Any]:
    """``{"state": "accepted" | "required" | "warning", ...}``; always allowed."""
    with session(home) as (_, store):
        return _terms.status(store)


def require_terms(*, home: Home = None) -> None:
    """The terms gate alone (:class:`ConsentRequired` until accepted), for a face that queues
    work, such as a server job: it must refuse when asked, not accept and fail later."""
    with session(home) as (_, store):
        _terms.require(store)


def terms_text(language: str = "en") -> str:
    """The current terms and privacy notice, exactly as accepting them records."""
    return _terms.document(language).text


def accept_terms(
    *, language: str = "en", home: Home = None, method: str = "notebook"
) -> dict[str, Any]:
    """Accept the current terms in ``language`` (read them first with :func:`terms_text`)."""
    with session(home) as (_, store):
        return _terms.accept(store, language=language, method=method).as_dict()


def decline_terms(
    *, language: str = "en", home: Home = None, method: str = "notebook"
) -> dict[str, Any]:
    """Refuse the current terms: every personal-data path stays closed."""
    with session(home) as (_, store):
        return _terms.decline(store, language=language, method=method).as_dict()


def consent_log(*, verify: bool = False, home: Home = None) -> list[dict[str, Any]]:
    """Every consent event, oldest first; ``verify`` checks the hash chain first."""
    with session(home) as (_, store):
        if verify:
            _ledger.verify(store)
        return [e.as_dict() for e in _ledger.events(store)]


def receipts(out: str | os.PathLike[str], *, home: Home = None) -> list[str]:
    """Write a Kantara v1.1 receipt and a DPV JSON-LD record per consent; return the files."""
    from cozy_kernel import receipt as _receipt

    with session(home) as (_, store):
        return [str(p) for p in _receipt.write_all(store, Path(out))]


def report(*, home: Home = None) -> dict[str, Any]:
    """The transparency report: the data held, who processes it, and the consent history."""
    from cozy_kernel import transparency as _transparency

    with session(home) as (ws, store):
        return _transparency.build(ws, store)
