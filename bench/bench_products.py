"""Issue 19's benchmark: the product commands on a large demo shop, each against hand-written SQL
on the same engine in the same run, and `opsbot ingest` of order lines.

    .venv/bin/python -m bench.bench_products --orders 5000000 --skus 20000 --runs 5 [--write]

It builds the demo shop once with the demo generator (`metrics.data.sample.generate` +
`write_shop`, DuckDB), cached under bench/out/ (git-ignored) by size, SKUs, days and seed, in a
process of its own (so the generator's peak memory is its own and the bot process starts clean);
then, in one process, it times

* `top sku by units last 30d`, `stock` and `fulfilment last 7d`, sent through the dispatcher as
  chat messages, the answer cache emptied before every run (what the first person to ask pays);
* the digest's stock section: where handlers.digest has it (`DigestSpec(sections=("stock",))`),
  the daily digest built with and without it (its cost: the difference); where it has none yet,
  what it is to compute: `metrics.products.stock.cover` + `stockouts` (per warehouse) +
  `fulfilment`, for yesterday;
* beside each, the hand-written SQL for the same question (`Sql`), on a connection of the bot's own
  DuckDB engine (same database instance, same memory limit). Before timing, the SQL's answers are
  compared with opsbot's (`agreement`): a baseline that answers another question proves nothing;
* `opsbot ingest order_lines` (metrics.data.ingest.ingest_files, validation, upsert, cross-checks
  against orders and products and the commit included) of the shop's first `--ingest-lines` lines
  into a fresh warehouse holding the shop's orders and products: first import and re-import, in
  rows/s, against DuckDB's own read_csv into a table.

Times are the median of `--runs` after one warm-up. `--profile DIR` also runs each opsbot item
once under cProfile (the bot's worker pool replaced by the calling thread, so the profile sees the
work) and writes DIR/<item>.prof and .txt: keep DIR out of the repository. `--write` replaces the
part of bench/README.md between `<!-- products:start -->` and `<!-- products:end -->`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import OUT, asker, dispatcher_for, machine  # noqa: E402

README = Path(__file__).parent / "README.md"
START, END = "<!-- products:start -->", "<!-- products:end -->"
TARGET_MS = 500.0  # issue 19, at 5,000,000 orders on DuckDB, median
TARGET_RATIO = 2.0  # ... and within 2x of the hand-written SQL
INGEST_TARGET = 300_000.0  # order lines per second
TABLES = ("orders", "order_lines", "products", "inventory", "shipments", "returns")

# what is timed, in table order: (item, the chat message sent, or None for a function)
COMMANDS: list[tuple[str, str | None]] = [
    ("top", "top sku by units last 30d"),
    ("stock", "stock"),
    ("fulfilment", "fulfilment last 7d"),
    ("digest", None),
]
DIGEST_LABEL = ("digest stock section, as its functions (`stock.cover` + `stock.stockouts` per warehouse + "
                "`fulfilment`, yesterday): handlers/digest.py has no such section")
SECTION_LABEL = "daily digest `with stock` (handlers.digest.build_digest), the stock section's cost"


# ---- the shop, built once ----------------------------------------------------------------------------


@dataclass
class Shop:
    orders: int
    skus: int
    days: int
    seed: int
    end: date  # the shop's "today": its data ends the day before
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"duckdb:///{self.path}"

    @property
    def yesterday(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def now(self) -> datetime:
        return datetime.combine(self.end, datetime.min.time()) + timedelta(hours=10)


def _base(out: Path, orders: int, skus: int, days: int, seed: int) -> Path:
    return out / f"products-{orders}-{skus}-{days}-s{seed}"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(shop: Shop, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Generate the shop and write it into shop.path; what it cost (seconds, peak RSS, frame sizes)."""
    from sqlalchemy import create_engine

    from metrics.data.load import write_shop
    from metrics.data.sample import ShopSpec, generate

    spec = ShopSpec(end=shop.end, days=shop.days, orders=shop.orders, seed=shop.seed, skus=shop.skus)
    log(f"generating {shop.orders:,} orders, {shop.skus:,} SKUs, {shop.days} days (seed {shop.seed})")
    t0 = time.perf_counter()
    generated = generate(spec)
    cost: dict[str, Any] = {"generate_s": round(time.perf_counter() - t0, 1), "generate_rss_mb": round(_rss_mb())}
    cost["frames_mb"] = {name: round(getattr(generated, name).memory_usage(deep=True).sum() / 1e6)
                         for name in TABLES}
    log(f"  generated in {cost['generate_s']} s (peak RSS {cost['generate_rss_mb']:,} MB); writing {shop.path}")
    for suffix in ("", ".wal"):
        Path(f"{shop.path}{suffix}").unlink(missing_ok=True)
    engine = create_engine(shop.url)
    t0 = time.perf_counter()
    try:
        write_shop(engine, generated, spec)
    finally:
        engine.dispose()
    cost["write_s"] = round(time.perf_counter() - t0, 1)
    cost["build_rss_mb"] = round(_rss_mb())
    log(f"  written in {cost['write_s']} s")
    return cost


