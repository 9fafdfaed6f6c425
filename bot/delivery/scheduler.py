"""Scheduled work: APScheduler 3 (`AsyncIOScheduler`) on the shared loop, with its job store in
the state database, run by one instance at a time.

- The subscriptions table is the source of truth; the job store is derived from it
  (`sync_jobs`), so a renamed function or a lost row never silently drops a schedule.
- Jobs are module-level functions referenced by name with primitive arguments
  (`bot.delivery.scheduler:run_subscription`, the subscription id), never pickled closures.
- Cron triggers run in each subscription's timezone. `coalesce` folds a backlog into one
  run; `misfire_grace_time` lets a digest missed while opsbot was down go out on
  restart, and the job itself skips a run whose day has passed (logged).
- Several instances: a lease row in the state database names the one that runs the
  scheduler; the others take over when it stops renewing. Every push still goes through
  the outbox's unique key, so even two schedulers could not post a digest twice.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.adapters.base import Sent
from bot.context import ChatRef
from bot.delivery.outbox import Deliverer, Outbox, instance_name
from bot.dispatch import Dispatcher
from bot.reply import Reply
from bot.state.shared import prune as prune_shared
from bot.state.store import Lease, Subscription, utcnow
from handlers.digest import DigestSpec, build_digest, completeness, fingerprint
from metrics.errors import SourceUnavailable

log = logging.getLogger(__name__)

GRACE = timedelta(hours=6)  # a digest later than this (or on another day) is stale
RETRY_EVERY = timedelta(minutes=15)  # while waiting for complete data (wait-until)
SOURCE_RETRY = timedelta(minutes=5)  # while the warehouse is unreachable at digest time
REFRESH_AFTER = (timedelta(hours=2), timedelta(hours=6))  # look for late data that changed the numbers
DIGEST_CACHE_TTL = timedelta(minutes=10)
LEASE_NAME = "scheduler"


@dataclass
class Runtime:
    """What scheduled jobs use. Jobs are stored by name, so they find it here, set once by Scheduler.start."""

    dispatcher: Dispatcher
    outbox: Outbox
    deliverer: Deliverer
    scheduler: AsyncIOScheduler | None = None
    clock: Callable[[], datetime] | None = None  # aware "now"; tests inject one
    # digests are the same for every chat with the same spec and language: a morning fan-out
    # to a thousand channels builds each distinct digest once (entries live DIGEST_CACHE_TTL)
    digests: dict[tuple[object, ...], tuple[datetime, Reply]] = field(default_factory=dict)
    # jobs of one fan-out start together: the first builds, the others wait for its result
    building: dict[tuple[object, ...], asyncio.Lock] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(ZoneInfo("UTC"))


_runtime: Runtime | None = None


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("the scheduler runtime is not installed")
    return _runtime


def install(rt: Runtime) -> None:
    global _runtime
    _runtime = rt


def trigger_for(sub: Subscription) -> CronTrigger:
    hour, minute = (int(x) for x in sub.at.split(":"))
    zone = ZoneInfo(sub.timezone)
    if sub.cadence == "weekly":
        # weekday names, not numbers: APScheduler 3 counts 0 as Monday, cron as Sunday
        return CronTrigger(day_of_week=sub.weekday, hour=hour, minute=minute, timezone=zone)
    return CronTrigger(hour=hour, minute=minute, timezone=zone)


def last_fire_time(sub: Subscription, now: datetime) -> datetime | None:
    """The most recent scheduled time at or before `now` (aware), in the subscription's zone."""
    trigger = trigger_for(sub)
    start = now - timedelta(days=8)
    fire = trigger.get_next_fire_time(None, start)
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


def digest_key(sub: Subscription, fire: datetime) -> str:
    return f"digest:{sub.id}:{fire.date().isoformat()}"


def _load(sub_id: int) -> Subscription | None:
    with runtime().outbox.store.session() as s:
        return s.get(Subscription, sub_id)


