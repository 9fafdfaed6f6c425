"""The DingTalk adapter end to end: the real dingtalk-stream SDK's frames and acks over a loopback
websocket, the OpenAPI over real HTTP, both against the fake DingTalk; the outgoing robot's
HTTP callbacks signed as DingTalk signs them."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.base import DeliveryError, Progress
from bot.adapters.dingtalk.adapter import DingTalkAdapter, dingtalk_from_env
from bot.adapters.dingtalk.limits import CARD_BUDGET, CARD_TEMPLATE
from bot.context import ChatRef, Incoming
from bot.delivery.outbox import Deliverer, Outbox
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.ops import OpsMetrics, OpsServer, readiness_checks
from bot.reply import Action, Attachment, Field, Reply, Table
from metrics.data.sample import Shop
from tests.bot.adapters.dingtalk.conftest import LONG_TABLE_ROWS, long_table_row
from tests.bot.adapters.dingtalk.support import PNG, cards, config, env, gmv_yesterday, number
from tests.fakes.dingtalk_api import (
    APP_KEY,
    APP_SECRET,
    CARD_DELIVER,
    CORP,
    GROUP_SEND,
    MEDIA_UPLOAD,
    TOPIC_CARD,
    TOPIC_ROBOT,
    FakeDingTalk,
    card_click,
    fake_dingtalk,  # noqa: F401
    outgoing_headers,
    robot_message,
)


def md(cell: str) -> str:
    """A cell as DingTalk's markdown must carry it: each mark markdown (or a mention) reads escaped."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!|<>~@" else ch for ch in cell)


# ---- Stream mode ----------------------------------------------------------------------------


async def test_a_group_mention_gets_a_card_with_the_warehouse_gmv(
    stream_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk, demo_shop: Shop  # noqa: F811
) -> None:
    frame = fake_dingtalk.push(TOPIC_ROBOT, robot_message("kpi gmv yesterday"))
    ack = await fake_dingtalk.ack(frame)
    assert ack["code"] == 200 and json.loads(ack["data"]) == {"response": "OK"}  # the SDK's ack, at once
    [call] = await fake_dingtalk.wait_for(fake_dingtalk.messages)
    assert call.path == CARD_DELIVER and call.json["cardTemplateId"] == CARD_TEMPLATE
    assert call.json["openSpaceId"] == "dtv1.card//IM_GROUP.cidOPS"
    assert call.json["imGroupOpenDeliverModel"] == {"robotCode": APP_KEY}
    assert call.headers["x-acs-dingtalk-access-token"] == "dt-fake-access-token"
    card = call.card
    assert all(isinstance(v, str) for v in card.values())  # cardParamMap takes strings only
    # an English command is answered in English (the message's own language wins: docs/languages.md)
    [line] = [ln for ln in card["markdown"].split("  \n") if ln.startswith("**GMV**")]
    value = line.split(": ", 1)[1].split("  ")[0]
    assert number(value.replace("\\", "")) == pytest.approx(gmv_yesterday(demo_shop), abs=1)


async def test_a_direct_message_works_and_a_group_message_not_addressed_is_ignored(
    stream_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk  # noqa: F811
) -> None:
    fake_dingtalk.push(TOPIC_ROBOT, robot_message("kpi gmv yesterday", in_at_list=False))
    fake_dingtalk.push(TOPIC_ROBOT, robot_message("/ops kpi gmv yesterday", conversation_type="1",
                                                  conversation_id="cidDMALICE"))
    [call] = await fake_dingtalk.wait_for(fake_dingtalk.messages)
    assert call.json["openSpaceId"] == "dtv1.card//IM_ROBOT.staff_alice"  # to the person, not the group
    await fake_dingtalk.settle()
    assert len(fake_dingtalk.messages()) == 1


async def test_a_typo_is_answered_with_a_suggestion(
    stream_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk  # noqa: F811
) -> None:
    fake_dingtalk.push(TOPIC_ROBOT, robot_message("kpi gvm yesterday"))
    [call] = await fake_dingtalk.wait_for(fake_dingtalk.messages)
    assert "gmv" in call.card["markdown"] and call.card["title"].startswith("⚠")


async def test_an_unlisted_chat_or_organisation_is_refused(
    stream_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk  # noqa: F811
) -> None:
    fake_dingtalk.push(TOPIC_ROBOT, robot_message("kpi gmv yesterday", conversation_id="cidRANDOM",
                                                  staff_id="staff_mallory"))
    fake_dingtalk.push(TOPIC_ROBOT, robot_message("kpi gmv yesterday", corp="dingothercorp"))
    answers = await fake_dingtalk.wait_for(lambda: len(cards(fake_dingtalk)) == 2 and cards(fake_dingtalk))
    for card in answers:
        assert card["title"].startswith("⚠") and "GMV" not in card["markdown"] and "成交额" not in card["markdown"]


