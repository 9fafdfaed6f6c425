"""Malformed platform payloads through the real adapters (issue 10).

Slack: HTTP mode over loopback, every request signed with the signing secret unless the test is
about signatures. Telegram: the fake Bot API's getUpdates (polling) and the webhook endpoint.
Whatever arrives is rejected (4xx) or ignored with a log line; nothing crashes (no 5xx, no
ERROR log, no traceback), and the adapter still answers a good command afterwards.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.adapters.slack.adapter import SlackAdapter
from bot.adapters.slack.config import SlackConfig
from bot.adapters.slack.requests import malformed, signature_ok
from bot.adapters.telegram.adapter import TelegramAdapter
from bot.adapters.telegram.retries import RetryPolicy
from bot.app import build_dispatcher
from bot.config import Settings, SlackSection, TelegramSection
from bot.dispatch import Dispatcher
from metrics.data.warehouse import Warehouse
from tests.conftest import Clock
from tests.fakes.slack_api import (
    FakeSlack,
    block_actions,
    dm_event,
    event_body,
    fake_slack,  # noqa: F401
    mention_event,
    sign,
    slash_command,
)
from tests.fakes.telegram_api import BOT_ID, FakeTelegram, fake_telegram  # noqa: F401

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-bot-token"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# loggers whose ERROR records mean "something crashed": ours, Bolt's, aiohttp's server, PTB's
CRASH_LOGGERS = ("bot", "slack_bolt", "slack_sdk", "aiohttp", "telegram", "asyncio")

GROUP = -1001
ALLOWED_USER = 42
STRANGER = 555  # where the malformed updates come from: any answer there is a refusal, never data


def crashes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.ERROR and r.name.startswith(CRASH_LOGGERS)]


def adapter_lines(caplog: pytest.LogCaptureFixture) -> str:
    """What the adapters and Bolt logged (the "ignored with a log line" evidence)."""
    return "\n".join(r.getMessage() for r in caplog.records
                     if r.name.startswith(("bot.adapters", "slack_bolt")) and r.levelno >= logging.INFO)


# ---- Slack -----------------------------------------------------------------------------------------


@pytest.fixture
def slack_dispatcher(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock) -> Dispatcher:
    settings = demo_settings.model_copy(update={
        "access": demo_settings.access.model_copy(update={
            "chats": ("slack:COPS", "slack:DALICE"), "users": ("slack:UALICE",), "admins": ()}),
        "slack": SlackSection(mode="http", port=0),
    })
    return build_dispatcher(settings, demo_warehouse, clock=clock)


@pytest.fixture
async def slack(fake_slack: FakeSlack, slack_dispatcher: Dispatcher) -> AsyncIterator[SlackAdapter]:  # noqa: F811
    config = SlackConfig(bot_token=BOT_TOKEN, mode="http", signing_secret=SECRET, port=0,
                         api_url=fake_slack.api_url, retry_backoff=0.05)
    adapter = SlackAdapter(slack_dispatcher, config)
    await adapter.start()
    yield adapter
    await adapter.stop()


async def post_raw(adapter: SlackAdapter, body: bytes, content_type: str | None,
                   headers: dict[str, str] | None = None) -> tuple[int, str]:
    assert adapter.url is not None
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    async with aiohttp.ClientSession(skip_auto_headers=("Content-Type",)) as session:
        async with session.post(adapter.url, data=body, headers=sent) as response:
            return response.status, await response.text()


async def post_signed(adapter: SlackAdapter, body: str | bytes, content_type: str | None = FORM,
                      **headers: str) -> tuple[int, str]:
    raw = body.encode() if isinstance(body, str) else body
    return await post_raw(adapter, raw, content_type, {**sign(SECRET, raw), **headers})


def form_without(*fields: str, text: str = "kpi gmv yesterday", **overrides: str) -> str:
    values = {**slash_command(text), **overrides}
    return urlencode({k: v for k, v in values.items() if k not in fields})


async def good_command_still_works(adapter: SlackAdapter, fake: FakeSlack) -> None:
    before = len(fake.calls_to("response"))
    status, text = await post_signed(adapter, form_without(response_url=fake.response_url("good")))
    assert status == 200 and "Working on" in text
    answer = await fake.wait_for("response", count=before + 1)
    assert answer.path == "/response/good" and "GMV" in answer.text


def answers(fake: FakeSlack) -> list[Any]:
    return [c for c in fake.calls if c.method in ("response", "chat.postMessage", "chat.postEphemeral")]


# Slash command forms with a field missing: either answered (the field was optional) or ignored.
@pytest.mark.parametrize(("missing", "outcome"), [
    (("text",), "answered"),  # an empty command: the bot says how to use it
    (("team_id",), "answered"),
    (("response_url",), "answered"),  # the answer goes through chat.postMessage instead
    (("trigger_id", "api_app_id", "channel_name", "user_name", "team_domain", "token"), "answered"),
    (("user_id",), "ignored"),
    (("channel_id",), "ignored"),
    (("user_id", "channel_id"), "ignored"),
])
async def test_slash_command_with_a_missing_field(
    slack: SlackAdapter, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture,  # noqa: F811
    missing: tuple[str, ...], outcome: str,
) -> None:
    caplog.set_level(logging.INFO)
    fields = {} if "response_url" in missing else {"response_url": fake_slack.response_url("m")}
    status, _ = await post_signed(slack, form_without(*missing, **fields))
    assert status == 200
    await fake_slack.settle()
    if outcome == "answered":
        assert answers(fake_slack), fake_slack.calls
    else:
        assert answers(fake_slack) == []
        assert "ignoring a slash command" in adapter_lines(caplog)
    assert crashes(caplog) == []
    await good_command_still_works(slack, fake_slack)
    assert crashes(caplog) == []


@pytest.mark.parametrize("case", ["wrong_secret", "no_signature", "no_timestamp", "stale", "future",
                                  "garbage_signature", "garbage_timestamp", "huge_timestamp", "v1_signature",
                                  "tampered"])
async def test_bad_or_missing_signatures_are_refused(
    slack: SlackAdapter, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture, case: str  # noqa: F811
) -> None:
    body = form_without(response_url=fake_slack.response_url()).encode()
    good = sign(SECRET, body)
    headers = {
        "wrong_secret": sign("not-the-secret", body),
        "no_signature": {"X-Slack-Request-Timestamp": good["X-Slack-Request-Timestamp"]},
        "no_timestamp": {"X-Slack-Signature": good["X-Slack-Signature"]},
        "stale": sign(SECRET, body, timestamp=int(time.time()) - 6 * 60),
        "future": sign(SECRET, body, timestamp=int(time.time()) + 6 * 60),
        "garbage_signature": {**good, "X-Slack-Signature": "v0=zz not hex, \u00e9t\u00e9"},
        "garbage_timestamp": {**good, "X-Slack-Request-Timestamp": "yesterday"},
        "huge_timestamp": {**good, "X-Slack-Request-Timestamp": "9" * 400},
        "v1_signature": {**good, "X-Slack-Signature": good["X-Slack-Signature"].replace("v0=", "v1=")},
        "tampered": good,
    }[case]
    sent = body.replace(b"gmv", b"aov") if case == "tampered" else body
    status, _ = await post_raw(slack, sent, FORM, headers)
    assert status == 401
    await fake_slack.settle()
    assert answers(fake_slack) == [] and crashes(caplog) == []
    await good_command_still_works(slack, fake_slack)


@pytest.mark.parametrize(("body", "content_type"), [
    (b"{not json", JSON),
    (b"{not json", FORM),  # Bolt reads anything starting with { as JSON
    (b"[1, 2, 3]", JSON),
    (b'"just a string"', JSON),
    (b"null", JSON),
    (b"42", JSON),
    (b"payload=%7Bnot+json", FORM),
    (b"payload=%5B1%5D", FORM),
    (b"payload=", FORM),
    (b"\xff\xfe\x00garbage", JSON),
    (b"\xff\xfe\x00garbage", FORM),
    (b"", FORM),
    (b"", JSON),
    (b"command=%2Fops&text=kpi", "text/plain"),
    (json.dumps({"type": "event_callback"}).encode(), "text/plain"),
    (b"<xml>kpi gmv</xml>", "application/xml"),
    (b"command=%2Fops&text=kpi+gmv", None),
    (b"command=%2Fops&text=kpi+gmv&user_id=UALICE&channel_id=COPS", "multipart/form-data; boundary=x"),
])
async def test_unreadable_bodies_are_refused_or_ignored(
    slack: SlackAdapter, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture,  # noqa: F811
    body: bytes, content_type: str | None,
) -> None:
    status, _ = await post_signed(slack, body, content_type)
    assert status < 500 and (status >= 400 or status == 200), status
    await fake_slack.settle()
    assert answers(fake_slack) == [] and crashes(caplog) == []
    await good_command_still_works(slack, fake_slack)


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_ts": "1764000400.000100", **fields}


@pytest.mark.parametrize("payload", [
    event_body(event("reaction_added", user="UALICE", reaction="tada", item={"type": "message"})),
    event_body(event("some_future_event_type")),
    event_body(event("")),
    event_body({}),
    {**event_body(mention_event("kpi gmv")), "event": None},
    {k: v for k, v in event_body(mention_event("kpi gmv")).items() if k != "event"},
    event_body({k: v for k, v in mention_event("kpi gmv").items() if k != "channel"}),
    event_body({k: v for k, v in mention_event("kpi gmv").items() if k != "user"}),
    event_body({k: v for k, v in dm_event("kpi gmv").items() if k != "channel"}),
    event_body({k: v for k, v in dm_event("kpi gmv").items() if k != "user"}),
    event_body({k: v for k, v in dm_event("kpi gmv").items() if k != "channel_type"}),
    event_body(dm_event("kpi gmv", subtype="message_changed")),
    event_body(dm_event("kpi gmv", bot_id="B123")),
    {"type": "some_future_envelope", "team_id": "T0FAKE"},
    {"type": "app_rate_limited", "team_id": "T0FAKE", "minute_rate_limited": 1518467820, "api_app_id": "A0FAKE"},
    {"token": "x"},
    {},
])
async def test_events_that_are_unknown_or_incomplete(
    slack: SlackAdapter, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture,  # noqa: F811
    payload: dict[str, Any],
) -> None:
    status, _ = await post_signed(slack, json.dumps(payload), JSON)
    assert status < 500 and (status >= 400 or status == 200), status
    await fake_slack.settle()
    assert answers(fake_slack) == [] and crashes(caplog) == []
    await good_command_still_works(slack, fake_slack)


async def test_an_unknown_event_type_is_acknowledged_not_retried(
    slack: SlackAdapter, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    # a non-2xx answer makes Slack redeliver the event (and count it against the app): say 200
    caplog.set_level(logging.INFO)
    payload = event_body(event("reaction_added", user="UALICE", reaction="tada", item={"type": "message"}))
    status, _ = await post_signed(slack, json.dumps(payload), JSON)
    assert status == 200
    assert "ignoring a 'reaction_added' event" in adapter_lines(caplog)


async def test_a_mention_without_timestamps_is_answered_in_the_channel(
    slack: SlackAdapter, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    mention = {k: v for k, v in mention_event("kpi gmv yesterday").items() if k not in ("ts", "event_ts")}
    status, _ = await post_signed(slack, json.dumps(event_body(mention)), JSON)
    assert status == 200
    posted = await fake_slack.wait_for("chat.postMessage")
    assert posted.args["channel"] == "COPS" and "thread_ts" not in posted.args and "GMV" in posted.text
    assert crashes(caplog) == []


def actions_form(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def click(**changes: Any) -> dict[str, Any]:
    payload = block_actions("kpi gmv yesterday")
    return edited(payload, changes)


_DROP = object()


def edited(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` applied: a value replaces a field, _DROP removes it."""
    for key, value in changes.items():
        if value is _DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def one_action(**action: Any) -> list[dict[str, Any]]:
    base = block_actions("kpi gmv yesterday")["actions"][0]
    return [{k: v for k, v in {**base, **action}.items() if v is not _DROP}]


