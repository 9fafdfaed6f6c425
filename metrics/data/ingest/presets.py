"""Known export formats (`--preset`): their column mapping and the rules that turn their invoice
lines into orders, order lines and products."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    """A known export format: its column mapping and the rules that turn its lines into orders."""

    name: str
    description: str
    columns: dict[str, str]
    constants: dict[str, str] = field(default_factory=dict)
    lines: bool = False
    cancel_prefix: str | None = None  # order ids starting with it are cancellations (credit notes)
    skip_prefixes: tuple[str, ...] = ()  # order ids starting with these are not orders at all
    sales_lines_only: bool = False  # amount counts lines with quantity > 0 and unit price > 0 only
    # the same file also fills these tables: order_lines (the order's counted lines, by sku) and
    # products (sku and its most frequent name), from these line-level columns
    companions: tuple[str, ...] = ()
    line_columns: dict[str, str] = field(default_factory=dict)  # "sku", "name" -> header


PRESETS: dict[str, Preset] = {
    "uci-retail": Preset(
        name="uci-retail",
        description=(
            "UCI Online Retail invoice lines: one order per InvoiceNo, amount = sum of Quantity x UnitPrice "
            "over its sales lines; 'C' invoices are cancellations, 'A' invoices (bad-debt adjustments) and "
            "invoices without a sales line are skipped; CustomerID -> customer_id (empty: guest, kept as null), "
            "Country -> region, channel 'online', category 'unknown'. The same file fills order_lines "
            "(StockCode -> sku, the invoice's sales lines, line_amount = Quantity x UnitPrice, lines of one "
            "StockCode in one invoice summed) and products (StockCode -> sku, its most frequent Description "
            "-> name)."
        ),
        columns={
            "order_id": "InvoiceNo", "ordered_at": "InvoiceDate", "customer_id": "CustomerID",
            "region": "Country", "quantity": "Quantity", "unit_price": "UnitPrice",
        },
        # the data has no channel or product categories: constants keep breakdowns honest
        constants={"channel": "online", "category": "unknown"},
        lines=True,
        cancel_prefix="C",
        skip_prefixes=("A",),
        sales_lines_only=True,
        companions=("products", "order_lines"),
        line_columns={"sku": "StockCode", "name": "Description"},
    ),
}
