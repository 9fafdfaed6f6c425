"""What a loaded file's rows say about the other tables, reported as warnings (the rows stay in):
order lines, shipments and returns whose order is not in orders, order lines that do not sum to
their order's amount, SKUs that are not in products.

Run after the file's transaction has committed, on a connection of their own: a check that cannot
run (an orders table of another shape, a config query that fails) costs a warning, never the file.
Only the orders and SKUs the file touched are looked at (uploaded to a temporary table, or
registered with DuckDB), so what was wrong before the import is `opsbot check`'s to say.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    exists,
    func,
    insert,
    inspect,
    literal,
    select,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from metrics.data.check import LINE_SUM_TOLERANCE, line_sum_tolerance, line_value, same_key
from metrics.data.ingest.tables import ORDER_CHILDREN, SKU_TABLES
from metrics.data.ingest.target import _existing_columns, _Target
from metrics.data.schema import Mapping
from metrics.data.warehouse import build_tables

_EXAMPLES = 5


class _Touched:
    """The order ids and SKUs (with their row counts) of the rows a file wrote, when there is
    something to check them against (see `watched`)."""

    def __init__(self, logical: str, watch: tuple[bool, bool] = (True, True)) -> None:
        self.logical = logical
        self.watch_orders = (logical in ORDER_CHILDREN or logical == "orders") and watch[0]
        self.watch_skus = logical in SKU_TABLES and watch[1]
        self._orders: list[pd.Series] = []
        self._skus: list[pd.Series] = []

    def observe(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if self.watch_orders and "order_id" in frame:
            self._orders.append(_runs(frame["order_id"]))
        if self.watch_skus and "sku" in frame:
            self._skus.append(_counts(frame["sku"]))

    def order_ids(self) -> pd.Series:
        return pd.concat(self._orders, ignore_index=True).drop_duplicates() if self._orders else pd.Series([])

    def sku_counts(self) -> pd.Series:
        return pd.concat(self._skus).groupby(level=0).sum() if self._skus else pd.Series([], dtype="int64")


def watched(engine: Engine, mapping: Mapping, logical: str, lines_too: bool) -> tuple[bool, bool]:
    """Whether the file's (order ids, SKUs) can be checked: against orders (an orders file: against order
    lines, which the file writes itself when `lines_too`), and against products with rows. Asked before
    the file is read, so that an orders file of a shop without lines keeps no ids at all."""

    def rows(name: str) -> bool:
        tmap = mapping.tables[name]
        if tmap.query is not None:
            return True
        with engine.connect() as conn:
            if not inspect(conn).has_table(tmap.table):
                return False
            return conn.execute(select(literal(1)).select_from(build_tables(mapping)[name]).limit(1)).first() \
                is not None

    try:
        if logical == "orders":
            orders = lines_too or rows("order_lines")
        else:
            orders = logical in ORDER_CHILDREN and rows("orders")
        return orders, logical in SKU_TABLES and rows("products")
    except SQLAlchemyError:
        return True, True  # cross_check says what it cannot do


def _counts(values: pd.Series) -> pd.Series:
    """value -> rows, missing values left out (pyarrow's value_counts: a tenth of pandas' on arrow strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values, from_pandas=True)
    counted = pc.value_counts(arr.drop_null() if isinstance(arr, pa.Array) else arr.combine_chunks().drop_null())
    return pd.Series(counted.field("counts").to_numpy(zero_copy_only=False).astype("int64"),
                     index=pd.Index(counted.field("values").to_pandas()))


