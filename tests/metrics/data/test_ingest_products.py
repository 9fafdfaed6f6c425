"""`opsbot ingest` of order lines, products, inventory, shipments and returns, and the UCI preset's
order lines and products.

Every file is written here with its planted problems; every expected number is computed here
from the file with pandas, by the rules docs/data.md states, never with metrics.data.ingest's code.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from bot.cli import main
from bot.config import Settings
from metrics.data.ingest import IngestReport
from tests.metrics.data.test_ingest import DAY1, DAY2, PG_URL, count, ingest, make_settings, read


@pytest.fixture(params=["sqlite", "duckdb"] + (["postgresql"] if PG_URL else []))
def engine_kind(request: pytest.FixtureRequest) -> str:
    """The warehouse engines ingest writes to: SQLite, DuckDB (the embedded default), PostgreSQL in CI."""
    return str(request.param)

# ---- helpers ----------------------------------------------------------------------------------


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def csv_frame(path: Path) -> pd.DataFrame:
    """A CSV as the strings it holds (empty cells as "")."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def by_key(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.set_index(keys).sort_index()


def only(report: IngestReport) -> Any:
    (f,) = report.files
    return f


def reasons(f: Any) -> dict[int, str]:
    return {r.line: r.reason for r in f.rejects}


def assert_rejects(f: Any, expected: dict[int, str]) -> None:
    got = reasons(f)
    assert sorted(got) == sorted(expected), got
    for line, reason in expected.items():
        assert got[line].startswith(reason), (line, got[line])


def warning(f: Any, text: str) -> str:
    found = [w for w in f.warnings if text in w]
    assert len(found) == 1, f.warnings
    return found[0]


ORDERS = """order_id,ordered_at,amount
1001,2026-11-01 10:00:00,45.00
1002,2026-11-01 11:00:00,20.00
1003,2026-11-01 12:00:00,50.00
1004,2026-11-01 12:30:00,100.00
"""
PRODUCTS = """sku,name,category,cost,lead_time_days
A,Apple,fruit,4,3
B,Banana,fruit,6,2
C,Cherry,fruit,,5
"""

# order lines: some give line_amount, some unit_price only (line_amount = unit_price x quantity)
LINES = """order_id,sku,quantity,unit_price,line_amount,cost
1001,A,2,10,,8
1001,B,1,15,15,6
1001,A,1,10,,4
1002,C,1,20,20,
1003,A,1,10,10,4
1004,B,4,25,100.40,
1009,C,2,5,,
1002,ZZ,1,0,,
1005,A,0,10,,
1005,B,-2,10,,
1006,A,1.5,10,,
1006,B,1,-3,,
1007,,1,10,,
1007,A,1,,,
1007,C,x,1,,
"""
LINES_REJECTS = {
    10: "quantity: '0' is not positive",
    11: "quantity: '-2' is not positive",
    12: "quantity: 1.50 is not a whole number",
    13: "unit_price: negative (-3.00)",
    14: "sku: missing",
    15: "line_amount: missing, and no unit_price to compute it from",
    16: "quantity: 'x' is not a number",
}


def expected_lines(path: Path, rejected: set[int]) -> pd.DataFrame:
    """The documented rules, in pandas: line_amount as given, else unit_price x quantity; the lines of one
    (order_id, sku) summed (quantity, line_amount, cost; a cost missing on one of them leaves it unknown),
    and a summed line's unit_price = line_amount / quantity (a single line keeps its own)."""
    raw = csv_frame(path)
    raw = raw[~(raw.index + 2).isin(list(rejected))].copy()
    num = {c: pd.to_numeric(raw[c].replace("", np.nan)) if c in raw else pd.Series(np.nan, index=raw.index)
           for c in ("quantity", "unit_price", "line_amount", "cost")}
    raw["quantity"] = num["quantity"]
    raw["line_amount"] = num["line_amount"].fillna(num["unit_price"] * num["quantity"])
    raw["cost"], raw["unit_price"] = num["cost"], num["unit_price"]
    groups = raw.groupby(["order_id", "sku"])
    out = groups.agg(quantity=("quantity", "sum"), line_amount=("line_amount", "sum"), cost=("cost", "sum"),
                     unit_price=("unit_price", "first"), n=("quantity", "size"))
    out.loc[(groups["cost"].count() < groups.size()).to_numpy(), "cost"] = np.nan
    out["unit_price"] = out["unit_price"].where(out["n"] == 1, out["line_amount"] / out["quantity"])
    return out.drop(columns="n").sort_index()


