"""A digest to 20 DingTalk groups through the outbox while DingTalk throttles and fails: each group
gets its digest exactly once. In process here; `test_fan_out_kill.py` kills a real `opsbot run`."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import time_machine

from bot.adapters.dingtalk.adapter import DingTalkAdapter
from bot.context import ChatRef, Incoming
from bot.delivery.outbox import BACKOFF, Deliverer, Outbox
from bot.dispatch import Dispatcher
from tests.bot.adapters.dingtalk.support import config
from tests.fakes.dingtalk_api import CARD_DELIVER, CORP, FakeDingTalk, fake_dingtalk  # noqa: F401

GROUPS = [f"cidGROUP{n:02d}" for n in range(20)]
QPS = {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "qps limit for api"}


def status(outbox: Outbox, group: str) -> str | None:
    item = outbox.get(f"dingtalk-digest:{group}")
    return item.status if item is not None else None


async def test_a_digest_to_20_groups_through_throttling_and_5xx_arrives_once_in_each(
    fake_dingtalk: FakeDingTalk, dingtalk_dispatcher: Dispatcher  # noqa: F811
) -> None:
    adapter = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk))
    outbox = Outbox(dingtalk_dispatcher.services.store)
    digest = await dingtalk_dispatcher.dispatch(Incoming(text="kpi gmv orders yesterday",
                                                         chat=ChatRef("dingtalk", "cidOPS"),
                                                         user="dingtalk:staff_alice", team=CORP))
    assert not digest.error
    # a third of the groups throttled past the adapter's own retries (twice), a third answered 5xx
    # for a while, the rest fine; the in-send retries (3) cannot get through, the outbox must
    for n, group in enumerate(GROUPS):
        def this(call, group=group):  # type: ignore[no-untyped-def]
            return group in call.targets()
        if n % 3 == 0:
            fake_dingtalk.fail_for(f"POST {CARD_DELIVER}", this, 403, QPS, times=8)
        elif n % 3 == 1:
            fake_dingtalk.fail_for(f"POST {CARD_DELIVER}", this, 503, "Service Unavailable", times=5)
    for group in GROUPS:
        assert outbox.enqueue(f"dingtalk-digest:{group}", ChatRef("dingtalk", group), digest)
    deliverer = Deliverer(outbox, {"dingtalk": adapter})
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        for _ in range(len(BACKOFF) + 1):
            await deliverer.run_once()
            if all(status(outbox, g) == "sent" for g in GROUPS):
                break
            traveller.shift(timedelta(seconds=max(BACKOFF) + 1))
            for group in GROUPS:  # the minute DingTalk asked each throttled group to rest has passed too
                adapter.limiters[group].closed_until = 0
    await adapter.stop()
    assert [status(outbox, g) for g in GROUPS] == ["sent"] * len(GROUPS)
    landed = Counter(target for call in fake_dingtalk.messages() for target in call.targets())
    assert landed == Counter(GROUPS)  # one card each: none lost, none twice
    failures = Counter(c.status for c in fake_dingtalk.calls_to("POST", CARD_DELIVER) if not c.ok)
    assert failures[403] == 7 * 8 and failures[503] == 7 * 5  # the weather really happened
