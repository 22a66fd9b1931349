"""Bundles as zipped BagIt 1.0 bags (RFC 8493): written here, checked by the LoC bagit library.

Why the tag files are written here rather than by ``bagit.make_bag``: make_bag changes the
process's working directory (unsafe in the Jupyter server, which serves other requests from
other threads meanwhile), writes "BagIt-Version: 0.97", and hashes every file again although
the export already hashed each one for ``datapackage.json``. Each file is a few plain lines
(RFC 8493 §2); reading a bag back — fixity, missing and extra files — is left to ``bagit``.

Unzipping is where a hostile bundle attacks, so :func:`extract` checks every entry before
writing anything: no absolute path, ``..``, backslash or drive letter, no link or device, no
duplicate (even by case), bounded entry count, total size and compression ratio.

Those checks, the LoC ``bagit`` reader and other filesystems refuse names a workspace may hold
(a notebook ``Café.ipynb`` twice, once NFC and once NFD; ``a.ipynb`` beside ``A.ipynb``; an
uploaded statement named with a backslash, a newline or a trailing space), so the export gives
such files a :class:`PortableNames` payload path and keeps the original name beside it in
``datapackage.json``, where restore finds it again (:func:`original_paths`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from cozy_kernel.errors import BadInput, IntegrityError

ALGORITHMS = ("sha256", "sha512")
TAG_FILES = ("bagit.txt", "bag-info.txt")
CHUNK = 1 << 20
# Already compressed: deflating Parquet again costs time and saves almost nothing.
STORED_SUFFIXES = (".parquet", ".png", ".jpg", ".jpeg", ".gz", ".zip")
ENV_MAX_BYTES = "COZY_BUNDLE_MAX_BYTES"
# The resource property holding a renamed file's original path, relative to the payload.
ORIGINAL_PATH = "cozy:original-path"
NAME_BYTES = 255  # a file name's limit on ext4, APFS, NTFS (in UTF-16 units there) and in tar
# Characters no payload name holds. "%": RFC 8493 percent-encodes it in manifests, but bagit
# 1.x decodes only %0D and %0A, so a name holding one reads differently in each; a name
# without "%", CR or LF reads the same in both. Backslash: refused by extract, and a folder
# separator on Windows, like the other characters Windows refuses in names.
# Frictionless refuses $ in resource paths ("not safe"): such names are renamed too.
UNPORTABLE = frozenset('%\\:*?"<>|$')
# Controls (CR, LF, tab, NEL), invisible formatting and bidi overrides, line and paragraph
# separators (which str.splitlines and bagit's reader break manifest lines at), surrogates.
UNPORTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

# bagit logs every failure as a warning; without a handler Python prints them on stderr, and
# our errors are one line. Libraries should do this themselves.
logging.getLogger("bagit").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Limits:
    """What an unzip may cost: entries, bytes written and compression ratio per entry."""

    entries: int = 200_000
    total_bytes: int = 64 << 30
    ratio: int = 200
    ratio_floor: int = 1 << 20  # small entries (a README, a JSON) may compress far better

    @classmethod
    def default(cls) -> Limits:
        configured = os.environ.get(ENV_MAX_BYTES)
        return cls(total_bytes=int(configured)) if configured else cls()


@dataclass(frozen=True)
class Digest:
    size: int
    sha256: str
    sha512: str


def digest(path: Path) -> Digest:
    """Both manifest hashes of a file in one read."""
    hashers = {alg: hashlib.new(alg) for alg in ALGORITHMS}
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            size += len(block)
            for h in hashers.values():
                h.update(block)
    return Digest(size, hashers["sha256"].hexdigest(), hashers["sha512"].hexdigest())


def files(root: Path) -> Iterator[Path]:
    """Every file under ``root``, sorted, so manifests and zips come out in a stable order."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


def fold(name: str) -> str:
    """The form in which two names are one: :func:`extract` refuses a second entry of a form,
    as a case- and normalisation-insensitive filesystem (macOS, Windows) would merge them."""
    return unicodedata.normalize("NFC", name).casefold()