def prepare(out: Path, orders: int, skus: int, days: int, seed: int, log: Callable[[str], None] = print,
            in_process: bool = False) -> Shop:
    """The shop, built unless cached (same spec, same end day). Built in a child process unless
    `in_process`."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    base = _base(out, orders, skus, days, seed)
    meta_path = base.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    end = date.fromisoformat(meta["end"]) if "end" in meta else date.today()
    shop = Shop(orders, skus, days, seed, end, base.with_suffix(".duckdb"), meta)
    if not (meta.get("built") and shop.path.exists() and _demo_end(shop.path) == end):
        meta = {"end": end.isoformat()}
        if in_process:
            meta.update(build(shop, log))
        else:
            cfg = json.dumps({"orders": orders, "skus": skus, "days": days, "seed": seed, "end": end.isoformat(),
                              "path": str(shop.path)})
            done = subprocess.run([sys.executable, "-m", "bench.bench_products", "--build-worker", cfg], cwd=str(ROOT),
                                  stdout=subprocess.PIPE, text=True, check=True)
            meta.update(json.loads(done.stdout.strip().splitlines()[-1]))
        meta["built"] = datetime.now().isoformat(timespec="seconds")
    con = duckdb.connect(str(shop.path), read_only=True)
    try:
        meta["rows"] = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]
        meta["inventory_pairs"] = con.execute(  # type: ignore[index]
            "SELECT count(*) FROM (SELECT DISTINCT sku, warehouse FROM inventory)").fetchone()[0]
        meta["inventory_days"] = con.execute("SELECT count(DISTINCT day) FROM inventory").fetchone()[0]  # type: ignore[index]
        meta["zero_rows"] = con.execute("SELECT count(*) FROM inventory WHERE on_hand <= 0").fetchone()[0]  # type: ignore[index]
        meta["labels"] = [list(map(str, r)) for r in con.execute(
            "SELECT kind, sku, warehouse, carrier, first_day, last_day FROM product_labels ORDER BY first_day").fetchall()]
    finally:
        con.close()
    meta["file_mb"] = round(shop.path.stat().st_size / 1e6)
    meta_path.write_text(json.dumps(meta, indent=1))
    shop.meta = meta
    return shop


def _demo_end(path: Path) -> date | None:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT value FROM opsbot_meta WHERE key = 'demo_end'").fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return date.fromisoformat(row[0]) if row and row[0] else None


# ---- the questions as hand-written SQL -------------------------------------------------------------------


NC = "(o.status IS NULL OR o.status <> 'cancelled')"


def _text(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ts(day: date) -> str:
    return f"TIMESTAMP '{day} 00:00:00'"


class Sql:
    """The same questions, written by hand for DuckDB, straightforwardly: one statement each."""

    def __init__(self, today: date, now: datetime, window: int = 28, sla_hours: float = 24.0,
                 stockout_days: int = 30, lost_baseline: int = 28, default_lead: int = 7) -> None:
        self.today, self.now = today, now
        self.y = today - timedelta(days=1)
        self.window, self.sla, self.stockout_days = window, sla_hours, stockout_days
        self.lost_baseline, self.default_lead = lost_baseline, default_lead

    def top(self, days: int = 30) -> str:
        """Units per SKU over the last `days` days: one GROUP BY over the lines joined to their orders."""
        return (f"SELECT l.sku, SUM(l.quantity) AS units FROM order_lines l JOIN orders o ON o.order_id = l.order_id "
                f"WHERE o.ordered_at >= {_ts(self.today - timedelta(days=days))} AND o.ordered_at < {_ts(self.today)} "
                f"AND {NC} GROUP BY l.sku ORDER BY units DESC, l.sku")

    def at_risk(self) -> str:
        """The latest snapshot's on_hand and on_order per SKU and warehouse (as of yesterday), the
        window's units and GMV of the orders shipped from that warehouse, lead times; SKU-warehouses
        whose stock and orders would not last the lead time, most GMV at stake first, with the name.
        Columns: sku, name, on_hand, units a day, cover (on hand), lead time, GMV at stake, warehouse,
        on_order."""
        y, w = self.y, self.window
        return f"""
WITH snap AS (SELECT max(day) AS d FROM inventory WHERE day <= DATE '{y}'),
stock AS (SELECT sku, warehouse, SUM(on_hand) AS on_hand, COALESCE(SUM(on_order), 0) AS on_order
          FROM inventory WHERE day = (SELECT d FROM snap) GROUP BY sku, warehouse),
sold AS (SELECT l.sku, s.warehouse, SUM(l.quantity) AS units,
                SUM(COALESCE(l.line_amount, l.unit_price * l.quantity)) AS gmv
         FROM order_lines l JOIN orders o ON o.order_id = l.order_id JOIN shipments s ON s.order_id = o.order_id
         WHERE o.ordered_at >= {_ts(y - timedelta(days=w - 1))} AND o.ordered_at < {_ts(y + timedelta(days=1))}
           AND {NC} GROUP BY l.sku, s.warehouse),
c AS (SELECT k.sku, k.warehouse, p.name, k.on_hand, k.on_order, sold.units / {w}.0 AS daily,
             sold.gmv / {w}.0 AS daily_gmv, COALESCE(p.lead_time_days, {self.default_lead}) AS lead
      FROM stock k JOIN sold ON sold.sku = k.sku AND sold.warehouse = k.warehouse
      LEFT JOIN products p ON p.sku = k.sku WHERE sold.units > 0)
SELECT sku, name, on_hand, daily, on_hand / daily AS cover, lead,
       daily_gmv * (lead - (on_hand + on_order) / daily) AS stake, warehouse, on_order
FROM c WHERE (on_hand + on_order) / daily < lead ORDER BY stake DESC, daily_gmv DESC, sku, warehouse"""

    def runs(self, start: date, end: date) -> str:
        """Runs of snapshot days at 0 per SKU and warehouse in [start, end): daily snapshots, so a run
        is consecutive days ((day, sku, warehouse) is the table's key: a row is that day's stock there)."""
        return f"""
SELECT r.sku, p.name, r.warehouse, r.first, r.last, r.days,
       r.last = (SELECT max(day) FROM inventory WHERE day >= DATE '{start}' AND day < DATE '{end}') AS ongoing
FROM (SELECT sku, warehouse, min(day) AS first, max(day) AS last, count(*) AS days
      FROM (SELECT sku, warehouse, day,
                   day - CAST(row_number() OVER (PARTITION BY sku, warehouse ORDER BY day) AS INTEGER) AS grp
            FROM inventory WHERE day >= DATE '{start}' AND day < DATE '{end}' AND on_hand <= 0)
      GROUP BY sku, warehouse, grp) r
