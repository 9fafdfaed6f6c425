"""The benchmark suite of issue 9, in one command.

    .venv/bin/python -m bench.suite --orders 2000000,5000000 [--engines duckdb,sqlite,rollup] [--runs 5] [--write]

For every size it builds the demo shop once (cached under bench/out/, keyed by size, days and seed)
into DuckDB (the embedded default), SQLite if asked, and pre-aggregated daily rollup tables in the
DuckDB file; then, in one run, it times

* the KPI commands `kpi`, `trend`, `top`, `movers`, `retention`, `segments`, sent through the
  dispatcher exactly as chat messages (query, pandas, chart), a digest build
  (handlers.digest.build_digest) and the daily anomaly scan (metrics.anomaly.scan.scan);
  median of `--runs` after one warm-up;
* baselines for the same questions, measured in the same run: the plain hand-written SQL aggregate
  on the same engine, the same SQL on the rollup tables (where rollups can answer at all), and
  pandas on the same rows already in memory;
* `opsbot ingest` throughput: a CSV of the shop's orders into a fresh embedded warehouse, first
  import and re-import, against the engine's own bulk load and pandas.read_csv;
* the peak memory (VmHWM) of a bot process that builds the dispatcher and answers every command once.

Every engine runs in a worker process of its own (so one engine's caches and memory do not colour
another's). A single execution that takes longer than `--cap` seconds (60) is stopped and reported
as "> 60 s". `--write` replaces the section between `<!-- suite:start -->` and `<!-- suite:end -->`
in bench/README.md with the tables, the date, the machine and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import json
import os
import platform
import re
import selectors
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import OUT, machine  # noqa: E402

README = Path(__file__).parent / "README.md"
START, END = "<!-- suite:start -->", "<!-- suite:end -->"
ENGINES = ("duckdb", "sqlite", "rollup")
DIMS = ("channel", "category", "region")

# what is timed, in table order: (item, the chat message sent)
COMMANDS: list[tuple[str, str]] = [
    ("kpi", "kpi"),
    ("trend", "trend gmv last 365d"),
    ("top", "top category by gmv mtd"),
    ("movers", "movers gmv yesterday"),
    ("retention", "retention by month"),
    ("segments", "segments"),
]
# answers kept while the data is unchanged (metrics/data/cache.py) and computed ahead by the warm-up job
KEPT = ("retention", "segments")
ITEMS: list[tuple[str, str]] = COMMANDS + [
    ("digest", "digest build (handlers.digest.build_digest, daily)"),
    ("scan", "daily anomaly scan (metrics.anomaly.scan.scan)"),
]
KPI_TARGET_MS = 200.0  # issue 9, at 5,000,000 orders, median
INGEST_TARGET = 300_000.0  # rows/s, first import into the embedded default
MEMORY_TARGET_MB = 500.0
NOT_ADDITIVE = "buyers and new customers are distinct counts: not additive over days, so rollups cannot answer them"


# ---- the shop, built once per size ------------------------------------------------------------


@dataclass
class Shop:
    size: int
    days: int
    seed: int
    end: date  # the shop's "today": data ends the day before
    duckdb: Path
    sqlite: Path
    csv: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.end


def _base(out: Path, size: int, days: int, seed: int) -> Path:
    return out / f"suite-{size}-{days}-s{seed}"


def prepare(out: Path, size: int, days: int, seed: int, engines: Sequence[str], log: Callable[[str], None]) -> Shop:
    """The shop of this size in every engine asked for, built unless cached (same spec, same end day)."""
    from sqlalchemy import create_engine

    from metrics.data.load import demo_end, write_shop
    from metrics.data.sample import ShopSpec, generate

    out.mkdir(parents=True, exist_ok=True)
    base = _base(out, size, days, seed)
    meta_path = base.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    end = date.fromisoformat(meta["end"]) if "end" in meta else date.today()
    meta["end"] = end.isoformat()
    shop = Shop(size, days, seed, end, base.with_suffix(".duckdb"), base.with_suffix(".sqlite"), base.with_suffix(".csv"),
                meta)
    spec = ShopSpec(end=end, days=days, orders=size, seed=seed)
    wanted = ["duckdb"] + (["sqlite"] if "sqlite" in engines else [])
    generated = None
    for kind in wanted:
        path = shop.duckdb if kind == "duckdb" else shop.sqlite
        engine = create_engine(f"{kind}:///{path}")
        try:
            if path.exists() and demo_end(engine) == end:
                continue
            if generated is None:
                t0 = time.perf_counter()
                generated = generate(spec)
                meta["generate_s"] = round(time.perf_counter() - t0, 1)
            log(f"building the {size:,}-order shop in {kind}: {path}")
            t0 = time.perf_counter()
            write_shop(engine, generated, spec)
            meta[f"load_{kind}_s"] = round(time.perf_counter() - t0, 1)
        finally:
            engine.dispose()
    del generated
    gc.collect()
    import duckdb

    con = duckdb.connect(str(shop.duckdb))
    try:
        have = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        if not {"orders_daily", "orders_daily_dim"} <= have:
            log("building the rollup tables")
            t0 = time.perf_counter()
            build_rollups(con)
            meta["rollup_build_s"] = round(time.perf_counter() - t0, 2)
        if not shop.csv.exists():
            log(f"writing the orders CSV for ingest: {shop.csv}")
            tmp = shop.csv.with_suffix(".csv.part")
            con.execute(f"COPY (SELECT * FROM orders ORDER BY order_id) TO '{tmp}' "
                        "(HEADER, DELIMITER ',', TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')")
            tmp.rename(shop.csv)
        meta["orders"] = con.execute("select count(*) from orders").fetchone()[0]  # type: ignore[index]
        meta["customers"] = con.execute("select count(distinct customer_id) from orders").fetchone()[0]  # type: ignore[index]
        meta["rollup_rows"] = con.execute("select count(*) from orders_daily").fetchone()[0]  # type: ignore[index]
        meta["rollup_dim_rows"] = con.execute("select count(*) from orders_daily_dim").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    meta_path.write_text(json.dumps(meta, indent=1))
    return shop


# ---- rollups: what a pre-aggregated design would give ------------------------------------------

ROLLUP_SQL = [
    "CREATE OR REPLACE {temp}TABLE orders_daily AS "
    "SELECT CAST(ordered_at AS DATE) AS day, channel, category, region, "
    "SUM(amount) AS gmv, COUNT(*) AS orders, SUM(refunded_amount) AS refunded "
    "FROM orders WHERE status IS NULL OR status <> 'cancelled' GROUP BY ALL ORDER BY day",
    # one row per day and dimension value (and the day's total): what most questions read
    "CREATE OR REPLACE {temp}TABLE orders_daily_dim AS "
    "SELECT day, 'total' AS dimension, '' AS value, SUM(gmv) AS gmv, SUM(orders) AS orders, SUM(refunded) AS refunded "
    "FROM {schema}orders_daily GROUP BY day "
    + "".join(f"UNION ALL SELECT day, '{d}', {d}, SUM(gmv), SUM(orders), SUM(refunded) FROM {{schema}}orders_daily "
              f"GROUP BY day, {d} " for d in DIMS)
    + "ORDER BY day",
]


def build_rollups(con: Any, temporary: bool = False) -> None:
    """orders_daily (day x channel x category x region) and orders_daily_dim (day x one dimension) from
    orders; `temporary`: as temporary tables (a DuckDB file open read-only takes those)."""
    for sql in ROLLUP_SQL:
        con.execute(sql.format(temp="TEMP " if temporary else "", schema="temp." if temporary else ""))


# ---- the questions, as hand-written SQL -------------------------------------------------------------


@dataclass(frozen=True)
class Dates:
    today: date

    @property
    def y(self) -> date:
        return self.today - timedelta(days=1)

    @property
    def d1(self) -> date:
        return self.today - timedelta(days=2)

    @property
    def w(self) -> date:
        return self.today - timedelta(days=8)

    @property
    def card_days(self) -> list[date]:
        return [self.y, self.d1, self.w]  # yesterday, the day before, the same weekday a week before

    @property
    def month_start(self) -> date:
        return self.today.replace(day=1)

    @property
    def prev_mtd(self) -> tuple[date, date]:
        first = self.month_start
        prev_first = (first - timedelta(days=1)).replace(day=1)
        return prev_first, min(prev_first + (self.today - first), first)

    @property
    def scan_start(self) -> date:
        from metrics.anomaly.scan import lookback_days

        return self.y - timedelta(days=lookback_days())

    @property
    def cohorts(self) -> tuple[date, date, date]:
        from metrics import cohorts as co

        w = co.cohort_window("month", None, self.today)
        return w.start, w.end, w.complete_end


NC = "(status IS NULL OR status <> 'cancelled')"


class Sql:
    """The same questions for one source: raw orders on DuckDB or SQLite, or the rollup tables (DuckDB)."""

    def __init__(self, source: str, dates: Dates) -> None:
        self.source = source
        self.d = dates
        self.rollup = source == "rollup"

    def day(self, col: str = "ordered_at") -> str:
        return f"substr({col}, 1, 10)" if self.source == "sqlite" else f"CAST({col} AS DATE)"

    def month(self, col: str = "ordered_at") -> str:
        return f"substr({col}, 1, 7)" if self.source == "sqlite" else f"date_trunc('month', {col})"

    def between(self, a: date, b: date, col: str = "ordered_at") -> str:
        if self.rollup:
            return f"day >= DATE '{a}' AND day < DATE '{b}'"
        return f"{col} >= '{a}' AND {col} < '{b}'"

    def on_days(self, days: Sequence[date], col: str = "ordered_at") -> str:
        return "(" + " OR ".join(self.between(d, d + timedelta(days=1), col) for d in days) + ")"

    def orders(self, where: str, by: str | None = None, day: bool = False, buyers: bool = False) -> str:
        """gmv, orders, refunded [and buyers] under `where`, grouped by day and/or a dimension."""
        if self.rollup:
            keys = (["day"] if day else []) + (["value"] if by else [])
            cols = "SUM(gmv), SUM(orders), SUM(refunded)"
            sql = (f"SELECT {', '.join(keys + [cols])} FROM orders_daily_dim "
                   f"WHERE dimension = '{by or 'total'}' AND {where}")
        else:
            keys = ([self.day()] if day else []) + ([by] if by else [])
            cols = "SUM(amount), COUNT(*), SUM(refunded_amount)" + (", COUNT(DISTINCT customer_id)" if buyers else "")
            sql = f"SELECT {', '.join(keys + [cols])} FROM orders WHERE {where} AND {NC}"
        return sql + (f" GROUP BY {', '.join(keys)}" if keys else "")

    def new_customers(self, where_o: str, by: str | None = None) -> str:
        """Customers whose first ever non-cancelled order is in the range, per day [and dimension]."""
        keys = [self.day("o.ordered_at")] + ([f"o.{by}"] if by else [])
        return (f"SELECT {', '.join(keys)}, COUNT(DISTINCT o.customer_id) FROM orders o "
                f"WHERE {where_o} AND (o.status IS NULL OR o.status <> 'cancelled') AND NOT EXISTS ("
                f"SELECT 1 FROM orders p WHERE p.customer_id = o.customer_id "
                f"AND (p.status IS NULL OR p.status <> 'cancelled') AND p.ordered_at < o.ordered_at) "
                f"GROUP BY {', '.join(keys)}")

    def daily_table(self, table: str, measure: str, a: date, b: date, by: str | None = None) -> str:
        keys = ["day"] + ([by] if by else [])
        return (f"SELECT {', '.join(keys)}, SUM({measure}) FROM {table} WHERE day >= '{a}' AND day < '{b}' "
                f"GROUP BY {', '.join(keys)}")

    def movers(self, a: date, split: date, b: date, dim: str) -> str:
        if self.rollup:
            return (f"SELECT value, SUM(CASE WHEN day >= DATE '{split}' THEN gmv ELSE 0 END), "
                    f"SUM(CASE WHEN day < DATE '{split}' THEN gmv ELSE 0 END) FROM orders_daily_dim "
                    f"WHERE dimension = '{dim}' AND {self.between(a, b)} GROUP BY value")
        return (f"SELECT {dim}, SUM(CASE WHEN ordered_at >= '{split}' THEN amount ELSE 0 END), "
                f"SUM(CASE WHEN ordered_at < '{split}' THEN amount ELSE 0 END) FROM orders "
                f"WHERE {self.between(a, b)} AND {NC} GROUP BY {dim}")

    # -- per item: (statements, note); None when this source cannot answer at all

    def kpi(self) -> tuple[list[str], str]:
        d = self.d
        days = d.card_days
        stmts = [self.orders(self.on_days(days), day=True),
                 self.daily_table("traffic", "sessions", d.w, d.today)]
        if self.rollup:
            return stmts, "without new customers"
        return stmts + [self.new_customers(self.on_days(days, "o.ordered_at"))], ""

    def trend(self) -> tuple[list[str], str]:
        return [self.orders(self.between(self.d.today - timedelta(days=365), self.d.today), day=True)], ""

    def top(self) -> tuple[list[str], str]:
        sql = self.orders(self.between(self.d.month_start, self.d.today), by="category")
        return [sql + " ORDER BY 2 DESC"], ""

    def movers_(self) -> tuple[list[str], str]:
        d = self.d
        return [self.movers(d.d1, d.y, d.today, dim) for dim in DIMS], ""

    def retention(self) -> tuple[list[str], str] | None:
        if self.rollup:
            return None
        start, end, complete = self.d.cohorts
        m_first, m = self.month("f.first_at"), self.month()
        return [
            f"WITH f AS (SELECT customer_id, MIN(ordered_at) AS first_at FROM orders WHERE {NC} "
            f"AND customer_id IS NOT NULL GROUP BY customer_id), "
            f"a AS (SELECT DISTINCT customer_id, {m} AS m FROM orders WHERE {NC} AND {self.between(start, complete)}) "
            f"SELECT {m_first} AS cohort, a.m, COUNT(*) FROM f JOIN a ON a.customer_id = f.customer_id "
            f"WHERE f.first_at >= '{start}' AND f.first_at < '{end}' GROUP BY 1, 2"
        ], ""

    def segments(self) -> tuple[list[str], str] | None:
        if self.rollup:
            return None
        return [f"SELECT customer_id, MIN(ordered_at), MAX(ordered_at), COUNT(*), SUM(amount) FROM orders "
                f"WHERE ordered_at < '{self.d.today}' AND {NC} AND customer_id IS NOT NULL GROUP BY customer_id"], \
            "one RFM snapshot (the command computes four)"

    def digest(self) -> tuple[list[str], str]:
        d = self.d
        stmts, note = self.kpi()
        prev_a, prev_b = d.prev_mtd
        stmts = stmts + [
            self.orders(self.between(d.month_start, d.today)),
            self.orders(self.between(prev_a, prev_b)),
            self.movers(d.d1, d.y, d.today, "channel"),
            self.movers(d.d1, d.y, d.today, "category"),
            self.orders(self.between(d.today - timedelta(days=28), d.today), day=True),
        ]
        return stmts, note

    def scan(self) -> tuple[list[str], str]:
        d = self.d
        a, b = d.scan_start, d.today
        if self.rollup:
            stmts = [f"SELECT day, dimension, value, SUM(gmv), SUM(orders), SUM(refunded) FROM orders_daily_dim "
                     f"WHERE {self.between(a, b)} GROUP BY day, dimension, value"]
        else:
            stmts = [self.orders(self.between(a, b), by=by, day=True, buyers=True) for by in (None, *DIMS)]
            stmts += [self.new_customers(self.between(a, b, "o.ordered_at"), by) for by in (None, *DIMS)]
        for table, measure in (("traffic", "sessions"), ("marketing_spend", "spend")):
            stmts += [self.daily_table(table, measure, a, b), self.daily_table(table, measure, a, b, "channel")]
        return stmts, "without buyers and new customers" if self.rollup else ""

    def item(self, name: str) -> tuple[list[str], str] | None:
        return {"kpi": self.kpi, "trend": self.trend, "top": self.top, "movers": self.movers_,
                "retention": self.retention, "segments": self.segments, "digest": self.digest,
                "scan": self.scan}[name]()


# ---- the same questions in pandas, rows in memory ------------------------------------------------


def pandas_questions(orders: Any, traffic: Any, spend: Any, d: Dates) -> dict[str, Callable[[], object]]:
    """`orders`: the shop's non-cancelled orders already in memory (customer_id, ordered_at, amount,
    refunded_amount and the dimensions as categoricals); traffic and spend as read."""
    import pandas as pd

    o = orders
    ts = pd.Timestamp

    def between(a: date, b: date) -> Any:
        return o[(o.ordered_at >= ts(a)) & (o.ordered_at < ts(b))]

    def first_orders() -> Any:
        return o.loc[o.groupby("customer_id").ordered_at.idxmin()]

    def card() -> object:
        days = [ts(x) for x in d.card_days]
        sub = between(d.w, d.today)
        day = sub.ordered_at.dt.normalize()
        sub = sub[day.isin(days)]
        sums = sub.groupby(sub.ordered_at.dt.normalize()).agg(
            gmv=("amount", "sum"), orders=("amount", "size"), refunded=("refunded_amount", "sum"))
        first = o.groupby("customer_id").ordered_at.min().dt.normalize()
        new = first[first.isin(days)].value_counts()
        sessions = traffic[traffic.day.isin(days)].groupby("day").sessions.sum()
        return sums, new, sessions

    def trend(days: int = 365) -> object:
        sub = between(d.today - timedelta(days=days), d.today)
        return sub.groupby(sub.ordered_at.dt.normalize()).amount.sum()

    def top() -> object:
        return between(d.month_start, d.today).groupby("category", observed=True).amount.sum().sort_values()

    def movers(dims: Sequence[str] = DIMS) -> object:
        sub = between(d.d1, d.today)
        later = sub.ordered_at >= ts(d.y)
        return [sub.groupby([sub[dim], later], observed=True).amount.sum().unstack() for dim in dims]

    def retention() -> object:
        start, end, complete = d.cohorts
        first = o.groupby("customer_id").ordered_at.min()
        cohort = first[(first >= ts(start)) & (first < ts(end))].dt.to_period("M")
        act = between(start, complete)
        act = act[["customer_id"]].assign(m=act.ordered_at.dt.to_period("M")).drop_duplicates()
        act = act.assign(cohort=act.customer_id.map(cohort)).dropna(subset=["cohort"])
        return act.groupby(["cohort", "m"]).size()

    def segments() -> object:
        sub = o[o.ordered_at < ts(d.today)]
        return sub.groupby("customer_id").agg(first=("ordered_at", "min"), last=("ordered_at", "max"),
                                              n=("amount", "size"), gmv=("amount", "sum"))

    def digest() -> object:
        prev_a, prev_b = d.prev_mtd
        mtd = [between(d.month_start, d.today).amount.agg(["sum", "size"]),
               between(prev_a, prev_b).amount.agg(["sum", "size"])]
        return card(), mtd, movers(("channel", "category")), trend(28)

    def scan() -> object:
        sub = between(d.scan_start, d.today)
        day = sub.ordered_at.dt.normalize().rename("day")
        out = []
        firsts = first_orders()
        firsts = firsts[(firsts.ordered_at >= ts(d.scan_start)) & (firsts.ordered_at < ts(d.today))]
        fday = firsts.ordered_at.dt.normalize().rename("day")
        for by in (None, *DIMS):
            keys = [day] + ([sub[by]] if by else [])
            out.append(sub.groupby(keys, observed=True).agg(
                gmv=("amount", "sum"), orders=("amount", "size"), refunded=("refunded_amount", "sum"),
                buyers=("customer_id", "nunique")))
            out.append(firsts.groupby([fday] + ([firsts[by]] if by else []), observed=True).size())
        for frame, measure in ((traffic, "sessions"), (spend, "spend")):
            f = frame[(frame.day >= ts(d.scan_start)) & (frame.day < ts(d.today))]
            out += [f.groupby("day")[measure].sum(), f.groupby(["day", "channel"])[measure].sum()]
        return out

    return {"kpi": card, "trend": trend, "top": top, "movers": movers, "retention": retention,
            "segments": segments, "digest": digest, "scan": scan}


PANDAS_NOTES = {"segments": "one RFM snapshot (the command computes four)"}


# ---- the worker: one engine, one process ---------------------------------------------------------------


def _emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _vmhwm_kb(pid: int | str = "self") -> int:
    """Peak resident set size of a process (VmHWM), in kB; 0 where /proc is not there."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    if pid == "self":
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return 0


