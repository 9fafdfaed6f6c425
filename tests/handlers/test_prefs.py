from __future__ import annotations

from tests.fakes.chat import Chat


async def test_language_per_chat(chat: Chat) -> None:
    other = chat.as_("slack:COTHER", "slack:U1")
    assert "GMV" in await chat.say("kpi gmv")
    assert "English" not in await chat.say("lang zh")
    zh = await chat.say("kpi gmv")
    assert "销售额" in zh and "GMV" not in zh
    # another chat keeps the default
    assert (await other.send("kpi gmv")).plain_text().startswith("Sorry")  # not allowed anyway: refusal in English
    assert "English" in await chat.say("lang en")
    assert "GMV" in await chat.say("kpi gmv")


async def test_chinese_questions_get_chinese_answers(chat: Chat) -> None:
    text = await chat.say("kpi 销售额 昨天")
    assert "销售额" in text and "核心指标" in text
    err = await chat.say("kpi 销售额x")
    assert "未知指标" in err


async def test_bad_language(chat: Chat) -> None:
    reply = await chat.send("lang klingon")
    assert reply.error and "klingon" in reply.plain_text() and "en, zh" in reply.plain_text()


async def test_language_survives_a_restart(chat: Chat, demo_settings, demo_warehouse, clock, store) -> None:
    from bot.app import build_dispatcher

    await chat.send("lang zh")
    again = Chat(build_dispatcher(demo_settings, demo_warehouse, clock=clock, store=type(store)(str(store.engine.url))))
    assert "销售额" in await again.say("kpi gmv")


async def test_whoami_and_audit(chat: Chat) -> None:
    me = await chat.send("whoami")
    assert me.data == {"chat": "console:local", "user": "console:local", "admin": True, "scope": {}}
    await chat.send("kpi gmvv")
    log = await chat.send("audit 5")
    assert [e["command"] for e in log.data["entries"]][:2] == ["kpi gmvv", "whoami"]
    assert log.data["entries"][0]["outcome"] == "error:unknown_metric"
    assert "Use `audit`" in await chat.say("audit lots")
