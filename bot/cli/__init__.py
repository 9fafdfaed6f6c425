"""The `opsbot` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.adapters.console import CONSOLE_USER, ConsoleAdapter, render
from bot.app import build_dispatcher, ensure_demo_shop
from bot.config import Settings, load_settings
from bot.context import CONSOLE, ChatRef, Incoming
from bot.errors import ConfigError
from bot.logs import setup_logging
from metrics.periods import now_in

if TYPE_CHECKING:
    from bot.state.store import Store

EXIT_OK, EXIT_BAD_INPUT, EXIT_CANNOT_RUN = 0, 1, 2

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="TOML config file (default: the built-in demo shop).",
)
out_option = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Write files a reply brings (segment exports) here (default: the working directory).",
)


def _settings(config_path: str | None) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)


def _logging(settings: Settings | None, verbose: bool) -> None:
    """Text or JSON lines on stderr as `[log]` says, secrets redacted; quiet (warnings) unless verbose."""
    setup_logging(settings.log if settings is not None else None, quiet=not verbose)


@click.group()
@click.version_option(package_name="opsbot")
def main() -> None:
    """opsbot: KPIs, digests and alerts for e-commerce operations teams."""


@main.command()
@config_option
@click.option("--rebuild", is_flag=True, help="Rebuild the demo shop even if it is up to date.")
@out_option
def demo(config_path: str | None, rebuild: bool, out_dir: Path | None) -> None:
    """Build the synthetic demo shop (if needed) and open a console to talk to opsbot."""
    settings = _settings(config_path)
    _logging(settings, True)
    if not settings.is_demo:
        click.echo("opsbot: `demo` uses the built-in shop; remove [warehouse] url or use `opsbot ask`.", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    ensure_demo_shop(settings, now_in(settings.zone).date(), rebuild=rebuild)
    logging.getLogger().setLevel(logging.WARNING)
    click.echo("opsbot demo: a synthetic shop whose data ends yesterday. Try `kpi gmv yesterday`, "
               "`kpi gmv orders aov conversion last 7d vs previous by channel` or `help`; `quit` leaves.")
    adapter = ConsoleAdapter(build_dispatcher(settings), files_dir=out_dir)
    try:
        asyncio.run(adapter.repl())
    except KeyboardInterrupt:
        click.echo()


@main.command()
@click.argument("text")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the reply as JSON, with its raw data.")
@click.option("--chat", default=None, help="Answer as if asked in this chat, e.g. slack:C0123.")
@click.option("--user", default=None, help="Answer as if asked by this user, e.g. slack:U0123.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@out_option
def ask(text: str, config_path: str | None, as_json: bool, chat: str | None, user: str | None, verbose: bool,
        out_dir: Path | None) -> None:
    """Send one command and print the reply (exit 0 answered, 1 bad input, 2 opsbot could not run).

    Files the reply brings are written to --out (or the working directory) and their paths printed;
    with --json they stay in the JSON as base64."""
    settings = _settings(config_path)
    _logging(settings, verbose)
    try:
        chat_ref = ChatRef.parse(chat) if chat else CONSOLE
        if user and ":" not in user:
            raise ValueError(f"--user {user!r} must look like 'slack:U0123'")
    except ValueError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    user_id = user or (CONSOLE_USER if chat_ref == CONSOLE else f"{chat_ref.platform}:unknown")
    try:
        dispatcher = build_dispatcher(settings)
    except ConfigError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    except Exception as exc:  # the warehouse cannot be opened: opsbot cannot run
        logging.getLogger(__name__).debug("startup failed", exc_info=True)
        click.echo(f"opsbot: cannot open the warehouse ({type(exc).__name__}); check [warehouse] url", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    reply = asyncio.run(dispatcher.dispatch(Incoming(text=text, chat=chat_ref, user=user_id,
                                                         direct=chat_ref.platform == "console")))
    click.echo(render(reply, as_json, files_dir=None if as_json else (out_dir or Path.cwd())))
    sys.exit(EXIT_BAD_INPUT if reply.error else EXIT_OK)


@main.command()
@config_option
@click.option("--now", "now_flag", is_flag=True, required=True, help="Build the digest now (the only mode).")
@click.option("--chat", default=None, help="Deliver to this chat (e.g. slack:C0123) instead of printing it.")
@click.option("--weekly", is_flag=True, help="The weekly digest (last week vs the week before).")
def digest(config_path: str | None, now_flag: bool, chat: str | None, weekly: bool) -> None:
    """Build today's digest and print it, or deliver it to a chat once a day (for cron)."""
    from bot.adapters.console import ConsoleAdapter
    from bot.delivery.outbox import Deliverer, Outbox
    from bot.run import build_adapters
    from bot.state.store import Store
    from handlers.digest import DigestSpec, build_digest

    settings = _settings(config_path)
    _logging(settings, False)
    try:
        target = ChatRef.parse(chat) if chat else CONSOLE
        # cron's digest writes to the production state, as `run` does: the same [state] auto_migrate
        dispatcher = build_dispatcher(settings, store=Store(settings.state_url(),
                                                            migrate=settings.state.auto_migrate))
        adapters = {a.platform: a for a in build_adapters(settings, dispatcher)}
    except (ValueError, ConfigError) as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    adapters["console"] = ConsoleAdapter(dispatcher)
    if target.platform not in adapters:
        click.echo(f"opsbot: no {target.platform} adapter: set its token in the environment", err=True)
        sys.exit(EXIT_CANNOT_RUN)

    async def go() -> int:
        ctx = dispatcher.context_for(target)
        reply = await build_digest(ctx, DigestSpec("weekly" if weekly else "daily"))
        if target == CONSOLE:
            click.echo(render(reply))
            return EXIT_OK
        outbox = Outbox(dispatcher.services.store)
        key = f"digest:cli:{target}:{'weekly:' if weekly else ''}{ctx.now().date().isoformat()}"
        if not outbox.enqueue(key, target, reply):
            click.echo(f"already delivered today ({key}); nothing sent")
            return EXIT_OK
        await Deliverer(outbox, adapters).run_once()
        item = outbox.get(key)
        click.echo(f"{key}: {item.status if item else 'missing'}" + (f" ({item.last_error})" if item and item.last_error else ""))
        return EXIT_OK if item and item.status == "sent" else EXIT_BAD_INPUT

    sys.exit(asyncio.run(go()))


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too (duplicate keys, unknown statuses, ...).")
def check(config_path: str | None, as_json: bool, strict: bool) -> None:
    """Check the warehouse against the config: tables, columns, types, row counts, date ranges, problems.

    Exit 0 usable, 1 a required table or column is missing or unusable (with --strict: any
    warning), 2 the warehouse cannot be reached.
    """
    from metrics.data.check import run_check  # pandas and the drivers only for the commands that need them

    settings = _settings(config_path)
    _logging(settings, False)
    report = run_check(settings)
    click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if as_json else report.render())
    sys.exit(report.exit_code(strict))