def _timed(unit: str, fn: Callable[[], object], runs: int, budget_s: float, warm: bool = True) -> None:
    """Warm-up, then up to `runs` timed executions (fewer once `budget_s` is spent, at least one)."""
    _emit(event="start", unit=unit)
    if warm:
        fn()
        _emit(event="tick", unit=unit)
    times: list[float] = []
    began = time.perf_counter()
    for _ in range(max(runs, 1)):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
        _emit(event="tick", unit=unit, ms=times[-1])
        if time.perf_counter() - began > budget_s:
            break
    _emit(event="done", unit=unit, value=statistics.median(times), n=len(times), of="ms")


def _now(today: date) -> datetime:
    return datetime.combine(today, datetime.min.time()) + timedelta(hours=10)


def _opsbot_units(url: str, today: date) -> tuple[dict[str, Callable[[], object]], Any]:
    from bench.common import asker, dispatcher_for
    from bot.context import ChatRef
    from handlers.digest import DigestSpec, build_digest
    from metrics.anomaly.scan import scan

    now = _now(today)
    dispatcher = dispatcher_for(url, now)
    wh = dispatcher.services.warehouse
    units: dict[str, Callable[[], object]] = {}
    for item, cmd in COMMANDS:
        ask = asker(dispatcher, cmd)

        def cold(ask: Callable[[], object] = ask) -> object:
            wh.cache.clear()  # the first question of the day, before any warm-up: nothing kept
            return ask()

        def drawn(cold: Callable[[], object] = cold) -> object:
            reply = cold()
            asyncio.run(dispatcher.draw(reply))  # type: ignore[arg-type]
            return reply

        units[f"{item}:opsbot"] = cold
        units[f"{item}:chart"] = drawn
        if item in KEPT:
            units[f"{item}:kept"] = ask  # what everyone after the warm-up job gets
    ctx = dispatcher.context_for(ChatRef("slack", "CBENCH"))
    units["digest:opsbot"] = lambda: asyncio.run(build_digest(ctx, DigestSpec(), now))
    units["scan:opsbot"] = lambda: scan(wh, today - timedelta(days=1))
    return units, wh.engine


