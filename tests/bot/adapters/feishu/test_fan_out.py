"""A morning digest fanned out to 20 Feishu groups through the outbox: through rate limits and 5xx
(the real adapter and SDK against the fake Feishu, the outbox's back-off on a moved clock), and
through a SIGKILL of a real `opsbot run` in the middle of it, restarted. Each group gets its
digest card exactly once: none lost, none twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from bot.adapters.feishu.adapter import FeishuAdapter
from bot.config import load_settings
from bot.context import ChatRef
from bot.delivery.outbox import BACKOFF, Deliverer, Outbox
from bot.delivery.scheduler import Runtime, install, run_subscription, trigger_for
from bot.dispatch import Dispatcher
from bot.reply import Reply
from bot.run import sync_config_subscriptions
from bot.state.store import OutboxItem, Store, Subscription
from bot.text.messages import t
from metrics.data.sample import Shop
from tests.bot.adapters.feishu.support import MESSAGES, config, gmv_yesterday, number, orders_yesterday
from tests.bot.test_faults_delivery import (
    CONCURRENCY,
    FIRST,
    RESTARTED_LATER,
    midday_zone,
    statuses,
    wait_until,
)
from tests.conftest import TODAY
from tests.fakes.feishu_api import APP_ID, APP_SECRET, Call, FakeFeishu

GROUPS = [f"oc_group_{n:02d}" for n in range(20)]
CREATE = f"POST {MESSAGES}"
IMAGES = "POST /open-apis/im/v1/images"
RATE_LIMITED = {"code": 99991400, "msg": "request trigger frequency limit"}
CHAT_TOO_FAST = {"code": 230020, "msg": "This chat is sending messages too frequently"}
INTERNAL = {"code": 1, "msg": "internal error"}


def digest_cards(fake: FakeFeishu) -> Counter[str]:
    """Digest cards Feishu created, by group."""
    return Counter(c.json["receive_id"] for c in fake.delivered() if c.json["msg_type"] == "interactive")


def fields_of(card: dict[str, Any]) -> dict[str, str]:
    """A card's fields, label -> the value shown (the delta left out)."""
    [fields] = [e["fields"] for e in card["elements"] if e.get("fields")]
    out = {}
    for f in fields:
        label, _, rest = f["text"]["content"].partition("\n")
        out[label.strip("*")] = rest.split(" ")[0]
    return out


def assert_is_the_digest(call: Call, day: date, shop: Shop | None = None) -> None:
    """The card is the morning digest of `day` (in Chinese, Feishu's language) with its chart as an
    image; with `shop`, its GMV and orders are the shop's for that day."""
    card = call.content
    assert card["header"]["title"]["content"] == t("zh", "digest_title", period=day.isoformat())
    assert card["header"]["template"] == "blue"
    [image] = [e for e in card["elements"] if e["tag"] == "img"]
    assert image["img_key"].startswith("img_v3_")
    if shop is not None:
        assert day == TODAY - timedelta(days=1)
        values = fields_of(card)
        assert number(values["销售额"]) == pytest.approx(gmv_yesterday(shop), abs=1)
        assert number(values["订单量"]) == orders_yesterday(shop)


# ---- 1. rate limits and 5xx ---------------------------------------------------------------------------


