"""What instances share through the state database (bot/state/shared.py): each test opens two `Store`s
(or two dispatchers, two warehouses) on one database, as two processes would, and checks they
behave as one: an event is taken once, a rate limit is counted once, a slow answer computed by
one is served by the other, an outage is told to the admins once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import build_dispatcher
from bot.config import Settings
from bot.context import ChatRef, Incoming
from bot.delivery.outbox import Outbox
from bot.delivery.source_watch import SourceWatch
from bot.dispatch import Dispatcher
from bot.state.shared import (
    BUTTON_TOKEN_DAYS,
    ButtonTokens,
    SeenEvents,
    SharedRateLimiter,
    StateAnswers,
    prune,
)
from bot.state.store import ButtonToken, KeptAnswer, OutboxItem, RateWindow, SeenEvent, Store, utcnow
from metrics import cohorts as co
from metrics import segments as seg
from metrics.data.cache import ResultCache, decode, digest, encode
from metrics.data.warehouse import Warehouse
from tests.conftest import TODAY, Clock


@pytest.fixture
def twin(store: Store) -> Iterator[Store]:
    """A second Store on the same state database: what another instance holds."""
    other = Store(str(store.engine.url.render_as_string(hide_password=False)))
    yield other
    other.dispose()


# ---- Slack event ids ---------------------------------------------------------------------------


def test_an_event_is_taken_once_by_all_instances(store: Store, twin: Store) -> None:
    one, two = SeenEvents(store), SeenEvents(twin)
    assert one.first_time("slack:Ev1")
    assert not two.first_time("slack:Ev1")  # the other instance (the defect: each had its own memory)
    assert not one.first_time("slack:Ev1")  # a redelivery to the same one
    assert two.first_time("slack:Ev2")
    assert one.first_time(None) and one.first_time("")  # nothing to dedupe on: answered


def test_concurrent_deliveries_of_one_event_are_taken_once(store: Store, twin: Store) -> None:
    seen = [SeenEvents(s) for s in (store, twin)]
    results: list[bool] = []
    start = threading.Barrier(8)

    def deliver(i: int) -> None:
        start.wait()
        results.append(seen[i % 2].first_time("slack:EvRace"))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == [False] * 7 + [True]


# ---- rate limits -------------------------------------------------------------------------------


class Tick:
    def __init__(self, at: float = 1_000_000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_the_moving_window_is_one_for_both_instances(store: Store, twin: Store) -> None:
    clock = Tick()
    one, two = SharedRateLimiter(store, clock), SharedRateLimiter(twin, clock)
    hits = []
    for i, limiter in enumerate([one, two, one]):
        clock.at = 1_000_000.0 + 10 * i  # at 0 s, 10 s, 20 s
        hits.append(limiter.hit("user:slack:UA", 3))
    assert hits == [None, None, None]
    clock.at = 1_000_030.0
    # the fourth in the minute is refused on either; it waits until the first (at 0 s) leaves the window
    assert two.hit("user:slack:UA", 3) == pytest.approx(30.0)
    assert one.hit("user:slack:UA", 3) == pytest.approx(30.0)  # a refusal is not counted
    clock.at = 1_000_060.5
    assert two.hit("user:slack:UA", 3) is None  # 0 s has left; 10 s, 20 s and now are in
    assert one.hit("user:slack:UA", 3) == pytest.approx(9.5)  # until 10 s leaves
    assert one.hit("user:slack:UB", 3) is None  # another key has its own window


def test_concurrent_hits_are_counted_exactly(store: Store, twin: Store) -> None:
    """Twenty hits at once from two instances' threads: exactly the limit get through."""
    limiters = [SharedRateLimiter(s) for s in (store, twin)]
    allowed: list[bool] = []
    start = threading.Barrier(20)

    def hit(i: int) -> None:
        start.wait()
        allowed.append(limiters[i % 2].hit("chat:slack:CRACE", 7) is None)

    threads = [threading.Thread(target=hit, args=(i,)) for i in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert allowed.count(True) == 7
    with store.session() as s:
        assert len(s.scalar(select(RateWindow.hits).where(RateWindow.key == "chat:slack:CRACE")) or []) == 7


def _bot(settings: Settings, warehouse: Warehouse, clock: Clock, store: Store, per_minute: int) -> Dispatcher:
    limited = settings.model_copy(update={
        "access": settings.access.model_copy(update={"chats": ("slack:COPS",)}),
        "limits": settings.limits.model_copy(update={"user_per_minute": per_minute, "chat_per_minute": 100}),
    })
    return build_dispatcher(limited, warehouse, clock=clock, store=store)


async def test_commands_spread_over_two_dispatchers_meet_one_limit(
    demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store, twin: Store
) -> None:
    bots = [_bot(demo_settings, demo_warehouse, clock, s, 5) for s in (store, twin)]
    errors = []
    for i in range(8):
        reply = await bots[i % 2].dispatch(Incoming(text="help", chat=ChatRef("slack", "COPS"), user="slack:UALICE"))
        errors.append(reply.data.get("error") if reply.error else None)
    # one process would answer 5 and refuse 3; two per-process limits would have answered all 8
    assert errors == [None] * 5 + ["rate_limited_user"] * 3


async def test_the_limit_holds_per_process_while_the_state_database_fails(
    demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store
) -> None:
    bot = _bot(demo_settings, demo_warehouse, clock, store, 2)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("drop table rate_windows")  # every hit now fails in SQL
    errors = []
    for _ in range(3):
        reply = await bot.dispatch(Incoming(text="help", chat=ChatRef("slack", "COPS"), user="slack:UALICE"))
        errors.append(reply.data.get("error") if reply.error else None)
    assert errors == [None, None, "rate_limited_user"]


# ---- button tokens -----------------------------------------------------------------------------


def test_button_tokens_are_found_by_another_instance(store: Store, twin: Store) -> None:
    ButtonTokens(store).save({"#abc": "kpi gmv orders aov by channel where region=east"})
    ButtonTokens(store).save({"#abc": "kpi gmv orders aov by channel where region=east"})  # kept twice: fine
    assert ButtonTokens(twin).find("#abc") == "kpi gmv orders aov by channel where region=east"
    assert ButtonTokens(twin).find("#never") is None


# ---- kept answers ------------------------------------------------------------------------------


def _instance(settings: Settings, store: Store) -> Warehouse:
    wh = Warehouse.from_url(settings.warehouse_url(), settings.mapping())
    wh.cache = ResultCache(shared=StateAnswers(store))
    return wh


def test_a_slow_answer_computed_on_one_instance_is_served_by_the_other(
    demo_settings: Settings, store: Store, twin: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = _instance(demo_settings, store), _instance(demo_settings, twin)
    try:
        report = seg.segment_report(one, TODAY)
        assert one.cache.misses == 1
        # the other instance must not touch the warehouse for it
        monkeypatch.setattr(seg, "combinations_query", lambda *a, **k: pytest.fail("recomputed"))
        served = seg.segment_report(two, TODAY)
        assert served == report and two.cache.misses == 0 and two.cache.hits == 1
    finally:
        one.engine.dispose()
        two.engine.dispose()


def test_retention_and_ltv_travel_intact(demo_settings: Settings, store: Store, twin: Store) -> None:
    one, two = _instance(demo_settings, store), _instance(demo_settings, twin)
    try:
        window = co.cohort_window("month", None, TODAY, 4)
        tables = [co.retention(one, window), co.ltv(one, window, 3)]
        assert [co.retention(two, window), co.ltv(two, window, 3)] == tables
        assert two.cache.misses == 0 and two.cache.hits == 2
    finally:
        one.engine.dispose()
        two.engine.dispose()


def test_a_kept_answer_of_other_data_or_too_old_is_not_served(store: Store, twin: Store) -> None:
    wall = Tick()
    one = ResultCache(ttl=600, shared=StateAnswers(store), wall=wall)
    assert one.get_or_compute("k", ("v", 1), lambda: {"n": 1}, shared=True) == {"n": 1}
    two = ResultCache(ttl=600, shared=StateAnswers(twin), wall=wall)
    assert two.get_or_compute("k", ("v", 2), lambda: {"n": 2}, shared=True) == {"n": 2}  # data changed
    three = ResultCache(ttl=600, shared=StateAnswers(twin), wall=wall)
    assert three.get_or_compute("k", ("v", 2), lambda: pytest.fail("recomputed"), shared=True) == {"n": 2}
    wall.at += 601
    four = ResultCache(ttl=600, shared=StateAnswers(twin), wall=wall)
    assert four.get_or_compute("k", ("v", 2), lambda: {"n": 3}, shared=True) == {"n": 3}  # expired
    # not shared unless asked: the cheap answers stay in each process
    five = ResultCache(ttl=600, shared=StateAnswers(twin), wall=wall)
    five.get_or_compute("cheap", None, lambda: 1)
    with store.session() as s:
        assert s.get(KeptAnswer, digest("cheap")) is None


def test_the_warm_up_recomputes_what_it_dropped_even_if_shared(store: Store) -> None:
    wall = Tick()
    cache = ResultCache(ttl=600, clock=wall, shared=StateAnswers(store), wall=wall)
    cache.get_or_compute("k", None, lambda: 1, shared=True)
    wall.at += 400
    cache.drop_older_than(300)  # handlers/warm.py: older than half the ttl is recomputed
    assert cache.get_or_compute("k", None, lambda: 2, shared=True) == 2


def test_the_codec_builds_only_answer_types() -> None:
    value = {"d": datetime(2026, 11, 1, 8), "t": (1, 2.5, None), 3: "int key", "l": [TODAY]}
    assert decode(encode(value)) == value
    with pytest.raises(TypeError):
        encode(object())
    with pytest.raises(TypeError):
        encode(Path("/etc/passwd"))
    forged = '{"§":"dataclass","t":"subprocess:Popen","v":{"args":"true"}}'
    with pytest.raises(ValueError):
        decode(forged)
    with pytest.raises(ValueError):
        decode('{"§":"dataclass","t":"metrics.cohorts:os.system","v":{}}')


def test_an_answer_the_codec_cannot_carry_is_still_answered(store: Store) -> None:
    cache = ResultCache(shared=StateAnswers(store))
    value = {"path": Path("x")}
    assert cache.get_or_compute("p", None, lambda: value, shared=True) is value
    with store.session() as s:
        assert s.scalars(select(KeptAnswer)).all() == []


# ---- housekeeping ------------------------------------------------------------------------------


def test_housekeeping_prunes_what_is_past_its_use(store: Store) -> None:
    now = utcnow()
    with store.session() as s, s.begin():
        s.add_all([
            SeenEvent(key="old", seen_at=now - timedelta(days=3)), SeenEvent(key="new", seen_at=now),
            ButtonToken(token="#old", payload="x", created_at=now - timedelta(days=BUTTON_TOKEN_DAYS + 1)),
            ButtonToken(token="#new", payload="x", created_at=now - timedelta(days=BUTTON_TOKEN_DAYS - 1)),
            RateWindow(key="idle", hits=[1.0], updated_at=now - timedelta(minutes=5)),
            RateWindow(key="busy", hits=[1.0], updated_at=now),
            KeptAnswer(key="old", version="null", computed_at=now - timedelta(hours=2), value="1"),
            KeptAnswer(key="new", version="null", computed_at=now, value="1"),
        ])
    removed = prune(store, now, timedelta(minutes=30))
    assert removed == {"seen_events": 1, "button_tokens": 1, "rate_windows": 1, "kept_answers": 1}
    with store.session() as s:
        assert s.scalars(select(SeenEvent.key)).all() == ["new"]
        assert s.scalars(select(ButtonToken.token)).all() == ["#new"]
        assert s.scalars(select(RateWindow.key)).all() == ["busy"]
        assert s.scalars(select(KeptAnswer.key)).all() == ["new"]


# ---- admins told once ----------------------------------------------------------------------------


def test_two_instances_seeing_one_outage_tell_the_admins_once(
    demo_settings: Settings, store: Store, twin: Store
) -> None:
    settings = demo_settings.model_copy(update={
        "access": demo_settings.access.model_copy(update={"admin_chat": "slack:CADMIN"})})
    down = datetime.fromisoformat("2026-11-25T09:03:00+00:00")
    watches = [SourceWatch(settings, s, clock=lambda: down) for s in (store, twin)]
    for watch in watches:
        watch.failed("connection refused")
    later = down + timedelta(minutes=4)
    for watch in watches:
        watch.clock = lambda: later
        watch.answered()
    with store.session() as s:
        keys = sorted(s.scalars(select(OutboxItem.key)).all())
    assert keys == ["source-back:2026-11-25T09:00:00+00:00", "source-down:2026-11-25T09:00:00+00:00"]
    assert Outbox(store).counts() == {"pending": 2}
