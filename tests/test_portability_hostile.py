"""Hostile or damaged bundles are refused with exit 5 and change nothing; secrets never leave."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import cozy_kernel as cozy
from tests.conftest import UNTIL, run_cozy, write_connector

FIXTURES = Path(__file__).parent / "fixtures"
EVIL = f"evil-{uuid.uuid4().hex[:8]}"
Entries = list[tuple[zipfile.ZipInfo, bytes]]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small workspace with data and an original file; its export is the good bundle."""
    home = tmp_path_factory.mktemp("hostile") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COZY_CONFIG", str(home.parent / "no-config.toml"))
        cozy.accept_terms(home=home)
        cozy.connect("demo-bank", home=home, grant=True, until=UNTIL, months=1)
        cozy.sync("demo-bank", home=home)
        cozy.import_files([FIXTURES / "ofx" / "fr_societe_generale.ofx"], grant=True, home=home)
        yield home


@pytest.fixture(scope="module")
def good(target: Path) -> Path:
    out = target.parent / "good.zip"
    cozy.export_bundle(out, home=target)
    return out


def entries(path: Path) -> Entries:
    with zipfile.ZipFile(path) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


def write(path: Path, items: Entries) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate on purpose
        for info, data in items:
            zf.writestr(info, data)
    return path


def top(items: Entries) -> str:
    return items[0][0].filename.split("/")[0]


def added(name: Callable[[str], str], data: bytes = b"x") -> Callable[[Entries], Entries]:
    def add(items: Entries) -> Entries:
        info = zipfile.ZipInfo(name(top(items)))
        info.compress_type = zipfile.ZIP_DEFLATED
        return [*items, (info, data)]

    return add


