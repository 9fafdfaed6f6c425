"""Schema migrations of the state database: the models and the migrations agree, an upgrade is run
by one instance while the others wait, a database ahead of the code is never written to, and
`opsbot run` with `[state] auto_migrate = false` refuses a database that is behind."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

import bot.state.planning  # noqa: F401  (its models are part of the state)
from bot.cli import main
from bot.state.migrate import VERSION_TABLE, StateAhead, StateBehind, head, include_object, migration_lock
from bot.state.store import Base, Store
from tests.bot.state.test_upgrade import restore_pg, restore_sqlite, snapshot
from tests.conftest import PG_URL, empty_pg_url

ROOT = Path(__file__).parents[3]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty state database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return empty_pg_url("opsbot_migrations")


def test_the_migrations_build_exactly_the_models(empty_state: str) -> None:
    """Fails when a model changes without a migration: add a revision (README, Upgrading)."""
    store = Store(empty_state)
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_object": include_object, "compare_type": True, "version_table": VERSION_TABLE})
        diff = compare_metadata(context, Base.metadata)
    store.dispose()
    assert diff == [], "the models and the migrations differ: generate a revision for this change"


def test_apscheduler_table_is_left_alone(empty_state: str) -> None:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    jobstore = SQLAlchemyJobStore(url=empty_state, tablename="apscheduler_jobs")
    jobstore.start(BackgroundScheduler(), "default")
    jobstore.shutdown()
    store = Store(empty_state)
    assert store.schema.current is None and not store.schema.legacy  # APScheduler's table is not ours
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_object": include_object, "compare_type": True, "version_table": VERSION_TABLE})
        assert compare_metadata(context, Base.metadata) == []
    assert inspect(store.engine).has_table("apscheduler_jobs")
    store.dispose()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_database_ahead_of_the_code_is_refused_and_not_written(empty_state: str, tmp_path: Path) -> None:
    store = Store(empty_state)
    with store.engine.begin() as conn:
        conn.execute(text(f"update {VERSION_TABLE} set version_num = '0099_from_a_newer_opsbot'"))
    before = snapshot(store.engine)
    store.dispose()
    sqlite_file = tmp_path / "state.db" if empty_state.startswith("sqlite") else None
    digest = file_digest(sqlite_file) if sqlite_file else None

    with pytest.raises(StateAhead) as refused:
        Store(empty_state)
    message = str(refused.value)
    assert "0099_from_a_newer_opsbot" in message and "newer opsbot" in message and "backup" in message
    config = tmp_path / "opsbot.toml"
    config.write_text(f'[state]\nurl = "{empty_state}"\n')
    for args in (["migrate"], ["migrate", "--sql"], ["migrate", "--check"]):
        result = CliRunner().invoke(main, [*args, "--config", str(config)])
        assert result.exit_code == 2, (args, result.output)
    engine = create_engine(empty_state)
    assert snapshot(engine) == before
    engine.dispose()
    if sqlite_file:
        assert file_digest(sqlite_file) == digest  # not a byte written


def test_auto_migrate_false_refuses_until_opsbot_migrate(tmp_path: Path, demo_url: str) -> None:
    state = restore_sqlite(tmp_path)
    config = tmp_path / "opsbot.toml"
    config.write_text(f'[warehouse]\nurl = "{demo_url}"\n[state]\nurl = "{state}"\nauto_migrate = false\n')
    with pytest.raises(StateBehind):
        Store(state, migrate=False)
    result = CliRunner().invoke(main, ["run", "--config", str(config)], env={"SLACK_BOT_TOKEN": "",
                                                                             "TELEGRAM_BOT_TOKEN": ""})
    assert result.exit_code == 2
    assert "`opsbot migrate`" in result.output and "before migrations" in result.output
    assert not inspect(create_engine(state)).has_table(VERSION_TABLE)  # refused, untouched

    check = CliRunner().invoke(main, ["migrate", "--check", "--config", str(config)])
    assert (check.exit_code, "behind" in check.output) == (1, True)
    migrated = CliRunner().invoke(main, ["migrate", "--config", str(config)])
    assert migrated.exit_code == 0 and f"upgraded from before migrations to {head()}" in migrated.output
    again = CliRunner().invoke(main, ["migrate", "--config", str(config)])
    assert again.exit_code == 0 and "up to date" in again.output
    # now `run` gets past the state database (and stops only because no platform token is set)
    result = CliRunner().invoke(main, ["run", "--config", str(config)], env={"SLACK_BOT_TOKEN": "",
                                                                             "TELEGRAM_BOT_TOKEN": ""})
    assert result.exit_code == 2 and "no platform to serve" in result.output


def test_the_printed_sql_upgrades_a_database_made_before_migrations(tmp_path: Path) -> None:
    """`opsbot migrate --sql` is what a DBA applies by hand: it must give the same schema and keep the rows."""
    state = restore_sqlite(tmp_path)
    config = tmp_path / "opsbot.toml"
    config.write_text(f'[state]\nurl = "{state}"\n')
    result = CliRunner().invoke(main, ["migrate", "--sql", "--config", str(config)])
    assert result.exit_code == 0, result.output
    engine = create_engine(state)
    before = snapshot(engine)
    engine.dispose()
    with sqlite3.connect(tmp_path / "pre16.db") as conn:
        conn.executescript(result.output)
    store = Store(state)
    assert store.schema.up_to_date  # nothing left for the start to do
    assert {t: rows for t, rows in snapshot(store.engine).items() if t in before} == before
    store.dispose()
    assert "up to date" in CliRunner().invoke(main, ["migrate", "--sql", "--config", str(config)]).output


# the migrate-at-start path of `opsbot run`, in a process of its own
START = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from bot.state.store import Store
store = Store(sys.argv[1])
print(store.schema.head)
"""


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_two_instances_starting_at_once_migrate_once(backend_name: str, tmp_path: Path) -> None:
    if backend_name == "postgresql":
        if not PG_URL:
            pytest.skip("needs PostgreSQL (OPSBOT_TEST_PG_URL, started by .ci/run)")
        state = restore_pg("opsbot_pre16_concurrent")
    else:
        state = restore_sqlite(tmp_path)
    engine = create_engine(state)
    before = snapshot(engine)
    # hold the lock as a migrating instance would: both must wait for it, neither migrate meanwhile
    logs = [tmp_path / f"instance{i}.log" for i in range(2)]
    with migration_lock(engine):
        files = [log.open("w") for log in logs]
        procs = [subprocess.Popen([sys.executable, "-c", START, state], cwd=ROOT, text=True,
                                  stdout=subprocess.PIPE, stderr=f) for f in files]
        deadline = time.monotonic() + 60
        while not all("waiting for it" in log.read_text() for log in logs) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(p.poll() is None for p in procs), "an instance did not wait for the lock"
        assert not inspect(engine).has_table(VERSION_TABLE)
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    for f in files:
        f.close()
    text_of = "\n".join(log.read_text() for log in logs)
    assert all(p.returncode == 0 for p in procs), text_of[-3000:]
    assert [out.strip() for out in outputs] == [head(), head()]  # both started, on the current schema
    assert text_of.count("INFO:bot.state.migrate:migrating the state database") == 1, text_of[-3000:]  # once
    after = snapshot(engine)
    assert {t: rows for t, rows in after.items() if t in before} == before
    engine.dispose()
