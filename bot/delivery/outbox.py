"""The outbox: every push (digest, alert) is enqueued under a unique delivery key and
delivered once.

Exactly-once rests on two things. Enqueueing is an INSERT on a unique key, so a
second scheduler, a retry or a restart that builds the same digest again is a
no-op. Delivery claims an item with a conditional UPDATE (only one deliverer wins),
sends it, and records the platform's message id before marking it sent; an item
left "sending" by a killed process is taken over after `stale_after`, and if its
message id was recorded it is marked sent without a second post.

A reply can take several platform messages (text parts, charts, files). Each part
that lands is recorded at once (`save_progress`), and a retry or a takeover resumes
after the last recorded part, so an error or a crash mid-reply never posts the
first parts twice.

The remaining risk: a process killed after the platform accepted a part but before
that part was recorded. Slack and Telegram take no idempotency key, so that one part
is sent again on recovery. The window is one local UPDATE long.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from bot.adapters.base import Adapter, DeliveryError, Progress, Sent
from bot.context import ChatRef
from bot.reply import Chart, Reply
from bot.state.store import Blob, OutboxItem, Store, Subscription, utcnow

log = logging.getLogger(__name__)

PROGRESS = "_progress"  # in an item's payload: the parts of the reply that landed (adapters resume after them)
MAX_ATTEMPTS = 6
BACKOFF = (5, 30, 120, 600, 1800)  # seconds before attempts 2..6


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Outbox:
    def __init__(self, store: Store, *, stale_after: timedelta = timedelta(minutes=10)) -> None:
        self.store = store
        self.stale_after = stale_after

    def enqueue(self, key: str, chat: ChatRef, reply: Reply, fingerprint: str | None = None,
                not_before: datetime | None = None) -> bool:
        """Queue a reply, to go out at once or at `not_before` (naive UTC); False (and nothing
        written) when the key was queued before."""
        if self.get(key) is not None:
            return False
        payload = self.pack(reply)
        try:
            with self.store.session() as s, s.begin():
                s.add(OutboxItem(key=key, chat=str(chat), payload=payload, fingerprint=fingerprint,
                                 next_attempt_at=not_before or utcnow()))
        except IntegrityError:  # another instance queued it in between
            return False
        return True

    def pack(self, reply: Reply) -> dict:  # type: ignore[type-arg]
        """The reply as stored: JSON, with chart images moved into content-addressed blobs."""
        charts = []
        for chart in reply.charts:
            digest = hashlib.sha256(chart.png).hexdigest()
            try:
                with self.store.session() as s, s.begin():
                    if s.get(Blob, digest) is None:
                        s.add(Blob(sha256=digest, data=chart.png))
            except IntegrityError:  # the same chart stored by a concurrent enqueue: it is there
                pass
            charts.append({"title": chart.title, "filename": chart.filename, "blob": digest})
        payload = replace(reply, charts=[]).to_json()
        payload["charts"] = charts
        return payload

    def unpack(self, payload: dict) -> Reply:  # type: ignore[type-arg]
        reply = Reply.from_json({**payload, "charts": []})
        with self.store.session() as s:
            for c in payload.get("charts", []):
                blob = s.get(Blob, c["blob"])
                if blob is not None:
                    reply.charts.append(Chart(blob.data, c["title"], c.get("filename", "chart.png")))
        return reply

    def get(self, key: str) -> OutboxItem | None:
        with self.store.session() as s:
            return s.scalar(select(OutboxItem).where(OutboxItem.key == key))

    def claim(self, worker: str, now: datetime | None = None, limit: int = 50) -> list[OutboxItem]:
        """Due items this worker now owns, oldest first."""
        now = now or utcnow()
        stale = now - self.stale_after

        def due(t: Any) -> ColumnElement[bool]:
            return or_((t.status == "pending") & (t.next_attempt_at <= now),
                       (t.status == "sending") & (t.claimed_at < stale))

        claimable = due(OutboxItem)
        # order per chat: nothing overtakes an earlier item of its chat that waits out a backoff
        # or is being sent by another worker
        earlier = aliased(OutboxItem)
        held_back = exists().where(earlier.chat == OutboxItem.chat, earlier.id < OutboxItem.id,
                                   earlier.status.in_(("pending", "sending")), ~due(earlier))
        with self.store.session() as s:
            rows = s.execute(select(OutboxItem.id, OutboxItem.chat).where(claimable, ~held_back)
                             .order_by(OutboxItem.id).limit(limit)).all()
        claimed = []
        lost: set[str] = set()
        for item_id, chat in rows:
            if chat in lost:  # another worker took an earlier item of this chat: leave it the rest
                continue
            with self.store.session() as s, s.begin():
                won = s.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id == item_id, claimable)
                    .values(status="sending", claimed_by=worker, claimed_at=now)
                ).rowcount
                if won:
                    claimed.append(s.get(OutboxItem, item_id))
                else:
                    lost.add(chat)
        return [c for c in claimed if c is not None]

    def _set(self, item_id: int, **values: object) -> None:
        with self.store.session() as s, s.begin():
            s.execute(update(OutboxItem).where(OutboxItem.id == item_id).values(**values))

    def record_message(self, item_id: int, sent: Sent) -> None:
        self._set(item_id, message_id=sent.message_id, sent_chat=str(sent.chat))

    def save_progress(self, item_id: int, progress: Progress) -> None:
        """Record that one more part of a reply landed, before anything else happens."""
        with self.store.session() as s, s.begin():
            item = s.get(OutboxItem, item_id)
            if item is not None:
                item.payload = {**item.payload, PROGRESS: {"done": progress.done, "ids": progress.ids}}

    def mark_sent(self, item_id: int) -> None:
        self._set(item_id, status="sent", sent_at=utcnow(), last_error=None)

    def retry_later(self, item_id: int, attempts: int, error: str, now: datetime | None = None) -> None:
        delay = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
        self._set(item_id, status="pending", attempts=attempts, last_error=error[:2000],
                  next_attempt_at=(now or utcnow()) + timedelta(seconds=delay))

    def release(self, item_id: int) -> None:
        """Give a claimed item back untouched (an earlier item for its chat is still waiting)."""
        self._set(item_id, status="pending")

    def mark_failed(self, item_id: int, attempts: int, error: str) -> None:
        self._set(item_id, status="failed", attempts=attempts, last_error=error[:2000])

    def mark_edited(self, item_id: int, reply: Reply, fingerprint: str | None) -> None:
        self._set(item_id, payload=self.pack(reply), fingerprint=fingerprint, edited_at=utcnow())

    def recent(self, chat: str | None = None, limit: int = 20) -> list[OutboxItem]:
        with self.store.session() as s:
            q = select(OutboxItem).order_by(OutboxItem.id.desc()).limit(limit)
            if chat:
                q = q.where(OutboxItem.chat == chat)
            return list(s.scalars(q).all())

    def counts(self) -> dict[str, int]:
        from sqlalchemy import func

        with self.store.session() as s:
            rows = s.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status)).all()
        return {status: n for status, n in rows}

    def follow_migration(self, old: str, new: ChatRef) -> None:
        """A Telegram group became a supergroup: its subscriptions and queued items move along."""
        with self.store.session() as s, s.begin():
            s.execute(update(Subscription).where(Subscription.chat == old).values(chat=str(new)))
            s.execute(update(OutboxItem).where(OutboxItem.chat == old, OutboxItem.status != "sent")
                      .values(chat=str(new)))

    def pause_chat(self, chat: str, reason: str) -> None:
        with self.store.session() as s, s.begin():
            s.execute(update(Subscription).where(Subscription.chat == chat)
                      .values(paused=True, paused_reason=reason[:200]))


class Deliverer:
    """Sends claimed outbox items through the adapters, in order per chat."""

    def __init__(self, outbox: Outbox, adapters: Mapping[str, Adapter], worker: str | None = None,
                 max_attempts: int = MAX_ATTEMPTS) -> None:
        self.outbox = outbox
        self.adapters = adapters
        self.worker = worker or instance_name()
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._stopping = False
        # metrics hook in here: called with (platform, "sent" | "retry" | "failed") after each attempt
        self.observers: list[Callable[[str, str], None]] = []

    def _observe(self, chat: str, outcome: str) -> None:
        platform = chat.partition(":")[0]
        for observe in self.observers:
            try:
                observe(platform, outcome)
            except Exception:  # metrics must never cost a delivery
                log.warning("a delivery observer failed", exc_info=True)

    def wake(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        """Finish the item in hand, then leave run_forever (never cut a send in half)."""
        self._stopping = True
        self._wake.set()

    async def run_once(self, concurrency: int = 8) -> int:
        """Deliver what is due now; returns how many items were sent.

        Chats are served concurrently (a fan-out of a thousand digests must not take a
        thousand round trips in a row); within a chat, items go one by one in order and a
        failed one holds back the ones behind it.
        """
        items = await asyncio.to_thread(self.outbox.claim, self.worker, None, 1000)
        by_chat: dict[str, list[OutboxItem]] = {}
        for item in items:
            by_chat.setdefault(item.chat, []).append(item)
        gate = asyncio.Semaphore(concurrency)

        async def serve_chat(queue: list[OutboxItem]) -> int:
            sent = 0
            async with gate:
                for i, item in enumerate(queue):
                    if self._stopping or not await self._deliver(item):
                        for rest in queue[i + (0 if self._stopping else 1):]:
                            await asyncio.to_thread(self.outbox.release, rest.id)
                        break
                    sent += 1
            return sent

        return sum(await asyncio.gather(*(serve_chat(q) for q in by_chat.values())))

    async def _deliver(self, item: OutboxItem) -> bool:
        if item.message_id:
            # a previous worker posted it and died before marking: never post twice
            await asyncio.to_thread(self.outbox.mark_sent, item.id)
            return True
        chat = ChatRef.parse(item.chat)
        adapter = self.adapters.get(chat.platform)
        attempts = item.attempts + 1
        if adapter is None:
            await asyncio.to_thread(self.outbox.mark_failed, item.id, attempts,
                                    f"no {chat.platform} adapter is running")
            log.error("outbox %s: no %s adapter; marked failed", item.key, chat.platform)
            self._observe(item.chat, "failed")
            return False
        started = time.monotonic()
        done = item.payload.get(PROGRESS, {})

        async def save(progress: Progress) -> None:
            await asyncio.to_thread(self.outbox.save_progress, item.id, progress)

        progress = Progress(done=int(done.get("done", 0)), ids=list(done.get("ids", [])), saved=save)
        if progress.done:
            log.info("outbox %s: resuming after %d part(s) delivered before", item.key, progress.done)
        try:
            reply = await asyncio.to_thread(self.outbox.unpack, item.payload)
            result = await adapter.send(chat, reply, progress)
        except DeliveryError as exc:
            await self._audit(item, f"push-error:{exc.reason}", started)
            return await self._failed(item, attempts, exc)
        except Exception as exc:  # an adapter bug must not lose the message
            log.exception("outbox %s: unexpected send error", item.key)
            await self._audit(item, f"push-error:{type(exc).__name__}", started)
            return await self._failed(item, attempts, DeliveryError(type(exc).__name__, permanent=False))
        await asyncio.to_thread(self.outbox.record_message, item.id, result)
        await asyncio.to_thread(self.outbox.mark_sent, item.id)
        await self._audit(item, "sent", started)
        if str(result.chat) != item.chat:
            await asyncio.to_thread(self.outbox.follow_migration, item.chat, result.chat)
        log.info("outbox %s delivered to %s", item.key, result.chat)
        self._observe(item.chat, "sent")
        return True

    async def _audit(self, item: OutboxItem, outcome: str, started: float) -> None:
        """Pushes are audited like commands, as `opsbot:push` with the delivery key."""
        try:
            await asyncio.to_thread(self.outbox.store.audit, item.chat, "opsbot:push", item.key, outcome,
                                    int((time.monotonic() - started) * 1000))
        except Exception:  # the push itself went out (or will be retried): never fail it for the log
            log.warning("could not audit the push %s", item.key, exc_info=True)

    async def _failed(self, item: OutboxItem, attempts: int, exc: DeliveryError) -> bool:
        final = exc.migrated_to is None and (exc.permanent or attempts >= self.max_attempts)
        self._observe(item.chat, "failed" if final else "retry")
        if exc.migrated_to is not None:
            await asyncio.to_thread(self.outbox.follow_migration, item.chat, exc.migrated_to)
            await asyncio.to_thread(self.outbox.retry_later, item.id, item.attempts, exc.reason,
                                    utcnow() - timedelta(days=1))
            return False
        if exc.permanent or attempts >= self.max_attempts:
            await asyncio.to_thread(self.outbox.mark_failed, item.id, attempts, exc.reason)
            log.error("outbox %s to %s failed for good after %d attempt(s): %s", item.key, item.chat, attempts,
                      exc.reason)
            if exc.permanent:
                await asyncio.to_thread(self.outbox.pause_chat, item.chat, exc.reason)
            return False
        await asyncio.to_thread(self.outbox.retry_later, item.id, attempts, exc.reason)
        log.warning("outbox %s to %s: attempt %d failed (%s); will retry", item.key, item.chat, attempts, exc.reason)
        return False

    async def run_forever(self, interval: float = 5.0) -> None:
        self._stopping = False
        while not self._stopping:
            # cleared before the round: a wake-up (or a stop request) during it is not lost
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox delivery round failed")
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), interval)
            except TimeoutError:
                pass
