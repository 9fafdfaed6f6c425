"""The Slack adapter end to end: real HTTP on loopback against the fake Slack, Bolt untouched."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.adapters.base import DeliveryError
from bot.adapters.slack.adapter import SlackAdapter, slack_from_env
from bot.adapters.slack.config import SlackConfig, normalize_api_url
from bot.adapters.slack.requests import signed_request
from bot.app import build_dispatcher
from bot.config import Settings, SlackSection
from bot.context import Args, ChatRef, Context
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.reply import Action, Chart, Field, Reply
from bot.router import Router
from bot.state.store import AuditEntry
from metrics.data.warehouse import Warehouse
from tests.conftest import Clock
from tests.fakes.slack_api import (
    BOT_USER_ID,
    FakeSlack,
    block_actions,
    block_actions_form,
    dm_event,
    event_body,
    fake_slack,  # noqa: F401
    mention_event,
    sign,
    slash_command,
    slash_command_form,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-1-test-app-token"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def slack_dispatcher(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock) -> Dispatcher:
    settings = demo_settings.model_copy(update={
        "access": demo_settings.access.model_copy(update={
            "chats": ("slack:COPS",), "users": ("slack:UALICE",), "admins": ()}),
        "slack": SlackSection(mode="http", port=0),
    })
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock)
    router = Router()

    # a reply with a chart and buttons, whatever the real handlers produce today
    @router.command("chartdemo")
    async def chartdemo(ctx: Context, args: Args) -> Reply:
        return Reply(title="GMV trend", fields=[Field("GMV", "¥1", "+1.0%", "up", True)],
                     charts=[Chart(png=PNG, title="GMV, last 30 days", filename="gmv.png")],
                     actions=[Action("By channel", "kpi gmv by channel")])

    @router.command("slow")
    async def slow(ctx: Context, args: Args) -> Reply:
        await asyncio.sleep(0.3)  # a query that outlives the ack
        return Reply(title="Slow answer", text=["done"])

    dispatcher.include(router)
    return dispatcher


@pytest.fixture
async def http_adapter(
    fake_slack: FakeSlack, slack_dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> AsyncIterator[SlackAdapter]:
    # through slack_from_env, as `opsbot run` builds it
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)  # no trailing slash on purpose (PITFALLS 2.8)
    adapter = slack_from_env(slack_dispatcher.services.settings, slack_dispatcher)
    await adapter.start()
    yield adapter
    await adapter.stop()


def config(fake: FakeSlack, **overrides: Any) -> SlackConfig:
    values: dict[str, Any] = {"bot_token": BOT_TOKEN, "mode": "socket", "app_token": APP_TOKEN,
                              "api_url": fake.api_url, "retry_backoff": 0.05, "ping_interval": 5}
    return SlackConfig(**{**values, **overrides})


@pytest.fixture
async def outbound(fake_slack: FakeSlack, slack_dispatcher: Dispatcher) -> AsyncIterator[SlackAdapter]:  # noqa: F811
    """An adapter used only to push (never started), as the scheduler uses it."""
    adapter = SlackAdapter(slack_dispatcher, config(fake_slack))
    yield adapter
    await adapter.stop()


async def post(adapter: SlackAdapter, body: str, headers: dict[str, str],
               sign_with: Callable[[str], dict[str, str]] | None = None) -> tuple[int, str, float]:
    signed = (sign_with or (lambda b: sign(SECRET, b)))(body)
    started = time.monotonic()
    assert adapter.url is not None
    async with aiohttp.ClientSession() as session:
        async with session.post(adapter.url, data=body.encode(), headers={**headers, **signed}) as response:
            return response.status, await response.text(), time.monotonic() - started


# ---- HTTP mode: slash command ---------------------------------------------------------------


async def test_slash_command_is_acked_at_once_then_answered_in_channel(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    body = slash_command_form("kpi gmv yesterday", response_url=fake_slack.response_url("c1"))
    status, text, elapsed = await post(http_adapter, body, FORM)
    assert status == 200 and elapsed < 2.0
    ack = json.loads(text)
    assert ack["response_type"] == "ephemeral" and "Working on `/ops kpi gmv yesterday`" in ack["text"]

    answer = await fake_slack.wait_for("response")
    assert answer.path == "/response/c1"
    assert answer.args["response_type"] == "in_channel"
    assert answer.blocks[0] == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                           "text": "KPIs · yesterday (2026-11-24)"}}
    fields = [f["text"] for b in answer.blocks if b["type"] == "section" for f in b.get("fields", [])]
    assert fields and fields[0].startswith("*GMV*\n")
    assert answer.text.startswith("KPIs · yesterday") and "GMV: " in answer.text  # the fallback
    # the bot token signed every Web API call; response_url needed no channel membership
    assert {c.token for c in fake_slack.calls if c.method not in ("response", "upload")} == {BOT_TOKEN}
    assert not fake_slack.calls_to("chat.postMessage")


async def test_chinese_command_is_answered_in_chinese(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    _, text, _ = await post(http_adapter, slash_command_form("指标 销售额 昨天", response_url=fake_slack.response_url()),
                            FORM)
    assert "正在处理 `/ops 指标 销售额 昨天`" in json.loads(text)["text"]
    answer = await fake_slack.wait_for("response")
    assert answer.blocks[0]["text"]["text"].startswith("核心指标")
    assert "*销售额*" in answer.all_text()


async def test_stop_lets_an_answer_in_flight_finish(
    fake_slack: FakeSlack, slack_dispatcher: Dispatcher  # noqa: F811
) -> None:
    adapter = SlackAdapter(slack_dispatcher, config(fake_slack, mode="http", signing_secret=SECRET, port=0))
    await adapter.start()
    status, _, _ = await post(adapter, slash_command_form("slow", response_url=fake_slack.response_url()), FORM)
    assert status == 200 and not fake_slack.calls_to("response")
    await adapter.stop()  # right after the ack, while the query still runs
    assert "Slow answer" in fake_slack.calls_to("response")[0].text


async def test_unknown_command_gets_a_helpful_private_reply(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    status, _, _ = await post(http_adapter, slash_command_form("kpii gmv", response_url=fake_slack.response_url()), FORM)
    assert status == 200
    answer = await fake_slack.wait_for("response")
    assert answer.args["response_type"] == "ephemeral"  # a typo is nobody else's business
    assert "Unknown command 'kpii'" in answer.text and "Did you mean kpi?" in answer.text
    assert ":warning:" in answer.all_text()


async def test_unknown_chat_and_user_are_refused_without_data(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    body = slash_command_form("kpi gmv", channel="CRANDOM", user="UMALLORY", response_url=fake_slack.response_url())
    await post(http_adapter, body, FORM)
    answer = await fake_slack.wait_for("response")
    assert answer.args["response_type"] == "ephemeral"
    assert "not allowed" in answer.text and "slack:CRANDOM" in answer.text
    assert "¥" not in answer.all_text()


async def test_slash_command_falls_back_to_the_web_api_when_response_url_is_spent(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    fake_slack.fail("response", status=404, error="expired_url")
    await post(http_adapter, slash_command_form("kpi gmv yesterday", response_url=fake_slack.response_url()), FORM)
    posted = await fake_slack.wait_for("chat.postMessage")
    assert posted.args["channel"] == "COPS" and "GMV" in posted.text


# ---- HTTP mode: signatures ------------------------------------------------------------------


async def test_bad_signature_is_refused_before_any_handler(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    started = len(fake_slack.calls)  # start() checked the bot token
    body = slash_command_form("kpi gmv", response_url=fake_slack.response_url())
    status, _, _ = await post(http_adapter, body, FORM, sign_with=lambda b: sign("not-the-secret", b))
    assert status == 401
    status, _, _ = await post(http_adapter, body, FORM, sign_with=lambda b: {})
    assert status == 401
    # signed, then tampered with: the HMAC covers the raw body
    status, _, _ = await post(http_adapter, body, FORM, sign_with=lambda b: sign(SECRET, b.replace("gmv", "aov")))
    assert status == 401
    await fake_slack.settle()
    assert fake_slack.calls[started:] == []  # no handler ran: nothing was answered


async def test_stale_timestamp_is_refused(http_adapter: SlackAdapter, fake_slack: FakeSlack) -> None:  # noqa: F811
    started = len(fake_slack.calls)
    body = slash_command_form("kpi gmv", response_url=fake_slack.response_url())
    old = int(time.time()) - 6 * 60
    status, _, _ = await post(http_adapter, body, FORM, sign_with=lambda b: sign(SECRET, b, timestamp=old))
    assert status == 401
    await fake_slack.settle()
    assert fake_slack.calls[started:] == []  # no handler ran: nothing was answered


async def test_url_verification_handshake(http_adapter: SlackAdapter) -> None:
    body = json.dumps({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    status, text, _ = await post(http_adapter, body, JSON)
    assert status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in text


# ---- HTTP mode: replays (issue 23) -----------------------------------------------------------


async def replay_audits(adapter: SlackAdapter, text: str, count: int) -> list[AuditEntry]:
    """The audit entries of refused replays of `text`, once there are `count` (written in the background)."""
    store = adapter.dispatcher.services.store
    for _ in range(50):
        with store.session() as s:
            rows = list(s.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused:replay",
                                                           AuditEntry.command == text)))
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.1)
    return rows


async def test_a_replayed_slash_command_is_acked_and_not_run(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    refused: list[tuple[str, str]] = []
    http_adapter.dispatcher.replays.observers.append(lambda *labels: refused.append(labels))
    body = slash_command_form("kpi gmv yesterday", user="UALICE", response_url=fake_slack.response_url("r1"))
    captured = sign(SECRET, body)  # what an eavesdropper kept: the body and its signature headers
    status, text, _ = await post(http_adapter, body, FORM, sign_with=lambda b: captured)
    assert status == 200 and "Working on" in text
    await fake_slack.wait_for("response")
    for _ in range(2):  # replayed within Slack's five minutes, twice
        status, text, elapsed = await post(http_adapter, body, FORM, sign_with=lambda b: captured)
        assert (status, text) == (200, "") and elapsed < 2.0  # acknowledged, so Slack shows nothing
    await fake_slack.settle()
    assert len([c for c in fake_slack.calls_to("response") if c.path == "/response/r1"]) == 1
    assert refused == [("slack", "command"), ("slack", "command")]
    audits = await replay_audits(http_adapter, "/ops kpi gmv yesterday", 2)
    assert [(a.chat, a.user) for a in audits] == [("slack:COPS", "slack:UALICE")] * 2
    # the same words signed at another second are another request: it runs
    later = sign(SECRET, body, timestamp=int(captured["X-Slack-Request-Timestamp"]) - 1)
    status, text, _ = await post(http_adapter, body, FORM, sign_with=lambda b: later)
    assert status == 200 and "Working on" in text
    await fake_slack.wait_for("response", count=2)


async def test_a_replayed_button_click_runs_once(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    refused: list[tuple[str, str]] = []
    http_adapter.dispatcher.replays.observers.append(lambda *labels: refused.append(labels))
    body = block_actions_form("kpi orders yesterday", message_ts="1764000300.000900",
                              response_url=fake_slack.response_url("b9"))
    captured = sign(SECRET, body)
    assert (await post(http_adapter, body, FORM, sign_with=lambda b: captured))[0] == 200
    await fake_slack.wait_for("chat.postMessage")
    status, text, _ = await post(http_adapter, body, FORM, sign_with=lambda b: captured)
    assert (status, text) == (200, "")
    await fake_slack.settle()
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert refused == [("slack", "action")]
    assert len(await replay_audits(http_adapter, "kpi orders yesterday", 1)) == 1


async def test_replays_are_refused_while_the_state_database_fails(
    http_adapter: SlackAdapter, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    def down(key: str | None) -> bool:
        raise OperationalError("insert", {}, Exception("state database down"))

    monkeypatch.setattr(http_adapter.dispatcher.replays._seen, "first_time", down)
    body = slash_command_form("kpi gmv yesterday", response_url=fake_slack.response_url("r2"))
    captured = sign(SECRET, body)
    assert (await post(http_adapter, body, FORM, sign_with=lambda b: captured))[1] != ""  # still answered
    assert (await post(http_adapter, body, FORM, sign_with=lambda b: captured))[1] == ""  # this instance saw it
    await fake_slack.settle()
    assert len([c for c in fake_slack.calls_to("response") if c.path == "/response/r2"]) == 1


def test_only_commands_and_interactivity_are_keyed_for_replays() -> None:
    raw = b"payload"
    assert signed_request(raw, "1764000000", event_body(mention_event("kpi gmv"))) is None  # event_id dedups
    assert signed_request(raw, "1764000000", {"type": "url_verification", "challenge": "x"}) is None
    command = signed_request(raw, "1764000000", slash_command("kpi gmv", channel="DALICE", user="UBOB"))
    click = signed_request(raw, "1764000000", block_actions("kpi aov"))
    assert command is not None and click is not None
    assert (command.kind, command.chat, command.user, command.text) == ("command", "slack:DALICE", "slack:UBOB",
                                                                        "/ops kpi gmv")
    assert (click.kind, click.chat, click.text) == ("action", "slack:COPS", "kpi aov")
    # the digest of exactly what the signature covers, kept until the signature expires anyway
    expected = hashlib.sha256(b"v0:1764000000:payload").hexdigest()
    assert command.key == f"slack:req:{expected}" and command.until == 1764000000 + 300
    assert signed_request(raw, "1764000001", block_actions("kpi aov")).key != command.key  # type: ignore[union-attr]


# ---- HTTP mode: events and buttons ------------------------------------------------------------


async def test_app_mention_is_answered_in_its_thread_once(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    body = json.dumps(event_body(mention_event(f"<@{BOT_USER_ID}> kpi gmv yesterday", ts="1764000100.000200"),
                                 event_id="EvMENTION1"))
    status, _, elapsed = await post(http_adapter, body, JSON)
    assert status == 200 and elapsed < 2.0
    posted = await fake_slack.wait_for("chat.postMessage")
    assert posted.args["channel"] == "COPS" and posted.args["thread_ts"] == "1764000100.000200"
    assert "KPIs · yesterday" in posted.text and posted.blocks[0]["type"] == "header"
    assert posted.token == BOT_TOKEN
    # Slack redelivers when it thinks we were slow: same event_id, answered only once
    status, _, _ = await post(http_adapter, body, {**JSON, "X-Slack-Retry-Num": "1",
                                                   "X-Slack-Retry-Reason": "http_timeout"})
    assert status == 200
    await fake_slack.settle()
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


async def test_direct_message_is_answered_in_the_dm(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    status, _, _ = await post(http_adapter, json.dumps(event_body(dm_event("kpi orders yesterday"))), JSON)
    assert status == 200
    posted = await fake_slack.wait_for("chat.postMessage")
    assert posted.args["channel"] == "DALICE" and "thread_ts" not in posted.args
    assert "Orders" in posted.all_text()


async def test_only_a_persons_own_dm_is_a_command(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    for event in (dm_event("kpi gmv", bot_id="B0OTHER"), dm_event("kpi gmv", subtype="message_changed"),
                  {**dm_event("kpi gmv"), "channel_type": "channel"},
                  # a mention inside a DM comes as the DM's message too; only that one is answered
                  mention_event(f"<@{BOT_USER_ID}> kpi gmv", channel="DALICE")):
        status, _, _ = await post(http_adapter, json.dumps(event_body(event)), JSON)
        assert status == 200  # acknowledged, so Slack does not retry it
    await fake_slack.settle()
    assert not fake_slack.calls_to("chat.postMessage")


async def test_button_click_runs_its_command_in_the_message_thread(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    # UALICE is allowed anywhere, so the click from an otherwise unknown channel is answered
    body = block_actions_form("kpi gmv yesterday", channel="CELSEWHERE", message_ts="1764000300.000300",
                              response_url=fake_slack.response_url("b1"))
    status, _, elapsed = await post(http_adapter, body, FORM)
    assert status == 200 and elapsed < 2.0
    posted = await fake_slack.wait_for("chat.postMessage")
    assert posted.args["channel"] == "CELSEWHERE" and posted.args["thread_ts"] == "1764000300.000300"
    assert "KPIs · yesterday" in posted.text


async def test_button_under_a_message_in_a_channel_the_bot_never_joined_answers_via_response_url(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    fake_slack.fail("chat.postMessage", error="not_in_channel")
    body = block_actions_form("kpi gmv yesterday", response_url=fake_slack.response_url("b2"))
    await post(http_adapter, body, FORM)
    answer = await fake_slack.wait_for("response")
    assert answer.args["response_type"] == "in_channel" and answer.args["thread_ts"] == "1764000300.000100"
    assert "KPIs · yesterday" in answer.text


async def test_slash_command_chart_that_cannot_be_uploaded_is_explained(
    http_adapter: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    fake_slack.fail("files.completeUploadExternal", error="not_in_channel")
    await post(http_adapter, slash_command_form("chartdemo", response_url=fake_slack.response_url()), FORM)
    note = await fake_slack.wait_for("response", count=2)
    first = fake_slack.calls_to("response")[0]
    assert first.args["response_type"] == "in_channel" and "GMV trend" in first.text
    assert first.blocks[-1]["type"] == "actions"
    assert note.args["response_type"] == "ephemeral"
    assert "“GMV, last 30 days” could not be attached" in note.text and "not a member" in note.text


# ---- Socket Mode ---------------------------------------------------------------------------------


async def test_socket_mode_slash_command_end_to_end(
    fake_slack: FakeSlack, slack_dispatcher: Dispatcher  # noqa: F811
) -> None:
    adapter = SlackAdapter(slack_dispatcher, config(fake_slack))
    await adapter.start()  # returns once connected
    try:
        await fake_slack.socket_connected()
        opened = fake_slack.calls_to("apps.connections.open")
        assert [c.token for c in opened] == [APP_TOKEN]
        payload = slash_command("kpi gmv yesterday", response_url=fake_slack.response_url("s1"))
        envelope_id = await fake_slack.socket_send("slash_commands", payload)
        ack = await fake_slack.socket_ack(envelope_id)
        assert "Working on" in ack["payload"]["text"]
        answer = await fake_slack.wait_for("response")
        assert answer.args["response_type"] == "in_channel" and "KPIs · yesterday" in answer.text

        # events arrive as envelopes too; a redelivery (retry_attempt 1) of the same event_id is dropped
        event = event_body(mention_event(f"<@{BOT_USER_ID}> kpi gmv yesterday"), event_id="EvSOCKET1")
        first = await fake_slack.socket_send("events_api", event)
        await fake_slack.socket_ack(first)
        await fake_slack.wait_for("chat.postMessage")
        again = await fake_slack.socket_send("events_api", event, retry_attempt=1)
        await fake_slack.socket_ack(again)
        await fake_slack.settle()
        assert len(fake_slack.calls_to("chat.postMessage")) == 1
        assert all(c.token == BOT_TOKEN for c in fake_slack.calls if c.method not in
                   ("apps.connections.open", "response", "upload"))
    finally:
        await adapter.stop()


@pytest.mark.parametrize(("method", "variable"), [("apps.connections.open", "SLACK_APP_TOKEN"),
                                                  ("auth.test", "SLACK_BOT_TOKEN")])
async def test_a_refused_token_stops_start_up_with_its_name(
    fake_slack: FakeSlack, slack_dispatcher: Dispatcher, method: str, variable: str  # noqa: F811
) -> None:
    fake_slack.fail(method, error="invalid_auth")
    adapter = SlackAdapter(slack_dispatcher, config(fake_slack))
    with pytest.raises(ConfigError, match=variable):
        await adapter.start()
    await adapter.stop()
    assert not fake_slack.socket_received


# ---- outbound: send / edit ------------------------------------------------------------------------

OPS = ChatRef("slack", "COPS")


async def test_send_waits_out_a_rate_limit_and_delivers_once(
    outbound: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    sent = await outbound.send(OPS, Reply(title="Digest", text=["GMV ¥1"]))
    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    attempts = fake_slack.calls_to("chat.postMessage")
    assert [c.status for c in attempts] == [429, 200]
    assert sent.chat == OPS and sent.message_id == fake_slack.calls_to("chat.postMessage", ok_only=True)[0].args.get(
        "ts", sent.message_id)
    assert sent.message_id.startswith("1764000000.")


async def test_send_retries_server_errors_with_backoff(
    outbound: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    fake_slack.fail("chat.postMessage", times=2, status=500)
    await outbound.send(OPS, Reply(title="Digest", text=["GMV ¥1"]))
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [500, 500, 200]


async def test_send_gives_up_on_a_lasting_outage_as_transient(
    outbound: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    fake_slack.fail("chat.postMessage", times=10, status=503)
    with pytest.raises(DeliveryError) as caught:
        await outbound.send(OPS, Reply(text=["x"]))
    assert not caught.value.permanent  # the outbox will try again later
    assert len(fake_slack.calls_to("chat.postMessage")) == 4  # 1 + max_retries


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived", "invalid_auth"])
async def test_send_reports_a_permanent_error_without_retrying(
    outbound: SlackAdapter, fake_slack: FakeSlack, error: str, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    fake_slack.fail("chat.postMessage", error=error)
    with pytest.raises(DeliveryError) as caught:
        await outbound.send(OPS, Reply(text=["x"]))
    assert caught.value.permanent and caught.value.reason == error
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert error in caplog.text and BOT_TOKEN not in caplog.text


async def test_send_uploads_charts_into_the_thread(outbound: SlackAdapter, fake_slack: FakeSlack) -> None:  # noqa: F811
    thread = ChatRef("slack", "COPS", thread="1764000000.000001")
    reply = Reply(title="GMV trend", charts=[Chart(png=PNG, title="GMV, last 30 days", filename="gmv.png")])
    await outbound.send(thread, reply)
    posted = await fake_slack.wait_for("chat.postMessage")
    assert posted.args["thread_ts"] == "1764000000.000001"
    url = await fake_slack.wait_for("files.getUploadURLExternal")
    assert url.args["filename"] == "gmv.png" and int(url.args["length"]) == len(PNG)
    complete = await fake_slack.wait_for("files.completeUploadExternal")
    assert complete.args["channel_id"] == "COPS" and complete.args["thread_ts"] == "1764000000.000001"
    assert json.loads(complete.args["files"])[0]["title"] == "GMV, last 30 days"
    assert list(fake_slack.uploads.values()) == [PNG]


async def test_numbers_go_out_before_the_chart_is_drawn(outbound: SlackAdapter, fake_slack: FakeSlack) -> None:  # noqa: F811
    posted_when_drawn: list[int] = []

    def draw() -> bytes:
        posted_when_drawn.append(len(fake_slack.calls_to("chat.postMessage")))
        return PNG

    reply = Reply(title="GMV trend", charts=[Chart.later(draw, "GMV, last 30 days", "gmv.png")])
    await outbound.send(OPS, reply)
    assert posted_when_drawn == [1], "the text must be posted before the chart is drawn"
    await fake_slack.wait_for("files.completeUploadExternal")
    assert list(fake_slack.uploads.values()) == [PNG]


async def test_a_chart_that_cannot_be_drawn_leaves_the_numbers(
    outbound: SlackAdapter, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    def draw() -> bytes:
        raise RuntimeError("matplotlib fell over")

    await outbound.send(OPS, Reply(title="GMV trend", text=["12,345"], charts=[Chart.later(draw, "GMV", "gmv.png")]))
    posted = fake_slack.calls_to("chat.postMessage")
    assert len(posted) == 1 and "12,345" in posted[0].text
    assert fake_slack.calls_to("files.getUploadURLExternal") == []
    assert "incident" in caplog.text and "drawing the chart" in caplog.text


async def test_send_explains_a_chart_it_could_not_upload(
    outbound: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    fake_slack.fail("files.getUploadURLExternal", error="missing_scope")
    reply = Reply(title="GMV trend", text=["GMV ¥1"], charts=[Chart(png=PNG, title="GMV, last 30 days")])
    sent = await outbound.send(OPS, reply)  # the text went out: not a delivery failure
    assert sent.message_id
    first, note = fake_slack.calls_to("chat.postMessage", ok_only=True)
    assert "GMV trend" in first.text
    assert "could not be attached" in note.text and "files:write" in note.text


async def test_a_long_reply_is_sent_as_several_messages_and_can_be_edited(
    outbound: SlackAdapter, fake_slack: FakeSlack  # noqa: F811
) -> None:
    big = Reply(title="Big", text=[f"paragraph {i} " + "x" * 2900 for i in range(8)])
    sent = await outbound.send(OPS, big)
    posts = fake_slack.calls_to("chat.postMessage", ok_only=True)
    assert len(posts) >= 2 and sent.message_id.count(",") == len(posts) - 1
    small = Reply(title="Big, corrected", text=["now short"])
    edited = await outbound.edit(sent, small)
    updates = fake_slack.calls_to("chat.update", ok_only=True)
    assert len(updates) == 1 and updates[0].args["ts"] == sent.message_id.split(",")[0]
    assert "now short" in updates[0].all_text()
    assert len(fake_slack.calls_to("chat.delete", ok_only=True)) == len(posts) - 1
    assert edited.message_id == updates[0].args["ts"]


async def test_edit_reports_a_missing_message(outbound: SlackAdapter, fake_slack: FakeSlack) -> None:  # noqa: F811
    from bot.adapters.base import Sent

    fake_slack.fail("chat.update", error="message_not_found")
    with pytest.raises(DeliveryError) as caught:
        await outbound.edit(Sent(OPS, "1764000000.000009"), Reply(text=["x"]))
    assert caught.value.permanent and caught.value.reason == "message_not_found"


# ---- configuration ----------------------------------------------------------------------------------


def test_from_env_names_what_is_missing(slack_dispatcher: Dispatcher) -> None:
    settings = slack_dispatcher.services.settings
    socket = settings.model_copy(update={"slack": None})  # no [slack] section: Socket Mode defaults
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        slack_from_env(socket, slack_dispatcher, environ={})
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        slack_from_env(socket, slack_dispatcher, environ={"SLACK_BOT_TOKEN": BOT_TOKEN})
    with pytest.raises(ConfigError, match="xapp-"):
        slack_from_env(socket, slack_dispatcher, environ={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xoxb-1"})
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        slack_from_env(settings, slack_dispatcher, environ={"SLACK_BOT_TOKEN": BOT_TOKEN})
    with pytest.raises(ConfigError, match="SLACK_API_URL"):
        slack_from_env(settings, slack_dispatcher, environ={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s",
                                                            "SLACK_API_URL": "localhost:9/api"})
    bad_command = settings.model_copy(update={"slack": SlackSection(mode="http", command="ops")})
    with pytest.raises(ConfigError, match="command"):
        slack_from_env(bad_command, slack_dispatcher, environ={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s"})

    adapter = slack_from_env(socket, slack_dispatcher, environ={"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN})
    assert adapter.config.mode == "socket" and adapter.config.command == "/ops"
    assert adapter.config.api_url == "https://slack.com/api/"
    assert BOT_TOKEN not in repr(adapter.config) and APP_TOKEN not in repr(adapter.config)


def test_api_url_gets_its_trailing_slash() -> None:
    assert normalize_api_url("http://127.0.0.1:9/api") == "http://127.0.0.1:9/api/"
    assert normalize_api_url("https://slack.com/api/") == "https://slack.com/api/"


def test_manifest_matches_what_the_adapter_handles() -> None:
    from pathlib import Path

    manifest = (Path(__file__).parents[4] / "bot" / "adapters" / "slack" / "manifest.yaml").read_text(encoding="utf-8")
    assert f"command: {SlackSection().command}" in manifest
    for needed in ("- app_mention", "- message.im", "- commands", "- chat:write", "- files:write",
                   "- app_mentions:read", "- im:history", "socket_mode_enabled: true"):
        assert needed in manifest


def test_fake_builds_payloads_slack_would_send() -> None:
    # guards the fixtures themselves: a click payload carries the command as the button value
    payload = block_actions("kpi gmv")
    assert payload["actions"][0]["value"] == "kpi gmv" and payload["actions"][0]["action_id"].startswith("opsbot_")


async def test_send_uploads_files(outbound: SlackAdapter, fake_slack: FakeSlack) -> None:  # noqa: F811
    from bot.reply import Attachment

    csv = b"customer_id,segment\n1,dormant\n"
    await outbound.send(ChatRef("slack", "COPS"), Reply(title="Dormant", files=[Attachment("dormant.csv", csv, "text/csv")]))
    url = await fake_slack.wait_for("files.getUploadURLExternal")
    assert url.args["filename"] == "dormant.csv"
    await fake_slack.wait_for("files.completeUploadExternal")
    assert list(fake_slack.uploads.values()) == [csv]
