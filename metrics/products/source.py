"""Which of the optional product tables and columns this warehouse has: a question that needs
one that is missing gets DataNotMapped, naming the table and columns to map."""

from __future__ import annotations

from metrics.data.schema import LOGICAL_TABLES, OPTIONAL_COLUMNS
from metrics.data.warehouse import Warehouse
from metrics.errors import DataNotMapped


def required(table: str) -> tuple[str, ...]:
    return tuple(c for c in LOGICAL_TABLES[table] if c not in OPTIONAL_COLUMNS.get(table, ()))


def columns(w: Warehouse, table: str) -> frozenset[str]:
    """The logical columns of `table` the database has; DataNotMapped when the table is missing or
    lacks a column it cannot do without."""
    gaps = w.schema_gaps()
    if table in gaps and gaps[table] is None:
        raise DataNotMapped("table_not_mapped", table=table, columns=", ".join(required(table)))
    missing = set(gaps.get(table) or ())
    lacking = [c for c in required(table) if c in missing]
    if table == "order_lines" and {"line_amount", "unit_price"} <= missing:
        lacking.append("line_amount (or unit_price)")
    if lacking:
        raise DataNotMapped("columns_not_mapped", table=table, columns=", ".join(lacking))
    return frozenset(c for c in LOGICAL_TABLES[table] if c not in missing)


def has(w: Warehouse, table: str) -> bool:
    """Whether `table` is there and usable (the optional extras: products for names and lead times)."""
    try:
        columns(w, table)
    except DataNotMapped:
        return False
    return True