@main.command()
@click.argument("table", type=click.Choice(["orders", "traffic", "marketing_spend"]))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@config_option
@click.option("--map", "maps", multiple=True, metavar="LOGICAL=HEADER",
              help="Read a logical column from this header, e.g. --map ordered_at=InvoiceDate (repeatable). "
                   "Without it a header with the logical name (any case) is used.")
@click.option("--set", "sets", multiple=True, metavar="LOGICAL=VALUE",
              help="Give a column the same value on every row, e.g. --set channel=search (repeatable).")
@click.option("--preset", default=None, metavar="NAME",
              help="A known export format: uci-retail (UCI Online Retail invoice lines).")
@click.option("--lines", is_flag=True,
              help="Rows are order lines: sum quantity x unit price into one order per order_id.")
@click.option("--quantity", default=None, metavar="HEADER", help="With --lines: the quantity column.")
@click.option("--unit-price", default=None, metavar="HEADER", help="With --lines: the unit price column.")
@click.option("--date-format", default=None, metavar="FORMAT",
              help="strptime layout of dates, e.g. '%d/%m/%Y %H:%M' (default: ISO 8601).")
@click.option("--timestamps", type=click.Choice(["local", "utc"]), default=None,
              help="Naive timestamps in the files are business-local or UTC (default: as [warehouse] timestamps).")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of CSV files, e.g. cp1252.")
@click.option("--delimiter", default=",", show_default=True, help="Field separator: ',', ';', or 'tab'.")
@click.option("--partial", is_flag=True,
              help="Load the valid rows of a file that has rejected rows (default: such a file loads nothing).")
