"""`opsbot ingest`: real UCI Online Retail files and generated files with planted errors.

Every expected number is computed here with pandas straight from the input files,
never with metrics.data.ingest's own code.
"""

from __future__ import annotations

import gzip
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect, text

from bot.config import Settings
from metrics.data.ingest import (
    IngestOptions,
    IngestReport,
    IngestSetupError,
    ingest_files,
    parse_assignments,
)
from metrics.data.warehouse import Warehouse

DATA = Path(__file__).resolve().parents[2] / "data" / "retail"
DAY1 = DATA / "online_retail_sample_2010-12-01.csv"
DAY2 = DATA / "online_retail_2011-08-12.csv.gz"
NOW = datetime(2026, 11, 25, 10, 30)


# ---- helpers ----------------------------------------------------------------------------------


PG_URL = os.environ.get("OPSBOT_TEST_PG_URL", "")
PG_SCHEMA = "opsbot_ingest_test"  # its own schema: the demo shop's tables on the same server stay untouched


@pytest.fixture(params=["sqlite", "duckdb"] + (["postgresql"] if PG_URL else []))
def engine_kind(request: pytest.FixtureRequest) -> str:
    """The warehouse engines ingest writes to: SQLite, DuckDB (the embedded default), PostgreSQL in CI."""
    return str(request.param)


def warehouse_url(tmp_path: Path, kind: str) -> str:
    if kind == "postgresql":
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        engine.dispose()
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{PG_SCHEMA}"
    return f"{kind}:///{tmp_path / ('shop.db' if kind == 'sqlite' else 'shop.duckdb')}"


def make_settings(tmp_path: Path, timezone: str = "Asia/Shanghai", kind: str = "sqlite", **warehouse: Any) -> Settings:
    return Settings.model_validate({
        "bot": {"timezone": timezone},
        "warehouse": {"url": warehouse_url(tmp_path, kind), **warehouse},
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
    })


def ingest(settings: Settings, table: str, *files: Path, **options: Any) -> IngestReport:
    return ingest_files(settings, table, list(files), progress=False, options=IngestOptions(**options), now=NOW)


def read(settings: Settings, table: str) -> pd.DataFrame:
    """A table as SQLite shows it (timestamps and days as ISO text), whatever the engine."""
    engine = create_engine(settings.warehouse_url())
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(table):
                return pd.DataFrame()
            frame = pd.read_sql(text(f'SELECT * FROM "{table}"'), conn)
    finally:
        engine.dispose()
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            layout = "%Y-%m-%d" if col == "day" else "%Y-%m-%d %H:%M:%S"
            frame[col] = frame[col].dt.strftime(layout).astype(object).where(frame[col].notna(), None)
        elif frame[col].dtype == object and len(frame) and hasattr(frame[col].dropna().iloc[0] if frame[col].notna().any() else None, "isoformat"):
            frame[col] = frame[col].map(lambda v: None if v is None else v.isoformat())
        elif pd.api.types.is_string_dtype(frame[col]):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def count(settings: Settings, table: str) -> int:
    return len(read(settings, table))


