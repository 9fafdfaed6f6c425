"""Invoice lines -> orders (`--lines`): an order's lines summed into one row, with a preset's
cancellations and skipped invoices; and, for a preset that fills them, the same lines as
order_lines (by order and sku) and products (sku and name)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from metrics.data.ingest.options import _Plan


class _LineAggregator:
    """Sums order lines into orders across batches (an order's lines may straddle batches)."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.parts: list[pd.DataFrame] = []
        self.rejected_keys: set[str] = set()

    def add(self, lines: pd.DataFrame) -> None:
        preset = self.plan.preset
        if "amount" in lines:
            value = lines["amount"]
            counted = pd.Series(True, index=lines.index)
        else:
            value = lines["quantity"] * lines["unit_price"]
            counted = pd.Series(True, index=lines.index)
        if preset and preset.sales_lines_only:
            # a sale line sells something at a price; credit notes are counted whole below
            cancel = (lines["order_id"].str.startswith(preset.cancel_prefix) if preset.cancel_prefix
                      else pd.Series(False, index=lines.index))
            counted = cancel | ((lines["quantity"] > 0) & (lines["unit_price"] > 0))
        work = lines.drop(columns=[c for c in ("amount", "quantity", "unit_price", *self.plan.line_extras)
                                   if c in lines])
        work["amount"] = value.where(counted, 0.0)
        work["_counted"] = counted.astype("int64")
        self.parts.append(self._group(work))

    @staticmethod
    def _group(work: pd.DataFrame) -> pd.DataFrame:
        agg: dict[str, Any] = {"amount": "sum", "_counted": "sum", "_line": "min"}
        if "ordered_at" in work:
            agg["ordered_at"] = "min"  # an invoice's lines can be stamped a minute apart
        for col in work.columns:
            agg.setdefault(col, "first")  # first non-null value: customer, region, status ...
        agg.pop("order_id")
        return work.groupby("order_id", sort=False).agg(agg)

    def orders(self) -> tuple[pd.DataFrame, list[tuple[int, str]], int, list[str]]:
        """(orders, order-level rejects as (line, reason), skipped count, notes)."""
        plan, preset = self.plan, self.plan.preset
        notes: list[str] = []
        if not self.parts:
            return pd.DataFrame(columns=["order_id", "_line"]), [], 0, notes
        parts = pd.concat(self.parts)
        orders = self._group(parts.reset_index()).reset_index() if len(self.parts) > 1 else parts.reset_index()
        if self.rejected_keys:
            drop = orders["order_id"].isin(self.rejected_keys)
            notes.append(f"{int(drop.sum()):,} order(s) left out because one of their lines was rejected")
            orders = orders.loc[~drop]
        skipped = 0
        if preset is not None:
            ids = orders["order_id"].astype("str")
            skip = pd.Series(False, index=orders.index)
            for prefix in preset.skip_prefixes:
                hit = ids.str.startswith(prefix)
                if hit.any():
                    notes.append(f"{int(hit.sum()):,} invoice(s) starting with {prefix!r} skipped "
                                 "(adjustments, not orders)")
                skip |= hit
            cancel = ids.str.startswith(preset.cancel_prefix) if preset.cancel_prefix else skip & False
            if preset.sales_lines_only:
                empty = ~skip & ~cancel & (orders["_counted"] == 0)
                if empty.any():
                    notes.append(f"{int(empty.sum()):,} invoice(s) without a sales line skipped "
                                 "(zero prices, stock adjustments)")
                skip |= empty
            skipped = int(skip.sum())
            orders = orders.loc[~skip].copy()
            cancel = cancel.loc[orders.index]
            # a credit note's lines are negative; its amount is the value it cancels
            orders.loc[cancel, "amount"] = -orders.loc[cancel, "amount"]
            if preset.cancel_prefix:
                status = orders["status"] if "status" in orders else pd.Series(np.nan, index=orders.index, dtype="str")
                orders["status"] = status.where(~cancel, plan.cancelled).fillna(plan.placed)
        # sums of quantity x price carry float noise (22.200000000000003); no currency has 6 decimals
        orders["amount"] = orders["amount"].round(6)
        rejects: list[tuple[int, str]] = []
        negative = orders["amount"] < 0
        if negative.any():
            for _, row in orders.loc[negative].iterrows():
                rejects.append((int(row["_line"]), f"order {row['order_id']}: its lines sum to a negative amount "
                                                   f"({row['amount']:,.2f})"))
            orders = orders.loc[~negative]
        return orders.drop(columns=["_counted"]).reset_index(drop=True), rejects, skipped, notes


class _PresetLines:
    """A preset's invoice lines kept as order lines: the lines its orders count, by (order_id, sku).

    The rule is the orders' rule, so that an order's lines sum to its amount: a line is kept
    when it counts towards a kept order's amount, i.e. a *sales line* (quantity > 0 and unit
    price > 0) of an invoice that is neither a cancellation (its lines undo a sale: they are not
    sold lines) nor skipped (adjustments). Every other line is skipped and counted by why.
    """

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.parts: list[pd.DataFrame] = []
        self.cancelled = 0  # lines of cancellation invoices
        self.adjustments = 0  # lines of skipped invoices (bad-debt adjustments)
        self.not_sales = 0  # zero or negative price or quantity in an invoice that is an order

    def add(self, lines: pd.DataFrame) -> None:
        preset = self.plan.preset
        assert preset is not None
        ids = lines["order_id"].astype("str")
        cancel = ids.str.startswith(preset.cancel_prefix) if preset.cancel_prefix else pd.Series(False, index=ids.index)
        skip = pd.Series(False, index=ids.index)
        for prefix in preset.skip_prefixes:
            skip |= ids.str.startswith(prefix)
        sales = (lines["quantity"] > 0) & (lines["unit_price"] > 0)
        self.cancelled += int((cancel & ~skip).sum())
        self.adjustments += int(skip.sum())
        self.not_sales += int((~cancel & ~skip & ~sales).sum())
        kept = lines.loc[~cancel & ~skip & sales]
        part = pd.DataFrame({
            "order_id": kept["order_id"], "sku": kept["sku"], "quantity": kept["quantity"],
            "line_amount": (kept["quantity"] * kept["unit_price"]).round(6),
            "name": kept["name"] if "name" in kept else pd.Series(np.nan, index=kept.index, dtype="str"),
            "_line": kept["_line"],
        })
        self.parts.append(part)

    def result(self, orders: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int, list[str]]:
        """(order lines of the kept orders, products, lines summed into another, notes)."""
        if not self.parts:
            empty = pd.DataFrame(columns=["order_id", "sku", "quantity", "line_amount", "unit_price", "_line"])
            return empty, pd.DataFrame(columns=["sku", "name", "_line"]), 0, []
        lines = pd.concat(self.parts, ignore_index=True)
        kept = lines["order_id"].isin(orders["order_id"])
        left_out = int((~kept).sum())
        lines = lines.loc[kept]
        grouped = lines.groupby(["order_id", "sku"], sort=False).agg(
            quantity=("quantity", "sum"), line_amount=("line_amount", "sum"), _line=("_line", "min"))
        grouped = grouped.reset_index()
        grouped["line_amount"] = grouped["line_amount"].round(6)
        grouped["unit_price"] = (grouped["line_amount"] / grouped["quantity"]).round(6)
        summed = len(lines) - len(grouped)
        # a product's name: its most frequent description among the kept lines; a tie goes to the first seen
        names = lines.dropna(subset=["name"]).groupby(["sku", "name"], sort=False).agg(
            n=("_line", "size"), first=("_line", "min")).reset_index()
        names = names.sort_values(["sku", "n", "first"], ascending=[True, False, True]).drop_duplicates("sku")
        products = lines.groupby("sku", sort=False).agg(_line=("_line", "min")).reset_index()
        products = products.merge(names[["sku", "name"]], on="sku", how="left")
        notes = [f"order_lines: {len(lines):,} sales line(s) of the imported orders as {len(grouped):,} line(s)"
                 + (f" ({summed:,} repeating a StockCode of their invoice, summed into it)" if summed else "")]
        skipped = []
        if self.cancelled:
            skipped.append(f"{self.cancelled:,} of cancellation invoices (they cancel sales; not order lines)")
        if self.adjustments:
            skipped.append(f"{self.adjustments:,} of adjustment invoices")
        if self.not_sales:
            skipped.append(f"{self.not_sales:,} with a zero or negative quantity or price (not sales lines)")
        if left_out:
            skipped.append(f"{left_out:,} of invoices not imported as orders")
        if skipped:
            notes.append("order_lines: lines skipped: " + "; ".join(skipped))
        notes.append(f"products: {len(products):,} StockCode(s) with their most frequent description as name")
        return grouped, products, summed, notes
