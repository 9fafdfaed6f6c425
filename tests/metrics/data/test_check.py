"""`opsbot check`, and the mapping onto other names, a view and a config SQL query.

Expected counts come from pandas over the same rows that were written to the database.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from bot.config import Settings, load_settings
from bot.errors import ConfigError
from metrics.data.check import CheckReport, TableReport, run_check
from metrics.data.sample import Shop
from metrics.data.warehouse import Warehouse
from tests.metrics import small_shop

NOW = datetime(2026, 11, 25, 10, 30)


def settings_for(db: Path, **warehouse: Any) -> Settings:
    return Settings.model_validate({"warehouse": {"url": f"sqlite:///{db}", **warehouse},
                                    "state": {"url": f"sqlite:///{db.parent / 'state.db'}"}})


def table(report: CheckReport, logical: str) -> TableReport:
    return next(t for t in report.tables if t.logical == logical)


def messages(t: TableReport, severity: str | None = None) -> list[str]:
    return [p.message for p in t.problems if severity is None or p.severity == severity]


# ---- a clean warehouse ----------------------------------------------------------------------------


def test_demo_shop_is_usable_and_counted(demo_settings: Settings, demo_shop: Shop) -> None:
    report = run_check(demo_settings, now=NOW)
    assert report.connected and report.ok and report.exit_code() == 0
    orders = table(report, "orders")
    assert orders.found and orders.kind == "table"
    assert orders.rows == len(demo_shop.orders)
    assert orders.first is not None and orders.last is not None
    assert orders.first[:19] == demo_shop.orders["ordered_at"].min().strftime("%Y-%m-%d %H:%M:%S")
    assert orders.last[:19] == demo_shop.orders["ordered_at"].max().strftime("%Y-%m-%d %H:%M:%S")
    assert all(c.found for c in orders.columns)
    assert table(report, "traffic").rows == len(demo_shop.traffic)
    assert table(report, "marketing_spend").rows == len(demo_shop.marketing_spend)
    assert not messages(orders, "error") and not messages(orders, "warning")
    text = report.render()
    assert f"{len(demo_shop.orders):,} rows" in text and "usable: no errors" in text


# ---- planted problems ------------------------------------------------------------------------------


def _messy(tmp_path: Path) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    orders = pd.DataFrame({
        "order_id": [1, 2, 3, 3, 4, 5, 6, None, 8, 9],
        "customer_id": [1, 2, None, 3, 4, 5, 6, 7, None, 9],
        "ordered_at": ["2026-11-01 10:00:00", "2026-11-01 11:00:00", "2026-11-02 09:00:00", "2026-11-02 09:30:00",
                       "2026-11-03 10:00:00", "2026-11-03 12:00:00", "2027-01-01 00:00:00", "2026-11-04 08:00:00",
                       "2026-11-04 09:00:00", "2026-11-05 10:00:00"],
        "amount": [100.0, -20.0, 50.0, 50.0, 30.0, 40.0, 10.0, 5.0, 60.0, 70.0],
        "status": ["paid", "pending", "completed", "completed", "refunded", "on_hold", "paid", "paid", "cancelled",
                   "pending"],
        "refunded_amount": [0.0, 0.0, 0.0, 0.0, 45.0, 0.0, 0.0, 0.0, 0.0, -1.0],
        "channel": "search", "category": "toys", "region": "east",
    })
    spend = pd.DataFrame({"day": ["2026-11-01", "2026-11-01", "2026-11-02"], "channel": ["search"] * 3,
                          "spend": [10.0, 12.0, -3.0]})
    db = tmp_path / "messy.db"
    with sqlite3.connect(db) as conn:
        orders.to_sql("orders", conn, index=False)
        spend.to_sql("marketing_spend", conn, index=False)
    return db, orders, spend


def test_planted_problems_are_found_and_counted(tmp_path: Path) -> None:
    db, orders, spend = _messy(tmp_path)
    report = run_check(settings_for(db), now=NOW)
    assert report.ok and report.exit_code() == 0 and report.exit_code(strict=True) == 1
    o = table(report, "orders")
    assert o.rows == len(orders)
    problems = {p.message.split(" ")[0] + " " + p.message.split(" ")[1]: p for p in o.problems}
    by_text = "\n".join(messages(o))
    nulls = int(orders["order_id"].isna().sum())
    assert f"{nulls:,} row(s) with no order_id" in by_text
    dups = int((orders["order_id"].value_counts() > 1).sum())
    assert f"{dups:,} order_id value(s) appear more than once" in by_text
    known = {"placed", "paid", "shipped", "completed", "cancelled", "refunded"}
    unknown = orders.loc[~orders["status"].isin(known), "status"].value_counts()
    status_problem = next(p for p in o.problems if "not in [warehouse.status]" in p.message)
    assert status_problem.message.startswith(f"{len(unknown)} status value(s)")
    assert list(status_problem.examples) == [f"{s!r} ({n:,})" for s, n in unknown.items()]
    negative = int((orders["amount"] < 0).sum())
    assert f"{negative:,} order(s) with a negative amount" in by_text
    over = int((orders["refunded_amount"] > orders["amount"]).sum())
    assert f"{over:,} order(s) refunded more than their amount" in by_text
    assert f"{int((orders['refunded_amount'] < 0).sum()):,} order(s) with a negative refunded_amount" in by_text
    future = int((pd.to_datetime(orders["ordered_at"]) > NOW).sum())
    assert f"{future:,} row(s) dated after now" in by_text
    guests = int(orders["customer_id"].isna().sum())
    assert f"{guests:,} order(s) without a customer" in by_text
    assert problems  # every message parsed
    s = table(report, "marketing_spend")
    spend_text = "\n".join(messages(s))
    assert "1 (day, channel) value(s) appear more than once" in spend_text
    assert f"{int((spend['spend'] < 0).sum())} row(s) with negative spend" in spend_text
    t = table(report, "traffic")
    assert not t.found and messages(t, "warning") and not messages(t, "error")
    assert "sessions, conversion and the funnel are unavailable" in report.render()


def test_missing_required_columns_and_tables_fail(tmp_path: Path) -> None:
    db, _orders, _spend = _messy(tmp_path)
    settings = settings_for(db, tables={"orders": {"columns": {"amount": "total", "region": "area"}},
                                        "traffic": {"table": "web_sessions"}})
    report = run_check(settings, now=NOW)
    assert not report.ok and report.exit_code() == 1
    o = table(report, "orders")
    errors = messages(o, "error")
    assert any("column 'total' (for amount) not found" in m for m in errors)
    assert any("column 'area' (for region) not found" in m for m in messages(o, "warning"))
    assert [c.found for c in o.columns if c.logical in ("amount", "region")] == [False, False]
    # traffic is optional, but the config names it explicitly: missing is an error
    assert any("no table or view named 'web_sessions'" in m for m in messages(table(report, "traffic"), "error"))
    assert "MISSING" in report.render()


def test_no_orders_table_is_an_error(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    report = run_check(settings_for(db), now=NOW)
    assert report.exit_code() == 1
    assert "no table or view named 'orders'" in messages(table(report, "orders"), "error")[0]


def test_non_iso_timestamps_on_sqlite_are_an_error(tmp_path: Path) -> None:
    db = tmp_path / "us.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table orders (order_id, customer_id, ordered_at, amount, status, refunded_amount, "
                     "channel, category, region)")
        conn.executemany("insert into orders values (?, 1, ?, 10, 'paid', 0, 'a', 'b', 'c')",
                         [(1, "11/01/2026 10:00"), (2, "2026-11-01 10:00:00"), (3, 1793527200)])
    report = run_check(settings_for(db), now=NOW)
    assert report.exit_code() == 1
    error = messages(table(report, "orders"), "error")[0]
    assert error.startswith("2 ordered_at value(s) are not ISO text")


def test_cannot_connect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_check(settings_for(tmp_path / "nope.db"), now=NOW)
    assert not report.connected and report.exit_code() == 2
    assert "does not exist" in report.render()
    assert not (tmp_path / "nope.db").exists()  # checking never creates a database
    # a password comes from the environment (the config file refuses it), and never shows in the report
    monkeypatch.setenv("OPSBOT_WAREHOUSE_URL", "postgresql+psycopg://u:secret@127.0.0.1:1/shop")
    pg = Settings()
    report = run_check(pg, now=NOW)
    assert report.exit_code() == 2 and "secret" not in report.render() and "***" in report.url


# ---- mapping onto a view and a config query ------------------------------------------------------------


def _renamed(tmp_path: Path, kind: str = "sqlite") -> str:
    """The hand-made small shop under other table and column names; returns the database URL."""
    url = f"{kind}:///{tmp_path / ('renamed.db' if kind == 'sqlite' else 'renamed.duckdb')}"
    engine = create_engine(url)
    created = "text" if kind == "sqlite" else "timestamp"  # SQLite keeps ISO text, DuckDB real timestamps
    with engine.begin() as conn:
        conn.execute(text(f"create table sales (id integer, buyer integer, created {created}, total double, "
                          "state varchar, refund double, src varchar, cat varchar, area varchar)"))
        conn.execute(text("insert into sales values (:a, :b, :c, :d, :e, :f, :g, :h, :i)"),
                     [dict(zip("abcdefghi", row, strict=True)) for row in small_shop.ORDERS])
        conn.execute(text("create view v_orders as select id as oid, buyer, created, total, state, refund, src, "
                          "cat, area from sales"))
    engine.dispose()
    return url


COLUMNS = {"order_id": "oid", "customer_id": "buyer", "ordered_at": "created", "amount": "total",
           "status": "state", "refunded_amount": "refund", "channel": "src", "category": "cat", "region": "area"}
QUERY = """
    SELECT id AS order_id, buyer AS customer_id, created AS ordered_at, total AS amount, state AS status,
           refund AS refunded_amount, src AS channel, cat AS category, area AS region
    FROM sales
    WHERE state <> 'test';  -- a trailing ';' and comments are fine