class PortableNames:
    """Payload paths for files a person or a sender named, each one every reader accepts.

    A name is kept when it can be; else it is normalised (NFC), its unportable characters and
    its leading or trailing spaces (and trailing dots) become ``_``, it is shortened to
    :data:`NAME_BYTES`, and ``~2``, ``~3``… before its suffix tell it apart from a name of the
    same :func:`fold` in its folder. Folders are named the same way, once each.
    """

    def __init__(self) -> None:
        self._given: dict[tuple[str, ...], str] = {}  # original path -> its portable last part
        self._taken: dict[tuple[str, ...], set[str]] = {}  # portable folder -> folded names

    def __call__(self, original: str, twin: str = "") -> str:
        """The payload path for ``original`` (relative, POSIX); ``twin`` is the suffix of a
        sibling written beside it (a notebook's ``.html``), whose name is kept free too."""
        if any(unicodedata.category(c) == "Cs" for c in original):
            raise BadInput(f"{original!r}: its name is not UTF-8 text; rename it to export it")
        parts = PurePosixPath(original).parts
        portable: list[str] = []
        for depth in range(1, len(parts) + 1):
            key = parts[:depth]
            if key not in self._given:
                last = twin if depth == len(parts) else ""
                self._given[key] = self._claim(tuple(portable), parts[depth - 1], last)
            portable.append(self._given[key])
        return "/".join(portable)

    def _claim(self, folder: tuple[str, ...], name: str, twin: str) -> str:
        taken = self._taken.setdefault(folder, set())
        stem, suffix = _split(_plain(name))
        n = 1
        while True:
            mark = f"~{n}" if n > 1 else ""
            endings = [mark + suffix, *([mark + twin] if twin else [])]
            room = NAME_BYTES - max(len(e.encode()) for e in endings)
            cut = stem
            while len(cut.encode()) > room:
                cut = cut[:-1]
            names = [_plain(cut + ending) for ending in endings]
            if not any(fold(candidate) in taken for candidate in names):
                taken.update(fold(candidate) for candidate in names)
                return names[0]
            n += 1


def _plain(name: str) -> str:
    chars = [
        "_" if c in UNPORTABLE or unicodedata.category(c) in UNPORTABLE_CATEGORIES else c
        for c in unicodedata.normalize("NFC", name)
    ]
    # bagit strips manifest lines of surrounding spaces; Windows drops trailing spaces and dots.
    for i in range(len(chars)):
        if not chars[i].isspace():
            break
        chars[i] = "_"
    for i in reversed(range(len(chars))):
        if not (chars[i].isspace() or chars[i] == "."):
            break
        chars[i] = "_"
    return "".join(chars) or "_"


def _split(name: str) -> tuple[str, str]:
    """(stem, suffix): a short suffix stays whole when a name is shortened or numbered."""
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if dot > 0 and len(name) - dot <= 16 else (name, "")


