"""`opsbot check` on the optional product tables: order lines, products, inventory, shipments, returns.

Every expected count comes from pandas over the same frames that were written to the database.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from bot.config import Settings
from metrics.data.check import CheckReport, TableReport, run_check
from metrics.data.sample import Shop

NOW = datetime(2026, 11, 25, 10, 30)
PG_URL = os.environ.get("OPSBOT_TEST_PG_URL", "")
PG_SCHEMA = "opsbot_check_test"


@pytest.fixture(params=["sqlite", "duckdb"] + (["postgresql"] if PG_URL else []))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def url_for(tmp_path: Path, kind: str) -> str:
    if kind == "postgresql":
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        engine.dispose()
        return f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{PG_SCHEMA}"
    return f"{kind}:///{tmp_path / ('shop.db' if kind == 'sqlite' else 'shop.duckdb')}"


def store(url: str, frames: dict[str, pd.DataFrame], kind: str) -> None:
    """The frames as tables; timestamps as ISO text on SQLite (what opsbot reads there), typed elsewhere."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for name, frame in frames.items():
            frame = frame.copy()
            for col in frame.columns:
                if col in ("ordered_at", "shipped_at", "delivered_at", "returned_at"):
                    stamps = pd.to_datetime(frame[col])
                    frame[col] = stamps.dt.strftime("%Y-%m-%d %H:%M:%S").where(stamps.notna(), None) \
                        if kind == "sqlite" else stamps
                elif col == "day":
                    days = pd.to_datetime(frame[col])
                    frame[col] = days.dt.strftime("%Y-%m-%d") if kind == "sqlite" else days.dt.date
            frame.to_sql(name, conn, index=False)
    engine.dispose()


def settings_for(url: str, tmp_path: Path, **warehouse: Any) -> Settings:
    return Settings.model_validate({"warehouse": {"url": url, **warehouse},
                                    "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"}})


def table(report: CheckReport, logical: str) -> TableReport:
    return next(t for t in report.tables if t.logical == logical)


def problem(t: TableReport, start: str) -> Any:
    found = [p for p in t.problems if p.message.startswith(start)]
    assert len(found) == 1, (start, [p.message for p in t.problems])
    return found[0]


def has(t: TableReport, text_: str) -> bool:
    return any(text_ in p.message for p in t.problems)


# ---- planted problems ---------------------------------------------------------------------------------

ORDERS = pd.DataFrame({
    "order_id": [1, 2, 3, 4, 5, 6],
    "customer_id": [1, 2, 3, 4, 5, 6],
    "ordered_at": ["2026-11-01 10:00:00", "2026-11-02 10:00:00", "2026-11-03 10:00:00", "2026-11-04 10:00:00",
                   "2026-11-05 10:00:00", "2026-11-06 10:00:00"],
    "amount": [35.0, 30.0, 15.05, 100.0, 7.0, 12.0],
    "status": "paid", "refunded_amount": 0.0, "channel": "search", "category": "toys", "region": "east",
})
LINES = pd.DataFrame({
    "order_id": [1, 1, 2, 3, 4, 9, 5, 5, None, 6],
    "sku": ["A", "B", "A", "C", "B", "A", "Z", "Z", "A", None],
    "quantity": [2, 1, 1, 3, -1, 1, 1, 1, 1, 2],
    "line_amount": [20.0, 15.0, 10.0, None, -15.0, 10.0, 7.0, 7.0, 1.0, 12.0],
    "unit_price": [10.0, 15.0, 10.0, 5.0, 15.0, 10.0, 7.0, 7.0, 1.0, 6.0],
    "cost": [8.0, 6.0, 4.0, 3.0, None, 4.0, 1.0, 1.0, 1.0, -2.0],
})
PRODUCTS = pd.DataFrame({"sku": ["A", "B", "C", "C", "D"], "name": ["a", "b", "c", "c2", "d"],
                         "category": "toys", "cost": [4.0, 6.0, 1.0, 1.0, -1.0], "lead_time_days": [3, 2, 5, 5, 1]})
