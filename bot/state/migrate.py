"""Schema migrations of the state database (Alembic, configured here in code: no alembic.ini).

Every `Store` checks the schema before it touches a row:

- an empty database is built by the migrations, from the baseline on;
- a database made before migrations existed (by `create_all`, no version table) is recognised:
  the baseline, which is exactly that schema, adds only what is missing and stamps it;
- a database behind the code is upgraded under a lock, so when several instances start at once
  one migrates and the others wait, then find it current (PostgreSQL: an advisory lock;
  SQLite: a lock file beside the database, as only processes on one host can share the file);
  with `migrate=False` (`[state] auto_migrate = false`) it is refused, naming `opsbot migrate`;
- a database *ahead* of the code (a newer opsbot upgraded it, then this one was rolled back) is
  refused before anything is written to it.

APScheduler keeps its own table (`apscheduler_jobs`) in the same database: the migrations
neither create nor compare it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from bot.errors import ConfigError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# not Alembic's default name: the state may share a PostgreSQL database with an application
# that has its own `alembic_version`, whose revision would read as one from the future
VERSION_TABLE = "opsbot_alembic_version"
BASELINE = "0001_baseline"
# tables in the state database that are not ours to migrate
FOREIGN_TABLES = frozenset({"apscheduler_jobs"})
# pg_advisory_lock key: any constant bigint, the same in every instance ("opsbot" in ASCII)
LOCK_KEY = 0x6F7073626F74


class StateSchemaError(ConfigError):
    """The state database's schema is not one this opsbot can run on (shown to the operator as is)."""


class StateBehind(StateSchemaError):
    pass


class StateAhead(StateSchemaError):
    pass


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # the revision recorded in the database; None: no version table
    head: str  # the revision this code needs
    known: bool  # `current` is one of this code's revisions (or None)
    legacy: bool  # no version table but our tables: made by create_all before migrations

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def ahead(self) -> bool:
        return not self.known


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Leave APScheduler's table (and its index) out of the migrations and the autogenerate diff."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table not in FOREIGN_TABLES


def alembic_config(url: str | None = None, connection: Connection | None = None,
                   output: io.StringIO | None = None) -> Config:
    """Alembic's configuration pointing at the scripts shipped in the package."""
    cfg = Config(output_buffer=output)
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolates %
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    heads = _scripts().get_heads()
    if len(heads) != 1:  # two revisions with the same parent: a merge revision is missing
        raise RuntimeError(f"the state migrations have {len(heads)} heads ({', '.join(heads)}); merge them")
    return heads[0]


def inspect_state(conn: Connection) -> SchemaState:
    """Where the database stands, read without writing anything."""
    current = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    known = current is None or _known(current)
    legacy = current is None and bool(_our_tables(conn))
    return SchemaState(current=current, head=head(), known=known, legacy=legacy)


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:  # alembic raises for a revision it has no script for
        return False


def _our_tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - FOREIGN_TABLES - {VERSION_TABLE}


def describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def ensure_current(engine: Engine, *, migrate: bool = True) -> SchemaState:
    """Make sure the schema is this code's: upgrade it (under the lock) or refuse; returns the state found."""
    with engine.connect() as conn:
        state = inspect_state(conn)
    _refuse_ahead(engine, state)
    if state.up_to_date:
        return state
    if not migrate:
        raise StateBehind(
            f"the state database {describe(engine)} is {_at(state)}; this opsbot needs revision {state.head}. "
            "Back it up and run `opsbot migrate` (or `opsbot migrate --sql` for the SQL to apply), "
            "or set [state] auto_migrate = true"
        )
    with migration_lock(engine) as conn:
        # another instance may have migrated while this one waited for the lock
        state = inspect_state(conn)
        conn.commit()
        _refuse_ahead(engine, state)
        if not state.up_to_date:
            _upgrade(engine, conn, state)
    return state


def _at(state: SchemaState) -> str:
    if state.legacy:
        return "from before migrations (no version recorded)"
    return "empty" if state.current is None else f"at revision {state.current}"


def _refuse_ahead(engine: Engine, state: SchemaState) -> None:
    if state.ahead:
        raise StateAhead(
            f"the state database {describe(engine)} is at revision {state.current}, which this opsbot does "
            f"not know (it knows up to {state.head}): a newer opsbot has upgraded it. Run that version again, "
            "or restore the backup taken before the upgrade; this one will not write to it"
        )


def _upgrade(engine: Engine, conn: Connection, state: SchemaState) -> None:
    if state.legacy:
        _check_legacy(engine, conn)
        log.info("state database made before migrations: recognised, stamped at the baseline")
    log.info("migrating the state database %s from %s to %s", describe(engine),
             "before migrations" if state.legacy else state.current or "empty", state.head)
    with conn.begin():
        command.upgrade(alembic_config(connection=conn), "head")


def _check_legacy(engine: Engine, conn: Connection) -> None:
    """A pre-migration database must hold the baseline's columns: create_all never added a column,
    so one made by a much older opsbot may lack some, and stamping it would hide that."""
    found = inspect(conn)
    tables = set(found.get_table_names())
    missing = [
        f"{table}.{column}"
        for table, columns in baseline_shape().items() if table in tables
        for column in sorted(columns - {c["name"] for c in found.get_columns(table)})
    ]
    conn.rollback()
    if missing:
        raise StateSchemaError(
            f"the state database {describe(engine)} was made before migrations by an older opsbot and lacks "
            f"{', '.join(missing)}: it cannot be stamped at the baseline. Export what you need and start "
            "from an empty state database"
        )


@lru_cache(maxsize=1)
def baseline_shape() -> dict[str, frozenset[str]]:
    """Tables and columns of the baseline revision, measured by building it in memory."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), BASELINE)
            found = inspect(conn)
            return {t: frozenset(c["name"] for c in found.get_columns(t))
                    for t in found.get_table_names() if t != VERSION_TABLE}
    finally:
        engine.dispose()


@contextmanager
def migration_lock(engine: Engine) -> Iterator[Connection]:
    """One migrator at a time; the others wait here, then see the migrated schema."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            # a session lock (not a transaction one): it outlives the commits of the migration
            if not conn.scalar(text("select pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}):
                log.info("another instance is migrating the state database; waiting for it")
                conn.execute(text("select pg_advisory_lock(:k)"), {"k": LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("select pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                conn.commit()
        return
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        # in memory (one process) or another dialect: nothing to share a lock with
        with engine.connect() as conn:
            yield conn
        return
    lock = FileLock(f"{path}.migrate-lock")
    try:
        lock.acquire(timeout=0)
    except TimeoutError:
        log.info("another process is migrating %s; waiting for it", path)
        lock.acquire()
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        lock.release()


def upgrade_sql(engine: Engine) -> str:
    """The SQL that would bring the database to this code's revision, for a DBA to apply; '' when current."""
    with engine.connect() as conn:
        state = inspect_state(conn)
        _refuse_ahead(engine, state)
        if state.up_to_date:
            return ""
        if state.legacy:
            _check_legacy(engine, conn)
    out = io.StringIO()
    url = engine.url.render_as_string(hide_password=False)
    start = state.current or "base"
    command.upgrade(alembic_config(url=url, output=out), f"{start}:head", sql=True)
    return out.getvalue()