def orders_frame(ids: range, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(ids)
    start = np.datetime64("2026-10-01T00:00:00")
    stamps = start + rng.integers(0, 50 * 86400, n).astype("timedelta64[s]")
    amount = np.round(rng.uniform(1, 500, n), 2)
    return pd.DataFrame({
        "order_id": list(ids),
        "customer_id": rng.integers(1, max(2, n // 3), n),
        "ordered_at": pd.Series(stamps).dt.strftime("%Y-%m-%d %H:%M:%S"),
        "amount": amount,
        "status": rng.choice(["placed", "paid", "completed", "cancelled", "refunded"], n),
        "refunded_amount": np.where(rng.random(n) < 0.1, np.round(amount / 2, 2), 0.0),
        "channel": rng.choice(["search", "social", "email"], n),
        "category": rng.choice(["shoes", "toys"], n),
        "region": rng.choice(["east", "west"], n),
    })


def uci_orders(path: Path) -> pd.DataFrame:
    """UCI lines -> orders, by the documented preset rules, computed independently with pandas."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    q, p = df["Quantity"].astype(int), df["UnitPrice"].astype(float)
    df["value"] = q * p
    inv = df["InvoiceNo"]
    cancel, adjust = inv.str.startswith("C"), inv.str.startswith("A")
    sales = ~cancel & ~adjust & (q > 0) & (p > 0)
    keep = df[sales | cancel]
    out = keep.groupby("InvoiceNo").agg(
        amount=("value", "sum"), ordered_at=("InvoiceDate", "min"),
        customer_id=("CustomerID", "first"), region=("Country", "first"),
    )
    out["status"] = np.where(out.index.str.startswith("C"), "cancelled", "placed")
    out.loc[out["status"] == "cancelled", "amount"] *= -1
    out["customer_id"] = out["customer_id"].map(lambda c: str(int(float(c))) if c else None)
    return out


# ---- the real data ---------------------------------------------------------------------------------


def test_uci_sample_matches_pandas_and_the_published_figures(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind, timezone="Europe/London")
    report = ingest(settings, "orders", DAY1, preset="uci-retail")
    assert report.ok and report.exit_code == 0
    expected = uci_orders(DAY1)
    got = read(settings, "orders").set_index("order_id")
    assert len(got) == len(expected) == report.files[0].loaded
    assert report.files[0].rows_read == 3108
    assert report.files[0].skipped == 143 - len(expected)
    assert sorted(got.index) == sorted(expected.index)
    joined = got.join(expected, suffixes=("", "_pd"))
    assert np.allclose(joined["amount"], joined["amount_pd"])
    assert (joined["ordered_at"] == joined["ordered_at_pd"]).all()
    assert (joined["status"] == joined["status_pd"]).all()
    assert (joined["region"] == joined["region_pd"]).all()
    assert (joined["customer_id"].fillna("-") == joined["customer_id_pd"].fillna("-")).all()
    assert set(got["channel"]) == {"online"} and set(got["category"]) == {"unknown"}
    placed = got[got["status"] == "placed"]
    # the README's published figures for this day
    assert len(placed) == 127
    assert round(placed["amount"].sum(), 2) == 58960.79
    assert placed["customer_id"].nunique() == 95
    assert round(placed["amount"].sum() - got.loc[got["status"] == "cancelled", "amount"].sum(), 2) == 58635.56


def test_uci_kpis_through_the_warehouse(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind, timezone="Europe/London")
    ingest(settings, "orders", DAY1, preset="uci-retail")
    wh = Warehouse.from_url(settings.warehouse_url(), settings.mapping())
    try:
        row = wh.aggregate(["gmv", "orders", "buyers"], datetime(2010, 12, 1), datetime(2010, 12, 2)).iloc[0]
    finally:
        wh.engine.dispose()
    assert row["orders"] == 127 and round(row["gmv"], 2) == 58960.79 and row["buyers"] == 95


def test_uci_gzip_day_with_bad_debt_adjustments(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind, timezone="Europe/London")
    report = ingest(settings, "orders", DAY2, preset="uci-retail")
    assert report.ok, report.render()
    expected = uci_orders(DAY2)
    got = read(settings, "orders").set_index("order_id")
    assert sorted(got.index) == sorted(expected.index)
    assert not any(i.startswith("A") for i in got.index)
    assert any("'A'" in n for n in report.files[0].notes)
    assert np.isclose(got["amount"].sum(), expected["amount"].sum())
    assert (got["status"] == "cancelled").sum() == (expected["status"] == "cancelled").sum() == 2


def test_reimport_is_idempotent(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind, timezone="Europe/London")
    ingest(settings, "orders", DAY1, DAY2, preset="uci-retail")
    first = read(settings, "orders")
    report = ingest(settings, "orders", DAY1, DAY2, DAY1, preset="uci-retail")
    again = read(settings, "orders")
    assert report.ok
    assert len(again) == len(first)
    assert again["amount"].sum() == pytest.approx(first["amount"].sum())
    pd.testing.assert_frame_equal(again.sort_values("order_id").reset_index(drop=True),
                                  first.sort_values("order_id").reset_index(drop=True))
    for f in report.files:
        assert (f.inserted, f.updated, f.unchanged) == (0, 0, f.loaded)


# ---- generated files: keys, upserts, overlaps ----------------------------------------------------------


def test_overlapping_files_upsert_by_order_id(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    a, b = orders_frame(range(1, 101), seed=1), orders_frame(range(51, 151), seed=2)
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    report = ingest(settings, "orders", tmp_path / "a.csv", tmp_path / "b.csv")
    assert report.ok
    assert [(f.inserted, f.updated) for f in report.files] == [(100, 0), (50, 50)]
    expected = pd.concat([a[~a["order_id"].isin(b["order_id"])], b]).set_index("order_id").sort_index()
    got = read(settings, "orders")
    got["order_id"] = got["order_id"].astype(int)
    got = got.set_index("order_id").sort_index()
    assert len(got) == 150
    assert np.allclose(got["amount"], expected["amount"])
    assert (got["status"] == expected["status"]).all()
    assert got["amount"].sum() == pytest.approx(expected["amount"].sum())


def test_a_file_without_status_does_not_reset_statuses(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    full = orders_frame(range(1, 21), seed=3)
    full.to_csv(tmp_path / "full.csv", index=False)
    ingest(settings, "orders", tmp_path / "full.csv")
    slim = full[["order_id", "ordered_at", "amount"]].assign(amount=full["amount"] + 1)
    slim.to_csv(tmp_path / "slim.csv", index=False)
    assert ingest(settings, "orders", tmp_path / "slim.csv").ok
    got = read(settings, "orders").assign(order_id=lambda d: d["order_id"].astype(int)).set_index("order_id")
    expected = full.set_index("order_id")
    assert (got["status"] == expected["status"]).all()
    assert np.allclose(got["amount"], expected["amount"] + 1)
    # a new order from a file without status gets the first placed status
    pd.DataFrame({"order_id": [99], "ordered_at": ["2026-11-01 10:00:00"], "amount": [5]}).to_csv(
        tmp_path / "new.csv", index=False)
    ingest(settings, "orders", tmp_path / "new.csv")
    new = read(settings, "orders").query("order_id == '99'").iloc[0]
    assert new["status"] == "placed" and new["refunded_amount"] == 0


PLANTED = """order_id,customer_id,ordered_at,amount,status,refunded_amount,channel,category,region
1,10,2026-11-01 10:00:00,100.00,paid,0,search,shoes,east
2,11,2026-13-01 10:00:00,50.00,paid,0,search,shoes,east
3,12,2026-11-01 11:00:00,-5.00,paid,0,search,shoes,east
4,13,2026-11-01 12:00:00,,paid,0,search,shoes,east
5,14,2026-11-01 13:00:00,abc,paid,0,search,shoes,east
6,15,2026-11-01 14:00:00,80.00,refunded,90,search,shoes,east
1,16,2026-11-01 15:00:00,70.00,paid,0,search,shoes,east
7,17,2026-11-01 16:00:00,60.00,paid,0,search,toys,west
,18,2026-11-01 17:00:00,60.00,paid,0,search,toys,west
8,19,,10.00,paid,0,search,toys,west
"""
PLANTED_REJECTS = {
    3: "ordered_at: '2026-13-01 10:00:00' is not a date/time",
    4: "amount: negative (-5.00)",
    5: "amount: missing",
    6: "amount: 'abc' is not a number",
    7: "refunded_amount 90.00 is more than amount 80.00",
    8: "duplicate order_id 1 (first on line 2)",
    10: "order_id: missing",
    11: "ordered_at: missing",
}


def test_planted_errors_refuse_the_whole_file_and_report_every_row(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    path = tmp_path / "planted.csv"
    path.write_text(PLANTED, encoding="utf-8")
    report = ingest(settings, "orders", path)
    f = report.files[0]
    assert f.status == "refused" and report.exit_code == 1
    assert count(settings, "orders") == 0  # the table exists, nothing from the file is in it
    assert f.rejected == len(PLANTED_REJECTS) and f.rows_read == 10
    got = {r.line: r.reason for r in f.rejects}
    assert set(got) == set(PLANTED_REJECTS)
    for line, reason in PLANTED_REJECTS.items():
        assert got[line].startswith(reason), (line, got[line])
    # the rejects file: every rejected row with its original values, beside the input
    assert f.rejects_file == tmp_path / "planted.csv.rejects.csv"
    rejects = pd.read_csv(f.rejects_file, dtype=str, keep_default_na=False)
    assert list(rejects["line"].astype(int)) == sorted(PLANTED_REJECTS)
    source = pd.read_csv(path, dtype=str, keep_default_na=False)
    for _, row in rejects.iterrows():
        original = source.iloc[int(row["line"]) - 2]
        assert list(row[source.columns]) == list(original)
    text = report.render()
    assert "REFUSED" in text and "line 4: amount: negative" in text and "--partial" in text


def test_partial_loads_the_valid_rows(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    path = tmp_path / "planted.csv"
    path.write_text(PLANTED, encoding="utf-8")
    report = ingest(settings, "orders", path, partial=True)
    f = report.files[0]
    assert f.status == "partial" and report.exit_code == 1
    source = pd.read_csv(path, dtype=str, keep_default_na=False)
    valid = source[~(source.index + 2).isin(list(PLANTED_REJECTS))]
    got = read(settings, "orders")
    assert sorted(got["order_id"]) == sorted(valid["order_id"])
    assert got["amount"].sum() == pytest.approx(valid["amount"].astype(float).sum())


def test_duplicate_keys_across_batches_are_found(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    frame = orders_frame(range(1, 5001), seed=4)
    frame.loc[4000, "order_id"] = 17  # a duplicate far from its first occurrence
    frame.to_csv(tmp_path / "dup.csv", index=False)
    report = ingest(settings, "orders", tmp_path / "dup.csv", block_bytes=32 << 10)
    f = report.files[0]
    assert f.status == "refused"
    assert [(r.line, r.reason) for r in f.rejects] == [(4002, "duplicate order_id 17 (first on line 18)")]
    assert count(settings, "orders") == 0


@pytest.mark.parametrize("ids", ["integers", "leading zeros", "text"])
def test_duplicate_finder_matches_a_plain_dict(ids: str) -> None:
    from metrics.data.ingest.duplicates import _SeenKeys

    rng = np.random.default_rng(len(ids))
    for _ in range(20):
        n = int(rng.integers(1, 3000))
        values = rng.integers(0, n // 2 + 2, n)
        keys = [str(v) if ids == "integers" else f"0{v}" if ids == "leading zeros" and v % 7 == 0 else
                str(v) if ids == "leading zeros" else f"k{v}" for v in values]
        lines = np.arange(2, n + 2)
        seen, got = _SeenKeys(), []
        for lo in range(0, n, 500):
            batch = pd.DataFrame({"k": pd.Series(keys[lo : lo + 500], dtype="str")})
            got += seen.earlier_lines(batch, lines[lo : lo + 500]).tolist()
        first: dict[str, int] = {}
        expected = []
        for key, line in zip(keys, lines, strict=True):
            expected.append(first.get(key, 0))
            first.setdefault(key, int(line))
        assert got == expected


def test_one_bad_row_in_the_last_batch_leaves_the_warehouse_unchanged(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    base = orders_frame(range(1, 3001), seed=5)
    base.to_csv(tmp_path / "base.csv", index=False)
    assert ingest(settings, "orders", tmp_path / "base.csv").ok
    before = read(settings, "orders").sort_values("order_id").reset_index(drop=True)
    update = orders_frame(range(1001, 6001), seed=6)
    update.loc[len(update) - 1, "amount"] = -1  # the very last row
    update.to_csv(tmp_path / "update.csv", index=False)
    report = ingest(settings, "orders", tmp_path / "update.csv", block_bytes=16 << 10)
    assert report.files[0].status == "refused"
    assert [r.line for r in report.files[0].rejects] == [len(update) + 1]
    after = read(settings, "orders").sort_values("order_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(after, before)
    if engine_kind != "sqlite":
        return
    # the indexes are still there (the empty-table fast path was not taken, nor half undone)
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        names = {r[0] for r in conn.execute("select name from sqlite_master where type = 'index'")}
    assert {"ux_orders_order_id", "ix_orders_ordered_at", "ix_orders_customer"} <= names


def test_a_refused_first_file_into_an_empty_table_keeps_its_indexes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    path = tmp_path / "planted.csv"
    path.write_text(PLANTED, encoding="utf-8")
    ingest(settings, "orders", path)
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        names = {r[0] for r in conn.execute("select name from sqlite_master where type = 'index'")}
    assert {"ux_orders_order_id", "ix_orders_ordered_at", "ix_orders_customer"} <= names


# ---- files that are not what they claim -------------------------------------------------------------------


def test_missing_columns_name_what_is_missing(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    path = tmp_path / "noamount.csv"
    orders_frame(range(1, 4)).drop(columns=["amount"]).to_csv(path, index=False)
    f = ingest(settings, "orders", path).files[0]
    assert f.status == "failed"
    assert "missing column(s): amount" in f.error and "'order_id'" in f.error and "--map" in f.error
    assert count(settings, "orders") == 0


def test_empty_and_header_only_files(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("order_id,ordered_at,amount\n", encoding="utf-8")
    report = ingest(settings, "orders", tmp_path / "empty.csv", tmp_path / "header.csv")
    empty, header = report.files
    assert empty.status == "failed" and "empty" in empty.error
    assert header.status == "loaded" and header.loaded == 0
    assert report.exit_code == 1


def test_binary_garbage_is_not_csv(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    rng = np.random.default_rng(0)
    (tmp_path / "garbage.csv").write_bytes(b"order_id,ordered_at,amount\n" + rng.bytes(100_000))
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04" + rng.bytes(1000))
    garbage, book = ingest(settings, "orders", tmp_path / "garbage.csv", tmp_path / "book.xlsx").files
    assert garbage.status == "failed" and "not a CSV file" in garbage.error
    assert book.status == "failed" and "save the sheet as CSV" in book.error
    assert count(settings, "orders") == 0


def test_bad_encoding_deep_in_a_big_file_loads_nothing(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    frame = orders_frame(range(1, 60_001), seed=7)
    bad_line = 59_990
    path = tmp_path / "latin1.csv"
    frame.to_csv(path, index=False)
    lines = path.read_bytes().split(b"\n")
    lines[bad_line - 1] = lines[bad_line - 1].replace(b",east", b",\xe9ast").replace(b",west", b",\xe9ast")
    path.write_bytes(b"\n".join(lines))
    # small blocks: many batches are written before the bad bytes are met, then rolled back
    f = ingest(settings, "orders", path, block_bytes=256 << 10).files[0]
    assert f.status == "failed"
    assert f"line {bad_line}" in f.error and "--encoding cp1252" in f.error
    assert count(settings, "orders") == 0
    ok = ingest(settings, "orders", path, encoding="cp1252")
    assert ok.ok
    got = read(settings, "orders")
    assert len(got) == len(frame)
    assert got.loc[got["order_id"] == str(bad_line - 1), "region"].iloc[0] == "éast"


def test_malformed_rows_and_line_breaks_keep_exact_line_numbers(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    content = (
        "order_id,ordered_at,amount,category\n"
        '1,2026-11-01 10:00:00,10,"two\nlines"\n'  # lines 2-3
        "2,2026-11-01 10:00:00,20,toys,extra\n"  # line 4: one field too many
        "\n"  # line 5: blank
        "3,2026-11-01 10:00:00,x,toys\n"  # line 6: bad amount
        "4,2026-11-01 10:00:00,40,toys\n"
    )
    (tmp_path / "odd.csv").write_text(content, encoding="utf-8")
    f = ingest(settings, "orders", tmp_path / "odd.csv", partial=True).files[0]
    assert [(r.line, r.reason) for r in f.rejects] == [
        (4, "has 5 fields, the header has 4"), (6, "amount: 'x' is not a number")]
    got = read(settings, "orders").set_index("order_id")
    assert sorted(got.index) == ["1", "4"]
    assert got.loc["1", "category"] == "two\nlines"


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    content = "order_id,ordered_at,amount\n1,2026-11-01 10:00:00,10\n\n\n2,2026-11-01 10:00:00,-2\n"
    (tmp_path / "blank.csv").write_text(content, encoding="utf-8")
    f = ingest(settings, "orders", tmp_path / "blank.csv").files[0]
    assert [r.line for r in f.rejects] == [5]


# ---- formats, mapping, dates ----------------------------------------------------------------------------


def test_gzip_and_parquet(tmp_path: Path, engine_kind: str) -> None:
    pytest.importorskip("pyarrow")
    settings = make_settings(tmp_path, kind=engine_kind)
    a, b = orders_frame(range(1, 501), seed=8), orders_frame(range(501, 1001), seed=9)
    with gzip.open(tmp_path / "a.csv.gz", "wt", encoding="utf-8") as fh:
        a.to_csv(fh, index=False)
    typed = b.assign(ordered_at=pd.to_datetime(b["ordered_at"]))  # Parquet keeps types
    typed.to_parquet(tmp_path / "b.parquet", index=False)
    report = ingest(settings, "orders", tmp_path / "a.csv.gz", tmp_path / "b.parquet")
    assert report.ok, report.render()
    got = read(settings, "orders").assign(order_id=lambda d: d["order_id"].astype(int)).set_index("order_id")
    expected = pd.concat([a, b]).set_index("order_id")
    assert len(got) == 1000
    assert np.allclose(got.loc[expected.index, "amount"], expected["amount"])
    assert (got.loc[expected.index, "ordered_at"] == expected["ordered_at"]).all()
    assert (got.loc[expected.index, "customer_id"] == expected["customer_id"].astype(str)).all()


@pytest.mark.parametrize("codec", ["bz2", "xz", "zstd"])
def test_other_compressions_are_recognised_by_content(tmp_path: Path, codec: str) -> None:
    pa = pytest.importorskip("pyarrow")
    settings = make_settings(tmp_path)
    frame = orders_frame(range(1, 301), seed=12)
    data = frame.to_csv(index=False).encode()
    path = tmp_path / "orders.dat"  # no telling extension: the magic bytes decide
    if codec == "bz2":
        import bz2

        path.write_bytes(bz2.compress(data))
    elif codec == "xz":
        import lzma

        path.write_bytes(lzma.compress(data))
    else:
        with pa.CompressedOutputStream(str(path), "zstd") as out:
            out.write(data)
    report = ingest(settings, "orders", path)
    assert report.ok, report.render()
    got = read(settings, "orders")
    assert len(got) == len(frame) and got["amount"].sum() == pytest.approx(frame["amount"].sum())


def test_column_map_date_format_and_constants(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    content = "Ref;When;Total;Client\nA-1;25/11/2026 09:05;12,5;c1\nA-2;26/11/2026 23:59;7;\n"
    (tmp_path / "eu.csv").write_text(content, encoding="utf-8")
    report = ingest(settings, "orders", tmp_path / "eu.csv", delimiter=";",
                    columns={"order_id": "Ref", "ordered_at": "when", "amount": "Total", "customer_id": "CLIENT"},
                    constants={"channel": "shop"}, date_format="%d/%m/%Y %H:%M", partial=True)
    f = report.files[0]
    # "12,5" is not a number: decimal commas are not guessed
    assert [(r.line, r.reason) for r in f.rejects] == [(2, "amount: '12,5' is not a number")]
    row = read(settings, "orders").iloc[0]
    assert (row["order_id"], row["ordered_at"], row["amount"], row["channel"]) == ("A-2", "2026-11-26 23:59:00", 7.0,
                                                                                   "shop")
    assert row["customer_id"] is None


def test_utc_files_are_stored_in_business_local_time(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)  # Asia/Shanghai, naive local storage
    content = ("order_id,ordered_at,amount\n"
               "1,2026-11-01 16:30:00,10\n"  # naive, read as UTC below: 00:30 next day in Shanghai
               "2,2026-11-01T15:59:59Z,10\n"  # explicit UTC: still Nov 1 in Shanghai
               "3,2026-11-01T23:00:00+08:00,10\n")  # explicit offset: kept
    (tmp_path / "utc.csv").write_text(content, encoding="utf-8")
    assert ingest(settings, "orders", tmp_path / "utc.csv", timestamps="utc").ok
    got = read(settings, "orders").set_index("order_id")["ordered_at"].to_dict()
    assert got == {"1": "2026-11-02 00:30:00", "2": "2026-11-01 23:59:59", "3": "2026-11-01 23:00:00"}


def test_generic_invoice_lines_across_batches(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    rng = np.random.default_rng(10)
    n = 20_000
    lines = pd.DataFrame({
        "Order": np.sort(rng.integers(1, 3000, n)),
        "Date": "2026-11-03 12:00:00",
        "Qty": rng.integers(1, 5, n),
        "Price": np.round(rng.uniform(1, 20, n), 2),
        "Cust": rng.integers(1, 500, n),
    })
    lines.to_csv(tmp_path / "lines.csv", index=False)
    report = ingest(settings, "orders", tmp_path / "lines.csv", lines=True, block_bytes=64 << 10,
                    columns={"order_id": "Order", "ordered_at": "Date", "quantity": "Qty", "unit_price": "Price",
                             "customer_id": "Cust"})
    assert report.ok
    expected = lines.assign(v=lines["Qty"] * lines["Price"]).groupby("Order")["v"].sum()
    got = read(settings, "orders").assign(order_id=lambda d: d["order_id"].astype(int)).set_index("order_id")
    assert len(got) == len(expected) == report.files[0].loaded
    assert np.allclose(got.loc[expected.index, "amount"], expected)
    assert (got["status"] == "placed").all()


def test_traffic_and_spend_upsert_by_day_and_channel(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    traffic = pd.DataFrame({
        "day": ["2026-11-01", "2026-11-01", "2026-11-02"], "channel": ["search", "social", "search"],
        "sessions": [100, 50, 80], "product_views": [60, 30, 50], "add_to_cart": [20, 10, 15],
    })
    traffic.to_csv(tmp_path / "t.csv", index=False)
    fix = traffic.iloc[[2]].assign(sessions=90)
    fix.to_csv(tmp_path / "t_fix.csv", index=False)
    report = ingest(settings, "traffic", tmp_path / "t.csv", tmp_path / "t_fix.csv", tmp_path / "t.csv")
    assert report.ok and [(f.inserted, f.updated) for f in report.files] == [(3, 0), (0, 1), (0, 1)]
    got = read(settings, "traffic")
    assert len(got) == 3 and got["sessions"].sum() == traffic["sessions"].sum()
    # one channel's spend export has no channel column: --set it
    spend = pd.DataFrame({"Date": ["2026-11-01", "2026-11-02", "2026-11-02"], "Cost": [10.5, 20, 30]})
    spend.to_csv(tmp_path / "s.csv", index=False)
    f = ingest(settings, "marketing_spend", tmp_path / "s.csv", columns={"day": "Date", "spend": "Cost"},
               constants={"channel": "search"}).files[0]
    assert f.status == "refused"
    assert [(r.line, r.reason) for r in f.rejects] == [(4, "duplicate day/channel 2026-11-02 00:00:00, search "
                                                           "(first on line 3)")]
    spend.iloc[:2].to_csv(tmp_path / "s.csv", index=False)
    assert ingest(settings, "marketing_spend", tmp_path / "s.csv", columns={"day": "Date", "spend": "Cost"},
                  constants={"channel": "search"}).ok
    got = read(settings, "marketing_spend")
    assert got[["day", "channel", "spend"]].values.tolist() == [["2026-11-01", "search", 10.5],
                                                                ["2026-11-02", "search", 20.0]]


def test_day_with_time_and_negative_sessions_are_rejected(tmp_path: Path, engine_kind: str) -> None:
    settings = make_settings(tmp_path, kind=engine_kind)
    content = "day,channel,sessions\n2026-11-01 10:00:00,search,5\n2026-11-02,search,-1\n2026-11-03,,4\n"
    (tmp_path / "t.csv").write_text(content, encoding="utf-8")
    f = ingest(settings, "traffic", tmp_path / "t.csv").files[0]
    assert [(r.line, r.reason) for r in f.rejects] == [
        (2, "day: '2026-11-01 10:00:00' has a time of day; a day column holds dates"),
        (3, "sessions: negative (-1.00)"), (4, "channel: missing")]


def test_existing_tables_with_other_names_and_integer_ids(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table shop_orders (id integer primary key, buyer integer, created text, total real, "
                     "state text, refund real, src text, cat text, area text)")
    settings = make_settings(tmp_path, tables={"orders": {"table": "shop_orders", "columns": {
        "order_id": "id", "customer_id": "buyer", "ordered_at": "created", "amount": "total", "status": "state",
        "refunded_amount": "refund", "channel": "src", "category": "cat", "region": "area"}}})
    content = "order_id,ordered_at,amount\n10,2026-11-01 10:00:00,5\nC11,2026-11-01 10:00:00,5\n12.0,2026-11-01 11:00:00,7\n"
    (tmp_path / "o.csv").write_text(content, encoding="utf-8")
    f = ingest(settings, "orders", tmp_path / "o.csv", partial=True).files[0]
    assert [(r.line, r.reason) for r in f.rejects] == [(3, "order_id: 'C11' is not an integer (the table's column is)")]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select id, typeof(id), total, state from shop_orders order by id").fetchall()
    assert rows == [(10, "integer", 5.0, "placed"), (12, "integer", 7.0, "placed")]


# ---- refusals before any file is read ------------------------------------------------------------------


def test_setup_errors(tmp_path: Path) -> None:
    with pytest.raises(IngestSetupError, match="demo shop"):
        ingest(Settings(), "orders", DAY1)
    settings = make_settings(tmp_path)
    with pytest.raises(IngestSetupError, match="unknown table"):
        ingest(settings, "customers", DAY1)
    with pytest.raises(IngestSetupError, match="unknown column 'total'"):
        ingest(settings, "orders", DAY1, columns={"total": "x"})
    with pytest.raises(IngestSetupError, match="need --lines"):
        ingest(settings, "orders", DAY1, columns={"quantity": "Quantity"})
    with pytest.raises(IngestSetupError, match="unknown preset"):
        ingest(settings, "orders", DAY1, preset="shopify")
    with pytest.raises(IngestSetupError, match="not a number"):
        ingest(settings, "orders", DAY1, constants={"refunded_amount": "zero"})
    queried = make_settings(tmp_path, tables={"orders": {"query": "select * from x"}})
    with pytest.raises(IngestSetupError, match="mapped to a SQL query"):
        ingest(queried, "orders", DAY1)
    assert parse_assignments(["ordered_at=InvoiceDate", " amount = Total "], "--map") == {
        "ordered_at": "InvoiceDate", "amount": "Total"}
    with pytest.raises(IngestSetupError, match="expected <logical column>=<header>"):
        parse_assignments(["ordered_at"], "--map")


def test_a_duckdb_file_open_in_another_process_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    settings = make_settings(tmp_path, kind="duckdb")
    path = settings.warehouse_url().removeprefix("duckdb:///")
    engine = create_engine(settings.warehouse_url())
    with engine.begin() as conn:
        conn.execute(text("create table keep (x integer)"))
    engine.dispose()
    holder = subprocess.Popen(  # a running bot holds the file open (read-only, as Warehouse does)
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({path!r}, read_only=True); "
                               "print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(IngestSetupError, match="open in another process"):
            ingest(settings, "orders", DAY1, preset="uci-retail")
    finally:
        holder.kill()
        holder.wait()


def test_progress_bar_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    orders_frame(range(1, 2001)).to_csv(tmp_path / "p.csv", index=False)
    ingest_files(settings, "orders", [tmp_path / "p.csv"], progress=True, now=NOW)
    captured = capsys.readouterr()
    assert captured.out == "" and "p.csv" in captured.err


# ---- throughput (opt-in: OPSBOT_INGEST_BENCH=1) -----------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("OPSBOT_INGEST_BENCH"), reason="set OPSBOT_INGEST_BENCH=1 to measure")
def test_throughput_one_million_rows(tmp_path: Path) -> None:
    n = int(os.environ.get("OPSBOT_INGEST_ROWS", "1000000"))
    frame = orders_frame(range(1, n + 1), seed=11)
    frame.to_csv(tmp_path / "big.csv", index=False)
    kind = os.environ.get("OPSBOT_INGEST_ENGINE", "duckdb")  # the embedded default
    settings = make_settings(tmp_path, kind=kind)
    print(f"\n{kind}, {(tmp_path / 'big.csv').stat().st_size / 1e6:,.0f} MB CSV")
    for label in ("empty table", "re-import, unchanged", "re-import, every amount changed"):
        if label.endswith("changed") and "every" in label:
            frame.assign(amount=frame["amount"] + 1).to_csv(tmp_path / "big.csv", index=False)
        cpu, wall = time.process_time(), time.perf_counter()
        report = ingest(settings, "orders", tmp_path / "big.csv")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert report.ok
        print(f"\n{label}: {n:,} rows in {wall:.1f} s wall ({n / wall:,.0f} rows/s), {cpu:.1f} s CPU "
              f"({n / cpu:,.0f} rows/CPU-s)")
    assert count(settings, "orders") == n
