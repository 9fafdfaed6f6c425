"""The Feishu adapter end to end: the real lark-oapi SDK over loopback against the fake Feishu
(long connection frames, OpenAPI calls), HTTP callbacks signed and encrypted as Feishu does."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.adapters.base import DeliveryError, Progress
from bot.adapters.feishu.adapter import FeishuAdapter, feishu_from_env
from bot.adapters.feishu.render import card_text
from bot.config import FeishuSection
from bot.context import ChatRef, Incoming
from bot.delivery.outbox import Deliverer, Outbox
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.reply import Attachment, Reply
from bot.state.store import AuditEntry
from metrics.data.sample import Shop
from tests.bot.adapters.feishu.support import (
    ENCRYPT_KEY,
    MESSAGES,
    PNG,
    VERIFY_TOKEN,
    config,
    env,
    gmv_yesterday,
    number,
)
from tests.fakes.feishu_api import (
    APP_ID,
    APP_SECRET,
    TENANT,
    FakeFeishu,
    card_click,
    message_event,
    signed_callback,
)

# ---- long connection ------------------------------------------------------------------------


async def test_group_mention_over_the_long_connection_gets_a_card_with_the_warehouse_gmv(
    ws_adapter: FeishuAdapter, fake_feishu: FakeFeishu, demo_shop: Shop
) -> None:
    frame = fake_feishu.push(message_event("kpi gmv yesterday"))
    await fake_feishu.wait_for(lambda: frame in fake_feishu.acks)
    assert fake_feishu.acks[frame]["code"] == 200  # acked by the SDK at once
    [answer] = await fake_feishu.wait_for(fake_feishu.messages)
    assert answer.path.endswith("/reply") and answer.json["msg_type"] == "interactive"
    card = answer.content
    assert card["config"]["update_multi"] is True
    assert card["header"]["title"]["content"].startswith("KPIs · yesterday")
    [fields] = [e["fields"] for e in card["elements"] if e.get("fields")]
    gmv = fields[0]["text"]["content"]
    assert gmv.startswith("**GMV**\n")
    value = gmv.split("\n")[1].split(" ")[0]
    assert number(value) == pytest.approx(gmv_yesterday(demo_shop), abs=1)
    assert answer.headers["Authorization"] == "Bearer t-fake-tenant-access-token"


async def test_a_direct_message_works_and_a_plain_group_message_is_ignored(
    ws_adapter: FeishuAdapter, fake_feishu: FakeFeishu
) -> None:
    fake_feishu.push(message_event("kpi gmv yesterday", chat_type="group", mention_bot=False))
    fake_feishu.push(message_event("/ops kpi gmv yesterday", chat_id="oc_dm_alice", chat_type="p2p",
                                   mention_bot=False))
    [answer] = await fake_feishu.wait_for(fake_feishu.messages)
    assert "GMV" in card_text(answer.content)
    await asyncio.sleep(0.3)
    assert len(fake_feishu.messages()) == 1


async def test_an_unlisted_chat_or_tenant_is_refused(
    ws_adapter: FeishuAdapter, fake_feishu: FakeFeishu
) -> None:
    fake_feishu.push(message_event("kpi gmv yesterday", chat_id="oc_random", open_id="ou_mallory"))
    fake_feishu.push(message_event("kpi gmv yesterday", tenant="tenant_other"))
    answers = await fake_feishu.wait_for(lambda: len(fake_feishu.messages()) == 2 and fake_feishu.messages())
    for answer in answers:
        card = answer.content
        assert card["header"]["template"] == "red" and "GMV" not in card_text(card)


async def test_a_button_click_runs_the_command_as_the_clicker(
    ws_adapter: FeishuAdapter, fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher, demo_shop: Shop
) -> None:
    """A click in a chat that is not allow-listed runs the button's command with the clicker's own
    permission (ou_alice is listed): the answer has the warehouse's GMV, the frame is acked with
    a card callback's {} answer, and the audit log records ou_alice as who ran the command there."""
    store = feishu_dispatcher.services.store

    def audited() -> list[tuple[str, str, str]]:
        with store.session() as s:
            rows = s.scalars(select(AuditEntry).where(AuditEntry.chat == "feishu:oc_elsewhere")
                             .order_by(AuditEntry.id)).all()
            return [(r.user, r.command, r.outcome) for r in rows]
    before = len(audited())  # the session's state database: entries of an earlier run stay
    frame = fake_feishu.push(card_click("kpi gmv yesterday", open_id="ou_alice", chat_id="oc_elsewhere"))
    [answer] = await fake_feishu.wait_for(fake_feishu.messages)
    card = answer.content
    assert answer.path.endswith("/reply") and card["header"]["template"] == "blue"
    [fields] = [e["fields"] for e in card["elements"] if e.get("fields")]
    assert number(fields[0]["text"]["content"].split("\n")[1].split(" ")[0]) == pytest.approx(
        gmv_yesterday(demo_shop), abs=1)
    await fake_feishu.wait_for(lambda: frame in fake_feishu.acks)
    assert fake_feishu.acks[frame]["code"] == 200
    # written on the dispatcher's audit thread; the answer waits for it at most AUDIT_WAIT
    await fake_feishu.wait_for(lambda: len(audited()) > before)
    await asyncio.sleep(0.1)
    assert audited()[before:] == [("feishu:ou_alice", "kpi gmv yesterday", "ok")]


