"""A sliding-window send limiter, for platforms that cap messages per chat per minute (WeCom's group
robots, DingTalk's groups): sends queue for a free slot instead of being refused by the platform,
and a send that would have to wait too long becomes a non-permanent `DeliveryError`, which the
outbox retries later. Never the 21st message of a minute, never a dropped one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bot.adapters.base import DeliveryError

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class MinuteLimiter:
    """At most `limit` sends in any `window` seconds for one destination (`name`). `acquire` waits
    for a free slot when it comes within `max_wait`, else raises; `throttled` closes the
    destination for `backoff` seconds after the platform said "too fast" anyway (another sender on
    the same robot or app). The clock and the sleep are injectable so tests need not wait a minute."""

    def __init__(self, name: str, *, limit: int, window: float = 60.0, backoff: float = 60.0, reason: str,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.name = name
        self.limit = limit
        self.window = window
        self.backoff = backoff
        self.reason = reason  # the DeliveryError's reason prefix, e.g. "wecom_rate_limit"
        self.clock = clock
        self.sleep = sleep
        self.sent: deque[float] = deque()
        self.closed_until = 0.0
        self._lock = asyncio.Lock()

    def wait_needed(self) -> float:
        now = self.clock()
        while self.sent and self.sent[0] <= now - self.window:
            self.sent.popleft()
        wait = max(0.0, self.closed_until - now)
        if len(self.sent) >= self.limit:
            wait = max(wait, self.sent[-self.limit] + self.window - now)
        return wait

    async def acquire(self, max_wait: float) -> None:
        async with self._lock:  # one destination's sends queue here in order
            waited = 0.0
            while (wait := self.wait_needed()) > 0:
                if waited + wait > max_wait:
                    raise DeliveryError(f"{self.reason}: {self.name} is at {self.limit} messages a minute; "
                                        f"next slot in {wait:.0f}s", permanent=False)
                log.info("%s: waiting %.1fs for its per-minute limit", self.name, wait)
                await self.sleep(wait)
                waited += wait
            self.sent.append(self.clock())

    def throttled(self) -> None:
        self.closed_until = self.clock() + self.backoff


class Limiters:
    """One `MinuteLimiter` per destination, made on first use."""

    def __init__(self, *, limit: int, window: float = 60.0, backoff: float = 60.0, reason: str,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._make = lambda name: MinuteLimiter(name, limit=limit, window=window, backoff=backoff, reason=reason,
                                                clock=clock, sleep=sleep)
        self._by_name: dict[str, MinuteLimiter] = {}

    def __getitem__(self, name: str) -> MinuteLimiter:
        if name not in self._by_name:
            self._by_name[name] = self._make(name)
        return self._by_name[name]
