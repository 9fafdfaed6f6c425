"""The WeCom group robot adapter through real HTTP to the fake webhook: markdown within 4096 bytes,
long tables split in order, charts as images, files uploaded, the 20-a-minute limit, errcodes as
the outbox's retry/failed states, resumed pushes, the key kept out of logs, config errors."""
# ruff: noqa: F811  (the fake_wecom fixture is imported, then named as a parameter)

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import AsyncIterator

import pytest

from bot.adapters.base import DeliveryError, Progress
from bot.adapters.wecom.adapter import WeComAdapter, wecom_from_env
from bot.adapters.wecom.config import DEFAULT_API_URL, config_from_env
from bot.config import Settings, WeComSection
from bot.context import ChatRef
from bot.delivery.outbox import Deliverer, Outbox
from bot.errors import ConfigError
from bot.reply import Action, Attachment, Chart, Field, Reply, Table
from bot.state.store import Store
from tests.fakes.wecom_api import FakeWeCom, fake_wecom  # noqa: F401

OPS = ChatRef("wecom", "ops")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def settings() -> Settings:
    return Settings(wecom=WeComSection(robots={"ops": "WECOM_KEY_OPS"}))


class FakeClock:
    """Time that moves only when the limiter sleeps: a minute of waiting takes no time."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


def adapter_for(fake: FakeWeCom, clock: FakeClock | None = None) -> WeComAdapter:
    if "ops" not in fake.keys:
        fake.add_robot("ops")
    config = config_from_env(settings(), {"WECOM_KEY_OPS": fake.keys["ops"], "WECOM_API_URL": fake.base + "/"})
    if clock is None:
        return WeComAdapter(config)
    return WeComAdapter(config, clock=clock.now, sleep=clock.sleep)


@pytest.fixture
async def wecom(fake_wecom: FakeWeCom) -> AsyncIterator[WeComAdapter]:
    adapter = adapter_for(fake_wecom)
    await adapter.start()
    yield adapter
    await adapter.stop()


def markdowns(fake: FakeWeCom) -> list[str]:
    return [b["markdown"]["content"] for b in fake.sent("ops") if b["msgtype"] == "markdown"]


async def test_a_digest_arrives_as_one_markdown_with_its_numbers(wecom: WeComAdapter, fake_wecom: FakeWeCom) -> None:
    reply = Reply(title="每日摘要 2026-12-03", fields=[Field("GMV", "¥128,400", "+12.3%", "up", True),
                                                   Field("退款率", "3.1%", "+0.4pp", "up", False)],
                  footer="数据截至 09:00")
    sent = await wecom.send(OPS, reply)
    assert sent.chat == OPS and sent.message_id
    [content] = markdowns(fake_wecom)
    assert len(content.encode("utf-8")) <= 4096
    assert "**每日摘要 2026-12-03**" in content
    assert "**GMV**: ¥128,400" in content and "▲ +12.3%" in content and "3.1%" in content
    assert '<font color="info">▲ +12.3%</font>' in content  # good move green
    assert '<font color="warning">▲ +0.4pp</font>' in content  # bad move orange-red


async def test_a_long_chinese_table_splits_in_order_within_the_byte_limit(
        wecom: WeComAdapter, fake_wecom: FakeWeCom) -> None:
    rows = [[f"华东区域店铺{i:03d}", f"¥{i * 1000:,}", f"{i}单"] for i in range(400)]
    await wecom.send(OPS, Reply(title="店铺排行", tables=[Table(["店铺", "销售额", "订单"], rows, title="全部店铺")]))
    contents = markdowns(fake_wecom)
    total = sum(len(" | ".join(r).encode()) + 1 for r in rows)
    assert len(contents) >= total // 4096 + 1 and len(contents) > 1
    for content in contents:
        assert len(content.encode("utf-8")) <= 4096
        assert "店铺 | 销售额 | 订单" in content  # every continuation repeats the header
    seen = [line for c in contents for line in c.split("\n") if line.startswith("华东区域店铺")]
    assert seen == [" | ".join(r) for r in rows]  # every row once, whole, in order


async def test_a_single_overlong_line_is_cut_between_characters(wecom: WeComAdapter, fake_wecom: FakeWeCom) -> None:
    text = "库存预警" * 1500  # 18,000 bytes, no line break, no space
    await wecom.send(OPS, Reply(text=[text]))
    contents = markdowns(fake_wecom)
    assert all(len(c.encode("utf-8")) <= 4096 for c in contents)
    assert "".join(contents) == text


async def test_a_chart_arrives_as_an_image_whose_md5_matches(wecom: WeComAdapter, fake_wecom: FakeWeCom) -> None:
    await wecom.send(OPS, Reply(title="GMV trend", charts=[Chart.later(lambda: PNG, "trend")]))
    images = [b["image"] for b in fake_wecom.sent("ops") if b["msgtype"] == "image"]
    assert len(images) == 1
    raw = base64.b64decode(images[0]["base64"])
    assert raw == PNG and images[0]["md5"] == hashlib.md5(PNG).hexdigest()


async def test_an_export_is_uploaded_and_sent_as_a_file(wecom: WeComAdapter, fake_wecom: FakeWeCom) -> None:
    csv = "客户,订单\nalice,3\n".encode()
    await wecom.send(OPS, Reply(title="导出", files=[Attachment("segment.csv", csv, "text/csv")]))
    [file_msg] = [b for b in fake_wecom.sent("ops") if b["msgtype"] == "file"]
    robot, name, content = fake_wecom.uploads[file_msg["file"]["media_id"]]
    assert (robot, name, content) == ("ops", "segment.csv", csv)


async def test_buttons_become_a_hint_line(wecom: WeComAdapter, fake_wecom: FakeWeCom) -> None:
    await wecom.send(OPS, Reply(title="GMV 下降", actions=[Action("查看", "why gmv yesterday")]))
    [content] = markdowns(fake_wecom)
    assert "`why gmv yesterday`" in content and "在 opsbot" in content


async def test_a_burst_of_25_never_exceeds_20_in_any_minute(fake_wecom: FakeWeCom) -> None:
    clock = FakeClock()
    fake_wecom.clock = clock.now  # the fake enforces 20/min (45009) on the same clock
    adapter = adapter_for(fake_wecom, clock)
    await adapter.start()
    try:
        for i in range(25):
            await adapter.send(OPS, Reply(title=f"alert {i}"))
    finally:
        await adapter.stop()
    accepted = [c for c in fake_wecom.calls if c.errcode == 0]
    assert [c.errcode for c in fake_wecom.calls] == [0] * 25  # none refused, none dropped
    assert [c.body["markdown"]["content"] for c in accepted] == [f"**alert {i}**" for i in range(25)]
    times = [c.at for c in accepted]
    assert all(sum(1 for t in times if start <= t < start + 60) <= 20 for start in times)
    assert times[20] - times[0] >= 60


async def test_without_time_to_wait_the_21st_is_a_retry_not_a_send(fake_wecom: FakeWeCom) -> None:
    clock = FakeClock()
    adapter = adapter_for(fake_wecom, clock)
    adapter.config = type(adapter.config)(robots=adapter.config.robots, api_url=adapter.config.api_url, max_wait=5)
    await adapter.start()
    try:
        for i in range(20):
            await adapter.send(OPS, Reply(title=f"alert {i}"))
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(OPS, Reply(title="alert 20"))
    finally:
        await adapter.stop()
    assert not caught.value.permanent and len(fake_wecom.calls) == 20


async def test_45009_is_retried_and_93000_fails_through_the_outbox(
        store: Store, wecom: WeComAdapter, fake_wecom: FakeWeCom) -> None:
    outbox = Outbox(store)
    deliverer = Deliverer(outbox, {"wecom": wecom})
    outbox.enqueue("k1", OPS, Reply(title="告警"))
    fake_wecom.fail(errcode=45009)
    assert await deliverer.run_once() == 0
    item = outbox.get("k1")
    assert (item.status, item.attempts) == ("pending", 1) and item.last_error.startswith("wecom_45009")

    fake_wecom.fail(status=500)
    outbox._set(item.id, next_attempt_at=item.created_at)
    wecom.limiters["ops"].closed_until = 0  # the throttle's minute has passed
    assert await deliverer.run_once() == 0
    assert outbox.get("k1").status == "pending" and outbox.get("k1").last_error.startswith("wecom_http_500")

    outbox._set(item.id, next_attempt_at=item.created_at)
    assert await deliverer.run_once() == 1
    assert outbox.get("k1").status == "sent" and markdowns(fake_wecom) == ["**告警**"]

    fake_wecom.keys["ops"] = "another-key"  # the robot was removed: its key is unknown now
    outbox.enqueue("k2", OPS, Reply(title="告警 2"))
    assert await deliverer.run_once() == 0
    item = outbox.get("k2")
    assert item.status == "failed" and item.last_error.startswith("wecom_93000")


async def test_a_resumed_push_does_not_repost_landed_parts(wecom: WeComAdapter, fake_wecom: FakeWeCom) -> None:
    rows = [[f"商品{i:04d}", f"{i}"] for i in range(600)]
    reply = Reply(title="商品", tables=[Table(["商品", "件数"], rows)], charts=[Chart(PNG, "c")])
    full = len(markdowns_for(reply))
    progress = Progress()
    ok_then_fail = FakeWeComScript(fake_wecom, after=2)
    with pytest.raises(DeliveryError):
        await wecom.send(OPS, reply, progress)
    ok_then_fail.undo()
    assert progress.done == 2
    await wecom.send(OPS, reply, progress)
    bodies = fake_wecom.sent("ops")
    assert len(bodies) == full + 1 and progress.done == full + 1  # every part exactly once
    assert bodies[-1]["msgtype"] == "image"


def markdowns_for(reply: Reply) -> list[str]:
    from bot.adapters.wecom.render import markdown_messages

    return markdown_messages(reply)


class FakeWeComScript:
    """Let `after` sends through, then fail the next one with -1 (busy)."""

    def __init__(self, fake: FakeWeCom, after: int) -> None:
        self.fake = fake
        self.fake._failures.clear()
        self.original = fake._check
        count = {"n": 0}

        def check(robot: str, body: dict) -> int:  # type: ignore[type-arg]
            count["n"] += 1
            return -1 if count["n"] == after + 1 else self.original(robot, body)

        fake._check = check  # type: ignore[method-assign]

    def undo(self) -> None:
        self.fake._check = self.original  # type: ignore[method-assign]


async def test_the_key_never_reaches_a_log(
        wecom: WeComAdapter, fake_wecom: FakeWeCom, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = fake_wecom.keys["ops"]
    reasons = []
    await wecom.send(OPS, Reply(title="ok"))
    fake_wecom.fail(errcode=45009)
    with pytest.raises(DeliveryError) as e1:
        await wecom.send(OPS, Reply(title="throttled"))
    reasons.append(e1.value.reason)
    wecom.limiters["ops"].closed_until = 0
    await fake_wecom.stop()  # connection refused: aiohttp's error names the URL
    with pytest.raises(DeliveryError) as e2:
        await wecom.send(OPS, Reply(title="down"))
    reasons.append(e2.value.reason)
    assert e2.value.__cause__ is None and e2.value.__suppress_context__
    assert "ops" in caplog.text
    assert key not in caplog.text and all(key not in r for r in reasons)
    assert key not in repr(wecom.config)


def test_config_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="WECOM_KEY_OPS is not set.*robots.ops"):
        config_from_env(settings(), {})
    with pytest.raises(ConfigError, match="WECOM_KEY_OPS must hold"):
        config_from_env(settings(), {"WECOM_KEY_OPS": "has spaces in it"})
    with pytest.raises(ConfigError, match="WECOM_API_URL"):
        config_from_env(settings(), {"WECOM_KEY_OPS": "k-1", "WECOM_API_URL": "qyapi.weixin.qq.com"})
    config = config_from_env(settings(), {"WECOM_KEY_OPS": "abc-123"})
    assert config.api_url == DEFAULT_API_URL and config.robots["ops"].key == "abc-123"
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx"
    assert config_from_env(settings(), {"WECOM_KEY_OPS": url}).robots["ops"].key == "693a91f6-7xxx"
    adapter = wecom_from_env(settings(), {"WECOM_KEY_OPS": "abc-123", "WECOM_API_URL": "http://127.0.0.1:9/x/"})
    assert adapter.platform == "wecom" and adapter.config.api_url == "http://127.0.0.1:9/x"
    assert not hasattr(adapter, "edit")  # robots cannot edit: the scheduler's refresh skips them