def blanks_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame != "", None)


def assert_lines_equal(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    got = by_key(got, ["order_id", "sku"])
    assert list(got.index) == list(expected.index)
    assert (got["quantity"].astype(int) == expected["quantity"].astype(int)).all()
    for c in ("line_amount", "unit_price", "cost"):
        assert np.allclose(got[c].astype(float), expected[c].astype(float), equal_nan=True), c


def shop(tmp_path: Path, engine_kind: str) -> Settings:
    """A warehouse with the orders and products above."""
    settings = make_settings(tmp_path, kind=engine_kind)
    assert ingest(settings, "orders", write(tmp_path / "orders.csv", ORDERS)).ok
    assert ingest(settings, "products", write(tmp_path / "products.csv", PRODUCTS)).ok
    return settings


# ---- order lines ----------------------------------------------------------------------------------


def test_order_lines_planted_problems(tmp_path: Path, engine_kind: str) -> None:
    settings = shop(tmp_path, engine_kind)
    path = write(tmp_path / "lines.csv", LINES)

    # the strictest mode (the default): a rejected line refuses the whole file, every reject listed
    f = only(ingest(settings, "order_lines", path))
    assert f.status == "refused" and f.rows_read == 15
    assert_rejects(f, LINES_REJECTS)
    assert count(settings, "order_lines") == 0
    rejects = pd.read_csv(f.rejects_file, dtype=str, keep_default_na=False)
    source = csv_frame(path)
    assert list(rejects["line"].astype(int)) == sorted(LINES_REJECTS)
    for _, row in rejects.iterrows():
        assert list(row[source.columns]) == list(source.iloc[int(row["line"]) - 2])

    # --partial: the valid lines, the repeated (1001, A) summed into one line
    f = only(ingest(settings, "order_lines", path, partial=True))
    assert f.status == "partial"
    expected = expected_lines(path, set(LINES_REJECTS))
    got = read(settings, "order_lines")
    assert_lines_equal(got, expected)
    assert f.loaded == f.inserted == len(expected) and f.summed == 1
    assert any("1 line(s) repeated the order_id and sku" in n for n in f.notes)
    row = by_key(got, ["order_id", "sku"]).loc[("1001", "A")]
    assert (row["quantity"], row["line_amount"], row["cost"], row["unit_price"]) == (3, 30.0, 12.0, 10.0)

    # what is loaded but reported, computed from the file and the orders above
    orders = csv_frame(tmp_path / "orders.csv").assign(amount=lambda d: d["amount"].astype(float))
    sums = expected.groupby(level="order_id")["line_amount"].sum()
    amounts = orders.set_index("order_id")["amount"]
    both = sums.index.intersection(amounts.index)
    off = [o for o in both if abs(sums[o] - amounts[o]) > max(0.01, 0.005 * abs(amounts[o]))]
    assert off == ["1003"]  # 1004's 100.40 against 100.00 is within half a percent
    text = warning(f, "do not sum to their amount")
    assert text.startswith(f"{len(off)} order(s) whose lines do not sum") and "1003: lines 10.00, amount 50.00" in text
    orphans = sorted(set(expected.index.get_level_values("order_id")) - set(amounts.index))
    assert orphans == ["1009"]
    assert warning(f, "not in orders").startswith("1 order line(s) of 1 order(s) that are not in orders")
    skus = set(csv_frame(tmp_path / "products.csv")["sku"])
    unknown = expected[~expected.index.get_level_values("sku").isin(skus)]
    assert list(unknown.index.get_level_values("sku")) == ["ZZ"]
    assert warning(f, "not in products").startswith("1 order line(s) with 1 SKU(s) not in products")
    assert "warning: 1 order(s) whose lines do not sum" in ingest(settings, "order_lines", path, partial=True).render()


def test_order_lines_reimport_changes_nothing_and_overlap_upserts(tmp_path: Path, engine_kind: str) -> None:
    settings = shop(tmp_path, engine_kind)
    valid = "\n".join(line for i, line in enumerate(LINES.splitlines(), start=1) if i not in LINES_REJECTS) + "\n"
    path = write(tmp_path / "lines.csv", valid)
    first = only(ingest(settings, "order_lines", path))
    assert first.status == "loaded"
    before = read(settings, "order_lines")
    again = only(ingest(settings, "order_lines", path))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, first.loaded)
    pd.testing.assert_frame_equal(by_key(read(settings, "order_lines"), ["order_id", "sku"]),
                                  by_key(before, ["order_id", "sku"]))

    # a later export: 1003's line corrected (its order now adds up), a new line for 1004, the rest absent
    overlap = write(tmp_path / "overlap.csv", "order_id,sku,quantity,unit_price\n1003,A,5,10\n1004,C,1,7\n")
    f = only(ingest(settings, "order_lines", overlap))
    assert (f.inserted, f.updated) == (1, 1)
    expected = expected_lines(path, set())
    update = expected_lines(overlap, set())
    stored_cost = expected["cost"].reindex(update.index)
    expected = pd.concat([expected.drop(index=update.index, errors="ignore"), update]).sort_index()
    # the later file has no cost column: an updated line keeps its stored cost
    expected.loc[update.index, "cost"] = stored_cost
    assert_lines_equal(read(settings, "order_lines"), expected)
    # 1003's lines now sum to its 50.00; 1004's (100.40 + 7.00) no longer fit its 100.00
    assert "e.g. 1004: lines 107.40, amount 100.00" in warning(f, "do not sum")


