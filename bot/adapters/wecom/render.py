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

from bot.adapters.wecom.limits import (
    IMAGE_MAGIC,
    MAX_FILE_BYTES,
    MAX_IMAGE_BYTES,
    MAX_MARKDOWN_BYTES,
    MIN_FILE_BYTES,
)
from bot.reply import Field, Reply, Table

MAX_CELL = 60
MAX_TITLE = 200
# the adapter's own words (not a handler's): the chat language is guessed from the reply itself
NOTES = {
    "actions": {"en": "Run in opsbot (Feishu, DingTalk, Slack, Telegram): {commands}",
                "zh": "在 opsbot（飞书、钉钉等）中发送：{commands}"},
    "continued": {"en": "(continued)", "zh": "（续）"},
    "chart_unsent": {"en": "Chart “{title}” cannot be pushed to WeCom ({why}).",
                     "zh": "图表“{title}”无法推送到企业微信（{why}）。"},
    "file_unsent": {"en": "Export {name} cannot be pushed to WeCom ({why}); run the command again elsewhere.",
                    "zh": "导出文件 {name} 无法推送到企业微信（{why}），请在其他平台重新执行命令获取。"},
}


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


def language_of(reply: Reply) -> str:
    sample = " ".join([reply.title, *reply.text, *(f.label for f in reply.fields)])
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in sample) else "en"


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def escape(text: str) -> str:
    """Data never mentions anyone: `<@userid>` is WeCom's mention syntax (a zero-width space breaks it)."""
    return text.replace("<@", "<\u200b@")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_line(line: str, budget: int) -> list[str]:
    """A line longer than `budget` bytes as pieces that fit, cut between characters (never inside
    one's UTF-8 bytes), at a space when one is near."""
    pieces: list[str] = []
    while nbytes(line) > budget:
        used, cut = 0, 0
        for i, ch in enumerate(line):
            used += nbytes(ch)
            if used > budget:
                cut = i
                break
        space = line.rfind(" ", 0, cut)
        cut = space if space > cut // 2 else max(cut, 1)
        pieces.append(line[:cut].rstrip())
        line = line[cut:].lstrip()
    pieces.append(line)
    return pieces


@dataclass
class _Block:
    lines: list[str]
    head: list[str] = field(default_factory=list)  # repeated at the top of a continuation message


def field_line(f: Field) -> str:
    line = f"**{escape(clip(f.label, 100))}**: {escape(clip(f.value, 200))}"
    if f.delta:
        move = " ".join(p for p in (f.arrow, escape(clip(f.delta, 100))) if p)
        # info is green, warning orange-red, comment grey: whether the move is good for this KPI
        colour = {True: "info", False: "warning"}.get(f.good, "comment") if f.good is not None else "comment"
        line += f'  <font color="{colour}">{move}</font>'
    return line


def table_block(table: Table, lang: str) -> _Block:
    ncols = len(table.columns)
    named = any(c.strip() for c in table.columns)
    head: list[str] = []
    title = f"**{escape(clip(table.title, MAX_TITLE))}**" if table.title else ""
    if named:
        header = " | ".join(escape(clip(c, MAX_CELL)) for c in table.columns)
        head.append(f'<font color="comment">{header}</font>')
    rows = [" | ".join(escape(clip(c, MAX_CELL)) for c in row[:ncols]) for row in table.rows]
    cont = f"{title} {NOTES['continued'][lang]}" if title else ""
    return _Block(lines=[*([title] if title else []), *head, *rows], head=[*([cont] if cont else []), *head])


def _blocks(reply: Reply, lang: str) -> list[_Block]:
    blocks: list[_Block] = []
    if reply.title:
        title = f"**{escape(clip(reply.title, MAX_TITLE))}**"
        blocks.append(_Block([f'<font color="warning">{title}</font>' if reply.error else title]))
    for paragraph in reply.text:
        if paragraph.strip():
            blocks.append(_Block([escape(line) for line in paragraph.split("\n")]))
    if reply.fields:
        blocks.append(_Block([field_line(f) for f in reply.fields]))
    blocks.extend(table_block(t, lang) for t in reply.tables)
    notes = [NOTES["chart_unsent"][lang].format(title=escape(c.title), why=why)
             for c in reply.charts if (why := chart_problem(c.png))]
    notes += [NOTES["file_unsent"][lang].format(name=escape(f.filename), why=why)
              for f in reply.files if (why := file_problem(f.content))]
    if notes:
        blocks.append(_Block(notes))
    if reply.actions:
        commands = " · ".join(f"`{escape(clip(a.command, 200))}`" for a in reply.actions)
        blocks.append(_Block([f'<font color="comment">{NOTES["actions"][lang].format(commands=commands)}</font>']))
    if reply.footer:
        blocks.append(_Block([f'<font color="comment">{escape(clip(reply.footer, 500))}</font>']))
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
    lang = language_of(reply)
    messages: list[str] = []
    current = ""

    def flush() -> None:
        nonlocal current
        if current.strip():
            messages.append(current)
        current = ""

    for block in _blocks(reply, lang):
        head = "\n".join(block.head)
        # a head that would crowd out the rows is not repeated
        if nbytes(head) > limit // 4:
            head = ""
        first = True
        for raw in block.lines:
            for line in split_line(raw, limit - nbytes(head) - 1):
                sep = "\n\n" if first else "\n"
                candidate = f"{current}{sep}{line}" if current else line
                if nbytes(candidate) <= limit:
                    current = candidate
                else:
                    flush()
                    current = f"{head}\n{line}" if head and not first else line
                first = False
    flush()
    return messages or ["…"]  # WeCom refuses empty content (44004); an empty Reply is a handler bug


def render(reply: Reply) -> list[Part]:
    """Every message the reply takes, in the order they are sent: text, charts, files.
    Deterministic, so a resumed push skips exactly the parts that landed before."""
    parts: list[Part] = [Markdown(m) for m in markdown_messages(reply)]
    parts += [Image(c.png, c.title) for c in reply.charts if chart_problem(c.png) is None]
    parts += [File(f.filename, f.content) for f in reply.files if file_problem(f.content) is None]
    return parts
