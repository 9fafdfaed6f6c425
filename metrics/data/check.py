"""`opsbot check`: what opsbot sees in the configured warehouse, and what is wrong with it.

A new user's first command against their own data. For each logical table it reports
whether the mapped table, view or config query and its columns exist with usable types,
the row count and date range, and the first problems in the data (nulls in keys,
duplicate keys, statuses outside the status mapping, negative amounts, refunds above
the amount, dates in the future; for the optional product tables also negative units and
stock, deliveries before shipping, order lines that do not sum to their order's amount, rows
whose order is not in orders and SKUs not in products).

Tables are declared from the mapping (metrics.data.warehouse.build_tables), never reflected:
DuckDB cannot reflect, and a config query has nothing to reflect. Existence is found
by running a zero-row SELECT of each mapped column; declared types come from
`sqlalchemy.inspect` where the dialect supports it, and values are checked by what the
database returns (SQLite stores anything in any column, so its values are what count).

Severity: an *error* makes KPIs fail or lie (a required table or column is missing,
a timestamp stored as non-ISO text); a *warning* is data KPIs can use but may be wrong
about (duplicates, unknown statuses, negative amounts); *info* is worth knowing (guest
orders without a customer). Exit code: 0 usable, 1 errors (or warnings with strict),
2 cannot connect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Engine,
    String,
    and_,
    case,
    cast,
    create_engine,
    exists,
    func,
    inspect,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import FromClause

from metrics.data.schema import CORE_TABLES, LOGICAL_TABLES, Mapping
from metrics.data.warehouse import build_tables

Severity = Literal["error", "warning", "info"]

# what stops working when a column is missing; the first group of orders is what every KPI needs
_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id", "customer_id", "ordered_at", "amount", "status"),
    "traffic": ("day", "channel", "sessions"),
    "marketing_spend": ("day", "channel", "spend"),
    "order_lines": ("order_id", "sku", "quantity"),
    "products": ("sku",),
    "inventory": ("day", "sku", "on_hand"),
    "shipments": ("order_id", "shipped_at"),
    "returns": ("order_id", "returned_at"),
}
_NEEDED_BY: dict[str, str] = {
    "refunded_amount": "refund_rate", "channel": "breakdowns by channel, cac and roas per channel",
    "category": "breakdowns by category", "region": "breakdowns by region",
    "product_views": "the funnel", "add_to_cart": "the funnel",
}
# what a missing optional column of a product table costs
_COLUMN_NEEDED_BY: dict[tuple[str, str], str] = {
    ("order_lines", "cost"): "margins", ("products", "name"): "SKU names", ("products", "cost"): "margins",
    ("products", "category"): "breakdowns of products by category", ("products", "lead_time_days"): "reorder points",
    ("inventory", "warehouse"): "stock by warehouse", ("inventory", "on_order"): "stock on order",
    ("shipments", "delivered_at"): "delivery times and the on-time rate", ("shipments", "carrier"):
    "breakdowns by carrier", ("shipments", "warehouse"): "breakdowns by warehouse", ("returns", "sku"):
    "returns by sku", ("returns", "quantity"): "returned units", ("returns", "amount"): "returned value",
    ("returns", "reason"): "returns by reason",
}
_TABLE_NEEDED_BY: dict[str, str] = {
    "traffic": "sessions, conversion and the funnel",
    "marketing_spend": "spend, cac and roas",
    "order_lines": "units, items per order, top/movers by sku and margins",
    "products": "SKU names, categories, lead times and costs",
    "inventory": "stock, days of cover and stock-outs",
    "shipments": "fulfilment: ship and delivery times, on-time rate",
    "returns": "returns by reason, sku and category",
}
_EXAMPLES = 5
_STATUS_LIMIT = 200  # more distinct statuses than this: the column is probably not a status

# An order's lines "disagree" with its amount when their sum is further from it than this: a cent
# (each line rounded to cents) or half a percent of the amount, whichever is more (a rounding or a
# discount spread over the lines is not worth a warning; a missing or doubled line is)
LINE_SUM_TOLERANCE = "more than max(0.01, 0.5 % of the order's amount)"


def line_sum_tolerance(amount: Any) -> Any:
    """max(0.01, 0.5 % of |amount|) as SQL (no greatest() on SQLite)."""
    share = func.abs(amount) * 0.005
    return case((share > 0.01, share), else_=0.01)


def line_value(lines: FromClause, found: set[str]) -> Any:
    """An order line's amount in SQL: line_amount, else unit_price x quantity; None when neither column works."""
    computed = lines.c.unit_price * lines.c.quantity if {"unit_price", "quantity"} <= found else None
    if "line_amount" in found:
        return lines.c.line_amount if computed is None else func.coalesce(lines.c.line_amount, computed)
    return computed


