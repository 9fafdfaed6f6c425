"""Property-based tests (hypothesis) of the command parser and the dispatcher (issue 10).

Whatever anyone types, in any script, of any length, `Dispatcher.dispatch` answers with a
Reply in bounded time, never raises, never shows a traceback or a raw exception, and never
files an incident (an incident is a crash the user had to hear about). Generated commands
start with real command words and continue with the grammar's own vocabulary (metrics,
periods, `by`, `where`, `vs`, amounts) mixed with junk, so the fuzz reaches the handlers
rather than stopping at "unknown command". The period parser and the number formats also
round-trip: what the bot prints can be typed back.

More examples locally: OPSBOT_FUZZ_EXAMPLES=5000 .venv/bin/pytest -q tests/bot/test_fuzz.py
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.adapters.slack import render as slack_render
from bot.adapters.telegram import render as telegram_render
from bot.app import ROUTERS
from bot.config import Settings
from bot.context import CONSOLE, ChatRef, Incoming
from bot.dispatch import Dispatcher, outcome_kind
from bot.reply import Reply
from bot.text.i18n import fmt_count, fmt_money, fmt_percent
from handlers.planning.basics import parse_amount
from metrics.data.sample import CATEGORIES, CHANNELS, REGIONS
from metrics.errors import BadPeriod
from metrics.kpis import CATALOG
from metrics.periods import MAX_DAY, MIN_DAY, extract_period, parse_period
from tests.conftest import NOW

LIMIT = Settings().bot.max_command_length
EXAMPLES = int(os.environ.get("OPSBOT_FUZZ_EXAMPLES", "200"))
# far above any real answer on the demo shop (tens of milliseconds to a second), far below "hung"
DISPATCH_BUDGET = 30.0

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ in the repository; regressions are kept as @example below
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
QUICK = settings(FUZZ, max_examples=max(100, EXAMPLES // 2))

# What leaked exception text looks like: a traceback, a frame line, or `SomethingError: message`.
RAW_EXCEPTION = re.compile(r"Traceback|File \"[^\"]+\", line \d+|\b[A-Z]\w*(?:Error|Exception|Exit)\b: ")

# ---- the grammar's vocabulary -------------------------------------------------------------------

COMMANDS = [c for router in ROUTERS for c in router.commands]
COMMAND_WORDS = sorted({w for c in COMMANDS for w in c.words})
EXAMPLES_TEXT = sorted({e for c in COMMANDS for e in c.examples})
EXAMPLE_TOKENS = sorted({tok for e in EXAMPLES_TEXT for tok in e.split()[1:]})
METRIC_WORDS = sorted({w for k in CATALOG.values() for w in (k.name, k.zh, *k.aliases)})
DIMENSIONS = ("channel", "category", "region", "渠道", "品类", "地区", "sku", "")
VALUES = (*CHANNELS, *CATEGORIES, *REGIONS, "nowhere", "'east'", '"live stream"', "east,west", "")
FIXED_PERIODS = (
    "yesterday", "today", "mtd", "wtd", "qtd", "ytd", "this week", "this month", "this quarter", "this year",
    "last week", "last month", "last quarter", "last year", "next week", "next month", "next quarter",
    "next year", "last 7d", "last 30 days", "last 12w", "last 3m", "past 2 weeks", "2026-11", "2026Q4",
    "2026-q1", "2026-W47", "2026-W53", "2026-11-05", "2026-11-01..2026-11-10", "2026-11-10..2026-11-01",
    "2026", "1900", "2999", "今天", "昨天", "前天", "本月", "上周", "下季度", "近7天", "最近30天", "过去3个月",
    "2026年11月", "2026年Q4", "2026年第4季度", "2026年第四季度", "2026年", "２０２６Ｑ４",
    "2026-13", "2026-02-30", "last 0d", "last 99999999d", "0000-01-01", "2026-w00",
)  # fmt: skip
COMPARES = ("vs previous", "vs prev", "vs last year", "vs 2026-10", "vs", "versus previous period", "环比", "同比",
            "对比 上期", "vs last 7d", "vs garbage")
GRAINS = ("daily", "weekly", "monthly", "by month", "by week", "by day")
OTHER_WORDS = (
    "add", "rm", "remove", "del", "set", "list", "now", "open", "digest", "daily", "weekly", "mon", "sun",
    "09:00", "24:00", "25:61", "wait-until", ">", "<", ">=", "=", "%", "and", "&&", "且", "by", "where",
    "筛选", "按", "vs", "all", "new", "vip", "at_risk", "lost", "for", "to", "of", "en", "zh", "on", "off",
)  # fmt: skip


@st.composite
def dates(draw: st.DrawFn) -> str:
    d = draw(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
    return d.isoformat()


def numbers() -> st.SearchStrategy[str]:
    plain = st.one_of(
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda x: f"{x}"),
        st.floats(min_value=0, max_value=1e12).map(lambda x: f"{x:,.2f}"),
        st.sampled_from(["0", "00", "1e9", "1e309", "9" * 400, "3m", "300k", "300万", "3亿", "¥5000", "$1,000",
                         "3.2%", "-5000", "−5000", "0.0001%", "100%", "150%", "1,2,3", "1__0", "30m", "4h", "1d",
                         "0m", "999999999999h", "12", "-1", "99999999999999999999999"]),
    )
    return plain


@st.composite
def rolling(draw: st.DrawFn) -> str:
    n = draw(st.one_of(st.integers(0, 400), st.integers(0, 10**12)))
    unit = draw(st.sampled_from(["d", " days", "w", " weeks", "m", " months", "天", "周", "个月"]))
    word = draw(st.sampled_from(["last ", "past ", "近", "最近", "过去"]))
    return f"{word}{n}{unit}"


@st.composite
def day_range(draw: st.DrawFn) -> str:
    a, b = draw(dates()), draw(dates())
    return f"{a}{draw(st.sampled_from(['..', ' .. ', '..', '...']))}{b}"


def periods() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(FIXED_PERIODS), rolling(), day_range(), dates(),
                     st.integers(0, 9999).map(lambda y: f"{y:04d}"),
                     st.tuples(st.integers(0, 9999), st.integers(0, 60)).map(lambda t: f"{t[0]:04d}-W{t[1]:02d}"),
                     st.tuples(st.integers(0, 9999), st.integers(0, 9)).map(lambda t: f"{t[0]:04d}Q{t[1]}"))


def junk() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(min_size=1, max_size=12),
        st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=8),
        st.sampled_from(["\x00", "\u202e", "\u200b", "🛒📦", "\r\n", "\t", "'", '"', "`", "<@U123>", "<!channel>",
                         "&amp;", "&lt;", "<>", "\\", "%s", "{0}", "{x}", "${x}", "..", "--", "—", "=", "!=", "==",
                         "x" * 300, "é" * 120, "\ufeff", "\U0001f1e8\U0001f1f3", "ß", "İ", "ﬁ"]),
    )


def condition() -> st.SearchStrategy[str]:
    clause = st.builds(lambda d, op, v: f"{d}{op}{v}", st.sampled_from(DIMENSIONS),
                       st.sampled_from(["=", "!=", "==", " = ", "<", ""]), st.sampled_from(VALUES))
    return st.lists(clause, min_size=0, max_size=3).map(lambda cs: "where " + " and ".join(cs))


def argument() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(METRIC_WORDS), periods(), numbers(), condition(),
        st.sampled_from(DIMENSIONS).map(lambda d: f"by {d}".strip()),
        st.sampled_from(COMPARES), st.sampled_from(GRAINS), st.sampled_from(OTHER_WORDS),
        st.sampled_from(EXAMPLE_TOKENS), st.sampled_from(VALUES), junk(),
    )


@st.composite
def commands(draw: st.DrawFn) -> str:
    """A real command word (maybe as `/word@opsbot`), then vocabulary and junk."""
    if draw(st.integers(0, 3)) == 0:
        # an example from the help, with some of its words replaced, dropped or added
        tokens = draw(st.sampled_from(EXAMPLES_TEXT)).split()
        head, rest = tokens[0], tokens[1:]
        for _ in range(draw(st.integers(0, 3))):
            op = draw(st.sampled_from(["replace", "drop", "insert"]))
            if op == "insert" or not rest:
                rest.insert(draw(st.integers(0, len(rest))), draw(argument()))
            elif op == "drop":
                rest.pop(draw(st.integers(0, len(rest) - 1)))
            else:
                rest[draw(st.integers(0, len(rest) - 1))] = draw(argument())
    else:
        head = draw(st.sampled_from(COMMAND_WORDS))
        rest = draw(st.lists(argument(), max_size=8))
    head = draw(st.sampled_from(["{}", "/{}", "/{}@opsbot", "{}", "{}@otherbot"])).format(head)
    if draw(st.booleans()) and draw(st.booleans()):
        head = head.upper()
    sep = draw(st.sampled_from([" ", " ", "  ", "\t", " \u3000 "]))
    return (head + sep + sep.join(rest))[:LIMIT]


# ---- the checks -----------------------------------------------------------------------------------


def visible_text(reply: Reply) -> str:
    tables = [" ".join(map(str, row)) for table in reply.tables for row in [table.columns, *table.rows]]
    return "\n".join([reply.plain_text(), *tables, *(a.command for a in reply.actions)])


async def ask(dispatcher: Dispatcher, text: str, chat: ChatRef = CONSOLE, user: str = "console:local") -> Reply:
    incoming = Incoming(text=text, chat=chat, user=user)
    reply = await asyncio.wait_for(dispatcher.dispatch(incoming), DISPATCH_BUDGET)
    assert isinstance(reply, Reply)
    kind = outcome_kind(reply)
    # an incident (or "data unavailable" on the demo shop, which is always there) is a crash
    assert kind not in ("incident", "unavailable"), f"{text!r} crashed: {reply.plain_text()}"
    shown = visible_text(reply)
    for leak in RAW_EXCEPTION.finditer(shown):
        assert leak.group(0) in text, f"{text!r} leaked {leak.group(0)!r}: {shown[:500]}"
    # what the adapters do with every reply must not fail either
    json.dumps(reply.to_json(), ensure_ascii=False)
    assert slack_render.render(reply)
    telegram_render.render(reply, telegram_render.CallbackStore(), "en")
    return reply


# ---- dispatch fuzz --------------------------------------------------------------------------------


@FUZZ
@given(text=st.one_of(
    st.text(max_size=LIMIT),
    st.text(alphabet=st.characters(codec=None, categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "So"]),
            max_size=200),
    st.builds(lambda w, s: w + " " + s, st.sampled_from(COMMAND_WORDS), st.text(max_size=LIMIT - 40)),
    st.text(min_size=LIMIT - 5, max_size=LIMIT, alphabet=st.characters(codec="utf-8")),
))
@example(text="")
@example(text="\x00")
@example(text="kpi\x00gmv")
@example(text="\u202ekpi gmv yesterday")
@example(text="kpi " + "9" * (LIMIT - 4))
@example(text="x" * LIMIT)
@example(text="x" * (LIMIT + 1))
async def test_any_text_gets_a_reply(dispatcher: Dispatcher, text: str) -> None:
    reply = await ask(dispatcher, text)
    if len(text.strip()) > LIMIT:
        assert reply.data.get("error") == "too_long"


@FUZZ
@given(text=commands())
@example(text="kpi gmv yesterday")
# regressions found by this fuzz (each was an incident before its fix)
@example(text="目标 set 销售额 300万 下季度")  # Reply.data held numpy's bool_: not JSON (handlers/planning/goals.py)
@example(text="ack 9223372036854775808")  # an id past SQLite's INTEGER: OverflowError (handlers/common.parse_id)
@example(text="snooze 999999999999999999999999999999")
@example(text="ack ²")  # "²".isdigit() is True, int("²") raises ValueError
@example(text="alert rm ²")
@example(text="goal rm 99999999999999999999")
@example(text="campaign rm ³")
@example(text="unsubscribe ¹")
@example(text="audit ²")
@example(text="kpi gmv orders aov conversion last 7d vs previous by channel where region=east")
async def test_commands_from_the_grammar_never_crash(dispatcher: Dispatcher, text: str) -> None:
    await ask(dispatcher, text)


@QUICK
@given(text=commands())
async def test_strangers_are_refused_whatever_they_type(dispatcher: Dispatcher, text: str) -> None:
    # the access check comes before any parsing: a stranger never reaches a handler
    reply = await ask(dispatcher, text, ChatRef("slack", "CSTRANGER"), "slack:UMALLORY")
    assert reply.error and reply.data.get("error") in ("not_allowed", "too_long")


# ---- round trips ----------------------------------------------------------------------------------

NOW_DT: datetime = NOW


@QUICK
@given(phrase=periods())
@example(phrase="2026年第四季度")
@example(phrase="２０２６Ｑ４")
def test_a_period_label_parses_back_to_the_same_period(phrase: str) -> None:
    try:
        period = parse_period(phrase, NOW_DT)
    except BadPeriod:
        return
    assert MIN_DAY <= period.start < period.end <= MAX_DAY
    # the label is what the bot prints ("KPIs · last 7d"): typed back, it means the same
    assert parse_period(period.label, NOW_DT) == period


@QUICK
@given(start=st.dates(min_value=MIN_DAY, max_value=MAX_DAY - timedelta(days=1)), span=st.integers(0, 4000))
def test_day_ranges_round_trip(start: date, span: int) -> None:
    end = min(start + timedelta(days=span), MAX_DAY - timedelta(days=1))
    period = parse_period(f"{start.isoformat()}..{end.isoformat()}", NOW_DT)
    assert (period.start, period.end, period.days) == (start, end + timedelta(days=1), (end - start).days + 1)
    assert parse_period(period.label, NOW_DT) == period
    if start == end:
        assert parse_period(start.isoformat(), NOW_DT).bounds() == period.bounds()


@QUICK
@given(before=st.lists(st.sampled_from([*METRIC_WORDS, "by", "channel", "where", "x"]), max_size=4),
       phrase=st.sampled_from([p for p in FIXED_PERIODS if not p.isdigit()]),
       after=st.lists(st.sampled_from([*METRIC_WORDS, "by", "channel"]), max_size=4))
def test_extract_period_takes_out_exactly_the_period(before: list[str], phrase: str, after: list[str]) -> None:
    try:
        expected = parse_period(phrase, NOW_DT)
    except BadPeriod:
        return
    period, compare, rest = extract_period([*before, *phrase.split(), *after], NOW_DT)
    assert period is not None and period.bounds() == expected.bounds()
    assert compare is None and rest == [*before, *after]


@QUICK
@given(n=st.integers(min_value=0, max_value=10**15))
def test_counts_round_trip(n: int) -> None:
    for lang in ("en", "zh"):
        assert parse_amount(fmt_count(n, lang)) == n


@QUICK
@given(cents=st.integers(min_value=0, max_value=10**13), currency=st.sampled_from(["CNY", "USD"]))
@example(cents=99_999, currency="CNY")  # 999.99: the last amount shown with cents
@example(cents=100_000, currency="CNY")  # 1,000: the first without
def test_money_round_trips_where_the_symbol_is_one_users_type(cents: int, currency: str) -> None:
    value = cents / 100
    # the amount as shown (cents only below 1,000): what a user copies back into `goal set`/`budget`
    shown = round(value) if value >= 1000 else value
    for lang in ("en", "zh"):
        text = fmt_money(value, lang, currency)
        parsed = parse_amount(text)
        if text[0] in "¥$":  # "CN¥" / "US$" are Babel's disambiguated symbols, not typed by anyone
            assert parsed is not None and math.isclose(parsed, shown, rel_tol=0, abs_tol=0.005), text


@QUICK
@given(bp=st.integers(min_value=0, max_value=99_999))
def test_percentages_round_trip(bp: int) -> None:
    rate = bp / 10_000  # a rate with two decimals as a percentage: 0.00% .. 999.99%
    for lang in ("en", "zh"):
        text = fmt_percent(rate, lang)
        m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)%", text)
        assert m is not None, text
        assert round(float(m[1]) / 100, 6) == round(rate, 6)


@pytest.mark.parametrize("phrase", ["last 7d", "mtd", "2026-11-01..2026-11-10", "2026Q4", "yesterday"])
async def test_printed_period_labels_are_accepted_by_kpi(dispatcher: Dispatcher, phrase: str) -> None:
    reply = await ask(dispatcher, f"kpi gmv {phrase}")
    label = parse_period(phrase, NOW_DT).label
    assert not reply.error
    # the title names the period: a named one by its label (with its dates), an explicit range once,
    # as its dates ("2026-11-01 – 2026-11-10"); either, typed back, asks the same question
    printed = label if label in reply.title else reply.title.split(" · ", 1)[1]
    again = await ask(dispatcher, f"kpi gmv {printed}")
    assert again.fields == reply.fields and again.data["period"] == reply.data["period"]


def test_vocabulary_is_not_empty() -> None:
    # if the routers or the catalogue move, the fuzz must not silently shrink to nothing
    assert {"kpi", "top", "trend", "help"} <= set(COMMAND_WORDS)
    assert len(EXAMPLES_TEXT) > 20 and "gmv" in METRIC_WORDS
