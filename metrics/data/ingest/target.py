"""The table a file goes into: the warehouse engine ingest writes with, the table created or
reflected with its columns, and the unique index the upserts need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    inspect,
    literal_column,
    text,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from metrics.data.dialects import Timestamp
from metrics.data.ingest.report import IngestSetupError
from metrics.data.ingest.tables import KEYS, NULLABLE_KEYS, ORDER_CHILDREN, UNIQUE_INDEX, Kind, kind_of
from metrics.data.schema import READ_INDEXES, Mapping

# types of tables ingest creates. Ids are text: real ids have prefixes and leading zeros
# ("SO-0012", "C536379") that an integer column would reject or silently change.
# Money is a double: SQLAlchemy's Float is DuckDB's 4-byte FLOAT, which turns 139.12 into 139.1199951.
_CREATE_TYPES: dict[Kind, Any] = {
    "id": String, "text": String, "timestamp": Timestamp, "date": Date, "money": Double,
    "count": Integer, "number": Double,
}


@dataclass
class _Target:
    logical: str
    table: Table  # columns keyed by logical name
    existing: set[str]  # logical columns the physical table has
    int_ids: set[str]  # id columns that are integers in the existing table
    aware: bool  # the timestamp column stores time zones (PostgreSQL timestamptz)
    created: bool


def _engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # We issue BEGIN ourselves: pysqlite would otherwise commit DDL (the index
            # rebuild) on its own and a failed file could not be rolled back whole.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")  # a running bot may be reading
            cur.execute("PRAGMA journal_mode=WAL")  # readers keep reading while a file loads
            cur.execute("PRAGMA cache_size=-262144")  # 256 MB: index pages stay in memory
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now, not halfway through a file

    return engine


def _columns_for(mapping: Mapping, logical: str) -> dict[str, str]:
    """logical -> physical for the table, extra dimensions of orders included."""
    tmap = mapping.tables[logical]
    cols = dict(tmap.columns)
    if logical == "orders":
        for dim, physical in mapping.extra_dimensions.items():
            cols.setdefault(dim, physical)
    return cols


def _prepare_target(engine: Engine, mapping: Mapping, logical: str) -> _Target:
    tmap = mapping.tables[logical]
    if tmap.query is not None:
        raise IngestSetupError(
            f"{logical} is mapped to a SQL query in the config; ingest writes tables. "
            f"Map it to a table ([warehouse.tables.{logical}] table = ...) to import files."
        )
    physical = _columns_for(mapping, logical)
    duck = engine.dialect.name == "duckdb"
    try:
        insp = inspect(engine)
        exists = insp.has_table(tmap.table)
    except SQLAlchemyError as exc:
        raise IngestSetupError(_open_error(engine, exc)) from exc
    metadata = MetaData()
    if not exists:
        # an order's lines, shipment and returns join their order: their order_id takes its type
        int_order = logical in ORDER_CHILDREN and _orders_id_is_integer(engine, insp, mapping)
        table = Table(tmap.table, metadata, *[
            Column(phys, BigInteger if c == "order_id" and int_order else _CREATE_TYPES[kind_of(logical, c)], key=c)
            for c, phys in physical.items()
        ])
        with engine.begin() as conn:
            table.create(conn)
            # DuckDB upserts with MERGE (a hash join) and prunes scans with zone maps: no indexes
            if not duck:
                _unique_index(table, logical).create(conn)
                for name, cols in READ_INDEXES[logical]:
                    Index(name, *[table.c[c] for c in cols]).create(conn)
        return _Target(logical, table, set(physical), {"order_id"} if int_order else set(), False, True)
    found = _existing_columns(engine, insp, tmap.table)
    found_lower = {k.lower(): k for k in found}
    cols: list[Column[Any]] = []
    existing: set[str] = set()
    int_ids: set[str] = set()
    aware = False
    for c, phys in physical.items():
        name = phys if phys in found else found_lower.get(phys.lower())
        if name is None:
            continue
        existing.add(c)
        db_type = found[name]
        kind = kind_of(logical, c)
        if kind == "id" and isinstance(db_type, sqltypes.Integer):
            int_ids.add(c)
        if kind == "timestamp" and isinstance(db_type, sqltypes.DateTime) and db_type.timezone:
            aware = True
        cols.append(Column(name, _CREATE_TYPES[kind], key=c))
    table = Table(tmap.table, metadata, *cols)
    missing_keys = [k for k in KEYS[logical] if k not in existing]
    if missing_keys:
        raise IngestSetupError(
            f"table {tmap.table!r} has no column for {', '.join(missing_keys)} "
            f"(mapped to {', '.join(physical[k] for k in missing_keys)}); check [warehouse.tables.{logical}]"
        )
    if not duck:
        _ensure_unique(engine, insp, table, logical)
    return _Target(logical, table, existing, int_ids, aware, False)


def _orders_id_is_integer(engine: Engine, insp: Any, mapping: Mapping) -> bool:
    """Whether the orders table exists with an integer order_id (then a new child table's is one too)."""
    orders = mapping.tables["orders"]
    if orders.query is not None or not insp.has_table(orders.table):
        return False
    found = _existing_columns(engine, insp, orders.table)
    physical = orders.columns.get("order_id", "order_id")
    name = physical if physical in found else {k.lower(): k for k in found}.get(physical.lower())
    return name is not None and isinstance(found[name], sqltypes.Integer)


def _existing_columns(bind: Engine | Connection, insp: Any, name: str) -> dict[str, Any]:
    """column name -> SQLAlchemy type of an existing table (DuckDB cannot reflect: its catalogue instead)."""
    if bind.dialect.name != "duckdb":
        return {c["name"]: c["type"] for c in insp.get_columns(name)}
    query = text("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t "
                 "ORDER BY ordinal_position")
    if isinstance(bind, Connection):
        rows = bind.execute(query, {"t": name}).all()
    else:
        with bind.connect() as conn:
            rows = conn.execute(query, {"t": name}).all()
    out: dict[str, Any] = {}
    for column, data_type in rows:
        kind = str(data_type).upper()
        if kind in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                    "UBIGINT"):
            out[column] = Integer()
        elif kind in ("DOUBLE", "FLOAT", "REAL") or kind.startswith("DECIMAL"):
            out[column] = sqltypes.Float()
        elif kind.startswith("TIMESTAMP"):
            out[column] = sqltypes.DateTime(timezone="TIME ZONE" in kind or kind == "TIMESTAMPTZ")
        else:
            out[column] = sqltypes.NullType()
    return out


