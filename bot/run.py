"""`opsbot run`: every configured adapter, the scheduler and the outbox deliverer on one event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable

from sqlalchemy import select, text

from bot.adapters.base import Adapter
from bot.config import Settings
from bot.context import ChatRef
from bot.delivery.outbox import Deliverer, Outbox
from bot.delivery.scheduler import Scheduler
from bot.dispatch import Dispatcher
from bot.ops import OpsMetrics, OpsServer, readiness_checks
from bot.state.store import Store, Subscription

log = logging.getLogger(__name__)


def build_adapters(settings: Settings, dispatcher: Dispatcher) -> list[Adapter]:
    """The adapters whose credentials are in the environment."""
    adapters: list[Adapter] = []
    if os.environ.get("SLACK_BOT_TOKEN"):
        from bot.adapters.slack.adapter import slack_from_env

        adapters.append(slack_from_env(settings, dispatcher))
    if os.environ.get("TELEGRAM_BOT_TOKEN"):
        from bot.adapters.telegram.adapter import telegram_from_env

        adapters.append(telegram_from_env(settings, dispatcher))
    if os.environ.get("FEISHU_APP_ID"):
        from bot.adapters.feishu.adapter import feishu_from_env

        adapters.append(feishu_from_env(settings, dispatcher))
    if os.environ.get("DINGTALK_CLIENT_ID"):
        from bot.adapters.dingtalk.adapter import dingtalk_from_env

        adapters.append(dingtalk_from_env(settings, dispatcher))
    if settings.wecom and settings.wecom.robots:
        from bot.adapters.wecom.adapter import wecom_from_env

        adapters.append(wecom_from_env(settings))
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
            sub.sections = list(d.sections)
            sub.timezone = settings.bot.timezone
        for key, d in wanted.items():
            if key not in seen:
                s.add(Subscription(chat=d.chat, cadence=d.cadence, weekday=d.weekday, at=d.at,
                                   timezone=settings.bot.timezone, metrics=list(d.metrics), by=d.by,
                                   wait_until=d.wait_until, sections=list(d.sections), paused=False,
                                   source="config", created_by="config"))


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


DRAIN_SECONDS = 20.0  # at SIGTERM: how long answers, jobs and deliveries in flight may take to finish
CLOSE_SECONDS = 5.0  # then: how long closing one adapter's connections may take


async def start_ops(settings: Settings, dispatcher: Dispatcher, outbox: Outbox, deliverer: Deliverer,
                    scheduler: Scheduler, adapters: list[Adapter]) -> OpsServer | None:
    """/healthz, /readyz and /metrics on `[ops]` host:port, with every metric hooked up; None when off.

    A port already taken is logged, not fatal: chat users matter more than the scrape.
    """
    if settings.ops.port == 0:
        return None
    metrics = OpsMetrics()
    dispatcher.observers.append(metrics.observe_command)
    deliverer.observers.append(metrics.observe_delivery)
    dispatcher.replays.observers.append(metrics.observe_replay)
    scheduler.job_started.append(metrics.observe_job_start)
    scheduler.job_finished.append(metrics.observe_job_end)
    metrics.watch_outbox(outbox.counts)
    metrics.watch_adapters(adapters)
    server = OpsServer(metrics, readiness_checks(dispatcher.services, adapters), host=settings.ops.host, port=settings.ops.port)
    try:
        await server.start()
    except OSError as exc:
        log.error("ops: cannot listen on %s:%s (%s); running without /healthz and /metrics",
                  settings.ops.host, settings.ops.port, exc.strerror or type(exc).__name__)
        return None
    return server


async def serve(settings: Settings, dispatcher: Dispatcher, adapters: list[Adapter], *,
                drain_seconds: float = DRAIN_SECONDS) -> None:
    """Start everything, wait for SIGINT/SIGTERM, then stop cleanly (see `shutdown`).

    A second signal during the shutdown is not caught: SIGTERM then ends the process at once.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    store = dispatcher.services.store
    await asyncio.to_thread(sync_config_subscriptions, settings, store)
    outbox = Outbox(store)
    _follow_chat_changes(adapters, outbox)
    deliverer = Deliverer(outbox, {a.platform: a for a in adapters})
    scheduler = Scheduler(dispatcher, outbox, deliverer, settings.state_url())
    ops = await start_ops(settings, dispatcher, outbox, deliverer, scheduler, adapters)
    watching = _watch_source(dispatcher, deliverer)
    started: list[Adapter] = []
    scheduling = False
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.info("%s adapter running", adapter.platform)
        await scheduler.start()
        scheduling = True
        await stop.wait()
        log.info("shutting down: no new work; finishing what is in flight (up to %.0f s)", drain_seconds)
    finally:
        if watching is not None:
            watching.cancel()
        await shutdown(scheduler if scheduling else None, started, ops, drain_seconds)
        dispatcher.services.executor.shutdown(wait=True)


def _watch_source(dispatcher: Dispatcher, deliverer: Deliverer, every: float = 60.0) -> asyncio.Task[None] | None:
    """Outage notices go out at once, and while the warehouse is down it is probed every minute,
    so "it is back" is said even when nobody asks a question meanwhile."""
    watch = dispatcher.services.source_watch
    if watch is None:
        return None
    loop = asyncio.get_running_loop()
    watch.wake = lambda: loop.call_soon_threadsafe(deliverer.wake)  # called from worker threads

    def probe() -> None:
        with dispatcher.services.warehouse.connect() as conn:  # tells the watch either way
            conn.execute(text("select 1"))

    async def loop_forever() -> None:
        while True:
            await asyncio.sleep(every)
            if watch.down_since is not None:
                try:
                    await asyncio.to_thread(probe)
                except Exception:
                    log.debug("data source still unavailable")

    return asyncio.create_task(loop_forever(), name="opsbot-source-watch")


async def shutdown(scheduler: Scheduler | None, adapters: list[Adapter], ops: OpsServer | None,
                   drain_seconds: float) -> None:
    """Stop in an order that loses nothing in flight, within about `drain_seconds`.

    1. Take no new work: readiness turns 503, adapters stop receiving (Slack's socket or
       listener, Telegram's polling or webhook), the scheduler starts no job and the
       deliverer no new item.
    2. Let what is in flight finish, all at once and bounded: answers being computed or
       sent, running jobs, the deliveries in hand. What is still running at the deadline is
       cancelled; undelivered outbox items wait for the next start.
    3. Close the adapters' connections and the ops server.
    """
    if ops is not None:
        ops.draining = True
    for adapter in reversed(adapters):
        stop_receiving = getattr(adapter, "stop_receiving", None)
        if stop_receiving is not None:
            try:
                await stop_receiving()
            except Exception:
                log.exception("stopping the %s adapter from receiving failed", adapter.platform)
    in_flight: list[Awaitable[None]] = []
    if scheduler is not None:
        in_flight.append(scheduler.stop(timeout=drain_seconds))
    for adapter in adapters:
        drain = getattr(adapter, "drain", None)
        if drain is not None:
            in_flight.append(drain(drain_seconds))
    for result in await asyncio.gather(*in_flight, return_exceptions=True):
        if isinstance(result, Exception):
            log.error("shutdown: finishing work in flight failed", exc_info=result)
    for adapter in reversed(adapters):
        try:
            await asyncio.wait_for(adapter.stop(), CLOSE_SECONDS)
        except Exception:
            log.exception("stopping the %s adapter failed", adapter.platform)
    if ops is not None:
        await ops.stop()
    log.info("stopped")
