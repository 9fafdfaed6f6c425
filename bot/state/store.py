"""opsbot's own state (SQLAlchemy 2 ORM): per-chat settings, digest subscriptions, the
outbox and the scheduler lease; goals, alert rules and the audit log join as their issues land.

The schema is Alembic's (bot/state/migrate.py, bot/state/migrations/): every change to these models needs a
revision, and tests/bot/state/test_migrations.py fails until it has one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    delete,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from bot.state.migrate import ensure_current


class Base(DeclarativeBase):
    pass


class ChatSetting(Base):
    __tablename__ = "chat_settings"

    chat: Mapped[str] = mapped_column(String(200), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(8))
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=lambda: utcnow())


def utcnow() -> datetime:
    """Naive UTC: what every timestamp column of the state database holds."""
    return datetime.now(UTC).replace(tzinfo=None)


class Subscription(Base):
    """A chat's scheduled digest. The schedule lives here; APScheduler's job store is derived from it."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="digest")
    cadence: Mapped[str] = mapped_column(String(10))  # daily | weekly
    weekday: Mapped[str | None] = mapped_column(String(3))  # mon..sun for weekly
    at: Mapped[str] = mapped_column(String(5))  # HH:MM local
    timezone: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[list[str]] = mapped_column(JSON, default=list)
    by: Mapped[str | None] = mapped_column(String(64))
    wait_until: Mapped[str | None] = mapped_column(String(5))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(10), default="chat")  # chat | config
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # the optional sections (`with stock`), in a row of their own: loaded with the subscription
    # and deleted with it; read and set through `sections`
    extra: Mapped[SubscriptionSections | None] = relationship(
        cascade="all, delete-orphan", lazy="selectin")

    @property
    def sections(self) -> list[str]:
        """The digest's optional sections (handlers/digest.py SECTIONS), [] for none."""
        return list(self.extra.sections or []) if self.extra is not None else []

    @sections.setter
    def sections(self, value: list[str] | tuple[str, ...] | None) -> None:
        wanted = list(dict.fromkeys(value or ()))
        if not wanted:
            self.extra = None  # a subscription without sections has no row there
        elif self.extra is None:
            self.extra = SubscriptionSections(sections=wanted)
        else:
            self.extra.sections = wanted


class SubscriptionSections(Base):
    """What a digest subscription adds to the standard digest (`subscribe digest daily 09:00 with
    stock`): a row beside the subscription's, only for a subscription that has any."""

    __tablename__ = "subscription_sections"

    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"),
                                                 primary_key=True)
    sections: Mapped[list[str]] = mapped_column(JSON, default=list)


class OutboxItem(Base):
    """One message to deliver exactly once, under a unique delivery key."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    chat: Mapped[str] = mapped_column(String(200), index=True)
    payload: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # of the numbers, to notice late data
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)  # pending|sending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    message_id: Mapped[str | None] = mapped_column(String(200))
    sent_chat: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime)


class Blob(Base):
    """Chart images of queued messages, stored once by content: a thousand chats getting the
    same digest share one PNG instead of a thousand copies in the outbox."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AlertRule(Base):
    """An explicit threshold next to detection: `alert add refund_rate > 5% daily [by channel]`."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat: Mapped[str] = mapped_column(String(200), index=True)
    kpi: Mapped[str] = mapped_column(String(40))
    op: Mapped[str] = mapped_column(String(2))  # ">" or "<"
    threshold: Mapped[float] = mapped_column()
    by: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Alert(Base):
    """One KPI (or slice) out of range: opened once per series, updated while open, closed on recovery."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat: Mapped[str] = mapped_column(String(200), index=True)
    series: Mapped[str] = mapped_column(String(300), index=True)  # "gmv" or "gmv|channel=search"
    source: Mapped[str] = mapped_column(String(20))  # detector | rule:<id>
    day: Mapped[str] = mapped_column(String(10))  # the day the anomaly was first seen (ISO)
    last_day: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)  # open|acked|closed|expected
    severity: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(default=0.0)
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime)
    notified_score: Mapped[float] = mapped_column(default=0.0)
    acked_by: Mapped[str | None] = mapped_column(String(200))
    acked_at: Mapped[datetime | None] = mapped_column(DateTime)
    assignee: Mapped[str | None] = mapped_column(String(200))
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime)
    snoozed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(String(200))