def _open_error(engine: Engine, exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", exc) or exc)
    if engine.dialect.name == "duckdb" and "lock" in text_.lower():
        # DuckDB: one read-write process, or many readers, never both
        return ("the warehouse file is open in another process (a running `opsbot run`?): DuckDB lets one "
                "process write a file only while no other process has it open. Stop it, import, and start it again.")
    return f"cannot open the warehouse: {exc.__class__.__name__}: {text_.splitlines()[0] if text_ else ''}"


def _unique_index(table: Table, logical: str) -> Index:
    return Index(UNIQUE_INDEX[logical], *conflict_target(table, logical), unique=True)


def conflict_target(table: Table, logical: str) -> list[Any]:
    """The key as the unique index holds it: nullable parts as coalesce(column, ''), so that two rows
    without a warehouse (or a sku) are the same key, as they are for DuckDB's IS NOT DISTINCT FROM."""
    nullable = NULLABLE_KEYS.get(logical, ())
    return [func.coalesce(table.c[k], literal_column("''")) if k in nullable else table.c[k] for k in KEYS[logical]]


def index_names(bind: Engine | Connection, insp: Any, table: str) -> set[str]:
    """The names of a table's indexes, expression indexes included (SQLite's reflection skips those)."""
    if bind.dialect.name == "sqlite":
        query = text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t")
        if isinstance(bind, Connection):
            return {r[0] for r in bind.execute(query, {"t": table})}
        with bind.connect() as conn:
            return {r[0] for r in conn.execute(query, {"t": table})}
    return {i["name"] for i in insp.get_indexes(table)}


def _ensure_unique(engine: Engine, insp: Any, table: Table, logical: str) -> None:
    """ON CONFLICT needs a unique index on exactly the key columns; add one if the table has none."""
    key_names = [table.c[k].name for k in KEYS[logical]]
    want = set(key_names)
    if logical in NULLABLE_KEYS:
        # an expression index: known by its name (reflection does not compare expressions)
        if UNIQUE_INDEX[logical] in index_names(engine, insp, table.name):
            return
        want = {"-"}  # never among the plain column sets below
    candidates = [set(insp.get_pk_constraint(table.name).get("constrained_columns") or [])]
    candidates += [set(u["column_names"]) for u in insp.get_unique_constraints(table.name)]
    candidates += [set(i["column_names"]) for i in insp.get_indexes(table.name) if i.get("unique")]
    if want in candidates:
        return
    try:
        with engine.begin() as conn:
            _unique_index(table, logical).create(conn)
    except SQLAlchemyError as exc:
        raise IngestSetupError(
            f"cannot add the unique index {UNIQUE_INDEX[logical]} on {table.name}({', '.join(key_names)}) "
            f"that upserts need: the table already has duplicate keys ({exc.__class__.__name__}). "
            f"Run `opsbot check` to see them."
        ) from exc
