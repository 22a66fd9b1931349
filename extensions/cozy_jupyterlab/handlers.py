"""The REST surface under ``/cozy/api/``: one flat route table, one small handler per route.

Each handler parses the request, calls one core function in a worker thread (the core is
synchronous: SQLite, keyring, HTTP) and serialises the answer. Core errors become their HTTP
status with ``{"message", "reason", "detail"}``; Jupyter's authentication and XSRF checks
apply to every route through ``APIHandler``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import ensure_async, url_path_join

import cozy_kernel as cozy
from cozy_jupyterlab.jobs import Jobs
from cozy_kernel import api, handover, notebooks, transparency
from cozy_kernel.errors import CozyError, UsageError

API_VERSION = "1"
METHOD = "jupyterlab"
T = TypeVar("T")
CONNECTOR = r"(?P<connector_id>[a-z][a-z0-9-]*)"
NAME_MAX = 255  # bytes in a file name on ext4, APFS, NTFS (UTF-16 units there)


class CozyHandler(APIHandler):
    """Base of every route: core errors → status + JSON, blocking calls off the event loop."""

    @property
    def jobs(self) -> Jobs:
        jobs: Jobs = self.settings["cozy_jobs"]
        return jobs

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def body(self) -> dict[str, Any]:
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except RecursionError:
            raise UsageError("request body nests too deep") from None
        except ValueError:  # not JSON, not UTF-8, or a number past Python's 4,300 digits
            raise UsageError("request body is not JSON this server can read") from None
        if not isinstance(data, dict):
            raise UsageError("request body must be a JSON object")
        return data

    def mapping(self, name: str) -> dict[str, str]:
        """A body field that must be an object of names to text values."""
        value = self.body().get(name, {})
        if not isinstance(value, dict) or not all(
            isinstance(v, str | int | float | bool) for v in value.values()
        ):
            raise UsageError(f"{name!r} must be an object of names to text values")
        return {str(k): str(v) for k, v in value.items()}

    def text(self, name: str, default: str) -> str:
        value = self.body().get(name, default)
        if not isinstance(value, str):
            raise UsageError(f"{name!r} must be text")
        return value

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str, ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, CozyError):
            self.set_status(exc.http_status)
            self.set_header("Content-Type", "application/json")
            detail: dict[str, Any] = {"hint": exc.hint}
            if hasattr(exc, "connector"):
                detail["connector"] = exc.connector
            self.finish(json.dumps({"message": exc.message, "reason": exc.reason,
                                    "detail": detail}))  # fmt: skip
            return
        super().write_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, CozyError):  # an expected refusal, not a server fault
            self.log.info("cozy: %s %s: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)


class VersionHandler(CozyHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply({"version": cozy.__version__, "api": API_VERSION})


class TermsHandler(CozyHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        language = self.get_argument("lang", "en")
        self.reply(await self.call(cozy.terms_view, language))


class TermsAcceptHandler(CozyHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        language = self.text("language", "en")
        self.reply(await self.call(cozy.accept_terms, language=language, method=METHOD))


class TermsDeclineHandler(CozyHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        language = self.text("language", "en")
        self.reply(await self.call(cozy.decline_terms, language=language, method=METHOD))


class ConnectorsHandler(CozyHandler):
    """The core's listing, plus each connector's running job (a scheduled sync, say)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        listed = await self.call(cozy.connectors, day=self.settings["cozy_day"])
        running = self.jobs.running()
        for item in listed:
            job = running.get(item["id"])
            item["job"] = None if job is None else job.as_dict()
        self.reply(listed)


class ConsentHandler(CozyHandler):
    @tornado.web.authenticated
    async def get(self, connector_id: str) -> None:
        """The screen, for the settings about to be saved when given (``set=name=value``)."""
        language = self.get_argument("lang", "en")
        settings = dict(item.partition("=")[::2] for item in self.get_arguments("set"))
        self.reply(
            await self.call(cozy.consent_screen, connector_id, language=language, settings=settings)
        )

    @tornado.web.authenticated
    async def post(self, connector_id: str) -> None:
        """Grant, with the settings and (write-only) credentials of the connect form."""
        settings = self.mapping("settings")
        secrets = self.mapping("credentials") or None
        stored = await self.call(
            cozy.connect, connector_id, settings, grant=True, secrets=secrets, method=METHOD
        )
        message = await self.call(cozy.link, connector_id)
        self.reply({"settings": stored, "message": message})

    @tornado.web.authenticated
    async def delete(self, connector_id: str) -> None:
        erase = self.get_argument("erase", "0") in ("1", "true")
        erased = await self.call(cozy.disconnect, connector_id, erase=erase, method=METHOD)
        self.reply({"erased": erased})