class AuditEntry(Base):
    """Every command and every push: who asked (or `opsbot:push`), where, what, how it ended, how long it took."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    chat: Mapped[str] = mapped_column(String(200))
    user: Mapped[str] = mapped_column(String(200))
    command: Mapped[str] = mapped_column(String(500))  # the text, cut to 500 characters
    outcome: Mapped[str] = mapped_column(String(40))  # ok | error:<key> | refused | refused:replay | incident:<id>
    duration_ms: Mapped[int] = mapped_column(Integer)


class UniqueKey(Base):
    """What must exist only once (a chat's digest, a chat's rule, a campaign), by its canonical
    form: the primary key makes the second of two concurrent identical adds fail in its own
    transaction, on every engine. `ref` is the id of the row it guards; a key whose row is gone
    or no longer matches (removed, a migrated chat) is stale and given up by the next add."""

    __tablename__ = "unique_keys"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    ref: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SeenEvent(Base):
    """A platform event already taken (a Slack event id): every instance sees the first delivery's
    row, so a redelivery or the same event sent to a second instance is dropped. Pruned nightly."""

    __tablename__ = "seen_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class ButtonToken(Base):
    """A button's command that does not fit the platform's button data (Telegram: 64 bytes),
    under the short token the button carries instead: kept here, a button still works after a
    restart and on whichever instance its press reaches."""

    __tablename__ = "button_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class RateWindow(Base):
    """One rate-limited key's hits of the last minute (epoch seconds, oldest first): a moving
    window shared by every instance, updated under the row's lock (bot/state/shared.py)."""

    __tablename__ = "rate_windows"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    hits: Mapped[list[float]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class KeptAnswer(Base):
    """A slow answer (segments, retention, LTV) as metrics/data/cache.py encodes it (JSON), so every
    instance serves the answer one of them computed. `key` is a digest of the question."""

    __tablename__ = "kept_answers"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(Text)  # the warehouse's data version it was computed at
    computed_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    value: Mapped[str] = mapped_column(Text)


Row = TypeVar("Row", bound=Any)


class Lease(Base):
    """Who runs the scheduler: one holder at a time, taken over when it stops renewing."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


def _sqlite_pragmas(engine: Engine) -> None:
    # several writers (two instances, the scheduler) on one file: wait instead of failing
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a crash never corrupts or loses a committed row; only a power cut can
        # drop the last transactions. FULL costs an fsync per commit (a 1,000-chat fan-out
        # is thousands of commits)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


class Store:
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        """Open the state database at `url` and make sure its schema is this code's.

        A database behind the code is migrated (under a lock shared by every instance), or with
        `migrate=False` refused with StateBehind; one ahead of it is refused with StateAhead
        before anything is written (bot/state/migrate.py).
        """
        self.engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine)
        try:
            self.schema = ensure_current(self.engine, migrate=migrate)  # as found, before any upgrade
        except BaseException:
            self.engine.dispose()
            raise
        # chat languages are read on every message: keep them in memory, write through
        self._languages: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def add_once(self, make: Callable[[], Row], key: Callable[[Row], str], candidates: Any) -> tuple[Row, bool]:
        """Add the row `make()` builds unless an identical one exists: (the row, True) when added,
        (the existing twin, False) otherwise. Identical means the same `key`; `candidates` (a
        select of the rows that could be twins) finds twins made before their key was kept, and
        the key row, written in the same transaction as the row, stops a concurrent twin."""
        for _ in range(5):
            row = make()
            wanted = key(row)
            model = type(row)
            with self.session() as s:
                twin = next((r for r in s.scalars(candidates) if key(r) == wanted), None)
            if twin is not None:
                return twin, False
            try:
                with self.session() as s, s.begin():
                    held = s.get(UniqueKey, wanted)
                    if held is not None:
                        twin = s.get(model, held.ref)
                        if twin is not None and key(twin) == wanted:
                            return twin, False
                        # stale: free it, unless a concurrent add just took it over
                        s.execute(delete(UniqueKey).where(UniqueKey.key == wanted, UniqueKey.ref == held.ref))
                    s.add(row)
                    s.flush()
                    s.add(UniqueKey(key=wanted, ref=row.id))
                return row, True
            except IntegrityError:
                continue  # a twin was added at the same moment: the next round finds it
        raise RuntimeError(f"could not add {wanted!r} once")  # never seen: five lost races in a row

    def chat_language(self, chat: str) -> str | None:
        with self._lock:
            if chat in self._languages:
                return self._languages[chat]
        with self.session() as s:
            language = s.scalar(select(ChatSetting.language).where(ChatSetting.chat == chat))
        with self._lock:
            self._languages[chat] = language
        return language

    def set_chat_language(self, chat: str, language: str | None, by: str) -> None:
        with self.session() as s, s.begin():
            row = s.get(ChatSetting, chat) or ChatSetting(chat=chat)
            row.language = language
            row.updated_by = by
            row.updated_at = utcnow()
            s.add(row)
        with self._lock:
            self._languages[chat] = language

    def audit(self, chat: str, user: str, command: str, outcome: str, duration_ms: int) -> None:
        with self.session() as s, s.begin():
            s.add(AuditEntry(chat=chat, user=user, command=command[:500], outcome=outcome[:40],
                             duration_ms=duration_ms))

    def prune_audit(self, before: datetime) -> int:
        """Delete audit entries older than `before` (naive UTC); returns how many."""
        with self.session() as s, s.begin():
            return s.execute(delete(AuditEntry).where(AuditEntry.at < before)).rowcount or 0

    def dispose(self) -> None:
        self.engine.dispose()
