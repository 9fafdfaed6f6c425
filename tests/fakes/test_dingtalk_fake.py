"""The fake DingTalk itself: the real dingtalk_stream SDK connects, gets frames and acks them; the
OpenAPI answers, fails, holds and signs as tests/fakes/dingtalk_api.py says."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

import aiohttp
import dingtalk_stream
import pytest

from tests.fakes.dingtalk_api import (
    APP_KEY,
    APP_SECRET,
    CORP,
    ROBOT_CODE,
    TOKEN,
    TOPIC_CARD,
    TOPIC_ROBOT,
    FakeDingTalk,
    card_click,
    fake_dingtalk,  # noqa: F401
    outgoing_headers,
    robot_message,
)

AUTH = {"x-acs-dingtalk-access-token": TOKEN}


class Client(dingtalk_stream.DingTalkStreamClient):
    def get_host_ip(self) -> str:  # the stock one UDP-"connects" to 8.8.8.8
        return "127.0.0.1"


class Recorder(dingtalk_stream.CallbackHandler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []

    async def process(self, message: dingtalk_stream.CallbackMessage) -> tuple[int, str]:
        if message.data.get("text", {}).get("content") == " boom":
            raise RuntimeError("the handler failed")
        self.seen.append(message.data)
        return 200, "OK"


async def stop_sdk(task: asyncio.Task[None]) -> None:
    """The SDK's start() catches CancelledError and sleeps 10 s: cancel until it is done."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)


