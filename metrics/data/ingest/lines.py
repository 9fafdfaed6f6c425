"""Invoice lines -> orders (`--lines`): an order's lines summed into one row, with a preset's
cancellations and skipped invoices."""

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
        work = lines.drop(columns=[c for c in ("amount", "quantity", "unit_price") if c in lines])
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
