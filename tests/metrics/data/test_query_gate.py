"""Statement timeout and the cap on concurrent queries: one heavy question cannot stall everyone."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.app import build_dispatcher
from bot.config import Settings
from bot.context import ChatRef, Incoming
from metrics.data.schema import Mapping
from metrics.data.warehouse import QueryGate, Warehouse
from metrics.errors import QueryTimeout, WarehouseBusy
from tests.conftest import NOW, PG_URL, Clock

# each one runs for minutes unless stopped
SLOW = {
    "duckdb": "select sum(a.range * b.range) from range(200000000) a, range(100000) b",
    "sqlite": "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n",
    "postgresql": "select pg_sleep(60)",
}


def urls(tmp: Path) -> list[tuple[str, str]]:
    out = [("duckdb", f"duckdb:///{tmp / 'w.duckdb'}"), ("sqlite", f"sqlite:///{tmp / 'w.db'}")]
    return out + ([("postgresql", PG_URL)] if PG_URL else [])


@pytest.mark.parametrize("engine", ["duckdb", "sqlite", "postgresql"])
def test_a_runaway_query_is_stopped_and_the_warehouse_keeps_answering(engine: str, tmp_path: Path) -> None:
    url = dict(urls(tmp_path)).get(engine)
    if url is None:
        pytest.skip("needs PostgreSQL")
    wh = Warehouse(create_engine(url), Mapping.default(), gate=QueryGate(timeout=0.5))
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as caught, wh.connect() as conn:
        conn.execute(text(SLOW[engine])).all()
    assert time.monotonic() - started < 10
    assert caught.value.key == "query_timeout" and caught.value.params == {"seconds": "0.5"}
    with wh.connect() as conn:  # the next question gets a healthy connection
        assert conn.execute(text("select 41 + 1")).scalar() == 42
    wh.engine.dispose()


def test_when_every_slot_is_taken_a_question_waits_then_is_told_busy(tmp_path: Path) -> None:
    wh = Warehouse(create_engine(f"sqlite:///{tmp_path / 'w.db'}"), Mapping.default(),
                   gate=QueryGate(max_concurrent=2, queue_seconds=0.3))
    release, holding = threading.Event(), threading.Barrier(3)

    def hold() -> None:
        with wh.connect():
            holding.wait()
            release.wait(5)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    holding.wait()
    started = time.monotonic()
    with pytest.raises(WarehouseBusy) as caught, wh.connect():
        pass
    assert time.monotonic() - started >= 0.3 and caught.value.params == {"limit": 2}
    # a scoped view shares the same slots
    with pytest.raises(WarehouseBusy), wh.scoped({"region": ("east",)}).connect():
        pass
    release.set()
    for t in threads:
        t.join()
    with wh.connect() as conn:
        assert conn.execute(text("select 1")).scalar() == 1


async def test_a_heavy_question_gets_a_friendly_reply_and_others_still_answer(tmp_path: Path, demo_url: str,
                                                                             backend: str) -> None:
    if backend != "embedded" or not demo_url.startswith("duckdb"):
        pytest.skip("the slow view below is DuckDB SQL")
    # an admin's config query that is far too slow: every orders row joined to 10^6 numbers
    heavy = "select o.* from orders o, range(1000000) r where r.range * 0 = 0 and o.amount >= 0"
    settings = Settings.model_validate({
        "warehouse": {"url": demo_url, "tables": {"orders": {"query": heavy}}},
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "limits": {"query_timeout_seconds": 1},
    })
    bot = build_dispatcher(settings, clock=Clock(NOW))
    started = time.monotonic()
    reply = await bot.dispatch(Incoming("kpi gmv last 365d", ChatRef.parse("console:local"), "console:local"))
    assert time.monotonic() - started < 20
    assert reply.data["error"] == "query_timeout"
    assert "ran longer than 1 s" in reply.plain_text() and "select" not in reply.plain_text().lower()
    # traffic is not behind the slow query: the same warehouse answers at once
    quick = await bot.dispatch(Incoming("kpi sessions yesterday", ChatRef.parse("console:local"), "console:local"))
    assert not quick.error and quick.data["metrics"]["sessions"]["value"] > 0
    bot.services.warehouse.engine.dispose()


async def test_a_question_past_duckdbs_memory_limit_says_so(tmp_path: Path, demo_url: str, backend: str) -> None:
    if backend != "embedded" or not demo_url.startswith("duckdb"):
        pytest.skip("DuckDB's memory limit")
    settings = Settings.model_validate({
        "warehouse": {"url": demo_url, "memory_limit": "1MB"},
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
    })
    bot = build_dispatcher(settings, clock=Clock(NOW))
    reply = await bot.dispatch(Incoming("segments", ChatRef.parse("console:local"), "console:local"))
    assert reply.data["error"] == "warehouse_memory", reply.plain_text()
    assert "1MB" in reply.plain_text() and "memory_limit" in reply.plain_text()
    assert "incident" not in reply.plain_text()
    bot.services.warehouse.engine.dispose()