async def test_a_redelivered_event_runs_once(ws_adapter: FeishuAdapter, fake_feishu: FakeFeishu) -> None:
    event = message_event("kpi gmv yesterday", event_id="ev_same")
    fake_feishu.push(event)
    fake_feishu.push(event)
    await fake_feishu.wait_for(fake_feishu.messages)
    await asyncio.sleep(0.5)
    assert len(fake_feishu.messages()) == 1


async def test_a_wrong_secret_stops_start(fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher) -> None:
    adapter = FeishuAdapter(feishu_dispatcher, config(fake_feishu, app_secret="wrong"))
    with pytest.raises(ConfigError):
        await adapter.start()
    await adapter.stop()


def test_a_missing_variable_is_named(feishu_dispatcher: Dispatcher) -> None:
    settings = feishu_dispatcher.services.settings
    with pytest.raises(ConfigError, match="FEISHU_APP_SECRET"):
        feishu_from_env(settings, feishu_dispatcher, {"FEISHU_APP_ID": APP_ID})
    http = settings.model_copy(update={"feishu": FeishuSection(mode="http")})
    with pytest.raises(ConfigError, match="FEISHU_VERIFICATION_TOKEN"):
        feishu_from_env(http, feishu_dispatcher, {"FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": "x"})
    lark = settings.model_copy(update={"feishu": FeishuSection(domain="lark")})
    adapter = feishu_from_env(lark, feishu_dispatcher, {"FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": "x"})
    assert adapter.config.api_url == "https://open.larksuite.com" and adapter.config.language == "en"


# ---- pushes through the outbox --------------------------------------------------------------


async def test_a_push_through_the_outbox_lands_with_its_chart_as_an_image(
    fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher
) -> None:
    adapter = FeishuAdapter(feishu_dispatcher, config(fake_feishu))
    store = feishu_dispatcher.services.store
    outbox = Outbox(store)
    reply = (await feishu_dispatcher.dispatch(_incoming("chartdemo")))
    await asyncio.to_thread(outbox.enqueue, "digest:1", ChatRef("feishu", "oc_ops"), reply)
    assert await Deliverer(outbox, {"feishu": adapter}).run_once() == 1
    [image] = fake_feishu.calls_to("POST", "/open-apis/im/v1/images")
    assert image.form["image_type"] == "message" and image.form["image"] == PNG
    card_call, file_call = fake_feishu.messages()
    card = card_call.content
    [img] = [e for e in card["elements"] if e["tag"] == "img"]
    assert img["img_key"].startswith("img_v3_")
    [buttons] = [e["actions"] for e in card["elements"] if e["tag"] == "action"]
    assert buttons[0]["value"] == {"command": "kpi gmv by channel"}
    assert file_call.json["msg_type"] == "file" and file_call.content["file_key"].startswith("file_v3_")
    assert fake_feishu.calls_to("POST", "/open-apis/im/v1/files")[0].form["file"] == b"a,b\n1,2\n"
    item = await asyncio.to_thread(outbox.get, "digest:1")
    assert item is not None and item.status == "sent" and (item.message_id or "").startswith("om_")
    await adapter.stop()


