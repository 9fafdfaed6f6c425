"""What several opsbot instances must agree on, kept in the state database (no other server):

- events already taken (`SeenEvents`): a Slack event redelivered, or delivered to a second
  instance, is answered once;
- button tokens (`ButtonTokens`): a button whose command is too long for its platform's button
  data still works after a restart and on whichever instance its press reaches;
- rate limits (`SharedRateLimiter`): per-user and per-chat moving one-minute windows counted once
  for all instances, not once per process;
- kept answers (`StateAnswers`): the slow answers of metrics/data/cache.py, so the instance that did
  not compute segments, retention or LTV serves them warm all the same;
- signed requests already used (`ReplayGuard`, in `seen_events` too): a captured slash command,
  button click or webhook update posted again, to any instance, is refused (issue 23).

Every call here is blocking SQL: callers on the event loop go through `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.state.store import Base, ButtonToken, KeptAnswer, RateWindow, SeenEvent, Store, utcnow

log = logging.getLogger(__name__)

SEEN_EVENT_DAYS = 2  # Slack retries within minutes and redelivers for hours at most
# a button sits on an alert or a digest that may stay in the chat for weeks; older ones answer "expired"
BUTTON_TOKEN_DAYS = 90
WINDOW_SECONDS = 60.0


def _insert_new(session: Session, model: type[Base], **values: Any) -> bool:
    """INSERT the row unless its primary key exists; True when it was inserted. One statement that
    cannot fail on a conflict where the engine has ON CONFLICT (SQLite, PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name in ("postgresql", "sqlite"):
        dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
        table = model.__table__
        # RETURNING says whether the row went in: psycopg 3 reports no rowcount for this statement
        statement = dialect_insert(table).values(**values).on_conflict_do_nothing().returning(*table.primary_key)
        return session.connection().execute(statement).first() is not None
    try:
        with session.begin_nested():
            session.connection().execute(insert(model.__table__).values(**values))
        return True
    except IntegrityError:
        return False


class SeenEvents:
    def __init__(self, store: Store) -> None:
        self.store = store

    def first_time(self, key: str | None) -> bool:
        """Whether `key` (e.g. `slack:<event_id>`) is seen here for the first time, by any
        instance: one INSERT, which the second delivery's conflict turns into False."""
        if not key:
            return True  # nothing to dedupe on; better answer twice than never
        with self.store.session() as s, s.begin():
            return _insert_new(s, SeenEvent, key=key[:200], seen_at=utcnow())


class ButtonTokens:
    """The state-database side of a platform's button-token store (see CallbackStore)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, tokens: dict[str, str]) -> None:
        """Keep `token → command` pairs; a token already kept (the same command) is left as is."""
        if not tokens:
            return
        with self.store.session() as s, s.begin():
            for token, payload in tokens.items():
                _insert_new(s, ButtonToken, token=token, payload=payload, created_at=utcnow())

    def find(self, token: str) -> str | None:
        with self.store.session() as s:
            return s.scalar(select(ButtonToken.payload).where(ButtonToken.token == token[:64]))


class SharedRateLimiter:
    """Moving one-minute windows in the state database, exact under concurrency: a key's hits are
    read and written in one transaction holding its row (SELECT … FOR UPDATE on PostgreSQL; on
    SQLite the INSERT that opens the transaction takes the database's write lock)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def hit(self, key: str, per_minute: int) -> float | None:
        """Count one hit of `key` and return None, or, when it already has `per_minute` hits in the
        last minute, count nothing and return the seconds until the oldest of them leaves it."""
        with self.store.session() as s, s.begin():
            _insert_new(s, RateWindow, key=key[:300], hits=[], updated_at=utcnow())
            hits = s.scalar(select(RateWindow.hits).where(RateWindow.key == key[:300]).with_for_update()) or []
            now = self.clock()
            recent = [h for h in hits if h > now - WINDOW_SECONDS]
            if len(recent) >= per_minute:
                if len(recent) != len(hits):
                    s.execute(update(RateWindow).where(RateWindow.key == key[:300]).values(hits=recent))
                return recent[-per_minute] + WINDOW_SECONDS - now
            s.execute(update(RateWindow).where(RateWindow.key == key[:300])
                      .values(hits=[*recent, now], updated_at=utcnow()))
            return None


class StateAnswers:
    """metrics.data.cache.SharedBackend on the state database: encoded answers by the digest of their key."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def load(self, key: str) -> tuple[str, float, str] | None:
        with self.store.session() as s:
            row = s.get(KeptAnswer, key)
            if row is None:
                return None
            return row.version, _epoch(row.computed_at), row.value

    def save(self, key: str, version: str, computed_at: float, value: str) -> None:
        made = _naive_utc(computed_at)
        with self.store.session() as s, s.begin():
            if not _insert_new(s, KeptAnswer, key=key, version=version, computed_at=made, value=value):
                # the newer answer wins: an instance that computed later must not be overwritten
                # by one that finished a slower computation of older data
                s.execute(update(KeptAnswer).where(KeptAnswer.key == key, KeptAnswer.computed_at <= made)
                          .values(version=version, computed_at=made, value=value))


def _naive_utc(epoch: float) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=epoch)


def _epoch(stamp: datetime) -> float:
    return (stamp - datetime(1970, 1, 1)).total_seconds()


def prune(store: Store, now: datetime, answers_older_than: timedelta) -> dict[str, int]:
    """The nightly housekeeping of these tables (`now`: naive UTC): events past any redelivery,
    buttons past their life, windows nobody hit in the last minute, answers past the cache's ttl.
    Returns how many rows of each went."""
    cuts = {
        "seen_events": (SeenEvent.seen_at, now - timedelta(days=SEEN_EVENT_DAYS)),
        "button_tokens": (ButtonToken.created_at, now - timedelta(days=BUTTON_TOKEN_DAYS)),
        "rate_windows": (RateWindow.updated_at, now - timedelta(seconds=2 * WINDOW_SECONDS)),
        "kept_answers": (KeptAnswer.computed_at, now - answers_older_than),
    }
    removed = {}
    with store.session() as s, s.begin():
        for name, (column, before) in cuts.items():
            removed[name] = s.execute(delete(column.class_).where(column < before)).rowcount or 0
    return removed


# ---- replays (issue 23) ----------------------------------------------------------------------

# seconds the state database may take to record a request before the ack must go out anyway
# (Slack wants it within 3 s); this instance's own memory has decided by then
REPLAY_BUDGET = 1.0
REPLAY_OUTCOME = "refused:replay"  # the audit log's outcome of a refused second use


@dataclass(frozen=True)
class SignedRequest:
    """One authenticated request from a platform, as the replay guard sees it."""

    platform: str  # slack, telegram
    kind: str  # command, action, update: the metric's label
    # what makes it this request and no other, e.g. `slack:req:<sha256 of timestamp and body>`:
    # the signature covers exactly these bytes, so a replay has the same key
    key: str
    # epoch seconds after which the platform's own check refuses it anyway (Slack: its timestamp
    # plus the signature window); this instance forgets it then
    until: float
    # who and where, as the body says (authentic: it is signed), for the audit log
    chat: str = ""
    user: str = ""
    text: str = ""


class ReplayGuard:
    """Each signed request acts once, on whichever instance it reaches (issue 23).

    A request's key goes into `seen_events` with the same single INSERT as Slack event ids, so a
    second use, on this instance or another sharing the state database, conflicts and is refused:
    the platform gets its 200, nothing runs, the refusal is logged, counted (observers: metrics)
    and audited. The nightly housekeeping prunes the keys with the events, long after the
    signature window has closed.

    Keys are also kept in this process's memory for the signature window: a replay to the same
    instance is refused without asking the database, and while the database fails (or is slower
    than REPLAY_BUDGET) each instance still refuses what it has seen itself, instead of nothing.
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.time, budget: float = REPLAY_BUDGET) -> None:
        self.store = store
        self.clock = clock
        self.budget = budget
        self._seen = SeenEvents(store)
        self._local: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_prune = 0.0
        # threads of its own: a database write queued behind slow warehouse queries in the shared
        # pool would hold up the acks of every request arriving meanwhile
        self._pool = ThreadPoolExecutor(2, "opsbot-replays")
        # called with (platform, kind) for every refused replay
        self.observers: list[Callable[[str, str], None]] = []

    async def admit(self, request: SignedRequest) -> bool:
        """True the first time `request` is seen by any instance; False (refused, logged,
        counted and audited) every other time."""
        if self._first_here(request) and await self._first_shared(request):
            return True
        self._refuse(request)
        return False

    def _first_here(self, request: SignedRequest) -> bool:
        now = self.clock()
        with self._lock:
            if now >= self._next_prune:  # now and then, not per request: a burst stays O(n)
                self._local = {k: until for k, until in self._local.items() if until >= now}
                self._next_prune = now + 10
            if request.key in self._local:
                return False
            self._local[request.key] = request.until
            return True

    async def _first_shared(self, request: SignedRequest) -> bool:
        written = asyncio.get_running_loop().run_in_executor(self._pool, self._seen.first_time, request.key)
        try:
            # shielded: the row still goes in after the budget, for the next replay to conflict on
            return await asyncio.wait_for(asyncio.shield(written), self.budget)
        except TimeoutError:
            log.warning("replays: the state database did not record %s %s within %.1f s; "
                        "only this instance will refuse its replays", request.platform, request.kind, self.budget)
        except Exception:
            log.warning("replays: could not record %s %s in the state database; only this instance will "
                        "refuse its replays", request.platform, request.kind, exc_info=True)
        return True  # better a replay on another instance than no answer to the real request

    def _refuse(self, request: SignedRequest) -> None:
        log.warning("replays: refused a second use of a signed %s %s from %s in %s",
                    request.platform, request.kind, request.user or "?", request.chat or "?")
        for observe in self.observers:
            try:
                observe(request.platform, request.kind)
            except Exception:  # metrics must never break the refusal
                log.warning("a replay observer failed", exc_info=True)
        # written in the background: the platform's 200 does not wait for the audit log
        audited = self._pool.submit(self.store.audit, request.chat or f"{request.platform}:?",
                                    request.user or f"{request.platform}:?", request.text, REPLAY_OUTCOME, 0)
        audited.add_done_callback(_log_replay_audit_failure)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _log_replay_audit_failure(audited: Future[None]) -> None:
    if not audited.cancelled() and audited.exception() is not None:
        log.warning("replays: could not audit a refused replay", exc_info=audited.exception())
