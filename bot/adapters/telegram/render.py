"""Reply → Telegram messages: HTML text chunks, chart photos and an inline keyboard.

Pure functions and one small in-memory map, no network: the adapter
(bot/adapters/telegram/adapter.py) sends what these produce. Everything that came from
data or users is escaped with `html.escape`; the only tags are the ones added
here (b, i, code, pre), and every chunk closes what it opens, so Telegram's
HTML parser never sees a tag cut in half.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.adapters.telegram.limits import MAX_CALLBACK_DATA, MAX_CAPTION, MAX_TEXT
from bot.reply import Action, Field, Reply, render_table_text

BUTTONS_PER_ROW = 2

# The adapter's own user-visible strings (everything else comes from the core, already translated).
ADAPTER_MESSAGES: dict[str, dict[str, str]] = {
    "empty_reply": {"en": "(nothing to show)", "zh": "（没有内容）"},
    "button_expired": {
        "en": "This button has expired. Type the command again.",
        "zh": "此按钮已过期，请重新输入命令。",
    },
}

GOOD = "🟢"
BAD = "🔴"
WARNING = "⚠️"

_PRE_OPEN = "<pre>"
_PRE_CLOSE = "</pre>"
# `code` spans in the core's messages ("type `help`"); Telegram shows them monospace.
_BACKTICKS = re.compile(r"`([^`\n]+)`")


Render = Callable[[str], str]


def adapter_text(lang: str, key: str) -> str:
    entry = ADAPTER_MESSAGES[key]
    return entry.get(lang) or entry["en"]


def tg_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def esc(text: str) -> str:
    # quote=False: quotes are harmless in text content, and fewer entities leave more of the 4096.
    return html.escape(text, quote=False)


def inline(text: str) -> str:
    """Escape one line of prose and show its `backtick` spans as <code>."""
    return _BACKTICKS.sub(r"<code>\1</code>", esc(text))


# ---- callback data -----------------------------------------------------------------------------


class CallbackStore:
    """Button payloads: the command itself when it fits in 64 bytes, else a short token.

    Telegram caps callback_data at 64 bytes, and a Chinese command or one with
    filters passes that quickly. Recent tokens are kept in memory (bounded, oldest
    dropped); the adapter also keeps every new one in the state database before the
    button is posted (`take_new`, bot/state/shared.py), so a button still works after a
    restart and on another instance. A token nobody kept answers "expired" instead
    of guessing.

    A token is a digest of its command: every instance gives a command the same token,
    so keeping it twice is harmless. Forging one gains nothing: it only ever stands for
    a command opsbot kept, which the presser could have typed.
    """

    PREFIX = "#"  # no command word starts with '#', so a token never shadows a command

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self._by_token: OrderedDict[str, str] = OrderedDict()
        self._new: dict[str, str] = {}  # issued here and not yet handed to `take_new`

    def data_for(self, command: str) -> str:
        if not command.startswith(self.PREFIX) and len(command.encode("utf-8")) <= MAX_CALLBACK_DATA:
            return command
        token = self.token_for(command)
        if token not in self._by_token:
            self._new[token] = command
        self.remember(token, command)
        return token

    @classmethod
    def token_for(cls, command: str) -> str:
        digest = hashlib.sha256(command.encode("utf-8")).digest()[:15]  # 120 bits: 20 characters
        return cls.PREFIX + base64.urlsafe_b64encode(digest).decode("ascii")

    def remember(self, token: str, command: str) -> None:
        self._by_token[token] = command
        self._by_token.move_to_end(token)
        while len(self._by_token) > self.capacity:
            self._by_token.popitem(last=False)

    def take_new(self) -> dict[str, str]:
        """The tokens issued since the last call (token → command), to keep where every instance sees them."""
        new, self._new = self._new, {}
        return new

    def command_for(self, data: str) -> str | None:
        """The command a button's data stands for; None for a token this process does not hold
        (it may still be in the state database: see the adapter)."""
        if not data.startswith(self.PREFIX):
            return data
        return self._by_token.get(data)


def keyboard(actions: Sequence[Action], store: CallbackStore) -> InlineKeyboardMarkup | None:
    buttons = [
        InlineKeyboardButton(a.label or a.command, callback_data=store.data_for(a.command)) for a in actions
    ]
    if not buttons:
        return None
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(rows)


# ---- lines and chunks --------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of a message. `pre` groups consecutive lines into one <pre> block (0 = not pre)."""

    html: str
    pre: int = 0


def field_html(f: Field) -> str:
    line = f"{esc(f.label)}: <b>{esc(f.value)}</b>"
    if f.delta:
        line += f"  {f.arrow} {esc(f.delta)}" if f.arrow else f"  {esc(f.delta)}"
    if f.good is not None and f.trend in ("up", "down"):
        line += " " + (GOOD if f.good else BAD)
    return line


def _wrap_raw(text: str, budget: int, render: Render) -> list[str]:
    """Cut one over-long raw line into pieces whose rendering fits `budget`, at spaces where possible."""
    pieces: list[str] = []
    rest = text
    while rest:
        if tg_len(render(rest)) <= budget:
            pieces.append(rest)
            break
        # the longest prefix that fits: binary search on the raw length (escaping only grows it)
        lo, hi = 1, len(rest)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if tg_len(render(rest[:mid])) <= budget:
                lo = mid
            else:
                hi = mid - 1
        cut = rest.rfind(" ", 0, lo + 1)
        if cut <= lo // 2:  # no space in the second half: cut mid-word rather than leave a stub
            cut = lo
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip(" ")
    return pieces


