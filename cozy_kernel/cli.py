"""``cozy``: the command-line face. It parses, calls one core function and prints.

Exit codes: 0 ok · 1 unexpected · 2 usage · 3 consent required · 4 bad input · 5 integrity.
Errors are one line on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from cozy_kernel.errors import ConsentRequired, CozyError, GrantRequired, UsageError

LANGUAGES = ("en", "es", "fr")
FIX_TERMS = "read them with: cozy terms show; then: cozy terms accept"


class Context:
    def __init__(self, home: str | None, debug: bool) -> None:
        self.home = home
        self.debug = debug


pass_ctx = click.make_pass_decorator(Context)


def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="COZY_HOME",
    help="Workspace folder (default: $COZY_HOME, the JupyterHub user's home, or the "
    "platform's user data folder).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(package_name="cozy-notebook", prog_name="cozy")
@click.pass_context
def cli(ctx: click.Context, home: str | None, debug: bool) -> None:
    """Cozy Notebook: your own data, in your own store, in your own notebooks."""
    if home is not None:
        # Code that resolves the workspace itself (a connector's saved profiles) must agree.
        os.environ["COZY_HOME"] = str(Path(home).expanduser().absolute())
    ctx.obj = Context(home, debug)


@cli.group("connectors")
def connectors_group() -> None:
    """Connectors that bring data into the workspace."""


@connectors_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def connectors_list(ctx: Context, as_json: bool) -> None:
    """List every connector, connected or not, and why one is disabled."""
    from cozy_kernel import api

    items = api.connectors(home=ctx.home)
    if as_json:
        _emit_json(items)
        return
    for item in items:
        state = "connected" if item["connected"] else "available"
        if not item["enabled"]:
            state = f"disabled: {item['error']}"
        click.echo(f"{item['id']:<20} {item.get('name', ''):<24} {item.get('kind', ''):<6} {state}")


@cli.command()
@click.argument("connector_id")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="A setting; repeatable.")
@click.option(
    "--secret-env",
    "secret_envs",
    multiple=True,
    metavar="FIELD=ENVVAR",
    help="Read a secret from an environment variable instead of asking; repeatable.",
)
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.option("--yes", is_flag=True, help="Grant after showing the consent screen, without asking.")
@pass_ctx
def connect(
    ctx: Context,
    connector_id: str,
    pairs: tuple[str, ...],
    secret_envs: tuple[str, ...],
    lang: str,
    yes: bool,
) -> None:
    """Connect a connector: show what it shares, ask for consent, store its settings."""
    from cozy_kernel import api
    from cozy_kernel.connections import parse_assignments

    settings = parse_assignments(list(pairs))
    secrets = _secrets_from(connector_id, parse_assignments(list(secret_envs)), ctx.home)
    try:
        stored = api.connect(connector_id, settings, secrets=secrets, home=ctx.home, method="cli")
    except GrantRequired:
        _ask_grant(connector_id, ctx.home, lang, yes, settings, "connected")
        stored = api.connect(
            connector_id, settings, grant=True, secrets=secrets, home=ctx.home, method="cli"
        )
    shown = ", ".join(f"{k}={v}" for k, v in sorted(stored.items())) or "default settings"
    click.echo(f"connected {connector_id} ({shown})")
    message = api.link(connector_id, home=ctx.home)
    if message:
        click.echo(message)
    click.echo(f"next: cozy sync {connector_id}")


def _secrets_from(connector_id: str, envs: dict[str, str], home: str | None) -> dict[str, str]:
    """Secrets from ``--secret-env`` variables, else asked without echo on a terminal."""
    from getpass import getpass

    from cozy_kernel import api

    values: dict[str, str] = {}
    for field, variable in envs.items():
        value = os.environ.get(variable)
        if not value:
            raise UsageError(f"--secret-env {field}={variable}: ${variable} is not set")
        values[field] = value
    for needed in api.missing_secrets(connector_id, home=home):
        if needed["name"] in values:
            continue
        if not sys.stdin.isatty():
            raise UsageError(
                f"{connector_id} needs its {needed['label']}",
                hint=f"give it with --secret-env {needed['name']}=ENVVAR",
            )
        values[needed["name"]] = getpass(f"{needed['label']}: ")
    return values


@cli.command()
@click.argument("connector_id")
@click.option("--erase", is_flag=True, help="Also delete everything this connector brought.")
@click.option("--yes", is_flag=True, help="Do not ask before erasing.")
@pass_ctx
def disconnect(ctx: Context, connector_id: str, erase: bool, yes: bool) -> None:
    """Withdraw consent for a connector; --erase deletes its data too."""
    from cozy_kernel import api

    if erase and not _confirm(
        f"Erase every row, file and setting that {connector_id} brought? This cannot be undone.",
        yes,
    ):
        raise UsageError("nothing was erased")
    erased = api.disconnect(connector_id, erase=erase, home=ctx.home, method="cli")
    click.echo(f"withdrew consent for {connector_id}; it will not sync again until reconnected")
    for name, count in erased.items():
        click.echo(f"erased {count} rows from {name}")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--account", help="Account name for files that carry no account id.")
@click.option("--importer", help="Use this importer instead of detecting the format.")
@click.option(
    "--option",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="An importer option, e.g. date_order=dmy; repeatable.",
)
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.option("--yes", is_flag=True, help="Grant the importer after showing what it collects.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def import_(
    ctx: Context,
    paths: tuple[Path, ...],
    account: str | None,
    importer: str | None,
    pairs: tuple[str, ...],
    lang: str,
    yes: bool,
    as_json: bool,
) -> None:
    """Import bank statements (OFX/QFX, QIF, CSV, camt.053/052); all or nothing."""
    from cozy_kernel import api
    from cozy_kernel.connections import parse_assignments

    options = parse_assignments(list(pairs))
    granted: list[str] = []
    while True:
        try:
            report = api.import_files(
                list(paths), account=account, importer=importer, options=options,
                grant=granted, home=ctx.home, method="cli",
            )  # fmt: skip
            break
        except GrantRequired as needed:
            if needed.connector in granted:
                raise
            _ask_grant(needed.connector, ctx.home, lang, yes, {}, "imported")
            granted.append(needed.connector)
    if as_json:
        _emit_json(report)
        return
    for run in report["runs"]:
        click.echo(
            f"{run['connector']}: {run['added']} added, {run['updated']} updated, "
            f"{run['unchanged']} unchanged, {len(run['rejected'])} rejected, "
            f"{len(run['skipped'])} skipped (run {run['run_id']})"
        )
        for kind in ("rejected", "skipped"):
            for line in run[kind][:20]:
                click.echo(f"  {kind}: {line}")
            if len(run[kind]) > 20:
                click.echo(f"  … and {len(run[kind]) - 20} more: cozy import … --json")


@cli.command()
@click.argument("connector_id", required=False)
@click.option("--full", is_flag=True, help="Refetch everything, ignoring the saved cursor.")
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Sync every connected connector that runs by itself (for cron); paused ones wait.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def sync(ctx: Context, connector_id: str | None, full: bool, every: bool, as_json: bool) -> None:
    """Fetch new data from a connected connector; all or nothing."""
    from tqdm import tqdm

    from cozy_kernel import api

    if every == (connector_id is not None):
        raise UsageError("name one connector, or give --all")
    if every:
        _sync_all(ctx, as_json)
        return
    assert connector_id is not None
    with tqdm(desc=f"sync {connector_id}", unit=" rows", disable=None, leave=False) as bar:

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = api.sync(connector_id, full=full, home=ctx.home, progress=progress)
    if as_json:
        _emit_json(report.as_dict())
        return
    click.echo(
        f"{connector_id}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected (run {report.run_id})"
    )
    for reason in report.rejected[:20]:
        click.echo(f"  rejected: {reason}")
    if len(report.rejected) > 20:
        click.echo(f"  … and {len(report.rejected) - 20} more: cozy runs {connector_id} --json")


def _sync_all(ctx: Context, as_json: bool) -> None:
    """``cozy sync --all``: exit 1 when any connector failed or waits for the user."""
    from cozy_kernel import api

    results = api.sync_all(home=ctx.home)
    if as_json:
        _emit_json(results)
    for result in [] if as_json else results:
        if result["outcome"] == "ok":
            click.echo(f"{result['connector']}: {result['added']} added, "
                       f"{result['updated']} updated")  # fmt: skip
        else:
            click.echo(f"{result['connector']}: {result['outcome']}: {result['error']}", err=True)
    if any(result["outcome"] != "ok" for result in results):
        sys.exit(1)


@cli.command("schedule")
@click.argument("connector_id")
@click.argument("frequency", type=click.Choice(["daily", "weekly", "off"]))
@pass_ctx
def schedule_command(ctx: Context, connector_id: str, frequency: str) -> None:
    """Let a connector sync by itself daily or weekly, at a random time, or never."""
    from cozy_kernel import api

    state = api.schedule(connector_id, frequency, home=ctx.home)
    upcoming = state["next_run"] or "not scheduled"
    click.echo(f"{connector_id}: {state['frequency']}; next run: {upcoming}")


@cli.command()
@click.argument("connector_id", required=False)
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def runs(ctx: Context, connector_id: str | None, limit: int, as_json: bool) -> None:
    """Show the sync run log, newest first."""
    from cozy_kernel import api

    items = api.runs(connector_id, limit=limit, home=ctx.home)
    if as_json:
        _emit_json(items)
        return
    for r in items:
        click.echo(
            f"#{r['id']:<5} {r['connector']:<16} {r['started_at']} {r['outcome']:<8} "
            f"+{r['added']} ~{r['updated']} ={r['unchanged']} !{r['rejected']}"
            + (f"  {r['error']}" if r["error"] else "")
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def collections(ctx: Context, as_json: bool) -> None:
    """List the collections the workspace holds."""
    from cozy_kernel import api

    items = api.collections(home=ctx.home)
    if as_json:
        _emit_json(items)
        return
    for item in items:
        click.echo(f"{item['name']:<24} {item['rows']:>10} rows  changed {item['changed_at']}")


@cli.command()
@click.argument("name")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "parquet", "ofx", "beancount"]),
    default="csv",
    show_default=True,
    help="ofx and beancount: bank.transactions for other accounting software.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option("--since", help="First date, inclusive (YYYY-MM-DD).")
@click.option("--until", help="Last date, inclusive (YYYY-MM-DD).")
@click.option("--columns", help="Comma-separated columns to keep.")
@click.option(
    "--safe-csv",
    is_flag=True,
    help="csv: put a ' before texts a spreadsheet would run as formulas (=, +, -, @).",
)
@pass_ctx
def frame(
    ctx: Context,
    name: str,
    fmt: str,
    out: Path | None,
    since: str | None,
    until: str | None,
    columns: str | None,
    safe_csv: bool,
) -> None:
    """Write a collection as CSV, JSON, Parquet, OFX or Beancount (to stdout unless --out)."""
    from cozy_kernel import api, frames

    cols = [c.strip() for c in columns.split(",")] if columns else None
    if fmt == "parquet" and out is None and sys.stdout.isatty():
        raise UsageError("parquet is binary: give --out FILE or redirect stdout")
    with api.session(ctx.home) as (ws, store):
        data = frames.table(ws, store, name, since=since, until=until, columns=cols)
        held = fmt == "ofx" and "bank.accounts" in store.collection_names()
        accounts = frames.table(ws, store, "bank.accounts") if held else None
    if out is None:
        frames.write(data, fmt, sys.stdout.buffer, accounts, safe_csv=safe_csv)
        sys.stdout.buffer.flush()
        return
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("wb") as handle:
        frames.write(data, fmt, handle, accounts, safe_csv=safe_csv)
    tmp.replace(out)
    click.echo(f"wrote {data.num_rows} rows of {name} to {out}", err=True)


@cli.command()
@click.argument("name")
@click.argument("key")
@click.option(
    "--set",
    "pairs",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Your value for a field (empty for none); repeatable.",
)
@click.option(
    "--revert",
    "reverts",
    multiple=True,
    metavar="FIELD",
    help="Show the source's value again for this field; repeatable.",
)
@pass_ctx
def edit(
    ctx: Context, name: str, key: str, pairs: tuple[str, ...], reverts: tuple[str, ...]
) -> None:
    """Set fields of one row to your own values; no sync overwrites them."""
    from cozy_kernel import api
    from cozy_kernel.connections import parse_assignments
    from cozy_kernel.frames import collection_from_store
    from cozy_kernel.schemas import parse_text

    if not pairs and not reverts:
        raise UsageError("give --set FIELD=VALUE or --revert FIELD")
    if pairs:
        with api.session(ctx.home) as (_, store):
            coll = collection_from_store(store, name)
            values = {
                f: parse_text(coll.field(f), text)
                for f, text in parse_assignments(list(pairs)).items()
            }
        api.edit(name, key, home=ctx.home, **values)
        click.echo(f"edited {name} {key}: {', '.join(sorted(values))}")
    if reverts:
        count = api.revert(name, key, *reverts, home=ctx.home)
        click.echo(f"reverted {count} field(s) of {name} {key}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def doctor(ctx: Context, as_json: bool) -> None:
    """Check the workspace and every connector."""
    from cozy_kernel import api

    result = api.doctor(home=ctx.home)
    if as_json:
        _emit_json(result)
    else:
        ws = result["workspace"]
        click.echo(
            f"workspace  {ws['path']} (mode {ws['mode']}, {ws['store_bytes']} bytes, "
            f"schema {ws['schema_version']}/{ws['schema_latest']}, {ws['journal_mode']})"
        )
        agreed = result["terms"]
        click.echo(
            f"terms      {agreed['state']} (accepted {agreed['accepted_version'] or 'none'}, "
            f"current {agreed['latest_version']})"
        )
        for name, count in result["collections"].items():
            click.echo(f"collection {name}: {count} rows")
        for c in result["connectors"]:
            mark = "ok " if c["ok"] else "FAIL"
            click.echo(f"{mark} connector {c['id']}: {c['message']}")
        for problem in result["problems"]:
            click.echo(f"problem: {problem}")
    if not result["ok"]:
        sys.exit(1)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--notebook-dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Folder JupyterLab opens (default: the workspace's notebooks folder).",
)
@click.argument("jupyter_args", nargs=-1, type=click.UNPROCESSED)
@pass_ctx
def lab(ctx: Context, notebook_dir: str | None, jupyter_args: tuple[str, ...]) -> NoReturn:
    """Start JupyterLab on 127.0.0.1 with this workspace."""
    from cozy_kernel.notebooks import notebooks_dir
    from cozy_kernel.workspace import Workspace

    ws = Workspace.open(ctx.home)
    os.environ["COZY_HOME"] = str(ws.root)
    if notebook_dir is None:
        notebook_dir = str(notebooks_dir(ws))
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip=127.0.0.1",
        f"--ServerApp.root_dir={Path(notebook_dir).absolute()}",
        # No telemetry: JupyterLab's news feed and update check would call the internet.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    argv.extend(jupyter_args)
    click.echo(f"workspace {ws.root}", err=True)
    os.execv(sys.executable, argv)


@cli.group("terms")
def terms_group() -> None:
    """The terms of use and privacy notice, and your acceptance of them."""


@terms_group.command("show")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def terms_show(lang: str) -> None:
    """Print the current terms in a language."""
    from cozy_kernel import api

    click.echo(api.terms_text(lang), nl=False)


@terms_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def terms_status(ctx: Context, as_json: bool) -> None:
    """Whether the current terms are accepted (accepted, required or warning)."""
    from cozy_kernel import api

    status = api.terms_status(home=ctx.home)
    if as_json:
        _emit_json(status)
        return
    click.echo(
        f"{status['state']}: accepted {status['accepted_version'] or 'none'}, "
        f"current {status['latest_version']}"
    )
    if status["state"] == "warning":
        click.echo(f"new terms take effect on {status['blocks_on']}: {FIX_TERMS}")
    elif status["state"] == "required":
        click.echo(f"to continue: {FIX_TERMS}")


@terms_group.command("accept")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.option("--yes", is_flag=True, help="Accept without asking (after reading them).")
@pass_ctx
def terms_accept(ctx: Context, lang: str, yes: bool) -> None:
    """Show the current terms and record your acceptance."""
    from cozy_kernel import api

    if not yes:
        click.echo(api.terms_text(lang), err=True)
    if not _confirm("Do you accept these terms?", yes):
        raise ConsentRequired("the terms were not accepted", hint="cozy terms accept")
    event = api.accept_terms(language=lang, home=ctx.home, method="cli")
    click.echo(f"accepted the terms, version {event['version']} ({event['language']})")


@terms_group.command("decline")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@pass_ctx
def terms_decline(ctx: Context, lang: str) -> None:
    """Refuse the current terms; your data stays, but nothing can use it."""
    from cozy_kernel import api

    event = api.decline_terms(language=lang, home=ctx.home, method="cli")
    click.echo(f"declined the terms, version {event['version']}; data paths are closed")


@cli.group("consent")
def consent_group() -> None:
    """Your consent history and receipts."""


@consent_group.command("log")
@click.option("--verify", is_flag=True, help="Check the hash chain; exit 5 if tampered with.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def consent_log(ctx: Context, verify: bool, as_json: bool) -> None:
    """Every consent event, oldest first."""
    from cozy_kernel import api

    events = api.consent_log(verify=verify, home=ctx.home)
    if as_json:
        _emit_json(events)
        return
    for e in events:
        about = e["connector"] or e["scope"]
        click.echo(
            f"#{e['seq']:<4} {e['at']}  {e['kind']:<9} {about:<16} {e['version'] or ''} "
            f"{e['language'] or ''} via {e['method']}"
        )
    if verify:
        click.echo(f"verified: {len(events)} events, chain intact")


@consent_group.command("receipts")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@pass_ctx
def consent_receipts(ctx: Context, out: str) -> None:
    """Write a Kantara v1.1 receipt (.json) and a DPV record (.jsonld) per consent."""
    from cozy_kernel import api

    written = api.receipts(out, home=ctx.home)
    click.echo(f"wrote {len(written) // 2} receipts to {out}")


@cli.command()
@click.option("--json", "fmt", flag_value="json", help="Print JSON.")
@click.option("--md", "fmt", flag_value="md", default=True, help="Print Markdown (default).")
@click.option("--html", "fmt", flag_value="html", help="Print a self-contained HTML page.")
@pass_ctx
def report(ctx: Context, fmt: str) -> None:
    """What your workspace holds, who processes it, and your consent history."""
    from cozy_kernel import api, transparency

    data = api.report(home=ctx.home)
    if fmt == "json":
        _emit_json(data)
    else:
        click.echo(transparency.render(data, fmt), nl=False)


@cli.group("categories")
def categories_group() -> None:
    """Your category tree: add, rename, move and merge categories."""


@categories_group.command("list")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def categories_list(ctx: Context, lang: str, as_json: bool) -> None:
    """Show the tree, indented, with each category's id."""
    from cozy_kernel import budget

    tree = budget.categories(lang, home=ctx.home)
    if as_json:
        _emit_json(tree[["id", "parent", "name", "path", "depth"]].to_dict("records"))
        return
    for row in tree.to_dict("records"):
        click.echo(f"{'  ' * int(row['depth'])}{row['name']}  [{row['id']}]")


