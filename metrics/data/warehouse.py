"""Read-only access to the shop's data through SQLAlchemy Core.

Tables are declared from the mapping (never reflected: not every dialect
reflects, and we only need the mapped columns). Column objects are keyed by
logical name, so queries say `orders.c.amount` whatever the physical column is.
User input reaches SQL only as bound parameters and as names checked against
the mapping.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Double,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    create_engine,
    distinct,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from metrics.data.cache import ResultCache
from metrics.data.dialects import Timestamp, day_of, hour_of, utc_to_local
from metrics.data.schema import Mapping
from metrics.errors import (
    QueryTimeout,
    SourceUnavailable,
    UnknownDimension,
    WarehouseBusy,
    WarehouseOutOfMemory,
)

ORDER_MEASURES = ("gmv", "orders", "buyers", "refunded", "repeat_buyers", "new_customers")
TRAFFIC_MEASURES = ("sessions", "product_views", "add_to_cart")
SPEND_MEASURES = ("spend",)
# from order lines, by their order's time and dimensions (docs/products.md): units sold, what the
# lines were sold for, the orders they belong to, and the margin over the lines whose cost is known
LINE_MEASURES = ("units", "line_gmv", "line_orders", "margin", "costed_gmv")
# stock at the period's last snapshot day, and sell-through's base (units sold + that stock): a
# level, not a flow, so never summed over days (docs/products.md)
STOCK_MEASURES = ("end_on_hand", "sell_base")
RETURN_MEASURES = ("returned_units",)  # units returned in the period, by returned_at
MEASURES = ORDER_MEASURES + TRAFFIC_MEASURES + SPEND_MEASURES + LINE_MEASURES + STOCK_MEASURES + RETURN_MEASURES
# what a split or filter by SKU reads from order lines: "gmv by sku" is the lines' amounts, "orders
# by sku" the orders holding a line of it (an order of three SKUs counts once for each)
LINE_DIMENSIONS = ("sku",)
LINE_PROXIES = {"gmv": "line_gmv", "orders": "line_orders"}
TOTAL = "__total__"
ORDER_CHILDREN = ("order_lines", "shipments", "returns")  # rows that belong to one order

# what each measure reads besides its table's base columns (TABLE_COLUMNS): a measure whose column
# the database lacks is not recorded (Warehouse.recorded), never zero
MEASURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "gmv": ("amount",), "orders": (), "buyers": ("customer_id",), "refunded": ("refunded_amount",),
    "repeat_buyers": ("customer_id",), "new_customers": ("customer_id", "order_id"),
    "sessions": ("sessions",), "product_views": ("product_views",), "add_to_cart": ("add_to_cart",),
    "spend": ("spend",),
    "units": ("quantity",), "line_gmv": (), "line_orders": (), "margin": (), "costed_gmv": (),
    "end_on_hand": ("on_hand",), "sell_base": ("on_hand",), "returned_units": ("quantity",),
}
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("ordered_at", "status"), "traffic": ("day",), "marketing_spend": ("day",),
    "order_lines": ("order_id", "sku", "quantity"),
    "inventory": ("day", "sku"), "returns": ("order_id", "returned_at"),
}
# the column a table's days are read from (order lines: their orders')
COVERAGE_COLUMNS: dict[str, str] = {
    "orders": "ordered_at", "traffic": "day", "marketing_spend": "day", "inventory": "day",
    "shipments": "shipped_at", "returns": "returned_at",
}

# money as 8-byte doubles: SQLAlchemy's Float is DuckDB's 4-byte FLOAT (139.12 → 139.1199951)
_TYPES: dict[str, Any] = {
    "order_id": BigInteger, "customer_id": BigInteger, "ordered_at": Timestamp, "amount": Double,
    "status": String, "refunded_amount": Double, "day": Date, "sessions": Integer,
    "product_views": Integer, "add_to_cart": Integer, "spend": Double,
    "sku": String, "quantity": Integer, "line_amount": Double, "unit_price": Double, "cost": Double,
    "lead_time_days": Integer, "on_hand": Integer, "on_order": Integer, "shipped_at": Timestamp,
    "delivered_at": Timestamp, "returned_at": Timestamp,
}


log = logging.getLogger(__name__)


@dataclass
class QueryGate:
    """So that one heavy question cannot stall everyone: at most `max_concurrent` connections
    in use at once (a question waits up to `queue_seconds` for a slot), and each stopped after
    `timeout` seconds. Shared by a warehouse and all its scoped views."""

    timeout: float | None = None
    max_concurrent: int | None = None
    queue_seconds: float = 10.0
    _slots: threading.BoundedSemaphore | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.max_concurrent:
            self._slots = threading.BoundedSemaphore(self.max_concurrent)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self._slots is None:
            yield
            return
        if not self._slots.acquire(timeout=self.queue_seconds):
            raise WarehouseBusy("warehouse_busy", limit=self.max_concurrent)
        try:
            yield
        finally:
            self._slots.release()

    @contextmanager
    def watch(self, conn: Any) -> Iterator[None]:
        """Cancel whatever `conn` runs once the timeout passes, through the driver's own cancel."""
        if not self.timeout:
            yield
            return
        fired = threading.Event()

        def cancel() -> None:
            fired.set()
            raw = conn.connection.dbapi_connection
            # sqlite3 and DuckDB interrupt the running statement; psycopg sends a cancel request
            stop = getattr(raw, "interrupt", None) or getattr(raw, "cancel", None)
            if stop is not None:
                try:
                    stop()
                except Exception:  # the statement may have just finished
                    log.debug("cancelling a timed-out query failed", exc_info=True)

        timer = threading.Timer(self.timeout, cancel)
        timer.daemon = True
        timer.start()
        try:
            yield
        except Exception as exc:
            if fired.is_set():
                conn.invalidate()  # never hand an interrupted connection to the next question
                raise QueryTimeout("query_timeout", seconds=f"{self.timeout:g}") from exc
            raise
        finally:
            timer.cancel()