@pytest.mark.parametrize("payload", [
    click(actions=one_action(value=_DROP)),
    click(actions=one_action(value="")),
    click(actions=one_action(value=None)),
    click(actions=one_action(action_id=_DROP)),
    click(actions=one_action(action_id="someone_elses_button")),
    click(actions=[]),
    click(actions=_DROP),
    click(actions=None),
    click(user=_DROP),
    click(user={}),
    click(channel=_DROP, container={"type": "message"}),
    click(channel=None, container=None, message=None),
    click(type="block_actions", actions=[{}]),
    click(type="interactive_message"),
    click(type="view_submission"),
    click(type="shortcut", callback_id="x"),
    click(type=_DROP),
])
async def test_button_clicks_with_missing_parts(
    slack: SlackAdapter, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture,  # noqa: F811
    payload: dict[str, Any],
) -> None:
    status, _ = await post_signed(slack, actions_form(payload), FORM)
    assert status < 500 and (status >= 400 or status == 200), status
    await fake_slack.settle()
    assert answers(fake_slack) == [] and crashes(caplog) == []
    await good_command_still_works(slack, fake_slack)


@pytest.mark.parametrize(("payload", "expected"), [
    ({"token": "t", "challenge": "c4allenge", "type": "url_verification"}, 200),
    ({"token": "t", "type": "url_verification"}, None),  # no challenge: whatever Bolt says, no crash
    ({"token": "t", "challenge": {"nested": True}, "type": "url_verification"}, None),
])
async def test_url_verification(
    slack: SlackAdapter, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture,  # noqa: F811
    payload: dict[str, Any], expected: int | None,
) -> None:
    status, text = await post_signed(slack, json.dumps(payload), JSON)
    if expected is not None:
        assert status == expected and "c4allenge" in text
    assert status < 500
    assert crashes(caplog) == []
    await good_command_still_works(slack, fake_slack)