def _incoming(text: str) -> Incoming:
    return Incoming(text=text, chat=ChatRef("feishu", "oc_ops"), user="feishu:ou_alice", team=TENANT)


async def test_an_edit_patches_the_same_message(fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher) -> None:
    adapter = FeishuAdapter(feishu_dispatcher, config(fake_feishu))
    sent = await adapter.send(ChatRef("feishu", "oc_ops"), Reply(title="Digest", text=["GMV ¥100"]))
    edited = await adapter.edit(sent, Reply(title="Digest (restated)", text=["GMV ¥120"]))
    assert edited.message_id == sent.message_id
    [patch] = fake_feishu.calls_to("PATCH", MESSAGES)
    assert patch.path == f"{MESSAGES}/{sent.message_id}" and "¥120" in card_text(patch.content)
    assert len(fake_feishu.messages()) == 1


async def test_rate_limit_is_retried_and_a_permanent_error_fails_the_item(
    fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher
) -> None:
    adapter = FeishuAdapter(feishu_dispatcher, config(fake_feishu))
    fake_feishu.fail(f"POST {MESSAGES}", 429, {"code": 99991400, "msg": "request trigger frequency limit"}, 2)
    sent = await adapter.send(ChatRef("feishu", "oc_ops"), Reply(title="Alert", text=["x"]))
    assert sent.message_id and len(fake_feishu.calls_to("POST", MESSAGES)) == 3
    # retries spent: transient, for the outbox to try later
    fake_feishu.fail(f"POST {MESSAGES}", 429, {"code": 99991400, "msg": "frequency limit"}, 9)
    with pytest.raises(DeliveryError) as raised:
        await adapter.send(ChatRef("feishu", "oc_ops"), Reply(title="Alert", text=["x"]))
    assert not raised.value.permanent and raised.value.reason == "feishu_99991400"
    fake_feishu.failures.clear()

    outbox = Outbox(feishu_dispatcher.services.store)
    fake_feishu.fail(f"POST {MESSAGES}", 400, {"code": 230002, "msg": "Bot/User can NOT be out of the chat."})
    await asyncio.to_thread(outbox.enqueue, "alert:1", ChatRef("feishu", "oc_gone"), Reply(title="Alert"))
    assert await Deliverer(outbox, {"feishu": adapter}).run_once() == 0
    item = await asyncio.to_thread(outbox.get, "alert:1")
    assert item is not None and item.status == "failed" and "230002" in (item.last_error or "")


async def test_progress_skips_the_parts_already_delivered(
    fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher
) -> None:
    adapter = FeishuAdapter(feishu_dispatcher, config(fake_feishu))
    reply = Reply(title="Export", text=["x"], files=[Attachment("a.csv", b"1\n")])
    await adapter.send(ChatRef("feishu", "oc_ops"), reply, Progress(done=1, ids=["om_old"]))
    [only] = fake_feishu.messages()
    assert only.json["msg_type"] == "file"


# ---- HTTP callbacks -------------------------------------------------------------------------