"""


def _expected_gmv() -> tuple[float, int]:
    frame = pd.DataFrame(small_shop.ORDERS, columns=["id", "buyer", "created", "total", "state", "refund", "src",
                                                     "cat", "area"])
    day = frame["created"].str[:10]
    kept = frame[(day >= "2026-11-01") & (day <= "2026-11-03") & (frame["state"] != "cancelled")]
    return float(kept["total"].sum()), len(kept)


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
@pytest.mark.parametrize("mapping", ["view", "query"])
def test_view_and_query_mappings_check_and_answer_kpis(tmp_path: Path, mapping: str, kind: str) -> None:
    url = _renamed(tmp_path, kind)
    section = {"table": "v_orders", "columns": COLUMNS} if mapping == "view" else {"query": QUERY}
    settings = Settings.model_validate({"warehouse": {"url": url, "tables": {"orders": section}}})
    report = run_check(settings, now=NOW)
    o = table(report, "orders")
    assert o.found and o.kind == mapping and o.rows == len(small_shop.ORDERS)
    assert not messages(o, "error"), report.render()
    assert o.first is not None and o.last is not None
    assert o.first[:19].replace("T", " ") == "2026-10-15 10:00:00"
    assert o.last[:19].replace("T", " ") == "2026-11-03 23:30:00"
    wh = Warehouse.from_url(settings.warehouse_url(), settings.mapping())
    try:
        row = wh.aggregate(["gmv", "orders", "new_customers"], datetime(2026, 11, 1), datetime(2026, 11, 4)).iloc[0]
    finally:
        wh.engine.dispose()
    gmv, orders = _expected_gmv()
    assert (row["gmv"], row["orders"]) == (gmv, orders)


def test_a_failing_config_query_is_reported(tmp_path: Path) -> None:
    url = _renamed(tmp_path)
    settings = Settings.model_validate({"warehouse": {"url": url, "tables": {"orders": {
        "query": "SELECT * FROM no_such_table"}}}})
    report = run_check(settings, now=NOW)
    assert report.exit_code() == 1
    assert "query fails" in messages(table(report, "orders"), "error")[0]


@pytest.mark.parametrize(("section", "error"), [
    ({"table": "sales", "query": "SELECT 1"}, "either table or query"),
    ({"query": "DELETE FROM sales"}, "must be a SELECT"),
    ({"query": "WITH gone AS (DELETE FROM sales RETURNING *) SELECT * FROM gone"}, "must only read"),
    ({"query": "SELECT * FROM sales; DROP TABLE sales"}, "single statement"),
    ({"query": "SELECT * INTO backup FROM sales"}, "must only read"),
])
def test_config_queries_must_be_one_read_only_select(tmp_path: Path, section: dict[str, str], error: str) -> None:
    path = tmp_path / "config.toml"
    lines = [f"{k} = {v!r}" if "'" not in v else f'{k} = "{v}"' for k, v in section.items()]
    path.write_text("[warehouse.tables.orders]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        load_settings(path)


def test_quoted_names_and_literals_with_keywords_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("""[warehouse.tables.orders]
query = \"\"\"SELECT id AS order_id, "update" AS status, 'delete me' AS category FROM sales -- no drop here\"\"\"
""", encoding="utf-8")
    settings = load_settings(path)
    assert settings.mapping().tables["orders"].query is not None