def same_key(left: Any, left_kind: str | None, right: Any, right_kind: str | None, dialect: str) -> Any:
    """left = right for ids that may be numbers in one table and text in the other ("number", "text",
    None for not known): PostgreSQL and DuckDB refuse to compare the two, SQLite converts by itself."""
    if left_kind and right_kind and left_kind != right_kind and dialect != "sqlite":
        return cast(left, String) == cast(right, String)
    return left == right


@dataclass(frozen=True)
class Problem:
    severity: Severity
    message: str
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "message": self.message, "examples": list(self.examples)}


@dataclass
class ColumnReport:
    logical: str
    physical: str
    found: bool
    declared_type: str | None = None  # as the database declares it, where it can be inspected
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"logical": self.logical, "physical": self.physical, "found": self.found,
                "type": self.declared_type, "required": self.required}


@dataclass
class TableReport:
    logical: str
    source: str  # the physical table or view name, or "query"
    kind: str  # "table", "view", "query", or "table or view" where the dialect cannot tell
    found: bool
    required: bool
    configured: bool  # the config names this table explicitly
    columns: list[ColumnReport] = field(default_factory=list)
    rows: int | None = None
    first: str | None = None  # earliest date or timestamp
    last: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "logical": self.logical, "source": self.source, "kind": self.kind, "found": self.found,
            "required": self.required, "rows": self.rows, "first": self.first, "last": self.last,
            "columns": [c.to_dict() for c in self.columns], "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class CheckReport:
    url: str  # password hidden
    dialect: str
    connected: bool
    error: str | None = None
    timezone: str = ""
    timestamps: str = "local"
    tables: list[TableReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.connected and not any(t.errors for t in self.tables)

    def exit_code(self, strict: bool = False) -> int:
        """0 usable; 1 errors (or, with strict, warnings too); 2 the warehouse cannot be reached."""
        if not self.connected:
            return 2
        if not self.ok:
            return 1
        if strict and any(p.severity == "warning" for t in self.tables for p in t.problems):
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "dialect": self.dialect, "connected": self.connected, "error": self.error,
                "timezone": self.timezone, "timestamps": self.timestamps, "ok": self.ok,
                "tables": [t.to_dict() for t in self.tables]}

    def render(self) -> str:
        out = [f"warehouse: {self.url} ({self.dialect})"]
        if not self.connected:
            out.append(f"  cannot connect: {self.error}")
            return "\n".join(out)
        out.append(f"  timestamps stored as {self.timestamps} time; business timezone {self.timezone}")
        mark = {"error": "ERROR", "warning": "warning", "info": "info"}
        for t in self.tables:
            out.append("")
            if not t.found:
                what = "required" if t.required else "optional"
                out.append(f"{t.logical}: {t.kind} {t.source!r} not found ({what})")
            else:
                span = f", {t.first} .. {t.last}" if t.first else ""
                rows = f"{t.rows:,} rows" if t.rows is not None else "rows unknown"
                out.append(f"{t.logical}: {t.kind} {t.source!r}, {rows}{span}")
                for c in t.columns:
                    state = "ok" if c.found else ("MISSING" if c.required else "missing")
                    mapped = c.logical if c.logical == c.physical else f"{c.logical} <- {c.physical}"
                    typ = f" {c.declared_type}" if c.declared_type else ""
                    out.append(f"    {mapped:32s} {state}{typ}")
            for p in t.problems:
                out.append(f"  {mark[p.severity]}: {p.message}")
                if p.examples:
                    out.append(f"      e.g. {', '.join(p.examples)}")
        out.append("")
        errors = sum(len(t.errors) for t in self.tables)
        warnings = sum(p.severity == "warning" for t in self.tables for p in t.problems)
        if errors:
            out.append(f"{errors} error(s), {warnings} warning(s): fix the errors in [warehouse.tables] "
                       "(docs/data.md) before asking for KPIs.")
        else:
            out.append(f"usable: no errors, {warnings} warning(s).")
        return "\n".join(out)


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy can parse: show nothing of it that could hold a secret
        return "<unparseable url>"