def _sql_units(source: str, path: Path, today: date, engine: Any = None
               ) -> tuple[dict[str, Callable[[], object]], dict[str, str], Any]:
    """Hand-written SQL through the driver itself: DuckDB fetches columns (numpy), SQLite rows.
    `engine`: the bot's SQLAlchemy engine on the same DuckDB file (one process may open a DuckDB
    file only once with one configuration, so the SQL runs on a connection of the bot's pool)."""
    sql = Sql(source, Dates(today))
    if source == "sqlite":
        con: Any = sqlite3.connect(str(path))

        def run(stmts: list[str]) -> object:
            return [con.execute(s).fetchall() for s in stmts]
    else:
        import duckdb

        con = engine.raw_connection() if engine is not None else duckdb.connect(str(path), read_only=True)
        duck = con.driver_connection if engine is not None else con

        def run(stmts: list[str]) -> object:
            return [duck.execute(s).fetchnumpy() for s in stmts]
    units: dict[str, Callable[[], object]] = {}
    notes: dict[str, str] = {}
    for item, _ in ITEMS:
        found = sql.item(item)
        if found is None:
            continue
        stmts, note = found
        units[f"{item}:sql"] = lambda stmts=stmts: run(stmts)
        if note:
            notes[f"{item}:sql"] = note
    if source == "rollup":
        def rebuild() -> object:
            build_rollups(duck, temporary=True)
            return None
        units["rollup_build:sql"] = rebuild
    return units, notes, con


