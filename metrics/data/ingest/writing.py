"""Writing validated rows inside a file's transaction: upserts by key per engine (SQLite, DuckDB,
PostgreSQL, others), the bulk path into an empty table, and the thread that writes while the next
batch is parsed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Index,
    and_,
    bindparam,
    cast,
    func,
    insert,
    inspect,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Connection

from metrics.data.ingest.options import _Plan
from metrics.data.ingest.tables import KEYS, NULLABLE_KEYS, SUMMED, UNIQUE_INDEX, kind_of
from metrics.data.ingest.target import _Target, _unique_index, conflict_target, index_names
from metrics.data.schema import READ_INDEXES


class _Writer:
    """Writes validated rows of one file inside its transaction."""

    def __init__(self, conn: Connection, target: _Target, provided: Sequence[str], plan: _Plan) -> None:
        self.conn = conn
        self.target = target
        self.plan = plan
        self.dialect = conn.dialect.name
        keys = KEYS[target.logical]
        defaults = self._defaults(provided)
        self.defaults = {c: v for c, v in defaults.items() if c in target.existing}
        # columns a file does not provide keep their stored values on conflict
        self.columns = [c for c in target.table.c.keys() if c in provided or c in self.defaults]
        self.update = [c for c in self.columns if c in provided and c not in keys]
        self.keys = list(keys)
        self.nullable = set(NULLABLE_KEYS.get(target.logical, ()))
        self.fast_empty = False
        self.rows = 0
        self.merged = 0  # DuckDB: rows MERGE inserted or changed
        self.added = 0  # order lines added into a line this file wrote before (not a change of their own)

    def _defaults(self, provided: Sequence[str]) -> dict[str, Any]:
        if self.target.logical != "orders":
            return {}
        out: dict[str, Any] = {}
        if "status" not in provided:
            out["status"] = self.plan.placed
        if "refunded_amount" not in provided:
            out["refunded_amount"] = 0.0
        return out

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(self.target.table)).scalar_one())

    def changes(self) -> int | None:
        """Rows inserted or changed so far (SQLite, DuckDB), to tell updates from no-ops; None elsewhere."""
        if self.dialect in ("duckdb", "postgresql"):
            return self.merged if self.merged >= 0 else None
        if self.dialect != "sqlite":
            return None
        return int(self.conn.connection.driver_connection.total_changes) - self.added  # type: ignore[union-attr]

    def begin_bulk(self, existing_rows: int) -> None:
        """An empty table: nothing to conflict with (keys within the file are deduplicated before).

        DuckDB then INSERTs instead of MERGEing; SQLite inserts without indexes and
        builds them once at the end, in the same transaction.
        """
        if existing_rows:
            return
        if self.dialect == "duckdb":
            self.fast_empty = True
            return
        if self.dialect != "sqlite":
            return
        indexes = index_names(self.conn, inspect(self.conn), self.target.table.name)
        wanted = [UNIQUE_INDEX[self.target.logical]] + [n for n, _ in READ_INDEXES[self.target.logical]]
        if not set(wanted) <= indexes:
            return  # someone else's index layout: keep it and upsert row by row
        for name in wanted:
            self.conn.exec_driver_sql(f"DROP INDEX {self._q(name)}")
        self.fast_empty = True

    def end_bulk(self) -> None:
        if not self.fast_empty or self.dialect == "duckdb":
            return
        t = self.target.table
        _unique_index(t, self.target.logical).create(self.conn)
        for name, cols in READ_INDEXES[self.target.logical]:
            Index(name, *[t.c[c] for c in cols]).create(self.conn)
        self.fast_empty = False

    def _q(self, name: str) -> str:
        return self.conn.dialect.identifier_preparer.quote(name)

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if self.dialect == "duckdb":
            self._write_duckdb(frame)
            self.rows += len(frame)
            return
        data = self._python_columns(frame)
        if self.dialect == "sqlite":
            self._write_sqlite(data)
        else:
            self._write_generic(data)
        self.rows += len(frame)

    def _python_columns(self, frame: pd.DataFrame) -> dict[str, list[Any]]:
        """Each column as a Python list of driver-ready values (None for missing)."""
        out: dict[str, list[Any]] = {}
        sqlite = self.dialect == "sqlite"
        for c in self.columns:
            if c not in frame:
                out[c] = [self.defaults[c]] * len(frame)
                continue
            s = frame[c]
            if c in self.defaults:
                s = s.where(s.notna(), self.defaults[c])
            kind = kind_of(self.target.logical, c)
            if kind == "timestamp":
                out[c] = self._timestamps(s, sqlite)
            elif kind == "date":
                out[c] = _nulls(s.dt.strftime("%Y-%m-%d")) if sqlite else _with_nulls(
                    [v.date() if v is not pd.NaT else None for v in s], s)
            elif kind == "count" or (kind == "id" and c in self.target.int_ids):
                out[c] = _with_nulls(s.fillna(0).astype("int64").tolist(), s)
            elif kind in ("money", "number"):
                out[c] = _with_nulls(s.astype("float64").tolist(), s)
            else:
                out[c] = _nulls(s)
        return out

    def _timestamps(self, s: pd.Series, sqlite: bool) -> list[Any]:
        if sqlite:
            # the text layout metrics.data.dialects.Timestamp compares against; microseconds only when present
            values = s.to_numpy(dtype="datetime64[us]")
            ticks = values.astype("int64")
            fractional = bool(((ticks % 1_000_000) != 0)[~np.isnat(values)].any())
            text_values = np.datetime_as_string(values, unit="us" if fractional else "s")
            # ISO "2026-11-25T14:30:00" -> "2026-11-25 14:30:00": overwrite the "T" in the UCS-4 buffer
            width = text_values.dtype.itemsize // 4
            if width >= 19 and len(text_values):
                text_values.view(np.uint32).reshape(-1, width)[:, 10] = ord(" ")
            return _with_nulls(text_values.tolist(), s)
        values = _with_nulls([v.to_pydatetime() if v is not pd.NaT else None for v in s], s)
        if self.target.aware:
            return [None if v is None else v.replace(tzinfo=self.plan.target_zone) for v in values]
        return values

    def _write_sqlite(self, data: dict[str, list[Any]]) -> None:
        q = self._q
        names = [q(self.target.table.c[c].name) for c in self.columns]
        sql = f"INSERT INTO {q(self.target.table.name)} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        if not self.fast_empty:
            keys = ", ".join(f"coalesce({q(self.target.table.c[k].name)}, '')" if k in self.nullable
                             else q(self.target.table.c[k].name) for k in self.keys)
            if self.update:
                t = self.target.table
                sets = ", ".join(f"{q(t.c[c].name)}=excluded.{q(t.c[c].name)}" for c in self.update)
                # re-importing an unchanged row writes nothing: no row or index pages touched
                changed = " OR ".join(f"{q(t.name)}.{q(t.c[c].name)} IS NOT excluded.{q(t.c[c].name)}"
                                      for c in self.update)
                sql += f" ON CONFLICT ({keys}) DO UPDATE SET {sets} WHERE {changed}"
            else:
                sql += f" ON CONFLICT ({keys}) DO NOTHING"
        rows = list(zip(*(data[c] for c in self.columns), strict=True))
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def _write_duckdb(self, frame: pd.DataFrame) -> None:
        """DuckDB reads the batch as a registered DataFrame (Arrow, no per-row Python) and MERGEs it by key."""
        t, q = self.target.table, self._q
        source = self._duckdb_source(frame)
        value = {c: (f"CAST(s.c{i} AS DATE)" if kind_of(self.target.logical, c) == "date" else f"s.c{i}")
                 for i, c in enumerate(self.columns)}
        name = {c: q(t.c[c].name) for c in self.columns}
        on = " AND ".join(f"t.{name[k]} {'IS NOT DISTINCT FROM' if k in self.nullable else '='} {value[k]}"
                          for k in self.keys)
        sql = f"MERGE INTO {q(t.name)} AS t USING opsbot_ingest AS s ON {on}"
        if self.fast_empty:
            sql = (f"INSERT INTO {q(t.name)} ({', '.join(name[c] for c in self.columns)}) "
                   f"SELECT {', '.join(value[c] for c in self.columns)} FROM opsbot_ingest AS s")
        if self.update and not self.fast_empty:
            changed = " OR ".join(f"t.{name[c]} IS DISTINCT FROM {value[c]}" for c in self.update)
            sets = ", ".join(f"{name[c]} = {value[c]}" for c in self.update)
            sql += f" WHEN MATCHED AND ({changed}) THEN UPDATE SET {sets}"
        if not self.fast_empty:
            sql += (f" WHEN NOT MATCHED THEN INSERT ({', '.join(name[c] for c in self.columns)})"
                    f" VALUES ({', '.join(value[c] for c in self.columns)})")
        result = self._duckdb_run(sql, source)
        self.merged += int(result[0][0]) if result else 0

    def _duckdb_source(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The batch with the writer's columns as c0, c1, ... in the types DuckDB should read."""
        source = pd.DataFrame(index=frame.index)
        for i, c in enumerate(self.columns):
            s = frame[c] if c in frame else pd.Series(self.defaults[c], index=frame.index)
            if c in self.defaults:
                s = s.where(s.notna(), self.defaults[c])
            kind = kind_of(self.target.logical, c)
            if kind == "timestamp":
                s = s.astype("datetime64[us]")
                if self.target.aware:
                    s = s.dt.tz_localize(self.plan.target_zone)
            elif kind == "count" or (kind == "id" and c in self.target.int_ids):
                s = s.astype("Int64")
            elif kind in ("money", "number"):
                s = s.astype("float64")
            elif kind != "date":
                s = s.astype("str")
            source[f"c{i}"] = s  # positional names: no quoting of the user's column names needed
        return source

    def _duckdb_run(self, sql: str, source: pd.DataFrame) -> list[Any]:
        duck = self.conn.connection.driver_connection  # the same connection, so the same transaction
        duck.register("opsbot_ingest", source.reset_index(drop=True))  # type: ignore[union-attr]
        try:
            return list(duck.execute(sql).fetchall())  # type: ignore[union-attr]
        finally:
            duck.unregister("opsbot_ingest")  # type: ignore[union-attr]

    def add(self, frame: pd.DataFrame) -> None:
        """Order lines whose (order_id, sku) this file already wrote, in an earlier batch: their quantity,
        line_amount and cost are added to that line (unit_price becomes line_amount / quantity)."""
        if frame.empty:
            return
        t = self.target.table
        summed = [c for c in SUMMED if c in self.update]
        price = "unit_price" in self.update and {"quantity", "line_amount"} <= set(summed)
        if self.dialect == "duckdb":
            q = self._q
            index = {c: i for i, c in enumerate(self.columns)}

            def plus(c: str) -> str:
                return f"{q(t.c[c].name)} + s.c{index[c]}"

            sets = [f"{q(t.c[c].name)} = {self._round(plus(c)) if c != 'quantity' else plus(c)}" for c in summed]
            if price:
                ratio = f"({plus('line_amount')}) / ({plus('quantity')})"
                sets.append(f"{q(t.c.unit_price.name)} = {self._round(ratio)}")
            on = " AND ".join(f"{q(t.name)}.{q(t.c[k].name)} = s.c{index[k]}" for k in self.keys)
            self._duckdb_run(f"UPDATE {q(t.name)} SET {', '.join(sets)} FROM opsbot_ingest AS s WHERE {on}",
                             self._duckdb_source(frame))
        else:
            data = self._python_columns(frame)
            values: dict[str, Any] = {c: t.c[c] + bindparam(f"add_{c}") for c in summed}
            if price:
                values["unit_price"] = (t.c.line_amount + bindparam("add_line_amount")) / (
                    t.c.quantity + bindparam("add_quantity"))
            if self.dialect == "postgresql":  # round(double, int) does not exist there
                values = {c: v if c == "quantity" else func.round(cast(v, sqltypes.Numeric), 6)
                          for c, v in values.items()}
            else:
                values = {c: v if c == "quantity" else func.round(v, 6) for c, v in values.items()}
            stmt = update(t).where(*[t.c[k] == bindparam(f"key_{k}") for k in self.keys]).values(values)
            names = [f"add_{c}" for c in summed] + [f"key_{k}" for k in self.keys]
            records = [dict(zip(names, row, strict=True)) for row in zip(
                *(data[c] for c in summed), *(data[k] for k in self.keys), strict=True)]
            self.conn.execute(stmt, records)
        self.added += len(frame)

    def _round(self, expr: str) -> str:
        return f"round({expr}, 6)"

    def _write_generic(self, data: dict[str, list[Any]]) -> None:
        table = self.target.table
        records = [dict(zip(self.columns, values, strict=True)) for values in zip(*(data[c] for c in self.columns),
                                                                                strict=True)]
        if self.dialect in ("postgresql", "duckdb"):
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(table)
            index = conflict_target(table, self.target.logical)
            if self.update:
                changed = or_(*[table.c[c].is_distinct_from(stmt.excluded[c]) for c in self.update])
                stmt = stmt.on_conflict_do_update(index_elements=index, where=changed,
                                                  set_={c: stmt.excluded[c] for c in self.update})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=index)
            # a row comes back for each insert or real change, none for a no-op conflict
            # (executemany's rowcount is -1 with psycopg's batched inserts)
            stmt = stmt.returning(literal_column("1"))
            for lo in range(0, len(records), 10_000):
                self.merged += len(self.conn.execute(stmt, records[lo : lo + 10_000]).all())
            return
        # any other dialect: delete the keys, then insert (same transaction, same effect)

        for lo in range(0, len(records), 500):
            chunk = records[lo : lo + 500]
            self.conn.execute(table.delete().where(or_(*[
                and_(*[table.c[k] == r[k] for k in self.keys]) for r in chunk])))
            self.conn.execute(insert(table), chunk)