class SettingsHandler(CozyHandler):
    @tornado.web.authenticated
    async def put(self, connector_id: str) -> None:
        settings = self.mapping("settings")
        self.reply(
            {"settings": await self.call(cozy.connect, connector_id, settings, method=METHOD)}
        )


class CredentialsHandler(CozyHandler):
    """Write-only: secrets go to the keyring; the answer names the fields, never values."""

    @tornado.web.authenticated
    async def put(self, connector_id: str) -> None:
        values = self.mapping("credentials")
        if not values:
            raise UsageError("give at least one credential")
        await self.call(cozy.connect, connector_id, {}, secrets=values, method=METHOD)
        missing = await self.call(cozy.missing_secrets, connector_id)
        self.reply({"stored": sorted(values), "missing": [m["name"] for m in missing]})


class ScheduleHandler(CozyHandler):
    @tornado.web.authenticated
    async def put(self, connector_id: str) -> None:
        frequency = self.text("frequency", "")
        self.reply(await self.call(cozy.schedule, connector_id, frequency))


class SyncHandler(CozyHandler):
    @tornado.web.authenticated
    async def post(self, connector_id: str) -> None:
        full = self.body().get("full", False)
        if not isinstance(full, bool):
            raise UsageError("'full' must be true or false")

        def work(progress: Callable[[int, int | None], None]) -> dict[str, Any]:
            return cozy.sync(connector_id, full=full, progress=progress).as_dict()

        await self.call(api.require_terms)  # refused now, not accepted then failed (or run later)
        job = self.jobs.start(connector_id, work)
        self.set_header("Location", url_path_join(self.base_url, "cozy/api/jobs", job.id))
        self.reply(job.as_dict(), status=202)


class JobHandler(CozyHandler):
    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            raise tornado.web.HTTPError(404, f"no job {job_id}")
        self.reply(job.as_dict())


class ImportHandler(CozyHandler):
    """Statement files as multipart ``file`` fields; ``account`` and ``grant`` as fields."""

    @tornado.web.authenticated
    async def post(self) -> None:
        uploads = self.request.files.get("file", [])
        if not uploads:
            raise UsageError("attach at least one statement file as 'file'")
        account = self.get_body_argument("account", None) or None
        grant = self.get_body_argument("grant", "0") in ("1", "true")
        with tempfile.TemporaryDirectory(prefix="cozy-import-") as folder:
            paths = []
            for i, upload in enumerate(uploads):
                name = _upload_name(upload["filename"]) or f"statement-{i}"
                path = Path(folder) / f"{i}" / name
                path.parent.mkdir()
                path.write_bytes(upload["body"])
                paths.append(path)
            report = await self.call(
                cozy.import_files, paths, account=account, grant=grant, method=METHOD
            )
        self.reply(_uploaded_names(report, folder))


def _upload_name(filename: str) -> str:
    """The user's file name (importers and messages use it), never a path; refused when no
    file system could hold it, rather than failing on the disk as a server error."""
    name = Path(filename).name
    if name in (".", ".."):
        raise UsageError(f"{name!r} is not a file name")
    if len(os.fsencode(name)) > NAME_MAX:
        raise UsageError(f"file name {name[:40]!r}… is longer than {NAME_MAX} bytes")
    return name


def _uploaded_names(value: Any, folder: str) -> Any:
    """The report with the upload's temporary folders left out: the user knows the names."""
    prefix = re.compile(re.escape(folder) + r"/[0-9]+/")

    def strip(item: Any) -> Any:
        if isinstance(item, str):
            return prefix.sub("", item)
        if isinstance(item, list):
            return [strip(v) for v in item]
        if isinstance(item, dict):
            return {strip(k): strip(v) for k, v in item.items()}
        return item

    return strip(value)


class ReportHandler(CozyHandler):
    """JSON by default; ``?format=html`` is the same self-contained page `cozy report` writes."""

    @tornado.web.authenticated
    async def get(self) -> None:
        fmt = self.get_argument("format", "json")
        if fmt not in ("json", "html", "md"):
            raise UsageError(f"format {fmt!r} is not json, html or md")
        data = await self.call(cozy.report)
        if fmt == "json":
            self.reply(data)
            return
        page = transparency.render(data, fmt)
        self.finish(page, set_content_type="text/html" if fmt == "html" else "text/markdown")