INVENTORY = pd.DataFrame({
    "day": ["2026-11-01", "2026-11-01", "2026-11-01", "2026-11-01", "2026-11-02", "2026-11-02", "2027-01-01"],
    "sku": ["A", "A", "B", "B", "C", "Q", "A"],
    "warehouse": ["east", "east", None, None, "east", "east", "east"],
    "on_hand": [5, 6, 3, 3, -2, 4, 1],
    "on_order": [0, 0, 1, 1, 0, -1, 0],
})
SHIPMENTS = pd.DataFrame({
    "order_id": [1, 2, 2, 3, 8, 4],
    "shipped_at": ["2026-11-02 09:00:00", "2026-11-03 09:00:00", "2026-11-03 10:00:00", "2026-11-05 09:00:00",
                   "2026-11-06 09:00:00", None],
    "delivered_at": ["2026-11-04 09:00:00", None, None, "2026-11-04 09:00:00", "2026-12-30 09:00:00", None],
    "carrier": "ups", "warehouse": "east",
})
RETURNS = pd.DataFrame({
    "order_id": [1, 2, 7, 5, 1],
    "sku": ["A", "A", "A", "Z", None],
    "quantity": [1, 0, 1, 1, None],
    "amount": [10.0, 10.0, -3.0, 7.0, 35.0],
    "reason": "broken",
    "returned_at": ["2026-11-08 10:00:00", "2026-11-09 10:00:00", "2026-11-09 11:00:00", "2026-11-09 12:00:00", None],
})
FRAMES = {"orders": ORDERS, "order_lines": LINES, "products": PRODUCTS, "inventory": INVENTORY,
          "shipments": SHIPMENTS, "returns": RETURNS}


@pytest.fixture
def planted(tmp_path: Path, kind: str) -> CheckReport:
    url = url_for(tmp_path, kind)
    store(url, FRAMES, kind)
    return run_check(settings_for(url, tmp_path), now=NOW)


def _dups(frame: pd.DataFrame, keys: list[str], nullable: tuple[str, ...] = ()) -> int:
    kept = frame.dropna(subset=[k for k in keys if k not in nullable])
    return int((kept.groupby(keys, dropna=False).size() > 1).sum())


def test_order_lines(planted: CheckReport) -> None:
    t = table(planted, "order_lines")
    assert t.found and t.rows == len(LINES)
    assert planted.connected and planted.ok, planted.render()  # warnings only: the shop is usable
    for key in ("order_id", "sku"):
        assert problem(t, f"{int(LINES[key].isna().sum()):,} row(s) with no {key}")
    assert problem(t, f"{_dups(LINES, ['order_id', 'sku'])} (order_id, sku) value(s) appear more than once")
    positive = int((LINES["quantity"] <= 0).sum())
    assert problem(t, f"{positive} order line(s) with a quantity of zero or less").examples
    for col in ("line_amount", "cost"):
        assert problem(t, f"{int((LINES[col] < 0).sum())} order line(s) with negative {col}")
    assert not has(t, "negative unit_price")
    # line sums against the orders' amounts, the tolerance max(0.01, 0.5 %)
    value = LINES["line_amount"].fillna(LINES["unit_price"] * LINES["quantity"])
    sums = value.groupby(LINES["order_id"]).sum()
    amounts = ORDERS.set_index("order_id")["amount"]
    both = sums.index.intersection(amounts.index)
    diff = (sums[both] - amounts[both]).abs()
    off = sorted(int(o) for o in both[diff > np.maximum(0.01, 0.005 * amounts[both].abs())])
    assert off == [2, 4, 5]  # 3's 15.00 against 15.05 is within half a percent
    p = problem(t, f"{len(off)} order(s) whose lines do not sum to their amount "
                   f"(more than max(0.01, 0.5 % of the order's amount))")
    assert [e.split(":")[0] for e in p.examples] == [str(o) for o in off]
    assert p.examples[0] == f"2: lines {sums[2]:,.2f}, amount {amounts[2]:,.2f}"
    # lines of orders that do not exist
    alone = LINES[LINES["order_id"].notna() & ~LINES["order_id"].isin(ORDERS["order_id"])]
    p = problem(t, f"{len(alone)} order line(s) of {alone['order_id'].nunique()} order(s) whose order_id is not in "
                   f"orders")
    assert [int(float(e)) for e in p.examples] == sorted(int(o) for o in alone["order_id"].unique())
    # SKUs not in products
    unknown = LINES[LINES["sku"].notna() & ~LINES["sku"].isin(PRODUCTS["sku"])]
    p = problem(t, f"{len(unknown)} order line(s) with {unknown['sku'].nunique()} SKU(s) not in products")
    assert p.examples == tuple(f"{s!r} ({n:,})" for s, n in unknown["sku"].value_counts().items())
    # the date range is their orders'
    joined = LINES.merge(ORDERS, on="order_id")
    assert (t.first or "")[:19].replace("T", " ") == joined["ordered_at"].min()
    assert (t.last or "")[:19].replace("T", " ") == joined["ordered_at"].max()


