"""Reply → Block Kit: every part, Chinese text, and Slack's limits (no network here)."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.adapters.slack.inbound import clean_text
from bot.adapters.slack.limits import (
    MAX_BLOCKS,
    MAX_FIELD_TEXT,
    MAX_HEADER,
    MAX_MESSAGE_CHARS,
    MAX_SECTION_TEXT,
)
from bot.adapters.slack.render import (
    TABLE_MAX_WIDTH,
    SlackMessage,
    render,
    split_text,
)
from bot.reply import Action, Chart, Field, Reply, Table, display_width

PNG = b"\x89PNG\r\n\x1a\nfake"


def blocks_of(message: SlackMessage) -> list[dict[str, Any]]:
    return message.blocks_json()  # also runs slack_sdk's own validators


def all_blocks(messages: list[SlackMessage]) -> list[dict[str, Any]]:
    return [b for m in messages for b in blocks_of(m)]


def code_lines(block: dict[str, Any]) -> list[str]:
    text = block["text"]["text"]
    inner = text[text.index("```") + 3 : text.rindex("```")]
    return inner.strip("\n").split("\n")


def full_reply() -> Reply:
    return Reply(
        title="KPIs · yesterday (2026-11-24)",
        text=["Compared with 2026-11-23.", "Only region=east."],
        fields=[
            Field("GMV", "¥1,234,567", "+12.3%", "up", True),
            Field("Refund rate", "2.10%", "+0.40 pp", "up", False),
            Field("Orders", "3,210", "+0.0%", "flat", None),
            Field("Sessions", "n/a"),
        ],
        tables=[Table(columns=["channel", "GMV", "Δ"], rows=[["search", "¥500,000", "▲+3.0%"], ["social", "¥20", "▼-1.0%"]],
                      title="By channel")],
        charts=[Chart(png=PNG, title="GMV, last 30 days")],
        actions=[Action("Last 7 days", "kpi gmv last 7d", "primary"), Action("By channel", "kpi gmv by channel")],
        footer="opsbot · business day in Asia/Shanghai",
    )


def test_every_part_of_a_reply_is_rendered() -> None:
    messages = render(full_reply())
    assert len(messages) == 1
    blocks = blocks_of(messages[0])
    types = [b["type"] for b in blocks]
    assert types == ["header", "section", "section", "section", "actions", "context"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "KPIs · yesterday (2026-11-24)", "emoji": True}
    assert blocks[1]["text"]["text"] == "Compared with 2026-11-23.\n\nOnly region=east."
    fields = [f["text"] for f in blocks[2]["fields"]]
    assert fields[0] == "*GMV*\n¥1,234,567  :large_green_circle: ▲ +12.3%"
    assert fields[1] == "*Refund rate*\n2.10%  :red_circle: ▲ +0.40 pp"  # up is bad for refunds
    assert fields[2] == "*Orders*\n3,210  ■ +0.0%"
    assert fields[3] == "*Sessions*\nn/a"
    table = blocks[3]["text"]["text"]
    assert table.startswith("*By channel*\n```\n")
    assert code_lines(blocks[3]) == ["channel       GMV       Δ", "-------  --------  ------",
                                     "search   ¥500,000  ▲+3.0%", "social        ¥20  ▼-1.0%"]
    buttons = blocks[4]["elements"]
    assert [(b["text"]["text"], b["value"], b.get("style")) for b in buttons] == [
        ("Last 7 days", "kpi gmv last 7d", "primary"), ("By channel", "kpi gmv by channel", None)]
    assert len({b["action_id"] for b in buttons}) == 2  # unique within the message, as Slack requires
    assert blocks[5]["elements"][0]["text"] == "opsbot · business day in Asia/Shanghai"
    # charts are uploaded as files, not blocks; the fallback still mentions them
    assert "[chart: GMV, last 30 days]" in messages[0].text
    assert messages[0].text.startswith("KPIs · yesterday (2026-11-24)\n\nCompared with")


def test_chinese_reply_keeps_table_columns_aligned() -> None:
    reply = Reply(
        title="核心指标 · 2026-11-24",
        text=["对比 2026-11-23。"],
        fields=[Field("销售额", "¥1,234,567", "+12.3%", "up", True)],
        tables=[Table(columns=["渠道", "销售额"], rows=[["搜索", "¥500,000"], ["社交媒体", "¥20"]])],
        footer="opsbot · 业务时区 Asia/Shanghai",
    )
    [message] = render(reply)
    blocks = blocks_of(message)
    assert blocks[0]["text"]["text"] == "核心指标 · 2026-11-24"
    assert blocks[2]["fields"][0]["text"] == "*销售额*\n¥1,234,567  :large_green_circle: ▲ +12.3%"
    lines = code_lines(blocks[3])
    # CJK characters take two columns: the right edge of the number column lines up in display width
    assert lines[2].endswith("¥500,000") and lines[3].endswith("¥20")
    assert display_width(lines[2]) == display_width(lines[3])
    assert "核心指标" in message.text and "社交媒体" in message.text


def test_error_reply_is_plain() -> None:
    reply = Reply(title="Sorry, I can't do that", text=["Unknown command 'kpii'. Did you mean kpi?", "Usage: kpi"],
                  error=True)
    [message] = render(reply)
    blocks = blocks_of(message)
    assert [b["type"] for b in blocks] == ["section", "section"]
    assert blocks[0]["text"]["text"] == ":warning: *Sorry, I can't do that*"
    assert "Did you mean kpi?" in blocks[1]["text"]["text"]
    assert "Did you mean kpi?" in message.text


def test_mrkdwn_control_characters_are_escaped() -> None:
    reply = Reply(text=["conversion < 2% & spend > budget <!channel>"], tables=[Table(["a<b"], [["x&y"]])])
    [message] = render(reply)
    blocks = blocks_of(message)
    assert blocks[0]["text"]["text"] == "conversion &lt; 2% &amp; spend &gt; budget &lt;!channel&gt;"
    assert "a&lt;b" in blocks[1]["text"]["text"] and "x&amp;y" in blocks[1]["text"]["text"]
    assert "<!channel>" not in message.text  # the fallback would otherwise ping everyone


def test_text_fallback_is_always_present() -> None:
    for reply in (Reply(), Reply(title="t"), Reply(fields=[Field("GMV", "1")]), Reply(text=["x" * 10_000])):
        for message in render(reply):
            assert message.text.strip()
            assert len(message.text) <= 3000


def test_long_text_is_split_into_sections_within_the_limit() -> None:
    paragraph = "\n".join(f"line {i} " + "word " * 30 for i in range(60))  # ~10k characters
    reply = Reply(text=[paragraph, "一段中文。" * 800])
    blocks = all_blocks(render(reply))
    assert len(blocks) > 3
    for block in blocks:
        assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
    joined = "\n".join(b["text"]["text"] for b in blocks)
    assert "line 0 " in joined and "line 59 " in joined


def test_split_text_never_breaks_an_escape_or_exceeds_the_budget() -> None:
    text = "&" * 5000 + " tail"
    chunks = split_text(text, 3000)
    assert all(len(c.replace("&", "&amp;")) <= 3000 for c in chunks)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")


def test_long_header_is_trimmed_and_fields_are_grouped_by_ten() -> None:
    reply = Reply(title="T" * 400, fields=[Field(f"k{i}", "v" * 3000) for i in range(25)])
    blocks = all_blocks(render(reply))
    assert len(blocks[0]["text"]["text"]) == MAX_HEADER and blocks[0]["text"]["text"].endswith("…")
    sections = [b for b in blocks if b["type"] == "section"]
    assert [len(b["fields"]) for b in sections] == [10, 10, 5]
    assert all(len(f["text"]) <= MAX_FIELD_TEXT for b in sections for f in b["fields"])


def test_a_table_too_long_for_one_block_is_split_with_its_header_repeated() -> None:
    rows = [[f"sku-{i:04d}", f"¥{i * 1000:,}", f"+{i % 17}.0%"] for i in range(400)]
    reply = Reply(title="Top SKUs", tables=[Table(columns=["sku", "GMV", "Δ"], rows=rows, title="Top 400")])
    messages = render(reply)
    blocks = [b for b in all_blocks(messages) if b["type"] == "section"]
    assert len(blocks) > 3
    seen: list[str] = []
    for i, block in enumerate(blocks):
        assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
        lines = code_lines(block)
        assert lines[0].split() == ["sku", "GMV", "Δ"]  # every chunk says what its columns are
        seen += [line.split()[0] for line in lines[2:]]
        assert block["text"]["text"].startswith("*Top 400*") == (i == 0)
    assert seen == [r[0] for r in rows]  # nothing lost, nothing repeated, in order


def test_a_table_too_wide_for_one_block_is_split_into_column_groups() -> None:
    columns = ["region"] + [f"metric_{i:02d}" for i in range(20)]
    rows = [[f"region-{r}"] + [f"{r * 1000 + i:>10,}" for i in range(20)] for r in range(5)]
    [message] = render(Reply(tables=[Table(columns=columns, rows=rows)]))
    blocks = blocks_of(message)
    assert len(blocks) >= 3
    found: set[str] = set()
    for block in blocks:
        lines = code_lines(block)
        assert all(display_width(line) <= TABLE_MAX_WIDTH for line in lines)
        header = lines[0].split()
        assert header[0] == "region"  # the key column leads every group
        found.update(header[1:])
        assert [line.split()[0] for line in lines[2:]] == [f"region-{r}" for r in range(5)]
    assert found == set(columns[1:])


def test_a_table_without_column_names_has_no_blank_header() -> None:
    [message] = render(Reply(tables=[Table(columns=["", ""], rows=[["help", "List commands"], ["kpi", "KPIs"]],
                                           align=["l", "l"])]))
    assert code_lines(blocks_of(message)[0]) == ["help  List commands", "kpi   KPIs"]


def test_an_oversized_cell_is_clipped_not_fatal() -> None:
    [message] = render(Reply(tables=[Table(columns=["k", "v"], rows=[["a", "x" * 5000]])]))
    [block] = blocks_of(message)
    assert len(block["text"]["text"]) < 500 and "…" in block["text"]["text"]


def test_more_than_fifty_blocks_become_several_messages() -> None:
    tables = [Table(columns=["k", "v"], rows=[[f"row{i}", str(i)]], title=f"Table {i}") for i in range(120)]
    actions = [Action(f"Button {i}", f"kpi gmv {i}") for i in range(30)]
    reply = Reply(title="Big report", text=["Intro."], tables=tables, actions=actions, footer="the footer")
    messages = render(reply)
    assert len(messages) >= 3
    for message in messages:
        blocks = blocks_of(message)
        assert 0 < len(blocks) <= MAX_BLOCKS
        assert len(json.dumps(blocks, ensure_ascii=False)) < MAX_MESSAGE_CHARS * 2
        assert message.text.strip()
    first, last = blocks_of(messages[0]), blocks_of(messages[-1])
    assert first[0]["type"] == "header"
    assert all(b["type"] != "header" for m in messages[1:] for b in blocks_of(m))
    assert [b["type"] for b in last[-3:]] == ["actions", "actions", "context"]  # 30 buttons: 25 + 5
    titles = re.findall(r"\*Table (\d+)\*", json.dumps(all_blocks(messages)))
    assert titles == [str(i) for i in range(120)]
    # a continuation's fallback is its own content, not a copy of the first message
    assert "Table 119" in messages[-1].text and "Big report" not in messages[-1].text


def test_a_command_too_long_for_a_button_gets_no_button() -> None:
    reply = Reply(text=["x"], actions=[Action("ok", "kpi gmv"), Action("huge", "kpi " + "g" * 3000)])
    blocks = all_blocks(render(reply))
    assert [e["value"] for e in blocks[-1]["elements"]] == ["kpi gmv"]


def test_clean_text_strips_mentions_and_unescapes() -> None:
    assert clean_text("<@UBOT> kpi gmv yesterday", "UBOT") == "kpi gmv yesterday"
    assert clean_text("<@UBOT|opsbot>: kpi gmv", "UBOT") == "kpi gmv"
    assert clean_text("kpi gmv <@UBOT>  by channel", "UBOT") == "kpi gmv by channel"
    assert clean_text("kpi gmv where a&lt;b &amp; c&gt;d") == "kpi gmv where a<b & c>d"
    assert clean_text("<@UOTHER> 指标 销售额 昨天") == "指标 销售额 昨天"