@pytest.fixture
def fan_out(dispatcher: Dispatcher, store: Store, fake_feishu: FakeFeishu) -> Iterator[tuple[Runtime, FeishuAdapter]]:
    """The scheduler's runtime at 09:00:05 in Shanghai with a 09:00 digest (gmv, orders) for each
    of GROUPS, delivering through the Feishu adapter."""
    adapter = FeishuAdapter(dispatcher, config(fake_feishu))
    outbox = Outbox(store)
    morning = datetime(2026, 11, 25, 9, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert morning.date() == TODAY
    rt = Runtime(dispatcher, outbox, Deliverer(outbox, {"feishu": adapter}), clock=lambda: morning)
    install(rt)
    with store.session() as s, s.begin():
        for group in GROUPS:
            s.add(Subscription(chat=f"feishu:{group}", cadence="daily", at="09:00", timezone="Asia/Shanghai",
                               metrics=["gmv", "orders"], paused=False, source="config"))
    yield rt, adapter


def script_failures(fake: FakeFeishu) -> dict[str, int]:
    """Failures spread over the groups, whatever order their sends come in; each group's number
    of failed message creates. A send makes 4 calls at most (max_retries 3): up to 3 failures
    are absorbed within it, 5 or 6 take the outbox's retry."""
    failures = {}
    for n, group in enumerate(GROUPS):
        kind = n % 4
        if kind == 0:  # the app's frequency limit, twice
            fake.fail(CREATE, 429, RATE_LIMITED, 2, chat=group)
        elif kind == 1:  # the gateway down: an HTML page, five times
            fake.fail(CREATE, 503, "<html><body>503 Service Unavailable</body></html>", 5, chat=group)
        elif kind == 2:  # internal errors, then the chat's own limit
            fake.fail(CREATE, 500, INTERNAL, 3, chat=group)
            fake.fail(CREATE, 429, CHAT_TOO_FAST, 3, chat=group)
        failures[group] = {0: 2, 1: 5, 2: 6, 3: 0}[kind]
    fake.fail(IMAGES, 503, "Service Unavailable", 3)  # and the chart uploads stumble too
    return failures


async def test_a_digest_fan_out_through_rate_limits_and_5xx_reaches_every_group_once(
    fan_out: tuple[Runtime, FeishuAdapter], fake_feishu: FakeFeishu, store: Store, demo_shop: Shop
) -> None:
    """The real digest, enqueued by the scheduler for 20 groups, delivered by Deliverer rounds while
    Feishu answers 429 (99991400, 230020), 500 and 503 to some groups' sends and to chart uploads:
    what a send's own retries absorb goes out in the first round, the rest after the outbox's
    first back-off; then every group has exactly one digest card with the shop's numbers, every
    failed call was answered as a failure (nothing posted by it), and later rounds send nothing."""
    rt, adapter = fan_out
    failures = script_failures(fake_feishu)
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        with store.session() as s:
            ids = list(s.scalars(select(Subscription.id)).all())
        assert await asyncio.gather(*(run_subscription(i) for i in ids)) == ["enqueued"] * len(GROUPS)

        sent_by_round = []
        while rt.outbox.counts() != {"sent": len(GROUPS)}:
            assert len(sent_by_round) < 5, (rt.outbox.counts(), digest_cards(fake_feishu))
            sent_by_round.append(await rt.deliverer.run_once())
            traveller.shift(timedelta(seconds=BACKOFF[0] + 5))
        # and then nothing more, however long the deliverer keeps going
        for _ in range(3):
            traveller.shift(timedelta(hours=1))
            assert await rt.deliverer.run_once() == 0
    await adapter.stop()

    beyond_one_send = [g for g, n in failures.items() if n > 3]
    assert sent_by_round == [len(GROUPS) - len(beyond_one_send), len(beyond_one_send)]
    assert digest_cards(fake_feishu) == {g: 1 for g in GROUPS}
    creates = Counter(c.json["receive_id"] for c in fake_feishu.calls_to("POST", MESSAGES))
    assert creates == {g: failures[g] + 1 for g in GROUPS}  # each failure retried once, nothing after success
    for call in fake_feishu.calls_to("POST", MESSAGES):
        assert call.ok == (not call.scripted)
    for call in fake_feishu.delivered():
        assert_is_the_digest(call, TODAY - timedelta(days=1), demo_shop)
    with store.session() as s:
        items = {i.chat: i for i in s.scalars(select(OutboxItem)).all()}
    assert sorted(items) == sorted(f"feishu:{g}" for g in GROUPS)
    for group in GROUPS:
        item = items[f"feishu:{group}"]
        assert item.status == "sent" and (item.message_id or "").startswith("om_")
        assert item.attempts == (1 if group in beyond_one_send else 0), (group, item.attempts, item.last_error)


async def test_a_slow_feishu_does_not_take_the_threads_the_rest_of_opsbot_runs_on(
    dispatcher: Dispatcher, fake_feishu: FakeFeishu
) -> None:
    """40 pushes at once while Feishu takes a second to answer each (the SDK's calls block, each in a
    thread): the rest of the process still gets asyncio.to_thread's threads at once (the outbox's
    and the state database's calls, the dispatcher's rate checks, other platforms), and every
    push lands once."""
    adapter = FeishuAdapter(dispatcher, config(fake_feishu))
    fake_feishu.hold(CREATE, 1.0, times=40)
    groups = [f"oc_slow_{n:02d}" for n in range(40)]
    sends = [asyncio.create_task(adapter.send(ChatRef("feishu", g), Reply(title="Alert", text=[g]))) for g in groups]
    await fake_feishu.wait_for(lambda: fake_feishu.held[CREATE] >= 4)
    started = time.monotonic()
    assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 5) == "free"
    assert time.monotonic() - started < 0.5, "a thread of the default pool took as long as a held Feishu call"
    await asyncio.gather(*sends)
    assert digest_cards(fake_feishu) == {g: 1 for g in groups}
    await adapter.stop()


# ---- 2. SIGKILL in the middle of the fan-out ----------------------------------------------------------


