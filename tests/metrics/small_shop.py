"""A hand-made 20-order shop whose KPIs were worked out by hand (see test_kpis.py).

Timestamps are naive local time; some carry microseconds and some do not, as
real SQLite files do, to pin the day boundaries.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, create_engine, text

ORDERS = [
    # id, customer, ordered_at, amount, status, refunded, channel, category, region
    (1, 1, "2026-10-15 10:00:00", 100, "completed", 0, "search", "shoes", "east"),
    (2, 2, "2026-10-20 12:00:00", 50, "cancelled", 0, "social", "toys", "west"),
    (3, 1, "2026-11-01 09:00:00.000000", 200, "completed", 0, "search", "shoes", "east"),
    (4, 2, "2026-11-01 11:00:00", 80, "paid", 0, "social", "toys", "west"),
    (5, 3, "2026-11-01 23:59:59.999000", 120, "shipped", 0, "email", "shoes", "east"),
    (6, 4, "2026-11-01 15:00:00", 300, "refunded", 300, "search", "home", "north"),
    (7, 5, "2026-11-01 16:00:00", 60, "cancelled", 0, "search", "toys", "east"),
    (8, 3, "2026-11-02 00:00:00.000000", 40, "completed", 0, "email", "toys", "east"),
    (9, 5, "2026-11-02 10:00:00", 90, "placed", 0, "search", "toys", "east"),
    (10, 6, "2026-11-02 11:00:00", 150, "completed", 50, "social", "home", "west"),
    (11, 6, "2026-11-02 18:00:00", 70, "completed", 0, "social", "home", "west"),
    (12, 1, "2026-11-02 20:00:00", 110, "completed", 0, "direct", "shoes", "east"),
    (13, 7, "2026-11-03 09:00:00", 500, "completed", 0, "search", "home", "north"),
    (14, 7, "2026-11-03 09:00:00", 20, "completed", 0, "email", "toys", "north"),
    (15, 8, "2026-11-03 10:00:00", 60, "cancelled", 0, "direct", "shoes", "south"),
    (16, 2, "2026-11-03 12:00:00", 80, "completed", 0, "social", "toys", "west"),
    (17, 9, "2026-11-03 13:00:00", 35, "completed", 0, "email", "toys", "south"),
    (18, 4, "2026-11-03 14:00:00", 100, "completed", 0, "search", "home", "north"),
    (19, 10, "2026-11-03 23:00:00", 45, "paid", 0, "direct", "shoes", "east"),
    (20, 3, "2026-11-03 23:30:00", 55, "completed", 10, "email", "shoes", "east"),
]

TRAFFIC = [
    # day, channel, sessions, product_views, add_to_cart
    ("2026-11-01", "search", 100, 60, 20), ("2026-11-01", "social", 50, 30, 10),
    ("2026-11-01", "email", 40, 25, 8), ("2026-11-01", "direct", 10, 6, 2),
    ("2026-11-02", "search", 80, 50, 15), ("2026-11-02", "social", 0, 0, 0),
    ("2026-11-02", "email", 20, 12, 5), ("2026-11-02", "direct", 0, 0, 0),
    ("2026-11-03", "search", 120, 70, 25), ("2026-11-03", "social", 60, 35, 12),
    ("2026-11-03", "email", 30, 18, 7), ("2026-11-03", "direct", 10, 5, 2),
]

SPEND = [
    ("2026-11-01", "search", 200), ("2026-11-01", "social", 100), ("2026-11-01", "email", 0),
    ("2026-11-02", "search", 150), ("2026-11-02", "social", 50),
    ("2026-11-03", "search", 250), ("2026-11-03", "social", 100), ("2026-11-03", "email", 20),
]


def create_tables(conn: Connection) -> None:
    """The DESIGN.md tables as a real SQLite file holds them: timestamps and days as text."""
    conn.execute(text(
        "create table orders (order_id integer primary key, customer_id integer, ordered_at text, "
        "amount real, status text, refunded_amount real, channel text, category text, region text)"
    ))
    conn.execute(text("create table traffic (day text, channel text, sessions integer, "
                      "product_views integer, add_to_cart integer)"))
    conn.execute(text("create table marketing_spend (day text, channel text, spend real)"))


def build(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as conn:
        create_tables(conn)
        conn.execute(text("insert into orders values (:a,:b,:c,:d,:e,:f,:g,:h,:i)"),
                     [dict(zip("abcdefghi", row, strict=True)) for row in ORDERS])
        conn.execute(text("insert into traffic values (:a,:b,:c,:d,:e)"),
                     [dict(zip("abcde", row, strict=True)) for row in TRAFFIC])
        conn.execute(text("insert into marketing_spend values (:a,:b,:c)"),
                     [dict(zip("abc", row, strict=True)) for row in SPEND])
    engine.dispose()
    return url