def _pandas_units(path: Path, today: date) -> dict[str, Callable[[], object]]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    orders = con.execute(
        "SELECT customer_id, ordered_at, amount, refunded_amount, channel, category, region FROM orders "
        f"WHERE {NC}").df()
    for dim in DIMS:
        orders[dim] = orders[dim].astype("category")
    traffic = con.execute("SELECT day, channel, sessions FROM traffic").df()
    spend = con.execute("SELECT day, channel, spend FROM marketing_spend").df()
    con.close()
    import pandas as pd

    for frame in (traffic, spend):
        frame["day"] = pd.to_datetime(frame["day"])
    questions = pandas_questions(orders, traffic, spend, Dates(today))
    return {f"{item}:pandas": fn for item, fn in questions.items()}


def _ingest_once(settings: Any, shop_csv: Path, rollup_db: Path | None) -> float:
    """Seconds for one `opsbot ingest` of the file (and, for the rollup design, the rollup refresh)."""
    from metrics.data.ingest import IngestOptions, ingest_files

    t0 = time.perf_counter()
    report = ingest_files(settings, "orders", [shop_csv], progress=False, options=IngestOptions())
    assert report.ok, report.render()
    if rollup_db is not None:  # a rollup design refreshes its tables after every import
        import duckdb

        con = duckdb.connect(str(rollup_db))
        build_rollups(con)
        con.close()
    return time.perf_counter() - t0


