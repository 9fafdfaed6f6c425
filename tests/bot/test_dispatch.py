"""Dispatch, access and the error contract, through the chat driver."""

from __future__ import annotations

import pytest

from bot.app import build_dispatcher
from bot.config import Settings
from bot.context import Args, Context
from bot.dispatch import Dispatcher
from bot.reply import Reply
from bot.router import Router
from metrics.data.warehouse import Warehouse
from tests.conftest import Clock
from tests.fakes.chat import Chat


@pytest.fixture
def guarded(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock) -> Dispatcher:
    settings = demo_settings.model_copy(update={"access": demo_settings.access.model_copy(update={
        "chats": ("slack:COPS",), "users": ("telegram:42",), "admins": ("slack:UADMIN",),
    })})
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock)
    router = Router()

    @router.command("secret", admin=True)
    async def secret(ctx: Context, args: Args) -> Reply:
        return Reply(text=["admin stuff"])

    dispatcher.include(router)
    return dispatcher


async def test_allowed_chat_gets_answers(guarded: Dispatcher) -> None:
    reply = await Chat(guarded).as_("slack:COPS", "slack:USOMEONE").send("kpi gmv")
    assert not reply.error


async def test_unknown_chat_is_refused_without_data(guarded: Dispatcher) -> None:
    reply = await Chat(guarded).as_("slack:CRANDOM", "slack:USOMEONE").send("kpi gmv")
    assert reply.error
    assert "not allowed" in reply.plain_text() and "slack:CRANDOM" in reply.plain_text()
    assert "metrics" not in reply.data


async def test_allowed_user_anywhere(guarded: Dispatcher) -> None:
    reply = await Chat(guarded).as_("telegram:-100", "telegram:42").send("kpi gmv")
    assert not reply.error


async def test_admin_only_commands(guarded: Dispatcher) -> None:
    chat = Chat(guarded)
    refused = await chat.as_("slack:COPS", "slack:USOMEONE").send("secret")
    assert refused.error and "Only admins" in refused.plain_text()
    allowed = await chat.as_("slack:COPS", "slack:UADMIN").send("secret")
    assert allowed.plain_text() == "admin stuff"
    # the console is the operator's own terminal
    assert (await chat.send("secret")).plain_text() == "admin stuff"


async def test_command_words_are_case_insensitive_with_aliases(chat: Chat) -> None:
    for text in ("KPI gmv", "/kpi gmv", "/kpi@opsbot gmv", "指标 销售额", "Kpi GMV"):
        reply = await chat.send(text)
        assert not reply.error, text
        assert "gmv" in reply.data["metrics"]


def test_handlers_must_be_async() -> None:
    router = Router()
    with pytest.raises(TypeError, match="async"):
        router.command("x")(lambda ctx, args: None)  # type: ignore[arg-type,return-value]


def test_duplicate_command_words_fail_fast(dispatcher: Dispatcher) -> None:
    router = Router()

    @router.command("kpi2", aliases=("kpi",))
    async def clash(ctx: Context, args: Args) -> Reply:
        return Reply()

    with pytest.raises(ValueError, match="registered twice"):
        dispatcher.include(router)


async def test_unreachable_warehouse_says_data_source_unavailable(demo_settings: Settings, clock: Clock) -> None:
    from metrics.data.warehouse import Warehouse as Wh

    # a closed loopback port: the connection is refused at once
    wh = Wh.from_url("postgresql+psycopg://opsbot:s3cret@127.0.0.1:1/shop", demo_settings.mapping())
    reply = await Chat(build_dispatcher(demo_settings, wh, clock=clock)).send("kpi gmv")
    assert reply.error
    assert "data source is unavailable" in reply.plain_text()
    assert "s3cret" not in reply.plain_text()


async def test_every_command_is_audited(guarded: Dispatcher) -> None:
    from sqlalchemy import select

    from bot.state.store import AuditEntry

    chat = Chat(guarded)
    await chat.as_("slack:COPS", "slack:U1").send("kpi gmv")
    await chat.as_("slack:COPS", "slack:U1").send("kpi gmvv")
    await chat.as_("slack:CRANDOM", "slack:U2").send("kpi gmv")
    await chat.as_("slack:COPS", "slack:U1").send("secret")
    with guarded.services.store.session() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(r.chat, r.user, r.command, r.outcome) for r in rows][-4:] == [
        ("slack:COPS", "slack:U1", "kpi gmv", "ok"),
        ("slack:COPS", "slack:U1", "kpi gmvv", "error:unknown_metric"),
        ("slack:CRANDOM", "slack:U2", "kpi gmv", "refused"),
        ("slack:COPS", "slack:U1", "secret", "refused"),
    ]
    assert all(r.duration_ms >= 0 for r in rows)
