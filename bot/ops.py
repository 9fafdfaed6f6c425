"""The operating surface of `opsbot run`: health checks and Prometheus metrics on a local port.

    GET /healthz             liveness: the event loop answers            200 {"status": "ok"}
    GET /readyz              readiness: warehouse and state database      200 {"status": "ok", "checks": {...}}
    GET /healthz?ready=1       answer `select 1` within CHECK_TIMEOUT,    503 {"status": "unavailable",
                               and each connection an adapter holds           "failed": ["warehouse"], ...}
                               (feishu, dingtalk) is open
    GET /metrics             Prometheus exposition format

A failed check is named, never explained: exception texts can hold hosts, SQL or
credentials, so they go (redacted) to the log only. While opsbot shuts down, readiness
answers 503 with "shutting_down", so a load balancer stops sending work first.

Metrics live in a registry of their own (`OpsMetrics.registry`), not prometheus_client's
global one, so tests can build as many as they like:

    opsbot_commands_total{command,outcome}       every dispatched command (outcome: ok, user_error,
                                                 refused, limited, unavailable, incident)
    opsbot_command_seconds{command}              histogram of dispatch time
    opsbot_deliveries_total{platform,outcome}    outbox sends: sent, retry, failed
    opsbot_outbox_items{status}                  gauge, counted in the state database at scrape time
    opsbot_scheduler_job_lag_seconds{job}        histogram: how late a scheduled job started (job kind:
                                                 sub, alerts, wait, refresh)
    opsbot_anomaly_scan_seconds                  histogram: run time of the daily anomaly scan
    opsbot_adapter_connected{platform}           gauge: 1 while a platform's connection (Feishu's long
                                                 connection, DingTalk's Stream) is open, else 0
    opsbot_replays_refused_total{platform,kind}  signed requests used a second time and refused (kind:
                                                 command, action, update), issue 23

`command` is a registered command name or "unknown", never the raw text, so label
cardinality stays bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.context import Services

__all__ = ["CHECK_TIMEOUT", "OUTBOX_STATUSES", "OpsMetrics", "OpsServer", "readiness_checks", "select_one"]

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0  # seconds a readiness check may take before it counts as failed
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed")
SCAN_JOB = "alerts:scan"

_COMMAND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LAG_BUCKETS = (0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0)
_SCAN_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class _OutboxGauge(Collector):
    """`opsbot_outbox_items{status}`, read from the state database when Prometheus scrapes."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily("opsbot_outbox_items", "Outbox items by status (state database, at scrape time).",
                                 labels=["status"])

    def describe(self) -> Iterable[Metric]:
        return [self._family()]  # so registering does not query the database

    def collect(self) -> Iterable[Metric]:
        try:
            counts = self._counts()
        except Exception:  # the state database being down must not break the whole scrape
            log.warning("metrics: could not count the outbox", exc_info=True)
            return []
        family = self._family()
        for status in (*OUTBOX_STATUSES, *sorted(set(counts) - set(OUTBOX_STATUSES))):
            family.add_metric([status], counts.get(status, 0))
        return [family]


class OpsMetrics:
    """opsbot's metrics, in a registry of its own; the observe methods are the hooks to register."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter("opsbot_commands", "Commands dispatched, by command and outcome.",
                                ["command", "outcome"], registry=self.registry)
        self.command_seconds = Histogram("opsbot_command_seconds", "Time to answer a command.", ["command"],
                                         buckets=_COMMAND_BUCKETS, registry=self.registry)
        self.deliveries = Counter("opsbot_deliveries", "Outbox delivery attempts, by platform and outcome.",
                                  ["platform", "outcome"], registry=self.registry)
        self.job_lag = Histogram("opsbot_scheduler_job_lag_seconds",
                                 "How late a scheduled job started after its scheduled time.", ["job"],
                                 buckets=_LAG_BUCKETS, registry=self.registry)
        self.scan_seconds = Histogram("opsbot_anomaly_scan_seconds", "Run time of the daily anomaly scan.",
                                      buckets=_SCAN_BUCKETS, registry=self.registry)
        self.replays = Counter("opsbot_replays_refused", "Signed requests used a second time, refused unrun.",
                               ["platform", "kind"], registry=self.registry)

    # ---- hooks (Dispatcher.observers, Deliverer.observers, Scheduler.job_started / job_finished) ----

    def observe_command(self, command: str, outcome: str, seconds: float) -> None:
        self.commands.labels(command=command, outcome=outcome).inc()
        self.command_seconds.labels(command=command).observe(seconds)

    def observe_delivery(self, platform: str, outcome: str) -> None:
        self.deliveries.labels(platform=platform, outcome=outcome).inc()

    def observe_replay(self, platform: str, kind: str) -> None:
        self.replays.labels(platform=platform, kind=kind).inc()

    def observe_job_start(self, job_id: str, late: float) -> None:
        # job ids name a subscription ("sub:12"): label by kind, or every chat would be a series
        self.job_lag.labels(job=job_id.partition(":")[0]).observe(late)

    def observe_job_end(self, job_id: str, seconds: float, ok: bool) -> None:
        if job_id == SCAN_JOB:
            self.scan_seconds.observe(seconds)

    def watch_outbox(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Count outbox items by status at every scrape (`Outbox.counts`)."""
        self.registry.register(_OutboxGauge(counts))

    def watch_adapters(self, adapters: Iterable[Any]) -> None:
        """Report, at every scrape, which adapters holding a connection have it open."""
        self.registry.register(_AdapterGauge([a for a in adapters if hasattr(a, "connected")]))

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics as Prometheus (or OpenMetrics, if asked for) text, and its content type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def select_one(engine: Engine) -> None:
    """The cheapest proof that a database answers."""
    with engine.connect() as conn:
        conn.execute(text("select 1")).scalar()