LEFT JOIN products p ON p.sku = r.sku"""

    def lost(self, runs: list[tuple[Any, ...]], end: date) -> str | None:
        """The lost sales of `runs` (rows of `runs`): the SKU's average daily units over the
        `lost_baseline` in-stock days (its stock > 0) before the run began, x its ASP over those days;
        the history read starts 3 x `lost_baseline` days before the earliest run."""
        if not runs:
            return None
        values = ", ".join(f"({_text(r[0])}, {_text(r[2] or '')}, DATE '{r[3]}', {int(r[5])})" for r in runs)
        skus = ", ".join(sorted({_text(r[0]) for r in runs}))
        since = min(r[3] for r in runs) - timedelta(days=3 * self.lost_baseline)
        return f"""
WITH runs(sku, warehouse, first, days) AS (VALUES {values}),
held AS (SELECT sku, warehouse, day, SUM(on_hand) AS on_hand FROM inventory
         WHERE sku IN ({skus}) AND day >= DATE '{since}' AND day < DATE '{end}' GROUP BY sku, warehouse, day),
stock AS (SELECT sku, day, SUM(on_hand) AS on_hand FROM held GROUP BY sku, day),
sold AS (SELECT l.sku, CAST(o.ordered_at AS DATE) AS day, SUM(l.quantity) AS units,
                SUM(COALESCE(l.line_amount, l.unit_price * l.quantity)) AS gmv
         FROM order_lines l JOIN orders o ON o.order_id = l.order_id
         WHERE l.sku IN ({skus}) AND o.ordered_at >= {_ts(since)} AND o.ordered_at < {_ts(end)} AND {NC}
         GROUP BY ALL),
before AS (SELECT r.sku, r.warehouse, r.first, COALESCE(s.units, 0) AS units, COALESCE(s.gmv, 0) AS gmv,
                  k.on_hand AS total, COALESCE(h.on_hand, 0) AS here,
                  row_number() OVER (PARTITION BY r.sku, r.warehouse, r.first ORDER BY k.day DESC) AS n
           FROM runs r JOIN stock k ON k.sku = r.sku AND k.day < r.first AND k.on_hand > 0
           LEFT JOIN held h ON h.sku = r.sku AND h.warehouse = r.warehouse AND h.day = k.day
           LEFT JOIN sold s ON s.sku = k.sku AND s.day = k.day),
base AS (SELECT sku, warehouse, first,
                SUM(units) / count(*) * CASE WHEN warehouse = '' THEN 1 ELSE SUM(here) / SUM(total) END AS daily,
                SUM(gmv) / NULLIF(SUM(units), 0) AS asp
         FROM before WHERE n <= {self.lost_baseline} GROUP BY sku, warehouse, first)
SELECT r.sku, r.warehouse, r.first, b.daily * r.days AS lost_units, b.daily * r.days * b.asp AS lost_gmv
FROM runs r LEFT JOIN base b USING (sku, warehouse, first)"""

    def runs_total(self, start: date, end: date) -> str:
        """Runs of snapshot days on which a SKU's stock over every warehouse is 0 (rows as `runs`, the
        warehouse NULL): only the (SKU, day)s with a row at 0 can be, so only those are summed."""
        return f"""
WITH zero AS (SELECT i.sku, i.day FROM inventory i
              SEMI JOIN (SELECT DISTINCT sku, day FROM inventory
                         WHERE day >= DATE '{start}' AND day < DATE '{end}' AND on_hand <= 0) z
                ON z.sku = i.sku AND z.day = i.day
              WHERE i.day >= DATE '{start}' AND i.day < DATE '{end}' GROUP BY i.sku, i.day HAVING SUM(i.on_hand) <= 0)
SELECT r.sku, p.name, NULL AS warehouse, r.first, r.last, r.days,
       r.last = (SELECT max(day) FROM inventory WHERE day >= DATE '{start}' AND day < DATE '{end}') AS ongoing
FROM (SELECT sku, min(day) AS first, max(day) AS last, count(*) AS days
      FROM (SELECT sku, day, day - CAST(row_number() OVER (PARTITION BY sku ORDER BY day) AS INTEGER) AS grp FROM zero)
      GROUP BY sku, grp) r
LEFT JOIN products p ON p.sku = r.sku"""

    def on_time(self, start: date, end: date) -> str:
        """On-time ship rate of the orders placed in [start, end) as it stood at `now` (a shipment
        after `now` not yet made), in total and per warehouse (the orders shipped from it by `now`)."""
        sla = f"INTERVAL {self.sla * 3600:.0f} SECOND"
        now = f"TIMESTAMP '{self.now:%Y-%m-%d %H:%M:%S}'"
        return f"""
SELECT warehouse, grouping(warehouse) AS g,
       count(*) FILTER (WHERE shipped_at <= {now} OR ordered_at + {sla} <= {now}) AS due,
       count(*) FILTER (WHERE shipped_at <= {now}) AS shipped,
       count(*) FILTER (WHERE shipped_at <= {now} AND shipped_at - ordered_at <= {sla}) AS on_time
FROM (SELECT o.ordered_at, s.shipped_at, s.warehouse FROM orders o LEFT JOIN shipments s ON s.order_id = o.order_id
      WHERE o.ordered_at >= {_ts(start)} AND o.ordered_at < {_ts(end)} AND {NC})
