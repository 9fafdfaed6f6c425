"""How replies read (issue 15, credibility pass): nothing said twice, every comparison named once
with its dates, labels that match what they compare."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bot.reply import Reply
from tests.fakes.chat import Chat

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def said_twice(reply: Reply) -> list[str]:
    """Phrases of three words or more, and dates, that one line of the reply's title or text says twice."""
    found = []
    for line in [reply.title or "", *reply.text]:
        days = Counter(ISO_DAY.findall(line))
        found += [d for d, n in days.items() if n > 1]
        words = re.findall(r"[\w/]+", line.lower())
        grams = Counter(" ".join(words[i:i + 3]) for i in range(len(words) - 2))
        found += [g for g, n in grams.items() if n > 1]
    return found


# periods that end before today: the test shop has no orders today, and what a reply says of data that
# has not arrived is another matter (handlers/coverage.py)
COMMANDS = [
    "kpi", "kpi last 7d", "kpi last month", "kpi gmv yesterday vs last year",
    "kpi gmv orders last 7d vs previous by channel", "kpi gmv 2026-11-01..2026-11-07 vs 2026-10-01..2026-10-07",
    "kpi gmv 2026-W46 vs previous", "kpi gmv 2026-10 vs last year", "trend gmv last 30d",
    "top category by gmv last 7d vs previous", "movers gmv 2026-11-01..2026-11-07 vs previous by channel",
    "drivers last 7d vs previous", "funnel last 30d", "digest now",
]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("command", COMMANDS)
async def test_no_reply_says_a_phrase_or_a_date_twice(chat: Chat, command: str, lang: str) -> None:
    await chat.send(f"lang {lang}")
    reply = await chat.send(command)
    assert not reply.error, reply.plain_text()
    assert said_twice(reply) == [], reply.plain_text()


async def test_the_standard_card_names_each_comparison_once(chat: Chat) -> None:
    reply = await chat.send("kpi")
    text = reply.plain_text()
    assert "d/d: compared with the day before (2026-11-23)." in text
    assert "w/w: compared with the same weekday last week (2026-11-17)." in text
    assert text.count("same weekday") == 1
    assert "GMV: " in text and " d/d · " in text


async def test_the_standard_card_in_chinese(chat: Chat) -> None:
    await chat.send("lang zh")
    text = await chat.say("kpi")
    assert "日环比：对比前一天 2026-11-23。" in text
    assert "周同比：对比上周同期 2026-11-17。" in text
    assert text.count("上周") == 1


async def test_a_card_of_several_days_does_not_call_its_first_change_day_over_day(chat: Chat) -> None:
    reply = await chat.send("kpi wtd")  # Monday 2026-11-23 through today so far
    assert not reply.error
    assert all("d/d" not in (f.delta or "") and "vs previous" in (f.delta or "") for f in reply.fields if f.delta)
    assert "w/w: compared with the same days a week earlier (2026-11-16 – 2026-11-18)." in reply.plain_text()
    await chat.send("lang zh")
    assert "日环比" not in await chat.say("kpi wtd")


@pytest.mark.parametrize("command", ["kpi last 7d", "kpi last month", "kpi last 4w"])
async def test_a_card_of_a_week_or_more_has_no_week_over_week(chat: Chat, command: str) -> None:
    # the same days a week earlier are the previous period (last 7d) or overlap it (a month): the second
    # change said the first again, or compared a month with a month shifted by a week
    reply = await chat.send(command)
    assert not reply.error
    assert "w/w" not in reply.plain_text() and "d/d" not in reply.plain_text()
    assert "compare_week" not in reply.data
    assert "Compared with " in reply.plain_text()


async def test_an_explicit_range_is_not_written_twice(chat: Chat) -> None:
    reply = await chat.send("kpi gmv 2026-11-01..2026-11-07 vs 2026-10-01..2026-10-07")
    assert reply.title == "KPIs · 2026-11-01 – 2026-11-07"
    assert "Compared with 2026-10-01 – 2026-10-07." in reply.text


