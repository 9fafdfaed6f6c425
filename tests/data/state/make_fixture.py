"""Make the state-database fixtures of tests/bot/state/test_upgrade.py with the code *before* migrations.

The fixtures stand for an installation made from main before issue 16 (commit 35d8e8e), so this
script must run against that code, not the current one:

    git worktree add /tmp/pre16 35d8e8e
    PYTHONPATH=/tmp/pre16 .venv/bin/python tests/data/state/make_fixture.py sqlite:///tests/data/state/pre16.db
    # PostgreSQL: a throwaway server as .ci/run starts one, an empty database, then
    PYTHONPATH=/tmp/pre16 .venv/bin/python tests/data/state/make_fixture.py postgresql+psycopg://opsbot@127.0.0.1:PORT/pre16
    pg_dump --no-owner --inserts -h 127.0.0.1 -p PORT -U opsbot pre16 > tests/data/state/pre16.pg.sql
    git worktree remove /tmp/pre16

Everything goes in through the bot's own commands and Store, as a team would have made it: a
language setting, a digest subscription (and APScheduler's job for it), a goal with its daily
targets, a campaign, a threshold rule, the anomaly alert the morning scan opened after the demo
shop's injected drop with its notice still pending in the outbox, a notice already delivered, the
scheduler lease, and the audit rows of all of it. The clock is the tests' (2026-11-25 10:30, and
the scan the morning after the drop), the shop the tests' demo shop (tests/conftest.py DEMO_SPEC).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, select

from bot.adapters.base import Sent
from bot.app import build_dispatcher
from bot.config import Settings
from bot.context import ChatRef
from bot.delivery.outbox import Deliverer, Outbox
from bot.delivery.scheduler import Runtime, Scheduler, install, run_alert_scan, run_subscription, trigger_for
from bot.reply import Reply
from bot.state.store import Store, Subscription
from metrics.data.load import write_shop
from metrics.data.sample import generate
from metrics.data.warehouse import Warehouse
from tests.conftest import DEMO_SPEC, NOW, Clock
from tests.fakes.chat import Chat

OPS, ADMIN = "slack:COPS", "slack:UADMIN"


class Accepting:
    """An adapter that takes every message: the delivered notice."""

    platform = "slack"

    def __init__(self) -> None:
        self.n = 0

    async def send(self, chat: ChatRef, reply: Reply, progress: object = None) -> Sent:
        self.n += 1
        return Sent(message_id=f"1700000000.{self.n:06d}", chat=chat)


async def make(state_url: str) -> None:
    shop = generate(DEMO_SPEC)
    with tempfile.TemporaryDirectory() as tmp:
        warehouse_url = f"duckdb:///{Path(tmp) / 'demo.duckdb'}"
        engine = create_engine(warehouse_url)
        write_shop(engine, shop, DEMO_SPEC)
        engine.dispose()
        settings = Settings.model_validate({
            "warehouse": {"url": warehouse_url}, "state": {"url": state_url},
            "access": {"chats": [OPS, "slack:CZH"], "admins": [ADMIN]},
        })
        warehouse = Warehouse.from_url(warehouse_url, settings.mapping())
        store = Store(state_url)
        dispatcher = build_dispatcher(settings, warehouse, clock=Clock(NOW), store=store)
        ops = Chat(dispatcher, ChatRef.parse(OPS), ADMIN)
        for text in ("subscribe digest daily 09:00", "goal set gmv 3000000 2026Q4",
                     "campaign add 双11 2026-11-08..2026-11-12", "alert add refund_rate > 5% daily",
                     "kpi gmv yesterday", "goals"):
            reply = await ops.send(text)
            assert not reply.error, (text, reply.plain_text())
        assert not (await ops.as_("slack:CZH", ADMIN).send("lang zh")).error

        # the morning after the injected channel drop: the scan opens an alert, its notice queued
        labels = shop.labels
        drop = labels[(labels.metric == "orders") & (labels.dimension == "channel")].iloc[0]
        morning = datetime.combine(drop["day"] + timedelta(days=1), datetime.min.time()).replace(
            hour=7, minute=30, tzinfo=ZoneInfo(settings.bot.timezone))
        outbox = Outbox(store)
        accepting = Accepting()
        install(Runtime(dispatcher, outbox, Deliverer(outbox, {"slack": accepting}), clock=lambda: morning))
        assert await run_alert_scan() == "queued 1"

        # a notice delivered before the upgrade (sent rows must stay sent)
        outbox.enqueue("fixture:delivered", ChatRef.parse(OPS), Reply(title="Delivered before the upgrade"))
        delivered = Deliverer(outbox, {"slack": accepting})
        for item in outbox.claim(delivered.worker):
            if item.key == "fixture:delivered":
                await delivered._deliver(item)
            else:
                outbox.release(item.id)  # the alert notice stays pending
        assert outbox.get("fixture:delivered").status == "sent"  # type: ignore[union-attr]

        # APScheduler's own table, as a running scheduler leaves it, and the scheduler lease
        with store.session() as s:
            sub = s.scalars(select(Subscription)).one()
        jobstore = SQLAlchemyJobStore(url=state_url, tablename="apscheduler_jobs")
        jobstore.start(BackgroundScheduler(), "default")
        trigger = trigger_for(sub)
        jobstore.add_job(Job(BackgroundScheduler(), id=f"sub:{sub.id}", func=run_subscription, args=(sub.id,),
                             kwargs={}, trigger=trigger, executor="default", name=f"digest {sub.chat}",
                             misfire_grace_time=21600, coalesce=True, max_instances=1,
                             next_run_time=trigger.get_next_fire_time(None, morning)))
        jobstore.shutdown()
        Scheduler(dispatcher, outbox, delivered, state_url, instance="fixture-host:1").try_lease()
        warehouse.engine.dispose()
        store.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    asyncio.run(make(sys.argv[1]))
