"""KPI commands on a large demo shop, timed through the dispatcher (issue 5 targets: each of
`kpi`, `trend gmv last 365d`, `top category by gmv mtd`, `movers gmv yesterday` under 300 ms
median and `retention by month` under 2 s on 2,000,000 orders / 730 days).

    .venv/bin/python bench/bench_kpi.py [--orders 2000000] [--days 730] [--runs 5]

Baselines measured in the same run: the plain hand-written SQL aggregate for the same
question on the same engine, and pandas on the same rows already in memory.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, asker, dispatcher_for, ensure_shop, machine, median_ms  # noqa: E402
from metrics.data.sample import ShopSpec  # noqa: E402

__all__ = ["OUT", "ensure_shop", "machine", "median_ms"]  # older scripts import these from here

COMMANDS = [
    "kpi",
    "kpi gmv orders aov conversion last 7d vs previous by channel",
    "trend gmv last 365d",
    "top category by gmv mtd",
    "movers gmv yesterday",
    "drivers yesterday by channel",
    "funnel last 30d",
    "retention by month",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--engine", choices=["sqlite", "duckdb"], default="duckdb")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    today = date.today()
    spec = ShopSpec(end=today, days=args.days, orders=args.orders)
    db = OUT / f"shop-{args.orders}-{args.days}.{args.engine}"
    url = f"{args.engine}:///{db}"
    t0 = time.perf_counter()
    ensure_shop(url, db, spec)
    print(f"shop ready in {time.perf_counter() - t0:.1f} s: {db}")
    now = datetime.combine(today, datetime.min.time()) + timedelta(hours=10)
    dispatcher = dispatcher_for(url, now)
    wh = dispatcher.services.warehouse
    known = {c.name for c in dispatcher.commands}

    def ask(cmd: str) -> Callable[[], object]:
        return asker(dispatcher, cmd)

    rows = []
    for cmd in COMMANDS:
        if cmd.split()[0] not in known:
            continue
        rows.append((cmd, median_ms(ask(cmd), args.runs)))

    # baselines: the same questions as one hand-written SQL statement, and pandas on rows in memory
    y, y1 = today - timedelta(days=1), today
    year = today - timedelta(days=365)
    sql = {
        "gmv by day, 365 days (SQL)": f"select {'substr(ordered_at,1,10)' if args.engine == 'sqlite' else 'cast(ordered_at as date)'} d, sum(amount) from orders where ordered_at >= '{year}' and ordered_at < '{y1}' and status <> 'cancelled' group by d",
        "gmv by category, mtd (SQL)": f"select category, sum(amount) from orders where ordered_at >= '{today.replace(day=1)}' and status <> 'cancelled' group by category",
        "gmv yesterday (SQL)": f"select sum(amount), count(*) from orders where ordered_at >= '{y}' and ordered_at < '{y1}' and status <> 'cancelled'",
    }
    engine = wh.engine
    base = []
    with engine.connect() as conn:
        for name, q in sql.items():
            base.append((name, median_ms(lambda q=q: conn.execute(text(q)).all(), args.runs)))
    orders = pd.read_sql("select ordered_at, amount, status, category from orders", engine, parse_dates=["ordered_at"])
    counted = orders[orders.status != "cancelled"]
    base.append(("gmv by day, 365 days (pandas in memory)", median_ms(
        lambda: counted[counted.ordered_at >= pd.Timestamp(year)].groupby(counted.ordered_at.dt.date).amount.sum(),
        args.runs)))
    base.append(("gmv by category, mtd (pandas in memory)", median_ms(
        lambda: counted[counted.ordered_at >= pd.Timestamp(today.replace(day=1))].groupby("category").amount.sum(),
        args.runs)))
    print(f"\nmachine: {machine()}; {args.orders:,} orders over {args.days} days, {args.engine}; median of {args.runs}\n")
    print("| command | median ms |\n| --- | --- |")
    for cmd, ms in rows + base:
        print(f"| `{cmd}` | {ms:,.0f} |")


if __name__ == "__main__":
    main()