@categories_group.command("add")
@click.argument("category_id")
@click.option("--parent", help="The category to put it under (default: its id's prefix).")
@click.option("--name", help="Its name (default: from its id).")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@pass_ctx
def categories_add(
    ctx: Context, category_id: str, parent: str | None, name: str | None, lang: str
) -> None:
    """Add a category, e.g. food:market."""
    from cozy_kernel import budget

    node = budget.add_category(category_id, parent=parent, name=name, language=lang, home=ctx.home)
    click.echo(f"added {node['id']} under {node['parent'] or 'the top'}")


@categories_group.command("rename")
@click.argument("category_id")
@click.argument("name")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@pass_ctx
def categories_rename(ctx: Context, category_id: str, name: str, lang: str) -> None:
    """Give a category your own name (its id and history stay)."""
    from cozy_kernel import budget

    budget.rename_category(category_id, name, language=lang, home=ctx.home)
    click.echo(f"renamed {category_id} to {name!r} ({lang})")


@categories_group.command("move")
@click.argument("category_id")
@click.option("--parent", help="The new parent; without it the category goes to the top.")
@pass_ctx
def categories_move(ctx: Context, category_id: str, parent: str | None) -> None:
    """Move a category, with everything under it."""
    from cozy_kernel import budget

    budget.move_category(category_id, parent, home=ctx.home)
    click.echo(f"moved {category_id} under {parent or 'the top'}")


