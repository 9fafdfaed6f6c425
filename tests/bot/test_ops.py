"""The operating surface: /healthz, /readyz and /metrics over real HTTP, and the scheduler's hooks."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.base import DeliveryError
from bot.context import ChatRef, Incoming
from bot.delivery.outbox import Deliverer, Outbox
from bot.delivery.scheduler import Scheduler
from bot.dispatch import Dispatcher
from bot.ops import OpsMetrics, OpsServer, readiness_checks, select_one
from bot.reply import Reply
from metrics.data.warehouse import Warehouse
from tests.fakes.recording import RecordingAdapter


@pytest.fixture
def metrics(dispatcher: Dispatcher) -> OpsMetrics:
    m = OpsMetrics()
    dispatcher.observers.append(m.observe_command)
    m.watch_outbox(Outbox(dispatcher.services.store).counts)
    return m


async def running(server: OpsServer) -> str:
    await server.start()
    assert server.port  # port 0 asked the OS for a free one
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def ops(dispatcher: Dispatcher, metrics: OpsMetrics) -> AsyncIterator[tuple[OpsServer, str]]:
    server = OpsServer(metrics, readiness_checks(dispatcher.services), port=0)
    base = await running(server)
    yield server, base
    await server.stop()


async def get(url: str) -> tuple[int, Any, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.text()
        parsed = await response.json() if response.content_type == "application/json" else None
        return response.status, parsed, body


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called `name` in an exposition, keyed by their sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- health --------------------------------------------------------------------------------------


async def test_liveness_and_readiness(ops: tuple[OpsServer, str]) -> None:
    server, base = ops
    assert await get(f"{base}/healthz") == (200, {"status": "ok"}, '{"status": "ok"}')
    for path in ("/readyz", "/healthz?ready=1"):
        status, body, _ = await get(base + path)
        assert status == 200
        assert body == {"status": "ok", "checks": {"warehouse": "ok", "state": "ok"}}
    server.draining = True  # shutting down: the load balancer should stop sending work
    status, body, _ = await get(f"{base}/readyz")
    assert (status, body["failed"]) == (503, ["shutting_down"])
    assert (await get(f"{base}/healthz"))[0] == 200  # but alive


@pytest.mark.parametrize("where", ["closed port", "missing file"])
async def test_readiness_names_the_failing_check(dispatcher: Dispatcher, metrics: OpsMetrics, tmp_path: Path,
                                                 where: str) -> None:
    url = (f"postgresql+psycopg://opsbot:hunter2@127.0.0.1:{closed_port()}/shop" if where == "closed port"
           else f"duckdb:///{tmp_path / 'gone' / 'shop.duckdb'}")
    broken = Warehouse.from_url(url, dispatcher.services.warehouse.mapping)
    checks = readiness_checks(dispatcher.services)
    checks["warehouse"] = lambda: select_one(broken.engine)
    server = OpsServer(metrics, checks, port=0)
    base = await running(server)
    try:
        status, body, raw = await get(f"{base}/readyz")
    finally:
        await server.stop()
        broken.engine.dispose()
    assert status == 503
    assert body == {"status": "unavailable", "failed": ["warehouse"], "checks": {"warehouse": "failed", "state": "ok"}}
    assert "hunter2" not in raw and "127.0.0.1" not in raw and "gone" not in raw  # named, never explained


async def test_a_hanging_check_times_out(metrics: OpsMetrics) -> None:
    calls = []

    def hangs() -> None:
        calls.append(1)
        time.sleep(2)

    server = OpsServer(metrics, {"warehouse": hangs, "state": lambda: None}, port=0, check_timeout=0.2)
    base = await running(server)
    try:
        started = time.monotonic()
        status, body, _ = await get(f"{base}/healthz?ready=1")
        assert time.monotonic() - started < 1.5
        # a second probe waits for the same hanging check instead of piling up another
        assert (await get(f"{base}/readyz"))[0] == 503
        assert len(calls) == 1
    finally:
        await server.stop()
    assert (status, body["checks"]) == (503, {"warehouse": "timeout", "state": "ok"})


# ---- metrics -------------------------------------------------------------------------------------


async def test_metrics_count_commands_by_name_and_outcome(dispatcher: Dispatcher, ops: tuple[OpsServer, str]) -> None:
    _, base = ops
    for text in ("help", "kpi gmvv", "no-such-command"):
        await dispatcher.dispatch(Incoming(text=text, chat=ChatRef("console", "local"), user="console:local"))
    await dispatcher.dispatch(Incoming(text="help", chat=ChatRef("slack", "CNOTALLOWED"), user="slack:UEVE"))
    status, _, text = await get(f"{base}/metrics")
    assert status == 200
    assert samples(text, "opsbot_commands_total") == {
        (("command", "help"), ("outcome", "ok")): 1.0,
        (("command", "kpi"), ("outcome", "user_error")): 1.0,
        (("command", "unknown"), ("outcome", "user_error")): 1.0,
        (("command", "help"), ("outcome", "refused")): 1.0,
    }
    counts = samples(text, "opsbot_command_seconds_count")
    assert counts[(("command", "help"),)] == 2.0 and counts[(("command", "kpi"),)] == 1.0


async def test_outbox_gauge_and_delivery_counter(dispatcher: Dispatcher, metrics: OpsMetrics,
                                                 ops: tuple[OpsServer, str]) -> None:
    _, base = ops
    outbox = Outbox(dispatcher.services.store)
    adapter = RecordingAdapter()
    deliverer = Deliverer(outbox, {"slack": adapter}, max_attempts=1)
    deliverer.observers.append(metrics.observe_delivery)
    for key in ("a", "b", "c"):
        outbox.enqueue(f"test:{key}", ChatRef("slack", f"C{key.upper()}"), Reply(title=key))
    _, _, text = await get(f"{base}/metrics")
    assert samples(text, "opsbot_outbox_items") == {
        (("status", "pending"),): 3.0, (("status", "sending"),): 0.0,
        (("status", "sent"),): 0.0, (("status", "failed"),): 0.0,
    }
    adapter.fail_next(DeliveryError("channel_not_found", permanent=True), chat="slack:CB")
    await deliverer.run_once()
    _, _, text = await get(f"{base}/metrics")
    gauge = samples(text, "opsbot_outbox_items")
    assert (gauge[(("status", "sent"),)], gauge[(("status", "failed"),)], gauge[(("status", "pending"),)]) == (2, 1, 0)
    assert samples(text, "opsbot_deliveries_total") == {
        (("outcome", "sent"), ("platform", "slack")): 2.0,
        (("outcome", "failed"), ("platform", "slack")): 1.0,
    }


def test_metrics_survive_a_state_database_that_is_down() -> None:
    m = OpsMetrics()

    def down() -> dict[str, int]:
        raise ConnectionError("state database down")

    m.watch_outbox(down)
    m.observe_command("help", "ok", 0.01)
    body, content_type = m.exposition()
    assert content_type.startswith("text/plain")
    text = body.decode()
    assert "opsbot_outbox_items" not in text
    assert samples(text, "opsbot_commands_total") == {(("command", "help"), ("outcome", "ok")): 1.0}


# ---- the scheduler's hooks: job lag, scan time, and jobs finishing before stop ----------------------


progress: dict[str, str] = {}


async def slow_job(name: str, seconds: float) -> None:
    """A job for the real APScheduler (stored by reference, so module level)."""
    progress[name] = "running"
    await asyncio.sleep(seconds)
    progress[name] = "done"


async def started_scheduler(dispatcher: Dispatcher) -> Scheduler:
    outbox = Outbox(dispatcher.services.store)
    url = dispatcher.services.store.engine.url.render_as_string(hide_password=False)
    scheduler = Scheduler(dispatcher, outbox, Deliverer(outbox, {}), url, instance="ops-test")
    await scheduler.start()
    for _ in range(100):
        if scheduler.aps is not None:
            return scheduler
        await asyncio.sleep(0.05)
    raise AssertionError("the scheduler did not take its lease")


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_job_lag_and_scan_time_are_measured(dispatcher: Dispatcher, metrics: OpsMetrics) -> None:
    scheduler = await started_scheduler(dispatcher)
    scheduler.job_started.append(metrics.observe_job_start)
    scheduler.job_finished.append(metrics.observe_job_end)
    assert scheduler.aps is not None
    # the daily scan (registered by sync_jobs), made due 5 seconds ago: late by 5 s when it starts
    scheduler.aps.modify_job("alerts:scan", next_run_time=datetime.now(ZoneInfo("UTC")) - timedelta(seconds=5))
    scheduler.aps.wakeup()
    try:
        await wait_until(lambda: bool(samples(metrics.exposition()[0].decode(), "opsbot_anomaly_scan_seconds_count")
                                      .get(())), timeout=60)
    finally:
        await scheduler.stop()
    text = metrics.exposition()[0].decode()
    assert samples(text, "opsbot_anomaly_scan_seconds_count") == {(): 1.0}
    assert samples(text, "opsbot_scheduler_job_lag_seconds_count") == {(("job", "alerts"),): 1.0}
    lag = samples(text, "opsbot_scheduler_job_lag_seconds_sum")[(("job", "alerts"),)]
    assert 4.5 <= lag < 30


@pytest.mark.parametrize("timeout, outcome", [(5.0, "done"), (0.2, "running")])
async def test_stop_lets_running_jobs_finish_within_the_bound(dispatcher: Dispatcher, timeout: float,
                                                              outcome: str) -> None:
    scheduler = await started_scheduler(dispatcher)
    assert scheduler.aps is not None
    name = f"slow-{timeout}"
    scheduler.aps.add_job(slow_job, args=(name, 1.0), id=f"test:{name}")
    await wait_until(lambda: progress.get(name) == "running")
    started = time.monotonic()
    await scheduler.stop(timeout=timeout)
    assert progress[name] == outcome  # finished, or cancelled at the deadline
    assert time.monotonic() - started < min(timeout, 1.0) + 1.0