@dataclass(frozen=True)
class Filter:
    dimension: str
    values: tuple[str, ...]
    negate: bool = False


def measure_table(measure: str) -> str:
    if measure in ORDER_MEASURES:
        return "orders"
    if measure in TRAFFIC_MEASURES:
        return "traffic"
    if measure in LINE_MEASURES:
        return "order_lines"
    if measure in STOCK_MEASURES:
        return "inventory"
    if measure in RETURN_MEASURES:
        return "returns"
    return "marketing_spend"


def build_tables(mapping: Mapping, metadata: MetaData | None = None) -> dict[str, Table]:
    metadata = metadata or MetaData()
    tables: dict[str, Table] = {}
    for logical, tmap in mapping.tables.items():
        cols = [Column(tmap.columns[c], _TYPES.get(c, String), key=c) for c in tmap.columns]
        if logical == "orders":
            cols += [
                Column(physical, String, key=dim)
                for dim, physical in mapping.extra_dimensions.items()
                if dim not in tmap.columns
            ]
        if tmap.query is not None:
            # the admin's SELECT as a subquery named after the logical table; its columns are
            # keyed by logical name like a Table's, so every query below reads it unchanged
            tables[logical] = text(tmap.query).columns(*cols).subquery(logical)  # type: ignore[assignment]
        else:
            tables[logical] = Table(tmap.table, metadata, *cols)
    return tables


Scope = dict[str, tuple[str, ...]]
T = TypeVar("T")

# measured at 5,000,000 orders (bench/README.md): the smallest that answered every command (at 128MB a
# question needed more than DuckDB could spill, and failed); a bot answering everything peaks at ~510 MB
DUCKDB_MEMORY_LIMIT = "192MB"


