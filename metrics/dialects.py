"""Everything that differs between SQL engines, in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Date, DateTime, String, cast, func
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine

SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


class Timestamp(TypeDecorator[datetime]):
    """A timestamp column, bound so comparisons are right however the engine stores it.

    SQLite has no timestamp type: values are text, compared as text. Binding the
    bound as 'YYYY-MM-DD HH:MM:SS' (no fraction) keeps `>=`/`<` correct for stored
    values written with or without microseconds, which SQLAlchemy's own format
    (always '.ffffff') does not: '2026-11-01 00:00:00' sorts before
    '2026-11-01 00:00:00.000000'.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(String() if dialect.name == "sqlite" else DateTime())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "sqlite" and isinstance(value, datetime):
            return value.strftime(SQLITE_TIMESTAMP)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        return value


def day_of(column: ColumnElement[Any], dialect_name: str) -> ColumnElement[Any]:
    """The calendar day of a naive local timestamp: an ISO date string on SQLite, a date elsewhere."""
    if dialect_name == "sqlite":
        return func.substr(column, 1, 10)
    return cast(column, Date)