def original_paths(resources: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Payload path -> the path a renamed file had, as a bundle's resources state it.

    The bundle is someone else's input: an original that leaves the payload's top folder,
    holds an empty, ``.`` or ``..`` part or a separator of this system, turns a notebook into
    another kind of file, or names the same file as another is refused.
    """
    originals: dict[str, str] = {}
    paths: list[str] = []
    for resource in resources:
        rel, original = str(resource.get("path")), resource.get(ORIGINAL_PATH)
        if original is not None:
            parts = original.split("/") if isinstance(original, str) else []
            if (
                len(parts) < 2
                or parts[0] != rel.split("/")[0]
                or any(p in ("", ".", "..") or "\x00" in p or PurePath(p).name != p for p in parts)
                or original.endswith(".ipynb") != rel.endswith(".ipynb")
            ):
                raise IntegrityError(f"bundle: {rel}: its original path {original!r} is refused")
            originals[rel] = original
        paths.append(originals.get(rel, rel))
    if len(set(paths)) != len(paths):
        raise IntegrityError("bundle: two files would be restored under one name")
    return originals


def write_bag(root: Path, info: Mapping[str, str], known: Mapping[Path, Digest]) -> list[Path]:
    """Write the tag files of the bag whose payload is ``root/data``; return them.

    ``known`` holds digests already computed while writing the payload; others are computed.
    """
    payload = [(p, known.get(p) or digest(p)) for p in files(root / "data")]
    for alg in ALGORITHMS:
        lines = [f"{getattr(d, alg)}  {p.relative_to(root).as_posix()}\n" for p, d in payload]
        (root / f"manifest-{alg}.txt").write_text("".join(lines), encoding="utf-8")
    (root / "bagit.txt").write_text(
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", encoding="utf-8"
    )
    oxum = f"{sum(d.size for _, d in payload)}.{len(payload)}"
    tags = {**info, "Payload-Oxum": oxum}
    (root / "bag-info.txt").write_text(
        "".join(f"{k}: {' '.join(str(v).split())}\n" for k, v in tags.items()), encoding="utf-8"
    )
    tagged = [*TAG_FILES, *(f"manifest-{alg}.txt" for alg in ALGORITHMS)]
    for alg in ALGORITHMS:
        lines = [f"{getattr(digest(root / name), alg)}  {name}\n" for name in tagged]
        (root / f"tagmanifest-{alg}.txt").write_text("".join(lines), encoding="utf-8")
    return [root / n for n in (*tagged, *(f"tagmanifest-{a}.txt" for a in ALGORITHMS))]


class Zipper:
    """Hashes, checks and zips each finished file on a second thread, in the order given.

    The export keeps writing the next files meanwhile: hashing (SHA-256 and SHA-512) and
    deflating a million transactions' CSV take about a second, which the second core does
    while the first builds the consent records. Files are zipped from disk, never held whole.
    """

    def __init__(self, root: Path, out: Path, check: Callable[[Path], None]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.root = root
        self.path = out
        self._check = check
        self._zip = zipfile.ZipFile(out, "w", allowZip64=True)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cozy-zip")
        self._pending: list[Future[Digest]] = []

    def add(self, path: Path, known: Digest | None = None) -> Future[Digest]:
        """Queue a finished file; ``known`` is its digest if it was hashed while written."""
        future = self._pool.submit(self._add, path, known)
        self._pending.append(future)
        return future

    def _add(self, path: Path, known: Digest | None) -> Digest:
        # One read for both hashes and the zip, in large blocks (ZipFile.write copies 8 KiB at
        # a time, each block a round-trip for the GIL that the other threads then wait on).
        stored = path.suffix.lower() in STORED_SUFFIXES
        self._zip.compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        self._zip.compresslevel = None if stored else 1
        hashers = {} if known else {alg: hashlib.new(alg) for alg in ALGORITHMS}
        size = 0
        name = f"{self.root.name}/{path.relative_to(self.root).as_posix()}"
        large = path.stat().st_size >= zipfile.ZIP64_LIMIT
        with path.open("rb") as source, self._zip.open(name, "w", force_zip64=large) as sink:
            while block := source.read(CHUNK):
                size += len(block)
                for h in hashers.values():
                    h.update(block)
                sink.write(block)
        self._check(path)
        return known or Digest(size, hashers["sha256"].hexdigest(), hashers["sha512"].hexdigest())

    def close(self) -> None:
        """Wait for every file; the first failure (a secret found, a full disk) is raised."""
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._zip.close()

    def __enter__(self) -> Zipper:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._zip.close()


class HashingFile:
    """A file being written that hashes its bytes as they pass, for files too large to re-read
    cheaply (a million transactions' CSV is 170 MB)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")
        self._hashers = {alg: hashlib.new(alg) for alg in ALGORITHMS}
        self.size = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        for h in self._hashers.values():
            h.update(view)
        self.size += len(view)
        return self._file.write(view)

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def flush(self) -> None:
        self._file.flush()

    def digest(self) -> Digest:
        return Digest(
            self.size, self._hashers["sha256"].hexdigest(), self._hashers["sha512"].hexdigest()
        )


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\\" in name or "\x00" in name:
        return "has a backslash or NUL in its path"
    path = PurePosixPath(name)
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if any(part in ("..", ".") for part in path.parts) or "//" in name:
        return "escapes the bundle (.. in its path)"
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "is not a plain file"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def extract(archive: Path, into: Path, limits: Limits | None = None) -> Path:
    """Unzip a bundle into the empty folder ``into`` after checking every entry; return the bag.

    Raises IntegrityError naming the first bad entry; nothing is written outside ``into``.
    """
    limits = limits or Limits.default()
    label = f"bundle {archive.name}"
    try:
        zf = zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile) as exc:
        raise IntegrityError(f"{label}: not a zip file ({exc})") from None
    with zf:
        entries = zf.infolist()
        if len(entries) > limits.entries:
            raise IntegrityError(
                f"{label}: {len(entries)} entries, over the limit of {limits.entries}"
            )
        seen: set[str] = set()
        tops: set[str] = set()
        total = 0
        for info in entries:
            problem = _entry_problem(info)
            if problem is not None:
                raise IntegrityError(f"{label}: entry {info.filename!r} {problem}")
            folded = fold(info.filename.rstrip("/"))
            if folded in seen:
                raise IntegrityError(f"{label}: entry {info.filename!r} appears twice")
            seen.add(folded)
            tops.add(PurePosixPath(info.filename).parts[0])
            total += info.file_size
            if total > limits.total_bytes:
                raise IntegrityError(
                    f"{label}: expands to more than {limits.total_bytes} bytes (zip bomb?)"
                )
            if info.file_size > limits.ratio_floor and info.file_size > limits.ratio * max(
                info.compress_size, 1
            ):
                ratio = info.file_size // max(info.compress_size, 1)
                raise IntegrityError(
                    f"{label}: entry {info.filename!r} compresses {ratio}:1, over the limit of "
                    f"{limits.ratio}:1 (zip bomb?)"
                )
        if len(tops) != 1 or any(PurePosixPath(e.filename).parts == () for e in entries):
            raise IntegrityError(f"{label}: a bag is one top folder; found {len(tops)}")
        free = shutil.disk_usage(into).free
        if total > free:
            raise IntegrityError(f"{label}: expands to {total} bytes, more than the {free} free")
        root = into.resolve()
        for info in entries:
            target = (root / info.filename).resolve()
            if not target.is_relative_to(root):
                raise IntegrityError(f"{label}: entry {info.filename!r} escapes the bundle")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy(zf, info, target, label)
        return root / tops.pop()


def _copy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, label: str) -> None:
    written = 0
    try:
        with zf.open(info) as source, target.open("xb") as sink:
            while block := source.read(CHUNK):
                written += len(block)
                if written > info.file_size:  # zipfile stops at the declared size; be sure
                    raise IntegrityError(
                        f"{label}: entry {info.filename!r} is larger than declared"
                    )
                sink.write(block)
    except FileExistsError:
        raise IntegrityError(f"{label}: entry {info.filename!r} appears twice") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise IntegrityError(f"{label}: entry {info.filename!r} is damaged ({exc})") from None