async def test_a_button_click_runs_the_command_as_the_clicker(
    stream_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk  # noqa: F811
) -> None:
    # the button was on a card in cidELSEWHERE, which is not allow-listed: staff_alice is, as a user
    frame = fake_dingtalk.push(TOPIC_CARD, card_click("ops:kpi gmv yesterday", space_id="cidELSEWHERE",
                                                      staff_id="staff_alice"))
    assert (await fake_dingtalk.ack(frame))["code"] == 200
    [call] = await fake_dingtalk.wait_for(fake_dingtalk.messages)
    assert call.json["openSpaceId"] == "dtv1.card//IM_GROUP.cidELSEWHERE"
    assert not call.card["title"].startswith("⚠")
    # the same click by someone with no access is refused: it ran as the clicker, not as the card's author
    fake_dingtalk.push(TOPIC_CARD, card_click("ops:kpi gmv yesterday", space_id="cidELSEWHERE",
                                              staff_id="staff_mallory"))
    await fake_dingtalk.wait_for(lambda: len(fake_dingtalk.messages()) == 2)
    assert fake_dingtalk.messages()[1].card["title"].startswith("⚠")


async def test_a_redelivered_message_runs_once(stream_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk) -> None:  # noqa: F811
    message = robot_message("kpi gmv yesterday", msg_id="msgSAME")
    fake_dingtalk.push(TOPIC_ROBOT, message)
    fake_dingtalk.push(TOPIC_ROBOT, message)
    await fake_dingtalk.wait_for(fake_dingtalk.messages)
    await fake_dingtalk.settle(0.5)
    assert len(fake_dingtalk.messages()) == 1


async def test_the_stream_reconnects_after_a_drop(
    stream_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk  # noqa: F811
) -> None:
    # the fake counts a connection in its own thread, a moment after the client's handshake returned
    await fake_dingtalk.wait_for(lambda: fake_dingtalk.ws_connects == 1)
    fake_dingtalk.drop()
    # at least one reconnect (a second may follow if the first lands while the old socket closes)
    await fake_dingtalk.wait_for(lambda: fake_dingtalk.ws_connects >= 2 and fake_dingtalk.connected, timeout=20)
    await fake_dingtalk.wait_for(lambda: stream_adapter.connected)
    fake_dingtalk.push(TOPIC_ROBOT, robot_message("kpi gmv yesterday"))
    await fake_dingtalk.wait_for(fake_dingtalk.messages)


async def test_wrong_credentials_stop_start_with_a_clear_error(
    fake_dingtalk: FakeDingTalk, dingtalk_dispatcher: Dispatcher  # noqa: F811
) -> None:
    adapter = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk, client_secret="wrong"))
    with pytest.raises(ConfigError, match="DINGTALK_CLIENT_ID"):
        await adapter.start()
    await adapter.stop()
    http = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk, client_secret="wrong", mode="http", port=0))
    with pytest.raises(ConfigError, match="DINGTALK_CLIENT_SECRET"):
        await http.start()
    await http.stop()


def test_a_missing_variable_is_named(dingtalk_dispatcher: Dispatcher) -> None:
    settings = dingtalk_dispatcher.services.settings
    with pytest.raises(ConfigError, match="DINGTALK_CLIENT_SECRET"):
        dingtalk_from_env(settings, dingtalk_dispatcher, {"DINGTALK_CLIENT_ID": APP_KEY})
    with pytest.raises(ConfigError, match="DINGTALK_API_URL"):
        dingtalk_from_env(settings, dingtalk_dispatcher, {"DINGTALK_CLIENT_ID": APP_KEY, "DINGTALK_CLIENT_SECRET": "x",
                                                          "DINGTALK_API_URL": "api.dingtalk.com/v1.0"})
    adapter = dingtalk_from_env(settings, dingtalk_dispatcher, {"DINGTALK_CLIENT_ID": APP_KEY,
                                                                "DINGTALK_CLIENT_SECRET": "x"})
    assert adapter.config.api_url == "https://api.dingtalk.com" and adapter.config.robot == APP_KEY


# ---- rendering, through the fake --------------------------------------------------------------