GROUP BY GROUPING SETS ((), (warehouse)) ORDER BY g DESC, warehouse"""

    def digest_section(self, duck: Any) -> dict[str, Any]:
        """What the digest's stock section says, as the SQL finds it: the SKUs out in total on the last
        snapshot (with their lost sales), those out at a warehouse only, those about to run out (in
        stock, cover below lead time), and yesterday's and the day before's on-time ship rate."""
        y = self.y
        as_of = duck.execute(f"SELECT max(day) FROM inventory WHERE day <= DATE '{y}'").fetchone()[0]
        start, end = as_of - timedelta(days=29), as_of + timedelta(days=1)
        whole = [r for r in self._with_lost(duck, duck.execute(self.runs_total(start, end)).fetchall(), end) if r[8]]
        out = {r[0] for r in whole}
        partial = [r for r in duck.execute(self.runs(start, end)).fetchall() if r[6] and r[0] not in out]
        risky = [r for r in duck.execute(self.at_risk()).fetchall() if r[2] > 0]
        days = [duck.execute(self.on_time(d, d + timedelta(days=1))).fetchall() for d in (y, y - timedelta(days=1))]
        return {"out": whole, "partial": partial, "at_risk": risky, "on_time": days}

    def stockouts(self, duck: Any, start: date, end: date) -> list[tuple[Any, ...]]:
        """The stock-out runs with their lost sales, most lost GMV first: two statements (the runs,
        then the history of the few SKUs they name, as opsbot reads it too)."""
        return self._with_lost(duck, duck.execute(self.runs(start, end)).fetchall(), end)

    def _with_lost(self, duck: Any, runs: list[tuple[Any, ...]], end: date) -> list[tuple[Any, ...]]:
        lost_sql = self.lost(runs, end)
        lost = {(r[0], r[1], r[2]): r[3:] for r in duck.execute(lost_sql).fetchall()} if lost_sql else {}
        out = [(*r[:6], *lost.get((r[0], r[2] or "", r[3]), (None, None)), r[6]) for r in runs]
        out.sort(key=lambda r: (r[7] is None, -(r[7] or 0.0), r[0], r[3]))
        return out

    def fulfilment(self, start: date, end: date, by_carrier: bool = True) -> str:
        """Due, on time, shipped, delivered, ship delay and delivery time p50/p90 of the orders placed in
        [start, end), in total and (by_carrier) per carrier: one query."""
        group = "GROUP BY GROUPING SETS ((), (carrier)) ORDER BY g DESC, shipped DESC" if by_carrier else ""
        sla = f"INTERVAL {self.sla * 3600:.0f} SECOND"
        return f"""
SELECT {'carrier, grouping(carrier) AS g' if by_carrier else "NULL AS carrier, 0 AS g"},
       count(*) FILTER (WHERE shipped_at IS NOT NULL OR ordered_at + {sla} <= TIMESTAMP '{self.now:%Y-%m-%d %H:%M:%S}') AS due,
       count(*) FILTER (WHERE shipped_at - ordered_at <= {sla}) AS on_time,
       count(shipped_at) AS shipped, count(delivered_at) AS delivered,
       quantile_cont(epoch(shipped_at - ordered_at) / 3600, [0.5, 0.9]) AS ship_hours,
       quantile_cont(epoch(delivered_at - shipped_at) / 86400, [0.5, 0.9]) AS delivery_days
FROM (SELECT o.ordered_at, s.shipped_at, s.delivered_at, s.carrier
      FROM orders o LEFT JOIN shipments s ON s.order_id = o.order_id
      WHERE o.ordered_at >= {_ts(start)} AND o.ordered_at < {_ts(end)} AND {NC})
{group}"""

    def items(self, duck: Any) -> dict[str, Callable[[], list[Any]]]:
        """Each timed item as the SQL answers it (the stock reply: its at-risk table and its stock-outs;
        the digest section: cover, yesterday's stock-outs, yesterday's fulfilment)."""
        y, today = self.y, self.today

        def run(*stmts: str) -> Callable[[], list[Any]]:
            return lambda: [duck.execute(s).fetchall() for s in stmts]

        def stock() -> list[Any]:
            return [duck.execute(self.at_risk()).fetchall(),
                    self.stockouts(duck, today - timedelta(days=self.stockout_days), today)]

        def functions() -> list[Any]:
            return [duck.execute(self.at_risk()).fetchall(), self.stockouts(duck, y, today),
                    duck.execute(self.fulfilment(y, today, by_carrier=False)).fetchall()]

        return {"top": run(self.top(30)), "stock": stock, "stock_cover": run(self.at_risk()),
                "fulfilment": run(self.fulfilment(today - timedelta(days=7), today)),
                "digest": (lambda: self.digest_section(duck)) if digest_has_stock_section() else functions}


# ---- opsbot's side ----------------------------------------------------------------------------------------


class Inline(Executor):
    """Runs submitted work at once in the calling thread: what a profile of one answer needs."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        done: Future[Any] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine, as a pool would
            done.set_exception(exc)
        return done


def digest_has_stock_section() -> bool:
    """Whether handlers.digest builds the stock section (`DigestSpec(sections=("stock",))`)."""
    import dataclasses

    import handlers.digest as digest

    fields = {f.name for f in dataclasses.fields(digest.DigestSpec)}
    return "sections" in fields and "stock" in getattr(digest, "SECTIONS", ())


def opsbot_units(dispatcher: Any, shop: Shop) -> dict[str, Callable[[], Any]]:
    """Each item as opsbot answers it, with the answer cache emptied first."""
    from metrics.products import stock
    from metrics.products.fulfilment import fulfilment

    wh = dispatcher.services.warehouse
    settings = dispatcher.services.settings
    units: dict[str, Callable[[], Any]] = {}
    for item, cmd in COMMANDS:
        if cmd is None:
            continue
        ask = asker(dispatcher, cmd)

        def cold(ask: Callable[[], Any] = ask) -> Any:
            wh.cache.clear()  # the first question after a data load: nothing kept
            return ask()
        units[item] = cold
    y, today = shop.yesterday, shop.end
    if digest_has_stock_section():
        from bot.context import ChatRef
        from handlers.digest import DigestSpec, build_digest

        ctx = dispatcher.context_for(ChatRef("slack", "CBENCH"))

        def digest_with(sections: tuple[str, ...]) -> Callable[[], Any]:
            def build() -> Any:
                wh.cache.clear()
                return asyncio.run(build_digest(ctx, DigestSpec(sections=sections), shop.now))  # type: ignore[call-arg]
            return build
        units["digest"] = digest_with(("stock",))
        units["digest_without"] = digest_with(())
        return units

    def functions() -> Any:
        wh.cache.clear()
        start, end = (datetime.combine(d, datetime.min.time()) for d in (y, today))
        return (stock.cover(wh, y, settings.products.cover_window_days),
                stock.stockouts(wh, y, today, True),
                fulfilment(wh, start, end, shop.now, None, settings.products.ship_sla_hours))
    units["digest"] = functions
    return units


