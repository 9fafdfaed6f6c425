"""Writing a shop into a warehouse database: the demo shop and (later) imports."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Column, Engine, Index, MetaData, String, Table, insert, select

from metrics.data.dialects import SQLITE_TIMESTAMP
from metrics.data.sample import Shop, ShopSpec
from metrics.data.schema import PRODUCT_TABLES, READ_INDEXES, Mapping
from metrics.data.warehouse import build_tables

META_TABLE = "opsbot_meta"
PRODUCT_LABELS = "product_labels"  # the planted stock and fulfilment events (sample_products), as text
_CHUNK = 100_000


def _meta(metadata: MetaData) -> Table:
    return Table(META_TABLE, metadata, Column("key", String, primary_key=True), Column("value", String))


def _column(series: pd.Series, engine: Engine) -> list[Any]:
    """A column as Python values for a driver: days as dates, timestamps as datetimes (SQLite: text),
    missing values (a parcel not delivered yet) as None."""
    if pd.api.types.is_datetime64_any_dtype(series):
        if series.name == "day":
            # few distinct days: each converted once (SQLite: as the text SQLAlchemy's Date stores)
            codes, days = pd.factorize(series)
            distinct = days.strftime("%Y-%m-%d") if engine.dialect.name == "sqlite" else days.date
            values = np.asarray(distinct, dtype=object)[codes].tolist()
        elif engine.dialect.name == "sqlite":
            # text in the one format metrics.data.dialects.Timestamp compares against
            values = series.dt.strftime(SQLITE_TIMESTAMP).tolist()
        else:
            values = list(series.dt.to_pydatetime())
    else:
        values = series.tolist()
    if series.hasnans:
        missing = series.isna().to_numpy()
        values = [None if m else v for v, m in zip(values, missing, strict=True)]
    return values


def _rows(frame: pd.DataFrame, engine: Engine) -> list[tuple[Any, ...]]:
    return list(zip(*(_column(frame[c], engine) for c in frame.columns), strict=True))


def _records(frame: pd.DataFrame, table: Table, engine: Engine) -> list[dict[str, Any]]:
    keys = list(frame.columns)
    return [dict(zip(keys, row, strict=True)) for row in _rows(frame, engine)]


def _fast_sqlite_insert(engine: Engine, table: Table, frame: pd.DataFrame) -> None:
    cols = [table.c[c].name for c in frame.columns]
    sql = f'INSERT INTO "{table.name}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})'
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for lo in range(0, len(frame), _CHUNK):
            cur.executemany(sql, _rows(frame.iloc[lo : lo + _CHUNK], engine))
        raw.commit()
    finally:
        raw.close()


def _duckdb_insert(engine: Engine, table: Table, frame: pd.DataFrame) -> None:
    """DuckDB reads a registered DataFrame directly: no per-row Python at all."""
    frame = frame.rename(columns={c: table.c[c].name for c in frame.columns})
    raw = engine.raw_connection()
    try:
        duck = raw.driver_connection
        duck.register("opsbot_frame", frame)
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        duck.execute(f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM opsbot_frame')
        duck.unregister("opsbot_frame")
        raw.commit()
    finally:
        raw.close()


def _pg_copy_insert(engine: Engine, table: Table, frame: pd.DataFrame) -> None:
    """PostgreSQL through psycopg: COPY, several times quicker than batched INSERTs."""
    cols = ", ".join(f'"{table.c[c].name}"' for c in frame.columns)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:  # type: ignore[attr-defined]
            for lo in range(0, len(frame), _CHUNK):
                for row in _rows(frame.iloc[lo : lo + _CHUNK], engine):
                    copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def write_shop(engine: Engine, shop: Shop, spec: ShopSpec, mapping: Mapping | None = None) -> None:
    """Replace the warehouse's tables with the shop's rows (demo and tests only)."""
    mapping = mapping or Mapping.default()
    metadata = MetaData()
    tables = build_tables(mapping, metadata)
    labels = Table("anomaly_labels", metadata, *(Column(c, String) for c in shop.labels.columns))
    product_labels = Table(PRODUCT_LABELS, metadata, *(Column(c, String) for c in shop.product_labels.columns))
    promotions = Table("promotions", metadata, *(Column(c, String) for c in shop.promotions.columns))
    meta = _meta(metadata)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    frames = {"orders": shop.orders, "traffic": shop.traffic, "marketing_spend": shop.marketing_spend}
    frames |= {name: getattr(shop, name) for name in PRODUCT_TABLES}  # empty for a shop built by hand
    for logical, frame in frames.items():
        if logical not in tables or not len(frame):
            continue
        table = tables[logical]
        frame = frame[[c for c in table.c.keys() if c in frame.columns]]
        if engine.dialect.name == "sqlite":
            _fast_sqlite_insert(engine, table, frame)
        elif engine.dialect.name == "duckdb":
            _duckdb_insert(engine, table, frame)
        elif engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            _pg_copy_insert(engine, table, frame)
        else:
            with engine.begin() as conn:
                for lo in range(0, len(frame), _CHUNK):
                    conn.execute(insert(table), _records(frame.iloc[lo : lo + _CHUNK], table, engine))
    # indexes after the rows: building them once is far cheaper than maintaining them per insert;
    # DuckDB prunes with its own zone maps and only slows down with explicit indexes
    if engine.dialect.name != "duckdb":
        for logical, indexes in READ_INDEXES.items():
            for name, cols in indexes:
                Index(name, *[tables[logical].c[c] for c in cols]).create(engine)
    with engine.begin() as conn:
        for table, frame in ((labels, shop.labels), (promotions, shop.promotions)):
            if len(frame):
                conn.execute(insert(table), frame.astype(object).where(frame.notna(), None).astype(str).to_dict("records"))
        if len(shop.product_labels):
            conn.execute(insert(product_labels), [
                {k: None if pd.isna(v) else str(v) for k, v in row.items()}
                for row in shop.product_labels.to_dict("records")
            ])
        conn.execute(insert(meta), [
            {"key": "demo_end", "value": spec.end.isoformat()},
            {"key": "demo_spec", "value": json.dumps(
                {"days": spec.days, "orders": spec.orders, "seed": spec.seed, "skus": spec.skus})},
        ])


def demo_end(engine: Engine) -> date | None:
    """The `end` the demo warehouse was built for, or None if it is not a demo warehouse."""
    meta = _meta(MetaData())
    try:
        with engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == "demo_end")).scalar()
    except Exception:  # no such table: not built yet
        return None
    return date.fromisoformat(value) if value else None
