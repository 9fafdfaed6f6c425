"""A team's first week, in two languages: the reply-language rule of docs/languages.md (issue 24).

1. A question in Chinese words gets Chinese, whatever the chat's setting.
2. Otherwise the chat's setting (`lang en|zh`): English forms never override `lang zh`.
3. With `lang auto`: the question's own language (an English period), then the default.
Names and data values (双11, a region value) never switch the language, and a Chinese reply has
no English words left in it.
"""

from __future__ import annotations

import re

from bot.app import build_dispatcher
from bot.config import Settings
from bot.context import ChatRef, Incoming
from bot.dispatch import Dispatcher
from bot.state.store import Store
from bot.text.language import chinese_vocabulary, question_language
from metrics.data.warehouse import Warehouse
from metrics.kpis import metric_names
from tests.conftest import Clock
from tests.fakes.chat import Chat

HAN = re.compile(r"[\u3400-\u9fff]")
WORD = re.compile(r"[A-Za-z][A-Za-z_-]+")


def chinese(text: str) -> bool:
    return bool(HAN.search(text))


def english(text: str, *names: str) -> bool:
    """English prose with no Chinese in it once the names the user gave are taken out."""
    for name in names:
        text = text.replace(name, "")
    return not chinese(text) and bool(WORD.search(text))


async def test_after_lang_en_a_chinese_question_is_answered_in_chinese(chat: Chat) -> None:
    await chat.send("lang en")
    zh = await chat.send("指标 销售额 昨天")
    assert zh.title.startswith("核心指标") and "销售额" in zh.plain_text()
    en = await chat.send("kpi gmv yesterday")
    assert en.title.startswith("KPIs") and english(en.plain_text())
    assert zh.data == en.data  # the same numbers, in the other language
    # a Chinese keyword glued to a value, a typo of a Chinese metric: still Chinese
    assert "未知指标" in await chat.say("kpi 销售额x 昨天")
    assert chinese(await chat.say("指标 销售额 昨天 按渠道"))
    # the data value after `=` does not count; the Chinese words do
    assert (await chat.send("指标 销售额 昨天 where region=east")).title.startswith("核心指标")


async def test_after_lang_zh_english_forms_keep_chinese(chat: Chat) -> None:
    # English is the grammar's canonical spelling, taught by the Chinese help itself: a Chinese
    # chat typing `kpi gmv yesterday` is not asking for English.
    await chat.send("lang zh")
    kpi = await chat.send("kpi gmv yesterday")
    assert kpi.title.startswith("核心指标")
    assert (await chat.send("help kpi")).title.startswith("帮助")
    assert "未知指标" in await chat.say("kpi gmvv")


async def test_with_lang_auto_the_question_decides(chat: Chat) -> None:
    await chat.send("lang auto")  # the default language of the demo config is English
    assert (await chat.send("kpi gmv last 7d")).title.startswith("KPIs")
    assert (await chat.send("指标 销售额 近7天")).title.startswith("核心指标")
    assert (await chat.send("kpi gmv")).title.startswith("KPIs")  # nothing says: the default


async def test_a_chinese_campaign_name_leaves_an_english_reply_english(chat: Chat) -> None:
    # no `lang` at all (auto), as in the issue: the name used to turn the whole reply Chinese
    added = await chat.say("campaign add 双11 2026-11-08..2026-11-12")
    assert "双11" in added and english(added, "双11")
    assert "Campaign #1" in added
    await chat.send("lang en")
    again = await chat.say("campaign add 年货节 2027-01-20..2027-02-05")
    assert english(again, "年货节") and "Campaign #2" in again
    # the same command in Chinese words is answered in Chinese
    listed = await chat.say("活动列表")
    assert "年货节" in listed and chinese(listed.replace("年货节", "").replace("双11", ""))