async def test_url_verification_needs_a_signature_too(slack: SlackAdapter) -> None:
    body = json.dumps({"token": "t", "challenge": "c4allenge", "type": "url_verification"}).encode()
    status, text = await post_raw(slack, body, JSON)
    assert status == 401 and "c4allenge" not in text


def test_signature_check_never_raises() -> None:
    body = b"\xff\xfe not utf-8"
    good = sign(SECRET, body)
    ts, sig = good["X-Slack-Request-Timestamp"], good["X-Slack-Signature"]
    assert signature_ok(SECRET, body, ts, sig)
    for args in [("", body, ts, sig), (SECRET, body, None, sig), (SECRET, body, ts, None), (SECRET, body, "", sig),
                 (SECRET, body, "1e9", sig), (SECRET, body, "-5", sig), (SECRET, body, "١٢٣", sig),
                 (SECRET, body, "9" * 400, sig), (SECRET, body, ts, "v0=☃"), (SECRET, body + b"x", ts, sig),
                 (SECRET, body, str(int(ts) - 301), sig)]:
        assert signature_ok(*args) is False, args


@pytest.mark.parametrize(("body", "problem"), [
    ([], "not a JSON object"), (None, "not a JSON object"), ({"type": "event_callback"}, "without an event type"),
    ({"type": "event_callback", "event": {"type": 5}}, "without an event type"),
    ({"type": "block_actions", "actions": [{"value": "x"}]}, "without actions"),
    ({"type": "block_actions", "actions": "x"}, "without actions"),
    ({"type": "event_callback", "event": {"type": "app_mention"}}, None),
    ({"command": "/ops"}, None), ({}, None),
])
def test_malformed_names_what_bolt_would_trip_over(body: Any, problem: str | None) -> None:
    found = malformed(body)
    assert (found is None) if problem is None else (found is not None and problem in found)


