"""`opsbot demo` and `opsbot ask`: talking to opsbot from a terminal, in a console or one command at a time."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from bot.adapters.console import CONSOLE_USER, ConsoleAdapter, render
from bot.app import build_dispatcher, ensure_demo_shop
from bot.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CANNOT_RUN,
    EXIT_OK,
    config_option,
    out_option,
    settings_or_exit,
    start_logging,
)
from bot.context import CONSOLE, ChatRef, Incoming
from bot.errors import ConfigError
from metrics.periods import now_in


@click.command()
@config_option
@click.option("--rebuild", is_flag=True, help="Rebuild the demo shop even if it is up to date.")
@out_option
def demo(config_path: str | None, rebuild: bool, out_dir: Path | None) -> None:
    """Build the synthetic demo shop (if needed) and open a console to talk to opsbot."""
    settings = settings_or_exit(config_path)
    start_logging(settings, True)
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


@click.command()
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
    settings = settings_or_exit(config_path)
    start_logging(settings, verbose)
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
        # logged as "bot.cli", the name it has always had, whichever module of bot/cli/ holds `ask`
        logging.getLogger("bot.cli").debug("startup failed", exc_info=True)
        click.echo(f"opsbot: cannot open the warehouse ({type(exc).__name__}); check [warehouse] url", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    reply = asyncio.run(dispatcher.dispatch(Incoming(text=text, chat=chat_ref, user=user_id,
                                                         direct=chat_ref.platform == "console")))
    click.echo(render(reply, as_json, files_dir=None if as_json else (out_dir or Path.cwd())))
    sys.exit(EXIT_BAD_INPUT if reply.error else EXIT_OK)