def validate(root: Path, label: str) -> dict[str, str]:
    """Check the bag with the LoC bagit library: structure, fixity, missing and extra files.

    Returns its bag-info tags. Tag files outside the manifests are refused too (bagit lets
    extra files sit beside ``data/``).
    """
    import bagit  # type: ignore[import-untyped]

    try:
        bag = bagit.Bag(str(root))
        # Name the file: bagit's own first check (Payload-Oxum) only counts files and bytes.
        missing, extra = bag.compare_manifests_with_fs()
        for path in sorted(missing):
            raise IntegrityError(f"{label}: {path}: listed in the manifest but missing")
        for path in sorted(extra):
            raise IntegrityError(f"{label}: {path}: not listed in the manifest (an extra file)")
        bag.validate(processes=1)
    except bagit.BagValidationError as exc:
        details = getattr(exc, "details", None) or []
        raise IntegrityError(f"{label}: {_describe(details[0]) if details else exc}") from None
    except bagit.BagError as exc:
        raise IntegrityError(f"{label}: not a valid BagIt bag ({exc})") from None
    allowed = {
        *TAG_FILES,
        *(f"{m}-{a}.txt" for m in ("manifest", "tagmanifest") for a in ALGORITHMS),
    }
    for path in root.iterdir():
        if path.name != "data" and path.name not in allowed:
            raise IntegrityError(f"{label}: unexpected file {path.name!r} beside the payload")
    missing = [a for a in ALGORITHMS if not (root / f"manifest-{a}.txt").is_file()]
    if missing:
        raise IntegrityError(f"{label}: no {missing[0]} manifest")
    return {k: v if isinstance(v, str) else str(v[0]) for k, v in bag.info.items()}


def manifest(root: Path) -> dict[str, str]:
    """Payload path (relative to ``data/``) -> sha256, as the validated manifest states it."""
    out = {}
    for line in (root / "manifest-sha256.txt").read_text(encoding="utf-8").splitlines():
        checksum, _, path = line.partition(" ")
        out[path.strip().removeprefix("data/")] = checksum
    return out


def _describe(detail: object) -> str:
    import bagit

    path = getattr(detail, "path", "")
    if isinstance(detail, bagit.ChecksumMismatch):
        return f"{path}: checksum mismatch ({detail.algorithm}): the file was changed"
    if isinstance(detail, bagit.FileMissing):
        return f"{path}: listed in the manifest but missing"
    if isinstance(detail, bagit.UnexpectedFile):
        return f"{path}: not listed in the manifest (an extra file)"
    return str(detail)