async def run_subscription(sub_id: int) -> str:
    """Build and enqueue the digest due now; returns what happened (for logs and tests)."""
    rt = runtime()
    sub = await asyncio.to_thread(_load, sub_id)
    if sub is None or sub.paused:
        return "gone" if sub is None else "paused"
    now = rt.now().astimezone(ZoneInfo(sub.timezone))
    fire = last_fire_time(sub, now)
    if fire is None or now - fire > GRACE or now.date() != fire.date():
        log.warning("digest for subscription %s skipped: its run at %s is stale at %s", sub.id, fire, now)
        return "stale"
    key = digest_key(sub, fire)
    if await asyncio.to_thread(rt.outbox.get, key) is not None:
        return "duplicate"
    chat = ChatRef.parse(sub.chat)
    ctx = rt.dispatcher.context_for(chat)
    local_now = now.replace(tzinfo=None)
    try:
        if sub.wait_until and sub.cadence == "daily":
            status, _, _ = await ctx.run(completeness, ctx, local_now.date() - timedelta(days=1))
            deadline = now.replace(hour=int(sub.wait_until[:2]), minute=int(sub.wait_until[3:]), second=0,
                                   microsecond=0)
            if status != "complete" and now + RETRY_EVERY <= deadline:
                _schedule_once(rt, f"wait:{sub.id}:{fire.date()}", run_waiting, (sub.id, fire.isoformat()),
                               now + RETRY_EVERY)
                log.info("digest %s waits for complete data (until %s)", key, sub.wait_until)
                return "waiting"
        return await _enqueue(rt, sub, fire, local_now)
    except SourceUnavailable:
        return _retry_when_back(rt, sub, fire, now)


def _retry_when_back(rt: Runtime, sub: Subscription, fire: datetime, now: datetime) -> str:
    """The warehouse is down at digest time: try again every few minutes while the digest is
    still current, rather than skip the day (the same key, so never a second post)."""
    if now + SOURCE_RETRY - fire > GRACE:
        log.error("digest for subscription %s not sent: the data source stayed unavailable", sub.id)
        return "source unavailable"
    _schedule_once(rt, f"wait:{sub.id}:{fire.date()}", run_waiting, (sub.id, fire.isoformat()), now + SOURCE_RETRY)
    log.warning("digest for subscription %s: data source unavailable, retrying at %s", sub.id,
                (now + SOURCE_RETRY).strftime("%H:%M"))
    return "source unavailable; retrying"


async def run_waiting(sub_id: int, fire_iso: str) -> str:
    """A retry while a subscription waits for complete data; same key, so never a second post."""
    rt = runtime()
    sub = await asyncio.to_thread(_load, sub_id)
    if sub is None or sub.paused:
        return "gone"
    fire = datetime.fromisoformat(fire_iso)
    now = rt.now().astimezone(ZoneInfo(sub.timezone))
    if await asyncio.to_thread(rt.outbox.get, digest_key(sub, fire)) is not None:
        return "duplicate"
    ctx = rt.dispatcher.context_for(ChatRef.parse(sub.chat))
    try:
        status, _, _ = await ctx.run(completeness, ctx, fire.date() - timedelta(days=1))
        deadline = fire.replace(hour=int(sub.wait_until[:2]), minute=int(sub.wait_until[3:])) if sub.wait_until \
            else fire
        if status != "complete" and now + RETRY_EVERY <= deadline:
            _schedule_once(rt, f"wait:{sub.id}:{fire.date()}", run_waiting, (sub.id, fire_iso), now + RETRY_EVERY)
            return "waiting"
        return await _enqueue(rt, sub, fire, now.replace(tzinfo=None))
    except SourceUnavailable:
        return _retry_when_back(rt, sub, fire, now)