def symlink(items: Entries) -> Entries:
    link = zipfile.ZipInfo(f"{top(items)}/data/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return [*items, (link, b"/etc/passwd")]


def flip(items: Entries) -> Entries:
    out = []
    for info, data in items:
        if info.filename.endswith("collections/bank.transactions.csv"):
            at = len(data) // 2
            data = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
        out.append((info, data))
    return out


def retagged(old: bytes, new: bytes) -> Callable[[Entries], Entries]:
    """A well-formed bag with one bag-info tag changed, its tag manifests recomputed."""
    return lambda items: _retag(items, old, new)


def _retag(items: Entries, old: bytes, new: bytes) -> Entries:
    files = {info.filename: data for info, data in items}
    base = top(items)
    info_name = f"{base}/bag-info.txt"
    files[info_name] = re.sub(old, new, files[info_name])
    for alg in ("sha256", "sha512"):
        lines = []
        for line in files[f"{base}/tagmanifest-{alg}.txt"].decode().splitlines():
            name = line.split()[-1]
            lines.append(f"{hashlib.new(alg, files[f'{base}/{name}']).hexdigest()}  {name}\n")
        files[f"{base}/tagmanifest-{alg}.txt"] = "".join(lines).encode()
    return [(info, files[info.filename]) for info, _ in items]


def resealed(suffix: str, change: Callable[[bytes], bytes]) -> Callable[[Entries], Entries]:
    """The payload file ending in ``suffix`` changed, and every hash and size stating it redone.

    Fixity then holds, so only the Data Package's own checks can find what is wrong.
    """

    def reseal(items: Entries) -> Entries:
        files = {info.filename: data for info, data in items}
        base = top(items)
        (name,) = [n for n in files if n.endswith(suffix)]
        files[name] = change(files[name])
        described = f"{base}/data/datapackage.json"
        package = json.loads(files[described])
        for resource in package["resources"]:
            if f"{base}/data/{resource['path']}" == name:
                resource["bytes"] = len(files[name])
                resource["hash"] = f"sha256:{hashlib.sha256(files[name]).hexdigest()}"
        files[described] = (json.dumps(package, indent=1, ensure_ascii=False) + "\n").encode()
        for alg in ("sha256", "sha512"):
            manifest = f"{base}/manifest-{alg}.txt"
            paths = [line.split(maxsplit=1)[1] for line in files[manifest].decode().splitlines()]
            files[manifest] = "".join(
                f"{hashlib.new(alg, files[f'{base}/{p}']).hexdigest()}  {p}\n" for p in paths
            ).encode()
        payload = [data for n, data in files.items() if n.startswith(f"{base}/data/")]
        oxum = f"Payload-Oxum: {sum(map(len, payload))}.{len(payload)}".encode()
        return _retag([(i, files[i.filename]) for i, _ in items], rb"Payload-Oxum: [\d.]+", oxum)

    return reseal


Payload = dict[str, bytes]  # a bundle's payload: path under data/ -> bytes


Edit = Callable[[Payload, dict[str, Any]], bytes | None]


def rebuilt(edit: Edit) -> Callable[[Entries], Entries]:
    """A bundle whose payload files and descriptor ``edit`` changed, as one who knows the format
    would make it: every size, hash, manifest and tag redone, so fixity holds and only the
    checks of what the files say can tell. ``edit`` may return the descriptor's raw bytes."""

    def rebuild(items: Entries) -> Entries:
        base = top(items)
        files = {info.filename: data for info, data in items}
        prefix = f"{base}/data/"
        payload = {n.removeprefix(prefix): d for n, d in files.items() if n.startswith(prefix)}
        package = json.loads(payload["datapackage.json"])
        raw = edit(payload, package)
        for resource in package["resources"]:
            path = resource.get("path") if isinstance(resource, dict) else None
            data = payload.get(path) if isinstance(path, str) else None
            if data is not None:
                resource["bytes"] = len(data)
                resource["hash"] = f"sha256:{hashlib.sha256(data).hexdigest()}"
        payload["datapackage.json"] = raw or (json.dumps(package, indent=1) + "\n").encode()
        out = {f"{prefix}{rel}": data for rel, data in sorted(payload.items())}
        for alg in ("sha256", "sha512"):
            out[f"{base}/manifest-{alg}.txt"] = "".join(
                f"{hashlib.new(alg, d).hexdigest()}  data/{rel}\n"
                for rel, d in sorted(payload.items())
            ).encode()
        oxum = f"Payload-Oxum: {sum(map(len, payload.values()))}.{len(payload)}".encode()
        info = re.sub(rb"Payload-Oxum: [\d.]+", oxum, files[f"{base}/bag-info.txt"])
        out[f"{base}/bagit.txt"], out[f"{base}/bag-info.txt"] = files[f"{base}/bagit.txt"], info
        tagged = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt"]
        for alg in ("sha256", "sha512"):
            out[f"{base}/tagmanifest-{alg}.txt"] = "".join(
                f"{hashlib.new(alg, out[f'{base}/{n}']).hexdigest()}  {n}\n" for n in tagged
            ).encode()
        made = []
        for name, data in out.items():
            info_ = zipfile.ZipInfo(name)
            info_.compress_type = zipfile.ZIP_DEFLATED
            made.append((info_, data))
        return made

    return rebuild


def store_table_renamed(name: str) -> Callable[[Payload, dict[str, Any]], None]:
    def rename(payload: Payload, package: dict[str, Any]) -> None:
        (cursors,) = [r for r in package["resources"] if r.get("cozy:store-table") == "cursors"]
        cursors["cozy:store-table"] = name

    return rename


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def ledger_nested(ledger: bytes) -> bytes:
    return ledger + b'{"seq": 3, "details": ' + nested(100_000) + b"}\n"


def last_line_twice(csv: bytes) -> bytes:
    return csv + csv.rstrip(b"\n").rsplit(b"\n", 1)[-1] + b"\n"


def first_key_twice(parquet: bytes) -> bytes:
    table = pq.read_table(pa.BufferReader(parquet))
    ids = table.column("id").to_pylist()
    ids[-1] = ids[0]
    sink = pa.BufferOutputStream()
    pq.write_table(table.set_column(0, "id", pa.array(ids, pa.string())), sink)
    return sink.getvalue().to_pybytes()


CASES: dict[str, tuple[Callable[[Entries], Entries], dict[str, str], str]] = {
    "dot-dot": (added(lambda t: f"{t}/../../../{EVIL}"), {}, "escapes the bundle"),
    "absolute": (added(lambda t: f"{tempfile.gettempdir()}/{EVIL}"), {}, "absolute path"),
    "drive-letter": (added(lambda t: f"C:/{EVIL}"), {}, "absolute path"),
    "backslash": (added(lambda t: f"{t}\\..\\..\\{EVIL}"), {}, "backslash"),
    "symlink": (symlink, {}, "symbolic link"),
    "duplicate": (lambda items: [*items, items[-1]], {}, "appears twice"),
    "zip-bomb-size": (lambda items: items, {"COZY_BUNDLE_MAX_BYTES": "4096"}, "zip bomb"),
    "zip-bomb-ratio": (added(lambda t: f"{t}/data/zeros.bin", bytes(32 << 20)), {}, "zip bomb"),
    "flipped-byte": (flip, {}, "checksum mismatch"),
    "missing-file": (
        lambda items: [e for e in items if not e[0].filename.endswith("data/README.md")],
        {}, "missing",
    ),
    "extra-file": (added(lambda t: f"{t}/data/extra.txt"), {}, "not listed in the manifest"),
    "future-version": (
        retagged(rb"Cozy-Bundle-Version: 1", b"Cozy-Bundle-Version: 2"), {}, "newer Cozy Notebook"
    ),
    "csv-key-repeats": (
        resealed("collections/bank.transactions.csv", last_line_twice), {},
        "bank.transactions.csv: its primary key repeats",
    ),
    "parquet-key-repeats": (
        resealed("collections/bank.transactions.parquet", first_key_twice), {},
        "bank.transactions.parquet: its primary key repeats",
    ),
    "source-is-a-path": (
        retagged(rb"Cozy-Source-Instance: \w+", f"Cozy-Source-Instance: ../../{EVIL}".encode()),
        {}, "not an instance id",
    ),
    "tag-file-not-utf8": (
        retagged(rb"Cozy-Bundle-Kind: full", b"Cozy-Bundle-Kind: \xff\xfe"), {},
        "a tag file is not UTF-8",
    ),
    "file-and-folder": (
        lambda items: added(lambda t: f"{t}/data/twice/inner")(added(lambda t: f"{t}/data/twice")(
            items)), {}, "cannot be unpacked (File exists: ",
    ),
    "folder-name-too-long": (
        added(lambda t: f"{t}/data/{'n' * 300}/x"), {}, "cannot be unpacked (File name too long",
    ),
    "folders-too-deep": (added(lambda t: f"{t}/data/{'d/' * 1200}x"), {}, "cannot be unpacked"),
    "deep-json-descriptor": (
        rebuilt(lambda payload, package: nested(100_000)), {},
        "datapackage.json is nested too deeply",
    ),
    "deep-json-ledger": (
        resealed("consent/ledger.jsonl", ledger_nested), {},
        "consent/ledger.jsonl: an event is nested too deeply",
    ),
    "store-table-outside-the-bundle": (
        rebuilt(store_table_renamed(f"../../../../../../../../../{EVIL}/cursors")), {},
        "store table '../../",
    ),
    "store-table-name-with-a-quote": (
        rebuilt(store_table_renamed('budget_x" ; DROP TABLE runs; --')), {},
        "is not named after its file",
    ),
}  # fmt: skip


def everything(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith("-shm")
        and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_bundle_exits_5_and_changes_nothing(
    case: str, good: Path, target: Path, tmp_path: Path
) -> None:
    # Given a workspace with data, and a bundle made hostile
    change, env, message = CASES[case]
    (tmp_path / "bundle").mkdir()
    hostile = write(tmp_path / "bundle" / "hostile.zip", change(entries(good)))
    before = everything(target)

    # When it is verified, then restored
    verified = run_cozy(target, "verify", str(hostile), env=env)
    restored = run_cozy(target, "restore", str(hostile), "--yes", env=env)

    # Then both refuse with exit 5 and one line naming the problem
    for result in (verified, restored):
        assert result.code == 5, (case, result.err)
        assert message in result.err, (case, result.err)
        assert len(result.err.strip().splitlines()) == 1, result.err
    # And nothing changed in the workspace, nor landed anywhere else
    assert everything(target) == before
    assert not [p for p in landing(target, tmp_path) if (p / EVIL).exists()]
    assert not [p for p in target.rglob("*") if ".cozy-bundle-" in p.name]


def landing(target: Path, tmp_path: Path) -> set[Path]:
    """Every folder an entry escaping the places bundles are unzipped could land in: those
    places (the system's temporary folder, the workspace's cache) and all their parents."""
    places = [Path(tempfile.gettempdir()), target / "cache", tmp_path]
    return {folder for place in places for folder in (place, *place.parents)} | set(
        target.rglob("*")
    )


def restoring(home: Path, bundle: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cozy_kernel", "--home", str(home), "restore", str(bundle), "--yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def scratch(home: Path) -> set[Path]:
    return set((home / "cache").glob(".cozy-bundle-*"))


def unpacking(home: Path, bundle: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A restore caught while its bundle is unzipped (or verified): it and its scratch folder."""
    for _ in range(5):  # a small bundle may be restored before it is caught: try again
        before = scratch(home)
        proc = restoring(home, bundle)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            new = scratch(home) - before
            if new:
                return proc, new.pop()
            time.sleep(0.002)
        proc.kill()
        proc.wait()
    raise AssertionError("no restore was caught unzipping")


def test_a_killed_restores_folder_goes_with_the_next_restore_a_running_ones_stays(
    good: Path, home: Path
) -> None:
    # Given a workspace where a restore was killed while it unzipped
    killed, left = unpacking(home, good)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert left.is_dir()
    # And another restore that is running (paused where it unzips)
    running, theirs = unpacking(home, good)
    running.send_signal(signal.SIGSTOP)
    try:
        # When the next restore runs
        result = run_cozy(home, "restore", str(good), "--yes")
    finally:
        running.send_signal(signal.SIGCONT)
    # Then the killed one's folder is gone, the running one's is still there for it
    assert result.code == 0, result.err
    assert not left.exists()
    assert theirs.is_dir()
    assert running.wait(timeout=120) == 0
    assert scratch(home) == set()


def test_not_a_zip_at_all(target: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really")
    result = run_cozy(target, "verify", str(junk))
    assert result.code == 5 and "not a zip file" in result.err


TOKEN = "tok_CANARY-7f3a9c+/=Zq"  # a stored secret: it must never leave in a bundle
VAULTED = """
from cozy_kernel.connector import Connector, Credential, Manifest, Setting

class Vaulted(Connector):
    manifest = Manifest(
        id="vaulted", name="Vaulted", version="1", kind="api", writes=("bank.accounts",),
        settings=(Setting("note", "A note"),), credentials=(Credential("token", "API token"),),
        egress_hosts=("vaulted.example",), description={"en": "Holds a secret"},
    )

    def fetch(self, since):
        return iter(())

connector = Vaulted
"""


def forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(raw), urllib.parse.quote(secret, safe="").encode()]


@pytest.fixture
def vaulted(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with a month of data and a connector whose token is in the keyring."""
    monkeypatch.setenv("COZY_KEYRING_KEY", "a long passphrase for the test keyring")
    monkeypatch.setenv("COZY_KEYRING_FILE", str(tmp_path / "keyring" / "secrets.cfg"))
    cozy.connect("demo-bank", grant=True, until=UNTIL, months=1)
    cozy.sync("demo-bank")
    write_connector(home, "vaulted", VAULTED)
    cozy.connect("vaulted", {"note": "nothing secret"}, grant=True, secrets={"token": TOKEN})
    return home


def test_a_normal_export_holds_no_stored_secret_in_any_form(vaulted: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean.zip"
    result = run_cozy(vaulted, "export", "--out", str(out))

    assert result.code == 0, result.err
    with zipfile.ZipFile(out) as zf:
        for info in zf.infolist():
            data = zf.read(info)
            assert not any(f in data for f in forms(TOKEN)), info.filename
            if info.filename.endswith(".parquet"):
                (tmp_path / "t.parquet").write_bytes(data)
                for column in pq.read_table(tmp_path / "t.parquet").columns:
                    if pa.types.is_string(column.type):
                        assert not pc.any(pc.match_substring(column, TOKEN)).as_py()


@pytest.mark.parametrize(
    ("plant", "where"),
    [
        (lambda home, tx: cozy.connect("vaulted", {"note": f"see {TOKEN}"}, grant=True),
         "workspace/connections"),
        (lambda home, tx: cozy.edit("bank.transactions", tx, notes=base64.b64encode(
            TOKEN.encode()).decode()), "workspace/edits"),
        (lambda home, tx: (home / "notebooks").mkdir() or (home / "notebooks" / "N.ipynb")
         .write_text(NOTEBOOK.replace("SECRET", urllib.parse.quote(TOKEN, safe=""))),
         "notebooks/N."),
    ],
    ids=["literal-in-a-setting", "base64-in-an-edit", "url-encoded-in-a-notebook"],
)  # fmt: skip
def test_the_canary_scan_refuses_an_export_holding_a_secret(
    vaulted: Path, tmp_path: Path, plant: Callable[[Path, str], object], where: str
) -> None:
    plant(vaulted, cozy.frame("bank.transactions")["id"].iloc[0])
    out = tmp_path / "leak.zip"

    result = run_cozy(vaulted, "export", "--out", str(out))

    assert result.code == 5, result.err
    assert f"export refused: {where}" in result.err and "contains a stored secret" in result.err
    assert not any(f.decode() in result.err for f in forms(TOKEN))
    assert not out.exists() and list(tmp_path.glob(".leak.zip*")) == []


NOTEBOOK = """{"cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "SECRET"}],
 "metadata": {}, "nbformat": 4, "nbformat_minor": 5}"""