async def test_other_methods_and_paths(slack: SlackAdapter, fake_slack: FakeSlack) -> None:  # noqa: F811
    assert slack.url is not None
    base = slack.url.rsplit("/slack/events", 1)[0]
    async with aiohttp.ClientSession() as session:
        for method, url in (("GET", slack.url), ("PUT", slack.url), ("POST", base + "/nope")):
            async with session.request(method, url) as response:
                assert 400 <= response.status < 500, (method, url, response.status)
    await good_command_still_works(slack, fake_slack)


# ---- Telegram --------------------------------------------------------------------------------------

FAST = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.05, max_flood_wait=1)


@pytest.fixture
def tg_dispatcher(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock) -> Dispatcher:
    settings = demo_settings.model_copy(update={"access": demo_settings.access.model_copy(update={
        "chats": (f"telegram:{GROUP}",), "users": (f"telegram:{ALLOWED_USER}",),
    })})
    return build_dispatcher(settings, demo_warehouse, clock=clock)


@pytest.fixture
async def polling(fake_telegram: FakeTelegram, tg_dispatcher: Dispatcher) -> AsyncIterator[TelegramAdapter]:  # noqa: F811
    adapter = TelegramAdapter(tg_dispatcher, fake_telegram.token, api_url=fake_telegram.url, poll_timeout=1,
                              retry=FAST)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


@pytest.fixture
async def webhook(fake_telegram: FakeTelegram, tg_dispatcher: Dispatcher) -> AsyncIterator[TelegramAdapter]:  # noqa: F811
    section = TelegramSection(mode="webhook", webhook_url="https://ops.example.com/telegram", port=0)
    adapter = TelegramAdapter(tg_dispatcher, fake_telegram.token, api_url=fake_telegram.url, retry=FAST,
                              section=section, webhook_secret="s3cret-token_1")
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