async def _digest(rt: Runtime, chat: ChatRef, spec: DigestSpec, local_now: datetime) -> Reply:
    ctx = rt.dispatcher.context_for(chat)
    # chats with different row-level scopes see different numbers: never share their digests
    scope = tuple(sorted(ctx.scope.items()))
    cache_key = (spec, ctx.lang, scope, local_now.date(), ctx.settings.bot.timezone)
    async with rt.building.setdefault(cache_key, asyncio.Lock()):
        now = rt.now()
        cached = rt.digests.get(cache_key)
        if cached is not None and now - cached[0] < DIGEST_CACHE_TTL:
            return copy.deepcopy(cached[1])  # callers add notes to their own copy
        reply = await build_digest(ctx, spec, local_now)
        rt.digests[cache_key] = (now, reply)
        return copy.deepcopy(reply)


async def _enqueue(rt: Runtime, sub: Subscription, fire: datetime, local_now: datetime) -> str:
    chat = ChatRef.parse(sub.chat)
    reply = await _digest(rt, chat, DigestSpec.of(sub), local_now)
    key = digest_key(sub, fire)
    if not await asyncio.to_thread(rt.outbox.enqueue, key, chat, reply, fingerprint(reply)):
        return "duplicate"
    rt.deliverer.wake()
    for after in REFRESH_AFTER:
        _schedule_once(rt, f"refresh:{key}:{int(after.total_seconds())}", refresh_digest, (sub.id, fire.isoformat()),
                       fire + after)
    log.info("digest %s enqueued for %s", key, chat)
    return "enqueued"


async def refresh_digest(sub_id: int, fire_iso: str) -> str:
    """Late data changed a posted digest's numbers: edit the message in place, with a note."""
    rt = runtime()
    sub = await asyncio.to_thread(_load, sub_id)
    if sub is None:
        return "gone"
    fire = datetime.fromisoformat(fire_iso)
    item = await asyncio.to_thread(rt.outbox.get, digest_key(sub, fire))
    if item is None or item.status != "sent" or not item.message_id:
        return "not sent"
    chat = ChatRef.parse(item.sent_chat or item.chat)
    ctx = rt.dispatcher.context_for(chat)
    reply = await build_digest(ctx, DigestSpec.of(sub), fire.astimezone(ZoneInfo(sub.timezone)).replace(tzinfo=None))
    fp = fingerprint(reply)
    if fp == item.fingerprint:
        return "unchanged"
    now = rt.now().astimezone(ZoneInfo(sub.timezone))
    reply.text.insert(0, ctx.t("digest_updated", time=now.strftime("%H:%M")))
    adapter = rt.deliverer.adapters.get(chat.platform)
    edit = getattr(adapter, "edit", None)
    if edit is None:
        return "cannot edit"
    await edit(Sent(chat, item.message_id), reply)
    await asyncio.to_thread(rt.outbox.mark_edited, item.id, reply, fp)
    log.info("digest %s edited after late data", item.key)
    return "edited"


async def run_alert_scan() -> str:
    """The daily anomaly scan of yesterday: one grouped message per chat, through the outbox."""
    from handlers.alerts import scan_day

    rt = runtime()
    settings = rt.dispatcher.services.settings
    zone = ZoneInfo(settings.bot.timezone)
    now = rt.now().astimezone(zone)
    ctx = rt.dispatcher.context_for(ChatRef("console", "scheduler"))
    results = await ctx.run(scan_day, ctx, now.date() - timedelta(days=1), now)
    queued = 0
    for chat_scan in results:
        if chat_scan.reply is None or chat_scan.key is None:
            continue
        chat = ChatRef.parse(chat_scan.chat)
        # the message is built in the chat's own language
        chat_scan.reply.data["chat"] = chat_scan.chat
        if await asyncio.to_thread(rt.outbox.enqueue, chat_scan.key, chat, chat_scan.reply, None,
                                   chat_scan.not_before):
            queued += 1
    rt.deliverer.wake()
    log.info("anomaly scan of %s: %d chat message(s) queued", now.date() - timedelta(days=1), queued)
    return f"queued {queued}"