async def test_hostile_text_is_shown_as_typed(
    stream_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk  # noqa: F811
) -> None:
    hostile = '**bold** [link](http://evil) <font color=red>x</font> @所有人 # heading'
    reply = Reply(title="Alert", text=[hostile], fields=[Field("[x](y)", "*1*")],
                  tables=[Table(["a|b", "c"], [["<b>", "`code`"]])])
    await stream_adapter.send(ChatRef("dingtalk", "cidOPS"), reply)
    markdown = cards(fake_dingtalk)[0]["markdown"]
    paragraph, fields, table = markdown.split("\n\n")
    header, row = table.split("  \n")
    label, value = fields.split(": ")
    # every piece of data reaches DingTalk with each markdown or HTML mark backslash-escaped (CommonMark's
    # escape): shown as typed, read as nothing
    pieces = [paragraph, label.removeprefix("**").removesuffix("**"), value, *row.split(" | "),
              *(h.removeprefix("**").removesuffix("**") for h in header.split(" | "))]
    for piece in pieces:
        assert re.search(r"(?<!\\)[<>\[\]()`#@|*_]", piece) is None, piece
    assert [re.sub(r"\\(.)", r"\1", p) for p in pieces] == [hostile, "[x](y)", "*1*", "<b>", "`code`", "a|b", "c"]


async def test_a_long_table_is_split_in_order_within_the_card_budget(
    stream_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk  # noqa: F811
) -> None:
    fake_dingtalk.push(TOPIC_ROBOT, robot_message("longtable"))
    await fake_dingtalk.wait_for(lambda: len(cards(fake_dingtalk)) > 1)
    await fake_dingtalk.settle()
    sent = cards(fake_dingtalk)
    assert all(len(c["markdown"].encode()) <= CARD_BUDGET for c in sent)
    assert [c["title"] for c in sent] == [f"All SKUs ({i}/{len(sent)})" for i in range(1, len(sent) + 1)]
    rows = [ln for c in sent for ln in c["markdown"].split("  \n") if ln.startswith("SKU\\-")]
    assert rows == [" | ".join(md(c) for c in long_table_row(i)) for i in range(LONG_TABLE_ROWS)]
    assert all("**SKU** | **GMV** | **Share**" in c["markdown"] for c in sent)  # the header on every page


async def test_a_push_through_the_outbox_lands_card_image_and_file_with_buttons(
    fake_dingtalk: FakeDingTalk, dingtalk_dispatcher: Dispatcher  # noqa: F811
) -> None:
    adapter = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk))
    outbox = Outbox(dingtalk_dispatcher.services.store)
    reply = await dingtalk_dispatcher.dispatch(Incoming(text="chartdemo", chat=ChatRef("dingtalk", "cidOPS"),
                                                        user="dingtalk:staff_alice", team=CORP))
    await asyncio.to_thread(outbox.enqueue, "dingtalk-digest:1", ChatRef("dingtalk", "cidOPS"), reply)
    assert await Deliverer(outbox, {"dingtalk": adapter}).run_once() == 1
    card_call, image_call, file_call = fake_dingtalk.messages()
    buttons = json.loads(card_call.card["sys_full_json_obj"])["msgButtons"]
    assert buttons == [{"text": "By channel", "color": "gray", "id": "ops:kpi gmv by channel", "request": True}]
    image_upload, file_upload = fake_dingtalk.calls_to("POST", MEDIA_UPLOAD)
    assert image_upload.form["media"] == PNG and image_upload.query["type"] == "image"
    assert image_call.path == GROUP_SEND and image_call.json["msgKey"] == "sampleImageMsg"
    assert set(image_call.msg_param) == {"photoURL"} and image_call.msg_param["photoURL"].startswith("@lADP")
    assert file_upload.form["media"] == b"a,b\n1,2\n" and file_upload.query["type"] == "file"
    assert file_call.json["msgKey"] == "sampleFile" and file_call.msg_param["fileName"] == "export.csv"
    item = await asyncio.to_thread(outbox.get, "dingtalk-digest:1")
    assert item is not None and item.status == "sent" and item.message_id == card_call.json["outTrackId"]
    await adapter.stop()


async def test_an_edit_updates_the_same_card(fake_dingtalk: FakeDingTalk, dingtalk_dispatcher: Dispatcher) -> None:  # noqa: F811
    adapter = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk))
    sent = await adapter.send(ChatRef("dingtalk", "cidOPS"), Reply(title="Digest", text=["GMV ¥100"]))
    edited = await adapter.edit(sent, Reply(title="Digest (restated)", text=["GMV ¥120"]))
    assert edited.message_id == sent.message_id
    [update] = fake_dingtalk.calls_to("PUT", "/v1.0/card/instances")
    assert update.json["outTrackId"] == sent.message_id and "¥120" in update.card["markdown"]
    assert fake_dingtalk.cards[sent.message_id]["title"] == "Digest (restated)"
    assert len(fake_dingtalk.messages()) == 1
    await adapter.stop()