def tg_message(**fields: Any) -> dict[str, Any]:
    message = {"message_id": 7, "date": int(time.time()), "chat": {"id": STRANGER, "type": "private"},
               "from": {"id": STRANGER, "is_bot": False, "first_name": "Bob"}, "text": "/kpi gmv yesterday",
               "entities": [{"type": "bot_command", "offset": 0, "length": 4}]}
    return edited(message, fields)


def tg_callback(**fields: Any) -> dict[str, Any]:
    query = {"id": "cb1", "chat_instance": "ci1", "data": "kpi gmv yesterday",
             "from": {"id": STRANGER, "is_bot": False, "first_name": "Bob"},
             "message": {"message_id": 9, "date": int(time.time()), "chat": {"id": STRANGER, "type": "private"},
                         "from": {"id": BOT_ID, "is_bot": True, "first_name": "opsbot"}, "text": "earlier"}}
    return edited(query, fields)


# updates a bot must survive; none of them is a command the bot should answer
TELEGRAM_UPDATES: list[tuple[str, dict[str, Any]]] = [
    ("no message at all", {}),
    ("message without text", {"message": tg_message(text=_DROP, entities=_DROP)}),
    ("message with empty text", {"message": tg_message(text="", entities=_DROP)}),
    ("message without from", {"message": tg_message(**{"from": _DROP})}),
    ("message without chat", {"message": tg_message(chat=_DROP)}),
    ("message without date", {"message": tg_message(date=_DROP)}),
    ("message without message_id", {"message": tg_message(message_id=_DROP)}),
    ("message as a string", {"message": "/kpi gmv"}),
    ("message as null", {"message": None}),
    ("chat without id", {"message": tg_message(chat={"type": "private"})}),
    ("entity out of range", {"message": tg_message(text="/k", entities=[{"type": "bot_command", "offset": 5,
                                                                          "length": 40}])}),
    ("entity without length", {"message": tg_message(entities=[{"type": "bot_command", "offset": 0}])}),
    ("edited message", {"edited_message": {**tg_message(), "edit_date": int(time.time())}}),
    ("channel post", {"channel_post": tg_message(chat={"id": -100999, "type": "channel", "title": "news"},
                                                 **{"from": _DROP})}),
    ("edited channel post", {"edited_channel_post": tg_message(chat={"id": -100999, "type": "channel"})}),
    ("callback without data", {"callback_query": tg_callback(data=_DROP)}),
    ("callback without message", {"callback_query": tg_callback(message=_DROP, inline_message_id="im1")}),
    ("callback without data or message", {"callback_query": tg_callback(data=_DROP, message=_DROP)}),
    ("callback without from", {"callback_query": tg_callback(**{"from": _DROP})}),
    ("callback on an inaccessible message", {"callback_query": tg_callback(
        message={"chat": {"id": STRANGER, "type": "private"}, "message_id": 9, "date": 0})}),
    ("callback with unknown data", {"callback_query": tg_callback(data="#zzzzzz")}),
    ("callback on a message without chat", {"callback_query": tg_callback(
        message={"message_id": 9, "date": int(time.time()), "text": "x"})}),
    ("message without chat, in a group", {"message": tg_message(chat=_DROP, text="/kpi@opsbot gmv",
                                                                entities=[{"type": "bot_command", "offset": 0,
                                                                           "length": 11}])}),
    ("poll from another Bot API version", {"poll": {"id": "p", "question": "?", "options": [],
                                                    "total_voter_count": 0, "is_closed": False,
                                                    "is_anonymous": True, "type": "regular",
                                                    "allows_multiple_answers": False}}),
    ("migration without chat", {"message": tg_message(text=_DROP, entities=_DROP, chat=_DROP,
                                                      migrate_to_chat_id=-100777)}),
    ("unknown update kind", {"some_future_update": {"x": 1}}),
    ("inline query", {"inline_query": {"id": "iq", "from": {"id": 5, "is_bot": False, "first_name": "A"},
                                       "query": "kpi", "offset": ""}}),
    ("my_chat_member without chat", {"my_chat_member": {"from": {"id": 5, "is_bot": False, "first_name": "A"}}}),
]


