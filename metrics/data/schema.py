"""The logical data model of DESIGN.md and its mapping onto a real database.

Metric code speaks only logical names; `Mapping` knows the physical ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LOGICAL_TABLES: dict[str, tuple[str, ...]] = {
    "orders": (
        "order_id", "customer_id", "ordered_at", "amount", "status",
        "refunded_amount", "channel", "category", "region",
    ),
    "traffic": ("day", "channel", "sessions", "product_views", "add_to_cart"),
    "marketing_spend": ("day", "channel", "spend"),
    # products, stock and fulfilment (docs/products.md); every one optional
    "order_lines": ("order_id", "sku", "quantity", "line_amount", "unit_price", "cost"),
    "products": ("sku", "name", "category", "cost", "lead_time_days"),
    "inventory": ("day", "sku", "warehouse", "on_hand", "on_order"),
    "shipments": ("order_id", "shipped_at", "delivered_at", "carrier", "warehouse"),
    "returns": ("order_id", "sku", "quantity", "amount", "reason", "returned_at"),
}
# the tables of the first wave, which every shop has (the rest are optional)
CORE_TABLES: tuple[str, ...] = ("orders", "traffic", "marketing_spend")
PRODUCT_TABLES: tuple[str, ...] = ("order_lines", "products", "inventory", "shipments", "returns")
# columns a table may lack: order lines need line_amount or unit_price (× quantity), the rest are extras
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "order_lines": ("line_amount", "unit_price", "cost"),
    "products": ("name", "category", "cost", "lead_time_days"),
    "inventory": ("warehouse", "on_order"),
    "shipments": ("delivered_at", "carrier", "warehouse"),
    "returns": ("sku", "quantity", "amount", "reason"),
}

# the indexes the read queries need (period scans, first-order lookups), created by the demo
# loader and by ingest on the tables they create
READ_INDEXES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "orders": (("ix_orders_ordered_at", ("ordered_at",)), ("ix_orders_customer", ("customer_id", "ordered_at"))),
    "traffic": (("ix_traffic_day", ("day",)),),
    "marketing_spend": (("ix_spend_day", ("day",)),),
    "order_lines": (("ix_lines_order", ("order_id",)), ("ix_lines_sku", ("sku",))),
    "products": (("ix_products_sku", ("sku",)),),
    "inventory": (("ix_inventory_day", ("day", "sku")),),
    "shipments": (("ix_shipments_order", ("order_id",)), ("ix_shipments_shipped", ("shipped_at",))),
    "returns": (("ix_returns_at", ("returned_at",)),),
}

DEFAULT_DIMENSIONS: tuple[str, ...] = ("channel", "category", "region")

DEFAULT_STATUSES: dict[str, tuple[str, ...]] = {
    "placed": ("placed", "paid", "shipped", "completed"),
    "cancelled": ("cancelled",),
    "refunded": ("refunded",),
}


class ColumnMap(dict[str, str]):
    """logical column name -> physical column name"""


@dataclass(frozen=True)
class TableMap:
    table: str
    columns: ColumnMap
    # A read-only SELECT written by the admin, used instead of `table` (which then only
    # names the subquery). `columns` map logical names onto the query's output columns.
    query: str | None = None


@dataclass(frozen=True)
class Mapping:
    tables: dict[str, TableMap]
    statuses: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_STATUSES))
    extra_dimensions: dict[str, str] = field(default_factory=dict)
    timestamps: str = "local"  # "local": naive business-local time; "utc": naive or aware UTC
    timezone: str = "Asia/Shanghai"

    @classmethod
    def default(cls, timezone: str = "Asia/Shanghai") -> Mapping:
        return cls(
            tables={
                name: TableMap(name, ColumnMap({c: c for c in cols})) for name, cols in LOGICAL_TABLES.items()
            },
            timezone=timezone,
        )

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Dimensions of orders, in the order users see them."""
        return DEFAULT_DIMENSIONS + tuple(d for d in self.extra_dimensions if d not in DEFAULT_DIMENSIONS)

    def table_dimensions(self, table: str) -> tuple[str, ...]:
        """Dimensions a logical table can be grouped or filtered by."""
        if table == "orders":
            return self.dimensions
        if table == "order_lines":  # a line is split and filtered by its order, and by its SKU
            return (*self.dimensions, "sku")
        if table in ("traffic", "marketing_spend"):
            return ("channel",)  # traffic and spend are recorded per channel only
        # products and stock: what they are recorded by (order lines hang off their order)
        return {"products": ("category",), "inventory": ("warehouse",), "shipments": ("carrier", "warehouse"),
                "returns": ("reason", "sku")}.get(table, ())


# Words that make a statement more than a read. A config query is run by opsbot's own
# connection, so a typo'd or pasted "DELETE" must never reach the database. This is a
# guard against mistakes, not a security boundary: give opsbot a read-only database user.
_WRITE_WORDS = (
    # a SELECT writes through data-modifying CTEs (WITH x AS (DELETE ...)) or SELECT ... INTO;
    # the rest can never appear in a read and catch a second statement glued on
    "insert", "update", "delete", "merge", "into", "truncate", "drop", "alter", "create",
    "grant", "revoke", "attach", "detach", "copy", "vacuum",
)

# string literals, quoted names and comments, matched in one pass so that a quote inside a
# comment or "--" inside a literal is read the way the database reads it
_SKIPPED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/", re.S)


def validate_select(query: str) -> str:
    """A config SQL query, checked to be one read-only SELECT; returned without trailing ';' and comments.

    Raises ValueError saying what is wrong. Quoted names and string literals are
    ignored when looking for write keywords, so `"update_at"` or `'Delete me'` pass.
    The query becomes a subquery, so a trailing `;` or `-- comment` (which would
    swallow the closing parenthesis) is cut off.
    """

    def blank(match: re.Match[str]) -> str:
        # same length, so positions in `bare` are positions in `query`
        text = match.group()
        return " " * len(text) if text.startswith(("--", "/*")) else "'" + "x" * (len(text) - 2) + "'"

    bare = _SKIPPED.sub(blank, query)
    end = len(bare.rstrip())
    while end and bare[end - 1] == ";":
        end = len(bare[: end - 1].rstrip())
    start = len(bare) - len(bare.lstrip())
    query, bare = query[start:end], bare[start:end]
    if not bare.strip():
        raise ValueError("query is empty")
    if ";" in bare:
        raise ValueError("query must be a single statement (found ';' inside it)")
    first = re.match(r"[\s(]*([A-Za-z_]*)", bare).group(1).lower()  # type: ignore[union-attr]
    if first not in ("select", "with"):
        raise ValueError(f"query must be a SELECT (or WITH ... SELECT), not {first.upper()!r}")
    words = set(re.findall(r"[a-z_][a-z0-9_]*", bare.lower()))
    found = sorted(words & set(_WRITE_WORDS))
    if found:
        raise ValueError(f"query must only read: it contains {', '.join(w.upper() for w in found)}")
    return query
