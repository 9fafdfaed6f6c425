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

Answers asked for with `shared=True` (the slow ones) are also handed to a `SharedBackend` when
one is set (opsbot's state database, bot/state/shared.py), so every instance serves the answer any of
them computed. They travel as JSON (`encode`/`decode`): plain values, dates, tuples and the
frozen dataclasses of metrics/ — decoding builds only those, never an arbitrary object, and an
answer that would not come back equal is simply not shared.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 30 * 60
MAX_ENTRIES = 64  # answers are small (counts per segment or cohort); this bounds them all the same


class SharedBackend(Protocol):
    """Where instances keep answers for one another: encoded text by the digest of its key."""

    def load(self, key: str) -> tuple[str, float, str] | None:
        """(version, computed at in epoch seconds, value) as saved, or None."""

    def save(self, key: str, version: str, computed_at: float, value: str) -> None: ...


@dataclass
class _Entry:
    version: Hashable
    made: float
    value: Any


class ResultCache:
    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic, shared: SharedBackend | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self.shared = shared
        self._wall = wall  # the shared backend's clock: instances do not share a monotonic one
        self._floor = float("-inf")  # wall time before which a shared answer counts as dropped
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Hashable, version: Hashable, compute: Callable[[], T], shared: bool = False) -> T:
        """The kept answer to `key` at data `version`, else `compute()` kept. `shared`: also look
        for it in, and give it to, the shared backend (for answers slow enough to be worth a
        round trip to it)."""
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
            backend = self.shared if shared else None
            found = self._load(backend, key, version) if backend is not None else None
            if found is not None:
                value, age = found
                self._keep(key, version, value, self._clock() - age)
                return value  # type: ignore[no-any-return]
            value = compute()
            with self._lock:
                self.misses += 1
            self._keep(key, version, value, self._clock())
            if backend is not None:
                self._save(backend, key, version, value)
            return value

    def _keep(self, key: Hashable, version: Hashable, value: Any, made: float) -> None:
        with self._lock:
            self._entries[key] = _Entry(version, made, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            self._computing.pop(key, None)

    def _load(self, backend: SharedBackend, key: Hashable, version: Hashable) -> tuple[Any, float] | None:
        """(the answer, its age in seconds) from the backend when it is fresh and of this version.
        A backend that fails or holds what cannot be read costs a computation, never the answer."""
        try:
            row = backend.load(digest(key))
            if row is None:
                return None
            kept_version, computed_at, text = row
            age = self._wall() - computed_at
            if kept_version != encode(version) or age > self.ttl or computed_at < self._floor:
                return None
            value = decode(text)
        except Exception:
            log.warning("reading a kept answer failed; computing it", exc_info=True)
            return None
        with self._lock:
            self.hits += 1
        return value, max(0.0, age)

    def _save(self, backend: SharedBackend, key: Hashable, version: Hashable, value: Any) -> None:
        try:
            text = encode(value)
            if decode(text) != value:
                log.debug("answer %r does not survive encoding: not shared", key)
                return
            backend.save(digest(key), encode(version), self._wall(), text)
        except Exception:  # an answer that cannot be shared is still this instance's answer
            log.warning("sharing a kept answer failed", exc_info=True)

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
            self._floor = self._wall() - age  # and the shared backend's as old: recompute them too

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# ---- how answers travel to the shared backend ------------------------------------------------

_TAG = "§"  # a key no answer's own dict uses: tagged objects are {"§": kind, ...}
_ALLOWED_MODULE = "metrics."  # the only dataclasses decode builds


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [_plain(v) for v in value]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and k != _TAG for k in value):
            return {k: _plain(v) for k, v in value.items()}
        return {_TAG: "dict", "v": [[_plain(k), _plain(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not cls.__module__.startswith(_ALLOWED_MODULE):
            raise TypeError(f"{cls.__module__}.{cls.__qualname__} is not an answer type")
        return {_TAG: "dataclass", "t": f"{cls.__module__}:{cls.__qualname__}",
                "v": {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    raise TypeError(f"cannot keep a {type(value).__name__} in the shared cache")


def _unplain(value: Any) -> Any:
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(_TAG)
    if kind is None:
        return {k: _unplain(v) for k, v in value.items()}
    if kind == "datetime":
        return datetime.fromisoformat(value["v"])
    if kind == "date":
        return date.fromisoformat(value["v"])
    if kind == "tuple":
        return tuple(_unplain(v) for v in value["v"])
    if kind == "dict":
        return {_unplain(k): _unplain(v) for k, v in value["v"]}
    if kind == "dataclass":
        cls = _answer_class(value["t"])
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {k: _unplain(v) for k, v in value["v"].items()}
        made = cls(**{k: v for k, v in values.items() if fields[k].init})
        for k, v in values.items():
            if not fields[k].init:
                object.__setattr__(made, k, v)
        return made
    raise ValueError(f"unknown kept-answer tag {kind!r}")


def _answer_class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith(_ALLOWED_MODULE) or "." in qualname:
        raise ValueError(f"{name!r} is not an answer type")
    cls = getattr(importlib.import_module(module), qualname)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ValueError(f"{name!r} is not an answer type")
    return cls


def encode(value: Any) -> str:
    """An answer (or a key, or a data version) as JSON text; TypeError for what cannot travel."""
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))


def decode(text: str) -> Any:
    return _unplain(json.loads(text))


def digest(key: Hashable) -> str:
    """A fixed-length name for a key, the same in every process (hash() is salted per process)."""
    return hashlib.sha256(encode(key).encode("utf-8")).hexdigest()