def _ingest_units(engine: str, shop_csv: Path, workdir: Path, runs: int) -> None:
    """`opsbot ingest` of the shop's orders CSV into fresh warehouses; rows/s (rows read / wall time)."""
    from bot.config import Settings

    rows = sum(1 for _ in open(shop_csv, "rb")) - 1
    kind = "sqlite" if engine == "sqlite" else "duckdb"
    first: list[float] = []
    again: list[float] = []
    _emit(event="start", unit="ingest_first:opsbot", rows=rows)
    for k in range(runs):
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            db = Path(tmp) / f"warehouse.{kind}"
            settings = Settings.model_validate({"warehouse": {"url": f"{kind}:///{db}"},
                                                "state": {"url": f"sqlite:///{Path(tmp) / 'state.db'}"}})

            first.append(rows / _ingest_once(settings, shop_csv, db if engine == "rollup" else None))
            _emit(event="tick", unit="ingest_first:opsbot")
            if k == 0:
                _emit(event="done", unit="ingest_first:opsbot", value=first[0], n=1, of="rows/s")
                _emit(event="start", unit="ingest_again:opsbot")
            again.append(rows / _ingest_once(settings, shop_csv, db if engine == "rollup" else None))
            _emit(event="tick", unit="ingest_again:opsbot")
    _emit(event="done", unit="ingest_again:opsbot", value=statistics.median(again), n=len(again), of="rows/s")
    # the first import's median over every run (the early "done" only keeps the parent informed)
    _emit(event="done", unit="ingest_first:opsbot", value=statistics.median(first), n=len(first), of="rows/s")
    if engine == "rollup":
        return
    _emit(event="start", unit="ingest_first:sql")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        t0 = time.perf_counter()
        if engine == "duckdb":
            import duckdb

            con = duckdb.connect(str(Path(tmp) / "bulk.duckdb"))
            con.execute(f"CREATE TABLE orders AS SELECT * FROM read_csv('{shop_csv}')")
            con.close()
        else:
            con = sqlite3.connect(str(Path(tmp) / "bulk.sqlite"))
            with open(shop_csv, newline="") as f:
                reader = csv.reader(f)
                header = next(reader)
                con.execute(f"CREATE TABLE orders ({', '.join(header)})")
                con.executemany(f"INSERT INTO orders VALUES ({', '.join('?' * len(header))})", reader)
            con.commit()
            con.close()
        _emit(event="done", unit="ingest_first:sql", value=rows / (time.perf_counter() - t0), n=1, of="rows/s")
    if engine == "duckdb":
        import pandas as pd

        _emit(event="start", unit="ingest_first:pandas")
        t0 = time.perf_counter()
        pd.read_csv(shop_csv)
        _emit(event="done", unit="ingest_first:pandas", value=rows / (time.perf_counter() - t0), n=1, of="rows/s")


