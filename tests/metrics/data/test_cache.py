"""The answer cache (metrics/data/cache.py): kept while the data is unchanged, never across scopes,
dropped when an embedded database's file changes or the lifetime is over."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event

from bot.context import ChatRef
from metrics.cohorts import cohort_window, retention
from metrics.data.cache import ResultCache
from metrics.data.load import write_shop
from metrics.data.sample import ShopSpec
from metrics.data.schema import Mapping
from metrics.data.warehouse import Warehouse
from metrics.segments import segment_report
from tests.conftest import rounded
from tests.metrics.test_segments import AS_OF, hand_made_shop


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_kept_while_the_version_is_the_same() -> None:
    clock = FakeClock()
    cache = ResultCache(ttl=60, clock=clock)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute("k", "v1", compute) == 1
    assert cache.get_or_compute("k", "v1", compute) == 1
    assert cache.get_or_compute("k", "v2", compute) == 2  # the data changed
    clock.now += 61
    assert cache.get_or_compute("k", "v2", compute) == 3  # too old
    assert cache.get_or_compute("other", "v2", compute) == 4
    clock.now += 40
    cache.drop_older_than(30)
    assert cache.get_or_compute("other", "v2", compute) == 5  # dropped by a warm-up
    assert ResultCache(ttl=0).get_or_compute("k", None, compute) == 6  # 0: never kept
    assert ResultCache(ttl=0).get_or_compute("k", None, compute) == 7


def test_one_thread_computes_the_others_wait() -> None:
    cache = ResultCache(ttl=60)
    calls: list[int] = []
    gate = threading.Event()

    def compute() -> str:
        calls.append(1)
        gate.wait(5)
        return "answer"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", None, compute)))
               for _ in range(5)]
    for th in threads:
        th.start()
    time.sleep(0.2)
    gate.set()
    for th in threads:
        th.join(5)
    assert results == ["answer"] * 5 and len(calls) == 1


@pytest.fixture
def sqlite_shop(tmp_path: Path) -> Iterator[tuple[Warehouse, Path]]:
    path = tmp_path / "shop.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    write_shop(engine, hand_made_shop(), ShopSpec(end=AS_OF, days=1))
    engine.dispose()
    wh = Warehouse.from_url(f"sqlite:///{path}", Mapping.default())
    yield wh, path
    wh.engine.dispose()


def count_statements(wh: Warehouse) -> list[str]:
    seen: list[str] = []
    event.listen(wh.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_segments_are_kept_until_the_file_changes(sqlite_shop: tuple[Warehouse, Path]) -> None:
    wh, path = sqlite_shop
    statements = count_statements(wh)
    first = segment_report(wh, AS_OF)
    assert statements and first.counts["dormant"] == 2
    statements.clear()
    again = segment_report(wh, AS_OF)
    assert again is first and statements == []  # no SQL at all
    # an export still reads its customers (they are not kept), on top of the kept counts
    exported = segment_report(wh, AS_OF, keep_frame=True, only="dormant")
    assert sorted(exported.frame.customer_id.astype(int)) == [5, 8] and exported.counts == first.counts
    # a late order of dormant customer 5 arrives: the file changes, the answer with it
    time.sleep(0.01)  # a distinct modification time even on coarse clocks
    with sqlite3.connect(path) as con:
        con.execute("insert into orders (order_id, customer_id, ordered_at, amount, status, refunded_amount, channel,"
                    " category, region) values (100, 5, '2026-11-20 10:00:00', 30, 'completed', 0, 'search', 'shoes',"
                    " 'east')")
    statements.clear()
    changed = segment_report(wh, AS_OF)
    assert statements, "the changed file must be read again"
    assert changed.counts["dormant"] == 1 and changed.counts["active"] == 2


def test_scopes_never_share_answers(sqlite_shop: tuple[Warehouse, Path]) -> None:
    wh, _ = sqlite_shop
    everyone = segment_report(wh, AS_OF)
    nobody = segment_report(wh.scoped({"region": ("west",)}), AS_OF)  # every order is in the east
    assert everyone.customers == 9 and nobody.customers == 0
    assert segment_report(wh, AS_OF) is everyone


def test_retention_is_kept_and_refreshed_after_the_lifetime(sqlite_shop: tuple[Warehouse, Path]) -> None:
    wh, _ = sqlite_shop
    clock = FakeClock()
    wh.cache = ResultCache(ttl=60, clock=clock)
    statements = count_statements(wh)
    window = cohort_window("month", None, date(2026, 11, 25))
    first = retention(wh, window)
    statements.clear()
    assert retention(wh, window) is first and statements == []
    clock.now += 61
    assert retention(wh, window) == first and statements  # recomputed, same numbers


async def test_warm_readies_the_slow_answers(dispatcher, demo_warehouse: Warehouse) -> None:  # type: ignore[no-untyped-def]
    from handlers.warm import warm
    from tests.fakes.chat import Chat

    ctx = dispatcher.context_for(ChatRef("console", "scheduler"))
    assert await ctx.run(warm, ctx) == 1
    statements = count_statements(demo_warehouse)
    chat = Chat(dispatcher)
    kept = {text: await chat.send(text) for text in ("segments", "retention", "ltv")}
    assert statements == [], "warm() must have computed exactly what the commands ask"
    demo_warehouse.cache.clear()
    for text, reply in kept.items():
        fresh = await chat.send(text)
        # the same numbers, to the last few bits a parallel sum may add in another order
        assert rounded(fresh.data) == rounded(reply.data), text
    assert statements
