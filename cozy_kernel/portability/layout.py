"""What a bundle holds and where: the one place export, verify and restore agree on.

Format 1 (``Cozy-Bundle-Version: 1`` in ``bag-info.txt``), payload under ``data/``::

    README.md                  what is here, how to verify it and how to restore it
    datapackage.json           Frictionless Data Package v2 describing every other file
    collections/NAME.parquet   each collection as the store holds it (your edits apart)
    collections/NAME.csv       the same rows as CSV
    workspace/TABLE.parquet    the store's own tables: edits, connector settings, cursors,
    workspace/TABLE.csv        schedules, the run log, raw payloads, categories, rules, budgets
    raw/CONNECTOR/FILE         originals as received, byte for byte
    notebooks/PATH.ipynb       your notebooks, and each rendered as offline HTML
    consent/ledger.jsonl       the hash-chained consent ledger, one event a line
    consent/receipts/          a Kantara v1.1 receipt and a DPV record per consent
    consent/register.json      the processing register (the transparency report)
"""

from __future__ import annotations

from collections.abc import Callable

FORMAT_VERSION = 1
Progress = Callable[[int, int | None], None]  # (rows done, rows in all) of an export or restore
FULL, SHARE = "full", "share"
TAG_VERSION = "Cozy-Bundle-Version"
TAG_KIND = "Cozy-Bundle-Kind"
TAG_SOURCE = "Cozy-Source-Instance"
TAG_CREATED = "Cozy-Created-At"

COLLECTIONS = "collections"
WORKSPACE = "workspace"
RAW = "raw"
NOTEBOOKS = "notebooks"
CONSENT = "consent"
LEDGER = "consent/ledger.jsonl"
README = "README.md"

# The run a restore records: a connector id can never contain a colon.
RESTORE_RUN = "cozy:restore"
# Where a restore keeps the source's consent records, apart from this workspace's own ledger.
ARCHIVE = "archive"

# How a restore merges each of the store's own tables (collections merge as a sync does):
# "absent" keeps the target's row when it has one; "append" matches rows by content because
# their integer ids mean nothing on another instance; "newer" keeps the later of two edits;
# "upsert" lets the bundle's row win, by primary key. Tables not listed travel but are not
# replayed: the source's network log describes requests this instance never made.
MERGE = {
    "connections": "absent",
    "cursors": "absent",
    "runs": "append",
    "rejections": "append",
    "edits": "newer",
    "schedules": "absent",
}
STORE_TABLES = (
    "connections", "cursors", "schedules", "runs", "rejections", "egress_log", "raw_records",
)  # fmt: skip
BUDGET_PREFIX = "budget_"
# Columns that point at a run, renumbered when the run log is merged.
RUN_COLUMNS = {"cursors": "run_id", "rejections": "run_id", "raw_records": "run_id"}
FOREIGN_KEYS = {"bank.transactions": [("account_id", "bank.accounts", "id")]}
