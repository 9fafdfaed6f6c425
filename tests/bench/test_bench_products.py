"""Smoke test of issue 19's benchmark (bench/bench_products.py) on a tiny shop: it builds the shop, its
hand-written SQL answers the same questions as opsbot, and its table has a row per item with numbers
in it. No timing assertions: speed is measured, not tested."""

from __future__ import annotations

from pathlib import Path

from bench.bench_products import COMMANDS, Sql, opsbot_units, parse_args, prepare, run, sql_units
from bench.common import dispatcher_for


def test_the_benchmark_runs_on_a_tiny_shop(tmp_path: Path) -> None:
    args = parse_args(["--orders", "5000", "--skus", "50", "--runs", "1", "--ingest-lines", "4000",
                       "--ingest-runs", "1", "--out", str(tmp_path), "--build-in-process",
                       "--profile", str(tmp_path / "prof")])
    result = run(args, log=lambda _msg: None)

    meta = result["shop"]["meta"]
    assert meta["rows"]["orders"] > 4000 and meta["rows"]["order_lines"] > meta["rows"]["orders"]
    assert meta["rows"]["products"] == 50
    # one row per SKU, warehouse and day; the planted stock-outs leave rows at 0
    assert meta["rows"]["inventory"] == meta["inventory_pairs"] * meta["inventory_days"] == meta["inventory_pairs"] * 730
    assert meta["zero_rows"] > 0
    for item, _ in COMMANDS:
        times = result["results"][item]
        assert times["opsbot"]["ms"] > 0 and times["sql"]["ms"] > 0, item
        assert len(times["opsbot"]["runs"]) == 1
    # the hand-written SQL answers the same questions: the same SKUs, warehouses, stock-out runs, lost
    # sales, counts and percentiles (a definition changed in metrics/products: change the SQL with it)
    assert result["agreement"] == {item: "same" for item, _ in COMMANDS}, result["agreement"]
    ingest = result["ingest"]
    assert ingest["rows"] >= 4000 and ingest["first"] > 0 and ingest["again"] > 0 and ingest["bulk"] > 0
    for item, _ in COMMANDS:
        assert (tmp_path / "prof" / f"{item}.txt").read_text().strip()
    table = result["markdown"]
    for _, cmd in COMMANDS:
        assert cmd is None or f"| `{cmd}` |" in table, cmd
    assert "\n| digest stock section" in table or "the stock section's cost |" in table
    assert "first import (empty order_lines)" in table and "✗" not in table  # no target marks below 5M
    # cached: the second run reuses the shop
    again = prepare(tmp_path, 5000, 50, 730, 7, log=lambda _msg: None, in_process=True)
    assert again.meta["built"] == meta["built"]


def test_the_sql_finds_a_stock_out_opsbot_finds(tmp_path: Path) -> None:
    shop = prepare(tmp_path, 5000, 50, 730, 7, log=lambda _msg: None, in_process=True)
    dispatcher = dispatcher_for(shop.url, shop.now, tmp_path)
    raw = dispatcher.services.warehouse.engine.raw_connection()
    try:
        sql = sql_units(raw.driver_connection, Sql(shop.end, shop.now))
        reply = opsbot_units(dispatcher, shop)["stock"]()
        runs = sql["stock"]()[1]
    finally:
        raw.close()
        dispatcher.services.executor.shutdown()
    assert reply.data["stockouts"], "the tiny shop plants a stock-out in its last 30 days"
    assert {(o["sku"], o["warehouse"], o["first"]) for o in reply.data["stockouts"]} \
        == {(str(r[0]), str(r[2]), str(r[3])) for r in runs}