def worker(cfg: dict[str, Any]) -> None:
    mode, engine, today = cfg["mode"], cfg["engine"], date.fromisoformat(cfg["today"])
    skip = set(cfg.get("skip", []))
    runs, budget = cfg["runs"], cfg["budget_s"]
    path = Path(cfg["sqlite"] if engine == "sqlite" else cfg["duckdb"])
    url = f"{'sqlite' if engine == 'sqlite' else 'duckdb'}:///{path}"
    if mode == "ingest":
        _ingest_units(engine, Path(cfg["csv"]), Path(cfg["workdir"]), cfg["ingest_runs"])
        return
    if mode == "memory":
        # a bot process: the dispatcher as `opsbot run` builds it, every command answered once
        _emit(event="start", unit="memory:opsbot")
        units, _ = _opsbot_units(url, today)
        started_kb = _vmhwm_kb()
        # segments (one row per customer) last, so the peak of everything else is known too
        order = sorted(units, key=lambda u: u.startswith("segments"))
        for unit in order:
            if unit.startswith("segments"):
                _emit(event="note", unit="memory:opsbot",
                      note=f"{started_kb / 1024:,.0f} MB once the dispatcher is built, "
                           f"{_vmhwm_kb() / 1024:,.0f} MB after every command but `segments`")
            units[unit]()
            _emit(event="tick", unit="memory:opsbot", kb=_vmhwm_kb())
        _emit(event="done", unit="memory:opsbot", value=_vmhwm_kb() / 1024, n=1, of="MB")
        return
    con = None
    notes: dict[str, str] = {}
    if engine == "pandas":
        units = _pandas_units(path, today)
        notes = {f"{k}:pandas": v for k, v in PANDAS_NOTES.items()}
    else:
        units, sa_engine = ({}, None) if engine == "rollup" else _opsbot_units(url, today)
        sql_units, notes, con = _sql_units(engine, path, today, sa_engine if engine == "duckdb" else None)
        units.update(sql_units)
    for unit, fn in units.items():
        if unit in skip:
            continue
        if unit in notes:
            _emit(event="note", unit=unit, note=notes[unit])
        _timed(unit, fn, runs, budget, warm=cfg.get("warmup", 1) > 0)
    if con is not None:
        con.close()


# ---- the parent: workers, caps, results -------------------------------------------------------------


@dataclass
class Result:
    value: float | None  # None: stopped at the cap
    of: str  # ms, rows/s, MB
    n: int = 0
    note: str = ""
    capped: bool = False
    cap_s: float = 60.0


class Runner:
    def __init__(self, out: Path, cap_s: float, log: Callable[[str], None]) -> None:
        self.out = out
        self.cap_s = cap_s
        self.log = log
        self.loads: list[float] = []

    def run(self, cfg: dict[str, Any], cap_s: float | None = None) -> dict[str, Result]:
        """Run a worker until it has measured everything it was given; a unit whose single execution
        exceeds the cap is stopped (the worker is killed) and the worker restarted without it."""
        cap = cap_s or self.cap_s
        results: dict[str, Result] = {}
        notes: dict[str, str] = {}
        skip: list[str] = list(cfg.get("skip", []))
        while True:
            cfg = dict(cfg, skip=skip)
            stopped = self._once(cfg, cap, results, notes)
            if stopped is None:
                break
            if stopped not in results:
                results[stopped] = Result(None, "ms", 0, notes.get(stopped, ""), capped=True, cap_s=cap)
            skip = list(dict.fromkeys([*skip, *results]))  # the new worker goes on after what is measured
            if cfg["mode"] != "time":
                break
        for unit, note in notes.items():
            if unit in results and not results[unit].note:
                results[unit].note = note
        return results

    def _once(self, cfg: dict[str, Any], cap: float, results: dict[str, Result], notes: dict[str, str]) -> str | None:
        log_path = self.out / "suite-worker.log"
        with open(log_path, "a") as err:
            err.write(f"\n=== {datetime.now():%Y-%m-%d %H:%M:%S} {cfg['mode']} {cfg['engine']} {cfg['size']}\n")
            err.flush()
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.suite", "--worker", json.dumps(cfg)], cwd=str(ROOT),
                stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        current: str | None = None
        last = time.monotonic()
        peak_kb = 0
        buffer = ""
        try:
            while True:
                ready = sel.select(timeout=1.0)
                self.loads.append(os.getloadavg()[0])
                if cfg["mode"] == "memory":
                    peak_kb = max(peak_kb, _vmhwm_kb(proc.pid))
                if not ready:
                    if proc.poll() is not None:
                        break
                    if current is not None and time.monotonic() - last > cap:
                        self.log(f"  {current}: one execution took more than {cap:.0f} s: stopped")
                        if cfg["mode"] == "memory":
                            note = "; ".join(x for x in (notes.get(current, ""), f"one command stopped at the "
                                                                f"{cap:.0f} s cap: the peak until then") if x)
                            results[current] = Result(peak_kb / 1024, "MB", 0, note)
                        return current
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536).decode()
                if not chunk:
                    break
                buffer += chunk
                while "\n" in buffer:
                    line, buffer = buffer.split("\n", 1)
                    if not line.startswith("{"):
                        continue
                    ev = json.loads(line)
                    last = time.monotonic()
                    unit = ev.get("unit")
                    if ev["event"] == "start":
                        current = unit
                    elif ev["event"] == "note":
                        notes[unit] = ev["note"]
                    elif ev["event"] == "done":
                        results[unit] = Result(ev["value"], ev["of"], ev["n"], notes.get(unit, ""))
                        if unit == current:
                            current = None
                        self.log(f"  {cfg['engine']:>7} {unit:<22} {_fmt(results[unit])}")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # our own worker's process group
            proc.wait()
        if proc.returncode not in (0, -signal.SIGKILL):
            tail = log_path.read_text()[-3000:]
            raise RuntimeError(f"worker {cfg['mode']} {cfg['engine']} failed ({proc.returncode}):\n{tail}")
        return None


def _fmt(r: Result | None) -> str:
    if r is None:
        return "—"
    if r.capped or r.value is None:
        return f"> {r.cap_s:.0f} s" if r.of == "ms" else "stopped"
    if r.of == "ms":
        return f"{r.value:,.0f}" if r.value >= 10 else f"{r.value:,.1f}"
    if r.of == "rows/s":
        return f"{r.value / 1000:,.0f}k"
    return f"{r.value:,.0f}"