class _Lines:
    """Builds the line list, giving each <pre> block its own group number."""

    def __init__(self, budget: int) -> None:
        self.lines: list[Line] = []
        self.budget = budget
        self._groups = 0

    def gap(self) -> None:
        if self.lines and self.lines[-1].html:
            self.lines.append(Line(""))

    def prose(self, text: str, render: Render | None = None) -> None:
        render = render or inline
        for raw in text.split("\n"):
            for piece in _wrap_raw(raw, self.budget, render) or [""]:
                self.lines.append(Line(render(piece)))

    def html_line(self, markup: str) -> None:
        self.lines.append(Line(markup))

    def pre(self, text: str) -> None:
        self._groups += 1
        budget = self.budget - len(_PRE_OPEN) - len(_PRE_CLOSE)
        for raw in text.split("\n"):
            for piece in _wrap_raw(raw, budget, esc) or [""]:
                self.lines.append(Line(esc(piece), pre=self._groups))


def _bold(text: str) -> str:
    return f"<b>{inline(text)}</b>"


def _italic(text: str) -> str:
    return f"<i>{inline(text)}</i>"


def body_lines(reply: Reply, out: _Lines, *, include_title: bool) -> None:
    budget = out.budget
    if include_title and reply.title:
        out.prose((WARNING + " " if reply.error else "") + reply.title, _bold)
    for paragraph in reply.text:
        out.gap()
        out.prose(paragraph)
    if reply.fields:
        out.gap()
        for f in reply.fields:
            markup = field_html(f)
            if tg_len(markup) <= budget:
                out.html_line(markup)
            else:  # absurd labels: fall back to the plain-text line, wrapped
                out.prose(f"{f.label}: {f.value} {f.arrow} {f.delta or ''}".strip())
    for table in reply.tables:
        out.gap()
        if table.title:
            out.prose(table.title, _bold)
        out.pre(render_table_text(replace(table, title=None)))
    if reply.footer:
        out.gap()
        out.prose(reply.footer, _italic)


def _serialize(lines: Iterable[Line]) -> str:
    parts: list[str] = []
    group = 0
    for line in lines:
        if line.pre != group:
            if group:
                parts[-1] += _PRE_CLOSE
            prefix = _PRE_OPEN if line.pre else ""
            parts.append(prefix + line.html)
            group = line.pre
        else:
            parts.append(line.html)
    if group and parts:
        parts[-1] += _PRE_CLOSE
    return "\n".join(parts)


def _trim(lines: list[Line]) -> list[Line]:
    start, end = 0, len(lines)
    while start < end and not lines[start].html and not lines[start].pre:
        start += 1
    while end > start and not lines[end - 1].html and not lines[end - 1].pre:
        end -= 1
    return lines[start:end]


def pack(lines: Sequence[Line], limit: int = MAX_TEXT) -> list[str]:
    """Greedily fill messages up to `limit`, breaking only between lines.

    A <pre> block cut across two messages is closed at the end of the first
    and reopened at the start of the next, so each message is valid on its own.
    Every line already fits on its own (the builder wrapped longer ones).
    """
    chunks: list[str] = []
    current: list[Line] = []
    size = 0  # tg_len of _serialize(current)
    for line in lines:
        if not current and not line.html and not line.pre:
            continue  # no blank line at the top of a message
        cost = tg_len(line.html) + (1 if current else 0)
        prev = current[-1].pre if current else 0
        if line.pre and line.pre != prev:
            cost += len(_PRE_OPEN) + len(_PRE_CLOSE)
        if current and size + cost > limit:
            chunks.append(_serialize(_trim(current)))
            current, size = [], 0
            if not line.html and not line.pre:
                continue
            cost = tg_len(line.html) + (len(_PRE_OPEN) + len(_PRE_CLOSE) if line.pre else 0)
        current.append(line)
        size += cost
    if _trim(current):
        chunks.append(_serialize(_trim(current)))
    return [c for c in chunks if c.strip()]


# ---- the whole reply ---------------------------------------------------------------------------


@dataclass
class Photo:
    png: bytes
    filename: str
    caption: str | None  # HTML, ≤ MAX_CAPTION; None when it went into the text instead


@dataclass
class Rendered:
    photos: list[Photo] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    keyboard: InlineKeyboardMarkup | None = None


def render(reply: Reply, store: CallbackStore, lang: str = "en") -> Rendered:
    """Lay a Reply out as Telegram messages.

    With charts, each goes out as a photo first; the first photo's caption is
    the reply's title (and the chart's own title), so the text messages after
    it carry the rest. A caption over 1,024 characters is not cut: it moves to
    the top of the text instead. The keyboard belongs on the last message,
    under everything it acts on.
    """
    out = Rendered(keyboard=keyboard(reply.actions, store))
    lines = _Lines(MAX_TEXT)
    title = (WARNING + " " if reply.error else "") + reply.title if reply.title else ""
    for i, chart in enumerate(reply.charts):
        parts: list[tuple[str, Render]] = []
        if i == 0 and title:
            parts.append((title, _bold))
        if chart.title and chart.title != reply.title:
            parts.append((chart.title, inline))
        caption = "\n".join(fmt(text) for text, fmt in parts)
        if tg_len(caption) <= MAX_CAPTION:
            out.photos.append(Photo(chart.png, chart.filename, caption or None))
            continue
        out.photos.append(Photo(chart.png, chart.filename, None))
        for text, fmt in parts:
            lines.prose(text, fmt)
        lines.gap()
    # with charts the title went out as the first caption, or just above, as overflow
    body_lines(reply, lines, include_title=not reply.charts)
    out.texts = pack(lines.lines)
    if not out.texts and not out.photos:
        out.texts = [esc(adapter_text(lang, "empty_reply"))]
    return out
