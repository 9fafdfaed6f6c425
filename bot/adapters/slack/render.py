"""Reply → Slack Block Kit messages, inside Slack's limits.

Slack refuses a whole message when one block breaks a limit (`invalid_blocks`,
`msg_blocks_too_long`), so this module never hands it an oversize part: long
text is split at line breaks, wide tables are split into column groups, long
tables into row chunks that repeat the header, and a reply that needs more than
50 blocks (or about 12,000 characters) becomes several messages. Every message
carries a plain `text` fallback for notifications and screen readers.

Nothing here formats numbers: the Reply's strings are laid out as given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.adapters.slack.limits import (
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_BUTTONS,
    MAX_CONTEXT_TEXT,
    MAX_FALLBACK,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    MAX_HEADER,
    MAX_MESSAGE_CHARS,
    MAX_SECTION_TEXT,
)
from bot.reply import Action, Field, Reply, Table, display_width, field_line, render_table_text

# A code block wider than this wraps on laptops and is unreadable on phones: split into column groups.
TABLE_MAX_WIDTH = 100
TABLE_MAX_CELL = 60

ACTION_ID_PREFIX = "opsbot_action_"

GOOD_MARK = ":large_green_circle:"
BAD_MARK = ":red_circle:"
ERROR_MARK = ":warning:"

_CODE_FENCE = "```"


@dataclass
class SlackMessage:
    """One chat.postMessage / response_url payload: blocks plus the plain fallback."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def blocks_json(self) -> list[dict[str, Any]]:
        # to_dict() also runs slack_sdk's own limit validators: a bug here fails loudly, not at Slack.
        return [b.to_dict() for b in self.blocks]


@dataclass
class _Piece:
    block: Block
    plain: str  # what this block says, for a continuation message's fallback
    chars: int  # its weight against MAX_MESSAGE_CHARS