async def test_sigkill_in_the_middle_of_a_feishu_digest_fan_out_posts_every_digest_once(
    tmp_path: Path, backend: str, demo_url: str, fake_feishu: FakeFeishu
) -> None:
    """A real `opsbot run` (the Feishu adapter on its long connection to the fake) with 20 digests
    due is SIGKILLed while Feishu holds some of its posts; restarted on the same state database
    once the dead process's claims are stale, it posts the others, and no group gets its digest
    twice (as tests/bot/test_faults_delivery.py does for Slack).

    The kill point is deterministic: every send not finished is waiting for Feishu to answer its
    message create, and the fake records a held call whose client went away as not posted (499).
    """
    if backend != "embedded":
        pytest.skip("about the process, not the database")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    zone = midday_zone()
    due = (datetime.now(ZoneInfo(zone)) - timedelta(minutes=3)).replace(second=0, microsecond=0)
    digests = "".join(f'[[digest]]\nchat = "feishu:{g}"\nat = "{due:%H:%M}"\nmetrics = ["gmv", "orders"]\n\n'
                      for g in GROUPS)
    config_file = tmp_path / "opsbot.toml"
    config_file.write_text(f'[warehouse]\nurl = "{demo_url}"\n[state]\nurl = "{state}"\n[bot]\ntimezone = "{zone}"\n'
                           '[feishu]\nmode = "ws"\n[alerts]\nenabled = false\n[ops]\nport = 0\n\n' + digests)

    # the subscriptions as `opsbot run` makes them from the file, and their jobs as the scheduler
    # stored them before opsbot went down: all due three minutes ago, so they run at the start
    store = Store(state)
    sync_config_subscriptions(load_settings(config_file), store)
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

    # Feishu takes the first FIRST posts promptly and holds every later one far longer than the
    # test waits (the SDK's own timeout is 10 s; the kill comes well before)
    fake_feishu.hold(CREATE, 0.3, times=FIRST)
    fake_feishu.hold(CREATE, 120, times=len(GROUPS))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "TELEGRAM_", "FEISHU_", "DINGTALK_", "WECOM_"))}
    env.update({"FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": APP_SECRET, "FEISHU_API_URL": fake_feishu.url})
    script = tmp_path / "restarted.py"
    script.write_text(RESTARTED_LATER)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]

    def start(n: int, minutes_later: float) -> subprocess.Popen[bytes]:
        with logs[n].open("w") as stderr:
            return subprocess.Popen([sys.executable, str(script), str(config_file), str(minutes_later)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=stderr)

    def mid_fan_out() -> bool:
        now = statuses(store)
        # every claimed item not sent is either held by Feishu or still waiting for a delivery slot
        held = fake_feishu.held[CREATE]
        return (now.total() == len(GROUPS) and now["sent"] == FIRST == digest_cards(fake_feishu).total()
                and 0 < held == min(CONCURRENCY, now["sending"]))

    procs = [start(0, 0)]
    try:
        await wait_until(mid_fan_out, 90, "the fan-out", logs[0],
                         lambda: (statuses(store), dict(fake_feishu.held), digest_cards(fake_feishu).total()))
        assert fake_feishu.ws_connects == 1  # the adapter was up on its long connection
        before = statuses(store)
        in_flight = fake_feishu.held[CREATE]
        assert in_flight <= CONCURRENCY
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=10)
        # Feishu notices the client is gone and posts none of the held messages
        await wait_until(lambda: fake_feishu.held[CREATE] == 0, 5, "the hang-ups", logs[0])
        fake_feishu.cancel_holds(CREATE)  # and is quick again
        gone = [c for c in fake_feishu.calls_to("POST", MESSAGES) if c.status == 499]
        assert len(gone) == in_flight and digest_cards(fake_feishu).total() == FIRST
        # what the dead process left: its claims ("sending"), and the digests not yet tried
        assert statuses(store) == before

        # restarted once the dead process's claims are stale: it finishes the fan-out
        procs.append(start(1, (Outbox(store).stale_after + timedelta(minutes=1)).total_seconds() / 60))
        await wait_until(lambda: statuses(store) == {"sent": len(GROUPS)}, 60, "the rest of the fan-out",
                         logs[1], lambda: statuses(store))
        await asyncio.sleep(1.0)  # time for a duplicate, were there going to be one
        procs[1].send_signal(signal.SIGTERM)
        procs[1].wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    text = logs[1].read_text()
    assert procs[1].returncode == 0, text[-3000:]
    assert fake_feishu.ws_connects == 2
    # every group got its digest, and none twice
    assert digest_cards(fake_feishu) == {g: 1 for g in GROUPS}, text[-3000:]
    yesterday = (datetime.now(ZoneInfo(zone)) - timedelta(days=1)).date()  # the processes' own clock
    for call in fake_feishu.delivered():
        assert_is_the_digest(call, yesterday)
    with store.session() as s:
        items = list(s.scalars(select(OutboxItem)).all())
    assert sorted(i.chat for i in items) == sorted(f"feishu:{g}" for g in GROUPS)
    assert all(i.status == "sent" and i.message_id for i in items)
    store.dispose()