async def test_the_real_sdk_connects_gets_frames_and_acks_them(fake_dingtalk: FakeDingTalk,  # noqa: F811
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_dingtalk
    monkeypatch.setattr(dingtalk_stream.stream.DingTalkStreamClient, "OPEN_CONNECTION_API",
                        fake.url + "/v1.0/gateway/connections/open")
    client = Client(dingtalk_stream.Credential(APP_KEY, APP_SECRET))
    recorder = Recorder()
    client.register_callback_handler(TOPIC_ROBOT, recorder)
    client.register_callback_handler(TOPIC_CARD, recorder)
    task = asyncio.create_task(client.start())
    try:
        await fake.wait_for(lambda: fake.connected, timeout=5)
        [opened] = fake.calls_to("POST", "/v1.0/gateway/connections/open")
        assert opened.json["clientSecret"] == "***" and opened.json["clientId"] == APP_KEY
        assert {"type": "CALLBACK", "topic": TOPIC_ROBOT} in opened.json["subscriptions"]
        assert APP_SECRET not in json.dumps([c.json for c in fake.calls])

        message = robot_message("gmv yesterday", msg_id="msgA")
        message_id = fake.push(TOPIC_ROBOT, message)
        ack = await fake.ack(message_id)
        assert recorder.seen == [message]
        assert ack["code"] == 200 and ack["headers"]["messageId"] == message_id
        assert json.loads(ack["data"]) == {"response": "OK"}

        # an exception in process() is swallowed by the SDK: no ack at all (DingTalk would redeliver)
        failing = fake.push(TOPIC_ROBOT, robot_message("boom"))
        clicked = fake.push(TOPIC_CARD, card_click("refresh"))
        await fake.ack(clicked)
        await asyncio.sleep(0.1)
        assert failing not in fake.acks
        assert json.loads(recorder.seen[-1]["content"])["cardPrivateData"]["actionIds"] == ["refresh"]

        ping = fake.ping()
        pong = await fake.ack(ping)
        assert pong["code"] == 200 and json.loads(pong["data"]) == json.loads(fake.received[-1]["data"])
        assert "opaque" in json.loads(pong["data"])

        # a disconnect frame: the SDK acks, closes cleanly and the stock start() reconnects at once
        fake.disconnect()
        await fake.wait_for(lambda: fake.ws_connects == 2 and fake.connected, timeout=5)
        assert len(fake.calls_to("POST", "/v1.0/gateway/connections/open")) == 2
        again = fake.push(TOPIC_ROBOT, robot_message("second connection"))
        assert (await fake.ack(again))["code"] == 200

        fake.drop()  # the server side breaks: the SDK sees the connection go
        await fake.wait_for(lambda: not fake.connected, timeout=2)
    finally:
        await stop_sdk(task)


async def test_tickets_and_credentials(fake_dingtalk: FakeDingTalk) -> None:  # noqa: F811
    async with aiohttp.ClientSession() as http:
        async with http.get(fake_dingtalk.url + "/connect?ticket=nope") as r:
            assert r.status == 403
        bad = {"clientId": APP_KEY, "clientSecret": "wrong", "subscriptions": []}
        async with http.post(fake_dingtalk.url + "/v1.0/gateway/connections/open", json=bad) as r:
            assert r.status == 401 and (await r.json())["code"] == "invalidClientIdOrSecret"
        async with http.post(fake_dingtalk.url + "/v1.0/oauth2/accessToken",
                             json={"appKey": APP_KEY, "appSecret": APP_SECRET}) as r:
            assert r.status == 200 and await r.json() == {"accessToken": TOKEN, "expireIn": 7200}
        async with http.post(fake_dingtalk.url + "/v1.0/oauth2/accessToken",
                             json={"appKey": APP_KEY, "appSecret": "wrong"}) as r:
            assert r.status == 400 and (await r.json())["code"] == "invalidClientIdOrSecret"
    assert all(c.json.get("appSecret") in (None, "***") for c in fake_dingtalk.calls if c.json)


def group_message(conversation: str = "cidOPS", content: str = "hello") -> dict[str, Any]:
    return {"msgParam": json.dumps({"content": content}), "msgKey": "sampleText",
            "openConversationId": conversation, "robotCode": ROBOT_CODE}


async def test_group_and_one_to_one_messages(fake_dingtalk: FakeDingTalk) -> None:  # noqa: F811
    send = fake_dingtalk.url + "/v1.0/robot/groupMessages/send"
    async with aiohttp.ClientSession() as http:
        async with http.post(send, json=group_message()) as r:
            assert r.status == 401 and (await r.json())["code"] == "InvalidAuthentication"
        async with http.post(send, json=group_message(content="销售额"), headers=AUTH) as r:
            assert r.status == 200 and (await r.json())["processQueryKey"].startswith("pqk_")
        async with http.post(fake_dingtalk.url + "/v1.0/robot/oToMessages/batchSend", headers=AUTH,
                             json={"robotCode": ROBOT_CODE, "userIds": ["staff_alice"], "msgKey": "sampleMarkdown",
                                   "msgParam": json.dumps({"title": "KPI", "text": "# GMV"})}) as r:
            assert await r.json() == {"processQueryKey": "pqk_2", "invalidStaffIdList": [],
                                      "flowControlledStaffIdList": []}
    [group, direct] = fake_dingtalk.messages()
    assert group.msg_param == {"content": "销售额"} and group.status == 200
    assert fake_dingtalk.delivered_to("staff_alice") == [direct]
    assert fake_dingtalk.delivered_to("cidOPS") == [group]
    assert fake_dingtalk.calls[0].status == 401 and fake_dingtalk.calls[0].failed == "auth"


async def test_fail_fail_for_and_outage(fake_dingtalk: FakeDingTalk) -> None:  # noqa: F811
    key = "POST /v1.0/robot/groupMessages/send"
    send = fake_dingtalk.url + "/v1.0/robot/groupMessages/send"
    fake_dingtalk.fail(key, 403, {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "qps"})
    fake_dingtalk.fail(key, 503, "upstream down")
    fake_dingtalk.fail_for(key, lambda c: c.json["openConversationId"] == "cidSLOW", 429,
                           {"code": "Throttling", "message": "slow down"}, times=2)
    async with aiohttp.ClientSession() as http:
        async def status(conversation: str = "cidOPS") -> tuple[int, str]:
            async with http.post(send, json=group_message(conversation), headers=AUTH) as r:
                return r.status, await r.text()

        assert (await status())[0] == 403
        assert await status() == (503, "upstream down")
        assert (await status())[0] == 200
        assert (await status("cidSLOW"))[0] == 429
        assert (await status("cidOPS"))[0] == 200
        assert (await status("cidSLOW"))[0] == 429
        assert (await status("cidSLOW"))[0] == 200
        fake_dingtalk.outage(503)
        assert (await status())[0] == 503
        fake_dingtalk.outage(None)
        assert (await status())[0] == 200
    assert [c.json["openConversationId"] for c in fake_dingtalk.messages()] == ["cidOPS", "cidOPS", "cidSLOW",
                                                                                  "cidOPS"]
    assert len(fake_dingtalk.delivered_to("cidSLOW")) == 1


async def test_hold_late_answer_and_client_gone(fake_dingtalk: FakeDingTalk) -> None:  # noqa: F811
    key = "POST /v1.0/robot/groupMessages/send"
    send = fake_dingtalk.url + "/v1.0/robot/groupMessages/send"
    fake_dingtalk.hold(key, 5.0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as http:
        with pytest.raises(TimeoutError):
            async with http.post(send, json=group_message("cidGONE"), headers=AUTH):
                pass
    gone = await fake_dingtalk.wait_for(lambda: [c for c in fake_dingtalk.calls if c.status == 499], timeout=2)
    assert gone[0].failed == "client_gone" and fake_dingtalk.delivered_to("cidGONE") == []

    fake_dingtalk.hold(key, 0.3)
    async with aiohttp.ClientSession() as http:
        pending = asyncio.create_task(http.post(send, json=group_message("cidLATE"), headers=AUTH))
        await fake_dingtalk.wait_for(lambda: fake_dingtalk.held[key] == 1)
        assert fake_dingtalk.delivered_to("cidLATE") == []
        response = await pending
        assert response.status == 200
        response.release()
    assert fake_dingtalk.held[key] == 0 and len(fake_dingtalk.delivered_to("cidLATE")) == 1
    fake_dingtalk.hold(key, 5.0)
    fake_dingtalk.cancel_holds(key)
    await fake_dingtalk.settle(0.1)


async def test_cards_and_media(fake_dingtalk: FakeDingTalk) -> None:  # noqa: F811
    url = fake_dingtalk.url
    card = {"cardTemplateId": "tpl.schema", "outTrackId": "ops_card_1", "callbackType": "STREAM",
            "cardData": {"cardParamMap": {"title": "GMV", "value": "1.2万"}},
            "openSpaceId": "dtv1.card//IM_GROUP.cidOPS",
            "imGroupOpenDeliverModel": {"robotCode": ROBOT_CODE}}
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/v1.0/card/instances/createAndDeliver", json=card, headers=AUTH) as r:
            assert (await r.json())["result"] == {"outTrackId": "ops_card_1", "deliverResults": [
                {"spaceType": "IM_GROUP", "spaceId": "cidOPS", "success": True}]}
        update = {"outTrackId": "ops_card_1", "cardData": {"cardParamMap": {"title": "GMV", "value": "1.3万"}}}
        async with http.put(url + "/v1.0/card/instances", json=update, headers=AUTH) as r:
            assert await r.json() == {"success": True, "result": True}
        async with http.put(url + "/v1.0/card/instances", json={**update, "outTrackId": "nope"}, headers=AUTH) as r:
            assert r.status == 404 and (await r.json())["code"] == "resource.not.found"

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("media", b"\x89PNG-bytes", filename="chart.png", content_type="image/png")
            return data

        async with http.post(url + f"/media/upload?access_token={TOKEN}&type=image", data=form()) as r:
            uploaded = await r.json()
        async with http.post(url + "/media/upload?access_token=wrong&type=image", data=form()) as r:
            assert (await r.json())["errcode"] == 40014
    assert fake_dingtalk.cards == {"ops_card_1": {"title": "GMV", "value": "1.3万"}}
    assert fake_dingtalk.delivered_to("cidOPS")[0].card == {"title": "GMV", "value": "1.2万"}
    assert uploaded["errcode"] == 0 and uploaded["media_id"].startswith("@lADP") and uploaded["type"] == "image"
    upload = fake_dingtalk.calls_to("POST", "/media/upload")[0]
    assert upload.form["media"] == b"\x89PNG-bytes" and upload.form["filename"] == "chart.png"
    assert upload.form["type"] == "image"


def test_payload_builders_and_the_outgoing_signature() -> None:
    headers = outgoing_headers(timestamp_ms=1764000000123)
    expected = base64.b64encode(hmac.new(APP_SECRET.encode(), b"1764000000123\n" + APP_SECRET.encode(),
                                         hashlib.sha256).digest()).decode()
    assert headers == {"timestamp": "1764000000123", "sign": expected, "Content-Type": "application/json"}

    group = robot_message("gmv")
    parsed = dingtalk_stream.ChatbotMessage.from_dict(group)
    assert parsed.text.content == " gmv" and parsed.conversation_type == "2" and parsed.sender_corp_id == CORP
    assert parsed.at_users[0].dingtalk_id == "$:LWCP_v1:$bot" and parsed.is_in_at_list is True
    direct = robot_message("gmv", conversation_type="1", conversation_id="cidDM")
    assert direct["text"] == {"content": "gmv"} and "conversationTitle" not in direct
    assert direct["conversationId"].startswith("cid")
    assert dingtalk_stream.ChatbotMessage.from_dict(robot_message("x", msgtype="picture")).image_content
