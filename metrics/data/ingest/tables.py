"""What each logical table needs from a file: its key, its required columns, the unique index its
upserts use, and the kind of value every column holds."""

from __future__ import annotations

from typing import Literal

KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id",),
    "traffic": ("day", "channel"),
    "marketing_spend": ("day", "channel"),
    "order_lines": ("order_id", "sku"),
    "products": ("sku",),
    "inventory": ("day", "sku", "warehouse"),
    "shipments": ("order_id",),
    "returns": ("order_id", "sku", "returned_at"),
}
# key columns a row may leave empty (one unnamed warehouse; a return of a whole order): they are
# stored as NULL and matched NULL-safely (the unique index is on coalesce(column, ''))
NULLABLE_KEYS: dict[str, tuple[str, ...]] = {
    "inventory": ("warehouse",),
    "returns": ("sku",),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "orders": ("order_id", "ordered_at", "amount"),
    "traffic": ("day", "channel", "sessions"),
    "marketing_spend": ("day", "channel", "spend"),
    # and line_amount or unit_price (x quantity): see options._match_headers
    "order_lines": ("order_id", "sku", "quantity"),
    "products": ("sku",),
    "inventory": ("day", "sku", "on_hand"),
    "shipments": ("order_id", "shipped_at"),
    "returns": ("order_id", "returned_at"),
}
# the unique index ON CONFLICT needs, and the read indexes metrics/data/load.py builds for the demo
UNIQUE_INDEX: dict[str, str] = {
    "orders": "ux_orders_order_id",
    "traffic": "ux_traffic_day_channel",
    "marketing_spend": "ux_spend_day_channel",
    "order_lines": "ux_lines_order_sku",
    "products": "ux_products_sku",
    "inventory": "ux_inventory_day_sku_warehouse",
    "shipments": "ux_shipments_order_id",
    "returns": "ux_returns_order_sku_at",
}
# columns of an invoice-line file that exist only before aggregation (lines mode)
LINE_COLUMNS: tuple[str, ...] = ("quantity", "unit_price")
# tables whose rows belong to one order (their order_id is checked against orders)
ORDER_CHILDREN: tuple[str, ...] = ("order_lines", "shipments", "returns")
# tables whose sku is checked against products (when products has rows)
SKU_TABLES: tuple[str, ...] = ("order_lines", "inventory", "returns")
# order_lines: duplicates of a key within one file are summed into one line, in these columns
SUMMED: tuple[str, ...] = ("quantity", "line_amount", "cost")
# the date or timestamp columns of each table: rows dated after now are noted
DATED: dict[str, tuple[str, ...]] = {
    "orders": ("ordered_at",), "traffic": ("day",), "marketing_spend": ("day",), "inventory": ("day",),
    "shipments": ("shipped_at", "delivered_at"), "returns": ("returned_at",),
}

Kind = Literal["id", "text", "timestamp", "date", "money", "count", "number"]
_KINDS: dict[str, Kind] = {
    "order_id": "id", "customer_id": "id", "ordered_at": "timestamp", "amount": "money",
    "status": "text", "refunded_amount": "money", "channel": "text", "category": "text",
    "region": "text", "day": "date", "sessions": "count", "product_views": "count",
    "add_to_cart": "count", "spend": "money", "quantity": "number", "unit_price": "number",
    "sku": "id", "name": "text", "line_amount": "money", "cost": "money", "lead_time_days": "count",
    "warehouse": "text", "on_hand": "count", "on_order": "count", "shipped_at": "timestamp",
    "delivered_at": "timestamp", "carrier": "text", "reason": "text", "returned_at": "timestamp",
}
# where a table's column differs from the general kind: stored units are whole numbers, and a
# stored price is never negative (lines mode keeps "number": a preset reads negative lines itself)
_TABLE_KINDS: dict[tuple[str, str], Kind] = {
    ("order_lines", "quantity"): "count", ("order_lines", "unit_price"): "money",
    ("returns", "quantity"): "count",
}
# whole numbers that must be above zero: a line sells at least one unit, a return returns one
POSITIVE: frozenset[tuple[str, str]] = frozenset({("order_lines", "quantity"), ("returns", "quantity")})


def kind_of(table: str, column: str) -> Kind:
    """The kind of value `column` of the logical `table` holds."""
    return _TABLE_KINDS.get((table, column), _KINDS.get(column, "text"))