def test_products_and_inventory(planted: CheckReport) -> None:
    p = table(planted, "products")
    assert p.rows == len(PRODUCTS) and p.first is None
    assert problem(p, f"{_dups(PRODUCTS, ['sku'])} sku value(s) appear more than once").examples == ("C (2x)",)
    assert problem(p, f"{int((PRODUCTS['cost'] < 0).sum())} row(s) with negative cost")
    i = table(planted, "inventory")
    assert (i.first or "")[:10] == INVENTORY["day"].min() and (i.last or "")[:10] == INVENTORY["day"].max()
    # the two B rows without a warehouse are the same key
    dups = _dups(INVENTORY, ["day", "sku", "warehouse"], ("warehouse",))
    assert dups == 2
    assert problem(i, f"{dups} (day, sku, warehouse) value(s) appear more than once: that stock is counted twice")
    assert problem(i, f"{int((INVENTORY['on_hand'] < 0).sum())} row(s) with negative on_hand: stock and days of cover")
    assert problem(i, f"{int((INVENTORY['on_order'] < 0).sum())} row(s) with negative on_order")
    future = int((pd.to_datetime(INVENTORY["day"]).dt.date > NOW.date()).sum())
    assert problem(i, f"{future} row(s) with day after now")
    unknown = INVENTORY[~INVENTORY["sku"].isin(PRODUCTS["sku"])]
    assert problem(i, f"{len(unknown)} row(s) with {unknown['sku'].nunique()} SKU(s) not in products").examples == (
        "'Q' (1)",)


def test_shipments_and_returns(planted: CheckReport) -> None:
    s = table(planted, "shipments")
    shipped, delivered = pd.to_datetime(SHIPMENTS["shipped_at"]), pd.to_datetime(SHIPMENTS["delivered_at"])
    assert (s.first or "")[:19].replace("T", " ") == str(shipped.min())
    assert problem(s, f"{int(shipped.isna().sum())} row(s) with no shipped_at")
    assert problem(s, f"{_dups(SHIPMENTS, ['order_id'])} order_id value(s) appear more than once")
    early = SHIPMENTS[delivered < shipped]
    p = problem(s, f"{len(early)} shipment(s) delivered before they shipped")
    assert p.examples[0].startswith(f"{early['order_id'].iloc[0]} / ")
    assert problem(s, f"{int((delivered > NOW).sum())} row(s) with delivered_at after now")
    assert not has(s, "shipped_at after now")
    alone = SHIPMENTS[~SHIPMENTS["order_id"].isin(ORDERS["order_id"])]
    assert problem(s, f"{len(alone)} shipment(s) of {alone['order_id'].nunique()} order(s) whose order_id is not in "
                      f"orders").examples == tuple(str(o) for o in alone["order_id"])
    r = table(planted, "returns")
    assert problem(r, f"{int(RETURNS['returned_at'].isna().sum())} row(s) with no returned_at")
    assert problem(r, f"{int((RETURNS['quantity'] <= 0).sum())} return(s) with a quantity of zero or less")
    assert problem(r, f"{int((RETURNS['amount'] < 0).sum())} return(s) with negative amount")
    alone = RETURNS[~RETURNS["order_id"].isin(ORDERS["order_id"])]
    assert problem(r, f"{len(alone)} return(s) of {alone['order_id'].nunique()} order(s) whose order_id is not in")
    unknown = RETURNS[RETURNS["sku"].notna() & ~RETURNS["sku"].isin(PRODUCTS["sku"])]
    assert problem(r, f"{len(unknown)} return(s) with {unknown['sku'].nunique()} SKU(s) not in products")
    # a whole-order return has no sku: not a duplicate, not an unknown sku
    assert not has(r, "appear more than once")
    text_ = planted.render()
    assert "warning: 1 shipment(s) delivered before they shipped" in text_ and "usable: no errors" in text_