def run_check(settings: Any, *, now: datetime | None = None) -> CheckReport:
    """Check the configured warehouse against the mapping. `settings` is a bot.config.Settings."""
    url = settings.warehouse_url()
    mapping: Mapping = settings.mapping()
    report = CheckReport(url=_safe_url(url), dialect="?", connected=False,
                         timezone=mapping.timezone, timestamps=mapping.timestamps)
    try:
        parsed = make_url(url)
    except Exception:
        report.error = "not a database URL (expected dialect+driver://user@host/database)"
        return report
    report.dialect = parsed.get_backend_name()
    if report.dialect in ("sqlite", "duckdb") and parsed.database not in (None, "", ":memory:") and not Path(
            parsed.database).exists():
        # the embedded engines would silently create an empty file: say what is wrong instead
        hint = " (the demo shop is built by `opsbot demo`)" if settings.is_demo else ""
        report.error = f"database file {parsed.database} does not exist{hint}"
        return report
    try:
        # read-only: a DuckDB file held by a running bot can still be checked, and nothing is written
        connect_args = {"read_only": True} if report.dialect == "duckdb" else {}
        engine = create_engine(url, connect_args=connect_args)
    except Exception as exc:  # missing driver, bad options
        report.error = f"{exc.__class__.__name__}: {exc}"
        return report
    try:
        try:
            with engine.connect() as conn:
                conn.execute(select(literal_column("1"))).all()
        except SQLAlchemyError as exc:
            report.error = _first_line(exc)
            return report
        report.connected = True
        zone = ZoneInfo(mapping.timezone)
        if now is None:
            now = datetime.now(ZoneInfo("UTC") if mapping.timestamps == "utc" else zone).replace(tzinfo=None)
        tables = build_tables(mapping)
        explicit = set(settings.warehouse.tables)
        for logical in LOGICAL_TABLES:
            report.tables.append(_check_table(engine, mapping, logical, tables[logical], logical in explicit, now))
        _across_tables(engine, tables, {t.logical: t for t in report.tables})
        return report
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return f"{(orig or exc).__class__.__name__}: {text[0] if text else ''}"


def _check_table(engine: Engine, mapping: Mapping, logical: str, source: FromClause, configured: bool,
                 now: datetime) -> TableReport:
    tmap = mapping.tables[logical]
    is_query = tmap.query is not None
    required = logical == "orders" or configured
    report = TableReport(logical=logical, source="query" if is_query else tmap.table, kind="query" if is_query else
                         "table", found=False, required=required, configured=configured)
    declared: dict[str, str] = {}
    if not is_query:
        report.kind, declared = _inspect_table(engine, tmap.table)
    # the source exists when counting its rows works (a view, a table, or a query that runs)
    try:
        with engine.connect() as conn:
            report.rows = int(conn.execute(select(func.count()).select_from(source)).scalar_one())
        report.found = True
    except SQLAlchemyError as exc:
        if is_query:
            report.problems.append(Problem("error", f"the [warehouse.tables.{logical}] query fails: {_first_line(exc)}"))
        elif required:
            report.problems.append(Problem("error", f"{logical}: no table or view named {tmap.table!r} "
                                                    f"({_first_line(exc)}); set [warehouse.tables.{logical}] table"))
        else:
            report.problems.append(Problem("warning", f"no {logical} table {tmap.table!r}: "
                                                      f"{_TABLE_NEEDED_BY[logical]} are unavailable"))
        return report
    columns = list(source.c.keys())
    physical = {c: tmap.columns.get(c, mapping.extra_dimensions.get(c, c)) for c in columns}
    found: set[str] = set()
    for c in columns:
        ok = _column_works(engine, source, c)
        col_required = c in _REQUIRED_COLUMNS[logical]
        report.columns.append(ColumnReport(c, physical[c], ok, declared.get(physical[c].lower()), col_required))
        if ok:
            found.add(c)
        elif col_required:
            report.problems.append(Problem("error", f"column {physical[c]!r} (for {c}) not found in {report.source!r}; "
                                                    f"map it in [warehouse.tables.{logical}] columns"))
        elif logical == "order_lines" and c in ("line_amount", "unit_price"):
            continue  # either will do: said below
        else:
            needed = _COLUMN_NEEDED_BY.get((logical, c)) or _NEEDED_BY.get(c, f"breakdowns by {c}")
            report.problems.append(Problem("warning", f"column {physical[c]!r} (for {c}) not found: {needed} "
                                                      f"will fail; map it, or add it in a view or query"))
    if logical == "order_lines":
        _line_amount_columns(found, physical, report)
    if report.rows == 0:
        report.problems.append(Problem("warning", f"{logical} has no rows"))
        return report
    checks = _ORDERS_CHECKS if logical == "orders" else _DAILY_CHECKS if logical in CORE_TABLES else _PRODUCT_CHECKS
    for check in checks:
        try:
            check(engine, source, found, mapping, report, now)
        except SQLAlchemyError as exc:
            report.problems.append(Problem("error", f"{check.__name__.strip('_').replace('_', ' ')}: "
                                                    f"the query failed: {_first_line(exc)}"))
    return report


