"""The connector contract: a manifest (validated data) plus a producer.

A connector *produces* items — records, rejected rows as values, checkpoints — and never
touches the store, the keyring or the network except through what the runner hands it. That
keeps fetch and save apart: the core alone decides what is written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from cozy_kernel.errors import BadInput, unknown
from cozy_kernel.schemas import BUILTIN, Collection

if TYPE_CHECKING:
    import requests

    from cozy_kernel.secrets import Secret, Vault

ConnectorKind = Literal["file", "api", "demo"]
SettingKind = Literal["text", "int", "decimal", "bool", "date"]
_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Setting:
    """A non-secret connection setting, given with ``cozy connect ID --set NAME=VALUE``."""

    name: str
    label: str
    kind: SettingKind = "text"
    default: str | None = None
    help: str = ""

    def parse(self, raw: str) -> Any:
        """Turn the text a user typed into the typed value, or say which setting is wrong."""
        try:
            if self.kind == "int":
                return int(raw)
            if self.kind == "decimal":
                return Decimal(raw)
            if self.kind == "date":
                return dt.date.fromisoformat(raw)
            if self.kind == "bool":
                lowered = raw.strip().lower()
                if lowered not in {"true", "false", "yes", "no", "1", "0"}:
                    raise ValueError(raw)
                return lowered in {"true", "yes", "1"}
        except (ValueError, InvalidOperation):
            raise BadInput(f"setting {self.name!r}: {raw!r} is not a valid {self.kind}") from None
        return raw


@dataclass(frozen=True)
class Credential:
    """A secret the connector needs (password, token…): kept in the keyring only."""

    name: str
    label: str
    help: str = ""


@dataclass(frozen=True)
class Processor:
    """A third party that processes the data (a privacy policy's subprocessor row)."""

    name: str
    role: str
    data_shared: tuple[str, ...]
    purpose: str
    country: str


@dataclass(frozen=True)
class Manifest:
    """What a connector is and does, declared as data so it can be shown and checked."""

    id: str
    name: str
    version: str
    kind: ConnectorKind
    writes: tuple[str, ...]
    description: Mapping[str, str]
    categories: tuple[str, ...] = ()
    personal_data: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    processors: tuple[Processor, ...] = ()
    egress_hosts: tuple[str, ...] = ()
    settings: tuple[Setting, ...] = ()
    credentials: tuple[Credential, ...] = ()
    default_frequency: str | None = None
    declares: tuple[Collection, ...] = ()

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise BadInput(f"connector id {self.id!r} must be lower-kebab-case")
        if self.kind not in ("file", "api", "demo"):
            raise BadInput(f"connector {self.id}: kind {self.kind!r} is not file, api or demo")
        if "en" not in self.description:
            raise BadInput(f"connector {self.id}: an English description is required")
        known = set(BUILTIN) | {c.name for c in self.declares}
        for name in self.writes:
            if name not in known:
                raise unknown(f"collection written by {self.id}", name, known)
        if self.kind != "api" and (self.egress_hosts or self.credentials):
            raise BadInput(
                f"connector {self.id}: only api connectors may declare egress hosts or credentials"
            )

    def setting(self, name: str) -> Setting:
        for s in self.settings:
            if s.name == name:
                return s
        raise unknown(f"setting of {self.id}", name, [s.name for s in self.settings])

    def collection(self, name: str) -> Collection:
        for c in self.declares:
            if c.name == name:
                return c
        if name in BUILTIN and name in self.writes:
            return BUILTIN[name]
        raise unknown(f"collection written by {self.id}", name, self.writes)


@dataclass(frozen=True, slots=True)
class Record:
    """One typed row for a collection; ``raw`` is the source payload, stored apart."""

    collection: str
    data: Mapping[str, Any]
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row the connector could not read: reported, never silently dropped."""

    reason: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A row a file holds that is no transaction to keep (a total, a declined payment).

    Counted and shown in the report with its reason, never stored: an importer accounts for
    every row it reads, so a row that is neither kept nor refused must say why.
    """

    reason: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where the next incremental fetch may start; saved only if the run commits."""

    cursor: str


Item = Record | Rejected | Checkpoint


@dataclass(frozen=True)
class Link:
    """What linking an account at a service produced: settings to keep and what to tell."""

    settings: Mapping[str, str] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class Health:
    """A connector's own view of whether it can run (``cozy doctor``)."""

    ok: bool
    message: str = "ok"
    details: Mapping[str, Any] = field(default_factory=dict)


class Connector:
    """Base class of every connector; subclasses set ``manifest`` and implement ``fetch``."""

    manifest: ClassVar[Manifest]

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        http: requests.Session | None = None,
        secrets: Vault | None = None,
    ) -> None:
        """``http`` is the egress-guarded session and ``secrets`` the keyring's values: an
        ``api`` connector reaches the network and its credentials only through these."""
        self.settings = dict(settings)
        self.http = http
        self.secrets: Mapping[str, Secret] = secrets if secrets is not None else {}
        self.vault = secrets

    def link(self) -> Link | None:
        """Set up access at the service once connected (e.g. a bank authorisation link).

        Called by ``connect``; returns settings to keep and a message for the user, or None
        when the connector needs no such step.
        """
        return None

    def fetch(self, since: str | None) -> Iterator[Item]:
        """Yield records from ``since`` (the last checkpoint; ``None`` means everything)."""
        raise NotImplementedError

    def estimate(self) -> int | None:
        """How many records a full fetch yields, if known; sizes the progress bar."""
        return None

    def check(self) -> Health:
        """Report whether the connector can run with its settings, without fetching."""
        return Health(ok=True)