@functools.cache
def _spill_folder() -> str:
    """A temporary folder of this process's own for DuckDB to spill to (the default, beside the
    database file, may not be writable, and processes sharing the file would share it)."""
    folder = tempfile.mkdtemp(prefix="opsbot-duckdb-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


class Warehouse:
    """The shop's data as opsbot may read it.

    A scoped warehouse (`scoped({"region": ("east",)})`) is the one place row-level
    access is enforced: its logical tables are subqueries restricted to the scope, so
    every query built on `tables` (KPIs, cohorts, segments, exports, the anomaly scan)
    sees only those rows. A table without a scope dimension (traffic has no region)
    is empty to it, and its measures are unavailable rather than shop-wide.
    """

    def __init__(self, engine: Engine, mapping: Mapping, scope: Scope | None = None,
                 gate: QueryGate | None = None) -> None:
        self.engine = engine
        self.mapping = mapping
        self.gate = gate or QueryGate()
        # called with (reachable, reason) on every connection attempt: opsbot tells the admins of an
        # outage from here (bot/delivery/source_watch.py); shared with the scoped views
        self.reachability: list[Callable[[bool, str], None]] = []
        self.scope: Scope = dict(scope or {})
        for dimension in self.scope:
            self.check_dimension(dimension)
        self.tables = build_tables(mapping)
        self._plain_tables = dict(self.tables)  # unrestricted, for probing what the database holds
        if self.scope:
            self.tables = {name: self._restrict(name, table) for name, table in self.tables.items()}
        self.zone = ZoneInfo(mapping.timezone)
        self._scoped: dict[tuple[tuple[str, tuple[str, ...]], ...], Warehouse] = {}
        self.cache = ResultCache()  # shared with the scoped views; their keys hold their scope
        self.memory_limit: str | None = None  # DuckDB's, as configured (for the error that names it)

    def scoped(self, scope: Scope | None) -> Warehouse:
        """This warehouse seen through a row-level scope (cached: one per distinct scope)."""
        if not scope:
            return self
        if self.scope:
            raise ValueError("a scoped warehouse cannot be scoped again")
        key = tuple(sorted((d, tuple(sorted(v))) for d, v in scope.items()))
        if key not in self._scoped:
            view = Warehouse(self.engine, self.mapping, dict(key), self.gate)
            view.reachability = self.reachability
            view.cache = self.cache
            view.memory_limit = self.memory_limit
            self._scoped[key] = view
        return self._scoped[key]

    def _restrict(self, logical: str, table: Any) -> Any:
        """The rows of `logical` a scoped chat may see. Order lines, shipments and returns belong to
        an order: they are seen when their order is. Products and stock are seen under a category
        scope (stock through its product's category); under any other scope (a channel team) not at
        all, since stock is not kept per channel."""
        if logical in ORDER_CHILDREN:
            orders = self._plain_tables["orders"]
            seen = select(orders.c.order_id).where(*self._scope_where(orders, "orders"))
            return select(table).where(table.c.order_id.in_(seen)).subquery(logical)
        if logical == "inventory" and set(self.scope) <= {"category"} and "products" in self._plain_tables:
            products = self._plain_tables["products"]
            skus = select(products.c.sku).where(*self._scope_where(products, "products"))
            return select(table).where(table.c.sku.in_(skus)).subquery(logical)
        return select(table).where(*self._scope_where(table, logical)).subquery(logical)

    def _scope_where(self, table: Any, logical: str) -> list[ColumnElement[bool]]:
        dims = self.mapping.table_dimensions(logical)
        if all(d in dims for d in self.scope):
            return [table.c[d].in_(values) for d, values in self.scope.items()]
        return [false()]

    @classmethod
    def from_url(cls, url: str, mapping: Mapping, gate: QueryGate | None = None,
                 memory_limit: str | None = DUCKDB_MEMORY_LIMIT) -> Warehouse:
        """`memory_limit`: what DuckDB may hold in memory before it spills to a temporary folder
        (DuckDB's own default is 80 % of the machine: one per-customer aggregate over millions of
        customers would take a gigabyte); None for DuckDB's default. Other engines ignore it."""
        connect_args: dict[str, Any] = {}
        if url.startswith("duckdb"):
            # opsbot only reads; read-only lets several processes (a running bot, `opsbot ask`) share the file
            connect_args["read_only"] = True
            if memory_limit:
                connect_args["config"] = {"memory_limit": memory_limit, "temp_directory": _spill_folder()}
        if url.startswith("postgresql") and gate is not None and gate.timeout:
            # the server stops it too, should the client-side cancel never arrive
            connect_args["options"] = f"-c statement_timeout={int(gate.timeout * 1000) + 1000}"
        # pre_ping: a warehouse that restarted costs one failed question, not one per pooled connection
        engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if engine.dialect.name == "duckdb":
            # duckdb-engine leaves SQLAlchemy's compiled-statement cache off (a third-party dialect
            # must opt in), so every question paid 5-10 ms per statement to compile SQL, a third
            # of a KPI card's time. Its compiler is PostgreSQL's and its additions are types,
            # which are cache-safe; the whole test suite runs on DuckDB with it on.
            engine.dialect._supports_statement_cache = True  # type: ignore[attr-defined]
        warehouse = cls(engine, mapping, gate=gate)
        warehouse.memory_limit = memory_limit if engine.dialect.name == "duckdb" else None
        return warehouse

    def remember(self, key: Hashable, compute: Callable[[], T], shared: bool = False) -> T:
        """`compute()`, or its earlier result while the data is unchanged (metrics/data/cache.py).
        Only for answers about closed days: today's numbers change by the minute. `shared`: worth
        keeping for the other instances too (the slow answers: a read of every customer's history)."""
        scope = tuple(sorted(self.scope.items()))
        return self.cache.get_or_compute((scope, key), self.data_version(), compute, shared=shared)

    def data_version(self) -> Hashable:
        """Something that changes when the data does, where that is cheap to know: the size and
        modification time of an embedded database's files (None for a server: see the cache's ttl)."""
        url = self.engine.url
        if url.get_backend_name() not in ("duckdb", "sqlite") or not url.database or url.database == ":memory:":
            return None
        stamps = []
        for suffix in ("", "-wal", ".wal"):
            try:
                st = os.stat(url.database + suffix)
            except OSError:
                continue
            stamps.append((suffix, st.st_size, st.st_mtime_ns))
        return tuple(stamps)

    @property
    def dimensions(self) -> tuple[str, ...]:
        return self.mapping.dimensions

    @property
    def split_dimensions(self) -> tuple[str, ...]:
        """What answers can be split and filtered by: the orders' dimensions, and sku where order
        lines are recorded."""
        return self.dimensions + (LINE_DIMENSIONS if self.recorded("units") else ())

    def check_split(self, name: str) -> None:
        if name in LINE_DIMENSIONS and name in self.split_dimensions:
            return
        self.check_dimension(name)

    @staticmethod
    def _by_line(by: str | None, filters: Sequence[Filter]) -> bool:
        return by in LINE_DIMENSIONS or any(f.dimension in LINE_DIMENSIONS for f in filters)

    @classmethod
    def read_as(cls, measure: str, by: str | None, filters: Sequence[Filter] = ()) -> str:
        """The measure actually read for `measure` split by `by`: by SKU, GMV is the lines' amounts."""
        return LINE_PROXIES.get(measure, measure) if cls._by_line(by, filters) else measure

    @classmethod
    def _line_measures(cls, measures: Iterable[str], by: str | None, filters: Sequence[Filter]) -> list[str]:
        """The measures to read: split or filtered by SKU, GMV and orders come from the lines."""
        wanted = list(dict.fromkeys(measures))
        if not cls._by_line(by, filters):
            return wanted
        return list(dict.fromkeys(LINE_PROXIES.get(m, m) for m in wanted))

    @classmethod
    def _proxied_back(cls, out: pd.DataFrame, measures: Iterable[str], by: str | None,
                      filters: Sequence[Filter]) -> pd.DataFrame:
        if cls._by_line(by, filters):
            for measure, proxy in LINE_PROXIES.items():
                if measure in measures and proxy in out:
                    out[measure] = out[proxy]
        return out

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A connection, within the gate's limits; a database that cannot be reached (or that
        drops the connection mid-question) is SourceUnavailable, not a crash."""
        with self.gate.slot():
            try:
                conn = self.engine.connect()
            except (OperationalError, InterfaceError) as exc:
                reason = type(exc.orig).__name__ if exc.orig else "unreachable"
                self._tell(False, reason)
                raise SourceUnavailable(reason) from exc
            self._tell(True, "")
            with conn, self.gate.watch(conn):
                try:
                    yield conn
                except DBAPIError as exc:
                    if exc.connection_invalidated:
                        self._tell(False, "connection lost")
                        raise SourceUnavailable("connection lost") from exc
                    if type(exc.orig).__name__ == "OutOfMemoryException":  # DuckDB's, past memory_limit
                        raise WarehouseOutOfMemory("warehouse_memory", limit=self.memory_limit or "?") from exc
                    raise

    def _tell(self, reachable: bool, reason: str) -> None:
        for listener in self.reachability:
            try:
                listener(reachable, reason)
            except Exception:  # a listener must never cost the question its answer
                log.warning("a reachability listener failed", exc_info=True)

    def check_dimension(self, name: str) -> None:
        if name not in self.dimensions:
            raise UnknownDimension("unknown_dimension", name=name, choices=", ".join(self.dimensions))

    def available(self, measure: str, by: str | None, filters: Sequence[Filter]) -> bool:
        """Whether a measure can be split by `by` and filtered by `filters` (traffic has no region)."""
        dims = self.mapping.table_dimensions(measure_table(measure))
        return ((by is None or by in dims) and all(f.dimension in dims for f in filters)
                and all(d in dims for d in self.scope))

    # ---- what the data holds ------------------------------------------------------

    def schema_gaps(self) -> dict[str, tuple[str, ...] | None]:
        """Logical tables the database lacks (None) or whose mapped columns it lacks (their logical
        names); complete tables are left out. Found with zero-row SELECTs, as `opsbot check` does,
        and kept while the data is unchanged."""
        return self.remember(("schema_gaps",), self._probe_schema)

    def _probe_schema(self) -> dict[str, tuple[str, ...] | None]:
        gaps: dict[str, tuple[str, ...] | None] = {}
        for logical, table in self._plain_tables.items():
            if self._runs(select(*table.c).limit(0)):
                continue
            if not self._runs(select(literal(1)).select_from(table).limit(0)):
                gaps[logical] = None
                continue
            gaps[logical] = tuple(c.key for c in table.c if not self._runs(select(c).limit(0)))
        return gaps

    def _runs(self, query: Any) -> bool:
        # a connection per probe: on PostgreSQL a failed statement spoils the rest of its transaction
        try:
            with self.connect() as conn:
                conn.execute(query).all()
            return True
        except DBAPIError:
            return False

    def missing_columns(self, measure: str) -> tuple[str, ...] | None:
        if measure == "sell_base":  # units sold + stock: both tables
            stock, units = self._missing_columns("end_on_hand"), self._missing_columns("units")
            return None if stock is None or units is None else stock + units
        return self._missing_columns(measure)

    def _missing_columns(self, measure: str) -> tuple[str, ...] | None:
        """The columns `measure` needs that the database lacks (() when it has them all); None when
        its whole table is missing."""
        table = measure_table(measure)
        gaps = self.schema_gaps()
        if table not in gaps:
            return ()
        missing = gaps[table]
        if missing is None:
            return None
        lacking = tuple(c for c in TABLE_COLUMNS[table] + MEASURE_COLUMNS[measure] if c in missing)
        if table == "order_lines" and {"line_amount", "unit_price"} <= set(missing):
            lacking += ("line_amount",)  # or unit_price: a line's amount is one of them
        if measure in ("margin", "costed_gmv") and "cost" in missing and self._product_costs_missing(gaps):
            lacking += ("cost",)  # neither the line's nor the product's cost
        return lacking

    @staticmethod
    def _product_costs_missing(gaps: dict[str, tuple[str, ...] | None]) -> bool:
        products = gaps.get("products", ())
        return products is None or "cost" in products

    def recorded(self, measure: str) -> bool:
        """Whether the database holds the table and columns `measure` is computed from."""
        return self.missing_columns(measure) == ()

    def coverage(self, logical: str, today: date) -> tuple[date | None, date | None]:
        """The first and last business day with rows in `logical`, as this warehouse sees it (its
        scope applied); (None, None) when it has none or the table is missing. Kept while the data
        is unchanged, and per `today` so that a new day's rows are seen."""
        return self.remember(("coverage", logical, today), lambda: self._coverage(logical))

    def _coverage(self, logical: str) -> tuple[date | None, date | None]:
        gaps = self.schema_gaps().get(logical, ())
        if logical == "order_lines":  # lines have their order's days
            return (None, None) if gaps is None else self._coverage("orders")
        date_column = COVERAGE_COLUMNS[logical]
        if gaps is None or date_column in gaps:
            return None, None
        column = self.tables[logical].c[date_column]
        with self.connect() as conn:
            first, last = conn.execute(select(func.min(column), func.max(column))).one()
        return self._as_day(first), self._as_day(last)

    def _as_day(self, value: Any) -> date | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
        if isinstance(value, datetime):
            if self.mapping.timestamps == "utc":
                utc = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
                value = utc.astimezone(self.zone)
            return value.date()
        return value  # type: ignore[no-any-return]

    # ---- time bounds -------------------------------------------------------------

    def _ts_bounds(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """Local naive bounds → the bounds in the stored timestamps' convention."""
        if self.mapping.timestamps == "utc":
            utc = ZoneInfo("UTC")
            return tuple(  # type: ignore[return-value]
                b.replace(tzinfo=self.zone).astimezone(utc).replace(tzinfo=None) for b in (start, end)
            )
        return start, end

    @staticmethod
    def _day_bounds(start: datetime, end: datetime) -> tuple[date, date]:
        """Day-grained tables (traffic, spend) include every day the interval touches."""
        last = end - timedelta(microseconds=1)
        return start.date(), last.date() + timedelta(days=1)

    # ---- aggregates ---------------------------------------------------------------

    def aggregate(
        self,
        measures: Iterable[str],
        start: datetime,
        end: datetime,
        by: str | None = None,
        filters: Sequence[Filter] = (),
    ) -> pd.DataFrame:
        """Measures over [start, end) (naive local datetimes), one row per value of `by`.

        Without `by` the single row is indexed TOTAL. A measure that the data cannot
        split or filter that way (sessions by region) is left out of the result.
        """
        if by is not None:
            self.check_split(by)
        for f in filters:
            self.check_split(f.dimension)
        asked = list(dict.fromkeys(measures))
        wanted = [m for m in self._line_measures(asked, by, filters) if self.available(m, by, filters)
                  and self.recorded(m)]
        frames: list[pd.DataFrame] = []
        base = [m for m in wanted if m in ("gmv", "orders", "buyers", "refunded")]
        with self.connect() as conn:
            if base:
                frames.append(self._read(conn, self._orders_query(base, start, end, by, filters), by))
            if "repeat_buyers" in wanted:
                frames.append(self._read(conn, self._repeat_query(start, end, by, filters), by))
            if "new_customers" in wanted:
                frames.append(self._read(conn, self._new_customers_query(start, end, by, filters), by))
            traffic = [m for m in wanted if m in TRAFFIC_MEASURES]
            if traffic:
                frames.append(self._read(conn, self._daily_query("traffic", traffic, start, end, by, filters), by))
            if "spend" in wanted:
                q = self._daily_query("marketing_spend", ["spend"], start, end, by, filters)
                frames.append(self._read(conn, q, by))
            lines = [m for m in wanted if m in LINE_MEASURES]
            if lines:
                frames.append(self._read(conn, self._lines_query(lines, start, end, by, filters), by))
            if {"end_on_hand", "sell_base"} & set(wanted):
                frames.append(self._read(conn, self._end_stock_query(end, by), by))
            if "returned_units" in wanted:
                frames.append(self._read(conn, self._returns_query(start, end, by), by))
        if not frames:
            return pd.DataFrame(index=pd.Index([], name=by or "key"))
        out = pd.concat(frames, axis=1).fillna(0.0)  # a value with orders but no traffic has zero of the other
        if "sell_base" in wanted:
            units = out["units"] if "units" in out else self._read_units(start, end, by, filters)
            out["sell_base"] = units.reindex(out.index).fillna(0.0) + out["end_on_hand"]
        return self._proxied_back(out, asked, by, filters)

    def aggregate_many(
        self,
        measures: Iterable[str],
        periods: Sequence[tuple[datetime, datetime]],
        by: str | None = None,
        filters: Sequence[Filter] = (),
    ) -> list[pd.DataFrame]:
        """`aggregate` for each of several periods. New customers, the one measure that looks at
        every customer's history, are counted for all of them in one statement when the periods do
        not overlap: a KPI card's yesterday, day before and same day last week cost one pass over
        the history instead of three."""
        measures = list(dict.fromkeys(measures))
        if by is not None:
            self.check_split(by)
        for f in filters:
            self.check_split(f.dimension)
        ordered = sorted(periods)
        apart = all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:], strict=False))
        if "new_customers" not in measures or len(periods) < 2 or not apart \
                or not self.available("new_customers", by, filters) or not self.recorded("new_customers"):
            return [self.aggregate(measures, start, end, by, filters) for start, end in periods]
        rest = [m for m in measures if m != "new_customers"]
        news = self._new_customers_many(periods, by, filters)
        return [
            pd.concat([self.aggregate(rest, start, end, by, filters), new] if rest else [new], axis=1).fillna(0.0)
            for (start, end), new in zip(periods, news, strict=True)
        ]

    def _read(self, conn: Any, query: Any, by: str | None) -> pd.DataFrame:
        rows = conn.execute(query).mappings().all()
        columns = [c.name for c in query.selected_columns if c.name != "key"]
        return self._frame(pd.DataFrame([dict(r) for r in rows]), columns, by)

    @staticmethod
    def _frame(frame: pd.DataFrame, columns: list[str], by: str | None) -> pd.DataFrame:
        """Result rows as aggregate() returns them: indexed by the `by` value, or one TOTAL row."""
        if frame.empty:
            frame = pd.DataFrame(columns=columns, dtype=float)
            if by is None:
                frame.loc[TOTAL] = 0.0
            return frame
        if by is None:
            frame.index = pd.Index([TOTAL] * len(frame))
        else:
            frame["key"] = frame["key"].astype(str)
            frame = frame.set_index("key")
        return frame.astype(float)

    def _not_cancelled(self, orders: Table) -> ColumnElement[bool]:
        cancelled = self.mapping.statuses["cancelled"]
        return or_(orders.c.status.is_(None), orders.c.status.not_in(cancelled))

    def _filter_clauses(self, table: Table, filters: Sequence[Filter]) -> list[ColumnElement[bool]]:
        clauses = []
        for f in filters:
            col = table.c[f.dimension]
            clauses.append(col.not_in(f.values) if f.negate else col.in_(f.values))
        return clauses

    def orders_where(self, start: datetime, end: datetime, filters: Sequence[Filter] = ()) -> list[Any]:
        """The clauses that pick the period's orders that count (not cancelled), filters applied:
        for the tables that hang off an order (order lines, shipments, returns)."""
        return self._orders_where(self.tables["orders"], start, end, filters)

    def ts_bounds(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """Naive local bounds in the stored timestamps' convention (for any timestamp column)."""
        return self._ts_bounds(start, end)

    def _orders_where(self, orders: Table, start: datetime, end: datetime, filters: Sequence[Filter]) -> list[Any]:
        lo, hi = self._ts_bounds(start, end)
        return [
            orders.c.ordered_at >= lo,
            orders.c.ordered_at < hi,
            self._not_cancelled(orders),
            *self._filter_clauses(orders, filters),
        ]

    def _grouped(self, columns: list[Any], table: Table, by: str | None) -> Any:
        if by is None:
            return select(*columns)
        return select(table.c[by].label("key"), *columns)

    def _orders_query(
        self, measures: list[str], start: datetime, end: datetime, by: str | None, filters: Sequence[Filter]
    ) -> Any:
        o = self.tables["orders"]
        exprs = {
            "gmv": func.coalesce(func.sum(o.c.amount), 0.0).label("gmv"),
            "orders": func.count().label("orders"),
            "buyers": func.count(distinct(o.c.customer_id)).label("buyers"),
            "refunded": func.coalesce(func.sum(o.c.refunded_amount), 0.0).label("refunded"),
        }
        q = self._grouped([exprs[m] for m in measures], o, by).where(*self._orders_where(o, start, end, filters))
        return q.group_by(o.c[by]) if by else q

    # ---- order lines ------------------------------------------------------------------

    def line_amount(self) -> Any:
        """What a line was sold for: line_amount, or unit_price × quantity where only the price is mapped."""
        lines = self.tables["order_lines"]
        missing = set(self.schema_gaps().get("order_lines") or ())
        price = lines.c.unit_price * lines.c.quantity if "unit_price" not in missing else None
        if "line_amount" in missing:
            return price
        return func.coalesce(lines.c.line_amount, price) if price is not None else lines.c.line_amount

    def line_cost(self, products: Any | None) -> Any | None:
        """A line's total cost: the line's own, else the product's unit cost × quantity (`products`
        joined); None when no cost is recorded at all."""
        lines = self.tables["order_lines"]
        gaps = self.schema_gaps()
        own = lines.c.cost if "cost" not in (gaps.get("order_lines") or ()) else None
        unit = None
        if products is not None and "products" in self.tables and gaps.get("products", ()) is not None \
                and "cost" not in (gaps.get("products") or ()):
            unit = products.c.cost * lines.c.quantity
        if own is not None and unit is not None:
            return func.coalesce(own, unit)
        return own if own is not None else unit

    def lines_joined(self) -> tuple[Any, Any | None]:
        """order_lines joined to their orders (and to products, when that table is there)."""
        lines, o = self.tables["order_lines"], self.tables["orders"]
        joined = lines.join(o, lines.c.order_id == o.c.order_id)
        if self.schema_gaps().get("products", ()) is None:
            return joined, None
        products = self.tables["products"]
        return joined.outerjoin(products, products.c.sku == lines.c.sku), products

    def _lines_query(
        self, measures: list[str], start: datetime, end: datetime, by: str | None, filters: Sequence[Filter]
    ) -> Any:
        lines, o = self.tables["order_lines"], self.tables["orders"]
        joined, products = self.lines_joined()
        amount = self.line_amount()
        cost = self.line_cost(products)
        known = cost is not None
        exprs = {
            "units": func.coalesce(func.sum(lines.c.quantity), 0).label("units"),
            "line_gmv": func.coalesce(func.sum(amount), 0.0).label("line_gmv"),
            "line_orders": func.count(distinct(lines.c.order_id)).label("line_orders"),
            "margin": func.coalesce(func.sum(amount - cost), 0.0).label("margin") if known
            else literal(0.0).label("margin"),
            "costed_gmv": func.coalesce(func.sum(case((cost.is_not(None), amount))), 0.0).label("costed_gmv")
            if known else literal(0.0).label("costed_gmv"),
        }
        cols = [exprs[m] for m in measures]
        key = (lines.c[by] if by in LINE_DIMENSIONS else o.c[by]) if by else None
        q = (select(key.label("key"), *cols) if key is not None else select(*cols)).select_from(joined)
        on_orders = [f for f in filters if f.dimension not in LINE_DIMENSIONS]
        on_lines = [f for f in filters if f.dimension in LINE_DIMENSIONS]
        q = q.where(*self._orders_where(o, start, end, on_orders), *self._filter_clauses(lines, on_lines))
        return q.group_by(key) if key is not None else q

    def _end_stock_query(self, end: datetime, by: str | None) -> Any:
        """Stock at the last snapshot day before `end` (a level: the period's closing stock)."""
        inv = self.tables["inventory"]
        last = select(func.max(inv.c.day)).where(inv.c.day < end.date())  # the last closed day's snapshot
        cols = [func.coalesce(func.sum(inv.c.on_hand), 0).label("end_on_hand")]
        q = self._grouped(cols, inv, by).where(inv.c.day == last.scalar_subquery())
        return q.group_by(inv.c[by]) if by else q

    def _returns_query(self, start: datetime, end: datetime, by: str | None) -> Any:
        r = self.tables["returns"]
        lo, hi = self._ts_bounds(start, end)
        cols = [func.coalesce(func.sum(r.c.quantity), 0).label("returned_units")]
        q = self._grouped(cols, r, by).where(r.c.returned_at >= lo, r.c.returned_at < hi)
        return q.group_by(r.c[by]) if by else q

    def _read_units(self, start: datetime, end: datetime, by: str | None, filters: Sequence[Filter]) -> pd.Series:
        with self.connect() as conn:
            return self._read(conn, self._lines_query(["units"], start, end, by, filters), by)["units"]

    def _repeat_query(self, start: datetime, end: datetime, by: str | None, filters: Sequence[Filter]) -> Any:
        o = self.tables["orders"]
        keys = [o.c.customer_id] + ([o.c[by].label("key")] if by else [])
        per_customer = (
            select(*keys)
            .where(*self._orders_where(o, start, end, filters))
            .group_by(*[o.c.customer_id] + ([o.c[by]] if by else []))
            .having(func.count() >= 2)
            .subquery()
        )
        cols = [func.count().label("repeat_buyers")]
        if by is None:
            return select(*cols).select_from(per_customer)
        return select(per_customer.c.key, *cols).group_by(per_customer.c.key)

    def _new_customers_query(
        self, start: datetime, end: datetime, by: str | None, filters: Sequence[Filter]
    ) -> Any:
        """Customers whose first ever non-cancelled order falls in the period.

        An order is a first order when no earlier non-cancelled order of the same
        customer exists (ties on the timestamp broken by order id). Starting from the
        period's orders keeps this proportional to the period, not the whole history;
        `by` and filters apply to that first order (a new customer belongs to the
        channel that acquired them).
        """
        o = self.tables["orders"]
        cols = [func.count(distinct(o.c.customer_id)).label("new_customers")]
        q = self._grouped(cols, o, by).where(*self._orders_where(o, start, end, filters), ~self._earlier_order(o))
        return q.group_by(o.c[by]) if by else q

    def _earlier_order(self, o: Any) -> Any:
        """Whether the customer of an order of `o` has an earlier non-cancelled one."""
        p = o.alias("earlier")
        return exists().where(
            p.c.customer_id == o.c.customer_id,
            or_(p.c.status.is_(None), p.c.status.not_in(self.mapping.statuses["cancelled"])),
            or_(p.c.ordered_at < o.c.ordered_at, and_(p.c.ordered_at == o.c.ordered_at, p.c.order_id < o.c.order_id)),
        )

    def _new_customers_many(
        self, periods: Sequence[tuple[datetime, datetime]], by: str | None, filters: Sequence[Filter]
    ) -> list[pd.DataFrame]:
        """_new_customers_query for several periods that do not overlap, in one statement."""
        o = self.tables["orders"]
        inside = [and_(o.c.ordered_at >= lo, o.c.ordered_at < hi)
                  for lo, hi in (self._ts_bounds(start, end) for start, end in periods)]
        which = case(*((cond, i) for i, cond in enumerate(inside)))
        keys = [o.c[by].label("key")] if by else []
        q = (select(which.label("period"), *keys, func.count(distinct(o.c.customer_id)).label("new_customers"))
             .where(or_(*inside), self._not_cancelled(o), *self._filter_clauses(o, filters), ~self._earlier_order(o))
             .group_by(which, *([o.c[by]] if by else [])))
        with self.connect() as conn:
            rows = pd.DataFrame([dict(r) for r in conn.execute(q).mappings().all()],
                                columns=["period", *(["key"] if by else []), "new_customers"])
        return [self._frame(rows[rows.period == i].drop(columns="period").reset_index(drop=True), ["new_customers"], by)
                for i in range(len(periods))]

    def _daily_query(
        self,
        logical: str,
        measures: list[str],
        start: datetime,
        end: datetime,
        by: str | None,
        filters: Sequence[Filter],
    ) -> Any:
        t = self.tables[logical]
        first, after = self._day_bounds(start, end)
        cols = [func.coalesce(func.sum(t.c[m]), 0).label(m) for m in measures]
        q = self._grouped(cols, t, by).where(t.c.day >= first, t.c.day < after, *self._filter_clauses(t, filters))
        return q.group_by(t.c[by]) if by else q

    # ---- daily series ---------------------------------------------------------------

    def daily(
        self,
        measures: Iterable[str],
        start: datetime,
        end: datetime,
        by: str | None = None,
        filters: Sequence[Filter] = (),
    ) -> pd.DataFrame:
        """Measures per business day over [start, end): columns day (date)[, key], measures.

        Distinct counts (buyers, repeat buyers) are per day here; callers that need
        them over longer buckets ask `aggregate` per bucket instead of summing days.
        """
        if by is not None:
            self.check_split(by)
        for f in filters:
            self.check_split(f.dimension)
        asked = list(dict.fromkeys(measures))
        wanted = [m for m in self._line_measures(asked, by, filters) if self.available(m, by, filters)
                  and self.recorded(m) and m not in STOCK_MEASURES]  # a level has no daily sum
        keys = ["day"] + (["key"] if by else [])
        frames: list[pd.DataFrame] = []
        dialect = self.engine.dialect.name
        o = self.tables["orders"]
        with self.connect() as conn:
            base = [m for m in wanted if m in ("gmv", "orders", "buyers", "refunded")]
            day = day_of(self._local_ordered_at(start, end), dialect)
            if base:
                q = self._orders_query(base, start, end, by, filters)
                frames.append(self._read_daily(conn, self._by_day(q, day, o, by), keys))
            if "new_customers" in wanted:
                q = self._new_customers_query(start, end, by, filters)
                frames.append(self._read_daily(conn, self._by_day(q, day, o, by), keys))
            if "repeat_buyers" in wanted:
                raise ValueError("repeat buyers are not additive by day; aggregate per bucket")
            lines = [m for m in wanted if m in LINE_MEASURES]
            if lines:
                q = self._lines_query(lines, start, end, by, filters)
                split = self.tables["order_lines"] if by in LINE_DIMENSIONS else o
                frames.append(self._read_daily(conn, self._by_day(q, day, split, by), keys))
            if "returned_units" in wanted:
                r = self.tables["returns"]
                q = self._returns_query(start, end, by)
                returned_day = day_of(r.c.returned_at, dialect)
                frames.append(self._read_daily(conn, self._by_day(q, returned_day, r, by), keys))
            for logical, group in (("traffic", TRAFFIC_MEASURES), ("marketing_spend", SPEND_MEASURES)):
                ms = [m for m in wanted if m in group]
                if ms:
                    t = self.tables[logical]
                    q = self._daily_query(logical, ms, start, end, by, filters)
                    frames.append(self._read_daily(conn, self._by_day(q, t.c.day, t, by), keys))
        if not frames:
            return pd.DataFrame(columns=keys + wanted)
        out = frames[0]
        for frame in frames[1:]:
            out = out.merge(frame, on=keys, how="outer")
        out = self._proxied_back(out, asked, by, filters)
        return out.fillna(0.0).sort_values(keys).reset_index(drop=True)

    def hourly(
        self, measures: Sequence[str], start: datetime, end: datetime, by: str | None = None
    ) -> pd.DataFrame:
        """Order measures (gmv, orders) per hour over [start, end): a wide frame, one row per hour
        start (naive local), one column per series ("orders", or "orders|channel=search")."""
        if by is not None:
            self.check_dimension(by)
        o = self.tables["orders"]
        hour = hour_of(self._local_ordered_at(start, end), self.engine.dialect.name).label("hour")
        exprs = {"gmv": func.coalesce(func.sum(o.c.amount), 0.0).label("gmv"), "orders": func.count().label("orders")}
        cols = [hour] + ([o.c[by].label("key")] if by else []) + [exprs[m] for m in measures]
        q = select(*cols).where(*self._orders_where(o, start, end, ())).group_by(hour, *([o.c[by]] if by else []))
        with self.connect() as conn:
            frame = pd.DataFrame([dict(r) for r in conn.execute(q).mappings().all()])
        index = pd.date_range(start, end, freq="h", inclusive="left")
        if frame.empty:
            return pd.DataFrame(0.0, index=index, columns=list(measures))
        frame["hour"] = pd.to_datetime(frame["hour"].astype(str).str.slice(0, 13), format="%Y-%m-%d %H")
        if by:
            wide = frame.pivot_table(index="hour", columns="key", values=list(measures), aggfunc="sum")
            wide.columns = [f"{m}|{by}={k}" for m, k in wide.columns]
        else:
            wide = frame.set_index("hour")[list(measures)]
        return wide.reindex(index).fillna(0.0).astype(float)

    def _local_ordered_at(self, start: datetime, end: datetime) -> Any:
        """ordered_at as business-local time: as stored, or converted from UTC inside the query."""
        column = self.tables["orders"].c.ordered_at
        if self.mapping.timestamps != "utc":
            return column
        lo, hi = self._ts_bounds(start, end)
        return utc_to_local(column, self.engine.dialect.name, self.mapping.timezone, lo, hi)

    @staticmethod
    def _by_day(query: Any, day: Any, table: Table, by: str | None) -> Any:
        q = query.add_columns(day.label("day")).group_by(None)
        return q.group_by(day, table.c[by]) if by else q.group_by(day)

    @staticmethod
    def _read_daily(conn: Any, query: Any, keys: list[str]) -> pd.DataFrame:
        frame = pd.DataFrame([dict(r) for r in conn.execute(query).mappings().all()])
        if frame.empty:
            return pd.DataFrame(columns=[c.name for c in query.selected_columns])
        frame["day"] = pd.to_datetime(frame["day"].astype(str)).dt.date
        if "key" in frame:
            frame["key"] = frame["key"].astype(str)
        measures = [c for c in frame.columns if c not in keys]
        frame[measures] = frame[measures].astype(float)
        return frame

    def distinct_values(self, dimension: str, limit: int = 1000) -> list[str]:
        """The values a dimension takes in orders (for suggestions on a mistyped value)."""
        self.check_split(dimension)
        table = self.tables["order_lines" if dimension in LINE_DIMENSIONS else "orders"]
        with self.connect() as conn:
            rows = conn.execute(select(table.c[dimension]).distinct().limit(limit)).scalars().all()
        return sorted(str(v) for v in rows if v is not None)
