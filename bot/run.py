"""`opsbot run`: every configured adapter (and later the scheduler) on one event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from bot.adapters.base import Adapter
from bot.config import Settings
from bot.core import Dispatcher

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


async def serve(settings: Settings, dispatcher: Dispatcher, adapters: list[Adapter]) -> None:
    """Start everything, wait for SIGINT/SIGTERM, then stop in reverse order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[Adapter] = []
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.info("%s adapter running", adapter.platform)
        await stop.wait()
        log.info("shutting down")
    finally:
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", adapter.platform)
        dispatcher.services.executor.shutdown(wait=True)
