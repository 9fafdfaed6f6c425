"""What each logical table needs from a file: its key, its required columns, the unique index its
upserts use, and the kind of value every column holds."""

from __future__ import annotations

from typing import Literal

KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id",),
    "traffic": ("day", "channel"),
    "marketing_spend": ("day", "channel"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "orders": ("order_id", "ordered_at", "amount"),
    "traffic": ("day", "channel", "sessions"),
    "marketing_spend": ("day", "channel", "spend"),
}
# the unique index ON CONFLICT needs, and the read indexes metrics/data/load.py builds for the demo
UNIQUE_INDEX: dict[str, str] = {
    "orders": "ux_orders_order_id",
    "traffic": "ux_traffic_day_channel",
    "marketing_spend": "ux_spend_day_channel",
}
# columns of an invoice-line file that exist only before aggregation (lines mode)
LINE_COLUMNS: tuple[str, ...] = ("quantity", "unit_price")

Kind = Literal["id", "text", "timestamp", "date", "money", "count", "number"]
_KINDS: dict[str, Kind] = {
    "order_id": "id", "customer_id": "id", "ordered_at": "timestamp", "amount": "money",
    "status": "text", "refunded_amount": "money", "channel": "text", "category": "text",
    "region": "text", "day": "date", "sessions": "count", "product_views": "count",
    "add_to_cart": "count", "spend": "money", "quantity": "number", "unit_price": "number",
}
