"""Names with spaces (issue 23): a quoted campaign name is one name through add, list, report and
the digest, in both languages, and shows literally on Slack (mrkdwn) and Telegram (HTML).
Demo clock: 2026-11-25 10:30, so the digest is of 2026-11-24."""

from __future__ import annotations

import json

import pytest

from bot.adapters.slack import render as slack_render
from bot.adapters.telegram import render as telegram_render
from bot.reply import Reply
from tests.fakes.chat import Chat
from tests.fakes.telegram_api import html_problems, visible

# (as typed, the name it stands for): straight, curly, Chinese quotes, and markup to show literally
NAMES = [
    ('"Black Friday"', "Black Friday"),
    ("“Cyber  Week”", "Cyber Week"),  # runs of spaces inside the quotes are one space
    ("「黑色 星期五」", "黑色 星期五"),
    ('"<b>Big & Bold</b>"', "<b>Big & Bold</b>"),
]
DAYS = "2026-11-20..2026-11-24"  # over, so it has a report, and the digest's day is in it


def slack_mrkdwn(reply: Reply) -> list[str]:
    """Every mrkdwn text Slack would interpret, and the fallbacks."""
    texts: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                texts.append(str(node["text"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for message in slack_render.render(reply):
        texts.append(message.text)
        walk(message.blocks_json())
    return texts


def assert_shown_literally(reply: Reply, name: str) -> None:
    assert not reply.error, reply.plain_text()
    assert name in reply.plain_text()
    escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    mrkdwn = slack_mrkdwn(reply)
    assert any(escaped in t for t in mrkdwn), mrkdwn
    if name != escaped:
        assert not any(name in t for t in mrkdwn)  # never as live markup
    rendered = telegram_render.render(reply, telegram_render.CallbackStore())
    texts = rendered.texts + [p.caption for p in rendered.photos if p.caption]
    assert all(html_problems(t) == [] for t in texts)
    assert any(name in visible(t) for t in texts)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(("typed", "name"), NAMES)
async def test_a_quoted_name_round_trips(chat: Chat, lang: str, typed: str, name: str) -> None:
    await chat.send(f"lang {lang}")
    added = await chat.send(f"campaign add {typed} {DAYS} spend 5000")
    assert not added.error, added.plain_text()
    assert added.data["campaign"]["name"] == name
    assert added.data["campaign"]["period"] == {"start": "2026-11-20", "end": "2026-11-25"}
    assert_shown_literally(added, name)

    listed = await chat.send("campaigns")
    assert [c["name"] for c in listed.data["campaigns"]] == [name]
    assert [r[1] for r in listed.tables[0].rows if r[0].startswith("#")] == [name]
    assert_shown_literally(listed, name)

    # the same name again is the same campaign, whichever quotes it is written with
    again = await chat.send(f"campaign add “{name}” {DAYS} spend 5000")
    assert again.data["existing"] == "calendar"

    report = await chat.send(f"campaign report {typed}")
    assert name in report.title
    assert_shown_literally(report, name)

    digest = await chat.send("digest now")
    assert digest.data["campaigns"] == [{"id": added.data["campaign"]["id"], "name": name}]
    assert_shown_literally(digest, name)


async def test_a_quoted_name_is_reported_by_any_quotes_and_removed_by_id(chat: Chat) -> None:
    added = await chat.send(f'campaign add "Black Friday" {DAYS}')
    for typed in ("'Black Friday'", "「black friday」", "Black Friday"):
        assert "Black Friday" in (await chat.send(f"campaign report {typed}")).title, typed
    assert not (await chat.send(f"campaign rm {added.data['campaign']['id']}")).error
    assert (await chat.send("campaigns")).data["campaigns"] == []


async def test_a_digest_outside_the_campaign_names_none(chat: Chat) -> None:
    await chat.send('campaign add "Black Friday" 2026-11-27..2026-11-30')
    assert (await chat.send("digest now")).data["campaigns"] == []


@pytest.mark.parametrize("typed", ['""', '"   "', '"' + "x" * 101 + '"'])
async def test_an_empty_or_overlong_name_is_refused_clearly(chat: Chat, typed: str) -> None:
    reply = await chat.send(f"campaign add {typed} {DAYS}")
    assert reply.error and reply.data["error"] == "campaign_bad_name"
    assert "1 to 100 characters" in reply.plain_text()
    assert (await chat.send("campaigns")).data["campaigns"] == []


def test_the_digest_line_exists_in_both_languages() -> None:
    from bot.text.messages import MESSAGES

    assert set(MESSAGES["digest_campaigns"]) == {"en", "zh"}
    json.dumps(MESSAGES["digest_campaigns"])


async def test_a_quoted_segment_name_is_one_name(chat: Chat) -> None:
    for typed in ('"at risk"', "「at risk」", "at_risk"):
        reply = await chat.send(f"segments export {typed}")
        assert not reply.error and reply.data["segment"] == "at_risk", (typed, reply.plain_text())
    wrong = await chat.send('segments export "at sea"')
    assert wrong.error and "at sea" in wrong.plain_text()
