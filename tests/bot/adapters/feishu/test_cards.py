"""What a Feishu card shows: hostile text (card markup, markdown, mentions) as literal text, a typo
answered with a suggestion, and a long or wide table split into cards that Feishu takes, every
row once and in order. Real lark-oapi over loopback against the fake Feishu, which refuses a
card message over 30 KB as Feishu does."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.adapters.feishu.adapter import FeishuAdapter
from bot.adapters.feishu.limits import MAX_CARD_BYTES, MAX_TABLE_COLUMNS, MAX_TABLE_ROWS, MAX_TITLE
from bot.adapters.feishu.render import md_escape
from bot.context import ChatRef
from bot.dispatch import Dispatcher
from bot.reply import Action, Field, Reply, Table
from bot.text.messages import t
from metrics.kpis import lookup_metric
from tests.bot.adapters.feishu.support import LONG_TABLE_ROWS, config, lark_md, long_table_row
from tests.fakes.feishu_api import Call, FakeFeishu, message_event

# what lark_md reads as markup (Feishu's card markdown: bold, italics, strike, code, links, tags)
MARKUP = frozenset("\\*_~`<>[]")
HOSTILE = '<at user_id="all">所有人</at> **x** [y](http://evil) </font> <at id=all></at> _i_ ~s~ `c` \\'


def unescaped_markup(content: str) -> list[str]:
    """The markup characters in lark_md `content` that are not escaped with a backslash (what
    Feishu would read as markup rather than show)."""
    found: list[str] = []
    i = 0
    while i < len(content):
        if content[i] == "\\" and i + 1 < len(content) and content[i + 1] in MARKUP:
            i += 2
            continue
        if content[i] in MARKUP:
            found.append(content[i])
        i += 1
    return found


def shown(content: str) -> str:
    """The text a reader sees for lark_md `content` with its markup escaped."""
    return re.sub(r"\\([\\*_~`<>\[\]])", r"\1", content)


def card_json_bytes(card: dict[str, Any]) -> int:
    return len(json.dumps(card, ensure_ascii=False).encode())


# ---- 1. hostile text --------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "echoed"), [
    # a filter value, quotes and all, straight from a user: the bot echoes what it cannot read
    ('kpi gmv by channel where channel = "<at user_id=\\"all\\">所有人</at> **x** [y](http://evil) </font>"',
     '所有人</at> **x** [y](http://evil) </font>'),
    # the same as one quoted value (「」): echoed whole as "no orders for channel = …"
    ('kpi gmv by channel where channel=「<at user_id="all">所有人</at> **x** [y](http://evil) </font>」',
     '<at user_id="all">所有人</at> **x** [y](http://evil) </font>'),
    ("kpi <at id=all></at>", "<at"),  # an unknown metric
    ("<at_id=all></at> **boss** hi", "<at_id=all></at>"),  # an unknown command
], ids=["filter", "quoted-value", "unknown-metric", "unknown-command"])
async def test_hostile_text_the_bot_echoes_is_shown_literally(
    typed: str, echoed: str, ws_adapter: FeishuAdapter, fake_feishu: FakeFeishu
) -> None:
    """A user's card markup, markdown and mention tags, echoed in the error the bot answers, reach
    Feishu escaped (render.md_escape): no `<at` tag, bold, link or closing </font> is live, the
    reader sees exactly what was typed, and the card is the plain error card it should be."""
    fake_feishu.push(message_event(typed))
    [answer] = await fake_feishu.wait_for(fake_feishu.delivered)
    assert answer.path.endswith("/reply") and answer.json["msg_type"] == "interactive"
    card = answer.content
    assert card["config"] == {"wide_screen_mode": True, "update_multi": True}
    assert card["header"]["template"] == "red" and card["header"]["title"]["tag"] == "plain_text"
    assert card["elements"] and all(e.keys() == {"tag", "text"} and e["tag"] == "div"
                                    and e["text"]["tag"] == "lark_md" for e in card["elements"])
    contents = lark_md(card)
    for content in contents:
        assert unescaped_markup(content) == [], content
        assert not re.search(r"(?<!\\)<", content)
    assert any(md_escape(echoed) in content and echoed in shown(content) for content in contents), contents


async def test_a_reply_carrying_hostile_text_everywhere_is_sent_literally(
    fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher
) -> None:
    """A Reply whose title, text, field, table, chart-less footer and button hold hostile text
    (a campaign or SKU name, say): plain_text places carry it as is, every lark_md place escaped;
    only the markup render adds itself is live (a field's bold label and its coloured delta)."""
    adapter = FeishuAdapter(feishu_dispatcher, config(fake_feishu))
    reply = Reply(title=f"Campaign {HOSTILE}", text=[f"Report for {HOSTILE}"],
                  fields=[Field(f"GMV {HOSTILE}", f"¥1 {HOSTILE}", f"+1% {HOSTILE}", "up", True)],
                  tables=[Table(["Campaign", f"GMV {HOSTILE}"], [[HOSTILE, "¥1"], ["plain", "¥2"]],
                                title=f"Top {HOSTILE}")],
                  footer=f"opsbot {HOSTILE}", actions=[Action(f"Open {HOSTILE}"[:40], "kpi gmv")])
    await adapter.send(ChatRef("feishu", "oc_ops"), reply)
    [call] = fake_feishu.delivered()
    card = call.content
    assert card["header"]["title"] == {"tag": "plain_text", "content": f"Campaign {HOSTILE}"[:MAX_TITLE]}
    assert card["header"]["template"] == "blue"
    tags = [e["tag"] for e in card["elements"]]
    assert tags == ["div", "div", "div", "table", "action", "note"]
    text, fields, table_title, table, action, note = card["elements"]

    assert text["text"]["content"] == md_escape(f"Report for {HOSTILE}")
    [field] = fields["fields"]
    # render's own markup: **label**, a line break, the value, the delta in a coloured <font>
    m = re.fullmatch(r"\*\*(.*)\*\*\n(.*) <font color='green'>(.*)</font>", field["text"]["content"], re.S)
    assert m is not None, field["text"]["content"]
    assert [shown(part) for part in m.groups()] == [f"GMV {HOSTILE}", f"¥1 {HOSTILE}", f"▲ +1% {HOSTILE}"]
    assert all(unescaped_markup(part) == [] for part in m.groups())
    assert table_title["text"]["content"] == f"**{md_escape(f'Top {HOSTILE}')}**"
    # table cells and headers are plain text (data_type text): as typed
    assert [c["display_name"] for c in table["columns"]] == ["Campaign", f"GMV {HOSTILE}"]
    assert all(c["data_type"] == "text" for c in table["columns"])
    assert table["rows"] == [{"c0": HOSTILE, "c1": "¥1"}, {"c0": "plain", "c1": "¥2"}]
    [button] = action["actions"]
    assert button["text"] == {"tag": "plain_text", "content": f"Open {HOSTILE}"[:40]}
    assert button["value"] == {"command": "kpi gmv"}
    assert note["elements"] == [{"tag": "plain_text", "content": f"opsbot {HOSTILE}"}]
    await adapter.stop()


# ---- 2. a typo --------------------------------------------------------------------------------


async def typo_answer(fake: FakeFeishu) -> tuple[dict[str, Any], str]:
    """`kpi gvm yesterday` @mentioning the bot in a group: the card, and the text a reader sees."""
    fake.push(message_event("kpi gvm yesterday", chat_type="group"))
    [answer] = await fake.wait_for(fake.delivered)
    card = answer.content
    return card, "\n".join(shown(c) for c in lark_md(card))


async def test_a_metric_typo_in_a_group_mention_is_answered_with_a_suggestion(
    ws_adapter: FeishuAdapter, fake_feishu: FakeFeishu
) -> None:
    """`kpi gvm yesterday`: the card says gvm is no metric and suggests one (the dispatcher's "Did
    you mean", bot/suggest.py) in the question's language, English, with no numbers."""
    card, text = await typo_answer(fake_feishu)
    assert card["header"]["template"] == "red"
    assert "'gvm'" in text and not any(e.get("fields") for e in card["elements"])
    suggested = re.search(r"Did you mean (\S+)\?", text)
    assert suggested is not None, text
    assert lookup_metric(suggested[1]) is not None


async def test_a_gmv_typo_suggests_gmv(ws_adapter: FeishuAdapter, fake_feishu: FakeFeishu) -> None:
    """`gvm` is gmv with two letters swapped: the suggestion is gmv, the commonest metric."""
    _, text = await typo_answer(fake_feishu)
    assert t("en", "did_you_mean", choice="gmv").strip() in text


# ---- 3. long and wide tables ------------------------------------------------------------------


def cards_within_limits(calls: list[Call], title: str) -> list[dict[str, Any]]:
    """The cards of one reply, checked: each message's request body and card JSON within
    Feishu's 30 KB, each table component within MAX_TABLE_ROWS, titles "(i/n)" in order."""
    cards = [c.content for c in calls]
    n = len(cards)
    assert n > 1
    for i, (call, card) in enumerate(zip(calls, cards, strict=True), start=1):
        assert call.size <= MAX_CARD_BYTES and card_json_bytes(card) <= MAX_CARD_BYTES, (i, call.size)
        header = card["header"]["title"]["content"]
        assert header.endswith(f" ({i}/{n})") and len(header) <= MAX_TITLE, header
        assert title.startswith(header.removesuffix(f" ({i}/{n})"))
        for e in card["elements"]:
            if e["tag"] == "table":
                assert 0 < len(e["rows"]) <= MAX_TABLE_ROWS
    return cards


def table_rows(cards: list[dict[str, Any]]) -> list[list[str]]:
    """Every table row of the cards, in the order a reader scrolls through them."""
    return [[row[f"c{i}"] for i in range(len(e["columns"]))]
            for card in cards for e in card["elements"] if e["tag"] == "table" for row in e["rows"]]


async def test_a_long_table_is_split_into_numbered_cards_every_row_once_in_order(
    ws_adapter: FeishuAdapter, fake_feishu: FakeFeishu
) -> None:
    """A 400-row answer (`longtable`) over the long connection: the first card answers the
    message, the others follow in the chat; every card within the limits, numbered (i/n), and
    the rows, read across the cards, are the 400 rows once each in their order."""
    fake_feishu.push(message_event("longtable"))
    await fake_feishu.wait_for(lambda: any(c.content.get("elements", [{}])[-1].get("tag") == "note"
                                           for c in fake_feishu.delivered()))
    calls = fake_feishu.messages()
    assert all(c.ok for c in calls)
    assert calls[0].path.endswith("/reply") and all(c.json["receive_id"] == "oc_ops" for c in calls[1:])
    cards = cards_within_limits(calls, "SKU ranking")
    assert table_rows(cards) == [long_table_row(i) for i in range(LONG_TABLE_ROWS)]
    everything = [shown(c) for card in cards for c in lark_md(card)]
    assert everything.count("Every SKU, by GMV") == 1 and everything.count("**All SKUs**") == 1
    assert [e["tag"] for e in cards[-1]["elements"]][-1] == "note"
    assert sum(1 for card in cards for e in card["elements"] if e["tag"] == "note") == 1


async def test_a_wide_table_with_a_long_title_still_fits_every_card(
    fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher
) -> None:
    """A table of ten wide columns (50 of its rows are more than a card holds) under a title of
    more than MAX_TITLE characters, pushed with adapter.send: Feishu takes every card (none over
    30 KB), each title keeps its (i/n), and the rows arrive once each, in order."""
    adapter = FeishuAdapter(feishu_dispatcher, config(fake_feishu))
    columns = [f"第{j}列 column {j}" for j in range(MAX_TABLE_COLUMNS)]
    rows = [[f"SKU-{i:04d} " + "规格“大号”\\" * 6 + f" c{j}" for j in range(MAX_TABLE_COLUMNS)] for i in range(120)]
    title = "Inventory by SKU, warehouse and size for every campaign of the quarter, " * 2
    sent = await adapter.send(ChatRef("feishu", "oc_ops"), Reply(title=title, tables=[Table(columns, rows)]))
    calls = fake_feishu.messages()
    assert all(c.ok for c in calls), [(c.status, c.size) for c in calls]
    assert sent.message_id.split(",") and len(sent.message_id.split(",")) == len(calls)
    cards = cards_within_limits(calls, title)
    assert table_rows(cards) == rows
    await adapter.stop()
