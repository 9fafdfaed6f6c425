"""The hand-made shop of tests/metrics/small_shop.py with order lines, products, stock, shipments
and returns added; every expected number in the tests beside it was worked out by hand.

Order lines of the period 2026-11-01..03 (orders 3, 4, 6, 13 and 20 have lines; 7 is cancelled,
its line never counts; order 1 is in October):
  order 3 (search):  SKU-A ×2 150.00 cost 60 · SKU-B ×1 50.00 (no line cost: product's 20)
  order 4 (social):  SKU-T ×4 80.00 cost 40
  order 6 (search):  SKU-H ×1 300.00 (product's 120)
  order 13 (search): SKU-H ×1 250.00 (product's 120) · SKU-A ×2 250.00 (product's 2 × 30)
  order 20 (email):  SKU-X ×1 55.00 (no product row: cost unknown)
  → units 12, line GMV 1135, 5 orders; costed GMV 1080, cost 420, margin 660.

Stock (end-of-day snapshots, 10-30..11-03): SKU-A at east_dc 6 6 4 4 2 and south_dc 3 every day;
SKU-T at east_dc 8 8 4 0 0 (out from 11-02, still out); SKU-H at east_dc 5 5 4 4 3, with 30 on
order on 11-03; SKU-B at east_dc 9 9 9 – 8 (no row on 11-02: unknown, not zero). SKU-X has no stock rows.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from tests.metrics import small_shop

LINES = [
    # order_id, sku, quantity, line_amount, unit_price, cost
    (1, "SKU-A", 1, 100.0, 100.0, 30.0),
    (3, "SKU-A", 2, 150.0, 75.0, 60.0),
    (3, "SKU-B", 1, 50.0, 50.0, None),
    (4, "SKU-T", 4, 80.0, 20.0, 40.0),
    (6, "SKU-H", 1, 300.0, 300.0, None),
    (7, "SKU-T", 3, 60.0, 20.0, 30.0),
    (13, "SKU-H", 1, 250.0, 250.0, None),
    (13, "SKU-A", 2, 250.0, 125.0, None),
    (20, "SKU-X", 1, 55.0, 55.0, None),
]

PRODUCTS = [
    # sku, name, category, cost, lead_time_days
    ("SKU-A", "Trail runner", "shoes", 30.0, 10),
    ("SKU-B", "Insole", "shoes", 20.0, 5),
    ("SKU-T", "Puzzle", "toys", 10.0, 3),
    ("SKU-H", "Lamp", "home", 120.0, 20),
]


INVENTORY = [
    # day, sku, warehouse, on_hand, on_order
    *[(d, "SKU-A", "east_dc", q, 0) for d, q in zip(("2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02",
                                                       "2026-11-03"), (6, 6, 4, 4, 2), strict=True)],
    *[(d, "SKU-A", "south_dc", 3, 0) for d in ("2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02", "2026-11-03")],
    *[(d, "SKU-T", "east_dc", q, 0) for d, q in zip(
        ("2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02", "2026-11-03"), (8, 8, 4, 0, 0), strict=True)],
    *[(d, "SKU-H", "east_dc", q, 30 if d == "2026-11-03" else 0) for d, q in zip(
        ("2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02", "2026-11-03"), (5, 5, 4, 4, 3), strict=True)],
    *[(d, "SKU-B", "east_dc", q, 0) for d, q in zip(("2026-10-30", "2026-10-31", "2026-11-01", "2026-11-03"),
                                                      (9, 9, 9, 8), strict=True)],
]


SHIPMENTS = [
    # order_id, shipped_at, delivered_at, carrier, warehouse
    (3, "2026-11-01 15:00:00", "2026-11-03 15:00:00", "sf", "east_dc"),
    (4, "2026-11-02 17:00:00", "2026-11-05 17:00:00", "zto", "east_dc"),
    (5, "2026-11-02 12:00:00", None, "sf", "south_dc"),
    (6, "2026-11-01 20:00:00", "2026-11-02 20:00:00", "sf", "east_dc"),
    (7, "2026-11-01 18:00:00", "2026-11-02 18:00:00", "sf", "east_dc"),  # a cancelled order's: never counts
    (13, "2026-11-03 21:00:00", None, "zto", "east_dc"),
]

RETURNS = [
    # order_id, sku, quantity, amount, reason, returned_at
    (1, "SKU-A", 1, 100.0, "size", "2026-10-20 10:00:00"),
    (6, "SKU-H", 1, 300.0, "quality", "2026-11-03 10:00:00"),
    (10, "SKU-B", 1, 50.0, "size", "2026-11-02 12:00:00"),
    (20, "SKU-X", 1, 10.0, "damaged", "2026-11-03 23:50:00"),
    (13, "SKU-A", 1, 125.0, "size", "2026-11-04 09:00:00"),
]


def build(path: Path, *, lines_with: str = "line_amount") -> str:
    """The shop as a SQLite file; `lines_with` "unit_price" leaves line_amount out of order_lines
    (a source that records the price only)."""
    url = small_shop.build(path)
    engine = create_engine(url)
    amount = "line_amount real, " if lines_with == "line_amount" else ""
    with engine.begin() as conn:
        conn.execute(text(f"create table order_lines (order_id integer, sku text, quantity integer, {amount}"
                          "unit_price real, cost real)"))
        cols = "order_id, sku, quantity, " + ("line_amount, " if amount else "") + "unit_price, cost"
        values = ":o, :s, :q, " + (":a, " if amount else "") + ":p, :c"
        conn.execute(text(f"insert into order_lines ({cols}) values ({values})"),
                     [dict(zip("osqapc", row, strict=True)) for row in LINES])
        conn.execute(text("create table products (sku text, name text, category text, cost real, "
                          "lead_time_days integer)"))
        conn.execute(text("insert into products values (:a, :b, :c, :d, :e)"),
                     [dict(zip("abcde", row, strict=True)) for row in PRODUCTS])
        conn.execute(text("create table shipments (order_id integer, shipped_at text, delivered_at text, "
                          "carrier text, warehouse text)"))
        conn.execute(text("insert into shipments values (:a, :b, :c, :d, :e)"),
                     [dict(zip("abcde", row, strict=True)) for row in SHIPMENTS])
        conn.execute(text("create table returns (order_id integer, sku text, quantity integer, amount real, "
                          "reason text, returned_at text)"))
        conn.execute(text("insert into returns values (:a, :b, :c, :d, :e, :f)"),
                     [dict(zip("abcdef", row, strict=True)) for row in RETURNS])
        conn.execute(text("create table inventory (day text, sku text, warehouse text, on_hand integer, "
                          "on_order integer)"))
        conn.execute(text("insert into inventory values (:a, :b, :c, :d, :e)"),
                     [dict(zip("abcde", row, strict=True)) for row in INVENTORY])
    engine.dispose()
    return url
