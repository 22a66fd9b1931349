"""Terms of use and privacy notice: versioned documents, their status, and the gate.

A version reads ``MAJOR.MINOR.PATCH-YYYYMMDD``, the date being when it takes effect. Accepting
records the exact text's SHA-256 in the consent ledger. A newer MAJOR blocks from its date and
only warns before it; MINOR and PATCH changes never block. Operators replace the built-in
texts by pointing ``COZY_TERMS_DIR`` (or ``terms_dir`` in the config file) at a folder with
``terms.en.md`` (required), ``terms.es.md`` and ``terms.fr.md``; the English file's front
matter also names the operator (controller, contact, jurisdiction…) used in receipts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from functools import total_ordering
from pathlib import Path
from typing import Any, Literal

from cozy_kernel import config, ledger
from cozy_kernel.errors import BadInput, ConsentRequired
from cozy_kernel.store import Store

LANGUAGES = ("en", "es", "fr")
BUILTIN_DIR = Path(__file__).parent / "documents"
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)-(\d{8})$")
OPERATOR_FIELDS = ("controller", "contact", "email", "address", "phone", "jurisdiction")
State = Literal["accepted", "required", "warning"]
FIX = "cozy terms accept"


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    effective: dt.date

    @classmethod
    def parse(cls, text: str, where: str = "version") -> Version:
        match = _VERSION.match(text.strip())
        try:
            if match is None:
                raise ValueError
            major, minor, patch, day = match.groups()
            return cls(
                int(major), int(minor), int(patch), dt.datetime.strptime(day, "%Y%m%d").date()
            )
        except ValueError:
            raise BadInput(f"{where}: {text!r} is not MAJOR.MINOR.PATCH-YYYYMMDD") from None

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}-{self.effective:%Y%m%d}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.major, self.minor, self.patch, self.effective) < (
            other.major, other.minor, other.patch, other.effective,
        )  # fmt: skip


@dataclass(frozen=True)
class Document:
    """One language of the terms, exactly as shown to the user."""

    language: str
    version: Version
    title: str
    text: str
    path: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class Operator:
    """Who answers for this installation: the data controller named in receipts."""

    controller: str
    contact: str
    email: str
    address: str
    phone: str
    jurisdiction: str
    policy_url: str


def terms_dir() -> Path:
    """Where the terms live: ``COZY_TERMS_DIR``, else the config file's ``terms_dir``."""
    folder = config.value("terms_dir")
    return Path(str(folder)).expanduser() if folder else BUILTIN_DIR


def _load(path: Path, language: str) -> tuple[Document, dict[str, Any]]:
    import frontmatter

    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{path}: cannot read the terms: {exc}") from None
    meta = dict(post.metadata)
    if "version" not in meta:
        raise BadInput(f"{path}: the front matter has no 'version:' line")
    version = Version.parse(str(meta["version"]), f"{path}: version")
    title = str(meta.get("title", "Terms"))
    return Document(language, version, title, post.content.strip() + "\n", path), meta


def documents() -> dict[str, Document]:
    """Every language of the current terms; they must all carry the same version."""
    folder = terms_dir()
    english = folder / "terms.en.md"
    if not english.is_file():
        raise BadInput(f"{english}: the terms folder needs at least terms.en.md")
    docs = {"en": _load(english, "en")[0]}
    for lang in LANGUAGES[1:]:
        path = folder / f"terms.{lang}.md"
        if path.is_file():
            doc = _load(path, lang)[0]
            if doc.version != docs["en"].version:
                raise BadInput(
                    f"{path}: version {doc.version} differs from terms.en.md ({docs['en'].version})"
                )
            docs[lang] = doc
    return docs


def document(language: str = "en") -> Document:
    if language not in LANGUAGES:
        raise BadInput(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    docs = documents()
    return docs.get(language, docs["en"])


def operator() -> Operator:
    _, meta = _load(terms_dir() / "terms.en.md", "en")
    values = {name: str(meta.get(name, "")) for name in OPERATOR_FIELDS}
    if not values["controller"]:
        raise BadInput(f"{terms_dir() / 'terms.en.md'}: the front matter names no 'controller:'")
    return Operator(**values, policy_url=str(meta.get("policy_url", "")))


def status(store: Store, today: dt.date | None = None) -> dict[str, Any]:
    """Where the user stands with the current terms.

    ``required`` blocks every data path; ``warning`` means a newer MAJOR takes effect on
    ``blocks_on`` and the accepted one still holds until then.
    """
    today = today or dt.date.today()
    latest = documents()["en"].version
    last = ledger.last(store, scope="terms")
    accepted = (
        Version.parse(last.version)
        if last is not None and last.kind in ("given", "renewed") and last.version
        else None
    )
    state: State = "accepted"
    if accepted is None:
        state = "required"
    elif latest.major > accepted.major:
        state = "required" if today >= latest.effective else "warning"
    return {
        "state": state,
        "accepted_version": None if accepted is None else str(accepted),
        "latest_version": str(latest),
        "blocks_on": latest.effective.isoformat() if state == "warning" else None,
        "accepted_at": None if accepted is None or last is None else last.at,
        "last_event": None if last is None else last.kind,
        "fix": FIX if state == "required" else None,
    }


def require(store: Store) -> None:
    """The gate: refuse any personal-data path until the current MAJOR is accepted."""
    current = status(store)
    if current["state"] != "required":
        return
    if current["accepted_version"] is not None and current["last_event"] != "expired":
        # Record once that the old acceptance lapsed when the new MAJOR took effect.
        with store.transaction():
            ledger.append(
                store, kind="expired", scope="terms", method="system",
                version=current["accepted_version"],
                details={"superseded_by": current["latest_version"]},
            )  # fmt: skip
    if current["accepted_version"] is None:
        message = f"the terms (version {current['latest_version']}) have not been accepted"
    else:
        message = (
            f"the terms changed to version {current['latest_version']} "
            f"(you accepted {current['accepted_version']})"
        )
    raise ConsentRequired(message, hint=f"read them with: cozy terms show; then: {FIX}")


def accept(store: Store, *, language: str, method: str) -> ledger.Event:
    """Record acceptance of the current terms in ``language``, as shown."""
    doc = document(language)
    before = [e for e in ledger.events(store, scope="terms") if e.kind in ("given", "renewed")]
    kind: ledger.EventKind = "renewed" if before else "given"
    with store.transaction():
        return ledger.append(
            store, kind=kind, scope="terms", method=method, version=str(doc.version),
            text_sha256=doc.sha256, language=doc.language,
            details={"title": doc.title},
        )  # fmt: skip


def decline(store: Store, *, language: str, method: str) -> ledger.Event:
    """Record that the user refused the current terms: every data path stays closed."""
    doc = document(language)
    with store.transaction():
        return ledger.append(
            store, kind="refused", scope="terms", method=method, version=str(doc.version),
            text_sha256=doc.sha256, language=doc.language,
        )  # fmt: skip
