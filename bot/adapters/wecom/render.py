"""Reply → WeCom group robot messages, inside WeCom's limits.

WeCom's robot markdown is a small subset (bold, headings, links, quotes, `<font color=…>`), with
no tables and no code blocks, so a table is one line per row, cells joined by " | " under a grey
header line. A message holds at most 4096 bytes of UTF-8 (a Chinese character is 3): the text is
packed line by line and split on line boundaries (a longer line at a character boundary), a
table's continuation repeats its title and header. Charts become image messages (base64 of the
raw bytes and their md5), files are uploaded (`upload_media`) and sent as file messages. Robots
have no buttons: actions become one hint line naming the commands to run where opsbot takes
commands. Nothing here formats numbers.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from bot.adapters.plaintext import Block, clip, language_of, pack
from bot.adapters.wecom.limits import (
    IMAGE_MAGIC,
    MAX_FILE_BYTES,
    MAX_IMAGE_BYTES,
    MAX_MARKDOWN_BYTES,
    MIN_FILE_BYTES,
)
from bot.reply import Field, Reply, Table
from bot.text.messages import t

MAX_CELL = 60
MAX_TITLE = 200


@dataclass(frozen=True)
class Markdown:
    content: str

    def payload(self) -> dict[str, object]:
        return {"msgtype": "markdown", "markdown": {"content": self.content}}


@dataclass(frozen=True)
class Image:
    data: bytes = field(repr=False)
    title: str = ""

    def payload(self) -> dict[str, object]:
        # md5 of the raw bytes, before base64, as WeCom checks it
        return {"msgtype": "image", "image": {"base64": base64.b64encode(self.data).decode(),
                                              "md5": hashlib.md5(self.data).hexdigest()}}


@dataclass(frozen=True)
class File:
    """Uploaded first (`upload_media?type=file`); sent as {"msgtype": "file", "file": {"media_id"}}."""

    filename: str
    content: bytes = field(repr=False)


Part = Markdown | Image | File


def escape(text: str) -> str:
    """Data never mentions anyone: `<@userid>` is WeCom's mention syntax (a zero-width space breaks it)."""
    return text.replace("<@", "<\u200b@")


def field_line(f: Field) -> str:
    line = f"**{escape(clip(f.label, 100))}**: {escape(clip(f.value, 200))}"
    if f.delta:
        move = " ".join(p for p in (f.arrow, escape(clip(f.delta, 100))) if p)
        # info is green, warning orange-red, comment grey: whether the move is good for this KPI
        colour = {True: "info", False: "warning"}.get(f.good, "comment") if f.good is not None else "comment"
        line += f'  <font color="{colour}">{move}</font>'
    return line


def table_block(table: Table, lang: str) -> Block:
    ncols = len(table.columns)
    named = any(c.strip() for c in table.columns)
    head: list[str] = []
    title = f"**{escape(clip(table.title, MAX_TITLE))}**" if table.title else ""
    if named:
        header = " | ".join(escape(clip(c, MAX_CELL)) for c in table.columns)
        head.append(f'<font color="comment">{header}</font>')
    rows = [" | ".join(escape(clip(c, MAX_CELL)) for c in row[:ncols]) for row in table.rows]
    cont = f"{title} {t(lang, 'continued')}" if title else ""
    return Block(lines=[*([title] if title else []), *head, *rows], head=[*([cont] if cont else []), *head])


def _blocks(reply: Reply, lang: str) -> list[Block]:
    blocks: list[Block] = []
    if reply.title:
        title = f"**{escape(clip(reply.title, MAX_TITLE))}**"
        blocks.append(Block([f'<font color="warning">{title}</font>' if reply.error else title]))
    for paragraph in reply.text:
        if paragraph.strip():
            blocks.append(Block([escape(line) for line in paragraph.split("\n")]))
    if reply.fields:
        blocks.append(Block([field_line(f) for f in reply.fields]))
    blocks.extend(table_block(t, lang) for t in reply.tables)
    notes = [t(lang, "wecom_chart_unsent", title=escape(c.title), why=why)
             for c in reply.charts if (why := chart_problem(c.png))]
    notes += [t(lang, "wecom_file_unsent", name=escape(f.filename), why=why)
              for f in reply.files if (why := file_problem(f.content))]
    if notes:
        blocks.append(Block(notes))
    if reply.actions:
        commands = " · ".join(f"`{escape(clip(a.command, 200))}`" for a in reply.actions)
        blocks.append(Block([f'<font color="comment">{t(lang, "wecom_actions", commands=commands)}</font>']))
    if reply.footer:
        blocks.append(Block([f'<font color="comment">{escape(clip(reply.footer, 500))}</font>']))
    return blocks


def chart_problem(png: bytes) -> str | None:
    if len(png) > MAX_IMAGE_BYTES:
        return f"{len(png):,} bytes > 2 MB"
    if not png.startswith(IMAGE_MAGIC):
        return "not a PNG or JPEG"
    return None


def file_problem(content: bytes) -> str | None:
    if not MIN_FILE_BYTES <= len(content) <= MAX_FILE_BYTES:
        return f"{len(content):,} bytes, outside 5 B – 20 MB"
    return None


def markdown_messages(reply: Reply, limit: int = MAX_MARKDOWN_BYTES) -> list[str]:
    """The reply's text as markdown contents of at most `limit` bytes each, in reading order."""
    return pack(_blocks(reply, language_of(reply)), limit) or ["…"]  # WeCom refuses empty content (44004)


def render(reply: Reply) -> list[Part]:
    """Every message the reply takes, in the order they are sent: text, charts, files.
    Deterministic, so a resumed push skips exactly the parts that landed before."""
    parts: list[Part] = [Markdown(m) for m in markdown_messages(reply)]
    parts += [Image(c.png, c.title) for c in reply.charts if chart_problem(c.png) is None]
    parts += [File(f.filename, f.content) for f in reply.files if file_problem(f.content) is None]
    return parts