def sql_units(duck: Any, sql: Sql) -> dict[str, Callable[[], Any]]:
    return sql.items(duck)


# ---- do they answer the same question? -----------------------------------------------------------------


def _close(a: float | None, b: float | None, rel: float = 1e-6) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def agreement(answers: dict[str, Any], sql: dict[str, list[list[tuple[Any, ...]]]]) -> dict[str, str]:
    """Per item, how opsbot's answer compares with the SQL's: "same" or what differs."""
    out: dict[str, str] = {}
    # top: every SKU's units
    mine = {r["sku"]: r["value"] for r in answers["top"].data["rows"]}
    theirs = {str(sku): float(units) for sku, units in sql["top"][0]}
    diff = [k for k in mine.keys() | theirs.keys() if not _close(mine.get(k), theirs.get(k))]
    out["top"] = "same" if not diff else f"{len(diff)} of {len(theirs)} SKUs differ (e.g. {sorted(diff)[:3]})"
    # stock: the at-risk SKUs in order with their cover and GMV at stake; the stock-out runs
    data = answers["stock"].data
    notes = _cover_diff([(c["sku"], c.get("warehouse"), c["cover_days"], c["gmv_at_stake"]) for c in data["at_risk"]],
                        [(str(r[0]), r[7], float(r[4]), float(r[6])) for r in sql["stock"][0]])
    notes += _runs_diff([(o["sku"], o["warehouse"], o["first"], o["last"], o["days"], o["lost_gmv"])
                         for o in data["stockouts"]], sql["stock"][1])
    out["stock"] = "; ".join(notes) or "same"
    # fulfilment: the total
    total = answers["fulfilment"].data["total"]
    row = next(r for r in sql["fulfilment"][0] if r[1] == 1)
    out["fulfilment"] = _fulfilment_diff(total, row)
    out["digest"] = _section_diff(answers["digest"], sql["digest"]) if isinstance(sql["digest"], dict) \
        else _functions_diff(answers["digest"], sql["digest"])
    return out


def _section_diff(reply: Any, sql: dict[str, Any]) -> str:
    """The digest's stock section against the SQL: how many SKUs in each list, the on-time counts."""
    data = reply.data["sections"]["stock"]
    notes = []
    for name, key in (("out", "stockouts_count"), ("partial", "stockouts_partial_count"), ("at_risk", "at_risk_count")):
        if data.get(key) != len(sql[name]):
            notes.append(f"{key} {data.get(key)} vs {len(sql[name])} (SQL)")
    if [o["sku"] for o in data.get("stockouts", [])] != [r[0] for r in sql["out"]][: len(data.get("stockouts", []))]:
        notes.append("the SKUs out of stock differ")
    for found, rows in ((data.get("on_time", {}), sql["on_time"][0]), (data.get("on_time", {}).get("previous", {}),
                                                                        sql["on_time"][1])):
        total = rows[0]
        if (found.get("due"), found.get("on_time")) != (total[2], total[4]):
            notes.append(f"on time {found.get('on_time')} of {found.get('due')} vs {total[4]} of {total[2]} (SQL)")
    return "; ".join(notes) or "same"


def _functions_diff(answers: Any, sql: list[Any]) -> str:
    """The section's functions (cover, yesterday's stock-outs, yesterday's fulfilment) against the SQL."""
    covers, outs, (ftotal, _) = answers
    notes = _cover_diff([(c.sku, c.warehouse, c.cover_days, c.gmv_at_stake) for c in covers if c.at_risk],
                        [(str(r[0]), r[7], float(r[4]), float(r[6])) for r in sql[0]])
    notes += _runs_diff([(o.sku, o.warehouse, o.first.isoformat(), o.last.isoformat(), o.days, o.lost_gmv)
                         for o in outs], sql[1])
    f = _fulfilment_diff({"due": ftotal.due, "on_time": ftotal.on_time, "shipped": ftotal.shipped,
                          "delivered": ftotal.delivered, "ship_p50_hours": ftotal.ship_p50,
                          "ship_p90_hours": ftotal.ship_p90, "delivery_p50_days": ftotal.delivery_p50,
                          "delivery_p90_days": ftotal.delivery_p90}, sql[2][0])
    return "; ".join(notes + ([] if f == "same" else [f])) or "same"


def _cover_diff(mine: list[tuple[Any, ...]], theirs: list[tuple[Any, ...]]) -> list[str]:
    """(sku, warehouse, cover, GMV at stake) in order: the same rows, the same numbers."""
    if [m[:2] for m in mine] != [t[:2] for t in theirs]:
        return [f"at-risk SKUs differ: {len(mine)} vs {len(theirs)} (SQL)"]
    bad = [m[0] for m, t in zip(mine, theirs, strict=True) if not (_close(m[2], t[2]) and _close(m[3], t[3]))]
    return [f"cover or GMV at stake differ for {len(bad)} SKUs"] if bad else []