@categories_group.command("merge")
@click.argument("source")
@click.argument("into")
@pass_ctx
def categories_merge(ctx: Context, source: str, into: str) -> None:
    """Fold SOURCE into INTO: its children, rules, budgets and transactions follow."""
    from cozy_kernel import budget

    moved = budget.merge_categories(source, into, home=ctx.home)
    click.echo(
        f"merged {source} into {into} ({moved['children']} children, {moved['rules']} rules, "
        f"{moved['budgets']} budgets moved)"
    )


@cli.group("rules")
def rules_group() -> None:
    """Your categorisation rules, and the ones proposed from your corrections."""


def _print_rules(table: Any) -> None:
    conditions = ("contains", "regex", "min_amount", "max_amount", "account", "counterparty")
    for rule in table.to_dict("records"):
        when = ", ".join(f"{c}={rule[c]}" for c in conditions if rule[c] is not None)
        click.echo(
            f"#{rule['id']:<4} {rule['state']:<8} p{rule['priority']:<3} {when} -> "
            f"{rule['category']}  ({rule['origin']})"
        )


@rules_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def rules_list(ctx: Context, as_json: bool) -> None:
    """Every rule, in the order they are tried."""
    from cozy_kernel import budget

    table = budget.rules(home=ctx.home)
    if as_json:
        _emit_json(table.astype(object).where(table.notna(), None).to_dict("records"))
        return
    _print_rules(table)


