"""Arguments split once in the core (bot/tokens.py): quoted names are one token (issue 23)."""

from __future__ import annotations

import pytest

from bot.errors import UsageError
from bot.tokens import split_args
from tests.fakes.chat import Chat


@pytest.mark.parametrize("text", [
    '"Black Friday" 2026-11-27..2026-11-30',
    "'Black Friday' 2026-11-27..2026-11-30",
    "“Black Friday” 2026-11-27..2026-11-30",
    "‘Black Friday’ 2026-11-27..2026-11-30",
    '"Black Friday” 2026-11-27..2026-11-30',  # autocorrect closed it curly
    "＂Black Friday＂ 2026-11-27..2026-11-30",
    "  \"Black Friday\"\t 2026-11-27..2026-11-30 ",
])
def test_a_quoted_name_is_one_token(text: str) -> None:
    assert split_args(text) == ("Black Friday", "2026-11-27..2026-11-30")


def test_chinese_quotes_and_plain_words() -> None:
    assert split_args("「黑色 星期五」 social") == ("黑色 星期五", "social")
    assert split_args("『年货 节』") == ("年货 节",)
    assert split_args("《双11 预热》 spend 5000") == ("双11 预热", "spend", "5000")
    assert split_args("kpi gmv last 7d") == ("kpi", "gmv", "last", "7d")
    assert split_args("") == ()


def test_apostrophes_inside_words_are_letters() -> None:
    assert split_args("Mother's Day 2027-05-09") == ("Mother's", "Day", "2027-05-09")
    assert split_args("\"Mother's Day\" 2027-05-09") == ("Mother's Day", "2027-05-09")


def test_quotes_after_equals_and_empty_names() -> None:
    assert split_args('channel="Paid Search" x') == ("channel=Paid Search", "x")
    assert split_args('"" x') == ("", "x")


@pytest.mark.parametrize("text", ['"Black Friday 2026-11-27', "「黑色星期五 2026-11-27", "“open"])
def test_an_unclosed_quote_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        split_args(text)
    assert caught.value.key == "unbalanced_quote"
    assert caught.value.params["quote"] == text[0]


async def test_an_unclosed_quote_gets_a_clear_reply_with_the_usage(chat: Chat) -> None:
    reply = await chat.send('campaign add "Black Friday 2026-11-27..2026-11-30')
    assert reply.error and reply.data["error"] == "unbalanced_quote"
    text = reply.plain_text()
    assert "never closed" in text and '"Black Friday' in text and "Usage: campaign add" in text
    await chat.send("lang zh")
    assert "没有闭合" in (await chat.send("campaign add 「黑色星期五 2026-11-27..2026-11-30")).plain_text()