async def test_throttling_is_retried_and_a_permanent_refusal_fails_the_item(
    fake_dingtalk: FakeDingTalk, dingtalk_dispatcher: Dispatcher  # noqa: F811
) -> None:
    adapter = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk))
    qps = {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "qps limit"}
    fake_dingtalk.fail(f"POST {CARD_DELIVER}", 403, qps, 2)
    sent = await adapter.send(ChatRef("dingtalk", "cidOPS"), Reply(title="Alert", text=["x"]))
    assert sent.message_id and len(fake_dingtalk.calls_to("POST", CARD_DELIVER)) == 3
    fake_dingtalk.fail(f"POST {CARD_DELIVER}", 403, qps, 9)
    with pytest.raises(DeliveryError) as raised:
        await adapter.send(ChatRef("dingtalk", "cidOPS"), Reply(title="Alert", text=["x"]))
    assert not raised.value.permanent and "QpsLimitForApi" in raised.value.reason
    assert adapter.limiters["cidOPS"].wait_needed() > 0  # the group rests a minute after "too fast"
    fake_dingtalk.clear_failures()
    adapter.limiters["cidOPS"].closed_until = 0  # the minute has passed

    outbox = Outbox(dingtalk_dispatcher.services.store)
    fake_dingtalk.fail(f"POST {CARD_DELIVER}", 400, {"code": "param.invalid", "message": "robot not in group"})
    await asyncio.to_thread(outbox.enqueue, "dingtalk-alert:1", ChatRef("dingtalk", "cidGONE"), Reply(title="Alert"))
    assert await Deliverer(outbox, {"dingtalk": adapter}).run_once() == 0
    item = await asyncio.to_thread(outbox.get, "dingtalk-alert:1")
    assert item is not None and item.status == "failed" and "param.invalid" in (item.last_error or "")
    await adapter.stop()


async def test_an_expired_token_is_fetched_again(fake_dingtalk: FakeDingTalk, dingtalk_dispatcher: Dispatcher) -> None:  # noqa: F811
    adapter = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk))
    await adapter.send(ChatRef("dingtalk", "cidOPS"), Reply(title="one"))
    fake_dingtalk.fail(f"POST {CARD_DELIVER}", 401, {"code": "InvalidAuthentication", "message": "token expired"})
    await adapter.send(ChatRef("dingtalk", "cidOPS"), Reply(title="two"))
    assert len(fake_dingtalk.calls_to("POST", "/v1.0/oauth2/accessToken")) == 2
    assert [c["title"] for c in cards(fake_dingtalk)] == ["one", "two"]
    await adapter.stop()


async def test_progress_skips_the_parts_already_delivered(
    fake_dingtalk: FakeDingTalk, dingtalk_dispatcher: Dispatcher  # noqa: F811
) -> None:
    adapter = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk))
    reply = Reply(title="Export", text=["x"], files=[Attachment("a.csv", b"1\n")])
    await adapter.send(ChatRef("dingtalk", "cidOPS"), reply, Progress(done=1, ids=["old"]))
    [only] = fake_dingtalk.messages()
    assert only.json["msgKey"] == "sampleFile"
    await adapter.stop()


async def test_a_burst_to_one_group_never_exceeds_20_a_minute(
    fake_dingtalk: FakeDingTalk, dingtalk_dispatcher: Dispatcher  # noqa: F811
) -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    adapter = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk, max_wait=120), clock=lambda: now[0],
                              sleep=sleep)
    for n in range(25):
        await adapter.send(ChatRef("dingtalk", "cidOPS"), Reply(title=f"alert {n}"))
    # the first 20 go at once (the clock stands still), the 21st waits out the minute, then the rest go
    assert len(cards(fake_dingtalk)) == 25 and slept == [60.0]
    await adapter.stop()


# ---- the outgoing robot's HTTP callbacks ------------------------------------------------------


async def post(adapter: DingTalkAdapter, body: bytes, headers: dict[str, str]) -> int:
    assert adapter.url is not None
    async with aiohttp.ClientSession() as session, session.post(adapter.url, data=body, headers=headers) as response:
        return response.status