def test_repeated_lines_in_different_batches_are_summed(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    rng = np.random.default_rng(19)
    n = 6000
    lines = pd.DataFrame({"order_id": np.sort(rng.integers(1, 1500, n)), "sku": rng.choice(list("ABCDEFGH"), n),
                          "quantity": rng.integers(1, 4, n), "line_amount": np.round(rng.uniform(1, 50, n), 2)})
    # the same (order, sku) again at the far end of the file, many batches later
    lines.loc[n - 1, ["order_id", "sku"]] = [lines.loc[3, "order_id"], lines.loc[3, "sku"]]
    lines.to_csv(tmp_path / "lines.csv", index=False)
    f = only(ingest(settings, "order_lines", tmp_path / "lines.csv", block_bytes=16 << 10))
    assert f.status == "loaded"
    expected = lines.groupby(["order_id", "sku"]).agg(quantity=("quantity", "sum"), line_amount=("line_amount", "sum"))
    assert f.summed == n - len(expected) and f.loaded == len(expected)
    got = read(settings, "order_lines").assign(order_id=lambda d: d["order_id"].astype(int))
    got = by_key(got, ["order_id", "sku"])
    assert list(got.index) == list(expected.index)
    assert (got["quantity"] == expected["quantity"]).all()
    assert np.allclose(got["line_amount"], expected["line_amount"])
    # again: the same sums, nothing doubled
    assert only(ingest(settings, "order_lines", tmp_path / "lines.csv", block_bytes=16 << 10)).status == "loaded"
    again = by_key(read(settings, "order_lines").assign(order_id=lambda d: d["order_id"].astype(int)),
                   ["order_id", "sku"])
    assert (again["quantity"] == expected["quantity"]).all() and np.allclose(again["line_amount"], expected["line_amount"])


def test_an_orders_import_is_checked_against_the_stored_lines(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    # no lines yet: nothing to compare, nothing kept
    assert only(ingest(settings, "orders", write(tmp_path / "o.csv", ORDERS))).warnings == []
    ingest(settings, "order_lines", write(tmp_path / "l.csv", "order_id,sku,quantity,line_amount\n1001,A,1,45\n"
                                                              "1002,A,1,20\n"))
    # a later export changes 1002's amount: its lines no longer add up
    f = only(ingest(settings, "orders", write(tmp_path / "o2.csv", ORDERS.replace("1002,2026-11-01 11:00:00,20.00",
                                                                                 "1002,2026-11-01 11:00:00,25.00"))))
    assert f.warnings == ["1 order(s) whose lines do not sum to their amount (more than max(0.01, 0.5 % of the "
                          "order's amount); loaded), e.g. 1002: lines 20.00, amount 25.00"]


def test_order_lines_need_an_amount_or_a_price(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    f = only(ingest(settings, "order_lines", write(tmp_path / "l.csv", "order_id,sku,quantity\n1,A,2\n")))
    assert f.status == "failed" and "missing column(s): line_amount or unit_price" in f.error
    # mapped from other headers, unit_price only
    f = only(ingest(settings, "order_lines", write(tmp_path / "m.csv", "Order,Item,Qty,Price\n1,A,2,2.5\n"),
                    columns={"order_id": "Order", "sku": "Item", "quantity": "Qty", "unit_price": "Price"}))
    assert f.status == "loaded"
    row = read(settings, "order_lines").iloc[0]
    assert (row["order_id"], row["sku"], row["quantity"], row["unit_price"], row["line_amount"]) == ("1", "A", 2, 2.5,
                                                                                                      5.0)


# ---- an import interrupted halfway leaves nothing half-written --------------------------------------------


def test_a_bad_last_row_leaves_the_lines_unchanged(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    rng = np.random.default_rng(7)
    n = 5000
    base = pd.DataFrame({"order_id": np.sort(rng.integers(1, 2000, n)), "sku": rng.choice(list("ABCDEF"), n),
                         "quantity": rng.integers(1, 4, n), "unit_price": np.round(rng.uniform(1, 20, n), 2)})
    base.to_csv(tmp_path / "base.csv", index=False)
    assert ingest(settings, "order_lines", tmp_path / "base.csv").ok
    before = by_key(read(settings, "order_lines"), ["order_id", "sku"])
    # every line changed, more lines, a repeat across batches (an added line), and a bad type on the last row
    update = base.assign(quantity=base["quantity"] + 1)
    update = pd.concat([update, update.iloc[:10].assign(quantity=1)], ignore_index=True)
    update["quantity"] = update["quantity"].astype(str)
    update.loc[len(update) - 1, "quantity"] = "lots"
    update.to_csv(tmp_path / "update.csv", index=False)
    f = only(ingest(settings, "order_lines", tmp_path / "update.csv", block_bytes=16 << 10))
    assert f.status == "refused" and [r.line for r in f.rejects] == [len(update) + 1]
    pd.testing.assert_frame_equal(by_key(read(settings, "order_lines"), ["order_id", "sku"]), before)


def test_a_write_failing_halfway_leaves_nothing(tmp_path: Path, engine_kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from metrics.data.ingest import writing

    settings = make_settings(tmp_path, kind=engine_kind)
    rng = np.random.default_rng(8)
    n = 5000
    lines = pd.DataFrame({"order_id": np.arange(1, n + 1), "sku": rng.choice(list("ABC"), n),
                          "quantity": rng.integers(1, 4, n), "line_amount": np.round(rng.uniform(1, 20, n), 2)})
    lines.to_csv(tmp_path / "lines.csv", index=False)
    real = writing._Writer.write
    calls = {"n": 0}

    def failing(self: Any, frame: pd.DataFrame) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # two batches are in the table (uncommitted) when the third fails
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        real(self, frame)

    monkeypatch.setattr(writing._Writer, "write", failing)
    f = only(ingest(settings, "order_lines", tmp_path / "lines.csv", block_bytes=16 << 10))
    assert calls["n"] == 3
    assert f.status == "failed" and "disk I/O error" in f.error and f.loaded == 0
    assert count(settings, "order_lines") == 0


def test_the_uci_preset_is_one_transaction_for_its_three_tables(tmp_path: Path, engine_kind: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from metrics.data.ingest import writing

    settings = make_settings(tmp_path, kind=engine_kind, timezone="Europe/London")
    real = writing._Writer.write

    def failing(self: Any, frame: pd.DataFrame) -> None:
        if self.target.logical == "order_lines":  # orders and products are written by then
            raise OperationalError("INSERT", {}, Exception("no space left on device"))
        real(self, frame)

    monkeypatch.setattr(writing._Writer, "write", failing)
    f = only(ingest(settings, "orders", DAY1, preset="uci-retail"))
    assert f.status == "failed" and "no space left" in f.error and f.also == []
    assert count(settings, "orders") == count(settings, "products") == count(settings, "order_lines") == 0


# ---- products, inventory, shipments, returns ----------------------------------------------------------------


def test_products(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    path = write(tmp_path / "p.csv", PRODUCTS + "B,Banana again,fruit,6,2\nD,Date,fruit,-1,2\nE,Elderberry,,1,2.5\n,Fig,,1,1\n")
    f = only(ingest(settings, "products", path, partial=True))
    assert_rejects(f, {5: "duplicate sku B (first on line 3)", 6: "cost: negative (-1.00)",
                       7: "lead_time_days: 2.50 is not a whole number", 8: "sku: missing"})
    got = by_key(read(settings, "products"), ["sku"])
    expected = by_key(csv_frame(tmp_path / "p.csv").iloc[:3], ["sku"])
    assert list(got.index) == list(expected.index)
    assert list(got["name"]) == list(expected["name"])
    assert np.allclose(got["cost"].astype(float), pd.to_numeric(expected["cost"].replace("", np.nan)), equal_nan=True)
    # a file of names only: names change, costs and categories stay
    f = only(ingest(settings, "products", write(tmp_path / "names.csv", "sku,name\nA,Apple (red)\nB,Banana\nG,Grape\n")))
    assert (f.inserted, f.updated, f.unchanged) == (1, 1, 1)
    got = by_key(read(settings, "products"), ["sku"])
    assert got.loc["A", "name"] == "Apple (red)" and got.loc["A", "cost"] == 4 and got.loc["A", "category"] == "fruit"
    assert got.loc["G", "category"] is None
    again = only(ingest(settings, "products", tmp_path / "names.csv"))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)


INVENTORY = """day,sku,warehouse,on_hand,on_order
2026-11-01,A,east,10,0
2026-11-01,A,west,4,5
2026-11-01,B,east,0,20
2026-11-01,A,east,11,0
2026-11-02,B,east,-3,0
2026-11-02,X,east,7,
2026-11-02 18:00:00,A,east,9,0
2026-11-02,B,,5,
"""


def test_inventory(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    path = write(tmp_path / "inv.csv", INVENTORY)
    # products is empty: unknown SKUs are not a warning yet
    f = only(ingest(settings, "inventory", path, partial=True))
    assert_rejects(f, {5: "duplicate day/sku/warehouse 2026-11-01 00:00:00, A, east (first on line 2)",
                       6: "on_hand: negative (-3.00)",
                       8: "day: '2026-11-02 18:00:00' has a time of day"})
    assert f.warnings == []
    source = csv_frame(path)
    valid = blanks_as_none(source[~(source.index + 2).isin([5, 6, 8])])
    got = read(settings, "inventory")
    assert len(got) == len(valid) == f.loaded
    key = ["day", "sku", "warehouse"]
    g = by_key(got.fillna({"warehouse": "-"}), key)
    e = by_key(valid.fillna({"warehouse": "-"}), key)
    assert list(g.index) == list(e.index) and list(g["on_hand"]) == [int(v) for v in e["on_hand"]]
    # re-import: unchanged, the row without a warehouse too (its key matched NULL-safely)
    again = only(ingest(settings, "inventory", path, partial=True))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, f.loaded)
    assert count(settings, "inventory") == len(valid)
    # products has rows now: X is unknown
    ingest(settings, "products", write(tmp_path / "p.csv", PRODUCTS))
    assert warning(only(ingest(settings, "inventory", path, partial=True)), "not in products").startswith(
        "1 row(s) with 1 SKU(s) not in products")
    # one warehouse, no warehouse column: NULL warehouse, upserted by (day, sku)
    single = write(tmp_path / "single.csv", "day,sku,on_hand\n2026-11-02,B,6\n2026-11-03,B,2\n")
    f = only(ingest(settings, "inventory", single))
    assert (f.inserted, f.updated) == (1, 1)
    got = read(settings, "inventory")
    assert len(got) == len(valid) + 1
    unnamed = got[got["warehouse"].isna()].sort_values("day")
    assert unnamed[["day", "sku", "on_hand"]].values.tolist() == [["2026-11-02", "B", 6], ["2026-11-03", "B", 2]]


SHIPMENTS = """order_id,shipped_at,delivered_at,carrier,warehouse
1001,2026-11-02 09:00:00,2026-11-04 15:00:00,ups,east
1002,2026-11-02 10:00:00,,dhl,east
1003,2026-11-03 10:00:00,2026-11-02 10:00:00,ups,west
1009,2026-11-03 11:00:00,2026-11-05 11:00:00,ups,west
1004,,2026-11-05 11:00:00,ups,west
"""


def test_shipments(tmp_path: Path, engine_kind: str) -> None:
    settings = shop(tmp_path, engine_kind)
    path = write(tmp_path / "s.csv", SHIPMENTS)
    f = only(ingest(settings, "shipments", path))
    assert f.status == "refused"
    assert_rejects(f, {4: "delivered_at '2026-11-02 10:00:00' is before shipped_at '2026-11-03 10:00:00'",
                       6: "shipped_at: missing"})
    f = only(ingest(settings, "shipments", path, partial=True))
    got = by_key(read(settings, "shipments"), ["order_id"])
    expected = by_key(blanks_as_none(csv_frame(path).iloc[[0, 1, 3]]), ["order_id"])
    assert got[["shipped_at", "delivered_at", "carrier"]].values.tolist() == \
        expected[["shipped_at", "delivered_at", "carrier"]].values.tolist()
    assert got.loc["1002", "delivered_at"] is None  # in transit
    assert warning(f, "not in orders").startswith("1 shipment(s) of 1 order(s) that are not in orders") and \
        "e.g. 1009" in warning(f, "not in orders")
    # the next export: 1002 delivered
    later = write(tmp_path / "later.csv", "order_id,shipped_at,delivered_at,carrier\n1002,2026-11-02 10:00:00,"
                                          "2026-11-06 12:00:00,dhl\n1001,2026-11-02 09:00:00,2026-11-04 15:00:00,ups\n")
    f = only(ingest(settings, "shipments", later))
    assert (f.inserted, f.updated, f.unchanged) == (0, 1, 1)
    got = by_key(read(settings, "shipments"), ["order_id"])
    assert got.loc["1002", "delivered_at"] == "2026-11-06 12:00:00" and got.loc["1001", "warehouse"] == "east"


RETURNS = """order_id,sku,quantity,amount,reason,returned_at
1001,A,1,10,broken,2026-11-08 10:00:00
1001,,,45,changed mind,2026-11-09 10:00:00
1002,C,-1,20,broken,2026-11-08 10:00:00
1009,A,1,10,late,2026-11-08 11:00:00
1003,Q,1,10,wrong item,2026-11-08 12:00:00
1001,A,1,10,broken,2026-11-08 10:00:00
"""


def test_returns(tmp_path: Path, engine_kind: str) -> None:
    settings = shop(tmp_path, engine_kind)
    path = write(tmp_path / "r.csv", RETURNS)
    f = only(ingest(settings, "returns", path, partial=True))
    assert_rejects(f, {4: "quantity: '-1' is not positive",
                       7: "duplicate order_id/sku/returned_at 1001, A, 2026-11-08 10:00:00 (first on line 2)"})
    got = read(settings, "returns")
    valid = blanks_as_none(csv_frame(path).iloc[[0, 1, 3, 4]])
    assert sorted(got["order_id"] + "/" + got["sku"].fillna("-")) == sorted(valid["order_id"] + "/" +
                                                                            valid["sku"].fillna("-"))
    whole = got[got["sku"].isna()].iloc[0]  # a return of the whole order: no sku, no quantity
    assert (whole["order_id"], whole["amount"]) == ("1001", 45.0) and pd.isna(whole["quantity"])
    assert "e.g. 1009" in warning(f, "not in orders")
    assert warning(f, "not in products").startswith("1 row(s) with 1 SKU(s) not in products (loaded; add them to products), e.g. 'Q' (1)")
    again = only(ingest(settings, "returns", path, partial=True))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, f.loaded)
    assert count(settings, "returns") == len(valid)


# ---- the UCI Online Retail preset: orders, their lines and the products from one file ---------------------


def uci_sales_lines(path: Path) -> pd.DataFrame:
    """The lines the preset's orders count, by its documented rule, straight from the raw file:
    invoices not starting with C (cancellations) or A (adjustments), quantity > 0 and unit price > 0."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw["q"] = raw["Quantity"].astype(int)
    raw["p"] = raw["UnitPrice"].astype(float)
    inv = raw["InvoiceNo"]
    sales = ~inv.str.startswith("C") & ~inv.str.startswith("A") & (raw["q"] > 0) & (raw["p"] > 0)
    return raw[sales].assign(value=lambda d: d["q"] * d["p"])


@pytest.mark.parametrize("day", [DAY1, DAY2], ids=["2010-12-01", "2011-08-12"])
def test_uci_lines_sum_to_their_orders(tmp_path: Path, engine_kind: str, day: Path) -> None:
    settings = make_settings(tmp_path, kind=engine_kind, timezone="Europe/London")
    report = ingest(settings, "orders", day, preset="uci-retail")
    f = only(report)
    assert report.ok and f.warnings == []
    sales = uci_sales_lines(day)
    per_invoice = sales.groupby("InvoiceNo")["value"].sum()
    orders = read(settings, "orders").set_index("order_id")
    lines = read(settings, "order_lines")
    placed = orders[orders["status"] == "placed"]
    # every placed order is an invoice with sales lines, and its amount is their sum, as are its stored lines
    assert sorted(placed.index) == sorted(per_invoice.index)
    assert np.allclose(placed.loc[per_invoice.index, "amount"], per_invoice)
    stored = lines.groupby("order_id")["line_amount"].sum()
    assert sorted(stored.index) == sorted(per_invoice.index)
    assert np.allclose(stored.loc[per_invoice.index], per_invoice, atol=1e-6, rtol=0)
    # cancellations are orders (cancelled) without lines
    cancelled = orders[orders["status"] == "cancelled"]
    assert len(cancelled) and not set(cancelled.index) & set(lines["order_id"])
    # one line per (invoice, StockCode): repeats summed
    expected = sales.groupby(["InvoiceNo", "StockCode"]).agg(quantity=("q", "sum"), line_amount=("value", "sum"))
    got = lines.set_index(["order_id", "sku"]).sort_index()
    assert list(got.index) == list(expected.index)
    assert (got["quantity"] == expected["quantity"]).all()
    assert np.allclose(got["line_amount"], expected["line_amount"])
    assert np.allclose(got["unit_price"], expected["line_amount"] / expected["quantity"])
    assert len(sales) > len(expected)  # the file has repeated StockCodes in an invoice
    assert f.also[1].table == "order_lines" and f.also[1].loaded == len(expected)
    # products: every StockCode sold, named by its most frequent description (a tie: the first seen)
    # descriptions as stored: trimmed (a few end in a space)
    described = sales.assign(Description=sales["Description"].str.strip())
    described = described[described["Description"] != ""].reset_index(drop=True)
    described["pos"] = described.index
    names = described.groupby(["StockCode", "Description"]).agg(n=("pos", "size"), first=("pos", "min")).reset_index()
    names = names.sort_values(["StockCode", "n", "first"], ascending=[True, False, True]).drop_duplicates("StockCode")
    products = read(settings, "products").set_index("sku").sort_index()
    assert sorted(products.index) == sorted(sales["StockCode"].unique())
    assert products.loc[names["StockCode"], "name"].tolist() == names["Description"].tolist()
    assert f.also[0].table == "products" and f.also[0].loaded == len(products)
    # again: nothing changes in any of the three tables
    again = only(ingest(settings, "orders", day, preset="uci-retail"))
    assert (again.inserted, again.updated) == (0, 0)
    assert [(t.inserted, t.updated) for t in again.also] == [(0, 0), (0, 0)]
    pd.testing.assert_frame_equal(read(settings, "order_lines").set_index(["order_id", "sku"]).sort_index(), got)


def test_uci_preset_report_says_what_was_skipped(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, timezone="Europe/London")
    f = only(ingest(settings, "orders", DAY1, preset="uci-retail"))
    raw = pd.read_csv(DAY1, dtype=str, keep_default_na=False)
    cancel_lines = int(raw["InvoiceNo"].str.startswith("C").sum())
    sales = uci_sales_lines(DAY1)
    not_sales = len(raw) - cancel_lines - len(sales)
    notes = "\n".join(f.notes)
    assert f"{cancel_lines:,} of cancellation invoices" in notes
    assert f"{not_sales:,} with a zero or negative quantity or price" in notes
    groups = sales.groupby(["InvoiceNo", "StockCode"]).ngroups
    assert f"{len(sales):,} sales line(s) of the imported orders as {groups:,} line(s)" in notes
    text = ingest(settings, "orders", DAY1, preset="uci-retail").render()
    assert f"and {groups:,} order_lines rows" in text


# ---- the command ----------------------------------------------------------------------------------------------


def test_the_command_imports_order_lines(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[warehouse]\nurl = "sqlite:///{tmp_path / "shop.db"}"\n[state]\nurl = "sqlite:///'
                      f'{tmp_path / "state.db"}"\n', encoding="utf-8")
    path = write(tmp_path / "l.csv", "Order,Item,Qty,Price\n1,A,2,2.5\n1,A,1,2.5\n")
    args = ["ingest", "order_lines", str(path), "--config", str(config), "--map", "order_id=Order", "--map", "sku=Item",
            "--quantity", "Qty", "--unit-price", "Price", "--no-progress"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "loaded 1 order lines from 2 lines" in result.output and "summed into it" in result.output
    result = CliRunner().invoke(main, args + ["--json"])
    (f,) = json.loads(result.output)["files"]
    assert (f["loaded"], f["unchanged"], f["summed"], f["warnings"], f["also"]) == (1, 1, 1, [], [])
    result = CliRunner().invoke(main, ["ingest", "inventory", str(path), "--config", str(config), "--lines"])
    assert result.exit_code == 2 and "orders table only" in result.output


# ---- throughput (opt-in: OPSBOT_INGEST_BENCH=1) -----------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("OPSBOT_INGEST_BENCH"), reason="set OPSBOT_INGEST_BENCH=1 to measure")
def test_throughput_order_lines(tmp_path: Path) -> None:
    """Issue 19's benchmark: order lines into DuckDB at 300,000 rows/s or more, with their orders and
    products in the warehouse (so the checks against them run, and count in the time)."""
    n = int(os.environ.get("OPSBOT_INGEST_ROWS", "1000000"))
    kind = os.environ.get("OPSBOT_INGEST_ENGINE", "duckdb")
    rng = np.random.default_rng(19)
    lines = pd.DataFrame({
        "order_id": np.sort(rng.integers(1, n // 3, n)), "sku": [f"SKU-{v:05d}" for v in rng.integers(0, 20000, n)],
        "quantity": rng.integers(1, 6, n), "unit_price": np.round(rng.uniform(1, 100, n), 2),
        "cost": np.round(rng.uniform(0.5, 50, n), 2)})
    lines.to_csv(tmp_path / "lines.csv", index=False)
    orders = lines.assign(v=lines["quantity"] * lines["unit_price"]).groupby("order_id")["v"].sum().round(2)
    buf = io.StringIO()
    pd.DataFrame({"order_id": orders.index, "ordered_at": "2026-11-01 10:00:00", "amount": orders.values}).to_csv(
        buf, index=False)
    write(tmp_path / "orders.csv", buf.getvalue())
    pd.DataFrame({"sku": [f"SKU-{v:05d}" for v in range(20000)], "name": "x"}).to_csv(tmp_path / "p.csv", index=False)
    settings = make_settings(tmp_path, kind=kind)
    assert ingest(settings, "orders", tmp_path / "orders.csv").ok and ingest(settings, "products", tmp_path / "p.csv").ok
    print(f"\n{kind}, {(tmp_path / 'lines.csv').stat().st_size / 1e6:,.0f} MB CSV, {os.cpu_count()} CPUs")
    rates = []
    for label in ("empty table", "re-import, unchanged", "re-import, every quantity changed"):
        if label.startswith("re-import, every"):
            lines.assign(quantity=lines["quantity"] + 1).to_csv(tmp_path / "lines.csv", index=False)
        cpu, wall = time.process_time(), time.perf_counter()
        report = ingest(settings, "order_lines", tmp_path / "lines.csv")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert report.ok, report.render()
        rates.append(n / wall)
        print(f"\n{label}: {n:,} rows in {wall:.2f} s wall ({n / wall:,.0f} rows/s), {cpu:.2f} s CPU; "
              f"{only(report).warnings}")
    assert min(rates) >= 300_000
