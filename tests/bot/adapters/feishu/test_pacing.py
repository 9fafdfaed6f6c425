"""Pacing: a burst of pushes to one Feishu chat stays inside Feishu's per-chat limit."""

from __future__ import annotations

from bot.adapters.feishu.adapter import FeishuAdapter
from bot.context import ChatRef
from bot.dispatch import Dispatcher
from bot.reply import Reply
from tests.bot.adapters.feishu.support import config
from tests.fakes.feishu_api import FakeFeishu


async def test_a_burst_to_one_chat_is_paced_to_four_a_second(
    fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher  # noqa: F811
) -> None:
    """Feishu allows 5 messages a second per group, shared by its bots: opsbot keeps to 4, waiting
    for a slot rather than bouncing off the limit."""
    now = [0.0]
    sent_at: list[float] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    adapter = FeishuAdapter(feishu_dispatcher, config(fake_feishu), clock=lambda: now[0], sleep=sleep)
    for n in range(10):
        await adapter.send(ChatRef("feishu", "oc_ops"), Reply(title=f"alert {n}"))
        sent_at.append(now[0])
    assert len(fake_feishu.messages()) == 10
    for t in sent_at:  # in any one second, at most four
        assert sum(1 for u in sent_at if t <= u < t + 1) <= 4
    assert sent_at[-1] >= 2.0
    await adapter.stop()