async def test_http_accepts_a_signed_message_and_refuses_its_replay(
    http_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk  # noqa: F811
) -> None:
    body = json.dumps(robot_message("kpi gmv yesterday")).encode()
    headers = outgoing_headers()
    assert await post(http_adapter, body, headers) == 200
    [call] = await fake_dingtalk.wait_for(fake_dingtalk.messages)
    assert "GMV" in call.card["markdown"] or "成交额" in call.card["markdown"]
    # the same signature again, even with another message in the body: refused
    other = json.dumps(robot_message("kpi orders yesterday")).encode()
    assert await post(http_adapter, other, headers) == 200
    await fake_dingtalk.settle(0.5)
    assert len(fake_dingtalk.messages()) == 1


async def test_http_refuses_forged_stale_and_unsigned_requests(
    http_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps(robot_message("kpi gmv yesterday")).encode()
    assert await post(http_adapter, body, outgoing_headers("another-secret")) == 401
    assert await post(http_adapter, body, outgoing_headers(timestamp_ms=1_600_000_000_000)) == 401
    assert await post(http_adapter, body, {"Content-Type": "application/json"}) == 401
    assert await post(http_adapter, b"not json", outgoing_headers()) == 400
    await fake_dingtalk.settle(0.3)
    assert not fake_dingtalk.messages()
    assert "refused" in caplog.text and APP_SECRET not in caplog.text


async def test_http_mode_shows_buttons_as_a_hint(
    http_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk  # noqa: F811
) -> None:
    await http_adapter.send(ChatRef("dingtalk", "cidOPS"), Reply(title="x", actions=[Action("By channel", "kpi gmv by channel")]))
    [card] = cards(fake_dingtalk)
    assert json.loads(card["sys_full_json_obj"]) == {"msgButtons": []}
    assert "kpi gmv by channel" in card["markdown"]


async def test_the_secret_never_reaches_the_logs(
    fake_dingtalk: FakeDingTalk, dingtalk_dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = dingtalk_from_env(dingtalk_dispatcher.services.settings, dingtalk_dispatcher, env(fake_dingtalk))
    await adapter.start()
    fake_dingtalk.push(TOPIC_ROBOT, robot_message("kpi gmv yesterday"))
    await fake_dingtalk.wait_for(fake_dingtalk.messages)
    logging.getLogger("bot.adapters.dingtalk.adapter").warning("leak test %s", APP_SECRET)
    await adapter.stop()
    assert APP_SECRET not in caplog.text and "leak test ***" in caplog.text
    assert APP_SECRET not in repr(adapter.config)


# ---- operations --------------------------------------------------------------------------------


async def test_readiness_and_metrics_follow_the_stream_connection(
    fake_dingtalk: FakeDingTalk, dingtalk_dispatcher: Dispatcher  # noqa: F811
) -> None:
    adapter = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk, reconnect_max=30))
    metrics = OpsMetrics()
    metrics.watch_adapters([adapter])
    server = OpsServer(metrics, readiness_checks(dingtalk_dispatcher.services, [adapter]), port=0)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"

    async def ready() -> tuple[int, Any, float]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/readyz") as response:
                status, body = response.status, await response.json()
            async with session.get(f"{base}/metrics") as response:
                exposition = await response.text()
        [gauge] = [s.value for f in text_string_to_metric_families(exposition) for s in f.samples
                   if s.name == "opsbot_adapter_connected" and s.labels == {"platform": "dingtalk"}]
        return status, body, gauge

    try:
        status, body, gauge = await ready()
        assert (status, body["failed"], gauge) == (503, ["dingtalk"], 0.0)  # not started yet
        await adapter.start()
        status, body, gauge = await ready()
        assert (status, body["checks"]["dingtalk"], gauge) == (200, "ok", 1.0)
        fake_dingtalk.outage(503)  # the gateway is down: the dropped stream cannot come back
        fake_dingtalk.drop()
        await fake_dingtalk.wait_for(lambda: not adapter.connected)
        status, body, gauge = await ready()
        assert (status, body["failed"], gauge) == (503, ["dingtalk"], 0.0)
    finally:
        fake_dingtalk.outage(None)
        await adapter.stop()
        await server.stop()


async def test_a_chinese_question_is_answered_in_chinese(
    stream_adapter: DingTalkAdapter, fake_dingtalk: FakeDingTalk, demo_shop: Shop  # noqa: F811
) -> None:
    fake_dingtalk.push(TOPIC_ROBOT, robot_message("指标 销售额 昨天"))
    [call] = await fake_dingtalk.wait_for(fake_dingtalk.messages)
    [line] = [ln for ln in call.card["markdown"].split("  \n") if ln.startswith("**销售额**")]
    assert number(line.split(": ", 1)[1].split("  ")[0].replace("\\", "")) == pytest.approx(
        gmv_yesterday(demo_shop), abs=1)