async def test_subscriptions_in_chinese_have_no_english_words(chat: Chat) -> None:
    await chat.send("lang zh")
    await chat.send("subscribe digest daily 09:00 gmv orders by channel wait-until 10:00")
    await chat.send("subscribe digest weekly mon 09:00")
    reply = await chat.send("subscriptions")
    lines = reply.text
    assert lines[0].startswith("#1 每天 09:00 Asia/Shanghai 销售额、订单量 · 按渠道 · 等到 10:00")
    assert lines[1].startswith("#2 每周一 09:00 Asia/Shanghai")
    for line in lines:
        # what is left in Latin letters is the timezone and the console's chat id, not words
        leftover = WORD.findall(line.replace("Asia/Shanghai", "").split(" → ")[0])
        assert leftover == [], line
    assert reply.plain_text() == (await chat.send("订阅列表")).plain_text()
    # the English list is as before
    await chat.send("lang en")
    english_lines = (await chat.send("subscriptions")).text
    assert english_lines[0].startswith("#1 daily 09:00 Asia/Shanghai GMV, Orders · by channel · wait-until 10:00")
    assert english_lines[1].startswith("#2 weekly mon 09:00 Asia/Shanghai")


async def test_a_chinese_sentence_that_is_no_command_is_answered_in_chinese(chat: Chat) -> None:
    await chat.send("lang en")
    assert chinese(await chat.say("上周各渠道销售怎么样？"))


def test_which_words_count(dispatcher: Dispatcher) -> None:
    vocabulary = chinese_vocabulary([*(w for c in dispatcher.commands for w in c.words), *metric_names()])

    def asked(text: str) -> str | None:
        return question_language(text, vocabulary, lambda w: dispatcher.find(w) is not None)

    cases = {
        "指标 销售额 昨天": "zh",
        "kpi 销售额 昨天": "zh",
        "趋势 销售额 近30天": "zh",
        "kpi gmv 本月销售额": "zh",  # glued words
        "活动 报告 双11": "zh",
        "kpi gmv 近7天 vs previous": "zh",  # the comparison the Chinese help teaches in English
        "kpi gmv yesterday": "en",
        "/kpi@opsbot gmv last 7d vs last year": "en",
        "kpi gmv": None,  # command words and metric names are shared
        "subscriptions": None,
        "campaign add 双11 2026-11-08..2026-11-12": None,  # a name
        "campaign add 年货节 2027-01-20..2027-02-05": None,
        "top channel where region=华东": None,  # a value
        "kpi gmv where channel='天猫'": None,  # quoted
        "kpi 销售额 this month": None,  # both: the chat's setting decides
        "kpi gmv 2026-11": None,  # a date
    }
    assert {text: asked(text) for text in cases} == cases


async def test_feishu_dingtalk_and_wecom_chats_get_chinese_unless_they_choose(
        demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store) -> None:
    chats = ("feishu:oc_ops", "dingtalk:cidOPS", "slack:COPS")
    settings = demo_settings.model_copy(update={"access": demo_settings.access.model_copy(
        update={"chats": chats, "admins": ("feishu:ou_boss",)})})
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock, store=store)
    feishu = Chat(dispatcher, ChatRef.parse("feishu:oc_ops"), "feishu:ou_boss")
    # command words say no language and the platform sends no hint: the platform's language
    answer = await feishu.send("kpi gmv")
    assert chinese(answer.title) and not answer.error
    assert english((await Chat(dispatcher, ChatRef.parse("slack:COPS"), "slack:U1").send("kpi gmv")).title)
    # a question in English is answered in English there too (the rule of docs/languages.md)
    assert english((await feishu.send("kpi gmv yesterday")).title)
    # a pushed digest has no message to read a language from: the platform's, then the chat's choice
    assert dispatcher.context_for(ChatRef.parse("dingtalk:cidOPS")).lang == "zh"
    assert dispatcher.context_for(ChatRef.parse("wecom:ops")).lang == "zh"
    await feishu.send("lang en")
    assert english((await feishu.send("kpi gmv")).title)
    assert dispatcher.context_for(ChatRef.parse("feishu:oc_ops")).lang == "en"
    # an adapter's own hint wins over the platform's (Lark, the international Feishu, says "en")
    lark = await dispatcher.dispatch(Incoming(text="kpi gmv", chat=ChatRef.parse("dingtalk:cidOPS"),
                                              user="dingtalk:u1", language="en"))
    assert english(lark.title)
