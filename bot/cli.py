"""The `opsbot` command line."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from bot.adapters.console import CONSOLE_USER, ConsoleAdapter, render
from bot.app import build_dispatcher, ensure_demo_shop
from bot.config import Settings, load_settings
from bot.core import CONSOLE, ChatRef, Incoming
from bot.errors import ConfigError
from metrics.periods import now_in

EXIT_OK, EXIT_BAD_INPUT, EXIT_CANNOT_RUN = 0, 1, 2

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="TOML config file (default: the built-in demo shop).",
)


def _settings(config_path: str | None) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group()
@click.version_option(package_name="opsbot")
def main() -> None:
    """opsbot: KPIs, digests and alerts for e-commerce operations teams."""


@main.command()
@config_option
@click.option("--rebuild", is_flag=True, help="Rebuild the demo shop even if it is up to date.")
def demo(config_path: str | None, rebuild: bool) -> None:
    """Build the synthetic demo shop (if needed) and open a console to talk to opsbot."""
    _logging(True)
    settings = _settings(config_path)
    if not settings.is_demo:
        click.echo("opsbot: `demo` uses the built-in shop; remove [warehouse] url or use `opsbot ask`.", err=True)
        sys.exit(EXIT_CANNOT_RUN)
    ensure_demo_shop(settings, now_in(settings.zone).date(), rebuild=rebuild)
    logging.getLogger().setLevel(logging.WARNING)
    click.echo("opsbot demo: a synthetic shop whose data ends yesterday. Try `kpi gmv yesterday`, "
               "`kpi gmv orders aov conversion last 7d vs previous by channel` or `help`; `quit` leaves.")
    adapter = ConsoleAdapter(build_dispatcher(settings))
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
def ask(text: str, config_path: str | None, as_json: bool, chat: str | None, user: str | None, verbose: bool) -> None:
    """Send one command and print the reply (exit 0 answered, 1 bad input, 2 opsbot could not run)."""
    _logging(verbose)
    settings = _settings(config_path)
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
    reply = asyncio.run(dispatcher.dispatch(Incoming(text=text, chat=chat_ref, user=user_id)))
    click.echo(render(reply, as_json))
    sys.exit(EXIT_BAD_INPUT if reply.error else EXIT_OK)


@main.command()
@config_option
@click.option("--now", "now_flag", is_flag=True, required=True, help="Build the digest now (the only mode).")
@click.option("--chat", default=None, help="Deliver to this chat (e.g. slack:C0123) instead of printing it.")
@click.option("--weekly", is_flag=True, help="The weekly digest (last week vs the week before).")
def digest(config_path: str | None, now_flag: bool, chat: str | None, weekly: bool) -> None:
    """Build today's digest and print it, or deliver it to a chat once a day (for cron)."""
    from bot.adapters.console import ConsoleAdapter
    from bot.outbox import Deliverer, Outbox
    from bot.run import build_adapters
    from handlers.digest import DigestSpec, build_digest

    _logging(False)
    settings = _settings(config_path)
    try:
        target = ChatRef.parse(chat) if chat else CONSOLE
        dispatcher = build_dispatcher(settings)
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
def run(config_path: str | None) -> None:
    """Serve every platform whose token is in the environment (Slack, Telegram)."""
    from bot.run import build_adapters, serve

    _logging(True)
    settings = _settings(config_path)
    try:
        dispatcher = build_dispatcher(settings)
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


if __name__ == "__main__":
    main()
