"""Share bundles: one notebook, run fresh, with only the rows and columns it read.

The notebook runs in a new kernel on this workspace with lineage recording on
(:mod:`.lineage`); the bundle holds the executed notebook without its ``private`` cells, its
offline HTML, and for each collection it read only those rows (by key) and columns (plus the
key, which names the rows). No originals, no consent records, no settings. The receiver's
restore puts the rows in collections of their own (``shared.NAMESPACE.…``), apart from theirs.

Restore imports this module to check a share's namespace, so the exporter is imported only
when a share is made.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets as _random
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from cozy_kernel import terms
from cozy_kernel.errors import BadInput, CozyError, IntegrityError
from cozy_kernel.frames import LINEAGE_ENV, collection_from_store
from cozy_kernel.portability import layout, lineage, package, tables
from cozy_kernel.schemas import Collection, Field
from cozy_kernel.store import Store

CELL_TIMEOUT_S = 600


def export_notebook(
    path: Path, out: Path, *, pseudonymise: bool, home: str | os.PathLike[str] | None
) -> dict[str, Any]:
    """A share bundle of the notebook file at ``path``."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises JSON, validation and OS errors alike
        raise BadInput(f"{path}: not a notebook ({exc})") from None
    return export_share(nb, path.stem, path.parent, out, pseudonymise=pseudonymise, home=home)


def pseudonym_key(store: Store) -> bytes:
    """This workspace's pseudonym key, made once; it stays in the store and is never exported."""
    with store.transaction():
        store.db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('pseudonym_key', ?)", (_random.token_hex(32),)
        )
    row = store.db.execute("SELECT value FROM meta WHERE key = 'pseudonym_key'").fetchone()
    return bytes.fromhex(row[0])