@click.option("--rejects-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write <file>.rejects.csv here instead of beside each input.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ingest(
    table: str, files: tuple[Path, ...], config_path: str | None, maps: tuple[str, ...], sets: tuple[str, ...],
    preset: str | None, lines: bool, quantity: str | None, unit_price: str | None, date_format: str | None,
    timestamps: str | None, encoding: str, delimiter: str, partial: bool, rejects_dir: Path | None,
    progress: bool | None, as_json: bool,
) -> None:
    """Import CSV, gzip'd CSV or Parquet FILES into TABLE of the configured warehouse.

    Each file is one transaction: it goes in whole, or (when a row is rejected) not at all,
    with every rejected row listed and written to <file>.rejects.csv. Rows are upserted by
    key (order_id; day and channel), so importing a file again never duplicates anything.
    Exit 0 every file loaded, 1 a file was refused or failed, 2 nothing could be imported.
    """
    from metrics.data.ingest import IngestOptions, IngestSetupError, ingest_files, parse_assignments

    settings = _settings(config_path)
    _logging(settings, False)
    try:
        columns = parse_assignments(maps, "--map")
        columns.update({k: v for k, v in (("quantity", quantity), ("unit_price", unit_price)) if v})
        options = IngestOptions(
            columns=columns, constants=parse_assignments(sets, "--set"), preset=preset,
            lines=lines or bool(quantity or unit_price), date_format=date_format,
            timestamps=timestamps,  # type: ignore[arg-type]
            encoding=encoding, delimiter="\t" if delimiter in ("tab", "\\t") else delimiter,
            partial=partial, rejects_dir=rejects_dir,
        )
        report = ingest_files(settings, table, files, progress=progress, options=options)
    except IngestSetupError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if as_json else report.render())
    sys.exit(report.exit_code)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the flagged points as JSON.")
@click.option(
    "--sensitivity", type=click.Choice(["low", "medium", "high"]), default="medium", show_default=True,
    help="How big a deviation must be to be flagged (high flags more).",
)
def detect(file: str, as_json: bool, sensitivity: str) -> None:
    """Flag anomalies in a timestamp,value CSV of any regular grain (5-minute, hourly, daily)."""
    from bot.cli.detect import render_detect
    from metrics.anomaly.series import SeriesError, detect_csv

    _logging(None, False)
    try:
        results = detect_csv(file, sensitivity)  # type: ignore[arg-type]
    except SeriesError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(render_detect(results, as_json))
    sys.exit(EXIT_OK)


@main.command()
@config_option
def run(config_path: str | None) -> None:
    """Serve every platform whose token is in the environment (Slack, Telegram)."""
    from bot.run import build_adapters, serve
    from bot.state.store import Store

    settings = _settings(config_path)
    _logging(settings, True)
    try:
        # a state database behind the code is migrated here (or refused: [state] auto_migrate),
        # one ahead of it always refused, before anything else opens
        store = Store(settings.state_url(), migrate=settings.state.auto_migrate)
        dispatcher = build_dispatcher(settings, store=store)
        adapters = build_adapters(settings, dispatcher)
    except ConfigError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    if not adapters:
        click.echo("opsbot: no platform to serve: set SLACK_BOT_TOKEN (and SLACK_APP_TOKEN or "
                   "SLACK_SIGNING_SECRET) or TELEGRAM_BOT_TOKEN. See README.md.", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    try:
        asyncio.run(serve(settings, dispatcher, adapters))
    except ConfigError as exc:  # e.g. a token the platform refused at start-up
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)


@main.command()
@config_option
@click.option("--sql", is_flag=True, help="Print the SQL that would upgrade the state database (for a DBA); "
                                          "change nothing.")
@click.option("--check", is_flag=True, help="Only say where the state database stands: exit 0 up to date, "
                                            "1 behind (needs `opsbot migrate`), 2 ahead or unreadable.")
