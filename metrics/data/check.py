"""`opsbot check`: what opsbot sees in the configured warehouse, and what is wrong with it.

A new user's first command against their own data. For each logical table it reports
whether the mapped table, view or config query and its columns exist with usable types,
the row count and date range, and the first problems in the data (nulls in keys,
duplicate keys, statuses outside the status mapping, negative amounts, refunds above
the amount, dates in the future).

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


def same_key(left: Any, left_integer: bool, right: Any, right_integer: bool, dialect: str) -> Any:
    """left = right for ids that may be stored as an integer in one table and as text in the other
    (PostgreSQL and DuckDB refuse to compare the two; SQLite converts by itself)."""
    if left_integer != right_integer and dialect != "sqlite":
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
        else:
            needed = _NEEDED_BY.get(c, f"breakdowns by {c}")
            report.problems.append(Problem("warning", f"column {physical[c]!r} (for {c}) not found: {needed} "
                                                      f"will fail; map it, or add it in a view or query"))
    if report.rows == 0:
        report.problems.append(Problem("warning", f"{logical} has no rows"))
        return report
    checks = _ORDERS_CHECKS if logical == "orders" else _DAILY_CHECKS if logical in CORE_TABLES else ()
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
    if col not in found:
        return
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