def _runs_diff(mine: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]) -> list[str]:
    theirs = {(str(r[0]), str(r[2]), str(r[3]), str(r[4]), int(r[5])): r[7] for r in rows}
    keys = {m[:5]: m[5] for m in mine}
    if set(keys) != set(theirs):
        return [f"stock-out runs differ: {len(keys)} vs {len(theirs)} (SQL)"]
    unestimated = [k for k, v in keys.items() if v is None and theirs[k] is not None]
    other = [k for k, v in keys.items() if v is not None and not _close(v, theirs[k])]
    notes = []
    if unestimated:
        notes.append(f"lost sales: opsbot has no estimate for {len(unestimated)} of {len(keys)} runs (SQL has)")
    if other:
        notes.append(f"lost sales differ for {len(other)} runs")
    return notes


def _fulfilment_diff(total: dict[str, Any], row: tuple[Any, ...]) -> str:
    due, on_time, shipped, delivered, ship, delivery = row[2:8]
    counts = (total["due"], total["on_time"], total["shipped"], total["delivered"]) == (due, on_time, shipped, delivered)
    q = [(total["ship_p50_hours"], ship[0] if ship else None), (total["ship_p90_hours"], ship[1] if ship else None),
         (total["delivery_p50_days"], delivery[0] if delivery else None),
         (total["delivery_p90_days"], delivery[1] if delivery else None)]
    if counts and all(_close(a, b) for a, b in q):
        return "same"
    return f"fulfilment differs: opsbot {total} vs SQL {row[2:]}"


# ---- timing, profiles -----------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], runs: int, warmup: bool = True) -> dict[str, Any]:
    """Median of `runs` after one warm-up, in ms (and every run's time)."""
    if warmup:
        fn()
    times = []
    for _ in range(max(runs, 1)):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"ms": statistics.median(times), "runs": [round(t, 1) for t in times]}


def profile(fn: Callable[[], Any], services: Any, path: Path, top: int = 30) -> list[str]:
    """One run of `fn` under cProfile with the bot's pool replaced by the calling thread; writes
    path.prof and path.txt (by cumulative and by own time) and returns the text's first lines."""
    pool = services.executor
    services.executor = Inline()
    prof = cProfile.Profile()
    try:
        prof.enable()
        fn()
        prof.disable()
    finally:
        services.executor = pool
    path.parent.mkdir(parents=True, exist_ok=True)
    prof.dump_stats(str(path.with_suffix(".prof")))
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    path.with_suffix(".txt").write_text(buf.getvalue())
    return buf.getvalue().splitlines()


# ---- ingest of order lines ---------------------------------------------------------------------------------


def lines_csv(shop: Shop, lines: int, out: Path) -> tuple[Path, int]:
    """The shop's order lines of its first orders, at least `lines` of them (whole orders), as a CSV."""
    import duckdb

    con = duckdb.connect(str(shop.path), read_only=True)
    try:
        total = con.execute("SELECT count(*) FROM order_lines").fetchone()[0]  # type: ignore[index]
        n = min(lines, total)
        cutoff = con.execute(f"SELECT order_id FROM order_lines ORDER BY order_id LIMIT 1 OFFSET {n - 1}"
                             ).fetchone()[0]  # type: ignore[index]
        path = out / f"{_base(out, shop.orders, shop.skus, shop.days, shop.seed).name}-lines-{n}.csv"
        if not path.exists():
            part = path.with_suffix(".csv.part")
            con.execute(f"COPY (SELECT order_id, sku, quantity, line_amount, unit_price, cost FROM order_lines "
                        f"WHERE order_id <= {cutoff} ORDER BY order_id, sku) TO '{part}' (HEADER, DELIMITER ',')")
            part.rename(path)
        rows = con.execute(f"SELECT count(*) FROM order_lines WHERE order_id <= {cutoff}").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    return path, int(rows)


def _settings(db: Path, tmp: Path) -> Any:
    from bot.config import Settings

    return Settings.model_validate({"warehouse": {"url": f"duckdb:///{db}"},
                                    "state": {"url": f"sqlite:///{tmp / 'state.db'}"}})


def _ingest(settings: Any, table: str, path: Path) -> tuple[float, Any]:
    from metrics.data.ingest import IngestOptions, ingest_files

    t0 = time.perf_counter()
    report = ingest_files(settings, table, [path], progress=False, options=IngestOptions())
    seconds = time.perf_counter() - t0
    assert report.ok, report.render()
    return seconds, report


