"""The logical data model of DESIGN.md and its mapping onto a real database.

Metric code speaks only logical names; `Mapping` knows the physical ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOGICAL_TABLES: dict[str, tuple[str, ...]] = {
    "orders": (
        "order_id", "customer_id", "ordered_at", "amount", "status",
        "refunded_amount", "channel", "category", "region",
    ),
    "traffic": ("day", "channel", "sessions", "product_views", "add_to_cart"),
    "marketing_spend": ("day", "channel", "spend"),
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
        return ("channel",)  # traffic and spend are recorded per channel only
