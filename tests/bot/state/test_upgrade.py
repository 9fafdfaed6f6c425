"""An installation made before migrations (tests/data/state: made by make_fixture.py with commit
35d8e8e) upgrades with nothing lost: every row of every table is still there, byte for byte, and
the state still works: the digest due this morning is built once, the open alert's buttons act on
it, and the notice that was pending is delivered once (the one already sent is not sent again)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from bot.app import build_dispatcher
from bot.config import Settings
from bot.context import ChatRef
from bot.delivery.outbox import Deliverer, Outbox
from bot.delivery.scheduler import Runtime, install, run_subscription
from bot.state.migrate import VERSION_TABLE, head
from bot.state.store import Alert, Store, Subscription
from metrics.data.warehouse import Warehouse
from tests.conftest import NOW, PG_URL, Clock, pg_scratch_url
from tests.fakes.chat import Chat
from tests.fakes.recording import RecordingAdapter

FIXTURES = Path(__file__).parents[2] / "data" / "state"
OPS, ADMIN = "slack:COPS", "slack:UADMIN"  # as make_fixture.py set them up
# what make_fixture.py put in, table by table (a smaller count after the upgrade is a lost row)
MADE = {"subscriptions": 1, "goals": 1, "goal_targets": 92, "campaigns": 1, "alert_rules": 1, "alerts": 1,
        "outbox": 2, "audit_log": 8, "chat_settings": 1, "leases": 1, "apscheduler_jobs": 1}


def restore_sqlite(tmp_path: Path) -> str:
    """A copy of the committed database (tests never write to the fixture itself)."""
    path = tmp_path / "pre16.db"
    shutil.copyfile(FIXTURES / "pre16.db", path)
    return f"sqlite:///{path}"


def restore_pg(name: str) -> str:
    """The committed pg_dump, restored into a database of its own."""
    url = pg_scratch_url(name)
    dump = (FIXTURES / "pre16.pg.sql").read_text(encoding="utf-8")
    # psql meta-commands (\restrict, \unrestrict of newer pg_dumps) are not SQL
    script = "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("drop schema public cascade")
        conn.execute("create schema public")
        conn.execute(script)  # type: ignore[call-overload]  # a whole script: no parameters, simple protocol
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def pre16(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a state database as the code before migrations left it."""
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("needs PostgreSQL (OPSBOT_TEST_PG_URL, started by .ci/run)")
        return restore_pg("opsbot_pre16")
    return restore_sqlite(tmp_path)


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in primary-key order."""
    found = inspect(engine)
    rows = {}
    with engine.connect() as conn:
        for table in found.get_table_names():
            if table == VERSION_TABLE:
                continue
            key = found.get_pk_constraint(table)["constrained_columns"]
            order = ", ".join(f'"{c}"' for c in key)
            rows[table] = [tuple(r) for r in conn.execute(text(f'select * from "{table}" order by {order}'))]
    return rows


def test_every_row_survives_the_upgrade(pre16: str) -> None:
    engine = create_engine(pre16)
    before = snapshot(engine)
    assert {t: len(before[t]) for t in MADE} == MADE  # the fixture is what the docstring says
    assert not inspect(engine).has_table(VERSION_TABLE)
    engine.dispose()

    store = Store(pre16)
    assert store.schema.legacy and store.schema.current is None  # recognised as made before migrations
    after = snapshot(store.engine)
    with store.engine.connect() as conn:
        assert conn.scalar(text(f"select version_num from {VERSION_TABLE}")) == head()
    store.dispose()
    for table, rows in before.items():
        assert after[table] == rows, table  # stamped, not recreated: the same rows, the same ids
    # and a second start finds it current and changes nothing
    again = Store(pre16)
    assert again.schema.up_to_date
    assert snapshot(again.engine) == after
    again.dispose()


@pytest.fixture
def upgraded(pre16: str, demo_settings: Settings, demo_warehouse: Warehouse) -> Iterator[tuple[Store, Chat]]:
    store = Store(pre16)
    settings = demo_settings.model_copy(update={"access": demo_settings.access.model_copy(update={
        "chats": (OPS, "slack:CZH"), "users": (), "admins": (ADMIN,)})})
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=Clock(NOW), store=store)
    yield store, Chat(dispatcher, ChatRef.parse(OPS), ADMIN)
    store.dispose()


async def test_the_upgraded_state_still_works(upgraded: tuple[Store, Chat]) -> None:
    store, ops = upgraded
    dispatcher = ops.dispatcher
    adapter = RecordingAdapter()
    outbox = Outbox(store)
    deliverer = Deliverer(outbox, {"slack": adapter})

    # the pending alert notice (queued before the upgrade) goes out once; the sent one not again
    assert await deliverer.run_once() == 1
    assert await deliverer.run_once() == 0
    [(chat, notice)] = adapter.sent
    assert chat == ChatRef.parse(OPS) and "anomaly" in notice.plain_text().lower()
    assert outbox.get("fixture:delivered").status == "sent"  # type: ignore[union-attr]

    # the subscription made before the upgrade: its digest is due at 09:00 and built once
    with store.session() as s:
        sub = s.scalars(select(Subscription)).one()
    install(Runtime(dispatcher, outbox, deliverer,
                    clock=lambda: NOW.replace(tzinfo=ZoneInfo(sub.timezone))))
    assert (sub.chat, sub.at) == (OPS, "09:00")
    assert await run_subscription(sub.id) == "enqueued"
    assert await run_subscription(sub.id) == "duplicate"
    assert await deliverer.run_once() == 1
    assert "digest" in adapter.sent[-1][1].plain_text().lower()

    # the open alert's buttons, as its notice carries them, act on that alert
    with store.session() as s:
        alert = s.scalars(select(Alert)).one()
    assert alert.status == "open"
    commands = {a.label: a.command for a in notice.actions}
    ack = next(c for label, c in commands.items() if label.lower().startswith("ack"))
    assert ack.split()[1] == str(alert.id)
    reply = await ops.send(ack)
    assert not reply.error, reply.plain_text()
    with store.session() as s:
        acked = s.get(Alert, alert.id)
    assert (acked.status, acked.acked_by) == ("acked", ADMIN)  # type: ignore[union-attr]

    # and what was set before answers as before: the goal, the rule, the chat's language
    assert "3,000,000" in await ops.say("goals")
    rules = (await ops.send("alerts")).data["rules"]
    assert [(r["kpi"], r["op"], r["threshold"]) for r in rules] == [("refund_rate", ">", 0.05)]
    assert dispatcher.services.store.chat_language("slack:CZH") == "zh"
