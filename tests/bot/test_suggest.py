"""Suggestions only where they are plausibly what was meant (issue 15: "how did sales do last week by
channel?" was answered "Did you mean cohort?"). Typos of commands, metrics, dimensions and values
keep their suggestion; sentences and questions get none, and a question gets a pointer to `help`."""

from __future__ import annotations

import pytest

from bot.suggest import closest, looks_like_question
from metrics.kpis import metric_names
from tests.fakes.chat import Chat

SUGGESTIONS = (" Did you mean", "您是想输入")

TYPOS = [
    ("kpj", "kpi"), ("kpii gmv", "kpi"), ("trnd", "trend"), ("tredn gmv last 30d", "trend"), ("topp", "top"),
    ("movres gmv", "movers"), ("drivres", "drivers"), ("funel", "funnel"), ("retension", "retention"),
    ("retnetion", "retention"), ("lvt", "ltv"), ("digets now", "digest"), ("subscibe", "subscribe"),
    ("alrets", "alerts"), ("hlep", "help"), ("whomai", "whoami"), ("segmetns", "segments"),
    ("campagin", "campaign"), ("reten", "retention"), ("trnd?", "trend"),
    ("趋式", "趋势"), ("趋式?", "趋势"), ("漏抖", "漏斗"), ("留纯", "留存"), ("指票", "指标"), ("帮注", "帮助"),
]

SENTENCES = [
    "how did sales do last week by channel?",
    "what was gmv yesterday",
    "can you show me gmv",
    "show me sales by channel",
    "please send the report",
    "is conversion down?",
    "tell me about refunds",
    "hello, what can you do?",
    "ok",
    "yes",
    "the numbers look wrong",
    "sales last week by channel",
    "上周各渠道销售怎么样？",
    "昨天的销售额是多少",
    "为什么转化率下降了？",
    "帮我看看本月的订单",
    "你好",
    "可以导出客户名单吗",
    "谢谢",
]

QUESTIONS = [s for s in SENTENCES if looks_like_question(s)]


@pytest.mark.parametrize(("text", "meant"), TYPOS)
async def test_a_close_typo_of_a_command_gets_its_suggestion(chat: Chat, text: str, meant: str) -> None:
    reply = await chat.send(text)
    assert reply.error and reply.data["error"] == "unknown_command"
    said = reply.plain_text()
    assert f"Did you mean {meant}?" in said or f"您是想输入 {meant} 吗" in said, said


@pytest.mark.parametrize("text", SENTENCES)
async def test_a_sentence_gets_no_suggestion(chat: Chat, text: str) -> None:
    reply = await chat.send(text)
    assert reply.error
    assert not any(s in reply.plain_text() for s in SUGGESTIONS), reply.plain_text()


def test_the_questions_are_most_of_the_sentences() -> None:
    # so that the pointer test below covers the sentences that are plainly questions
    assert set(SENTENCES) - set(QUESTIONS) == {"ok", "yes", "the numbers look wrong", "sales last week by channel",
                                               "谢谢"}


@pytest.mark.parametrize("text", QUESTIONS)
async def test_a_question_gets_a_pointer_to_help_and_examples(chat: Chat, text: str) -> None:
    reply = await chat.send(text)
    assert reply.data["error"] == "not_a_command"
    said = reply.plain_text()
    assert "`help`" in said and "`kpi gmv" in said and "`trend gmv" in said
    assert "Unknown command" not in said and "未知命令" not in said


async def test_the_pointer_is_in_the_chats_language(chat: Chat) -> None:
    assert "opsbot 只理解命令" in await chat.say("上周各渠道销售怎么样？")
    assert "I understand commands" in await chat.say("how did sales do last week by channel?")


@pytest.mark.parametrize(
    ("command", "meant"),
    [
        ("kpi gmvv", "gmv"), ("kpi ordres", "orders"), ("kpi convertion", "conversion"),
        ("kpi refund_rat", "refund_rate"), ("kpi 客单", "客单价"), ("kpi revnue", "revenue"),
        ("kpi gmv by chanel", "channel"), ("kpi gmv by channels", "channel"), ("kpi gmv by regoin", "region"),
        ("top categroy", "category"), ("kpi gmv where channel=serach", "search"),
        ("kpi gmv where channel=livestream", "live_stream"), ("help kpj", "kpi"), ("help trnd", "trend"),
    ],
)
async def test_close_typos_of_metrics_dimensions_and_values_get_their_suggestion(
    chat: Chat, command: str, meant: str
) -> None:
    said = await chat.say(command)
    assert f"Did you mean {meant}?" in said or f"您是想输入 {meant} 吗" in said, said


@pytest.mark.parametrize(
    "command",
    [
        "kpi how did it go", "kpi gmv for last week", "kpi me", "kpi sales pls", "kpi gmv by date",
        "kpi gmv by day", "kpi gmv by week", "kpi gmv where channel=tmall", "kpi gmv where channel=seo",
        "trend the gmv", "help me", "help how",
    ],
)
async def test_words_that_are_no_typo_get_no_suggestion(chat: Chat, command: str) -> None:
    reply = await chat.send(command)
    assert reply.error
    assert not any(s in reply.plain_text() for s in SUGGESTIONS), reply.plain_text()


def test_closest_scales_the_edits_with_the_word() -> None:
    metrics = metric_names()
    assert closest("gmvv", metrics) == "gmv"
    assert closest("销售", metrics) == "销售额"
    assert closest("how", ["kpi", "cohort", "trend"]) is None  # a partial-match score finds 'ho' in cohort
    assert closest("can", ["scan", "kpi"]) == "scan"  # close, which is why questions are told apart first
    assert closest("ab", ["?"]) is None
    assert closest("", ["kpi"]) is None
    assert closest("retentoin", ["retention", "retention_rate"]) == "retention"
