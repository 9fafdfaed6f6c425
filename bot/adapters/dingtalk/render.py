"""A `Reply` as DingTalk interactive cards: the markdown-with-buttons card the official SDK ships
(`limits.CARD_TEMPLATE`), one card's parameters being {title, markdown, tips, sys_full_json_obj}.

DingTalk's markdown has no tables: a table is one line per row, cells joined by " | " under a
bold header, and a long one continues in the next card under its title and header. A card's
markdown is kept under `limits.CARD_BUDGET` bytes. Buttons (on the last card) carry their command
in their id ("ops:<command>"), which the click's callback returns; where clicks cannot come back
(the HTTP mode) they become a hint line with the commands. Charts and files are not in the card:
the adapter sends them as image and file messages after it. Nothing here formats numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.adapters.dingtalk.inbound import BUTTON_PREFIX
from bot.adapters.dingtalk.limits import CARD_BUDGET, MAX_BUTTONS, MAX_TITLE
from bot.adapters.plaintext import Block, clip, language_of, pack
from bot.reply import Action, Field, Reply, Table
from bot.text.messages import t

MAX_CELL = 60
NEWLINE = "  \n"  # DingTalk's markdown breaks a line at two trailing spaces
# every ASCII punctuation mark markdown could read; `@` too, so no text looks like a mention
SPECIAL = set("\\`*_{}[]()#+-.!|<>~@")


def md_escape(text: str) -> str:
    """Data shown as typed: markdown punctuation backslash-escaped, line breaks flattened."""
    flat = " ".join(text.split())
    return "".join("\\" + ch if ch in SPECIAL else ch for ch in flat)


def field_line(f: Field) -> str:
    line = f"**{md_escape(clip(f.label, 100))}**: {md_escape(clip(f.value, 200))}"
    if f.delta:
        line += "  " + " ".join(p for p in (f.arrow, md_escape(clip(f.delta, 100))) if p)
    return line


def table_block(table: Table, lang: str) -> Block:
    ncols = len(table.columns)
    title = f"**{md_escape(clip(table.title, 200))}**" if table.title else ""
    head = [" | ".join(f"**{md_escape(clip(c, MAX_CELL))}**" for c in table.columns)] \
        if any(c.strip() for c in table.columns) else []
    rows = [" | ".join(md_escape(clip(c, MAX_CELL)) for c in row[:ncols]) for row in table.rows]
    more = [f"{title} {t(lang, 'continued')}"] if title else []
    return Block(lines=[*([title] if title else []), *head, *rows], head=[*more, *head])


def blocks(reply: Reply, lang: str, *, buttons: bool) -> list[Block]:
    out = [Block([md_escape(line) for line in paragraph.split("\n")]) for paragraph in reply.text
           if paragraph.strip()]
    if reply.fields:
        out.append(Block([field_line(f) for f in reply.fields]))
    out.extend(table_block(table, lang) for table in reply.tables)
    if reply.actions and not buttons:
        commands = " · ".join(md_escape(a.command) for a in reply.actions)
        out.append(Block([t(lang, "buttons_as_hint", commands=commands)]))
    return out


def button(action: Action) -> dict[str, object]:
    color = {"primary": "blue", "danger": "red"}.get(action.style or "", "gray")
    return {"text": clip(action.label, 20), "color": color, "id": BUTTON_PREFIX + action.command, "request": True}


def render(reply: Reply, *, buttons: bool = True, notes: Sequence[str] = ()) -> list[dict[str, str]]:
    """The cards' parameter maps (every value a string, as the card API takes them), in order;
    `notes` are lines the adapter adds (a chart it could not send)."""
    lang = language_of(reply)
    parts = blocks(reply, lang, buttons=buttons)
    if notes:
        parts.append(Block([md_escape(n) for n in notes]))
    pages = pack(parts, CARD_BUDGET, newline=NEWLINE) or [" "]
    title = clip(("⚠ " if reply.error else "") + (reply.title or "opsbot"), MAX_TITLE)
    cards: list[dict[str, str]] = []
    for i, markdown in enumerate(pages, start=1):
        last = i == len(pages)
        card = {"title": f"{title} ({i}/{len(pages)})" if len(pages) > 1 else title, "markdown": markdown,
                "tips": clip(reply.footer or "", 200) if last else ""}
        actions = reply.actions[:MAX_BUTTONS] if (buttons and last) else []
        card["sys_full_json_obj"] = json.dumps({"msgButtons": [button(a) for a in actions]}, ensure_ascii=False)
        cards.append(card)
    return cards
