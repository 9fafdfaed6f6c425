"""opsbot's own state (SQLAlchemy 2 ORM): per-chat settings for now; subscriptions,
goals, alert rules, the outbox and the audit log join it as their issues land.

The schema is created with `create_all` until it settles; Alembic takes over then.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import DateTime, String, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class ChatSetting(Base):
    __tablename__ = "chat_settings"

    chat: Mapped[str] = mapped_column(String(200), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(8))
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=lambda: datetime.now(UTC).replace(tzinfo=None))


def _sqlite_pragmas(engine: Engine) -> None:
    # several writers (two instances, the scheduler) on one file: wait instead of failing
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


class Store:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine)
        Base.metadata.create_all(self.engine)
        # chat languages are read on every message: keep them in memory, write through
        self._languages: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

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
            row.updated_at = datetime.now(UTC).replace(tzinfo=None)
            s.add(row)
        with self._lock:
            self._languages[chat] = language

    def dispose(self) -> None:
        self.engine.dispose()