def _inspect_table(engine: Engine, name: str) -> tuple[str, dict[str, str]]:
    """('table'|'view'|'table or view', lower-cased column name -> declared type) where inspectable."""
    if engine.dialect.name == "duckdb":
        # duckdb-engine cannot reflect columns (pg_catalog.pg_collation), but DuckDB has information_schema
        try:
            with engine.connect() as conn:
                kinds = conn.execute(text("SELECT table_type FROM information_schema.tables WHERE table_name = :t"),
                                     {"t": name}).scalars().all()
                cols = conn.execute(text("SELECT column_name, data_type FROM information_schema.columns "
                                         "WHERE table_name = :t"), {"t": name}).all()
            kind = "view" if "VIEW" in kinds else "table"
            return kind, {str(c).lower(): str(t) for c, t in cols}
        except SQLAlchemyError:
            return "table or view", {}
    try:
        insp = inspect(engine)
        kind = "view" if name in insp.get_view_names() else "table"
        types = {c["name"].lower(): str(c["type"]) for c in insp.get_columns(name)}
        return kind, types
    except Exception:  # DuckDB and others without reflection, or no such table: existence is found below
        return "table or view", {}


def _column_works(engine: Engine, source: FromClause, column: str) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(select(_raw(source.c[column])).select_from(source).limit(0)).all()
        return True
    except SQLAlchemyError:
        return False


def _raw(column: Any) -> Any:
    """The column without its result processing: the check wants what the database holds."""
    return type_coerce(column, sqltypes.NullType())