async def test_the_digest_says_what_its_movers_compare_with(chat: Chat) -> None:
    reply = await chat.send("digest now")
    assert [t.title for t in reply.tables] == ["What moved GMV vs 2026-11-23"]
    await chat.send("lang zh")
    reply = await chat.send("digest now")
    assert [t.title for t in reply.tables] == ["销售额变动来源（对比 2026-11-23）"]


# ---- the read-through of every command (issue 15, part 4) ---------------------------------------

ZH_COMMANDS = ["kpi", "kpi conversion spend by region", "trend gmv last 30d", "top category by gmv last 7d vs previous",
               "movers gmv last 7d vs previous by channel", "drivers last 7d vs previous", "funnel last 30d",
               "retention", "ltv", "digest now", "help", "help kpi", "whoami", "alerts"]
CJK_THEN_ASCII = re.compile(r"[\u4e00-\u9fff] ?[(:;,]|[：，。、] ")


def every_string(reply: Reply) -> list[str]:
    cells = [c for t in reply.tables for row in [t.columns, *t.rows] for c in row]
    return [reply.title or "", *reply.text, *(f"{f.label} {f.value} {f.delta or ''}" for f in reply.fields), *cells]


@pytest.mark.parametrize("command", ZH_COMMANDS)
async def test_chinese_replies_use_chinese_punctuation(chat: Chat, command: str) -> None:
    # "访客 (认知)", "规则： 无。", "转化率, 推广费用无法计算": half-width marks or stray spaces inside Chinese
    await chat.send("lang zh")
    reply = await chat.send(command)
    assert not reply.error, reply.plain_text()
    bad = [s for s in every_string(reply) if CJK_THEN_ASCII.search(s)]
    assert bad == []


async def test_a_list_in_a_chinese_sentence_is_joined_the_chinese_way(chat: Chat) -> None:
    await chat.send("lang zh")
    assert "转化率、推广费用无法计算：该数据未按地区记录。" in await chat.say("kpi conversion spend by region")
    await chat.send("lang en")
    assert "n/a for Conversion, Spend: that data is not recorded per region." in await chat.say(
        "kpi conversion spend by region")


async def test_sessions_have_one_chinese_name(chat: Chat) -> None:
    await chat.send("lang zh")
    drivers = await chat.send("drivers last 7d vs previous")
    funnel = await chat.send("funnel last 30d")
    kpi = await chat.send("kpi sessions")
    assert kpi.fields[0].label == "访客数"
    assert drivers.fields[0].label == "访客数"
    assert funnel.tables[0].rows[0][0] == "访客数（认知）"
    assert "流量" not in await chat.say("help")


async def test_drivers_say_what_each_factor_was_in_words(chat: Chat) -> None:
    reply = await chat.send("drivers last 7d vs previous")
    assert all("←" not in f.value and ", was " in f.value for f in reply.fields)
    await chat.send("lang zh")
    reply = await chat.send("drivers last 7d vs previous")
    assert all("，对比期 " in f.value for f in reply.fields)


async def test_the_trend_says_which_day_its_latest_value_is(chat: Chat) -> None:
    reply = await chat.send("trend gmv last 30d")
    latest, high, low = reply.fields
    assert latest.delta == "2026-11-24" and high.delta and low.delta


async def test_the_command_list_has_no_empty_header(chat: Chat) -> None:
    text = await chat.say("help")
    assert not any(line and set(line) <= {"-", " "} for line in text.splitlines()), text
    assert "kpi" in text and "KPIs for a period" in text


async def test_help_kpi_in_chinese_gives_the_chinese_names(chat: Chat) -> None:
    await chat.send("lang zh")
    text = await chat.say("help kpi")
    assert "gmv（销售额）、orders（订单量）" in text and "repurchase_rate（复购率）" in text
    assert "维度：channel（渠道）、category（品类）、region（地区）" in text
    await chat.send("lang en")
    assert "Metrics: gmv, orders, aov" in await chat.say("help kpi")


async def test_alerts_without_rules_in_both_languages(chat: Chat) -> None:
    assert "Rules: none." in await chat.say("alerts")
    await chat.send("lang zh")
    assert "规则：无。" in await chat.say("alerts")