class _Pipeline:
    """Writes batch k in a worker thread while the caller parses batch k+1.

    The drivers release the GIL while the engine works (DuckDB's MERGE, SQLite's steps),
    so on two cores parsing and writing overlap. One batch in flight at most: memory stays
    bounded, batches are written in file order, and the connection is never used by two
    threads at once (the caller waits before touching it).
    """

    def __init__(self, writer: _Writer) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self.writer = writer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsbot-ingest")
        self._pending: Future[None] | None = None

    def write(self, frame: pd.DataFrame) -> None:
        self.wait()
        self._pending = self._pool.submit(self.writer.write, frame)

    def add(self, frame: pd.DataFrame) -> None:
        """`_Writer.add` in turn with the writes (after the batch that wrote the lines it adds to)."""
        self.wait()
        self._pending = self._pool.submit(self.writer.add, frame)

    def wait(self) -> None:
        """Until the batch in flight is written; its error is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def _nulls(s: pd.Series) -> list[Any]:
    """A text column as a list with None for missing (pandas 3 strings hold NaN)."""
    return _with_nulls(s.tolist(), s)


def _with_nulls(values: list[Any], s: pd.Series) -> list[Any]:
    """`values` with None where `s` is missing; a list of the positions, not a pass over every value."""
    missing = np.flatnonzero(s.isna().to_numpy())
    for i in missing:
        values[i] = None
    return values
