"""A consent ledger as a file (JSON Lines, one event a line), verified without any store.

A bundle carries the source's ledger this way, and a restore keeps it so under ``archive/``
rather than splicing it into the target's own chain: each instance's ledger stays one
unbroken chain of what was consented there, and the source's can be re-verified at any time
with nothing but SHA-256 and canonical JSON (see :mod:`cozy_kernel.ledger`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cozy_kernel import ledger
from cozy_kernel.errors import IntegrityError


def verify_file(path: Path, expect: Mapping[str, Any] | None = None) -> int:
    """Check every event's hash and link; ``expect`` gives the head ({"events", "head"}).

    Returns the number of events, or raises IntegrityError naming the first bad one.
    """
    label = f"consent ledger {path.name}"
    previous, seq = ledger.GENESIS, 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{label}: cannot be read ({exc})") from None
    for number, line in enumerate(lines, start=1):
        try:
            event = json.loads(line)
            fields = {k: event[k] for k in ledger.FIELDS}
            fields["details"] = ledger.canonical(event["details"])
            stated = event["hash"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{label}: line {number} is not an event ({exc})") from None
        seq += 1
        if fields["seq"] != seq:
            raise IntegrityError(f"{label}: event #{seq} is missing (next is #{fields['seq']})")
        if fields["prev_hash"] != previous:
            raise IntegrityError(f"{label}: event #{seq} does not follow event #{seq - 1}")
        digest = hashlib.sha256(ledger.canonical(fields).encode()).hexdigest()
        if digest != stated:
            raise IntegrityError(f"{label}: event #{seq} was altered (hash mismatch)")
        previous = stated
    if expect is not None and (expect.get("events"), expect.get("head")) != (seq, previous):
        raise IntegrityError(
            f"{label}: holds {seq} events, its head records {expect.get('events')}"
        )
    return seq


def head(path: Path) -> tuple[int, str]:
    """How many events a ledger file holds and its last hash; for a file already verified."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return len(lines), str(json.loads(lines[-1])["hash"]) if lines else ledger.GENESIS
