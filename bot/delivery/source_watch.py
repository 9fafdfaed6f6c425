"""Tell the admins once when the data source goes away, and once when it is back.

Commands keep answering "data source unavailable" meanwhile (bot/dispatch.py); this only
makes sure a person hears about the outage without a message per failed command. The
notices go through the outbox, so a second instance that sees the same outage in the
same ten-minute bucket queues the same key and nothing is posted twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from bot.config import Settings
from bot.context import ChatRef
from bot.delivery.outbox import Outbox
from bot.reply import Reply
from bot.state.store import Store
from bot.text.messages import t

log = logging.getLogger(__name__)


class SourceWatch:
    def __init__(self, settings: Settings, store: Store, wake: Callable[[], None] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.outbox = Outbox(store)
        self.wake = wake
        self.clock = clock or (lambda: datetime.now(UTC))
        self.down_since: datetime | None = None
        self._lock = threading.Lock()

    def observe(self, reachable: bool, reason: str = "") -> None:
        """The warehouse's reachability listener (metrics.data.warehouse.Warehouse.reachability)."""
        if reachable:
            self.answered()
        else:
            self.failed(reason)

    def failed(self, reason: str) -> None:
        """A question could not reach the warehouse. Called from worker threads and the loop alike."""
        with self._lock:
            if self.down_since is not None:
                return
            self.down_since = self.clock()
        log.error("data source unavailable (%s): admins are told once; commands answer 'unavailable'", reason)
        self._notify("down", self.down_since, reason=reason)

    def answered(self) -> None:
        """A question reached the warehouse: if it was down, it is back."""
        if self.down_since is None:  # the common case, without taking the lock
            return
        with self._lock:
            since, self.down_since = self.down_since, None
        if since is None:
            return
        minutes = max(1, round((self.clock() - since).total_seconds() / 60))
        log.warning("data source is back after about %d minute(s)", minutes)
        self._notify("back", since, minutes=minutes)

    def _notify(self, kind: str, since: datetime, **params: object) -> None:
        chat = self.settings.access.admin_chat
        if chat is None:
            return
        lang = self.settings.bot.language
        local = since.astimezone(self.settings.zone)
        reply = Reply(title=t(lang, f"source_{kind}_title"),
                      text=[t(lang, f"source_{kind}", since=local.strftime("%H:%M"), **params)],
                      data={"source": kind, "since": since.isoformat()})
        bucket = since.replace(minute=since.minute - since.minute % 10, second=0, microsecond=0)
        try:
            if self.outbox.enqueue(f"source-{kind}:{bucket.isoformat()}", ChatRef.parse(chat), reply) and self.wake:
                self.wake()
        except Exception:  # the state database may be down too: the log line above still says it
            log.warning("could not queue the data-source notice for %s", chat, exc_info=True)