async def run_intraday_scan() -> str:
    """Hourly: today so far vs what is normal by this hour."""
    from handlers.alerts import intraday_scan

    rt = runtime()
    ctx = rt.dispatcher.context_for(ChatRef("console", "scheduler"))
    results = await ctx.run(intraday_scan, ctx, rt.now())
    queued = 0
    for chat_scan in results:
        if chat_scan.reply is not None and chat_scan.key is not None:
            if await asyncio.to_thread(rt.outbox.enqueue, chat_scan.key, ChatRef.parse(chat_scan.chat),
                                       chat_scan.reply):
                queued += 1
    rt.deliverer.wake()
    return f"queued {queued}"


async def run_housekeeping() -> str:
    """Nightly: audit entries older than the configured retention are deleted."""
    rt = runtime()
    services = rt.dispatcher.services
    before = rt.now().astimezone(ZoneInfo("UTC")).replace(tzinfo=None) - timedelta(
        days=services.settings.access.audit_retention_days)
    removed = await asyncio.to_thread(services.store.prune_audit, before)
    log.info("housekeeping: %d audit entr(ies) older than %s removed", removed, before.date())
    now = rt.now().astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    # what instances share: seen events, old button tokens, idle rate windows, expired answers
    shared = await asyncio.to_thread(prune_shared, services.store, now,
                                     timedelta(seconds=max(services.warehouse.cache.ttl, 0)))
    log.info("housekeeping: shared state pruned %s", shared)
    return f"pruned {removed}"


async def run_warm() -> str:
    """Every half cache lifetime: the slow answers (segments, retention, LTV) computed ahead of
    the people who will ask, for every row-level scope in use (handlers/warm.py)."""
    from handlers.warm import warm

    rt = runtime()
    ctx = rt.dispatcher.context_for(ChatRef("console", "scheduler"))
    scopes = await ctx.run(warm, ctx)
    return f"warmed {scopes} scope(s)"


def _schedule_once(rt: Runtime, job_id: str, func: Callable[..., object], args: tuple[object, ...],
                   when: datetime) -> None:
    if rt.scheduler is None:
        return
    rt.scheduler.add_job(func, DateTrigger(when), args=args, id=job_id, replace_existing=True,
                         misfire_grace_time=int(GRACE.total_seconds()))


