"""Everything that differs between SQL engines, in one place."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    String,
    case,
    cast,
    extract,
    func,
    literal_column,
    select,
    type_coerce,
)
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


# ---- calendar buckets (cohorts) ------------------------------------------------------------------
#
# `month_bucket` / `week_bucket` name the month or ISO week (Monday start) a naive local
# timestamp or date falls in, in whatever form is cheapest for the engine to compute and group
# on; `bucket_date` turns any of those forms back into the bucket's first day. On SQLite, text
# slicing is several times cheaper per row than arithmetic or strftime, and these expressions
# run once per order.

# A Monday before any business date (metrics.periods accepts years from 1900): integer week
# numbers count whole weeks from it, so they never meet a negative number to round.
WEEK_EPOCH = date(1900, 1, 1)


def hour_of(column: ColumnElement[Any], dialect_name: str) -> ColumnElement[Any]:
    """The start of the hour of a naive local timestamp: 'YYYY-MM-DD HH' text on SQLite, a timestamp elsewhere."""
    if dialect_name == "sqlite":
        return func.substr(column, 1, 13)
    return func.date_trunc(_text("hour"), column)


def _text(value: str) -> ColumnElement[Any]:
    """A string constant written into the SQL rather than bound: PostgreSQL matches a SELECT
    expression to its GROUP BY twin only when both spell the same constant, and two bound
    parameters are never the same."""
    return literal_column("'" + value.replace("'", "''") + "'")


def month_bucket(column: ColumnElement[Any], dialect_name: str) -> ColumnElement[Any]:
    """The month of a timestamp or date: 'YYYY-MM' on SQLite (text 'YYYY-MM-DD[ HH:MM:SS]'),
    the month's first day (or midnight) on PostgreSQL, DuckDB, MySQL and SQL Server, and
    `year * 12 + month - 1` elsewhere."""
    if dialect_name == "sqlite":
        return func.substr(column, 1, 7)
    if dialect_name in ("postgresql", "duckdb"):
        return func.date_trunc(_text("month"), column)
    if dialect_name in ("mysql", "mariadb"):
        return func.date_format(column, _text("%Y-%m-01"))
    if dialect_name == "mssql":
        return func.datefromparts(func.year(column), func.month(column), 1)
    year = cast(extract("year", column), Integer)
    return year * 12 + cast(extract("month", column), Integer) - 1


def week_bucket(column: ColumnElement[Any], dialect_name: str) -> ColumnElement[Any]:
    """The ISO week of a timestamp or date as its Monday: 'YYYY-MM-DD' on SQLite, a date or
    midnight on PostgreSQL, DuckDB and MySQL, whole weeks since WEEK_EPOCH elsewhere."""
    if dialect_name == "sqlite":
        # 'weekday 0' moves forward to the next Sunday (or stays on one); 6 days back is Monday
        return func.date(func.substr(column, 1, 10), _text("weekday 0"), _text("-6 days"))
    if dialect_name in ("postgresql", "duckdb"):
        return func.date_trunc(_text("week"), column)  # ISO weeks: Monday
    if dialect_name in ("mysql", "mariadb"):
        return func.subdate(func.date(column), func.weekday(column))  # WEEKDAY: Monday = 0
    if dialect_name == "mssql":
        days = type_coerce(func.datediff(literal_column("day"), _text(WEEK_EPOCH.isoformat()), column), Integer)
    else:
        days = type_coerce(cast(column, Date) - literal_column(f"DATE '{WEEK_EPOCH.isoformat()}'"), Integer)
    return days // 7  # SQLAlchemy renders integer floor division per engine


def bucket_date(value: Any, grain: str) -> date:
    """The first day of a bucket as `month_bucket` / `week_bucket` returned it on any engine."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value[:10] if len(value) >= 10 else f"{value[:7]}-01")
    number = int(value)
    if grain == "week":
        return WEEK_EPOCH + timedelta(weeks=number)
    return date(number // 12, number % 12 + 1, 1)


def unindexed(column: ColumnElement[Any], dialect_name: str) -> ColumnElement[Any]:
    """`column`, written so that SQLite will not drive a GROUP BY through an index on it.

    Grouping all orders by customer through an index on (customer_id, ...) that lacks the
    filtered columns costs one random table read per order; a full scan plus a sort is about
    twice as fast on 2M orders. `+ 0` is SQLite's documented way to say so. Planners of other
    engines choose well on their own.
    """
    return column + 0 if dialect_name == "sqlite" else column


# ---- stored UTC → business-local time ------------------------------------------------------------


def utc_offset_segments(zone: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[datetime, int]]:
    """Stretches of constant UTC offset over naive UTC [lo, hi): (naive UTC start, minutes).

    The first stretch starts at `lo`. Daily probes find the days a zone changes its offset
    (DST); bisection pins the minute. Two changes within one day do not happen in tzdata.
    """
    utc = ZoneInfo("UTC")

    def offset(at: datetime) -> int:
        delta = at.replace(tzinfo=utc).astimezone(zone).utcoffset()
        return int(delta.total_seconds() // 60) if delta is not None else 0

    segments = [(lo, offset(lo))]
    day = lo
    while day < hi:
        nxt = min(day + timedelta(days=1), hi)
        if offset(nxt) != segments[-1][1]:
            a, b = day, nxt
            while b - a > timedelta(minutes=1):
                mid = a + (b - a) // 2
                mid = mid.replace(second=0, microsecond=0)
                if mid <= a:
                    mid = a + timedelta(minutes=1)
                if offset(mid) == segments[-1][1]:
                    a = mid
                else:
                    b = mid
            segments.append((b, offset(b)))
        day = nxt
    return segments


def utc_to_local(
    column: ColumnElement[Any], dialect_name: str, zone: str, lo: datetime, hi: datetime
) -> ColumnElement[Any]:
    """A naive-UTC timestamp column as naive business-local time, exact for values in [lo, hi).

    PostgreSQL and DuckDB convert with the zone database. SQLite has none: the zone's offsets
    over [lo, hi) (naive UTC) become a CASE of fixed shifts, so DST is honoured in that range;
    values outside it get the nearest stretch's offset. Other engines are not supported yet.
    """
    if dialect_name in ("postgresql", "duckdb"):
        return func.timezone(_text(zone), func.timezone(_text("UTC"), column))
    if dialect_name == "sqlite":
        segments = utc_offset_segments(ZoneInfo(zone), lo, hi)

        def shifted(minutes: int) -> ColumnElement[Any]:
            return func.datetime(column, _text(f"{minutes:+d} minutes"))

        if len(segments) == 1:
            return shifted(segments[0][1])
        whens = [
            (column < start, shifted(prev[1]))
            for prev, (start, _) in zip(segments, segments[1:], strict=False)
        ]
        return case(*whens, else_=shifted(segments[-1][1]))
    raise NotImplementedError(f"UTC timestamps on {dialect_name}: set [warehouse] timestamps = 'local'")


# ---- percentiles ---------------------------------------------------------------------------------


def quantiles(source: Any, columns: list[str], q: float, dialect_name: str) -> Any:
    """One row: the `q` quantile of each of `source`'s `columns`, NULLs skipped (NULL when a
    column has no values), linearly interpolated between neighbours (numpy's default,
    PostgreSQL's percentile_cont, DuckDB's quantile_cont).

    SQLite has no percentile aggregate: there the two neighbours are picked by row number
    (a window over the sorted values) and interpolated as a + f·(b − a), which is exact when
    they are equal."""
    if dialect_name == "duckdb":
        return select(*(func.quantile_cont(source.c[name], q).label(name) for name in columns))
    if dialect_name == "postgresql":
        return select(*(func.percentile_cont(q).within_group(source.c[name]).label(name) for name in columns))
    return select(*(_sqlite_quantile(source, name, q).label(name) for name in columns))


def _sqlite_quantile(source: Any, name: str, q: float) -> Any:
    column = source.c[name]
    ranked = (
        select(column.label("v"), func.row_number().over(order_by=column).label("rn"), func.count().over().label("n"))
        .where(column.is_not(None)).subquery(f"ranked_{name}")
    )
    position = (ranked.c.n - 1) * q
    low = cast(position, Integer)
    pair = select(
        func.max(case((ranked.c.rn == low + 1, ranked.c.v))).label("a"),
        func.max(case((ranked.c.rn == low + 2, ranked.c.v))).label("b"),
        func.max(position - low).label("f"),
    ).subquery(f"pair_{name}")
    return select(pair.c.a + pair.c.f * (func.coalesce(pair.c.b, pair.c.a) - pair.c.a)).scalar_subquery()