def _runs(ids: pd.Series) -> pd.Series:
    """The ids without the repeats of the previous row (an order's lines are adjacent in most files):
    a fraction of the cost of unique(); order_ids() removes what is left."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.array(ids, from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.drop_null()
    if len(values) < 2:
        return pd.Series(values.to_pandas())
    changed = pc.fill_null(pc.not_equal(values[1:], values[:-1]), True)
    kept = pa.concat_arrays([values[:1], pc.filter(values[1:], changed)])
    return pd.Series(kept.to_pandas())


def cross_check(engine: Engine, mapping: Mapping, target: _Target, touched: _Touched) -> list[str]:
    """Warnings about the rows the file wrote into `target` (see the module's docstring)."""
    orders_ids, skus = touched.order_ids(), touched.sku_counts()
    if not len(orders_ids) and not len(skus):
        return []
    try:
        with engine.connect() as conn:
            try:
                return _checks(conn, mapping, target, orders_ids, skus)
            finally:
                conn.rollback()  # the temporary tables go with it
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
        return [f"the rows are loaded, but checking them against the other tables failed "
                f"({exc.__class__.__name__}: {first[0] if first else ''}); run opsbot check"]


def _checks(conn: Connection, mapping: Mapping, target: _Target, order_ids: pd.Series,
            skus: pd.Series) -> list[str]:
    logical, dialect = target.logical, conn.dialect.name
    declared = build_tables(mapping)
    shapes = {name: _shape(conn, mapping, name) for name in ("orders", "products", "order_lines")}
    warnings: list[str] = []
    uploaded: list[str] = []
    try:
        orders_shape = shapes["orders"]
        if len(order_ids) and orders_shape is not None:
            orders_found, orders_int = orders_shape
            own_int = "order_id" in target.int_ids
            keys = _upload(conn, "opsbot_check_orders", order_ids, own_int, uploaded)
            orders = declared["orders"]
            if logical in ORDER_CHILDREN and "order_id" in orders_found:
                warnings += _orphans(conn, target, keys, orders, same_key(
                    orders.c.order_id, _kind("order_id" in orders_int), keys.c.k, _kind(own_int), dialect))
            lines_shape = shapes["order_lines"]
            if {"order_id", "amount"} <= orders_found and lines_shape is not None and (
                    logical in ("orders", "order_lines")):
                lines_found, lines_int = lines_shape
                lines = target.table if logical == "order_lines" else declared["order_lines"]
                value = line_value(lines, lines_found)
                if value is not None and "order_id" in lines_found:
                    lines_key_int = "order_id" in lines_int
                    warnings += _line_sums(conn, lines, value, keys, orders, same_key(
                        lines.c.order_id, _kind(lines_key_int), keys.c.k, _kind(own_int), dialect),
                        "order_id" in orders_int, lines_key_int, dialect)
        products_shape = shapes["products"]
        if len(skus) and products_shape is not None and "sku" in products_shape[0]:
            products = declared["products"]
            if int(conn.execute(select(func.count()).select_from(products)).scalar_one()):
                own_int = "sku" in target.int_ids
                keys = _upload(conn, "opsbot_check_skus", pd.Series(skus.index), own_int, uploaded)
                match = same_key(products.c.sku, _kind("sku" in products_shape[1]), keys.c.k, _kind(own_int), dialect)
                unknown = {r[0] for r in conn.execute(
                    select(keys.c.k).where(~exists().where(match))).all()}
                if unknown:
                    counts = skus.loc[[k for k in skus.index if k in unknown]].sort_values(
                        ascending=False, kind="stable")
                    shown = ", ".join(f"{k!r} ({n:,})" for k, n in counts.head(_EXAMPLES).items())
                    what = "order line(s)" if logical == "order_lines" else "row(s)"
                    warnings.append(f"{int(counts.sum()):,} {what} with {len(counts):,} SKU(s) not in products "
                                    f"(loaded; add them to products), e.g. {shown}")
    finally:
        if dialect == "duckdb":
            duck = conn.connection.driver_connection
            for name in uploaded:
                duck.unregister(name)  # type: ignore[union-attr]
    return warnings


def _orphans(conn: Connection, target: _Target, keys: Table, orders: Any, match: Any) -> list[str]:
    missing = select(keys.c.k).where(~exists().where(match))
    # the count and the first examples in one pass
    first = conn.execute(select(keys.c.k, func.count().over().label("n")).where(~exists().where(match)).order_by(
        keys.c.k).limit(_EXAMPLES)).all()
    if not first:
        return []
    n, examples = int(first[0][1]), [str(r[0]) for r in first]
    child = target.table
    rows = int(conn.execute(select(func.count()).select_from(child).where(
        child.c.order_id.in_(missing))).scalar_one())
    what = {"order_lines": "order line(s)", "shipments": "shipment(s)", "returns": "return(s)"}[target.logical]
    return [f"{rows:,} {what} of {n:,} order(s) that are not in orders (loaded; import those orders too), "
            f"e.g. {', '.join(examples)}"]


def _line_sums(conn: Connection, lines: Any, value: Any, keys: Table, orders: Any, touched: Any,
               orders_int: bool, lines_int: bool, dialect: str) -> list[str]:
    sums = select(lines.c.order_id.label("oid"), func.sum(value).label("total")).where(
        exists().where(touched)).group_by(lines.c.order_id).subquery()
    join = same_key(orders.c.order_id, _kind(orders_int), sums.c.oid, _kind(lines_int), dialect)
    off = select(orders.c.order_id, orders.c.amount, sums.c.total, func.count().over().label("n")).select_from(
        sums.join(orders, join)).where(func.abs(sums.c.total - orders.c.amount) > line_sum_tolerance(orders.c.amount))
    rows = conn.execute(off.order_by(orders.c.order_id).limit(_EXAMPLES)).all()  # count and examples in one pass
    if not rows:
        return []
    n = int(rows[0][3])
    shown = ", ".join(f"{oid}: lines {total:,.2f}, amount {amount:,.2f}" for oid, amount, total, _n in rows)
    return [f"{n:,} order(s) whose lines do not sum to their amount ({LINE_SUM_TOLERANCE}; loaded), e.g. {shown}"]


def _kind(integer: bool) -> str:
    return "number" if integer else "text"


def _shape(conn: Connection, mapping: Mapping, logical: str) -> tuple[set[str], set[str]] | None:
    """(logical columns present, those stored as numbers) of a mapped table; None if it does not exist."""
    tmap = mapping.tables[logical]
    if tmap.query is not None:
        return set(tmap.columns), set()  # a config query: what it returns is known only by running it
    insp = inspect(conn)
    if not insp.has_table(tmap.table):
        return None
    found = _existing_columns(conn, insp, tmap.table)
    lower = {k.lower(): k for k in found}
    present: set[str] = set()
    integers: set[str] = set()
    for c, physical in tmap.columns.items():
        name = physical if physical in found else lower.get(physical.lower())
        if name is None:
            continue
        present.add(c)
        if isinstance(found[name], sqltypes.Integer | sqltypes.Numeric):  # Float is a Numeric
            integers.add(c)
    return present, integers


def _upload(conn: Connection, name: str, values: pd.Series, integer: bool, uploaded: list[str]) -> Table:
    """The values as a one-column temporary table `name` (k) of this connection."""
    table = Table(name, MetaData(), Column("k", BigInteger if integer else String), prefixes=["TEMPORARY"])
    values = values.astype("int64") if integer else values.astype("str")
    if conn.dialect.name == "duckdb":
        conn.connection.driver_connection.register(name, pd.DataFrame({"k": values}))  # type: ignore[union-attr]
        uploaded.append(name)
        return table
    table.create(conn)
    rows = [(v,) for v in values.tolist()]
    if conn.dialect.name == "sqlite":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(f'INSERT INTO "{name}" (k) VALUES (?)', rows)
        finally:
            cursor.close()
    else:
        conn.execute(insert(table), [{"k": v} for (v,) in rows])
    return table
