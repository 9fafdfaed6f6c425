"""The Telegram adapter end to end: PTB over real HTTP against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.adapters.base import DeliveryError, Sent
from bot.adapters.telegram.adapter import TelegramAdapter, telegram_from_env
from bot.adapters.telegram.retries import RetryPolicy
from bot.app import build_dispatcher
from bot.config import Settings, TelegramSection
from bot.context import Args, ChatRef, Context
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.reply import Action, Chart, Reply
from bot.router import Router
from bot.run import build_adapters
from metrics.data.warehouse import Warehouse
from tests.conftest import Clock
from tests.fakes.telegram_api import (
    FakeTelegram,
    fake_telegram,  # noqa: F401  (the fixture)
    html_problems,
    tg_len,
    visible,
)

GROUP = -1001  # an allowed group
STRANGERS = -2002  # a group nobody allowed
ALLOWED_USER = 42
OTHER_USER = 77
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
LONG_COMMAND = "kpi gmv orders aov conversion last 7d vs previous by channel where region=east"

# A test-only command: the KPI handlers draw no charts yet, and the adapter must send them.
charts = Router()


@charts.command("chart")
async def chart(ctx: Context, args: Args) -> Reply:
    return Reply(
        title="GMV, last 7 days",
        text=["Daily GMV <& friends>"],
        charts=[Chart(PNG, "Daily GMV", "gmv.png")],
        actions=[Action("GMV yesterday", "kpi gmv yesterday"), Action("Everything", LONG_COMMAND)],
    )


@pytest.fixture
def tg_dispatcher(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock) -> Dispatcher:
    settings = demo_settings.model_copy(update={"access": demo_settings.access.model_copy(update={
        "chats": (f"telegram:{GROUP}",), "users": (f"telegram:{ALLOWED_USER}",),
    })})
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock)
    dispatcher.include(charts)
    return dispatcher


@pytest.fixture
def api(fake_telegram: FakeTelegram) -> FakeTelegram:  # noqa: F811
    """The fake Bot API, under a shorter name."""
    return fake_telegram


FAST = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.05, max_flood_wait=5)


def make_adapter(fake: FakeTelegram, dispatcher: Dispatcher, **kwargs: Any) -> TelegramAdapter:
    return TelegramAdapter(dispatcher, fake.token, api_url=fake.url, poll_timeout=1, retry=FAST, **kwargs)


@pytest.fixture
async def adapter(api: FakeTelegram, tg_dispatcher: Dispatcher) -> AsyncIterator[TelegramAdapter]:
    adapter = make_adapter(api, tg_dispatcher)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


def assert_telegram_html(text: str) -> None:
    assert html_problems(text) == [], text
    assert tg_len(text) <= 4096


async def quiet(seconds: float = 0.4) -> None:
    """Give the bot time to (wrongly) answer something we expect it to ignore."""
    await asyncio.sleep(seconds)


async def sentinel(api: FakeTelegram) -> None:
    """Queue a command that is answered and wait for the answer: the updates before it were seen.

    An update the bot wrongly took would have shown at least its "typing…" action by then.
    """
    api.push(api.message("/help", chat_id=ALLOWED_USER, user_id=ALLOWED_USER))
    await api.wait_for("sendMessage", chat_id=ALLOWED_USER)


# ---- start-up ------------------------------------------------------------------------------------


async def test_start_registers_commands_in_english_and_chinese(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    en = {c["command"]: c["description"] for c in api.commands[""]}
    zh = {c["command"]: c["description"] for c in api.commands["zh"]}
    assert en["kpi"].startswith("KPIs for a period") and zh["kpi"].startswith("查询指标")
    assert set(en) == set(zh) and "help" in en and "chart" in en
    assert all(re.fullmatch(r"[a-z0-9_]{1,32}", c) for c in en)
    # polling mode clears any webhook first (PTB's bootstrap), and polls with a timeout
    assert api.calls_to("deleteWebhook")
    assert api.calls_to("getMe")
    assert adapter.app.bot.username == "opsbot"


# ---- polling end to end ----------------------------------------------------------------------------


async def test_group_command_addressed_to_the_bot(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    update = api.push(api.message("/kpi@opsbot gmv yesterday", chat_id=GROUP, user_id=OTHER_USER))
    [call] = await api.wait_for("sendMessage", chat_id=GROUP)
    text = call.params["text"]
    assert call.params["parse_mode"] == "HTML"
    assert_telegram_html(text)
    assert "GMV" in visible(text) and "<b>" in text
    # in a group the answer quotes the command it answers
    assert call.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert api.calls_to("sendChatAction", chat_id=GROUP)


async def test_commands_for_another_bot_are_ignored(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    api.push(api.message("/kpi@otherbot gmv", chat_id=GROUP, user_id=OTHER_USER))
    api.push(api.message("we should look at gmv", chat_id=GROUP, user_id=OTHER_USER))
    await sentinel(api)
    assert api.calls_to("sendChatAction", chat_id=GROUP) == api.calls_to("sendMessage", chat_id=GROUP) == []


async def test_a_mention_and_an_unknown_command_in_a_group(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    api.push(api.message("@opsbot 指标 销售额 昨天", chat_id=GROUP, user_id=OTHER_USER))
    [first] = await api.wait_for("sendMessage", chat_id=GROUP)
    assert "销售额: ¥" in visible(first.params["text"])  # a Chinese command gets a Chinese answer
    api.push(api.message("/kpii@opsbot gmv", chat_id=GROUP, user_id=OTHER_USER))
    calls = await api.wait_for("sendMessage", 2, chat_id=GROUP)
    assert "Did you mean kpi" in visible(calls[1].params["text"])


async def test_chart_goes_out_as_a_photo_then_text_with_buttons(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    api.push(api.message("/chart", chat_id=GROUP, user_id=OTHER_USER))
    [photo] = await api.wait_for("sendPhoto", chat_id=GROUP)
    [message] = await api.wait_for("sendMessage", chat_id=GROUP)
    filename, data = photo.files["photo"]
    assert data == PNG and filename == "gmv.png"
    assert photo.params["caption"] == "<b>GMV, last 7 days</b>\nDaily GMV"
    assert photo.at <= message.at
    assert_telegram_html(message.params["text"])
    assert "&lt;&amp; friends&gt;" in message.params["text"]
    buttons = [b for row in message.params["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["GMV yesterday", "Everything"]
    assert buttons[0]["callback_data"] == "kpi gmv yesterday"
    assert buttons[1]["callback_data"].startswith("#") and len(buttons[1]["callback_data"].encode()) <= 64


async def test_an_unauthorised_chat_gets_only_a_refusal(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    api.push(api.message("/kpi gmv yesterday", chat_id=STRANGERS, user_id=OTHER_USER))
    api.push(api.message("/chart", chat_id=STRANGERS, user_id=OTHER_USER))
    calls = await api.wait_for("sendMessage", 2, chat_id=STRANGERS)
    await quiet()
    assert api.calls_to("sendPhoto") == []
    assert len(api.calls_to("sendMessage", chat_id=STRANGERS)) == 2
    for call in calls:
        text = visible(call.params["text"])
        assert "not allowed" in text
        assert "reply_markup" not in call.params
        # no data: the only number is the chat's own id, quoted so an admin can allow it
        assert f"telegram:{STRANGERS}" in text
        assert not re.search(r"\d", text.replace(f"telegram:{STRANGERS}", ""))
        assert "GMV" not in text and "¥" not in text


async def test_private_plain_text(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    api.push(api.message("kpi gmv yesterday", chat_id=ALLOWED_USER, user_id=ALLOWED_USER))
    [call] = await api.wait_for("sendMessage", chat_id=ALLOWED_USER)
    assert "GMV" in visible(call.params["text"])
    assert "reply_parameters" not in call.params  # no quoting in a one-to-one chat
    api.push(api.message("/nonsense", chat_id=ALLOWED_USER, user_id=ALLOWED_USER))
    calls = await api.wait_for("sendMessage", 2, chat_id=ALLOWED_USER)
    assert "Unknown command" in visible(calls[1].params["text"])


async def test_an_edited_command_is_not_run_again(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    update = api.message("/kpi gmv", chat_id=GROUP, user_id=ALLOWED_USER)
    api.push({"edited_message": {**update["message"], "edit_date": int(time.time())}})
    await sentinel(api)
    assert api.calls_to("sendChatAction", chat_id=GROUP) == api.calls_to("sendMessage", chat_id=GROUP) == []


async def test_forum_topic_answers_stay_in_the_topic(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    api.push(api.message("/help", chat_id=GROUP, user_id=OTHER_USER, thread_id=7))
    [call] = await api.wait_for("sendMessage", chat_id=GROUP)
    assert call.params["message_thread_id"] == 7


async def test_inline_button_runs_its_command_as_the_clicker(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    api.push(api.callback("kpi gmv yesterday", chat_id=GROUP, user_id=OTHER_USER))
    [answer] = await api.wait_for("answerCallbackQuery")
    [call] = await api.wait_for("sendMessage", chat_id=GROUP)
    assert "text" not in answer.params
    assert "GMV" in visible(call.params["text"])
    assert answer.at <= call.at


async def test_long_button_commands_round_trip_through_a_token(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    api.push(api.message("/chart", chat_id=GROUP, user_id=OTHER_USER))
    [message] = await api.wait_for("sendMessage", chat_id=GROUP)
    token = message.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    api.push(api.callback(token, chat_id=GROUP, user_id=OTHER_USER))
    calls = await api.wait_for("sendMessage", 2, chat_id=GROUP)
    text = visible(calls[1].params["text"])
    assert "GMV" in text and "Conversion" in text


async def test_a_long_button_still_works_after_a_restart(
    api: FakeTelegram, tg_dispatcher: Dispatcher, demo_warehouse: Warehouse, clock: Clock
) -> None:
    """Its token is in the state database, not only in the memory of the process that posted it."""
    before = make_adapter(api, tg_dispatcher)
    await before.start()
    try:
        api.push(api.message("/chart", chat_id=GROUP, user_id=OTHER_USER))
        [message] = await api.wait_for("sendMessage", chat_id=GROUP)
    finally:
        await before.stop()
    token = message.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    assert token.startswith("#")
    # a new process: a new dispatcher and store on the same state database, nothing in memory
    restarted = build_dispatcher(tg_dispatcher.services.settings, demo_warehouse, clock=clock)
    after = make_adapter(api, restarted)
    await after.start()
    try:
        api.push(api.callback(token, chat_id=GROUP, user_id=OTHER_USER))
        [answer] = await api.wait_for("answerCallbackQuery")
        calls = await api.wait_for("sendMessage", 2, chat_id=GROUP)
    finally:
        await after.stop()
        restarted.services.store.dispose()
    assert "text" not in answer.params  # not "expired"
    text = visible(calls[1].params["text"])
    assert "GMV" in text and "Conversion" in text


async def test_an_expired_button_says_so(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    api.push(api.callback("#gone-after-restart", chat_id=GROUP, user_id=OTHER_USER))
    [answer] = await api.wait_for("answerCallbackQuery")
    assert "expired" in answer.params["text"] and answer.params["show_alert"] is True
    await quiet(0.2)
    assert api.calls_to("sendMessage") == []


async def test_a_button_in_a_stranger_chat_is_refused(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    api.push(api.callback("kpi gmv yesterday", chat_id=STRANGERS, user_id=OTHER_USER))
    [call] = await api.wait_for("sendMessage", chat_id=STRANGERS)
    assert "not allowed" in visible(call.params["text"]) and "GMV" not in visible(call.params["text"])


async def test_a_group_upgrade_is_reported(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    moves: list[tuple[ChatRef, ChatRef | None]] = []

    async def moved(old: ChatRef, new: ChatRef | None) -> None:
        moves.append((old, new))

    adapter.on_chat_migrated = moved
    update = api.message("", chat_id=-5005, user_id=OTHER_USER)
    del update["message"]["text"]
    update["message"]["migrate_to_chat_id"] = -1005005
    api.push(update)
    for _ in range(50):
        if moves:
            break
        await asyncio.sleep(0.05)
    assert moves == [(ChatRef("telegram", "-5005"), ChatRef("telegram", "-1005005"))]


# ---- webhook end to end ----------------------------------------------------------------------------


@pytest.fixture
async def webhook(api: FakeTelegram, tg_dispatcher: Dispatcher) -> AsyncIterator[TelegramAdapter]:
    section = TelegramSection(mode="webhook", webhook_url="https://ops.example.com/telegram", port=0)
    adapter = make_adapter(api, tg_dispatcher, section=section, webhook_secret="s3cret-token_1")
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


async def post_update(adapter: TelegramAdapter, update: dict[str, Any], secret: str | None) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    url = f"http://127.0.0.1:{adapter.webhook_port}/telegram"
    async with aiohttp.ClientSession() as session, session.post(url, json=update, headers=headers) as response:
        return response.status


async def test_webhook_registers_itself_with_the_secret(webhook: TelegramAdapter, api: FakeTelegram) -> None:
    assert api.webhook["url"] == "https://ops.example.com/telegram"
    assert api.webhook["secret_token"] == "s3cret-token_1"
    assert set(api.webhook["allowed_updates"]) >= {"message", "callback_query"}
    assert api.calls_to("getUpdates") == []  # no poller in webhook mode


async def test_webhook_with_the_right_secret_is_processed(
    webhook: TelegramAdapter, api: FakeTelegram
) -> None:
    update = api.message("/kpi@opsbot gmv yesterday", chat_id=GROUP, user_id=OTHER_USER)
    update["update_id"] = 500
    assert await post_update(webhook, update, "s3cret-token_1") == 200
    [call] = await api.wait_for("sendMessage", chat_id=GROUP)
    assert "GMV" in visible(call.params["text"])


async def test_an_update_delivered_twice_and_to_two_instances_is_handled_once(
    webhook: TelegramAdapter, api: FakeTelegram, tg_dispatcher: Dispatcher, demo_warehouse: Warehouse, clock: Clock
) -> None:
    # a second instance: its own dispatcher (and replay memory) on the same state database
    other_dispatcher = build_dispatcher(tg_dispatcher.services.settings, demo_warehouse, clock=clock)
    section = TelegramSection(mode="webhook", webhook_url="https://ops.example.com/telegram", port=0)
    other = make_adapter(api, other_dispatcher, section=section, webhook_secret="s3cret-token_1")
    await other.start()
    refused: list[tuple[str, str]] = []
    for d in (tg_dispatcher, other_dispatcher):
        d.replays.observers.append(lambda *labels: refused.append(labels))
    try:
        update = api.message("/kpi@opsbot orders yesterday", chat_id=GROUP, user_id=OTHER_USER)
        update["update_id"] = 600
        statuses = await asyncio.gather(post_update(webhook, update, "s3cret-token_1"),
                                        post_update(other, update, "s3cret-token_1"))
        statuses.append(await post_update(webhook, update, "s3cret-token_1"))
        assert statuses == [200, 200, 200]  # every delivery acknowledged, so Telegram stops
        await api.wait_for("sendMessage", chat_id=GROUP)
        await quiet(0.5)
        assert len(api.calls_to("sendMessage", chat_id=GROUP)) == 1
        assert refused == [("telegram", "update")] * 2
        # the next update (a new id) still runs, on either instance
        update = api.message("/kpi@opsbot orders yesterday", chat_id=GROUP, user_id=OTHER_USER)
        update["update_id"] = 601
        assert await post_update(other, update, "s3cret-token_1") == 200
        await api.wait_for("sendMessage", 2, chat_id=GROUP)
    finally:
        await other.stop()


@pytest.mark.parametrize(("secret", "status"), [(None, 401), ("wrong", 403), ("s3cret-token_", 403), ("", 403)])
async def test_webhook_without_the_right_secret_is_refused(
    webhook: TelegramAdapter, api: FakeTelegram, secret: str | None, status: int
) -> None:
    update = api.message("/kpi gmv yesterday", chat_id=GROUP, user_id=ALLOWED_USER)
    update["update_id"] = 501
    assert await post_update(webhook, update, secret) == status
    await quiet(0.3)
    assert api.calls_to("sendMessage") == []


async def test_webhook_rejects_garbage(webhook: TelegramAdapter) -> None:
    url = f"http://127.0.0.1:{webhook.webhook_port}/telegram"
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token_1", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, session.post(url, data=b"{not json", headers=headers) as r:
        assert r.status == 400


# ---- outbound: send and edit -----------------------------------------------------------------------


def digest() -> Reply:
    return Reply(title="Daily digest", text=["GMV ¥1,234 & orders 56"])


async def test_send_returns_where_it_landed(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    sent = await adapter.send(ChatRef("telegram", str(GROUP)), digest())
    [call] = api.calls_to("sendMessage", chat_id=GROUP)
    assert sent == Sent(ChatRef("telegram", str(GROUP)), str(call.result["message_id"]))
    assert "reply_parameters" not in call.params
    assert_telegram_html(call.params["text"])


async def test_send_waits_out_flood_control(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    api.flood(1, method="sendMessage")
    started = time.monotonic()
    sent = await adapter.send(ChatRef("telegram", str(GROUP)), digest())
    calls = api.calls_to("sendMessage", chat_id=GROUP)
    assert len(calls) == 2 and sent.message_id
    assert calls[1].at - calls[0].at >= 0.95 and time.monotonic() - started < 5


async def test_send_gives_up_on_a_long_flood_wait(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    api.flood(3600, method="sendMessage")
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(ChatRef("telegram", str(GROUP)), digest())
    assert not caught.value.permanent and "3600" in caught.value.reason
    assert len(api.calls_to("sendMessage")) == 1


async def test_send_retries_network_errors_then_gives_up(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    api.bad_gateway(method="sendMessage", times=2)
    await adapter.send(ChatRef("telegram", str(GROUP)), digest())
    assert len(api.calls_to("sendMessage")) == 3
    api.bad_gateway(method="sendMessage", times=10)
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(ChatRef("telegram", str(GROUP)), digest())
    assert not caught.value.permanent
    assert len(api.calls_to("sendMessage")) == 3 + FAST.attempts


async def test_send_follows_a_group_upgraded_to_a_supergroup(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    moves: list[tuple[ChatRef, ChatRef | None]] = []

    async def moved(old: ChatRef, new: ChatRef | None) -> None:
        moves.append((old, new))

    adapter.on_chat_migrated = moved
    api.migrated[-3003] = -1003003
    reply = Reply(title="Digest", charts=[Chart(PNG, "GMV")], text=["details"])
    sent = await adapter.send(ChatRef("telegram", "-3003"), reply)
    assert sent.chat == ChatRef("telegram", "-1003003")
    assert moves == [(ChatRef("telegram", "-3003"), ChatRef("telegram", "-1003003"))]
    assert [c.params["chat_id"] for c in api.calls if c.method.startswith("send")] == [
        -3003, -1003003, -1003003]


async def test_a_failure_after_following_a_migration_names_the_new_chat(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    api.migrated[-6006] = -1006006
    api.kicked.add(-1006006)
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(ChatRef("telegram", "-6006"), digest())
    assert caught.value.permanent and caught.value.migrated_to == ChatRef("telegram", "-1006006")


async def test_send_to_a_chat_that_removed_the_bot_is_permanent(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    removed: list[ChatRef] = []

    async def gone(chat: ChatRef, _: ChatRef | None) -> None:
        removed.append(chat)

    adapter.on_bot_removed = gone
    api.kicked.add(-4004)
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(ChatRef("telegram", "-4004"), digest())
    assert caught.value.permanent and "kicked" in caught.value.reason
    assert len(api.calls_to("sendMessage")) == 1  # not retried
    assert removed == [ChatRef("telegram", "-4004")]


async def test_send_splits_long_replies(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    reply = Reply(title="Everything", text=[f"line {i} <&>" for i in range(1500)],
                  actions=[Action("More", "kpi gmv")])
    sent = await adapter.send(ChatRef("telegram", str(GROUP)), reply)
    calls = api.calls_to("sendMessage")
    assert len(calls) > 1
    for call in calls:
        assert_telegram_html(call.params["text"])
    assert sent.message_id == str(calls[0].result["message_id"])  # the part with the title
    # the buttons sit under the last part only
    assert ["reply_markup" in c.params for c in calls] == [False] * (len(calls) - 1) + [True]


async def test_edit_replaces_the_text(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    sent = await adapter.send(ChatRef("telegram", str(GROUP)), digest())
    updated = Reply(title="Daily digest (updated)", text=["late orders included"])
    again = await adapter.edit(sent, updated)
    [call] = api.calls_to("editMessageText")
    assert again == sent
    assert call.params["message_id"] == int(sent.message_id) and call.params["chat_id"] == GROUP
    assert "updated" in call.params["text"]


async def test_edit_with_nothing_changed_is_fine(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    api.fail(400, "Bad Request: message is not modified: specified new message content and reply "
                       "markup are exactly the same", method="editMessageText")
    sent = Sent(ChatRef("telegram", str(GROUP)), "1001")
    assert await adapter.edit(sent, digest()) == sent


async def test_html_the_api_refuses_is_resent_as_plain_text(
    adapter: TelegramAdapter, api: FakeTelegram
) -> None:
    api.fail(400, "Bad Request: can't parse entities: unsupported start tag", method="sendMessage")
    await adapter.send(ChatRef("telegram", str(GROUP)), digest())
    first, second = api.calls_to("sendMessage")
    assert first.params["parse_mode"] == "HTML" and "parse_mode" not in second.params
    assert second.params["text"] == "Daily digest\n\nGMV ¥1,234 & orders 56"


# ---- configuration ---------------------------------------------------------------------------------


def test_from_env(monkeypatch: pytest.MonkeyPatch, tg_dispatcher: Dispatcher) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:abc")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    adapter = telegram_from_env(tg_dispatcher.services.settings, tg_dispatcher)
    assert adapter.app.bot.base_url == "http://127.0.0.1:8081/bot1:abc"
    assert adapter.app.bot.base_file_url == "http://127.0.0.1:8081/file/bot1:abc"
    assert adapter.section.mode == "polling" and adapter.webhook_secret is None


def test_opsbot_run_needs_only_the_token(monkeypatch: pytest.MonkeyPatch, tg_dispatcher: Dispatcher) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_API_URL", raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:abc")
    [adapter] = build_adapters(tg_dispatcher.services.settings, tg_dispatcher)
    assert isinstance(adapter, TelegramAdapter) and adapter.platform == "telegram"
    assert adapter.section.mode == "polling" and adapter.app.updater is not None
    assert adapter.app.bot.base_url == "https://api.telegram.org/bot1:abc"


def test_webhook_mode_needs_a_url_and_a_valid_secret(tg_dispatcher: Dispatcher) -> None:
    with pytest.raises(ConfigError, match="webhook_url"):
        TelegramAdapter(tg_dispatcher, "1:abc", section=TelegramSection(mode="webhook"))
    section = TelegramSection(mode="webhook", webhook_url="https://x.example/telegram")
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        TelegramAdapter(tg_dispatcher, "1:abc", section=section, webhook_secret="has spaces")
    generated = TelegramAdapter(tg_dispatcher, "1:abc", section=section).webhook_secret
    assert generated and re.fullmatch(r"[A-Za-z0-9_-]{20,256}", generated)


async def test_a_rejected_token_is_a_config_error(api: FakeTelegram, tg_dispatcher: Dispatcher) -> None:
    adapter = TelegramAdapter(tg_dispatcher, "999:wrong", api_url=api.url)
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        await adapter.start()
    await adapter.stop()


async def test_files_go_out_as_documents(adapter: TelegramAdapter, api: FakeTelegram) -> None:
    from bot.reply import Attachment

    reply = Reply(title="Dormant customers", files=[Attachment("segment-dormant.csv", b"customer_id\n1\n", "text/csv")])
    await adapter.send(ChatRef("telegram", str(GROUP)), reply)
    [call] = api.calls_to("sendDocument", chat_id=GROUP)
    assert call.result["document"]["file_name"] == "segment-dormant.csv"