class Scheduler:
    """Owns the lease, the APScheduler instance and the delivery loop of one opsbot process."""

    def __init__(self, dispatcher: Dispatcher, outbox: Outbox, deliverer: Deliverer, state_url: str, *,
                 lease_seconds: int = 60, instance: str | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.dispatcher = dispatcher
        self.state_url = state_url
        self.outbox = outbox
        self.deliverer = deliverer
        self.instance = instance or instance_name()
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.aps: AsyncIOScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # jobs running now (job id -> monotonic start), so stop() can let them finish
        self._running: dict[str, float] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        # metrics hook in here: (job id, seconds late when it started), (job id, seconds it ran, ok)
        self.job_started: list[Callable[[str, float], None]] = []
        self.job_finished: list[Callable[[str, float, bool], None]] = []

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.outbox.store

    # ---- lease ---------------------------------------------------------------------------

    def try_lease(self, now: datetime | None = None) -> bool:
        """Take or renew the scheduler lease; True while this instance holds it."""
        now = now or utcnow()
        expires = now + timedelta(seconds=self.lease_seconds)
        with self.store.session() as s:
            try:
                with s.begin():
                    won = s.execute(
                        update(Lease).where(Lease.name == LEASE_NAME,
                                            (Lease.holder == self.instance) | (Lease.expires_at < now))
                        .values(holder=self.instance, expires_at=expires)
                    ).rowcount
                    if not won and s.get(Lease, LEASE_NAME) is None:
                        s.add(Lease(name=LEASE_NAME, holder=self.instance, expires_at=expires))
                        won = 1
            except IntegrityError:  # another instance inserted the row first
                return False
        return bool(won)

    def release_lease(self) -> None:
        with self.store.session() as s, s.begin():
            s.execute(update(Lease).where(Lease.name == LEASE_NAME, Lease.holder == self.instance)
                      .values(expires_at=utcnow() - timedelta(seconds=1)))

    # ---- jobs ------------------------------------------------------------------------------

    def sync_jobs(self) -> None:
        """Make the job store match the subscriptions table."""
        if self.aps is None:
            return
        with self.store.session() as s:
            subs = list(s.scalars(select(Subscription)).all())
        wanted = {f"sub:{sub.id}": sub for sub in subs if not sub.paused}
        existing = {job.id: job for job in self.aps.get_jobs()}
        alerts = self.dispatcher.services.settings.alerts
        if alerts.enabled:
            hour, minute = (int(x) for x in alerts.scan_at.split(":"))
            scan_trigger = CronTrigger(hour=hour, minute=minute,
                                       timezone=ZoneInfo(self.dispatcher.services.settings.bot.timezone))
            job = existing.get("alerts:scan")
            if job is None or repr(job.trigger) != repr(scan_trigger):
                self.aps.add_job(run_alert_scan, scan_trigger, id="alerts:scan", replace_existing=True,
                                 name="anomaly scan")
            intraday = CronTrigger(hour="8-23", minute=5,
                                   timezone=ZoneInfo(self.dispatcher.services.settings.bot.timezone))
            job = existing.get("alerts:intraday")
            if job is None or repr(job.trigger) != repr(intraday):
                self.aps.add_job(run_intraday_scan, intraday, id="alerts:intraday", replace_existing=True,
                                 name="intraday scan")
        else:
            for job_id in ("alerts:scan", "alerts:intraday"):
                if job_id in existing:
                    existing[job_id].remove()
        housekeeping = CronTrigger(hour=4, minute=17, timezone=ZoneInfo(self.dispatcher.services.settings.bot.timezone))
        job = existing.get("housekeeping")
        if job is None or repr(job.trigger) != repr(housekeeping):
            self.aps.add_job(run_housekeeping, housekeeping, id="housekeeping", replace_existing=True,
                             name="housekeeping")
        cache_minutes = self.dispatcher.services.settings.warehouse.cache_minutes
        if cache_minutes > 0:
            warm_trigger = IntervalTrigger(minutes=max(1.0, cache_minutes / 2))
            job = existing.get("warm")
            if job is None or getattr(job.trigger, "interval", None) != warm_trigger.interval:
                # first run right away: the answers are ready soon after a start or a deploy
                self.aps.add_job(run_warm, warm_trigger, id="warm", replace_existing=True, name="warm answers",
                                 next_run_time=datetime.now(ZoneInfo("UTC")))
        elif "warm" in existing:
            existing["warm"].remove()
        for job_id, job in existing.items():
            if job_id.startswith("sub:") and job_id not in wanted:
                job.remove()
        for job_id, sub in wanted.items():
            trigger = trigger_for(sub)
            job = existing.get(job_id)
            # an unchanged job keeps its stored next run time: a digest missed while opsbot was
            # down is still due when it comes back
            if job is not None and repr(job.trigger) == repr(trigger):
                continue
            self.aps.add_job(run_subscription, trigger, args=(sub.id,), id=job_id,
                             replace_existing=True, name=f"digest {sub.chat}")
        self.aps.wakeup()

    def schedule_changed(self) -> None:
        """Called by commands after a subscription changed (maybe in another thread)."""
        loop = self._loop
        if loop is not None and self.aps is not None:
            loop.call_soon_threadsafe(self.sync_jobs)

    def _on_event(self, event: JobEvent) -> None:
        if isinstance(event, JobSubmissionEvent):
            self._running[event.job_id] = time.monotonic()
            self._idle.clear()
            # late = how long after its scheduled time the job started (a busy loop, a restart);
            # measured at submission, so the job's own run time does not count
            late = (datetime.now(ZoneInfo("UTC")) - max(event.scheduled_run_times)).total_seconds()
            self._notify(self.job_started, event.job_id, max(late, 0.0))
            return
        assert isinstance(event, JobExecutionEvent)
        if event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run at %s (opsbot was down or busy)", event.job_id,
                        event.scheduled_run_time)
            return
        if event.exception is not None:
            log.error("job %s failed: %r", event.job_id, event.exception)
        started = self._running.pop(event.job_id, None)
        if not self._running:
            self._idle.set()
        if started is not None:
            self._notify(self.job_finished, event.job_id, time.monotonic() - started, event.exception is None)

    @staticmethod
    def _notify(observers: list[Callable[..., None]], *args: object) -> None:
        for observe in observers:
            try:
                observe(*args)
            except Exception:  # metrics must never disturb the jobs
                log.warning("a scheduler observer failed", exc_info=True)

    async def _start_aps(self) -> None:
        self.aps = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=self.state_url, tablename="apscheduler_jobs")},
            job_defaults={"coalesce": True, "misfire_grace_time": int(GRACE.total_seconds()), "max_instances": 1},
            timezone=ZoneInfo("UTC"),
        )
        self.aps.add_listener(
            self._on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        runtime().scheduler = self.aps
        self.aps.start()
        self.sync_jobs()
        log.info("scheduler running on %s", self.instance)

    async def _lease_loop(self) -> None:
        while True:
            try:
                held = await asyncio.to_thread(self.try_lease)
                if held and self.aps is None:
                    await self._start_aps()
                elif not held and self.aps is not None:
                    log.warning("scheduler lease lost; stopping the scheduler on %s", self.instance)
                    self.aps.shutdown(wait=False)
                    self.aps = None
                    runtime().scheduler = None
            except Exception:
                log.exception("scheduler lease round failed")
            await asyncio.sleep(self.lease_seconds / 3)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        install(Runtime(self.dispatcher, self.outbox, self.deliverer, clock=self.clock))
        self.dispatcher.services.schedule_changed = self.schedule_changed
        self._lease_task = asyncio.create_task(self._lease_loop())
        self._deliver_task = asyncio.create_task(self.deliverer.run_forever())

    async def stop(self, timeout: float | None = None) -> None:
        """Start nothing new, let running jobs and the deliveries in hand finish, release the lease.

        With a `timeout` (seconds), what is still running then is cancelled: APScheduler's
        shutdown cancels its jobs (PITFALLS 1.5), and a delivery cut in half is taken over by
        the next start (bot/delivery/outbox.py). What is still queued waits in the outbox either way.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._lease_task.cancel()
        await asyncio.gather(self._lease_task, return_exceptions=True)
        self.deliverer.request_stop()
        if self.aps is not None:
            self.aps.pause()  # no new runs; the running ones go on
            if not self._idle.is_set() and not await _wait(self._idle.wait(), deadline):
                log.warning("scheduler: job(s) %s still running at shutdown were cancelled",
                            ", ".join(sorted(self._running)))
            self.aps.shutdown(wait=False)
            self.aps = None
            runtime().scheduler = None
            await asyncio.to_thread(self.release_lease)
        if not self._deliver_task.done() and not await _wait(asyncio.shield(self._deliver_task), deadline):
            log.warning("outbox: a delivery still running at shutdown was cancelled; the next start resumes it")
            self._deliver_task.cancel()
            await asyncio.gather(self._deliver_task, return_exceptions=True)


async def _wait(aw: Awaitable[object], deadline: float | None) -> bool:
    """Await `aw` until the monotonic `deadline` (None: no limit); False if it was not done by then."""
    remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
    try:
        await asyncio.wait_for(aw, remaining)
    except TimeoutError:
        return False
    except Exception:  # a failed delivery loop is logged where it fails
        pass
    return True
