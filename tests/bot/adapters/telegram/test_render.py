"""Reply → Telegram HTML, photos and keyboards: every part, splitting, escaping, limits (no network)."""

from __future__ import annotations

import re

from bot.adapters.telegram.limits import MAX_CALLBACK_DATA, MAX_CAPTION, MAX_TEXT
from bot.adapters.telegram.render import (
    CallbackStore,
    Line,
    pack,
    render,
)
from bot.reply import Action, Chart, Field, Reply, Table
from tests.fakes.telegram_api import html_problems, tg_len, visible

PNG = b"\x89PNG\r\n\x1a\nfake"


def assert_valid(texts: list[str]) -> None:
    for text in texts:
        assert html_problems(text) == [], text[:200]
        assert 0 < tg_len(text) <= MAX_TEXT


def test_every_part_is_rendered() -> None:
    reply = Reply(
        title="GMV yesterday",
        text=["Compared with the day before. Type `help kpi` for more."],
        fields=[
            Field("GMV", "¥1,234,567", "+12.3%", "up", True),
            Field("Refund rate", "3.10%", "+0.40 pp", "up", False),
            Field("Orders", "1,024"),
        ],
        tables=[Table(["channel", "GMV"], [["search", "¥500"], ["social", "¥300"]], title="By channel")],
        footer="Source: demo shop, Asia/Shanghai",
    )
    out = render(reply, CallbackStore())
    assert out.photos == [] and out.keyboard is None
    [text] = out.texts
    assert_valid(out.texts)
    assert text.startswith("<b>GMV yesterday</b>")
    assert "<code>help kpi</code>" in text
    assert "GMV: <b>¥1,234,567</b>  ▲ +12.3% 🟢" in text
    assert "Refund rate: <b>3.10%</b>  ▲ +0.40 pp 🔴" in text
    assert "Orders: <b>1,024</b>" in text
    assert "<b>By channel</b>\n<pre>channel" in text and "\nsearch   ¥500\n" in text
    assert text.endswith("<i>Source: demo shop, Asia/Shanghai</i>")


def test_error_replies_are_marked() -> None:
    [text] = render(Reply(title="Sorry, I can't do that", text=["Unknown command"], error=True),
                    CallbackStore()).texts
    assert text.startswith("<b>⚠️ Sorry, I can't do that</b>")


def test_values_from_data_are_escaped() -> None:
    evil = "<script>alert(1)</script> & <b>"
    reply = Reply(
        title=f"GMV where region={evil}",
        text=[f"Filtered by region = {evil}"],
        fields=[Field(f"{evil} GMV", f"{evil}", f"{evil}", "down", False)],
        tables=[Table(["region", "GMV"], [[evil, "1 & 2"]], title=evil)],
        footer=evil,
    )
    [text] = render(reply, CallbackStore()).texts
    assert_valid([text])
    assert "<script>" not in text and "<b>\n" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in text
    # title, paragraph, field label, value and delta, table title and cell, footer
    assert visible(text).count(evil) == 8


def test_chinese_text() -> None:
    reply = Reply(
        title="昨日销售额",
        text=["与前一天相比。输入 `help kpi` 查看更多。"],
        fields=[Field("销售额", "¥1,234,567", "+12.3%", "up", True)],
        tables=[Table(["渠道", "销售额"], [["搜索", "¥500"], ["社交媒体", "¥300"]])],
        actions=[Action("按渠道查看", "指标 销售额 昨天 by channel")],
    )
    out = render(reply, CallbackStore(), lang="zh")
    [text] = out.texts
    assert_valid([text])
    assert "<b>昨日销售额</b>" in text and "销售额: <b>¥1,234,567</b>  ▲ +12.3% 🟢" in text
    # CJK characters are two columns wide: the table stays aligned in a monospace block
    assert "\n搜索        ¥500\n社交媒体    ¥300</pre>" in text
    assert out.keyboard is not None
    [[button]] = out.keyboard.inline_keyboard
    assert button.text == "按渠道查看"


def test_long_table_splits_at_line_boundaries_and_reopens_pre() -> None:
    rows = [[f"sku-{i:04d} <&>", f"¥{i * 37:,}"] for i in range(900)]
    reply = Reply(title="Top SKUs", text=["Every SKU sold yesterday."],
                  tables=[Table(["sku", "GMV"], rows, title="SKUs")], footer="end")
    texts = render(reply, CallbackStore()).texts
    assert len(texts) > 3
    assert_valid(texts)
    for text in texts[1:]:
        assert text.startswith("<pre>") or text.startswith("<i>")
    # nothing lost, nothing cut inside a line: the visible lines are exactly the original ones
    seen = [line for t in texts for line in visible(t).split("\n")]
    skus = [line.split("  ")[0].strip() for line in seen if line.startswith("sku-")]
    assert skus == [f"sku-{i:04d} <&>" for i in range(900)]
    assert seen[0] == "Top SKUs" and seen[-1] == "end"


