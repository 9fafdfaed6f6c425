"""Who may change a chat's settings (issue 23): `lang` is everyone's in a group, so there it takes
an admin or whoever `[access] settings_by` names; a direct message stays its user's own. The
adapters say which is which: Slack from the conversation id / channel type, Telegram from the
chat type."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import select

from bot.adapters.slack.adapter import SlackAdapter, slack_from_env
from bot.adapters.telegram.adapter import TelegramAdapter
from bot.adapters.telegram.retries import RetryPolicy
from bot.app import build_dispatcher
from bot.config import Settings, SlackSection
from bot.context import ChatRef, Incoming
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.reply import Reply
from bot.state.store import AuditEntry, Store
from metrics.data.warehouse import Warehouse
from tests.conftest import Clock
from tests.fakes.slack_api import TEAM_ID, FakeSlack, fake_slack, sign, slash_command  # noqa: F401
from tests.fakes.telegram_api import FakeTelegram, fake_telegram, visible  # noqa: F401

SECRET = "0123456789abcdef0123456789abcdef"
GROUP = "slack:COPS"
BOSS = "slack:UBOSS"
ALICE = "slack:UALICE"


def with_access(base: Settings, **access: Any) -> Settings:
    return base.model_copy(update={"access": base.access.model_copy(update=access)})


@pytest.fixture
def make_bot(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store) -> Any:
    def make(**access: Any) -> Dispatcher:
        access = {"chats": (GROUP, "slack:CSALES"), "users": (ALICE,), "admins": (BOSS,), **access}
        return build_dispatcher(with_access(demo_settings, **access), demo_warehouse, clock=clock, store=store)

    return make


async def say(bot: Dispatcher, text: str, chat: str = GROUP, user: str = ALICE, direct: bool = False) -> Reply:
    return await bot.dispatch(Incoming(text=text, chat=ChatRef.parse(chat), user=user, direct=direct))


def language_of(store: Store, chat: str) -> str | None:
    return store.chat_language(chat)


async def test_lang_from_a_non_admin_in_a_group_is_refused_clearly(make_bot: Any, store: Store) -> None:
    bot = make_bot()
    refused = await say(bot, "lang zh")
    assert refused.error and refused.data["error"] == "chat_settings_admin_only"
    text = refused.plain_text()
    assert "`lang`" in text and "only an admin" in text and "direct message" in text and ALICE in text
    assert language_of(store, GROUP) is None  # nothing changed
    # reading the setting stays open to all
    assert not (await say(bot, "lang")).error
    # in Chinese too, for a chat already set to Chinese by an admin
    assert not (await say(bot, "lang zh", user=BOSS)).error
    assert language_of(store, GROUP) == "zh"
    zh = await say(bot, "lang en")
    assert zh.error and "只有管理员" in zh.plain_text()
    assert language_of(store, GROUP) == "zh"
    with store.session() as s:
        outcomes = [(e.user, e.command, e.outcome) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert outcomes == [(ALICE, "lang zh", "refused"), (ALICE, "lang", "ok"), (BOSS, "lang zh", "ok"),
                        (ALICE, "lang en", "refused")]


async def test_lang_in_a_direct_message_is_the_users_own(make_bot: Any, store: Store) -> None:
    bot = make_bot()
    done = await say(bot, "lang zh", chat="slack:DALICE", direct=True)
    assert not done.error and done.data == {"language": "zh"}
    assert language_of(store, "slack:DALICE") == "zh"
    assert language_of(store, GROUP) is None  # the group is untouched
    assert "销售额" in (await say(bot, "kpi gmv", chat="slack:DALICE", direct=True)).plain_text()
    assert "GMV" in (await say(bot, "kpi gmv")).plain_text()


async def test_settings_by_opens_a_chat_to_anyone_or_to_named_users(make_bot: Any, store: Store) -> None:
    bot = make_bot(settings_by={GROUP: "anyone", "slack:CSALES": ("slack:UCAROL",)})
    assert not (await say(bot, "lang zh")).error and language_of(store, GROUP) == "zh"
    assert (await say(bot, "lang zh", chat="slack:CSALES")).data["error"] == "chat_settings_admin_only"
    assert not (await say(bot, "lang zh", chat="slack:CSALES", user="slack:UCAROL")).error
    assert not (await say(bot, "lang en", chat="slack:CSALES", user=BOSS)).error  # admins always may
    # "*" is the rule for every group not named
    anyone = make_bot(settings_by={"*": "anyone", "slack:CSALES": "admins"})
    assert not (await say(anyone, "lang auto")).error
    assert (await say(anyone, "lang zh", chat="slack:CSALES")).error


def test_settings_by_is_validated(demo_settings: Settings, tmp_path: Any) -> None:
    from bot.config import load_settings

    for bad in ('settings_by = { "slack:C1" = "everyone" }', 'settings_by = { "C1" = "anyone" }',
                'settings_by = { "slack:C1" = ["U1"] }'):
        path = tmp_path / "opsbot.toml"
        path.write_text(f"[access]\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="settings_by"):
            load_settings(path)
    path.write_text('[access]\nsettings_by = { "slack:C1" = "anyone", "*" = ["telegram:42"] }\n', encoding="utf-8")
    assert load_settings(path).access.settings_by == {"slack:C1": "anyone", "*": ("telegram:42",)}


# ---- through the real adapters: they say whether a chat is direct ----------------------------------


@pytest.fixture
async def slack_bot(fake_slack: FakeSlack, make_bot: Any,  # noqa: F811
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SlackAdapter]:
    bot = make_bot(slack_teams=(TEAM_ID,))
    bot.services.settings = bot.services.settings.model_copy(update={"slack": SlackSection(mode="http", port=0)})
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-settings-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
    adapter = slack_from_env(bot.services.settings, bot)
    await adapter.start()
    yield adapter
    await adapter.stop()


async def test_slack_lang_is_refused_in_a_channel_and_works_in_a_dm(slack_bot: SlackAdapter,
                                                                     fake_slack: FakeSlack,  # noqa: F811
                                                                     store: Store) -> None:
    for channel, rid in (("COPS", "channel"), ("DALICE", "dm")):
        body = urlencode(slash_command("lang zh", channel=channel, response_url=fake_slack.response_url(rid)))
        async with aiohttp.ClientSession() as session:
            assert slack_bot.url is not None
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}
            async with session.post(slack_bot.url, data=body.encode(), headers=headers) as response:
                assert response.status == 200
                json.loads(await response.text())
        await fake_slack.wait_for("response", count=1 if rid == "channel" else 2)
    answers = {c.path.rsplit("/", 1)[1]: c.all_text() for c in fake_slack.calls_to("response")}
    assert "only an admin" in answers["channel"]
    assert "中文" in answers["dm"] and "admin" not in answers["dm"]
    assert language_of(store, "slack:COPS") is None and language_of(store, "slack:DALICE") == "zh"


FAST = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.05, max_flood_wait=5)


@pytest.fixture
async def telegram(fake_telegram: FakeTelegram, demo_settings: Settings,  # noqa: F811
                   demo_warehouse: Warehouse, clock: Clock, store: Store) -> AsyncIterator[FakeTelegram]:
    settings = with_access(demo_settings, chats=("telegram:-1001",), users=("telegram:42",))
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock, store=store)
    adapter = TelegramAdapter(dispatcher, fake_telegram.token, api_url=fake_telegram.url, poll_timeout=1, retry=FAST)
    await adapter.start()
    try:
        yield fake_telegram
    finally:
        await adapter.stop()


async def test_telegram_lang_is_refused_in_a_group_and_works_in_a_private_chat(telegram: FakeTelegram,
                                                                                store: Store) -> None:
    telegram.push(telegram.message("/lang zh", chat_id=-1001, user_id=42))
    [group] = await telegram.wait_for("sendMessage", chat_id=-1001)
    assert "only an admin" in visible(group.params["text"])
    telegram.push(telegram.message("/lang zh", chat_id=42, user_id=42))
    [private] = await telegram.wait_for("sendMessage", chat_id=42)
    assert "中文" in visible(private.params["text"])
    assert language_of(store, "telegram:-1001") is None and language_of(store, "telegram:42") == "zh"