def escape(text: str) -> str:
    """Slack mrkdwn treats <, > and & as control characters (links, mentions); show them literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(line: str, budget: int) -> int:
    """Length of the longest prefix of `line` whose escaped form fits `budget`, cut at a space if one is near."""
    used = 0
    for i, ch in enumerate(line):
        used += len(escape(ch))
        if used > budget:
            space = line.rfind(" ", 0, i)
            return space if space > i // 2 else max(i, 1)
    return len(line)


def split_text(text: str, budget: int) -> list[str]:
    """Split raw text into chunks whose *escaped* length fits `budget`, preferring line breaks, then spaces."""
    chunks: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        candidate = line if current is None else f"{current}\n{line}"
        if len(escape(candidate)) <= budget:
            current = candidate
            continue
        if current is not None:
            chunks.append(current)
            current = None
        while len(escape(line)) > budget:
            cut = _cut(line, budget)
            chunks.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        current = line
    if current is not None and (current or not chunks):
        chunks.append(current)
    return [c for c in chunks if c.strip()] or [""]


def _section(mrkdwn: str, plain: str) -> _Piece:
    return _Piece(SectionBlock(text=MarkdownTextObject(text=mrkdwn)), plain, len(mrkdwn))


# ---- parts -----------------------------------------------------------------------------


def _title(reply: Reply) -> list[_Piece]:
    if not reply.title:
        return []
    if reply.error:
        # errors are said plainly: no big header, a warning line the eye catches
        text = f"{ERROR_MARK} *{escape(trim(reply.title, MAX_SECTION_TEXT // 2))}*"
        return [_section(text, reply.title)]
    header = trim(reply.title, MAX_HEADER)
    return [_Piece(HeaderBlock(text=PlainTextObject(text=header, emoji=True)), reply.title, len(header))]


def _paragraphs(reply: Reply) -> list[_Piece]:
    pieces: list[_Piece] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            raw = "\n\n".join(buffer)
            pieces.append(_section(escape(raw), raw))
            buffer.clear()

    for paragraph in (p for p in reply.text if p.strip()):
        for chunk in split_text(paragraph, MAX_SECTION_TEXT):
            joined = "\n\n".join([*buffer, chunk])
            if buffer and len(escape(joined)) > MAX_SECTION_TEXT:
                flush()
            buffer.append(chunk)
    flush()
    return pieces


def field_mrkdwn(f: Field) -> str:
    """`*GMV*` over `¥1,234  🟢 ▲ +12.3%`: the marker says whether the move is good for this KPI."""
    line = escape(f.value)
    if f.delta:
        mark = {True: GOOD_MARK, False: BAD_MARK}.get(f.good, "") if f.good is not None else ""
        move = " ".join(p for p in (mark, f.arrow, escape(f.delta)) if p)
        line += f"  {move}"
    return trim(f"*{escape(f.label)}*\n{line}", MAX_FIELD_TEXT)


def _fields(reply: Reply) -> list[_Piece]:
    pieces = []
    for start in range(0, len(reply.fields), MAX_FIELDS):
        group = reply.fields[start : start + MAX_FIELDS]
        texts = [field_mrkdwn(f) for f in group]
        block = SectionBlock(fields=[MarkdownTextObject(text=t) for t in texts])
        pieces.append(_Piece(block, "\n".join(field_line(f) for f in group), sum(len(t) for t in texts)))
    return pieces


def _clip_cell(cell: str) -> str:
    if display_width(cell) <= TABLE_MAX_CELL:
        return cell
    out = ""
    for ch in cell:
        if display_width(out + ch) > TABLE_MAX_CELL - 1:
            break
        out += ch
    return out + "…"


def column_groups(table: Table) -> list[list[int]]:
    """Column indexes per group: the first (key) column in every group, the rest as fit TABLE_MAX_WIDTH."""
    ncols = len(table.columns)
    widths = [display_width(c) for c in table.columns]
    for row in table.rows:
        for i, cell in enumerate(row[:ncols]):
            widths[i] = max(widths[i], display_width(cell))
    if ncols <= 1:
        return [list(range(ncols))]
    groups: list[list[int]] = []
    current = [0]
    used = widths[0]
    for i in range(1, ncols):
        if len(current) > 1 and used + 2 + widths[i] > TABLE_MAX_WIDTH:
            groups.append(current)
            current, used = [0], widths[0]
        current.append(i)
        used += 2 + widths[i]
    groups.append(current)
    return groups


def _sub_table(table: Table, cols: list[int]) -> Table:
    ncols = len(table.columns)
    align = table.align or ["l"] + ["r"] * (ncols - 1)
    rows = [[row[i] if i < len(row) else "" for i in cols] for row in table.rows]
    return Table(columns=[table.columns[i] for i in cols], rows=rows, align=[align[i] for i in cols])


def _table(table: Table) -> list[_Piece]:
    clipped = Table(
        columns=[_clip_cell(c) for c in table.columns],
        rows=[[_clip_cell(c) for c in row] for row in table.rows],
        align=table.align,
    )
    pieces: list[_Piece] = []
    title = table.title or ""
    for cols in column_groups(clipped):
        lines = render_table_text(_sub_table(clipped, cols)).split("\n")
        # a list without column names (help) is rendered without a header: a blank one and a rule are noise
        named = any(c.strip() for c in clipped.columns)
        head, body = (lines[:2], lines[2:] or [""]) if named else ([], lines)
        # each block repeats the header, so a chunk read alone still says what its columns are
        fixed = len(escape("\n".join(head))) + 2 * len(_CODE_FENCE) + 2
        chunk: list[str] = []
        size = fixed + _title_cost(title)
        for line in body:
            cost = len(escape(line)) + 1
            if chunk and size + cost > MAX_SECTION_TEXT:
                pieces.append(_code_piece(title, head, chunk))
                title, chunk, size = "", [], fixed
            chunk.append(line)
            size += cost
        pieces.append(_code_piece(title, head, chunk))
        title = ""
    return pieces


def _title_cost(title: str) -> int:
    return len(escape(title)) + 3 if title else 0


def _code_piece(title: str, head: list[str], rows: list[str]) -> _Piece:
    raw = "\n".join([*head, *rows]).rstrip("\n")
    heading = f"*{escape(title)}*\n" if title else ""
    text = f"{heading}{_CODE_FENCE}\n{escape(raw)}\n{_CODE_FENCE}"
    return _Piece(SectionBlock(text=MarkdownTextObject(text=text)), f"{title}\n{raw}" if title else raw, len(text))


def _tables(reply: Reply) -> list[_Piece]:
    return [piece for table in reply.tables for piece in _table(table)]


def button(action: Action, index: int) -> ButtonElement | None:
    """A button whose value is the command to run; None when the command cannot fit a button value."""
    if len(action.command) > MAX_BUTTON_VALUE:
        return None
    return ButtonElement(
        text=PlainTextObject(text=trim(action.label, MAX_BUTTON_TEXT), emoji=True),
        # action_id must be unique within a message; the index is, the command may not be
        action_id=f"{ACTION_ID_PREFIX}{index}",
        value=action.command,
        style=action.style,
    )


def _actions(reply: Reply) -> list[_Piece]:
    buttons = [b for i, a in enumerate(reply.actions) if (b := button(a, i)) is not None]
    pieces = []
    for start in range(0, len(buttons), MAX_BUTTONS):
        group = buttons[start : start + MAX_BUTTONS]
        plain = "  ".join(f"[{b.text.text}]" for b in group if b.text is not None)
        pieces.append(_Piece(ActionsBlock(elements=group), plain, sum(len(b.value or "") + 20 for b in group)))
    return pieces


def _footer(reply: Reply) -> list[_Piece]:
    if not reply.footer:
        return []
    text = trim(escape(reply.footer), MAX_CONTEXT_TEXT)
    return [_Piece(ContextBlock(elements=[MarkdownTextObject(text=text)]), reply.footer, len(text))]


def _pieces(reply: Reply) -> Iterator[_Piece]:
    yield from _title(reply)
    yield from _paragraphs(reply)
    yield from _fields(reply)
    yield from _tables(reply)
    yield from _actions(reply)
    yield from _footer(reply)


# ---- messages -------------------------------------------------------------------------------


def render(reply: Reply) -> list[SlackMessage]:
    """The reply as one or more Slack messages, each inside Slack's block and size limits.

    Charts are not blocks: the adapter uploads them as files next to these messages.
    """
    groups: list[list[_Piece]] = [[]]
    size = 0
    for piece in _pieces(reply):
        current = groups[-1]
        if current and (len(current) >= MAX_BLOCKS or size + piece.chars > MAX_MESSAGE_CHARS):
            groups.append([])
            size = 0
        groups[-1].append(piece)
        size += piece.chars
    if not groups[0]:
        # Slack refuses a message with neither text nor blocks; an empty Reply is a handler bug, not a crash
        return [SlackMessage(text="…")]
    if len(groups) == 1:
        fallback = reply.plain_text()
        return [SlackMessage(text=escape(trim(fallback, MAX_FALLBACK)), blocks=[p.block for p in groups[0]])]
    # a continuation's fallback says what that message holds, so its notification is not a repeat
    return [
        SlackMessage(
            text=escape(trim("\n\n".join(p.plain for p in group if p.plain), MAX_FALLBACK)) or " ",
            blocks=[p.block for p in group],
        )
        for group in groups
    ]


def plain_message(text: str) -> SlackMessage:
    """A short adapter notice (chart missing, working on it) as one section."""
    return SlackMessage(text=escape(trim(text, MAX_FALLBACK)), blocks=[_section(escape(trim(text, 2900)), text).block])
