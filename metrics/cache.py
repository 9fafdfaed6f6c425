"""Answers to the slow questions (segments, retention, LTV), kept while their data is unchanged.

Those questions read every customer's whole history: at millions of orders they take seconds
however the SQL is written, yet their answer only changes when the data does (they look at
closed days). So the answer is kept and handed out again while

- the warehouse's data version is the same: the file's size and modification time for the
  embedded engines (an `opsbot ingest` changes them at once), and
- it is younger than `ttl` seconds: for a database server, which gives no cheap version, this
  is how stale a late correction may stay (`[warehouse] cache_minutes`).

Only one thread computes a given answer; the others wait for it rather than repeat it. Keys
include the scope of the warehouse asking, so scoped chats never see one another's answers.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 30 * 60
MAX_ENTRIES = 64  # answers are small (counts per segment or cohort); this bounds them all the same


@dataclass
class _Entry:
    version: Hashable
    made: float
    value: Any


class ResultCache:
    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Hashable, version: Hashable, compute: Callable[[], T]) -> T:
        if self.ttl <= 0:
            return compute()
        hit = self._fresh(key, version)
        if hit is not None:
            return hit.value  # type: ignore[no-any-return]
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            hit = self._fresh(key, version)  # computed by another thread while this one waited
            if hit is not None:
                return hit.value  # type: ignore[no-any-return]
            value = compute()
            with self._lock:
                self.misses += 1
                self._entries[key] = _Entry(version, self._clock(), value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                self._computing.pop(key, None)
            return value

    def _fresh(self, key: Hashable, version: Hashable) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version != version or self._clock() - entry.made > self.ttl:
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def drop_older_than(self, age: float) -> None:
        """Forget answers older than `age` seconds (a warm-up recomputes them before they expire)."""
        with self._lock:
            now = self._clock()
            for key in [k for k, e in self._entries.items() if now - e.made > age]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