def ingest_warehouse(shop: Shop, db: Path) -> None:
    """A fresh warehouse with the shop's orders and products, in the demo's types (integer order ids),
    and no order_lines table: `opsbot ingest` creates it (DuckDB: no indexes, it upserts with MERGE)."""
    import duckdb

    con = duckdb.connect(str(db))
    try:
        con.execute(f"ATTACH '{shop.path}' AS shop (READ_ONLY)")
        con.execute("CREATE TABLE orders AS SELECT * FROM shop.orders")
        con.execute("CREATE TABLE products AS SELECT sku, name, category, cost, lead_time_days FROM shop.products")
        con.execute("DETACH shop")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def measure_ingest(shop: Shop, lines: int, runs: int, out: Path, log: Callable[[str], None] = print,
                   profile_dir: Path | None = None) -> dict[str, Any]:
    """`opsbot ingest order_lines`: first import into the empty table and re-import of the same
    file, rows/s (rows read / wall time of the whole call), `runs` times each on a copy of the
    warehouse; DuckDB's own read_csv into a new table as the baseline."""
    import duckdb

    path, rows = lines_csv(shop, lines, out)
    result: dict[str, Any] = {"rows": rows, "csv_mb": round(path.stat().st_size / 1e6)}
    with tempfile.TemporaryDirectory(dir=out, prefix="products-ingest-") as tmp_:
        tmp = Path(tmp_)
        base = tmp / "base.duckdb"
        t0 = time.perf_counter()
        ingest_warehouse(shop, base)
        log(f"  ingest: a warehouse with {shop.meta['rows']['orders']:,} orders ready in "
            f"{time.perf_counter() - t0:.1f} s; {rows:,} lines ({result['csv_mb']} MB CSV)")
        first, again = [], []
        report = None
        for k in range(max(runs, 1)):
            db = tmp / f"run{k}.duckdb"
            shutil.copy(base, db)
            settings = _settings(db, tmp)
            seconds, report = _ingest(settings, "order_lines", path)
            first.append(rows / seconds)
            seconds, _ = _ingest(settings, "order_lines", path)
            again.append(rows / seconds)
            log(f"  ingest run {k + 1}: first {first[-1]:,.0f} rows/s, again {again[-1]:,.0f} rows/s")
            if profile_dir is not None and k == 0:
                db2 = tmp / "profiled.duckdb"
                shutil.copy(base, db2)
                settings2 = _settings(db2, tmp)
                prof = cProfile.Profile()
                prof.enable()
                _ingest(settings2, "order_lines", path)
                prof.disable()
                profile_dir.mkdir(parents=True, exist_ok=True)
                prof.dump_stats(str(profile_dir / "ingest.prof"))
                buf = io.StringIO()
                st = pstats.Stats(prof, stream=buf).strip_dirs()
                st.sort_stats("cumulative").print_stats(30)
                st.sort_stats("tottime").print_stats(30)
                (profile_dir / "ingest.txt").write_text(buf.getvalue())
                db2.unlink()
            db.unlink()
        if report is not None:
            f = report.files[0]
            result["warnings"] = list(getattr(f, "warnings", []))
        t0 = time.perf_counter()
        con = duckdb.connect(str(tmp / "bulk.duckdb"))
        con.execute(f"CREATE TABLE order_lines AS SELECT * FROM read_csv('{path}')")
        con.close()
        result["bulk"] = rows / (time.perf_counter() - t0)
    result["first"] = statistics.median(first)
    result["again"] = statistics.median(again)
    result["first_runs"] = [round(x) for x in first]
    result["again_runs"] = [round(x) for x in again]
    return result


# ---- the run ------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    started = datetime.now()
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    out: Path = args.out
    shop = prepare(out, args.orders, args.skus, args.days, args.seed, log, in_process=args.build_in_process)
    log(f"shop ready: {shop.path} ({shop.meta['file_mb']:,} MB), today = {shop.end}")
    profile_dir: Path | None = args.profile
    ingest = measure_ingest(shop, args.ingest_lines, args.ingest_runs, out, log, profile_dir) if args.ingest else None

    with tempfile.TemporaryDirectory(prefix="opsbot-bench-products-") as state_dir:
        dispatcher = dispatcher_for(shop.url, shop.now, Path(state_dir))
        wh = dispatcher.services.warehouse
        settings = dispatcher.services.settings
        sql = Sql(shop.end, shop.now, window=settings.products.cover_window_days,
                  sla_hours=settings.products.ship_sla_hours)
        raw = wh.engine.raw_connection()  # the bot's own DuckDB database, same configuration
        try:
            duck = raw.driver_connection
            mine = opsbot_units(dispatcher, shop)
            theirs = sql_units(duck, sql)
            same = agreement({k: fn() for k, fn in mine.items()}, {k: fn() for k, fn in theirs.items()})
            for item, verdict in same.items():
                log(f"  {item}: opsbot vs SQL: {verdict}")
            results: dict[str, dict[str, Any]] = {}
            for item, _ in COMMANDS:
                results[item] = {"opsbot": timed(mine[item], args.runs), "sql": timed(theirs[item], args.runs)}
                if item == "stock":
                    results[item]["sql_cover"] = timed(theirs["stock_cover"], args.runs)
                if item == "digest" and "digest_without" in mine:
                    results[item]["without"] = timed(mine["digest_without"], args.runs)
                log(f"  {item:<10} opsbot {results[item]['opsbot']['ms']:>9,.1f} ms   "
                    f"SQL {results[item]['sql']['ms']:>8,.1f} ms")
            profiles = {}
            if profile_dir is not None:
                for item, _ in COMMANDS:
                    profiles[item] = str(profile_dir / f"{item}.txt")
                    profile(mine[item], dispatcher.services, profile_dir / item)
        finally:
            raw.close()
            dispatcher.services.executor.shutdown(wait=True)
            wh.engine.dispose()
    load_end = os.getloadavg()
    seconds = time.perf_counter() - t_start
    shown = list(getattr(args, "argv", None) or [])
    for option in ("--json", "--out", "--profile"):  # local paths say nothing about the measurement
        if option in shown:
            i = shown.index(option)
            del shown[i : i + 2]
    result = {"shop": {"orders": shop.orders, "skus": shop.skus, "days": shop.days, "seed": shop.seed,
                       "end": shop.end.isoformat(), "meta": shop.meta},
              "results": results, "agreement": same, "ingest": ingest, "profiles": profiles,
              "digest_section": digest_has_stock_section(),
              "load": {"start": load_start, "end": load_end}, "started": started.isoformat(timespec="minutes"),
              "seconds": seconds, "command": " ".join(shown), "runs": args.runs}
    result["markdown"] = render(result)
    return result


# ---- the table ---------------------------------------------------------------------------------------------


