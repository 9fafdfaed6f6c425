"""Faults of opsbot's own databases: a real PostgreSQL warehouse stopped and started again, and a
locked state database. Nothing crashes, users get a clear answer, admins hear once, and it recovers."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select

from bot.app import build_dispatcher
from bot.config import Settings
from bot.context import ChatRef, Incoming
from bot.delivery.outbox import Deliverer, Outbox
from bot.dispatch import Dispatcher
from bot.reply import Reply
from bot.run import _watch_source
from bot.state.store import AuditEntry, OutboxItem, Subscription
from metrics.data.load import write_shop
from metrics.data.sample import Shop
from tests.conftest import DEMO_SPEC, NOW, Clock
from tests.fakes.recording import RecordingAdapter

ADMIN_CHAT = "slack:CADMINS"


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PgServer:
    """A PostgreSQL server of this test's own, so it can be stopped without harming the others."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.data = Path(tempfile.mkdtemp(prefix="opsbot-pgfault-"))
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
            shutil.chown(self.data, "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.run("initdb", "-D", str(self.data / "db"), "-A", "trust", "-U", "opsbot", "-E", "UTF8")

    def run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_postgres, str(self.bindir / tool), *args], check=True, capture_output=True)

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data / "db"), "-l", str(self.data / "log"), "-w", "-o",
                 f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data / "db"), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://opsbot@127.0.0.1:{self.port}/postgres"

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_server(demo_shop: Shop) -> Iterator[PgServer]:
    bindir = pg_bin()
    if bindir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("needs PostgreSQL's server binaries (.ci/run installs them)")
    server = PgServer(bindir)
    try:
        server.start()
        engine = create_engine(server.url)
        write_shop(engine, demo_shop, DEMO_SPEC)
        engine.dispose()
        yield server
    finally:
        server.remove()


@pytest.fixture
def bot(pg_server: PgServer, tmp_path: Path) -> Iterator[Dispatcher]:
    settings = Settings.model_validate({
        "warehouse": {"url": pg_server.url},
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "access": {"chats": ["slack:COPS"], "admin_chat": ADMIN_CHAT},
    })
    dispatcher = build_dispatcher(settings, clock=Clock(NOW))
    yield dispatcher
    dispatcher.services.warehouse.engine.dispose()
    dispatcher.services.store.dispose()


async def ask(bot: Dispatcher, text: str, chat: str = "slack:COPS") -> Reply:
    return await bot.dispatch(Incoming(text=text, chat=ChatRef.parse(chat), user="slack:UALICE"))


def admin_notices(bot: Dispatcher) -> list[str]:
    with bot.services.store.session() as s:
        return [i.key.split(":", 1)[0] for i in
                s.scalars(select(OutboxItem).where(OutboxItem.chat == ADMIN_CHAT).order_by(OutboxItem.id))]


async def test_the_warehouse_goes_away_and_comes_back(bot: Dispatcher, pg_server: PgServer) -> None:
    assert not (await ask(bot, "kpi gmv yesterday")).error
    pg_server.stop()
    try:
        for text in ("kpi gmv yesterday", "top channel by gmv last 7d", "trend orders last 30d"):
            started = time.monotonic()
            reply = await ask(bot, text)
            assert time.monotonic() - started < 10
            assert reply.error and reply.data["error"] == "data_unavailable", text
            body = reply.plain_text()
            assert "unavailable" in body and reply.data["incident"] in body
            # never the driver's words: they name hosts, users and SQL
            for leak in ("psycopg", "127.0.0.1", "opsbot@", "SELECT", "Traceback", str(pg_server.port)):
                assert leak not in body and leak not in str(reply.data), leak
        assert admin_notices(bot) == ["source-down"]  # told once, not once per failed question
    finally:
        pg_server.start()
    # the running bot probes the warehouse while it is down: "back" is said without anyone asking
    delivered = RecordingAdapter("slack")
    outbox = Outbox(bot.services.store)
    deliverer = Deliverer(outbox, {"slack": delivered})
    watching = _watch_source(bot, deliverer, every=0.1)
    assert watching is not None
    for _ in range(100):
        if admin_notices(bot) == ["source-down", "source-back"]:
            break
        await asyncio.sleep(0.1)
    watching.cancel()
    assert admin_notices(bot) == ["source-down", "source-back"]
    # no restart, no admin action: the next question is answered
    assert not (await ask(bot, "kpi gmv yesterday")).error
    await deliverer.run_once()
    titles = [reply.title for _, reply in delivered.sent]
    assert titles == ["Data source unavailable", "Data source is back"]


async def test_a_digest_due_while_the_warehouse_is_down_is_retried_not_skipped(
        bot: Dispatcher, pg_server: PgServer) -> None:
    from bot.delivery import scheduler as sched

    with bot.services.store.session() as s, s.begin():
        s.add(Subscription(chat="slack:COPS", cadence="daily", weekday=None, at="09:00", timezone="Asia/Shanghai",
                           metrics=[], by=None, wait_until=None, paused=False, source="chat", created_by="t"))
    with bot.services.store.session() as s:
        sub_id = s.scalars(select(Subscription.id)).one()
    outbox = Outbox(bot.services.store)
    now = datetime(2026, 11, 25, 1, 5, tzinfo=UTC)  # 09:05 in Shanghai
    sched.install(sched.Runtime(bot, outbox, Deliverer(outbox, {}), clock=lambda: now))
    pg_server.stop()
    try:
        assert await sched.run_subscription(sub_id) == "source unavailable; retrying"
        assert outbox.get(f"digest:{sub_id}:2026-11-25") is None
    finally:
        pg_server.start()
    now = datetime(2026, 11, 25, 1, 10, tzinfo=UTC)
    fire = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert await sched.run_waiting(sub_id, fire.isoformat()) == "enqueued"
    assert outbox.get(f"digest:{sub_id}:2026-11-25") is not None


async def test_a_locked_state_database_costs_no_answer(tmp_path: Path, demo_settings: Settings,
                                                       demo_warehouse: object) -> None:
    state = tmp_path / "state.db"
    settings = demo_settings.model_copy(update={"state": demo_settings.state.model_copy(
        update={"url": f"sqlite:///{state}"})})
    bot = build_dispatcher(settings, demo_warehouse, clock=Clock(NOW))  # type: ignore[arg-type]
    bot.services.store.audit("console:local", "console:local", "warm-up", "ok", 1)
    # another process holds the write lock (a backup, a migration, a stuck writer)
    locker = sqlite3.connect(state, timeout=0)
    locker.execute("begin exclusive")
    try:
        started = time.monotonic()
        replies = await asyncio.gather(*(ask(bot, "kpi gmv orders yesterday", "console:local") for _ in range(3)))
        # the audit entries wait for the lock on their own thread: the answers do not
        assert time.monotonic() - started < 5
        assert all(not r.error and r.fields for r in replies)
        # a command that must write state waits for the lock (a slow database), then succeeds
        asyncio.get_running_loop().call_later(1.5, locker.rollback)
        started = time.monotonic()
        changed = await ask(bot, "lang zh", "console:local")
        assert not changed.error and time.monotonic() - started >= 1.4
    finally:
        locker.rollback()
        locker.close()
    assert (await ask(bot, "kpi gmv yesterday", "console:local")).title.startswith("核心指标")
    await asyncio.sleep(0.5)
    with bot.services.store.session() as s:  # and no audit entry was lost
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 1 + 3 + 1 + 1
    bot.services.store.dispose()