def _scalar(engine: Engine, query: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def _rows(engine: Engine, query: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _count_and_examples(engine: Engine, source: FromClause, where: Any, shown: list[Any]) -> tuple[int, tuple[str, ...]]:
    n = int(_scalar(engine, select(func.count()).select_from(source).where(where)) or 0)
    if not n:
        return 0, ()
    rows = _rows(engine, select(*[_raw(c) for c in shown]).select_from(source).where(where).limit(_EXAMPLES))
    return n, tuple(" / ".join(_show(v) for v in r) for r in rows)


# ---- orders ---------------------------------------------------------------------------------


def _date_range(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
                now: datetime) -> None:
    col = "ordered_at" if report.logical == "orders" else "day"
    if col not in found:
        return
    c = _raw(source.c[col])
    first, last = _rows(engine, select(func.min(c), func.max(c)).select_from(source))[0]
    report.first = None if first is None else str(first)
    report.last = None if last is None else str(last)


def _timestamp_values(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
                      now: datetime) -> None:
    """Timestamps the KPI queries can compare: real timestamps, or ISO text on SQLite."""
    col = "ordered_at" if report.logical == "orders" else "day"
    if col in found:
        _timestamp_column(engine, source, col, report)


def _timestamp_column(engine: Engine, source: FromClause, col: str, report: TableReport) -> None:
    c = _raw(source.c[col])
    if engine.dialect.name == "sqlite":
        # text compared as text: only 'YYYY-MM-DD...' sorts in time order
        bad = or_(func.typeof(c) != "text", ~c.op("GLOB")("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"))
        n, examples = _count_and_examples(engine, source, and_(c.is_not(None), bad), [source.c[col]])
        if n:
            report.problems.append(Problem(
                "error", f"{n:,} {col} value(s) are not ISO text (YYYY-MM-DD HH:MM:SS); on SQLite periods compare "
                         f"text, so these fall in the wrong days. Convert them, e.g. in a view with "
                         f"strftime('%Y-%m-%d %H:%M:%S', ...)", examples))
        return
    value = _rows(engine, select(c).select_from(source).where(c.is_not(None)).limit(1))
    if value and not isinstance(value[0][0], datetime | date):
        report.problems.append(Problem(
            "error", f"{col} holds {type(value[0][0]).__name__} values, not timestamps: cast it in a view or a "
                     f"config query (CAST({col} AS TIMESTAMP))", (str(value[0][0]),)))


def _null_keys(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
               now: datetime) -> None:
    keys = ("order_id", "ordered_at", "amount") if report.logical == "orders" else (
        "day", "channel", "sessions" if report.logical == "traffic" else "spend")
    for key in keys:
        if key not in found:
            continue
        n = int(_scalar(engine, select(func.count()).select_from(source).where(source.c[key].is_(None))) or 0)
        if n:
            report.problems.append(Problem("warning", f"{n:,} row(s) with no {key}"))
    if report.logical == "orders" and "customer_id" in found:
        n = int(_scalar(engine, select(func.count()).select_from(source).where(source.c.customer_id.is_(None))) or 0)
        if n:
            report.problems.append(Problem("info", f"{n:,} order(s) without a customer (guests): counted in gmv and "
                                                   f"orders, not in buyers, new customers or retention"))


def _duplicates(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
                now: datetime) -> None:
    keys = ["order_id"] if report.logical == "orders" else ["day", "channel"]
    if not set(keys) <= found:
        return
    cols = [source.c[k] for k in keys]
    dup = select(*[_raw(c).label(k) for c, k in zip(cols, keys, strict=True)], func.count().label("n")).select_from(
        source).where(*[c.is_not(None) for c in cols]).group_by(*cols).having(func.count() > 1).subquery()
    n = int(_scalar(engine, select(func.count()).select_from(dup)) or 0)
    if n:
        rows = _rows(engine, select(dup).limit(_EXAMPLES))
        examples = tuple(f"{' / '.join(str(v) for v in r[:-1])} ({r[-1]}x)" for r in rows)
        what = "order_id" if report.logical == "orders" else "(day, channel)"
        report.problems.append(Problem("warning", f"{n:,} {what} value(s) appear more than once: those rows are "
                                                  f"counted twice", examples))


def _statuses(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
              now: datetime) -> None:
    if "status" not in found:
        return
    c = source.c.status
    rows = _rows(engine, select(_raw(c), func.count()).select_from(source).group_by(c)
                 .order_by(func.count().desc()).limit(_STATUS_LIMIT + 1))
    known = {s for values in mapping.statuses.values() for s in values}
    unknown = [(v, n) for v, n in rows if v is not None and str(v) not in known]
    if len(rows) > _STATUS_LIMIT:
        report.problems.append(Problem("warning", f"status has more than {_STATUS_LIMIT} distinct values: is it "
                                                  f"mapped to the right column?"))
    if unknown:
        report.problems.append(Problem(
            "warning", f"{len(unknown)} status value(s) are not in [warehouse.status] and count as placed: "
                       f"list them under placed, cancelled or refunded",
            tuple(f"{v!r} ({n:,})" for v, n in unknown[:_EXAMPLES])))
    nulls = sum(n for v, n in rows if v is None)
    if nulls:
        report.problems.append(Problem("info", f"{nulls:,} order(s) with no status (counted as placed)"))
    missing = [s for s in mapping.statuses["cancelled"] if s not in {str(v) for v, _ in rows}]
    if missing and len(missing) == len(mapping.statuses["cancelled"]) and rows:
        report.problems.append(Problem("info", "no order has a cancelled status "
                                               f"({', '.join(mapping.statuses['cancelled'])}): is the mapping right?"))


def _amounts(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
             now: datetime) -> None:
    if "amount" not in found:
        return
    shown = [source.c.order_id] if "order_id" in found else []
    amount = source.c.amount
    if engine.dialect.name == "sqlite":
        raw = _raw(amount)
        n, examples = _count_and_examples(engine, source, and_(raw.is_not(None), func.typeof(raw).not_in(
            ["integer", "real"])), [*shown, amount])
        if n:
            report.problems.append(Problem("error", f"{n:,} amount value(s) are stored as text: sums treat them as 0",
                                           examples))
    n, examples = _count_and_examples(engine, source, amount < 0, [*shown, amount])
    if n:
        report.problems.append(Problem("warning", f"{n:,} order(s) with a negative amount: they lower gmv (credit "
                                                  f"notes? map them to a cancelled or refunded status)", examples))
    if "refunded_amount" in found:
        refunded = source.c.refunded_amount
        n, examples = _count_and_examples(engine, source, refunded > amount, [*shown, amount, refunded])
        if n:
            report.problems.append(Problem("warning", f"{n:,} order(s) refunded more than their amount", examples))
        n, examples = _count_and_examples(engine, source, refunded < 0, [*shown, refunded])
        if n:
            report.problems.append(Problem("warning", f"{n:,} order(s) with a negative refunded_amount", examples))


def _future(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
            now: datetime) -> None:
    col = "ordered_at" if report.logical == "orders" else "day"
    if col not in found:
        return
    c = source.c[col]
    bound: Any = now if col == "ordered_at" else now.date()
    shown = [source.c.order_id] if "order_id" in found else []
    n, examples = _count_and_examples(engine, source, c > bound, [*shown, c])
    if n:
        report.problems.append(Problem(
            "warning", f"{n:,} row(s) dated after now ({now:%Y-%m-%d %H:%M} in the stored convention): wrong "
                       f"[warehouse] timestamps setting, or test data?", examples))


# ---- traffic and marketing spend ---------------------------------------------------------------


def _negative_measures(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
                       now: datetime) -> None:
    measures = ("sessions", "product_views", "add_to_cart") if report.logical == "traffic" else ("spend",)
    shown = [source.c[k] for k in ("day", "channel") if k in found]
    for m in measures:
        if m not in found:
            continue
        n, examples = _count_and_examples(engine, source, source.c[m] < 0, [*shown, source.c[m]])
        if n:
            report.problems.append(Problem("warning", f"{n:,} row(s) with negative {m}", examples))


_ORDERS_CHECKS = (_date_range, _timestamp_values, _null_keys, _duplicates, _statuses, _amounts, _future)
_DAILY_CHECKS = (_date_range, _timestamp_values, _null_keys, _duplicates, _negative_measures, _future)


# ---- products, stock and fulfilment (optional tables) ----------------------------------------------

# each table's natural key (what opsbot ingest upserts on); the parts a row may leave empty
_PRODUCT_KEYS: dict[str, tuple[str, ...]] = {
    "order_lines": ("order_id", "sku"), "products": ("sku",), "inventory": ("day", "sku", "warehouse"),
    "shipments": ("order_id",), "returns": ("order_id", "sku", "returned_at"),
}
_NULLABLE_KEYS: dict[str, tuple[str, ...]] = {"inventory": ("warehouse",), "returns": ("sku",)}
_DUPLICATES_MEAN: dict[str, str] = {
    "order_lines": "an order's lines of one sku should be one line (opsbot ingest sums them)",
    "products": "their names, categories and costs are ambiguous",
    "inventory": "that stock is counted twice",
    "shipments": "those orders count twice in fulfilment",
    "returns": "those returns are counted twice",
}
# the date or timestamp columns of each table; the first one gives the date range
_PRODUCT_DATES: dict[str, tuple[str, ...]] = {
    "inventory": ("day",), "shipments": ("shipped_at", "delivered_at"), "returns": ("returned_at",),
}
_NOT_NEGATIVE: dict[str, tuple[str, ...]] = {
    "order_lines": ("line_amount", "unit_price", "cost"), "products": ("cost", "lead_time_days"),
    "inventory": ("on_hand", "on_order"), "returns": ("amount",),
}
_POSITIVE: dict[str, tuple[str, ...]] = {"order_lines": ("quantity",), "returns": ("quantity",)}
_ROWS_ARE: dict[str, str] = {"order_lines": "order line(s)", "shipments": "shipment(s)", "returns": "return(s)",
                             "inventory": "row(s)", "products": "row(s)"}


def _line_amount_columns(found: set[str], physical: dict[str, str], report: TableReport) -> None:
    """An order line's amount is line_amount, or unit_price x quantity: one of them must work."""
    if "line_amount" in found:
        return
    if "unit_price" in found and "quantity" in found:
        report.problems.append(Problem("info", f"column {physical.get('line_amount', 'line_amount')!r} (for "
                                               f"line_amount) not found: a line's amount is unit_price x quantity"))
        return
    report.problems.append(Problem(
        "error", f"order_lines needs line_amount or unit_price (x quantity), and neither "
                 f"{physical.get('line_amount', 'line_amount')!r} nor {physical.get('unit_price', 'unit_price')!r} "
                 f"is found in {report.source!r}: map one in [warehouse.tables.order_lines] columns"))


def _product_dates(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
                   now: datetime) -> None:
    cols = [c for c in _PRODUCT_DATES.get(report.logical, ()) if c in found]
    if not cols:
        return  # order lines: the dates of their orders (below, with the orders); products have none
    c = _raw(source.c[cols[0]])
    first, last = _rows(engine, select(func.min(c), func.max(c)).select_from(source))[0]
    report.first = None if first is None else str(first)
    report.last = None if last is None else str(last)
    for col in cols:
        _timestamp_column(engine, source, col, report)


def _product_null_keys(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
                       now: datetime) -> None:
    for key in _REQUIRED_COLUMNS[report.logical]:
        if key not in found:
            continue
        n = int(_scalar(engine, select(func.count()).select_from(source).where(source.c[key].is_(None))) or 0)
        if n:
            report.problems.append(Problem("warning", f"{n:,} row(s) with no {key}"))
    if report.logical == "order_lines" and {"line_amount", "unit_price"} <= found:
        n, examples = _count_and_examples(engine, source, and_(
            source.c.line_amount.is_(None), source.c.unit_price.is_(None)), [source.c.order_id, source.c.sku])
        if n:
            report.problems.append(Problem("warning", f"{n:,} order line(s) with neither line_amount nor unit_price: "
                                                      f"they count as 0 in sales by sku", examples))


def _product_duplicates(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
                        now: datetime) -> None:
    keys = _PRODUCT_KEYS[report.logical]
    nullable = _NULLABLE_KEYS.get(report.logical, ())
    # a key part a row may leave empty (one unnamed warehouse) groups its empties together
    present = [k for k in keys if k in found]
    if [k for k in keys if k not in nullable] != [k for k in present if k not in nullable]:
        return
    cols = [source.c[k] for k in present]
    dup = select(*[_raw(c).label(k) for c, k in zip(cols, present, strict=True)], func.count().label("n")).select_from(
        source).where(*[c.is_not(None) for c, k in zip(cols, present, strict=True) if k not in nullable]).group_by(
        *cols).having(func.count() > 1).subquery()
    n = int(_scalar(engine, select(func.count()).select_from(dup)) or 0)
    if n:
        rows = _rows(engine, select(dup).limit(_EXAMPLES))
        examples = tuple(f"{' / '.join('-' if v is None else str(v) for v in r[:-1])} ({r[-1]}x)" for r in rows)
        what = present[0] if len(present) == 1 else f"({', '.join(present)})"
        report.problems.append(Problem("warning", f"{n:,} {what} value(s) appear more than once: "
                                                  f"{_DUPLICATES_MEAN[report.logical]}", examples))


def _product_values(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
                    now: datetime) -> None:
    logical = report.logical
    shown = [source.c[k] for k in _PRODUCT_KEYS[logical] if k in found]
    rows = _ROWS_ARE[logical]
    for col in _POSITIVE.get(logical, ()):
        if col in found:
            n, examples = _count_and_examples(engine, source, source.c[col] <= 0, [*shown, source.c[col]])
            if n:
                why = ("returns and cancellations belong in returns, not in order lines" if logical == "order_lines"
                       else "a return takes back at least one unit")
                report.problems.append(Problem("warning", f"{n:,} {rows} with a {col} of zero or less: {why}",
                                               examples))
    for col in _NOT_NEGATIVE.get(logical, ()):
        if col in found:
            n, examples = _count_and_examples(engine, source, source.c[col] < 0, [*shown, source.c[col]])
            if n:
                what = ": stock and days of cover are off" if col == "on_hand" else ""
                report.problems.append(Problem("warning", f"{n:,} {rows} with negative {col}{what}", examples))
    if logical == "shipments" and {"shipped_at", "delivered_at"} <= found:
        n, examples = _count_and_examples(engine, source, source.c.delivered_at < source.c.shipped_at, [
            source.c.order_id, source.c.shipped_at, source.c.delivered_at])
        if n:
            report.problems.append(Problem("warning", f"{n:,} shipment(s) delivered before they shipped: delivery "
                                                      f"times come out negative", examples))


def _product_future(engine: Engine, source: FromClause, found: set[str], mapping: Mapping, report: TableReport,
                    now: datetime) -> None:
    shown = [source.c[k] for k in _PRODUCT_KEYS[report.logical] if k in found and k not in ("day", "returned_at")]
    for col in _PRODUCT_DATES.get(report.logical, ()):
        if col not in found:
            continue
        c = source.c[col]
        bound: Any = now.date() if col == "day" else now
        n, examples = _count_and_examples(engine, source, c > bound, [*shown, c])
        if n:
            report.problems.append(Problem(
                "warning", f"{n:,} row(s) with {col} after now ({now:%Y-%m-%d %H:%M} in the stored convention): "
                           f"wrong [warehouse] timestamps setting, or test data?", examples))


_PRODUCT_CHECKS = (_product_dates, _product_null_keys, _product_duplicates, _product_values, _product_future)


# ---- across tables: order lines against their orders, rows against orders and products -------------


def _usable(report: TableReport | None, *columns: str) -> bool:
    """A table that exists, has rows, and whose columns work."""
    if report is None or not report.found or not report.rows:
        return False
    works = {c.logical for c in report.columns if c.found}
    return set(columns) <= works


def _kind(report: TableReport, column: str) -> str | None:
    """"number", "text" or None (not known) for a column's declared type."""
    declared = (next((c.declared_type for c in report.columns if c.logical == column), None) or "").upper()
    if any(w in declared for w in ("INT", "DOUBLE", "FLOAT", "REAL", "NUMERIC", "DECIMAL")):
        return "number"
    if any(w in declared for w in ("CHAR", "TEXT", "STRING")):
        return "text"
    return None


def _across_tables(engine: Engine, tables: dict[str, FromClause], reports: dict[str, TableReport]) -> None:
    checks = [("order_lines", _lines_against_orders), ("order_lines", _orphans), ("shipments", _orphans),
              ("returns", _orphans), ("order_lines", _unknown_skus), ("inventory", _unknown_skus),
              ("returns", _unknown_skus)]
    for logical, check in checks:
        report = reports.get(logical)
        if report is None or not _usable(report):
            continue
        try:
            check(engine, tables, reports, logical)
        except SQLAlchemyError as exc:
            # a comparison the database refuses (ids of two types it will not compare): the data may be fine
            report.problems.append(Problem("warning", f"{check.__name__.strip('_').replace('_', ' ')}: "
                                                      f"the query failed: {_first_line(exc)}"))


def _order_key(engine: Engine, tables: dict[str, FromClause], reports: dict[str, TableReport], logical: str) -> Any:
    child, orders = tables[logical], tables["orders"]
    return same_key(child.c.order_id, _kind(reports[logical], "order_id"), orders.c.order_id,
                    _kind(reports["orders"], "order_id"), engine.dialect.name)


def _lines_against_orders(engine: Engine, tables: dict[str, FromClause], reports: dict[str, TableReport],
                          logical: str) -> None:
    """The lines' dates (their orders'), and orders whose lines do not sum to their amount."""
    report, orders_report = reports[logical], reports.get("orders")
    if not _usable(orders_report, "order_id") or "order_id" not in {c.logical for c in report.columns if c.found}:
        return
    lines, orders = tables[logical], tables["orders"]
    found = {c.logical for c in report.columns if c.found}
    orders_found = {c.logical for c in orders_report.columns if c.found}  # type: ignore[union-attr]
    on = _order_key(engine, tables, reports, logical)
    if "ordered_at" in orders_found:
        first, last = _rows(engine, select(func.min(_raw(orders.c.ordered_at)), func.max(_raw(orders.c.ordered_at)))
                            .select_from(lines.join(orders, on)))[0]
        report.first = None if first is None else str(first)
        report.last = None if last is None else str(last)
    value = line_value(lines, found)
    if value is None or "amount" not in orders_found:
        return
    sums = select(lines.c.order_id.label("oid"), func.sum(value).label("total")).group_by(lines.c.order_id).subquery()
    join = same_key(sums.c.oid, _kind(report, "order_id"), orders.c.order_id,
                    _kind(orders_report, "order_id"), engine.dialect.name)  # type: ignore[arg-type]
    off = select(orders.c.order_id, _raw(orders.c.amount), sums.c.total).select_from(sums.join(orders, join)).where(
        func.abs(sums.c.total - orders.c.amount) > line_sum_tolerance(orders.c.amount))
    n = int(_scalar(engine, select(func.count()).select_from(off.subquery())) or 0)
    if n:
        rows = _rows(engine, off.order_by(orders.c.order_id).limit(_EXAMPLES))
        examples = tuple(f"{oid}: lines {_show(float(total))}, amount {_show(float(amount))}"
                         for oid, amount, total in rows)
        report.problems.append(Problem(
            "warning", f"{n:,} order(s) whose lines do not sum to their amount ({LINE_SUM_TOLERANCE}): units and "
                       f"sales by sku disagree with gmv (lines missing, doubled, or a discount left out)", examples))


def _orphans(engine: Engine, tables: dict[str, FromClause], reports: dict[str, TableReport], logical: str) -> None:
    report = reports[logical]
    if not _usable(reports.get("orders"), "order_id") or not _usable(report, "order_id"):
        return
    child = tables[logical]
    alone = and_(child.c.order_id.is_not(None), ~exists().where(_order_key(engine, tables, reports, logical)))
    n = int(_scalar(engine, select(func.count()).select_from(child).where(alone)) or 0)
    if not n:
        return
    ids = select(_raw(child.c.order_id).label("oid")).where(alone).distinct().subquery()
    m = int(_scalar(engine, select(func.count()).select_from(ids)) or 0)
    examples = tuple(str(r[0]) for r in _rows(engine, select(ids.c.oid).order_by(ids.c.oid).limit(_EXAMPLES)))
    report.problems.append(Problem(
        "warning", f"{n:,} {_ROWS_ARE[logical]} of {m:,} order(s) whose order_id is not in orders: answers by "
                   f"order, and every scoped chat, leave them out", examples))


def _unknown_skus(engine: Engine, tables: dict[str, FromClause], reports: dict[str, TableReport],
                  logical: str) -> None:
    report = reports[logical]
    if not _usable(reports.get("products"), "sku") or not _usable(report, "sku"):
        return
    rows, products = tables[logical], tables["products"]
    match = same_key(rows.c.sku, _kind(report, "sku"), products.c.sku, _kind(reports["products"], "sku"),
                     engine.dialect.name)
    unknown = and_(rows.c.sku.is_not(None), ~exists().where(match))
    n = int(_scalar(engine, select(func.count()).select_from(rows).where(unknown)) or 0)
    if not n:
        return
    by_sku = select(_raw(rows.c.sku).label("sku"), func.count().label("n")).where(unknown).group_by(
        rows.c.sku).subquery()
    m = int(_scalar(engine, select(func.count()).select_from(by_sku)) or 0)
    examples = tuple(f"{s!r} ({k:,})" for s, k in _rows(
        engine, select(by_sku.c.sku, by_sku.c.n).order_by(by_sku.c.n.desc(), by_sku.c.sku).limit(_EXAMPLES)))
    report.problems.append(Problem(
        "warning", f"{n:,} {_ROWS_ARE[logical]} with {m:,} SKU(s) not in products: their names, categories "
                   f"and costs are unknown", examples))