# ---- the table -----------------------------------------------------------------------------------------------

COLUMNS = [("duckdb", "DuckDB"), ("sqlite", "SQLite"), ("rollup", "rollup"), ("pandas", "pandas")]


@dataclass
class Row:
    label: str
    unit: str  # the unit key (item:kind)
    cells: dict[str, str]  # column -> text
    values: dict[str, float | None]  # column -> number (None: capped or not measured)
    target: str = ""


def table_rows(res: dict[str, dict[str, Result]], engines: Sequence[str], size: int) -> list[Row]:
    """One row per measured item: the opsbot row and its baseline row per command, then ingest and memory."""
    cols = [c for c, _ in COLUMNS if c in engines or c == "pandas"]
    rows: list[Row] = []
    big = size >= 5_000_000

    def row(label: str, per_col: dict[str, str], target: str = "", check: Callable[[float], bool] | None = None) -> None:
        cells, values = {}, {}
        for col in cols:
            unit = per_col.get(col)
            r = res.get(col, {}).get(unit) if unit else None
            text_ = _fmt(r) if unit else "—"
            if unit and r is None:
                text_ = "n/a"
            if r is not None and r.note:
                text_ += "*"
            cells[col] = text_
            values[col] = r.value if r is not None and not r.capped else None
        mark = ""
        default = res.get("duckdb", {}).get(per_col.get("duckdb", ""))
        if check is not None and default is not None and default.value is not None and not default.capped:
            mark = " ✓" if check(default.value) else " ✗"
        rows.append(Row(label, next(iter(per_col.values()), ""), cells, values, target + mark if target else ""))

    commands = dict(COMMANDS)
    for item, what in ITEMS:
        is_kpi = item in commands
        name = f"`{what}`" if is_kpi else what
        row(f"{name}" + (" — the numbers, nothing kept" if is_kpi else ""),
            {"duckdb": f"{item}:opsbot", "sqlite": f"{item}:opsbot"},
            f"< {KPI_TARGET_MS:.0f} ms" if is_kpi and big else "",
            (lambda v: v < KPI_TARGET_MS) if is_kpi and big else None)
        if is_kpi:
            row("↳ with its chart drawn (sent after the numbers)", {"duckdb": f"{item}:chart", "sqlite": f"{item}:chart"})
        if item in KEPT:
            row("↳ kept answer, after the warm-up job", {"duckdb": f"{item}:kept", "sqlite": f"{item}:kept"},
                f"< {KPI_TARGET_MS:.0f} ms" if big else "", (lambda v: v < KPI_TARGET_MS) if big else None)
        row("↳ baseline: hand-written SQL; pandas",
            {"duckdb": f"{item}:sql", "sqlite": f"{item}:sql", "rollup": f"{item}:sql", "pandas": f"{item}:pandas"})
    row("rebuild both rollup tables from orders", {"rollup": "rollup_build:sql"})
    row("`opsbot ingest` of the orders CSV, first import, rows/s (rollup: + rollup rebuild)",
        {"duckdb": "ingest_first:opsbot", "sqlite": "ingest_first:opsbot", "rollup": "ingest_first:opsbot"},
        "≥ 300k" if big else "", (lambda v: v >= INGEST_TARGET) if big else None)
    row("`opsbot ingest`, re-import of the same file, rows/s",
        {"duckdb": "ingest_again:opsbot", "sqlite": "ingest_again:opsbot", "rollup": "ingest_again:opsbot"})
    row("↳ baseline: the engine's own bulk load, no validation; pandas.read_csv, rows/s",
        {"duckdb": "ingest_first:sql", "sqlite": "ingest_first:sql", "pandas": "ingest_first:pandas"})
    row("peak memory (VmHWM) of a bot process answering the eight above once, MB", {"duckdb": "memory:opsbot", "sqlite": "memory:opsbot"},
        f"< {MEMORY_TARGET_MB:.0f} MB", lambda v: v < MEMORY_TARGET_MB)
    return rows


def render(sizes: list[tuple[Shop, dict[str, dict[str, Result]]]], engines: Sequence[str], runs: int, warmup: int,
           command: str, loads: tuple[tuple[float, ...], tuple[float, ...], float], started: datetime, seconds: float) -> str:
    cols = [(c, name) for c, name in COLUMNS if c in engines or c == "pandas"]
    lines = [
        f"Measured {started:%Y-%m-%d %H:%M} in {seconds / 60:.0f} min by `.venv/bin/python -m bench.suite {command}`.",
        "",
        f"**Machine**: {machine()}; {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs (os.cpu_count).",
        f"**Load average** (1/5/15 min) at the start {', '.join(f'{x:.2f}' for x in loads[0])}, at the end "
        f"{', '.join(f'{x:.2f}' for x in loads[1])}; highest 1-minute value seen during the run {loads[2]:.2f}.",
        "",
        f"Times in ms: the median of {runs} after {'one warm-up' if warmup else 'no warm-up'} (fewer runs when "
        f"{runs} would take over 2 minutes); commands are sent through the dispatcher as chat messages. A "
        "command's first row is the time until its numbers are ready to send, with the answer cache emptied "
        "before every run (what the first person to ask pays); \"with its chart drawn\" adds the chart, which "
        "adapters draw and send after the numbers; \"kept answer\" is what everyone asking after the warm-up job "
        "gets (segments and retention are kept while the data is unchanged). Each command's baseline row answers the same question with hand-written SQL on the same "
        "engine (DuckDB and SQLite columns), the same SQL on the rollup tables (rollup column) and pandas on the "
        "same rows already in memory (pandas column). Ingest in rows/s (rows read / wall time of the whole call, "
        "validation, upsert and commit included); memory is the peak resident set of a separate bot process. "
        "`—`: not applicable; `n/a`: the source cannot answer the question; `> 60 s`: one execution was stopped "
        "at the cap; `*`: see the note under the table. ✓/✗ compares the DuckDB (default) value with the target.",
    ]
    for shop, res in sizes:
        m = shop.meta
        lines += ["", f"### {shop.size:,} orders ({m.get('orders', 0):,} rows, {m.get('customers', 0):,} customers, "
                      f"{shop.days} days, seed {shop.seed}, today = {shop.end})", ""]
        rows = table_rows(res, engines, shop.size)
        lines.append("| measured | " + " | ".join(name for _, name in cols) + " | target |")
        lines.append("| --- | " + " | ".join("---:" for _ in cols) + " | --- |")
        for r in rows:
            lines.append(f"| {r.label} | " + " | ".join(r.cells[c] for c, _ in cols) + f" | {r.target} |")
        grouped: dict[tuple[str, str], list[str]] = {}
        for col, per in res.items():
            for u, r in per.items():
                if r.note:
                    grouped.setdefault((u.split(":")[0], r.note), []).append(col)
        if grouped:
            notes = [f"{item} ({', '.join(sorted(cols))}): {note}" for (item, note), cols in sorted(grouped.items())]
            lines += ["", "\\* " + "; ".join(notes) + "."]
        rollup_rows = m.get("rollup_rows")
        if rollup_rows:
            lines += ["", f"Rollup tables: `orders_daily` (day × channel × category × region) {rollup_rows:,} rows, "
                          f"`orders_daily_dim` (day × one dimension, and the day's total) {m.get('rollup_dim_rows', 0):,} "
                          f"rows, in the same DuckDB file. {NOT_ADDITIVE.capitalize()}."]
    return "\n".join(lines)


