"""A `Reply` as Feishu interactive cards (message cards, JSON 1.0 with `update_multi` so a card can be
patched in place): header title, text, fields with coloured deltas, table components, chart
images by image_key, buttons whose value carries the command, a note for the footer.

A card is kept under `limits.CARD_BUDGET`, measured as it travels (its JSON, escaped once more
as the message's `content` string: every quote and backslash counts twice); a long table is split
into pieces of at most MAX_TABLE_ROWS rows, each small enough for a card of its own, and whatever
does not fit continues in another card with the same title, numbered "(i/n)".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.adapters.feishu.limits import CARD_BUDGET, MAX_BUTTONS, MAX_TABLE_COLUMNS, MAX_TABLE_ROWS, MAX_TITLE
from bot.reply import Field, Reply, Table

Card = dict[str, Any]
CARD_ROOM = 1024  # what a card's header and config take beside one table component
# characters of a table cell and of a column's name: ten columns of the longest, even all quotes or
# backslashes (4 bytes each as sent), are one row that fits a card beside its header
MAX_CELL = 200
MAX_COLUMN_NAME = 100


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def md_escape(text: str) -> str:
    """lark_md reads *, _, ~, ` and <…> tags: escaped so a value or name is shown as typed."""
    for ch in ("\\", "*", "_", "~", "`", "<", ">", "[", "]"):
        text = text.replace(ch, "\\" + ch)
    return text


def _md(content: str) -> dict[str, Any]:
    return {"tag": "div", "text": {"tag": "lark_md", "content": content}}


def field_md(f: Field) -> str:
    line = f"**{md_escape(f.label)}**\n{md_escape(f.value)}"
    if f.delta:
        delta = md_escape(f"{f.arrow} {f.delta}".strip())
        colour = {True: "green", False: "red"}.get(f.good) if f.good is not None else None
        line += f" <font color='{colour}'>{delta}</font>" if colour else f" {delta}"
    return line


def table_elements(table: Table, budget: int = CARD_BUDGET - CARD_ROOM) -> list[dict[str, Any]]:
    """A table as card table components (a title line before the first): at most MAX_TABLE_ROWS
    rows each, and fewer where its rows are wide, so that each fits `budget` bytes as sent."""
    columns = table.columns[:MAX_TABLE_COLUMNS]
    align = table.align or ["l"] + ["r"] * (len(columns) - 1)
    out: list[dict[str, Any]] = []
    if table.title:
        out.append(_md(f"**{md_escape(table.title)}**"))

    def component(rows: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "tag": "table",
            "page_size": min(MAX_TABLE_ROWS, 10),
            "row_height": "low",
            "header_style": {"bold": True, "background_style": "grey", "lines": 1},
            "columns": [{"name": f"c{i}", "display_name": _cut(name or " ", MAX_COLUMN_NAME), "data_type": "text",
                         "horizontal_align": "right" if align[i:i + 1] == ["r"] else "left"}
                        for i, name in enumerate(columns)],
            "rows": rows,
        }
    rows = [{f"c{i}": _cut(row[i] if i < len(row) else "", MAX_CELL) for i in range(len(columns))}
            for row in table.rows or [[""] * len(columns)]]
    empty = _size(component([]))
    piece: list[dict[str, str]] = []
    used = empty
    for row in rows:
        size = _size(row) + 1
        if piece and (len(piece) >= MAX_TABLE_ROWS or used + size > budget):
            out.append(component(piece))
            piece, used = [], empty
        piece.append(row)
        used += size
    out.append(component(piece))
    return out


def button(label: str, command: str, style: str | None) -> dict[str, Any]:
    return {"tag": "button", "text": {"tag": "plain_text", "content": label[:40]},
            "type": style or "default", "value": {"command": command}}


def _size(element: Any) -> int:
    """Bytes of `element` as it travels: its JSON inside the message's JSON `content` string."""
    return len(json.dumps(json.dumps(element, ensure_ascii=False), ensure_ascii=False).encode()) - 2


def _card(title: str, elements: list[dict[str, Any]], error: bool) -> Card:
    card: Card = {"config": {"wide_screen_mode": True, "update_multi": True}, "elements": elements}
    if title:
        card["header"] = {"title": {"tag": "plain_text", "content": title[:MAX_TITLE]},
                          "template": "red" if error else "blue"}
    return card


def render(reply: Reply, image_keys: Sequence[str | None] = ()) -> list[Card]:
    """The reply's cards; `image_keys` are the uploaded charts' keys, in the order of reply.charts."""
    body: list[dict[str, Any]] = []
    for paragraph in reply.text:
        body.append(_md(md_escape(paragraph)))
    if reply.fields:
        body.append({"tag": "div", "fields": [{"is_short": True, "text": {"tag": "lark_md", "content": field_md(f)}}
                                              for f in reply.fields]})
    for table in reply.tables:
        body.extend(table_elements(table))
    for chart, key in zip(reply.charts, image_keys, strict=False):
        if key:
            body.append({"tag": "img", "img_key": key, "alt": {"tag": "plain_text", "content": chart.title},
                         "title": {"tag": "lark_md", "content": f"**{md_escape(chart.title)}**"}})
    tail: list[dict[str, Any]] = []
    if reply.actions:
        tail.append({"tag": "action", "layout": "flow",
                     "actions": [button(a.label, a.command, a.style) for a in reply.actions[:MAX_BUTTONS]]})
    if reply.footer:
        tail.append({"tag": "note", "elements": [{"tag": "plain_text", "content": reply.footer}]})
    # pack greedily: a new card when the next element would push this one past the budget
    cards: list[list[dict[str, Any]]] = [[]]
    used = _size(_card(reply.title, [], reply.error))
    for element in body:
        size = _size(element) + 1
        if cards[-1] and used + size > CARD_BUDGET:
            cards.append([])
            used = _size(_card(reply.title, [], reply.error))
        cards[-1].append(element)
        used += size
    if tail and cards[-1] and used + sum(_size(e) + 1 for e in tail) > CARD_BUDGET:
        cards.append([])
    cards[-1].extend(tail)
    if not cards[-1] and len(cards) == 1:
        cards[-1].append(_md(" "))
    total = len(cards)

    def title(i: int) -> str:
        if total == 1 or not reply.title:
            return reply.title
        number = f" ({i}/{total})"  # kept whole: a long title gives way to it
        return reply.title[:MAX_TITLE - len(number)] + number
    return [_card(title(i), els, reply.error) for i, els in enumerate(cards, start=1)]


def card_text(card: Card) -> str:
    """Every string in a card, for tests and logs."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("content",) and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str):
            out.append(node)
    walk(card)
    return "\n".join(out)
