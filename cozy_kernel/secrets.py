"""Secrets (passwords, tokens, access URLs): in ``keyring`` only, never anywhere else.

One keyring entry per workspace, connector and field. The store keeps only the *names* of
the fields it saved, so erasing a connector can delete its entries. Values travel inside
:class:`Secret`, whose ``repr`` and ``str`` hide them, and :func:`redact` scrubs a value — and
its base64 and URL-encoded forms — from any text before it reaches a log or an error.

Desktops use the system keyring. A headless server has none: set ``COZY_KEYRING_KEY`` and the
secrets go to an encrypted file (``keyrings.cryptfile``: Argon2 key derivation, AES-GCM) at
``COZY_KEYRING_FILE`` or keyring's default data folder — never a plaintext or base64 file.
"""

from __future__ import annotations

import base64
import os
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from cozy_kernel.errors import CozyError
from cozy_kernel.store import Store

ENV_KEY = "COZY_KEYRING_KEY"
ENV_FILE = "COZY_KEYRING_FILE"
INSECURE = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")
ENCRYPTED = "keyrings.cryptfile"


class NoKeyring(CozyError):
    """No secure place for secrets exists on this machine yet."""

    exit_code = 1
    http_status = 503
    reason = "no-keyring"


class Secret:
    """A secret value that does not show itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value, for the one place that must send it (an HTTP header, say)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Vault(Mapping[str, Secret]):
    """A connector's secrets during one run; ``put`` keeps a new one (a refreshed token).

    New values go to the keyring at once — a token the service already rotated must not be
    lost if the run then fails — and their names reach the store after the run, outside its
    transaction, through :meth:`remember`.
    """

    def __init__(self, store: Store, connector: str, values: Mapping[str, Secret]) -> None:
        self._store = store
        self._connector = connector
        self._values = dict(values)
        self._added: set[str] = set()

    def __getitem__(self, name: str) -> Secret:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def put(self, name: str, value: str) -> None:
        backend().set_password(_service(self._store, self._connector), name, value)
        self._values[name] = Secret(value)
        self._added.add(name)

    def remember(self) -> None:
        """Record the names of the secrets added during the run; call outside its transaction."""
        if self._added:
            _remember(self._store, self._connector, sorted(self._added))
        self._added.clear()


@lru_cache(maxsize=4)
def _encrypted_file(key: str, path: str | None) -> Any:
    """One unlocked encrypted-file keyring per process: each unlock costs a slow Argon2 run."""
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    ring = CryptFileKeyring()
    if path:
        # Before the key: setting the key unlocks (or creates) whatever file is set then.
        ring.file_path = str(Path(path).expanduser())  # "~" as written in server configs
    ring.keyring_key = key
    return ring


def backend() -> Any:
    """The keyring to use: the encrypted file when a key is set, else the system's."""
    import keyring

    key = os.environ.get(ENV_KEY)
    if key:
        return _encrypted_file(key, os.environ.get(ENV_FILE))
    ring = keyring.get_keyring()
    chained = getattr(ring, "backends", None)
    found = [ring] if chained is None else list(chained)
    # Without its key, the encrypted-file keyring asks for a password at the terminal: a
    # server, a kernel or a `--yes` run has nobody to type it and would die "aborted".
    usable = [r for r in found if not type(r).__module__.startswith((*INSECURE, ENCRYPTED))]
    if not usable:
        raise NoKeyring(
            "no secure keyring on this machine for passwords and tokens",
            hint=f"set {ENV_KEY} to keep them in an encrypted file (see README)",
        )
    return ring if len(usable) == len(found) else usable[0]


def _service(store: Store, connector: str) -> str:
    return f"cozy-notebook/{store.store_id}/{connector}"


def save(store: Store, connector: str, values: Mapping[str, str]) -> None:
    """Put secrets in the keyring and remember their names (not values) in the store."""
    ring = backend()
    for name, value in values.items():
        ring.set_password(_service(store, connector), name, value)
    _remember(store, connector, list(values))


def _remember(store: Store, connector: str, stored: Iterable[str]) -> None:
    """Record which names the keyring holds for a connector, so erasure can find them."""
    with store.transaction():
        store.db.executemany(
            "INSERT INTO secret_names VALUES (?, ?) ON CONFLICT DO NOTHING",
            ((connector, name) for name in stored),
        )


def names(store: Store, connector: str) -> list[str]:
    return [
        r[0]
        for r in store.db.execute(
            "SELECT name FROM secret_names WHERE connector = ? ORDER BY name", (connector,)
        )
    ]


def load(store: Store, connector: str) -> dict[str, Secret]:
    """The connector's secrets, wrapped; a name the keyring lost is simply absent."""
    stored = names(store, connector)
    if not stored:
        return {}
    ring = backend()
    out = {}
    for name in stored:
        value = ring.get_password(_service(store, connector), name)
        if value is not None:
            out[name] = Secret(value)
    return out


def erase(store: Store, connector: str) -> int:
    """Delete every keyring entry of a connector; call inside the erasing transaction."""
    stored = names(store, connector)
    if stored:
        ring = backend()
        import keyring.errors

        for name in stored:
            try:
                ring.delete_password(_service(store, connector), name)
            except keyring.errors.PasswordDeleteError:
                continue  # already gone from the keyring: nothing left to erase
    store.db.execute("DELETE FROM secret_names WHERE connector = ?", (connector,))
    return len(stored)


def forms(value: str) -> Iterator[str]:
    """The spellings a secret may leak under: literal, base64 and URL-encoded."""
    yield value
    if "://" in value and "@" in value:
        # An access URL carries a user name and password of its own: each is a secret too.
        parts = urllib.parse.urlsplit(value)
        for part in (parts.username, parts.password):
            if part and len(part) >= 4:
                yield part
                yield urllib.parse.unquote(part)
    raw = value.encode()
    yield base64.b64encode(raw).decode()
    yield base64.urlsafe_b64encode(raw).decode()
    yield urllib.parse.quote(value, safe="")
    yield urllib.parse.quote_plus(value)


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """Replace every known secret, in any of its spellings, by ``***``."""
    for secret in secrets:
        value = secret.reveal()
        if len(value) < 4:
            continue
        for form in forms(value):
            text = text.replace(form, "***")
    return text