def _ms(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 else f"{v:,.1f}"


def _rate(v: float) -> str:
    return f"{v / 1000:,.0f}k"


def render(r: dict[str, Any]) -> str:
    shop, meta, res = r["shop"], r["shop"]["meta"], r["results"]
    rows, frames = meta["rows"], meta.get("frames_mb", {})
    load = r["load"]
    big = shop["orders"] >= 5_000_000
    lines = [
        f"Measured {r['started'].replace('T', ' ')} in {r['seconds'] / 60:.0f} min by "
        f"`.venv/bin/python -m bench.bench_products {r['command']}`.",
        "",
        f"**Machine**: {machine()}; {platform.system()} {platform.release()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs (os.cpu_count). **Load average** (1/5/15 min) at the start "
        f"{', '.join(f'{x:.2f}' for x in load['start'])}, at the end {', '.join(f'{x:.2f}' for x in load['end'])}.",
        "",
        f"**Shop** ({shop['orders']:,} orders asked, {shop['skus']:,} SKUs, {shop['days']} days, seed {shop['seed']}, "
        f"today = {shop['end']}): " + ", ".join(
            f"{t} {rows[t]:,} rows" + (f" ({frames[t]:,} MB in pandas)" if t in frames else "") for t in TABLES)
        + f"; inventory = {meta['inventory_pairs']:,} (SKU, warehouse) pairs × {meta['inventory_days']} days, "
          f"{meta['zero_rows']:,} rows at 0. DuckDB file {meta['file_mb']:,} MB. "
        + (f"Generated in {meta['generate_s']} s (peak RSS {meta['generate_rss_mb']:,} MB), written by "
           f"`write_shop` in {meta['write_s']} s (peak RSS {meta['build_rss_mb']:,} MB)." if "generate_s" in meta
           else "Generation: see the build's own run."),
        "",
        f"Times in ms: the median of {r['runs']} after one warm-up. opsbot: the command sent through the dispatcher "
        "as a chat message, the answer cache emptied before every run (no chart: the commands' charts are drawn "
        "after the numbers are sent); " + ("the digest is built by handlers.digest.build_digest for a Slack chat, with "
        "and without the section, and the section's cost is the difference. " if "without" in res["digest"] else
        "the digest row calls the functions directly. ") + "SQL: the hand-written "
        "statements for the same question on a connection of the bot's own DuckDB engine, rows fetched. "
        "The two answers were compared before timing (last column).",
        "",
        "| measured | opsbot | hand-written SQL | opsbot ÷ SQL | < 500 ms | ≤ 2× SQL | same answer |",
        "| --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    section = "without" in res["digest"]
    labels = {item: f"`{cmd}`" for item, cmd in COMMANDS if cmd} | {"digest": SECTION_LABEL if section
                                                                     else DIGEST_LABEL}
    for item, _ in COMMANDS:
        a, b = res[item]["opsbot"]["ms"], res[item]["sql"]["ms"]
        if item == "digest" and section:
            whole, without = a, res[item]["without"]["ms"]
            a = max(whole - without, 0.0)  # the section: the digest with it less the digest without it
            lines.append(f"| daily digest `with stock` (handlers.digest.build_digest), whole | {_ms(whole)} | | | | | |")
            lines.append(f"| ↳ the same digest without the section | {_ms(without)} | | | | | |")
        ratio = a / b if b else float("inf")
        t1 = ("✓" if a < TARGET_MS else "✗") if big else ""
        t2 = ("✓" if ratio <= TARGET_RATIO else "✗") if big else ""
        lines.append(f"| {labels[item]} | {_ms(a)} | {_ms(b)} | {ratio:,.1f}× | {t1} | {t2} | "
                     f"{r['agreement'].get(item, '')} |")
        if item == "stock":
            c = res[item]["sql_cover"]["ms"]
            lines.append(f"| ↳ SQL of its at-risk table alone (no stock-outs) | | {_ms(c)} | {a / c:,.1f}× | | | |")
    ing = r.get("ingest")
    if ing:
        t = ("✓" if ing["first"] >= INGEST_TARGET else "✗") if big else ""
        lines += [
            "",
            f"Ingest: `opsbot ingest order_lines` (metrics.data.ingest.ingest_files) of the shop's first {ing['rows']:,} "
            f"lines ({ing['csv_mb']} MB CSV: order_id, sku, quantity, line_amount, unit_price, cost) into a warehouse "
            f"holding the shop's {rows['orders']:,} orders and {rows['products']:,} products; rows/s = rows / wall "
            f"time of the whole call (validation, upsert, the cross-checks against orders and products, commit), "
            f"median of {len(ing['first_runs'])}.",
            "",
            "| measured | rows/s | runs | target |",
            "| --- | ---: | --- | --- |",
            f"| first import (empty order_lines) | {_rate(ing['first'])} | "
            f"{', '.join(_rate(x) for x in ing['first_runs'])} | ≥ 300k {t} |",
            f"| re-import of the same file (every line upserted, unchanged) | {_rate(ing['again'])} | "
            f"{', '.join(_rate(x) for x in ing['again_runs'])} | |",
            f"| ↳ baseline: DuckDB's read_csv into a new table, no validation | {_rate(ing['bulk'])} | | |",
        ]
        if ing.get("warnings"):
            lines += ["", "Its warnings: " + "; ".join(ing["warnings"])]
    return "\n".join(lines)


def write_readme(section: str, readme: Path = README) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} … {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{section}\n{END}{tail}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_products", description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=5_000_000)
    ap.add_argument("--skus", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measure after one warm-up")
    ap.add_argument("--ingest-lines", type=int, default=2_000_000, help="order lines imported (whole orders)")
    ap.add_argument("--ingest-runs", type=int, default=3)
    ap.add_argument("--no-ingest", dest="ingest", action="store_false")
    ap.add_argument("--profile", type=Path, help="write cProfile profiles here (keep it out of the repository)")
    ap.add_argument("--out", type=Path, default=OUT, help="where the shop is cached")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--write", action="store_true", help="write the table into bench/README.md")
    ap.add_argument("--build-in-process", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--build-worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.build_worker:
        cfg = json.loads(args.build_worker)
        shop = Shop(cfg["orders"], cfg["skus"], cfg["days"], cfg["seed"], date.fromisoformat(cfg["end"]), Path(cfg["path"]))
        print(json.dumps(build(shop, log)))
        return
    result = run(args, log)
    print(result["markdown"])
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in result.items() if k != "markdown"}, indent=1, default=str))
    if args.write:
        write_readme(result["markdown"])
        log(f"written to {README}")


if __name__ == "__main__":
    main()