@rules_group.command("add")
@click.argument("category")
@click.option("--contains", help="Text in the label or counterparty (any case).")
@click.option("--regex", help="A regular expression searched in the label (any case).")
@click.option("--min-amount", help="Lowest amount, signed (negative is money out).")
@click.option("--max-amount", help="Highest amount, signed.")
@click.option("--account", help="Only this account id.")
@click.option("--counterparty", help="Only this counterparty (any case).")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher is tried first.")
@pass_ctx
def rules_add(
    ctx: Context,
    category: str,
    contains: str | None,
    regex: str | None,
    min_amount: str | None,
    max_amount: str | None,
    account: str | None,
    counterparty: str | None,
    priority: int,
) -> None:
    """Add a rule: transactions meeting every condition go to CATEGORY."""
    from cozy_kernel import budget

    rule_id = budget.add_rule(
        category, contains=contains, regex=regex, min_amount=min_amount,
        max_amount=max_amount, account=account, counterparty=counterparty,
        priority=priority, home=ctx.home,
    )  # fmt: skip
    click.echo(f"added rule #{rule_id} -> {category}")


@rules_group.command("remove")
@click.argument("rule_id", type=int)
@pass_ctx
def rules_remove(ctx: Context, rule_id: int) -> None:
    """Delete a rule (or turn down a proposed one)."""
    from cozy_kernel import budget

    budget.remove_rule(rule_id, home=ctx.home)
    click.echo(f"removed rule #{rule_id}")


