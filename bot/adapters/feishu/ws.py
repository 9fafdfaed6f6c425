"""The SDK's long connection (lark_oapi.ws.Client) beside our asyncio loop.

The SDK's ws client runs on a module-level event loop (`lark_oapi.ws.client.loop`) and its
`start()` blocks forever with `run_until_complete`, so it cannot share our loop. It gets a thread
of its own with a fresh loop put in that module variable; each frame's payload is handed to
`on_payload` in that thread, which must return at once (the SDK acks the frame with whatever
it returns), and our adapter moves the work to its own loop with run_coroutine_threadsafe.
`stop()` turns reconnecting off, closes the socket on the SDK's loop and stops that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import lark_oapi as lark
import lark_oapi.ws.client as ws_client
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

log = logging.getLogger(__name__)


class _RawHandler(EventDispatcherHandler):
    """Hands the SDK's decoded frame payload (event JSON) to us as bytes, untouched: one parser
    (bot.adapters.feishu.inbound) serves the long connection and HTTP callbacks alike."""

    def __init__(self, on_payload: Callable[[bytes], Any]) -> None:
        super().__init__()
        self._on_payload = on_payload

    def _do_without_validation(self, payload: bytes) -> Any:
        return self._on_payload(payload)


class LongConnection:
    def __init__(self, app_id: str, app_secret: str, domain: str, on_payload: Callable[[bytes], Any]) -> None:
        self.client = ws_client.Client(app_id, app_secret, log_level=lark.LogLevel.WARNING,
                                       event_handler=_RawHandler(on_payload), domain=domain, auto_reconnect=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None

    @property
    def connected(self) -> bool:
        return self.client._conn is not None

    async def start(self, timeout: float) -> None:
        """Open the connection in its thread; returns once connected, raises what stopped it."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="feishu-ws", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.connected:
            if self._failed is not None:
                raise self._failed
            if not self._thread.is_alive() or time.monotonic() > deadline:
                await self.stop()
                raise TimeoutError("feishu: the long connection did not open")
            await asyncio.sleep(0.02)

    def _run(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        # the SDK schedules everything on this module variable; the loop it made at import is put
        # back when we are done (dropped, it would be collected unclosed: a ResourceWarning)
        previous = ws_client.loop
        ws_client.loop = self._loop
        try:
            self.client.start()
        except RuntimeError:
            pass  # "Event loop stopped before Future completed": our stop()
        except BaseException as exc:  # a refused app id/secret: ClientException
            self._failed = exc
        finally:
            with contextlib.suppress(Exception):
                pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()
            if ws_client.loop is self._loop:
                ws_client.loop = previous

    async def _close(self) -> None:
        """On the SDK's loop: stop its reader, then close the socket. Left running with reconnecting
        off, the reader re-raises the close (ConnectionClosedOK) in a task nobody awaits: an
        ERROR "receive message loop exit" and "Task exception was never retrieved" on every stop."""
        for task in asyncio.all_tasks():
            if getattr(task.get_coro(), "__qualname__", "") == "Client._receive_message_loop":
                task.cancel()
        await self.client._disconnect()

    async def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self.client._auto_reconnect = False  # a closed socket must not be reopened
        if not loop.is_closed():
            with contextlib.suppress(Exception):
                closing = asyncio.run_coroutine_threadsafe(self._close(), loop)
                await asyncio.wait_for(asyncio.wrap_future(closing), 5)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 5)
        self._loop = self._thread = None