def namespace(notebook: str, source: str) -> str:
    """Where a receiver keeps a share's rows: the notebook's name, then a hash of the sending
    instance's id with the notebook's file name.

    The receiver derives it again from the bundle and refuses one that claims another
    (:func:`check_namespace`), so a share from another instance can never land on the rows
    of one already restored. The whole id is hashed: its first characters alone could be
    chosen to match another instance's.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", PurePosixPath(notebook).stem.lower()).strip("_")
    if not slug[:1].isalpha():
        slug = f"nb_{slug}".rstrip("_")
    digest = hashlib.sha256(f"{source}\n{notebook}".encode()).hexdigest()
    return f"{slug}_{digest[:16]}"


def check_namespace(source: str, descriptor: Mapping[str, Any], claimed: str) -> None:
    """Refuse a share whose namespace is not the one its source and notebook give.

    ``source`` is the bundle's checked instance id. Bundles are not signed: one that copies
    another instance's id as well is not caught here, only one that names a namespace its
    own id does not give.
    """
    about = descriptor.get("cozy")
    notebook = about.get("notebook") if isinstance(about, Mapping) else None
    expected = namespace(notebook, source) if isinstance(notebook, str) else None
    if claimed != expected:
        raise IntegrityError(
            f"bundle: this share claims shared.{claimed}, not the namespace its source gives "
            f"({'none' if expected is None else f'shared.{expected}'}); nothing was restored",
            hint="a share made before namespaces were derived must be exported again",
        )


def export_share(
    nb: Any,
    name: str,
    workdir: Path,
    out: Path,
    *,
    pseudonymise: bool,
    home: str | os.PathLike[str] | None,
) -> dict[str, Any]:
    """Run ``nb`` in a fresh kernel on the workspace and bundle what it read."""
    from cozy_kernel import frames
    from cozy_kernel.api import session
    from cozy_kernel.portability.convert import strip_private
    from cozy_kernel.portability.export import (
        assembling,
        link_foreign_keys,
        now,
        publish,
        readme,
        write_notebooks,
    )

    out = out.absolute()
    with session(home) as (ws, store):
        terms.require(store)
        key = pseudonym_key(store) if pseudonymise else None
        with tempfile.TemporaryDirectory(prefix="cozy-lineage-") as tmp:
            trail = Path(tmp) / "lineage.jsonl"
            trail.touch()
            env = {"COZY_HOME": str(ws.root), LINEAGE_ENV: str(trail)}
            if key is not None:
                env[lineage.KEY_ENV] = key.hex()
            executed = _run(nb, name, workdir, env)
            read = lineage.read(trail)
        shared = strip_private(executed)
        created = now()
        space = namespace(f"{name}.ipynb", store.store_id)
        with assembling(store, out) as (root, builder):
            payload = builder.payload
            rows = {}
            for collection, (columns, keys) in sorted(read.items()):
                table = frames.read(ws, store, collection)
                rows[collection] = _write_rows(
                    collection_from_store(store, collection), table, columns, keys, key,
                    builder, payload,
                )  # fmt: skip
            link_foreign_keys(builder)
            with tempfile.TemporaryDirectory(prefix="cozy-share-") as tmp:
                import nbformat

                source = Path(tmp) / f"{name}.ipynb"
                nbformat.write(shared, source)  # type: ignore[no-untyped-call]
                write_notebooks([(source.name, source)], builder, payload)
            readme(
                payload, builder, kind=layout.SHARE, title=f"Cozy Notebook share: {name}",
                created=created, notebook=f"{name}.ipynb", pseudonymised=pseudonymise,
                collections={c: r["rows"] for c, r in rows.items()}, notebooks=1,
                namespace=space, top=root.name,
            )  # fmt: skip
            meta = {
                "name": "cozy-notebook-share",
                "title": f"Cozy Notebook share of {name}",
                "created": created,
                "cozy": {
                    "version": layout.FORMAT_VERSION, "kind": layout.SHARE, "created": created,
                    "source": store.store_id, "namespace": space, "notebook": f"{name}.ipynb",
                    "pseudonymised": pseudonymise,
                },
            }  # fmt: skip
            publish(root, builder, meta, out)
    return {
        "path": str(out), "kind": layout.SHARE, "bytes": out.stat().st_size,
        "notebook": f"{name}.ipynb", "namespace": space, "collections": rows,
        "pseudonymised": pseudonymise,
    }  # fmt: skip


def _run(nb: Any, name: str, workdir: Path, env: dict[str, str]) -> Any:
    """Execute a copy of the notebook in a new kernel; a failing cell fails the export."""
    import copy

    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    executed = copy.deepcopy(nb)
    client = NotebookClient(
        executed, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(workdir)}}
    )
    try:
        # The kernel's own log (e.g. ipykernel's transport warning) is not ours to print.
        client.execute(env={**os.environ, **env}, stderr=subprocess.DEVNULL)
    except CellExecutionError as exc:
        first = f"{exc.ename}: {exc.evalue}".strip()
        raise BadInput(
            f"{name}.ipynb: a cell failed ({first})", hint="nothing was exported"
        ) from None
    except CozyError:
        raise
    except Exception as exc:  # the kernel could not start, or died
        raise BadInput(f"{name}.ipynb: could not run ({type(exc).__name__}: {exc})") from None
    return executed


def _write_rows(
    coll: Collection,
    table: Any,
    columns: set[str],
    keys: set[str],
    key: bytes | None,
    builder: package.Builder,
    payload: Path,
) -> dict[str, Any]:
    """Only the rows and columns read, plus the key that names the rows for a restore.

    Pseudonymised as the notebook saw them; the key too, so the rows' names give away no
    account number and no label hash, and stay stable from one share to the next.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from cozy_kernel.portability.export import Counter, write_table

    wanted = pa.array(sorted(keys), pa.string())
    table = table.filter(pc.is_in(table.column(coll.key).cast(pa.string()), value_set=wanted))
    names = [c for c in table.column_names if c in columns or c == coll.key]
    table = table.select(names)
    hidden: dict[str, str] = {}
    if key is not None:
        hidden = lineage.identifying(coll)
        table = lineage.pseudonymise(coll, table, key)
    subset = Collection(
        coll.name,
        tuple(
            # A pseudonymised integer is text now.
            Field(f.name, "text" if f.name in hidden and f.kind == "int" else f.kind,
                  f.nullable, f.description)
            for f in coll.fields
            if f.name in names
        ),
        key=coll.key,
        description=coll.description,
        order_by=tuple(n for n in coll.order_by if n in names) or (coll.key,),
    )  # fmt: skip
    described = {f["name"]: f for f in tables.field_schema(subset)["fields"]}
    schema = {"fields": [described[n] for n in names], "primaryKey": [coll.key]}
    count = write_table(
        builder, payload, f"{layout.COLLECTIONS}/{coll.name}", coll.name,
        table.to_batches(tables.BATCH_ROWS), table.schema, schema, Counter(None, None),
        **{"cozy:collection": tables.describe_collection(subset)},
    )  # fmt: skip
    return {"rows": count, "columns": names}