@rules_group.command("propose")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def rules_propose(ctx: Context, as_json: bool) -> None:
    """Propose rules from your corrections; accept them with: cozy rules accept ID."""
    from cozy_kernel import budget

    table = budget.propose_rules(home=ctx.home)
    if as_json:
        _emit_json(table.astype(object).where(table.notna(), None).to_dict("records"))
        return
    if table.empty:
        click.echo("no new rule to propose")
        return
    _print_rules(table)
    click.echo("accept one with: cozy rules accept ID")


@rules_group.command("accept")
@click.argument("rule_id", type=int)
@pass_ctx
def rules_accept(ctx: Context, rule_id: int) -> None:
    """Make a proposed rule active."""
    from cozy_kernel import budget

    budget.accept_rule(rule_id, home=ctx.home)
    click.echo(f"rule #{rule_id} is active")


@cli.group("budget")
def budget_group() -> None:
    """Monthly budgets per category, and how spending compares."""


@budget_group.command("set")
@click.argument("category")
@click.argument("amount")
@click.option("--month", help="Only this month (YYYY-MM); default: every month.")
@click.option("--currency", default="EUR", show_default=True)
@click.option("--envelope", is_flag=True, help="Carry what is left (or overspent) forward.")
@pass_ctx
def budget_set(
    ctx: Context, category: str, amount: str, month: str | None, currency: str, envelope: bool
) -> None:
    """Budget AMOUNT a month for CATEGORY (and everything under it)."""
    from cozy_kernel import budget

    budget.set_budget(
        category, amount, month=month, currency=currency, envelope=envelope, home=ctx.home
    )
    click.echo(f"budget {category}: {amount} {currency} {'in ' + month if month else 'a month'}")