def test_a_long_paragraph_is_wrapped_at_spaces() -> None:
    words = [f"word{i}&" for i in range(3000)]
    texts = render(Reply(title="t", text=[" ".join(words)]), CallbackStore()).texts
    assert len(texts) >= 7
    assert_valid(texts)
    seen = " ".join(visible(t) for t in texts).replace("\n", " ").split()
    assert seen == ["t", *words]


def test_a_long_chinese_paragraph_without_spaces_is_cut_between_characters() -> None:
    paragraph = "销售额增长😀" * 2000  # the emoji counts two UTF-16 units: Telegram's measure
    texts = render(Reply(text=[paragraph]), CallbackStore()).texts
    assert len(texts) >= 4
    assert_valid(texts)
    assert "".join(visible(t) for t in texts) == paragraph


def test_pack_respects_limit_exactly() -> None:
    lines = [Line("x" * 99)] * 100
    chunks = pack(lines, limit=1000)
    assert all(tg_len(c) <= 1000 for c in chunks)
    assert len(chunks) == 10  # ten 99-char lines and nine newlines = 999


def test_callback_data_fits_64_bytes() -> None:
    store = CallbackStore()
    short = "kpi gmv yesterday by channel"
    long = "指标 销售额 订单量 客单价 转化率 近7天 vs previous by channel where region=east"
    assert len(long.encode()) > MAX_CALLBACK_DATA
    reply = Reply(title="x", actions=[Action("by channel", short), Action("全部", long), Action("c", "help")])
    keyboard = render(reply, store).keyboard
    assert keyboard is not None
    buttons = [b for row in keyboard.inline_keyboard for b in row]
    assert [len(row) for row in keyboard.inline_keyboard] == [2, 1]
    data = [b.callback_data for b in buttons]
    assert all(isinstance(d, str) for d in data)
    payloads = [str(d) for d in data]
    for payload in payloads:
        assert 1 <= len(payload.encode()) <= MAX_CALLBACK_DATA
    assert payloads[0] == short  # short commands travel as themselves
    assert store.command_for(payloads[1]) == long
    assert store.command_for(payloads[2]) == "help"
    assert store.data_for(long) == payloads[1]  # stable for the same command
    assert store.command_for("#never-issued") is None


def test_callback_store_is_bounded() -> None:
    store = CallbackStore(capacity=3)
    tokens = [store.data_for("kpi " + "gmv " * 20 + str(i)) for i in range(5)]
    assert store.command_for(tokens[0]) is None and store.command_for(tokens[1]) is None
    assert store.command_for(tokens[4]) == "kpi " + "gmv " * 20 + "4"


def test_chart_goes_first_with_the_title_as_caption() -> None:
    reply = Reply(title="GMV, last 30 days", text=["Up 4% on the month before."],
                  charts=[Chart(PNG, "Daily GMV", "gmv.png")], actions=[Action("By channel", "kpi gmv by channel")])
    out = render(reply, CallbackStore())
    [photo] = out.photos
    assert photo.png == PNG and photo.filename == "gmv.png"
    assert photo.caption == "<b>GMV, last 30 days</b>\nDaily GMV"
    [text] = out.texts
    assert "GMV, last 30 days" not in text and text.startswith("Up 4%")
    assert out.keyboard is not None


def test_a_caption_over_1024_moves_to_the_text() -> None:
    title = "GMV & orders " * 100
    reply = Reply(title=title, text=["body"], charts=[Chart(PNG, "chart")])
    out = render(reply, CallbackStore())
    [photo] = out.photos
    assert photo.caption is None
    assert_valid(out.texts)
    assert visible(out.texts[0]).startswith(title.strip()[:50])
    assert "body" in out.texts[-1]
    assert tg_len(visible(out.texts[0])) > MAX_CAPTION


def test_a_chart_only_reply_has_no_text_message() -> None:
    out = render(Reply(title="GMV", charts=[Chart(PNG, "GMV")]), CallbackStore())
    assert out.texts == [] and out.photos[0].caption == "<b>GMV</b>"


def test_an_empty_reply_still_says_something() -> None:
    assert render(Reply(), CallbackStore(), lang="zh").texts == ["（没有内容）"]
    assert render(Reply(), CallbackStore()).texts == ["(nothing to show)"]


def test_no_tag_is_ever_cut() -> None:
    # many short formatted lines near the limit: every chunk must still balance
    reply = Reply(fields=[Field(f"metric <{i}>", "¥" + "9" * (i % 50), "+1%", "up", True) for i in range(800)])
    texts = render(reply, CallbackStore()).texts
    assert len(texts) > 1
    assert_valid(texts)
    assert all(re.match(r"^metric <\d+>: ", line) for t in texts for line in visible(t).split("\n"))