@tornado.web.stream_request_body
class BundlesHandler(CozyHandler):
    """A bundle as the raw request body (``cozy transfer``, "Import a bundle"): streamed to a
    private file in the workspace, then verified and restored; nothing is kept after.

    Tornado streams the body as soon as ``prepare`` returns, before ``post`` and its
    ``@authenticated`` run. So ``prepare`` refuses a request with no user, or before the
    terms, and not one byte of its body is read; an upload cut short leaves no file.
    """

    _incoming: tuple[BinaryIO, Path] | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        connection: Any = self.request.connection
        connection.set_max_body_size(0)  # until allowed: a refused request is cut off unread
        await super().prepare()  # who asks, and the XSRF check
        if self.current_user is None:
            raise tornado.web.HTTPError(403)
        handle, path = await self.call(api.incoming_bundle)  # the terms, checked in the core
        self._incoming = (os.fdopen(handle, "wb"), path)
        connection.set_max_body_size(handover.max_incoming())

    def data_received(self, chunk: bytes) -> None:
        if self._incoming is not None:
            self._incoming[0].write(chunk)

    @tornado.web.authenticated
    async def post(self) -> None:
        assert self._incoming is not None  # prepare made it, or refused the request
        file, path = self._incoming
        self._incoming = None  # the restore owns it now: a client leaving does not pull it away
        file.close()
        try:
            summary = await self.call(cozy.restore_bundle, path)
        finally:
            path.unlink(missing_ok=True)  # before the answer: nothing is kept after
        self.reply(summary)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._discard()  # the client went away mid-upload: no partial file stays

    def on_finish(self) -> None:
        self._discard()

    def _discard(self) -> None:
        if self._incoming is not None:
            file, path = self._incoming
            self._incoming = None
            file.close()
            path.unlink(missing_ok=True)


class ExportHandler(CozyHandler):
    """Start a full export as a job; its report names the file to download."""

    @tornado.web.authenticated
    async def post(self) -> None:
        def work(progress: Callable[[int, int | None], None]) -> dict[str, Any]:
            return api.export_download(progress=progress)

        await self.call(api.require_terms)
        job = self.jobs.start("export", work, kind="export")
        self.reply(job.as_dict(), status=202)


class ExportFileHandler(CozyHandler):
    """Download an export made by ``POST bundles/export``."""

    @tornado.web.authenticated
    async def get(self, export: str) -> None:
        path = await self.call(api.export_file, export)
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="{export}"')
        with path.open("rb") as body:
            while chunk := body.read(1 << 20):
                self.write(chunk)
                await self.flush()
        self.finish(set_content_type="application/zip")


class TemplatesHandler(CozyHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply(await self.call(notebooks.templates))


class TemplateHandler(CozyHandler):
    """Copy a template into the folder JupyterLab shows, under a name not yet taken."""

    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        content = await self.call(notebooks.template, name)
        folder = self.text("path", "")
        manager: Any = self.contents_manager  # untyped in jupyter_server
        if not await ensure_async(manager.dir_exists(folder)):
            raise UsageError(f"folder {folder!r} does not exist")
        # Templates are kept without outputs or kernel; the copy opens on the default kernel.
        kernel = self.kernel_manager.default_kernel_name
        spec = await ensure_async(self.kernel_spec_manager.get_kernel_spec(kernel))
        content.setdefault("metadata", {}).setdefault(
            "kernelspec",
            {"name": kernel, "display_name": spec.display_name, "language": spec.language},
        )
        target = await ensure_async(manager.increment_filename(name, folder, insert="-"))
        path = url_path_join(folder, target) if folder else target
        model = {"type": "notebook", "format": "json", "content": content}
        saved = await ensure_async(manager.save(model, path))
        self.reply({"path": saved["path"]}, status=201)


ROUTES: list[tuple[str, type[CozyHandler]]] = [
    ("version", VersionHandler),
    ("terms", TermsHandler),
    ("terms/accept", TermsAcceptHandler),
    ("terms/decline", TermsDeclineHandler),
    ("connectors", ConnectorsHandler),
    (f"connectors/{CONNECTOR}/consent", ConsentHandler),
    (f"connectors/{CONNECTOR}/settings", SettingsHandler),
    (f"connectors/{CONNECTOR}/credentials", CredentialsHandler),
    (f"connectors/{CONNECTOR}/schedule", ScheduleHandler),
    (f"connectors/{CONNECTOR}/sync", SyncHandler),
    ("import", ImportHandler),
    (r"jobs/(?P<job_id>[0-9a-f]{32})", JobHandler),
    ("report", ReportHandler),
    ("bundles", BundlesHandler),
    ("bundles/export", ExportHandler),
    (f"bundles/exports/(?P<export>{handover.EXPORT_NAME.pattern})", ExportFileHandler),
    ("templates", TemplatesHandler),
    (r"templates/(?P<name>[^/]+\.ipynb)", TemplateHandler),
]


def setup_handlers(web_app: Any) -> None:
    base = web_app.settings["base_url"]
    web_app.settings["cozy_jobs"] = Jobs()
    web_app.settings.setdefault("cozy_day", 86400.0)
    web_app.add_handlers(
        ".*$", [(url_path_join(base, "cozy/api", route), handler) for route, handler in ROUTES]
    )