@budget_group.command("show")
@click.option("--month", help="The month (YYYY-MM); default: the latest with transactions.")
@click.option("--currency", help="The currency, when your accounts hold several.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def budget_show(ctx: Context, month: str | None, currency: str | None, as_json: bool) -> None:
    """Budget against actual for a month, pro-rated by day for the current month."""
    from cozy_kernel import budget

    book = budget.book(currency=currency, explain=False, home=ctx.home)
    if book.missing is not None:
        raise UsageError(book.missing)
    chosen = month or book.months[-1]
    # Envelopes carry from month to month: compute every month up to the one shown.
    months = [m for m in book.months if m < chosen] + [chosen]
    table = budget.budget_vs_actual(book.transactions, book.budgets, book.tree, months)
    table = table[table["month"] == chosen]
    if as_json:
        _emit_json(table.to_dict("records"))
        return
    if table.empty:
        click.echo(f"no budget set for {chosen}: cozy budget set CATEGORY AMOUNT")
        return
    click.echo(f"{chosen} ({book.currency})  budget  actual  remaining")
    for row in table.itertuples():
        flag = "  over" if row.over else ""
        click.echo(f"  {row.name:<24} {row.budget:>10} {row.actual:>10} {row.available:>10}{flag}")


@cli.command("export")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The bundle to write (a .zip); replaced only once complete.",
)
@click.option(
    "--share",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Bundle only this notebook, run fresh, and the rows and columns it read.",
)
@click.option(
    "--pseudonymise",
    is_flag=True,
    help="With --share: counterparties and labels become stable pseudonyms.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what the bundle holds as JSON.")