async def post(adapter: FeishuAdapter, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    assert adapter.url is not None
    async with aiohttp.ClientSession() as session:
        async with session.post(adapter.url, data=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)


async def test_http_accepts_a_signed_encrypted_callback_and_refuses_its_replay(
    http_adapter: FeishuAdapter, fake_feishu: FakeFeishu
) -> None:
    body, headers = signed_callback(message_event("kpi gmv yesterday", token=VERIFY_TOKEN), ENCRYPT_KEY)
    assert (await post(http_adapter, body, headers))[0] == 200
    [answer] = await fake_feishu.wait_for(fake_feishu.messages)
    assert "GMV" in card_text(answer.content)
    assert (await post(http_adapter, body, headers))[0] == 200  # a replay: 200, nothing runs
    await asyncio.sleep(0.3)
    assert len(fake_feishu.messages()) == 1


async def test_http_answers_url_verification(http_adapter: FeishuAdapter) -> None:
    payload = {"challenge": "ch-123", "token": VERIFY_TOKEN, "type": "url_verification"}
    body, headers = signed_callback(payload, ENCRYPT_KEY)
    for name in ("X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature"):
        headers.pop(name)  # Feishu sends the challenge unsigned
    assert await post(http_adapter, body, headers) == (200, {"challenge": "ch-123"})
    wrong = {**payload, "token": "nope"}
    body, headers = signed_callback(wrong, ENCRYPT_KEY)
    assert (await post(http_adapter, body, headers))[0] == 401


async def test_http_refuses_bad_signatures_undecryptable_and_unsigned_bodies(
    http_adapter: FeishuAdapter, fake_feishu: FakeFeishu, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    event = message_event("kpi gmv yesterday", token=VERIFY_TOKEN)
    body, headers = signed_callback(event, ENCRYPT_KEY)
    assert (await post(http_adapter, body, {**headers, "X-Lark-Signature": "0" * 64}))[0] == 401
    body, headers = signed_callback(event, "another-key")  # signed, but not with our key
    assert (await post(http_adapter, body, headers))[0] == 401
    garbage = json.dumps({"encrypt": "bm90IGVuY3J5cHRlZA=="}).encode()
    _, signed = signed_callback(event, ENCRYPT_KEY)
    from tests.fakes.feishu_api import hashlib  # type: ignore[attr-defined]
    sig = hashlib.sha256((signed["X-Lark-Request-Timestamp"] + signed["X-Lark-Request-Nonce"] + ENCRYPT_KEY).encode()
                         + garbage).hexdigest()
    assert (await post(http_adapter, garbage, {**signed, "X-Lark-Signature": sig}))[0] == 400
    plain, _ = json.dumps(event).encode(), None
    assert (await post(http_adapter, plain, {"Content-Type": "application/json"}))[0] == 400
    stale, headers = signed_callback(event, ENCRYPT_KEY, timestamp="1600000000")
    assert (await post(http_adapter, stale, headers))[0] == 401
    await asyncio.sleep(0.2)
    assert not fake_feishu.messages()
    assert "refused" in caplog.text
    for secret in (APP_SECRET, ENCRYPT_KEY, VERIFY_TOKEN):
        assert secret not in caplog.text


async def test_secrets_never_reach_the_logs(
    fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = feishu_from_env(feishu_dispatcher.services.settings, feishu_dispatcher, env(fake_feishu))
    await adapter.start()
    frame = fake_feishu.push(message_event("kpi gmv yesterday"))
    await fake_feishu.wait_for(fake_feishu.messages)
    assert frame in fake_feishu.acks
    fake_feishu.fail(f"POST {MESSAGES}", 400, {"code": 230002, "msg": "out of the chat"})
    with pytest.raises(DeliveryError):
        await adapter.send(ChatRef("feishu", "oc_gone"), Reply(title="x"))
    logging.getLogger("bot.adapters.feishu.adapter").warning("leak test %s", APP_SECRET)
    await adapter.stop()
    assert APP_SECRET not in caplog.text and "leak test ***" in caplog.text
    assert repr(adapter.config).count(APP_SECRET) == 0
