"""`opsbot run` and `opsbot digest`: serving the chat platforms, and cron's digest delivered to one of them."""

from __future__ import annotations

import asyncio
import sys

import click

from bot.adapters.console import render
from bot.app import build_dispatcher
from bot.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CANNOT_RUN,
    EXIT_OK,
    config_option,
    settings_or_exit,
    start_logging,
)
from bot.context import CONSOLE, ChatRef
from bot.errors import ConfigError


@click.command()
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

    settings = settings_or_exit(config_path)
    start_logging(settings, False)
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


@click.command()
@config_option
def run(config_path: str | None) -> None:
    """Serve every platform whose token is in the environment (Slack, Telegram)."""
    from bot.run import build_adapters, serve
    from bot.state.store import Store

    settings = settings_or_exit(config_path)
    start_logging(settings, True)
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
