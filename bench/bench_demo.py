"""Demo shop: generate and load N orders into the embedded warehouse (issue 2: 1,000,000 in under 60 s).

    .venv/bin/python bench/bench_demo.py [--orders 1000000] [--days 400]

Baseline in the same run: pandas `DataFrame.to_sql` of the same frames into a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, text

from metrics.data.load import write_shop
from metrics.data.sample import ShopSpec, generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=400)
    args = ap.parse_args()
    spec = ShopSpec(end=date.today(), days=args.days, orders=args.orders)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        shop = generate(spec)
        t1 = time.perf_counter()
        engine = create_engine(f"sqlite:///{Path(tmp) / 'demo.db'}")
        write_shop(engine, shop, spec)
        t2 = time.perf_counter()
        with engine.connect() as conn:
            rows = conn.execute(text("select count(*) from orders")).scalar_one()
        base = create_engine(f"sqlite:///{Path(tmp) / 'baseline.db'}")
        t3 = time.perf_counter()
        shop.orders.to_sql("orders", base, index=False, chunksize=100_000)
        shop.traffic.to_sql("traffic", base, index=False)
        shop.marketing_spend.to_sql("marketing_spend", base, index=False)
        t4 = time.perf_counter()
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}")
    print(f"orders written: {rows:,}")
    print(f"generate: {t1 - t0:.1f} s; load (opsbot, with indexes): {t2 - t1:.1f} s; total {t2 - t0:.1f} s")
    print(f"baseline pandas to_sql of the same frames (no indexes): {t4 - t3:.1f} s")


if __name__ == "__main__":
    main()
