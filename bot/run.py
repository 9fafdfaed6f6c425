"""`opsbot run`: every configured adapter, the scheduler and the outbox deliverer on one event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from sqlalchemy import select

from bot.adapters.base import Adapter
from bot.config import Settings
from bot.core import ChatRef, Dispatcher
from bot.outbox import Deliverer, Outbox
from bot.scheduler import Scheduler
from bot.store import Store, Subscription

log = logging.getLogger(__name__)


def build_adapters(settings: Settings, dispatcher: Dispatcher) -> list[Adapter]:
    """The adapters whose credentials are in the environment."""
    adapters: list[Adapter] = []
    if os.environ.get("SLACK_BOT_TOKEN"):
        from bot.adapters.slack import slack_from_env

        adapters.append(slack_from_env(settings, dispatcher))
    if os.environ.get("TELEGRAM_BOT_TOKEN"):
        from bot.adapters.telegram import telegram_from_env

        adapters.append(telegram_from_env(settings, dispatcher))
    return adapters


def sync_config_subscriptions(settings: Settings, store: Store) -> None:
    """`[[digest]]` tables become subscriptions once; editing the file updates them, removing deletes them."""
    wanted = {
        (d.chat, d.cadence, d.weekday, d.at): d for d in settings.digest
    }
    with store.session() as s, s.begin():
        existing = s.scalars(select(Subscription).where(Subscription.source == "config")).all()
        seen = set()
        for sub in existing:
            key = (sub.chat, sub.cadence, sub.weekday, sub.at)
            d = wanted.get(key)
            if d is None:
                s.delete(sub)
                continue
            seen.add(key)
            sub.metrics, sub.by, sub.wait_until = list(d.metrics), d.by, d.wait_until
            sub.timezone = settings.bot.timezone
        for key, d in wanted.items():
            if key not in seen:
                s.add(Subscription(chat=d.chat, cadence=d.cadence, weekday=d.weekday, at=d.at,
                                   timezone=settings.bot.timezone, metrics=list(d.metrics), by=d.by,
                                   wait_until=d.wait_until, paused=False, source="config", created_by="config"))


def _follow_chat_changes(adapters: list[Adapter], outbox: Outbox) -> None:
    """A Telegram group that became a supergroup keeps its subscriptions; a chat that removed
    the bot has them paused instead of failing every morning."""
    for adapter in adapters:
        if adapter.platform != "telegram":
            continue

        async def migrated(old: ChatRef, new: ChatRef | None) -> None:
            if new is not None:
                await asyncio.to_thread(outbox.follow_migration, str(old), new)

        async def removed(chat: ChatRef, _: ChatRef | None) -> None:
            await asyncio.to_thread(outbox.pause_chat, str(chat), "the bot was removed from the chat")

        adapter.on_chat_migrated = migrated  # type: ignore[attr-defined]
        adapter.on_bot_removed = removed  # type: ignore[attr-defined]


async def serve(settings: Settings, dispatcher: Dispatcher, adapters: list[Adapter]) -> None:
    """Start everything, wait for SIGINT/SIGTERM, then stop in reverse order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    store = dispatcher.services.store
    await asyncio.to_thread(sync_config_subscriptions, settings, store)
    outbox = Outbox(store)
    _follow_chat_changes(adapters, outbox)
    deliverer = Deliverer(outbox, {a.platform: a for a in adapters})
    scheduler = Scheduler(dispatcher, outbox, deliverer, settings.state_url())
    started: list[Adapter] = []
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.info("%s adapter running", adapter.platform)
        await scheduler.start()
        await stop.wait()
        log.info("shutting down")
    finally:
        await scheduler.stop()
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", adapter.platform)
        dispatcher.services.executor.shutdown(wait=True)
