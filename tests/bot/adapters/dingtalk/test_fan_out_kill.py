"""SIGKILL in the middle of a digest fan-out to 20 DingTalk groups: a real `opsbot run` (Stream mode,
connected to the fake DingTalk) is killed while some cards are in flight; restarted on the same
state database, it delivers the rest, and no group gets its digest twice. The Slack version of
this test (tests/bot/test_faults_delivery.py) explains the deterministic kill point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from bot.config import load_settings
from bot.delivery.outbox import Outbox
from bot.delivery.scheduler import run_subscription, trigger_for
from bot.run import sync_config_subscriptions
from bot.state.store import OutboxItem, Store, Subscription
from tests.bot.adapters.dingtalk.support import env
from tests.bot.test_faults_delivery import CONCURRENCY, RESTARTED_LATER, midday_zone, statuses, wait_until
from tests.fakes.dingtalk_api import CARD_DELIVER, GROUP_SEND, FakeDingTalk, fake_dingtalk  # noqa: F401

GROUPS = [f"cidFAN{n:03d}" for n in range(20)]
FIRST = 6  # digests DingTalk takes promptly; the next cards it holds until the process is gone
HELD = f"POST {CARD_DELIVER}"


def cards_to(fake: FakeDingTalk) -> Counter[str]:  # noqa: F811
    return Counter(t for c in fake.messages() if c.path == CARD_DELIVER for t in c.targets())


def images_to(fake: FakeDingTalk) -> Counter[str]:  # noqa: F811
    return Counter(t for c in fake.messages() if c.path == GROUP_SEND and c.json.get("msgKey") == "sampleImageMsg"
                   for t in c.targets())


async def test_sigkill_in_the_middle_of_a_dingtalk_fan_out_delivers_every_digest_once(
    tmp_path: Path, backend: str, demo_url: str, fake_dingtalk: FakeDingTalk,  # noqa: F811
) -> None:
    if backend != "embedded":
        pytest.skip("about the process, not the database")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    zone = midday_zone()
    due = (datetime.now(ZoneInfo(zone)) - timedelta(minutes=3)).replace(second=0, microsecond=0)
    digests = "".join(f'[[digest]]\nchat = "dingtalk:{g}"\nat = "{due:%H:%M}"\nmetrics = ["gmv", "orders"]\n\n'
                      for g in GROUPS)
    config = tmp_path / "opsbot.toml"
    config.write_text(f'[warehouse]\nurl = "{demo_url}"\n[state]\nurl = "{state}"\n[bot]\ntimezone = "{zone}"\n'
                      '[dingtalk]\nmode = "stream"\n[alerts]\nenabled = false\n[ops]\nport = 0\n\n' + digests)

    # the subscriptions and their jobs as `opsbot run` stored them before it went down: all due
    # three minutes ago, so they run at the start
    store = Store(state)
    sync_config_subscriptions(load_settings(config), store)
    with store.session() as s:
        subs = list(s.scalars(select(Subscription)).all())
    assert len(subs) == len(GROUPS)
    jobstore = SQLAlchemyJobStore(url=state, tablename="apscheduler_jobs")
    jobstore.start(BackgroundScheduler(), "default")
    for sub in subs:
        jobstore.add_job(Job(BackgroundScheduler(), id=f"sub:{sub.id}", func=run_subscription, args=(sub.id,),
                             kwargs={}, trigger=trigger_for(sub), executor="default", name="digest",
                             misfire_grace_time=21600, coalesce=True, max_instances=1, next_run_time=due))
    jobstore.shutdown()

    fake_dingtalk.hold(HELD, 0.3, times=FIRST)
    fake_dingtalk.hold(HELD, 120, times=len(GROUPS))
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLACK_", "TELEGRAM_", "FEISHU_", "DINGTALK_"))}
    environ.update(env(fake_dingtalk))
    script = tmp_path / "restarted.py"
    script.write_text(RESTARTED_LATER)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]

    def start(n: int, minutes_later: float) -> subprocess.Popen[bytes]:
        with logs[n].open("w") as stderr:
            return subprocess.Popen([sys.executable, str(script), str(config), str(minutes_later)], env=environ,
                                    stdout=subprocess.DEVNULL, stderr=stderr)

    def mid_fan_out() -> bool:
        now = statuses(store)
        held = fake_dingtalk.held[HELD]
        return (now.total() == len(GROUPS) and now["sent"] == FIRST == cards_to(fake_dingtalk).total()
                and 0 < held == min(CONCURRENCY, now["sending"]))

    procs = [start(0, 0)]
    try:
        await wait_until(mid_fan_out, 90, "the fan-out", logs[0],
                         lambda: (statuses(store), dict(fake_dingtalk.held), cards_to(fake_dingtalk).total()))
        before = statuses(store)
        in_flight = fake_dingtalk.held[HELD]
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=10)
        await wait_until(lambda: fake_dingtalk.held[HELD] == 0, 5, "the hang-ups", logs[0])
        fake_dingtalk.cancel_holds(HELD)
        gone = [c for c in fake_dingtalk.calls_to("POST", CARD_DELIVER) if c.failed == "client_gone"]
        assert len(gone) == in_flight and cards_to(fake_dingtalk).total() == FIRST
        assert statuses(store) == before

        procs.append(start(1, (Outbox(store).stale_after + timedelta(minutes=1)).total_seconds() / 60))
        await wait_until(lambda: statuses(store) == {"sent": len(GROUPS)}, 60, "the rest of the fan-out",
                         logs[1], lambda: statuses(store))
        await fake_dingtalk.settle(1.0)  # time for a duplicate, were there going to be one
        procs[1].send_signal(signal.SIGTERM)
        procs[1].wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    text = logs[1].read_text()
    assert procs[1].returncode == 0, text[-3000:]
    assert cards_to(fake_dingtalk) == {g: 1 for g in GROUPS}, text[-3000:]  # one digest card each
    assert images_to(fake_dingtalk) == {g: 1 for g in GROUPS}  # and its chart, once
    with store.session() as s:
        items = list(s.scalars(select(OutboxItem)).all())
    assert sorted(i.chat for i in items) == sorted(f"dingtalk:{g}" for g in GROUPS)
    assert all(i.status == "sent" and i.message_id for i in items)
    store.dispose()
