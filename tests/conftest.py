"""Shared fixtures: the demo shop, a fixed clock, a chat-like driver, and the loopback guard."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from bot.app import build_dispatcher
from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.state.migrate import VERSION_TABLE
from bot.state.store import Base, Store
from metrics.data.load import write_shop
from metrics.data.sample import Shop, ShopSpec, generate
from metrics.data.warehouse import Warehouse
from tests.fakes.chat import Chat
from tests.fakes.network import guard

# The tests' "now": the demo shop ends the day before, so "yesterday" has data.
NOW = datetime(2026, 11, 25, 10, 30)
TODAY = NOW.date()
DEMO_SPEC = ShopSpec(end=TODAY, days=120, orders=30_000, seed=11)
# the embedded warehouse engine the demo-shop tests run on
WAREHOUSE_ENGINE = os.environ.get("OPSBOT_TEST_WAREHOUSE", "duckdb")
# .ci/run starts a throwaway PostgreSQL and sets this: then every test that touches the warehouse
# or the state database runs twice, embedded and on PostgreSQL
PG_URL = os.environ.get("OPSBOT_TEST_PG_URL", "")
BACKENDS = ["embedded"] + (["postgresql"] if PG_URL else [])


def pg_scratch_url(name: str) -> str:
    """A PostgreSQL database of its own for a test that replaces tables (the shared one holds the demo shop)."""
    from sqlalchemy.engine import make_url

    base = make_url(PG_URL)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("select 1 from pg_database where datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'create database "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def empty_pg_url(name: str) -> str:
    """A PostgreSQL database of its own with an empty public schema (skips without PostgreSQL)."""
    if not PG_URL:
        pytest.skip("needs PostgreSQL (OPSBOT_TEST_PG_URL, started by .ci/run)")
    url = pg_scratch_url(name)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("drop schema public cascade"))
        conn.execute(text("create schema public"))
    engine.dispose()
    return url


def free_port() -> int:
    """A loopback TCP port nothing listens on (for a server a test starts)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    guard(monkeypatch)


class Clock:
    """Settable naive local 'now' for the dispatcher."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture(scope="session")
def demo_shop() -> Shop:
    return generate(DEMO_SPEC)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Where the warehouse and the state live: the embedded engines, or PostgreSQL (when CI runs one)."""
    return str(request.param)


@pytest.fixture(scope="session")
def demo_url(backend: str, tmp_path_factory: pytest.TempPathFactory, demo_shop: Shop) -> str:
    if backend == "postgresql":
        url = PG_URL
    else:
        path = tmp_path_factory.mktemp("demo") / f"demo.{WAREHOUSE_ENGINE}"
        url = f"{WAREHOUSE_ENGINE}:///{path}"
    engine = create_engine(url)
    write_shop(engine, demo_shop, DEMO_SPEC)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def demo_settings(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # the state URL here serves dispatchers built without the `store` fixture; tests about state
    # use `store`, which is fresh per test (and on PostgreSQL for the postgresql backend)
    state = f"sqlite:///{tmp_path_factory.mktemp('state') / 'state.db'}"
    return Settings.model_validate({"warehouse": {"url": demo_url}, "state": {"url": state}})


SHARED_TABLES = ("seen_events", "button_tokens", "rate_windows", "kept_answers")


@pytest.fixture(autouse=True)
def _fresh_shared_state(request: pytest.FixtureRequest) -> None:
    """Dispatchers built without `store` share the session's state database, and with it what
    instances share (bot/state/shared.py): forget seen event ids, rate windows, button tokens and kept
    answers before each test, so one test's Slack event id or rate limit is not the next one's."""
    if "demo_settings" not in request.fixturenames:
        return
    settings: Settings = request.getfixturevalue("demo_settings")
    path = settings.state_url().removeprefix("sqlite:///")
    if not os.path.exists(path):
        return
    engine = create_engine(settings.state_url())
    try:
        with engine.begin() as conn:
            present = set(inspect(conn).get_table_names())
            for table in SHARED_TABLES:
                if table in present:
                    conn.execute(text(f"delete from {table}"))
    finally:
        engine.dispose()


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[Store]:
    """A fresh state database per test."""
    if backend == "postgresql":
        reset = create_engine(PG_URL)
        with reset.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("drop table if exists apscheduler_jobs"))
            conn.execute(text(f"drop table if exists {VERSION_TABLE}"))  # or Store would find it current
        reset.dispose()
        s = Store(PG_URL)
    else:
        s = Store(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.dispose()


@pytest.fixture
def demo_warehouse(demo_settings: Settings) -> Iterator[Warehouse]:
    wh = Warehouse.from_url(demo_settings.warehouse_url(), demo_settings.mapping())
    yield wh
    wh.engine.dispose()


@pytest.fixture
def dispatcher(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store) -> Dispatcher:
    return build_dispatcher(demo_settings, demo_warehouse, clock=clock, store=store)


@pytest.fixture
def chat(dispatcher: Dispatcher) -> Chat:
    return Chat(dispatcher)


def day(text: str) -> date:
    return date.fromisoformat(text)


def rounded(value: object, digits: int = 10) -> object:
    """`value` with every float at `digits` significant digits, however deeply nested: sums over the
    same rows in another order (a parallel engine, another warehouse) differ in the last bits."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value
