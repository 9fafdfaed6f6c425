"""Splitting a command's arguments into tokens, with quoted names kept whole.

`campaign add "Black Friday" 2026-11-27..2026-11-30` gives the handler the tokens
`Black Friday` and `2026-11-27..2026-11-30`. Chat apps and phone keyboards turn straight
quotes into typographic ones, and Chinese text quotes names with 「」 or 『』, so every
pair below quotes. shlex does not fit: it knows only ASCII quotes and treats the apostrophe
in `Mother's` as an opening quote. Here a quote opens only at the start of a token or right
after `=` (`channel="Paid Search"`), so apostrophes inside words stay letters.
"""

from __future__ import annotations

from bot.errors import UsageError

# opening quote -> the characters that may close it. Autocorrect mixes straight and curly
# quotes ("Black Friday” is common), so the curly closers accept their straight twin too.
QUOTES: dict[str, str] = {
    '"': '"”“',
    "'": "'’",
    "“": "”“\"",
    "‘": "’‘'",
    "「": "」",
    "『": "』",
    "＂": "＂\"",
    "《": "》",
}


def split_args(text: str) -> tuple[str, ...]:
    """Whitespace-separated tokens; a quoted span is one token (quotes dropped, spaces kept).

    An opening quote with no closing one is a UsageError naming the quote, rather than a guess
    about where the name was meant to end."""
    tokens: list[str] = []
    current: list[str] = []
    started = False  # a token is open (it may be an empty quoted name: "")
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            if started:
                tokens.append("".join(current))
                current, started = [], False
            i += 1
            continue
        at_start = not started or (current and current[-1] == "=")
        if ch in QUOTES and at_start:
            end = _closing(text, i + 1, QUOTES[ch])
            if end < 0:
                raise UsageError("unbalanced_quote", quote=ch, text=text[i:i + 40])
            current.append(text[i + 1:end])
            started = True
            i = end + 1
            continue
        current.append(ch)
        started = True
        i += 1
    if started:
        tokens.append("".join(current))
    return tuple(tokens)


def _closing(text: str, start: int, closers: str) -> int:
    """Where the quote opened before `start` closes, or -1."""
    for j in range(start, len(text)):
        if text[j] in closers:
            return j
    return -1