# ---- columns, types and the demo ------------------------------------------------------------------------


def test_order_lines_need_line_amount_or_unit_price(tmp_path: Path) -> None:
    url = url_for(tmp_path, "sqlite")
    store(url, {"orders": ORDERS, "order_lines": LINES[["order_id", "sku", "quantity"]]}, "sqlite")
    report = run_check(settings_for(url, tmp_path), now=NOW)
    t = table(report, "order_lines")
    assert report.exit_code() == 1
    assert problem(t, "order_lines needs line_amount or unit_price").severity == "error"
    assert not has(t, "(for line_amount) not found") and not has(t, "(for unit_price) not found")
    # unit_price alone is enough: the line's amount is unit_price x quantity
    url = url_for(tmp_path / "b", "sqlite") if (tmp_path / "b").mkdir() is None else ""
    store(url, {"orders": ORDERS, "order_lines": LINES.drop(columns=["line_amount"])}, "sqlite")
    report = run_check(settings_for(url, tmp_path), now=NOW)
    t = table(report, "order_lines")
    assert report.ok and problem(t, "column 'line_amount' (for line_amount) not found: a line's amount is").severity \
        == "info"
    value = LINES["unit_price"] * LINES["quantity"]
    sums = value.groupby(LINES["order_id"]).sum()
    amounts = ORDERS.set_index("order_id")["amount"]
    both = sums.index.intersection(amounts.index)
    off = int(((sums[both] - amounts[both]).abs() > np.maximum(0.01, 0.005 * amounts[both].abs())).sum())
    assert problem(t, f"{off} order(s) whose lines do not sum to their amount")


def test_ids_stored_as_integers_in_one_table_and_text_in_another(tmp_path: Path) -> None:
    url = url_for(tmp_path, "duckdb")
    lines = LINES.assign(order_id=LINES["order_id"].map(lambda v: None if pd.isna(v) else str(int(v))))
    store(url, {"orders": ORDERS, "order_lines": lines, "products": PRODUCTS}, "duckdb")
    t = table(run_check(settings_for(url, tmp_path), now=NOW), "order_lines")
    assert not has(t, "query failed")
    alone = LINES[LINES["order_id"].notna() & ~LINES["order_id"].isin(ORDERS["order_id"])]
    assert problem(t, f"{len(alone)} order line(s) of 1 order(s) whose order_id is not in orders")
    assert problem(t, "3 order(s) whose lines do not sum to their amount")


def test_empty_and_missing_product_tables(tmp_path: Path) -> None:
    url = url_for(tmp_path, "sqlite")
    store(url, {"orders": ORDERS, "order_lines": LINES.iloc[:0]}, "sqlite")
    report = run_check(settings_for(url, tmp_path), now=NOW)
    assert report.ok
    assert [p.message for p in table(report, "order_lines").problems] == ["order_lines has no rows"]
    s = table(report, "shipments")
    assert not s.found and problem(s, "no shipments table 'shipments': fulfilment").severity == "warning"


def test_demo_shop(demo_settings: Settings, demo_shop: Shop) -> None:
    report = run_check(demo_settings, now=NOW)
    assert report.ok, report.render()
    for logical in ("order_lines", "products", "inventory", "shipments", "returns"):
        t = table(report, logical)
        assert t.found and not t.errors, report.render()
        frame = getattr(demo_shop, logical, None)
        if isinstance(frame, pd.DataFrame):
            assert t.rows == len(frame)


def test_a_day_is_a_date(tmp_path: Path) -> None:
    # SQLite: a day stored as non-ISO text sorts wrong, as for traffic
    url = url_for(tmp_path, "sqlite")
    store(url, {"orders": ORDERS}, "sqlite")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("create table inventory (day, sku, warehouse, on_hand, on_order)"))
        conn.execute(text("insert into inventory values ('11/02/2026', 'A', 'east', 1, 0), "
                          "(:d, 'A', 'east', 1, 0)"), {"d": date(2026, 11, 3).isoformat()})
    engine.dispose()
    t = table(run_check(settings_for(url, tmp_path), now=NOW), "inventory")
    assert problem(t, "1 day value(s) are not ISO text").severity == "error"
