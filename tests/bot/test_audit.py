"""The audit log: every command (tests/bot/test_access.py) and every push, kept for the configured retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.adapters.base import DeliveryError
from bot.context import ChatRef
from bot.delivery import scheduler as sched
from bot.delivery.outbox import Deliverer, Outbox
from bot.dispatch import Dispatcher
from bot.reply import Reply
from bot.state.store import AuditEntry, Store
from tests.fakes.recording import RecordingAdapter


def entries(store: Store) -> list[AuditEntry]:
    with store.session() as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def test_every_push_is_audited_with_its_outcome(store: Store) -> None:
    outbox = Outbox(store)
    outbox.enqueue("digest:1:2026-11-25", ChatRef.parse("slack:COPS"), Reply(title="Daily digest"))
    outbox.enqueue("alerts:slack:CSEC:x", ChatRef.parse("slack:CSEC"), Reply(title="Alert"))
    adapter = RecordingAdapter("slack")
    adapter.fail_next(DeliveryError("ratelimited", permanent=False), chat="slack:CSEC")
    await Deliverer(outbox, {"slack": adapter}).run_once()
    rows = {(e.chat, e.user, e.command, e.outcome) for e in entries(store)}
    assert rows == {("slack:COPS", "opsbot:push", "digest:1:2026-11-25", "sent"),
                    ("slack:CSEC", "opsbot:push", "alerts:slack:CSEC:x", "push-error:ratelimited")}
    assert all(e.duration_ms >= 0 for e in entries(store))


async def test_audit_entries_older_than_the_retention_are_removed(dispatcher: Dispatcher, store: Store) -> None:
    now = datetime(2026, 11, 25, 20, 17, tzinfo=UTC)
    retention = dispatcher.services.settings.access.audit_retention_days
    for age in (retention + 30, retention + 1, retention - 1, 0):
        store.audit("slack:COPS", "slack:UALICE", f"kpi {age}", "ok", 5)
        with store.session() as s, s.begin():
            row = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
            assert row is not None
            row.at = now.replace(tzinfo=None) - timedelta(days=age)
    outbox = Outbox(store)
    sched.install(sched.Runtime(dispatcher, outbox, Deliverer(outbox, {}), clock=lambda: now))
    assert await sched.run_housekeeping() == "pruned 2"
    assert [e.command for e in entries(store)] == [f"kpi {retention - 1}", "kpi 0"]