async def tg_good_command_still_works(api: FakeTelegram) -> None:
    before = len(api.calls_to("sendMessage", chat_id=ALLOWED_USER))
    api.push(api.message("/kpi gmv yesterday", chat_id=ALLOWED_USER, user_id=ALLOWED_USER))
    calls = await api.wait_for("sendMessage", before + 1, chat_id=ALLOWED_USER)
    assert "GMV" in calls[-1].params["text"]


def answered(api: FakeTelegram) -> list[Any]:
    return [c for c in api.calls if c.method in ("sendMessage", "sendPhoto", "sendChatAction")]


@pytest.mark.parametrize(("name", "update"), TELEGRAM_UPDATES, ids=[n for n, _ in TELEGRAM_UPDATES])
async def test_telegram_polling_survives_malformed_updates(
    polling: TelegramAdapter, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture,  # noqa: F811
    name: str, update: dict[str, Any],
) -> None:
    fake_telegram.push(json.loads(json.dumps(update)))
    # the next good command is answered: the bad update neither crashed nor jammed the poller
    await tg_good_command_still_works(fake_telegram)
    assert [c for c in answered(fake_telegram) if c.params.get("chat_id") not in (ALLOWED_USER, STRANGER)] == []
    assert "GMV" not in " ".join(str(c.params) for c in answered(fake_telegram) if c.params.get("chat_id") == STRANGER)
    assert crashes(caplog) == []


async def test_telegram_an_unreadable_update_is_skipped_with_a_log_line_not_refetched_forever(
    polling: TelegramAdapter, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    # PTB fails a whole getUpdates batch on one update it cannot parse, before confirming the offset
    bad = fake_telegram.push({"message": tg_message(date=_DROP)})
    await tg_good_command_still_works(fake_telegram)
    assert f"skipping update {bad['update_id']} that cannot be read" in caplog.text
    polls = fake_telegram.calls_to("getUpdates")
    assert any(int(c.params.get("offset") or 0) > bad["update_id"] for c in polls)  # confirmed
    assert crashes(caplog) == []


_UPDATE_IDS = itertools.count(10_000)


async def post_update(adapter: TelegramAdapter, body: bytes, *, secret: str | None = "s3cret-token_1",
                      content_type: str = JSON) -> int:
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    url = f"http://127.0.0.1:{adapter.webhook_port}/telegram"
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
        return response.status


async def webhook_good_command_still_works(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    before = len(api.calls_to("sendMessage", chat_id=ALLOWED_USER))
    update = api.message("/kpi gmv yesterday", chat_id=ALLOWED_USER, user_id=ALLOWED_USER)
    # an id of its own: the state database is the session's, and an update_id is taken once (issue 23)
    update["update_id"] = next(_UPDATE_IDS)
    assert await post_update(adapter, json.dumps(update).encode()) == 200
    calls = await api.wait_for("sendMessage", before + 1, chat_id=ALLOWED_USER)
    assert "GMV" in calls[-1].params["text"]


@pytest.mark.parametrize(("name", "update"), TELEGRAM_UPDATES, ids=[n for n, _ in TELEGRAM_UPDATES])
async def test_telegram_webhook_survives_malformed_updates(
    webhook: TelegramAdapter, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture,  # noqa: F811
    name: str, update: dict[str, Any],
) -> None:
    status = await post_update(webhook, json.dumps({"update_id": next(_UPDATE_IDS), **update}).encode())
    assert status in (200, 400), status
    await webhook_good_command_still_works(webhook, fake_telegram)
    assert [c for c in answered(fake_telegram) if c.params.get("chat_id") not in (ALLOWED_USER, STRANGER)] == []
    assert "GMV" not in " ".join(str(c.params) for c in answered(fake_telegram) if c.params.get("chat_id") == STRANGER)
    assert crashes(caplog) == []


@pytest.mark.parametrize("body", [b"{not json", b"", b"null", b"[]", b"[{\"update_id\": 1}]", b"\"x\"", b"42",
                                  b"{}", b"{\"update_id\": \"seven\"}", b"\xff\xfe garbage"])
async def test_telegram_webhook_refuses_garbage(
    webhook: TelegramAdapter, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture,  # noqa: F811
    body: bytes,
) -> None:
    assert await post_update(webhook, body) == 400
    assert await post_update(webhook, body, content_type="text/plain") == 400
    assert await post_update(webhook, body, secret=None) == 401
    await webhook_good_command_still_works(webhook, fake_telegram)
    assert crashes(caplog) == []
