"""Planning commands on the large demo shop, timed through the dispatcher (issue 8 targets:
`segments` on 500,000 customers < 3 s, `budget` < 1 s, `plan` and `pace` < 300 ms).

    .venv/bin/python bench/bench_planning.py [--db bench/out/shop-2000000-730.duckdb] [--runs 5]

Uses the DuckDB demo shop bench_kpi.py builds (2,000,000 orders, 730 days, ~1.24 M customers),
or builds one with metrics.data.sample + metrics.data.load.write_shop. "Today" is the shop's own demo_end,
so the numbers do not drift with the calendar. Baselines in the same run: pandas on the same
order rows already in memory (per-customer RFM aggregates; daily GMV for plan/pace).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, asker, machine, median_ms  # noqa: E402
from bot.app import build_dispatcher  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.state.store import Store  # noqa: E402
from metrics.data.load import demo_end, write_shop  # noqa: E402
from metrics.data.sample import ShopSpec, generate  # noqa: E402
from metrics.data.warehouse import Warehouse  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, default=OUT / "shop-2000000-730.duckdb")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    url = f"duckdb:///{args.db}"
    engine = create_engine(url)
    end = demo_end(engine)
    if end is None:
        spec = ShopSpec(end=date.today(), days=730, orders=2_000_000)
        write_shop(engine, generate(spec), spec)
        end = spec.end
    engine.dispose()
    settings = Settings.model_validate({"warehouse": {"url": url}})
    wh = Warehouse.from_url(url, settings.mapping())
    now = datetime.combine(end, datetime.min.time()) + timedelta(hours=10)
    state = Path(tempfile.mkdtemp()) / "state.db"  # in-memory SQLite is one database per connection
    dispatcher = build_dispatcher(settings, wh, clock=lambda: now, store=Store(f"sqlite:///{state}"))

    def ask(cmd: str) -> Callable[[], object]:
        return asker(dispatcher, cmd)

    ask("goal set gmv 60000000 this month")()
    ask("goal set gmv 200000000 next quarter")()
    commands = ["goal set gmv 60000000 this month", "plan gmv", "plan gmv next quarter", "pace", "pace gmv",
                "budget 2000000 next month", "budget 2000000 for new_customers search social live_stream max 50%",
                "segments", "segments export dormant", "campaign report 11.11"]
    rows = [(cmd, median_ms(ask(cmd), args.runs)) for cmd in commands]
    customers = ask("segments")().data["customers"]  # type: ignore[attr-defined]

    # baseline: pandas on the same rows already in memory
    duck = wh.engine.raw_connection().driver_connection
    orders = duck.execute("select customer_id, ordered_at, amount, status from orders").df()
    cut = pd.Timestamp(end)

    def pandas_rfm() -> object:
        o = orders[(orders.status != "cancelled") & (orders.ordered_at < cut)]
        return o.groupby("customer_id").agg(first=("ordered_at", "min"), last=("ordered_at", "max"),
                                            n=("amount", "size"), gmv=("amount", "sum"))

    def pandas_daily() -> object:
        o = orders[(orders.status != "cancelled") & (orders.ordered_at >= cut - pd.Timedelta(days=730))]
        return o.groupby(o.ordered_at.dt.date).amount.sum()

    base = [("pandas: per-customer RFM aggregates (1 snapshot)", median_ms(pandas_rfm, args.runs)),
            ("pandas: daily GMV, 730 days", median_ms(pandas_daily, args.runs))]
    print(f"machine: {machine()}")
    print(f"shop: {args.db.name}, {len(orders):,} orders, {customers:,} customers, today = {end}")
    print("| command | median ms |\n| --- | ---: |")
    for cmd, ms in rows + base:
        print(f"| `{cmd}` | {ms:,.0f} |")


if __name__ == "__main__":
    main()