def write_readme(section: str, readme: Path = README) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} … {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{section}\n{END}{tail}")


def run_suite(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    started = datetime.now()
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    out: Path = args.out
    engines = [e for e in args.engines.split(",") if e]
    for e in engines:
        if e not in ENGINES:
            raise SystemExit(f"unknown engine {e!r} (choose from {', '.join(ENGINES)})")
    runner = Runner(out, args.cap, log)
    sizes = []
    for size in [int(s.replace("_", "")) for s in args.orders.split(",") if s]:
        shop = prepare(out, size, args.days, args.seed, engines, log)
        log(f"{size:,} orders: shop ready ({shop.meta.get('orders', 0):,} orders, today = {shop.end})")
        res: dict[str, dict[str, Result]] = {}
        base = {"size": size, "today": shop.end.isoformat(), "duckdb": str(shop.duckdb), "sqlite": str(shop.sqlite),
                "csv": str(shop.csv), "workdir": str(out), "runs": args.runs, "budget_s": args.budget,
                "ingest_runs": args.ingest_runs, "warmup": args.warmup}
        for engine in [*engines, "pandas"]:
            res.setdefault(engine, {}).update(runner.run(dict(base, mode="time", engine=engine)))
        for engine in engines:
            if args.ingest:
                n = 1 if engine == "sqlite" else args.ingest_runs
                res[engine].update(runner.run(dict(base, mode="ingest", engine=engine, ingest_runs=n),
                                              cap_s=max(args.cap, 1800)))
                if engine == "duckdb":
                    # the pandas baseline of ingest runs in the DuckDB ingest worker
                    for unit in [u for u in res["duckdb"] if u.endswith(":pandas")]:
                        res["pandas"][unit] = res["duckdb"].pop(unit)
            if engine != "rollup":
                res[engine].update(runner.run(dict(base, mode="memory", engine=engine)))
        sizes.append((shop, res))
    load_end = os.getloadavg()
    seconds = time.perf_counter() - t_start
    shown = list(getattr(args, "argv", None) or [])
    for option in ("--json", "--out"):  # local paths say nothing about the measurement
        if option in shown:
            i = shown.index(option)
            del shown[i : i + 2]
    command = " ".join(shown)
    section = render(sizes, engines, args.runs, args.warmup, command, (load_start, load_end, max(runner.loads or [0.0])), started, seconds)
    return {
        "markdown": section,
        "sizes": [{"size": shop.size, "meta": shop.meta,
                   "rows": [asdict(r) for r in table_rows(res, engines, shop.size)],
                   "results": {col: {u: asdict(r) for u, r in per.items()} for col, per in res.items()}}
                  for shop, res in sizes],
        "load": {"start": load_start, "end": load_end, "max": max(runner.loads or [0.0])},
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", default="2000000,5000000", help="shop sizes, comma-separated")
    ap.add_argument("--engines", default="duckdb,sqlite,rollup", help="of duckdb, sqlite, rollup (pandas always runs)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measure after one warm-up")
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cap", type=float, default=60.0, help="stop a single execution after this many seconds")
    ap.add_argument("--warmup", type=int, choices=(0, 1), default=1, help="one untimed run first (0: none)")
    ap.add_argument("--budget", type=float, default=120.0, help="stop repeating a measure after this many seconds")
    ap.add_argument("--ingest-runs", type=int, default=3, help="imports per engine (SQLite: always 1)")
    ap.add_argument("--no-ingest", dest="ingest", action="store_false", help="skip the ingest measures")
    ap.add_argument("--out", type=Path, default=OUT, help="where built shops are cached")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--write", action="store_true", help="write the tables into bench/README.md")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result = run_suite(args, log)
    print(result["markdown"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    if args.write:
        write_readme(result["markdown"])
        log(f"written to {README}")


def iter_numbers(cells: dict[str, str]) -> Iterator[float]:
    """The numbers in a row's cells (for tests): "1,234", "300k", "95*" -> floats."""
    for text_ in cells.values():
        m = re.fullmatch(r"([\d,]+(?:\.\d+)?)(k?)\*?", text_.strip())
        if m:
            yield float(m.group(1).replace(",", "")) * (1000 if m.group(2) else 1)


if __name__ == "__main__":
    main()
