"""Who may ask: allow-lists of Slack workspaces, chats and users; admins; rate limits. Every attempt is audited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import select

from bot.adapters.slack.adapter import SlackAdapter, slack_from_env
from bot.app import build_dispatcher
from bot.config import Settings, SlackSection
from bot.context import ChatRef, Incoming
from bot.dispatch import Dispatcher
from bot.reply import Reply
from bot.state.store import AuditEntry, Store
from metrics.data.warehouse import Warehouse
from tests.conftest import Clock
from tests.fakes.slack_api import TEAM_ID, FakeSlack, fake_slack, sign, slash_command  # noqa: F401

SECRET = "0123456789abcdef0123456789abcdef"


def settings_with(base: Settings, **access: Any) -> Settings:
    limits = access.pop("limits", {})
    return base.model_copy(update={
        "access": base.access.model_copy(update=access),
        "limits": base.limits.model_copy(update=limits),
    })


@pytest.fixture
def make_bot(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store) -> Any:
    def make(**access: Any) -> Dispatcher:
        return build_dispatcher(settings_with(demo_settings, **access), demo_warehouse, clock=clock, store=store)

    return make


async def say(bot: Dispatcher, text: str, chat: str = "slack:COPS", user: str = "slack:UALICE",
              team: str | None = TEAM_ID) -> Reply:
    return await bot.dispatch(Incoming(text=text, chat=ChatRef.parse(chat), user=user, team=team))


def audited(store: Store) -> list[tuple[str, str, str, str]]:
    with store.session() as s:
        return [(e.chat, e.user, e.command, e.outcome) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


async def test_unknown_chat_is_refused_briefly_and_audited(make_bot: Any, store: Store) -> None:
    bot = make_bot(chats=("slack:COPS",))
    refused = await say(bot, "kpi gmv yesterday", chat="slack:CRANDOM", user="slack:UEVE")
    assert refused.error and refused.data["error"] == "not_allowed"
    assert "slack:CRANDOM" in refused.plain_text() and "GMV" not in refused.plain_text()
    assert not refused.fields and not refused.tables
    assert (await say(bot, "kpi gmv yesterday")).fields  # the listed channel is answered
    assert audited(store) == [("slack:CRANDOM", "slack:UEVE", "kpi gmv yesterday", "refused"),
                              ("slack:COPS", "slack:UALICE", "kpi gmv yesterday", "ok")]


async def test_a_listed_user_is_answered_in_any_chat_and_telegram_ids_are_their_own(make_bot: Any) -> None:
    bot = make_bot(users=("slack:UALICE", "telegram:42"))
    assert not (await say(bot, "help", chat="slack:CELSEWHERE")).error
    assert not (await say(bot, "help", chat="telegram:-1001", user="telegram:42", team=None)).error
    # the same id on the other platform is someone else
    assert (await say(bot, "help", chat="telegram:-1001", user="telegram:UALICE", team=None)).error


async def test_other_slack_workspaces_are_refused_even_for_a_listed_channel(make_bot: Any, store: Store) -> None:
    bot = make_bot(chats=("slack:COPS",), slack_teams=(TEAM_ID,))
    assert not (await say(bot, "help")).error
    for team in ("TOTHER", None):
        reply = await say(bot, "help", team=team)
        assert reply.error and reply.data["error"] == "not_allowed"
    assert [row[3] for row in audited(store)] == ["ok", "refused", "refused"]
    # without a workspace list, any workspace the app is installed in may use listed channels
    assert not (await say(make_bot(chats=("slack:COPS",)), "help", team="TOTHER")).error


@pytest.mark.parametrize(("platform", "key", "chat"), [
    ("feishu", "feishu_tenants", "feishu:oc_ops"),
    ("dingtalk", "dingtalk_corps", "dingtalk:cidOPS"),
])
async def test_feishu_tenants_and_dingtalk_organisations_are_allow_listed_like_slack_workspaces(
        make_bot: Any, store: Store, platform: str, key: str, chat: str) -> None:
    bot = make_bot(chats=(chat,), **{key: ("mine",)})
    user = f"{platform}:u1"
    assert not (await say(bot, "help", chat=chat, user=user, team="mine")).error
    for tenant in ("theirs", None):
        assert (await say(bot, "help", chat=chat, user=user, team=tenant)).data["error"] == "not_allowed"
    # the list is its platform's own: it does not fence off Slack, and Slack's does not fence it
    assert not (await say(make_bot(chats=(chat, "slack:COPS"), **{key: ("mine",)}), "help")).error
    assert not (await say(make_bot(chats=(chat,), slack_teams=(TEAM_ID,)), "help", chat=chat, user=user,
                          team="anyone")).error


async def test_state_changing_commands_need_an_admin(make_bot: Any) -> None:
    bot = make_bot(chats=("slack:COPS",), admins=("slack:UBOSS",))
    refused = await say(bot, "subscribe digest daily 09:00")
    assert refused.data["error"] == "admin_only"
    assert not (await say(bot, "subscribe digest daily 09:00", user="slack:UBOSS")).error
    # reading goals and campaigns is open to all; changing the shop's is not
    assert not (await say(bot, "goal list")).error
    for text in ("goal set gmv 3000000 2027Q1", "goal rm 1", "campaign add sale 2027-03-01..2027-03-07",
                 "campaign rm 1"):
        assert (await say(bot, text)).data["error"] == "admin_only", text
    assert not (await say(bot, "goal set gmv 3000000 2027Q1", user="slack:UBOSS")).error
    who = await say(bot, "whoami", user="slack:UBOSS")
    assert who.data == {"chat": "slack:COPS", "user": "slack:UBOSS", "admin": True, "scope": {}}


async def test_rate_limits_per_user_and_per_chat(make_bot: Any, store: Store) -> None:
    bot = make_bot(chats=("slack:COPS", "slack:CTWO"), limits={"user_per_minute": 3, "chat_per_minute": 5})
    for _ in range(3):
        assert not (await say(bot, "help")).error
    limited = await say(bot, "help")
    assert limited.data["error"] == "rate_limited_user" and limited.data["limit"] == 3
    assert 1 <= limited.data["seconds"] <= 60
    assert "3 commands in the last minute" in limited.plain_text() and "try again in" in limited.plain_text()
    # another person in the same chat is still answered, until the chat's own limit (5) is reached
    # (a refused attempt does not count against the chat)
    assert not (await say(bot, "help", user="slack:UBOB")).error
    assert not (await say(bot, "help", user="slack:UCAROL")).error
    assert (await say(bot, "help", user="slack:UDAVE")).data["error"] == "rate_limited_chat"
    # Alice is limited everywhere, Bob only in the busy chat
    assert (await say(bot, "help", chat="slack:CTWO")).data["error"] == "rate_limited_user"
    assert not (await say(bot, "help", chat="slack:CTWO", user="slack:UBOB")).error
    assert [o for *_, o in audited(store)].count("limited") == 3
    # the console (the operator at the machine) is never limited
    for _ in range(5):
        assert not (await say(bot, "help", chat="console:local", user="console:local", team=None)).error


async def test_limits_are_counted_in_metrics_as_their_own_outcome(make_bot: Any) -> None:
    bot = make_bot(chats=("slack:COPS",), limits={"user_per_minute": 1})
    seen: list[tuple[str, str]] = []
    bot.observers.append(lambda name, outcome, seconds: seen.append((name, outcome)))
    await say(bot, "help")
    await say(bot, "kpi gmv")
    await say(bot, "nonsense")
    assert seen == [("help", "ok"), ("kpi", "limited"), ("unknown", "limited")]


async def test_an_overlong_command_is_refused_before_anything_runs(make_bot: Any) -> None:
    bot = make_bot(chats=("slack:COPS",))
    reply = await say(bot, "kpi " + "gmv " * 400)
    assert reply.data["error"] == "too_long" and reply.data["limit"] == 1000


# ---- through the real Slack adapter -------------------------------------------------------------


@pytest.fixture
async def slack_bot(fake_slack: FakeSlack, make_bot: Any,  # noqa: F811
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SlackAdapter]:
    bot = make_bot(chats=("slack:COPS",), slack_teams=(TEAM_ID,))
    bot.services.settings = bot.services.settings.model_copy(update={"slack": SlackSection(mode="http", port=0)})
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-access-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
    adapter = slack_from_env(bot.services.settings, bot)
    await adapter.start()
    yield adapter
    await adapter.stop()


async def test_a_slash_command_from_another_workspace_is_refused(slack_bot: SlackAdapter, fake_slack: FakeSlack,  # noqa: F811
                                                                 store: Store) -> None:
    for team, rid in ((TEAM_ID, "mine"), ("TOTHER", "theirs")):
        form = slash_command("kpi gmv yesterday", response_url=fake_slack.response_url(rid))
        form["team_id"] = team
        body = urlencode(form)
        async with aiohttp.ClientSession() as session:
            assert slack_bot.url is not None
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}
            async with session.post(slack_bot.url, data=body.encode(), headers=headers) as response:
                assert response.status == 200
                json.loads(await response.text())
    await fake_slack.wait_for("response", count=2)
    answers = {c.path.rsplit("/", 1)[1]: c for c in fake_slack.calls_to("response")}
    assert "GMV" in answers["mine"].all_text()
    assert "not allowed" in answers["theirs"].all_text() and "GMV" not in answers["theirs"].all_text()
    assert sorted(row[3] for row in audited(store)) == ["ok", "refused"]
