"""Text helpers for platforms whose messages are markdown strings with a byte limit (WeCom,
DingTalk): sizes in UTF-8 bytes, clipping, cutting an over-long line between characters, and the
language a reply is written in (an adapter's own few words follow it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.reply import Reply


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


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


def language_of(reply: Reply) -> str:
    sample = " ".join([reply.title, *reply.text, *(f.label for f in reply.fields)])
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in sample) else "en"


@dataclass
class Block:
    """Lines that belong together (a paragraph, the fields, a table), and the head a continuation
    message repeats (a table's title and header)."""

    lines: list[str]
    head: list[str] = field(default_factory=list)


def pack(blocks: list[Block], limit: int, *, newline: str = "\n") -> list[str]:
    """The blocks as messages of at most `limit` bytes each, in reading order: blocks apart by an
    empty line, a block split between lines (an over-long line between characters), a split
    block's continuation under its head. `newline` is the platform's line break."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        head = newline.join(block.head)
        if nbytes(head) > limit // 4:  # a head that would crowd out the rows is not repeated
            head = ""
        first = True
        for raw in block.lines:
            for line in split_line(raw, limit - nbytes(head) - nbytes(newline) - 2):
                sep = "\n\n" if first else newline
                candidate = f"{current}{sep}{line}" if current else line
                if nbytes(candidate) <= limit:
                    current = candidate
                else:
                    if current.strip():
                        messages.append(current)
                    current = f"{head}{newline}{line}" if head and not first else line
                first = False
    if current.strip():
        messages.append(current)
    return messages