def readiness_checks(services: Services, adapters: Iterable[Any] = ()) -> dict[str, Callable[[], None]]:
    """What readiness needs: the warehouse and the state database answer `select 1`, and every
    adapter that holds a connection (Feishu's long connection, DingTalk's Stream) has it open."""
    checks: dict[str, Callable[[], None]] = {
        "warehouse": lambda: select_one(services.warehouse.engine),
        "state": lambda: select_one(services.store.engine),
    }
    for adapter in adapters:
        if hasattr(adapter, "connected"):
            checks[adapter.platform] = lambda a=adapter: _connected(a)
    return checks


def _connected(adapter: Any) -> None:
    if not adapter.connected:
        raise ConnectionError(f"{adapter.platform}: not connected")


class _AdapterGauge(Collector):
    """`opsbot_adapter_connected{platform}`: 1 while the adapter's connection is open."""

    def __init__(self, adapters: list[Any]) -> None:
        self._adapters = adapters

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily("opsbot_adapter_connected", "1 while a chat platform's connection is open.",
                                 labels=["platform"])

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for adapter in self._adapters:
            family.add_metric([adapter.platform], 1.0 if adapter.connected else 0.0)
        return [family]


class OpsServer:
    """/healthz, /readyz and /metrics over aiohttp; `port=0` lets the OS pick (tests read `.port`)."""

    def __init__(self, metrics: OpsMetrics, checks: Mapping[str, Callable[[], None]], *, host: str = "127.0.0.1",
                 port: int = 0, check_timeout: float = CHECK_TIMEOUT) -> None:
        self.metrics = metrics
        self.checks = dict(checks)
        self.host = host
        self.requested_port = port
        self.check_timeout = check_timeout
        self.port: int | None = None  # the bound port, once started
        self.draining = False  # set at shutdown: readiness turns 503
        # checks get threads of their own: a database that hangs must not starve the handlers' pool,
        # and a check still hanging from the last probe is waited for, not started again
        self._pool = ThreadPoolExecutor(max(2, len(self.checks)), "opsbot-health")
        self._inflight: dict[str, Future[None]] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.requested_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("ops: /healthz, /readyz and /metrics on http://%s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- handlers --------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        if request.query.get("ready", "") not in ("", "0", "false"):
            return await self._readyz(request)
        return _json(200, {"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.draining:
            return _json(503, {"status": "unavailable", "failed": ["shutting_down"], "checks": {}})
        names = list(self.checks)
        results = await asyncio.gather(*(self._check(name) for name in names))
        checks = dict(zip(names, results, strict=True))
        failed = [name for name, result in checks.items() if result != "ok"]
        if failed:
            return _json(503, {"status": "unavailable", "failed": failed, "checks": checks})
        return _json(200, {"status": "ok", "checks": checks})

    async def _check(self, name: str) -> str:
        """"ok", "failed" or "timeout"; the reason goes to the log, never into the answer."""
        future = self._inflight.get(name)
        if future is None or future.done():
            future = self._pool.submit(self.checks[name])
            self._inflight[name] = future
        try:
            # shielded: a probe that gives up must not cancel the check another probe waits for
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.check_timeout)
        except TimeoutError:
            log.warning("readiness: %s did not answer within %.0f s", name, self.check_timeout)
            return "timeout"
        except Exception as exc:
            log.warning("readiness: %s check failed: %s", name, exc)
            return "failed"
        return "ok"

    async def _metrics(self, request: web.Request) -> web.Response:
        # collecting reads the state database (the outbox gauge): off the event loop
        body, content_type = await asyncio.to_thread(self.metrics.exposition, request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")
