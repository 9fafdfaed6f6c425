"""The scheduler: local times across DST, missed runs, two instances, waiting for data, late-data edits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.delivery import scheduler as sched
from bot.delivery.outbox import Deliverer, Outbox
from bot.delivery.scheduler import Runtime, Scheduler, install, last_fire_time, run_subscription, trigger_for
from bot.dispatch import Dispatcher
from bot.state.store import Store, Subscription
from tests.fakes.recording import RecordingAdapter


def sub(**kw: object) -> Subscription:
    values = dict(id=1, chat="slack:COPS", cadence="daily", weekday=None, at="09:00", timezone="Asia/Shanghai",
                  metrics=[], by=None, wait_until=None, paused=False)
    values.update(kw)
    return Subscription(**values)


def fires(s: Subscription, start: datetime, n: int) -> list[datetime]:
    trigger, out, prev = trigger_for(s), [], None
    now = start
    for _ in range(n):
        nxt = trigger.get_next_fire_time(prev, now)
        out.append(nxt)
        prev, now = nxt, nxt + timedelta(seconds=1)
    return out


@pytest.mark.parametrize(
    ("zone", "start", "utc_hours"),
    [
        # no DST: 09:00 in Shanghai is always 01:00 UTC
        ("Asia/Shanghai", datetime(2026, 3, 6, tzinfo=UTC), [1, 1, 1, 1, 1]),
        # spring forward on Sunday 2026-03-08: 09:00 EST = 14:00 UTC, then 09:00 EDT = 13:00 UTC
        ("America/New_York", datetime(2026, 3, 6, tzinfo=UTC), [14, 14, 13, 13, 13]),
        # fall back on Sunday 2026-11-01: 13:00 UTC, then 14:00 UTC
        ("America/New_York", datetime(2026, 10, 30, tzinfo=UTC), [13, 13, 14, 14, 14]),
    ],
)
def test_a_nine_oclock_digest_is_at_nine_local_every_day(zone: str, start: datetime, utc_hours: list[int]) -> None:
    runs = fires(sub(timezone=zone), start, 5)
    local = [r.astimezone(ZoneInfo(zone)) for r in runs]
    assert [(t.hour, t.minute) for t in local] == [(9, 0)] * 5
    assert [r.astimezone(UTC).hour for r in runs] == utc_hours
    assert len({t.date() for t in local}) == 5  # one a day: never twice, never skipped


def test_weekly_uses_weekday_names() -> None:
    runs = fires(sub(cadence="weekly", weekday="mon"), datetime(2026, 11, 25, tzinfo=UTC), 3)
    assert [r.date().isoformat() for r in runs] == ["2026-11-30", "2026-12-07", "2026-12-14"]


def test_last_fire_time() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    s = sub()
    assert last_fire_time(s, datetime(2026, 11, 25, 9, 30, tzinfo=zone)) == datetime(2026, 11, 25, 9, 0, tzinfo=zone)
    assert last_fire_time(s, datetime(2026, 11, 25, 8, 59, tzinfo=zone)) == datetime(2026, 11, 24, 9, 0, tzinfo=zone)


@pytest.fixture
def runtime(dispatcher: Dispatcher, store: Store):
    adapter = RecordingAdapter()
    outbox = Outbox(store)
    now = {"t": datetime(2026, 11, 25, 9, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai"))}
    rt = Runtime(dispatcher, outbox, Deliverer(outbox, {"slack": adapter}), clock=lambda: now["t"])
    install(rt)
    with store.session() as s, s.begin():
        s.add(sub(id=None))
    return rt, adapter, now


async def test_the_digest_is_enqueued_once_per_day(runtime) -> None:
    rt, adapter, now = runtime
    assert await run_subscription(1) == "enqueued"
    assert await run_subscription(1) == "duplicate"
    both = await asyncio.gather(run_subscription(1), run_subscription(1))
    assert both == ["duplicate", "duplicate"]
    await rt.deliverer.run_once()
    assert len(adapter.sent) == 1
    assert rt.outbox.get("digest:1:2026-11-25").status == "sent"


async def test_a_fan_out_builds_each_distinct_digest_once(runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, adapter, now = runtime
    with rt.outbox.store.session() as s, s.begin():
        for i in range(2, 7):
            s.add(sub(id=None, chat=f"slack:C{i}"))
    builds = []
    real = sched.build_digest

    async def counting(*args, **kwargs):
        builds.append(args[1])
        return await real(*args, **kwargs)

    monkeypatch.setattr(sched, "build_digest", counting)
    assert await asyncio.gather(*(run_subscription(i) for i in range(1, 7))) == ["enqueued"] * 6
    assert len(builds) == 1  # six jobs started together, one build
    await rt.deliverer.run_once()
    assert len(adapter.sent) == 6


async def test_a_run_missed_while_down_goes_out_within_grace_and_not_after(runtime) -> None:
    rt, adapter, now = runtime
    now["t"] = datetime(2026, 11, 25, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # 5 h late: within grace
    assert await run_subscription(1) == "enqueued"
    now["t"] = datetime(2026, 11, 26, 2, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the next night: stale
    assert await run_subscription(1) == "stale"
    assert [i.key for i in rt.outbox.recent()] == ["digest:1:2026-11-25"]


async def test_paused_subscriptions_do_not_run(runtime, store: Store) -> None:
    with store.session() as s, s.begin():
        s.get(Subscription, 1).paused = True
    assert await run_subscription(1) == "paused"


async def test_waiting_for_complete_data(runtime, store: Store, clock) -> None:
    rt, adapter, now = runtime
    # the demo shop ends on 2026-11-24: on the 26th, "yesterday" (the 25th) has no orders yet
    clock.now = datetime(2026, 11, 26, 9, 0)
    now["t"] = datetime(2026, 11, 26, 9, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    with store.session() as s, s.begin():
        s.get(Subscription, 1).wait_until = "11:00"
    assert await run_subscription(1) == "waiting"
    now["t"] = datetime(2026, 11, 26, 11, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    fire = datetime(2026, 11, 26, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    # at the deadline it goes out anyway, saying plainly that the data is missing
    assert await sched.run_waiting(1, fire.isoformat()) == "enqueued"
    item = rt.outbox.get("digest:1:2026-11-26")
    assert item.payload["data"]["data_status"] == "missing"
    assert "No orders have arrived" in item.payload["text"][0]


async def test_late_data_edits_the_posted_digest(runtime, demo_warehouse, monkeypatch) -> None:
    rt, adapter, now = runtime
    await run_subscription(1)
    await rt.deliverer.run_once()
    fire = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert await sched.refresh_digest(1, fire.isoformat()) == "unchanged"
    # late rows arrive: yesterday's numbers move
    real = demo_warehouse.aggregate

    def grown(measures, start, end, by=None, filters=()):  # type: ignore[no-untyped-def]
        frame = real(measures, start, end, by, filters)
        if "gmv" in frame:
            frame["gmv"] = frame["gmv"] * 1.1
        return frame

    monkeypatch.setattr(demo_warehouse, "aggregate", grown)
    assert await sched.refresh_digest(1, fire.isoformat()) == "edited"
    [(sent, edited)] = adapter.edits
    assert sent.message_id == "m1" and "Updated" in edited.text[0]
    assert len(adapter.sent) == 1  # edited in place, never a second post


async def test_two_instances_one_scheduler(dispatcher: Dispatcher, store: Store, tmp_path) -> None:
    url = str(store.engine.url)
    outbox = Outbox(store)
    a = Scheduler(dispatcher, outbox, Deliverer(outbox, {}), url, instance="a", lease_seconds=30)
    b = Scheduler(dispatcher, outbox, Deliverer(outbox, {}), url, instance="b", lease_seconds=30)
    assert a.try_lease() is True
    assert b.try_lease() is False
    assert a.try_lease() is True  # renewing
    # a dies: its lease runs out and b takes over
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=31)
    assert b.try_lease(now=later) is True
    assert a.try_lease(now=later) is False


async def test_apscheduler_runs_a_missed_job_on_restart(dispatcher: Dispatcher, store: Store) -> None:
    """Real APScheduler with its job store in the state database: a run that came due while
    opsbot was down fires once when it starts (coalesced), within the grace period."""
    url = str(store.engine.url)
    adapter = RecordingAdapter()
    outbox = Outbox(store)
    deliverer = Deliverer(outbox, {"slack": adapter})
    # choose a zone where it is mid-morning now, so "10 minutes ago" is the same local day
    utc_now = datetime.now(UTC)
    offset = (10 - utc_now.hour) % 24
    offset = offset - 24 if offset > 14 else offset
    zone = f"Etc/GMT{-offset:+d}" if offset else "UTC"
    local = utc_now.astimezone(ZoneInfo(zone))
    due = (local - timedelta(minutes=10)).replace(second=0, microsecond=0)
    with store.session() as s, s.begin():
        s.add(sub(id=None, timezone=zone, at=due.strftime("%H:%M")))
    first = Scheduler(dispatcher, outbox, deliverer, url, instance="first")
    await first.start()
    await asyncio.sleep(0.3)
    assert first.aps is not None
    # simulate the downtime: the stored job was due 10 minutes ago
    job = first.aps.get_job("sub:1")
    job.modify(next_run_time=due)
    first.aps.pause()
    await first.stop()
    second = Scheduler(dispatcher, outbox, deliverer, url, instance="second", lease_seconds=60)
    await asyncio.to_thread(second.release_lease)
    await second.start()
    for _ in range(100):
        if adapter.sent:
            break
        await asyncio.sleep(0.1)
    await second.stop()
    assert len(adapter.sent) == 1
    assert outbox.get(f"digest:1:{due.date().isoformat()}").status == "sent"


def test_config_digests_become_subscriptions_once(tmp_path, store: Store) -> None:
    from sqlalchemy import select

    from bot.config import load_settings
    from bot.run import sync_config_subscriptions

    cfg = tmp_path / "opsbot.toml"
    cfg.write_text('[[digest]]\nchat = "slack:COPS"\nat = "09:00"\nmetrics = ["gmv"]\n'
                   '[[digest]]\nchat = "slack:COPS"\ncadence = "weekly"\nweekday = "mon"\nat = "8:30"\n')
    settings = load_settings(cfg)
    sync_config_subscriptions(settings, store)
    sync_config_subscriptions(settings, store)  # a restart: nothing doubles
    with store.session() as s:
        subs = s.scalars(select(Subscription).order_by(Subscription.id)).all()
        assert [(x.cadence, x.weekday, x.at, x.metrics) for x in subs] == [
            ("daily", None, "09:00", ["gmv"]), ("weekly", "mon", "08:30", [])]
    cfg.write_text('[[digest]]\nchat = "slack:COPS"\nat = "09:00"\nmetrics = ["orders"]\n')
    sync_config_subscriptions(load_settings(cfg), store)
    with store.session() as s:
        subs = s.scalars(select(Subscription)).all()
        assert [(x.cadence, x.metrics) for x in subs] == [("daily", ["orders"])]


def test_bad_config_digest_is_refused(tmp_path) -> None:
    from bot.config import load_settings
    from bot.errors import ConfigError

    cfg = tmp_path / "opsbot.toml"
    cfg.write_text('[[digest]]\nchat = "slack:COPS"\nat = "01:00"\n')
    with pytest.raises(ConfigError, match="digest.0.at"):
        load_settings(cfg)


async def test_the_daily_scan_pushes_alerts_through_the_outbox(runtime, store: Store, demo_shop) -> None:
    """The scheduled scan of yesterday: alerts for the subscribed chat, one grouped message, buttons on it."""
    from bot.delivery.scheduler import run_alert_scan

    rt, adapter, now = runtime
    drop = demo_shop.labels[(demo_shop.labels.metric == "orders") & (demo_shop.labels.dimension == "channel")].iloc[0]
    # the morning after the injected drop
    now["t"] = datetime.combine(drop["day"] + timedelta(days=1), datetime.min.time()).replace(
        hour=7, minute=30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert (await run_alert_scan()).startswith("queued 1")
    await rt.deliverer.run_once()
    [(chat, reply)] = adapter.sent
    assert str(chat) == "slack:COPS"
    assert any(f"channel={drop['value']}" in a["series"] for a in reply.data["alerts"])
    assert any(a.command.startswith("ack ") for a in reply.actions)
    # a second run the same morning (a restart) posts nothing new
    await run_alert_scan()
    await rt.deliverer.run_once()
    assert len(adapter.sent) == 1
