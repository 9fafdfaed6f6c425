"""Two real `opsbot run` processes on one PostgreSQL state database: one runs the scheduler (the
lease), a due digest is posted once, and a queued outbox item is delivered once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, select, text

from bot.context import ChatRef
from bot.delivery.outbox import Outbox
from bot.delivery.scheduler import run_subscription, trigger_for
from bot.reply import Reply
from bot.state.migrate import VERSION_TABLE
from bot.state.store import Base, Lease, Store, Subscription
from tests.conftest import PG_URL, pg_scratch_url
from tests.fakes.slack_api import FakeSlack, fake_slack  # noqa: F401

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (OPSBOT_TEST_PG_URL, started by .ci/run)")


def midday_zone() -> str:
    """A fixed-offset zone where it is about 11:00 now, so "a few minutes ago" is the same local day."""
    offset = (11 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"


async def test_two_processes_share_the_work(
    tmp_path: Path, backend: str, demo_url: str, fake_slack: FakeSlack  # noqa: F811
) -> None:
    if backend != "embedded":
        pytest.skip("the state is on PostgreSQL either way; once is enough")
    state = pg_scratch_url("opsbot_instances")
    reset = create_engine(state)  # not a Store: it would refuse a database another checkout left ahead
    with reset.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text(f"drop table if exists {VERSION_TABLE}"))  # or Store would find it current
    reset.dispose()
    store = Store(state)
    zone = midday_zone()
    due = (datetime.now(ZoneInfo(zone)) - timedelta(minutes=3)).replace(second=0, microsecond=0)
    with store.session() as s, s.begin():
        sub = Subscription(chat="slack:COPS", cadence="daily", at=due.strftime("%H:%M"), timezone=zone,
                           metrics=["gmv", "orders"], paused=False)
        s.add(sub)
    # the job as the scheduler stored it before both processes went down: due three minutes ago
    # (written straight into the job store: a running scheduler would run it right here)
    jobstore = SQLAlchemyJobStore(url=state, tablename="apscheduler_jobs")
    jobstore.start(BackgroundScheduler(), "default")
    jobstore.remove_all_jobs()
    jobstore.add_job(Job(BackgroundScheduler(), id=f"sub:{sub.id}", func=run_subscription, args=(sub.id,), kwargs={},
                         trigger=trigger_for(sub), executor="default", name="digest", misfire_grace_time=21600,
                         coalesce=True, max_instances=1, next_run_time=due))
    jobstore.shutdown()
    # and an item already queued, which both deliverers will see
    Outbox(store).enqueue("test:queued", ChatRef("slack", "COPS"), Reply(title="Queued before the start"))

    config = tmp_path / "opsbot.toml"
    config.write_text(f'[warehouse]\nurl = "{demo_url}"\n[state]\nurl = "{state}"\n'
                      '[access]\nchats = ["slack:COPS"]\n[slack]\nmode = "http"\nport = 0\n'
                      '[alerts]\nenabled = false\n[ops]\nport = 0\n')
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret",
           "SLACK_API_URL": fake_slack.api_url}
    procs = [subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--config", str(config)], env=env,
                              stdout=subprocess.DEVNULL, stderr=(tmp_path / f"p{i}.log").open("w"))
             for i in range(2)]
    try:
        for _ in range(600):
            posts = [c for c in fake_slack.calls_to("chat.postMessage") if c.status == 200]
            texts = " ".join(c.text for c in posts)
            if "Queued before the start" in texts and "Morning digest" in texts:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # time for a duplicate, were there going to be one
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
    logs = "".join((tmp_path / f"p{i}.log").read_text() for i in range(2))
    posts = [c for c in fake_slack.calls_to("chat.postMessage") if c.status == 200]
    assert sum("Queued before the start" in c.text for c in posts) == 1, logs[-3000:]
    assert sum("Morning digest" in c.text for c in posts) == 1, logs[-3000:]
    with store.session() as s:
        holders = s.scalars(select(Lease.holder)).all()
    assert len(holders) == 1
    assert all(p.returncode == 0 for p in procs), logs[-3000:]
    store.dispose()