def migrate(config_path: str | None, sql: bool, check: bool) -> None:
    """Upgrade the state database to this opsbot's schema (back it up first; see README, Upgrading).

    Safe while other instances start: one migrates at a time, and an up-to-date database is left
    alone. A database upgraded by a newer opsbot is refused (exit 2) and never written to.
    """
    from sqlalchemy import create_engine

    from bot.state.migrate import StateSchemaError, describe, inspect_state, upgrade_sql
    from bot.state.store import Store

    settings = _settings(config_path)
    _logging(settings, False)
    url = settings.state_url()
    try:
        if sql or check:
            engine = create_engine(url)
            try:
                if sql:
                    click.echo(upgrade_sql(engine) or f"-- {describe(engine)} is up to date: nothing to apply", nl=False)
                    sys.exit(EXIT_OK)
                with engine.connect() as conn:
                    state = inspect_state(conn)
            finally:
                engine.dispose()
            if state.ahead:
                click.echo(f"{describe(engine)}: at revision {state.current}, ahead of this opsbot ({state.head})")
                sys.exit(EXIT_CANNOT_RUN)
            where = "before migrations" if state.legacy else (state.current or "empty")
            click.echo(f"{describe(engine)}: {where}, " + ("up to date" if state.up_to_date else
                       f"behind: this opsbot needs {state.head}; run `opsbot migrate`"))
            sys.exit(EXIT_OK if state.up_to_date else EXIT_BAD_INPUT)
        store = Store(url)
    except StateSchemaError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    found = store.schema
    store.dispose()
    if found.up_to_date:
        click.echo(f"{describe(store.engine)}: at {found.head}, up to date; nothing to do")
    else:
        was = "before migrations" if found.legacy else (found.current or "empty")
        click.echo(f"{describe(store.engine)}: upgraded from {was} to {found.head}")
    sys.exit(EXIT_OK)


@main.command("slack-manifest")
@config_option
def slack_manifest(config_path: str | None) -> None:
    """Print the Slack app manifest (paste it at api.slack.com/apps; see docs/slack.md), with the
    slash command `[slack] command` names."""
    from importlib.resources import files

    from bot.config import SlackSection

    command = (_settings(config_path).slack or SlackSection()).command
    # shipped in the package: an installation from the wheel has no checkout to copy it from
    manifest = files("bot.adapters.slack").joinpath("manifest.yaml").read_text(encoding="utf-8")
    manifest = manifest.replace("- command: /ops\n", f"- command: {command}\n")
    click.echo(manifest.replace('(try "/ops help")', f'(try "{command} help")'), nl=False)


@main.group()
def state() -> None:
    """Export or import what a team configured (chat settings, subscriptions, goals, campaigns,
    alert rules, spend plans) as JSON: to move from SQLite to PostgreSQL, or between environments."""


def _state_store(config_path: str | None) -> Store:
    from bot.state.store import Store

    settings = _settings(config_path)
    _logging(settings, False)
    try:
        # like `run`: a database behind is migrated or refused as [state] auto_migrate says
        return Store(settings.state_url(), migrate=settings.state.auto_migrate)
    except ConfigError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)


@state.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@config_option
def state_export(file: str, config_path: str | None) -> None:
    """Write the state database's configuration to FILE ('-': standard output)."""
    from bot.state.transfer import export_state, write_export

    store = _state_store(config_path)
    try:
        if file == "-":
            click.echo(json.dumps(export_state(store), indent=2, ensure_ascii=False))
            sys.exit(EXIT_OK)
        doc = write_export(store, file)
    finally:
        store.dispose()
    counts = ", ".join(f"{len(doc[s])} {s.replace('_', ' ')}" for s in
                       ("chat_settings", "subscriptions", "goals", "campaigns", "alert_rules", "spend_plans"))
    click.echo(f"exported {counts} to {file}")


@state.command("import")
@click.argument("file", type=click.File("rb"))
@config_option
@click.option("--dry-run", is_flag=True, help="Validate the file and say what would change; write nothing.")
def state_import(file: click.utils.LazyFile, config_path: str | None, dry_run: bool) -> None:
    """Import FILE (made by `opsbot state export`) into the state database, in one transaction.

    Safe to repeat: what is already there is recognised and left alone. Stop opsbot first (or restart
    it after): a running instance reads the schedule and chat languages at start. Exit 0 imported,
    1 the file is invalid (nothing written), 2 the state database cannot be used.
    """
    from bot.state.transfer import StateFileError, import_state, parse_state_file

    try:
        doc = parse_state_file(file.read())
    except StateFileError as exc:
        click.echo(f"opsbot: {file.name}: {exc}; nothing was imported", err=True)
        sys.exit(EXIT_BAD_INPUT)
    store = _state_store(config_path)
    try:
        report = import_state(store, doc, dry_run=dry_run)
    finally:
        store.dispose()
    click.echo(report.render())
    sys.exit(EXIT_OK)