@pass_ctx
def export(ctx: Context, out: Path, share: Path | None, pseudonymise: bool, as_json: bool) -> None:
    """Write all your data (or one notebook's share) as a verifiable bundle."""
    from tqdm import tqdm

    from cozy_kernel import portability

    if pseudonymise and share is None:
        raise UsageError("--pseudonymise goes with --share NOTEBOOK")
    with tqdm(desc="export", unit=" rows", disable=None, leave=False) as bar:

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        summary = portability.export_bundle(
            out, share=share, pseudonymise=pseudonymise, progress=progress, home=ctx.home
        )
    if as_json:
        _emit_json(summary)
        return
    held = ", ".join(
        f"{name} ({rows if isinstance(rows, int) else rows['rows']} rows)"
        for name, rows in summary["collections"].items()
    )
    click.echo(f"wrote {out} ({summary['bytes']} bytes): {held or 'no collection'}")
    click.echo(f"check it with: cozy verify {out}")


@cli.command("verify")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print what the bundle holds as JSON.")
def verify(path: Path, as_json: bool) -> None:
    """Check a bundle: fixity, Data Package, notebooks, ledger, format; exit 5 if not."""
    from cozy_kernel import portability

    summary = portability.verify_bundle(path)
    if as_json:
        _emit_json(summary)
        return
    _print_bundle(summary)


def _print_bundle(summary: dict[str, Any]) -> None:
    click.echo(
        f"verified {summary['path']}: {summary['kind']} bundle, format {summary['version']}, "
        f"made {summary['created']} by instance {summary['source']}"
    )
    for name, rows in summary["collections"].items():
        click.echo(f"  {name}: {rows} rows")
    click.echo(
        f"  {summary['files']} files, {summary['bytes']} bytes, "
        f"{len(summary['notebooks'])} notebooks, {summary['consent_events']} consent events"
    )


@cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Restore without showing the bundle and asking.")
@click.option("--json", "as_json", is_flag=True, help="Print what was restored as JSON.")
@pass_ctx
def restore(ctx: Context, path: Path, yes: bool, as_json: bool) -> None:
    """Merge a bundle into this workspace: no duplicates; twice is the same as once."""
    from tqdm import tqdm

    from cozy_kernel import api, portability
    from cozy_kernel.terms import require

    if not yes:
        with api.session(ctx.home) as (_, store):
            require(store)
        _print_bundle(portability.verify_bundle(path))
        if not _confirm("Merge this bundle into your workspace?", yes):
            raise UsageError("nothing was restored")
    with tqdm(desc="restore", unit=" rows", disable=None, leave=False) as bar:

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        summary = portability.restore_bundle(path, home=ctx.home, progress=progress)
    if as_json:
        _emit_json(summary)
        return
    if not summary["changed"]:
        click.echo(f"{path}: already restored, nothing changed")
        return
    for name, c in summary["collections"].items():
        click.echo(
            f"{name}: {c['added']} added, {c['updated']} updated, {c['unchanged']} unchanged"
            + (f", {c['conflicts']} kept (another connector holds them)" if c["conflicts"] else "")
        )
    click.echo(f"{len(summary['files']['added'])} files added (run {summary['run_id']})")
    for kept in summary["files"]["kept_yours"]:
        click.echo(f"  kept your {kept}; the bundle's differs")
    if summary["kind"] == "full":
        click.echo("connectors keep their settings but need your grant again: cozy connect ID")


def _ask_grant(
    connector_id: str, home: str | None, lang: str, yes: bool, settings: dict[str, str], done: str
) -> None:
    """Show a connector's consent screen and ask; a "no" is recorded as a refusal."""
    from cozy_kernel import api

    screen = api.consent_screen(connector_id, language=lang, settings=settings, home=home)
    if screen["state"] == "changed":
        click.echo("This connector changed what it collects or who processes it.", err=True)
    click.echo(screen["text"], err=True)
    if not _confirm(f"Grant {connector_id} access on these terms?", yes):
        api.refuse_grant(connector_id, home=home, method="cli")
        raise ConsentRequired(f"you did not grant {connector_id!r}; nothing was {done}")


def _confirm(question: str, yes: bool) -> bool:
    """Ask on a terminal; without one, only ``--yes`` counts as an answer."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ConsentRequired(f"{question} — no terminal to ask on", hint="rerun with --yes")
    return click.confirm(question, default=False, err=True)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the command and turn errors into one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="cozy", standalone_mode=False)
    except CozyError as exc:
        if debug:
            raise
        click.echo(f"cozy: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx is not None else "cozy"
        click.echo(f"cozy: {exc.format_message()} (see: {path} --help)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"cozy: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("cozy: aborted", err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"cozy: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug)", err=True
        )
        sys.exit(1)
    sys.exit(0)


@cli.command("transfer")
@click.option("--to", "url", required=True, help="The other instance's address (its base URL).")
@click.option("--token", help="Its Jupyter token (asked without echo when not given).")
@click.option("--token-env", metavar="ENVVAR", help="Read the token from this variable instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the other instance's summary as JSON.")
@pass_ctx
def transfer_command(
    ctx: Context, url: str, token: str | None, token_env: str | None, as_json: bool
) -> None:
    """Send all your data to another running Cozy Notebook, which verifies and restores it."""
    from getpass import getpass

    from tqdm import tqdm

    from cozy_kernel import api

    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise UsageError(f"--token-env {token_env}: ${token_env} is not set")
    if not token:
        if not sys.stdin.isatty():
            raise UsageError("give the other instance's token", hint="--token-env ENVVAR")
        token = getpass("Token of the other instance: ")
    with tqdm(desc="export", unit=" rows", disable=None, leave=False) as bar:

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        summary = api.transfer(url, token, home=ctx.home, progress=progress)
    if as_json:
        _emit_json(summary)
        return
    for name, c in summary["collections"].items():
        click.echo(f"{name}: {c['added']} added, {c['updated']} updated, "
                   f"{c['unchanged']} unchanged there")  # fmt: skip
    click.echo(f"{url}: restored (run {summary['run_id']})")
