"""`opsbot migrate` and `opsbot state export|import`: the state database upgraded, and what a team
configured moved out of it and into another."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from bot.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CANNOT_RUN,
    EXIT_OK,
    config_option,
    settings_or_exit,
    start_logging,
)
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.state.store import Store


@click.command()
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

    settings = settings_or_exit(config_path)
    start_logging(settings, False)
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


@click.group()
def state() -> None:
    """Export or import what a team configured (chat settings, subscriptions, goals, campaigns,
    alert rules, spend plans) as JSON: to move from SQLite to PostgreSQL, or between environments."""


def _state_store(config_path: str | None) -> Store:
    from bot.state.store import Store

    settings = settings_or_exit(config_path)
    start_logging(settings, False)
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
