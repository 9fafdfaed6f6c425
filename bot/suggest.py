"""Suggestions for a mistyped word, and telling a typo from a question.

A suggestion is offered only when it is plausibly what was meant: the word is a close typo of a
choice (a few edits, fewer the shorter the word: `kpj` → kpi, `trnd` → trend, `趋式` → 趋势) or the
start of one (`reten` → retention). A fuzzy "partial" score would find `cohort` inside `how` and
`scan` inside `can`; edit distance does not.
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

# punctuation around a word that is no part of it ("trnd?", "kpi,")
_PUNCT = "?？!！.。,，:：;；'\"“”‘’()（）"

# first words of a question or a request in English: never read as a typo of a command
# ("can you…" is not `scan`); `why` is itself a command (movers) and never gets here
QUESTION_WORDS = frozenset("""
    how what when where which who whom whose can could would will should shall is are was were am
    do does did has have had may might must please pls plz tell show give explain hi hello hey
""".split())

# words that make a Chinese text a question or a request
CJK_QUESTION_MARKS = ("吗", "么", "呢", "什么", "多少", "如何", "为什么", "为何", "哪", "是否", "能否", "请问",
                      "帮我", "给我", "你好", "您好")


def max_edits(length: int) -> int:
    """How many edits a typo of a word this long may have: 1 up to 5 characters, 2 up to 9, then 3
    (two edits of five letters are 40 % of the word: `tmall` is not `email`)."""
    return 1 if length <= 5 else 2 if length <= 9 else 3


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` is plausibly a typo of, or None.

    Distance is optimal string alignment (a swap of two neighbours is one edit: `serach` → search),
    at most `max_edits(len(word))` and less than either word's length. Failing that, a word of three
    or more characters that starts a choice (`reten`, `seg`) gets the shortest such choice.
    """
    w = word.strip(_PUNCT).lower()
    if not w:
        return None
    options = list(dict.fromkeys(choices))
    best: tuple[tuple[int, float], str] | None = None
    for choice in options:
        c = choice.lower()
        distance = OSA.distance(w, c)
        if distance <= max_edits(len(w)) and distance < len(w) and distance < len(c):
            key = (distance, -fuzz.ratio(w, c))
            if best is None or key < best[0]:
                best = (key, choice)
    if best is not None:
        return best[1]
    if len(w) >= 3:
        starts = [c for c in options if c.lower().startswith(w) and c.lower() != w]
        if starts:
            return min(starts, key=len)
    return None


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def looks_like_question(text: str) -> bool:
    """Whether a message whose first word is no command reads as a question or a request in words
    ("how did sales do last week?", "上周各渠道销售怎么样？") rather than a mistyped command."""
    words = text.split()
    if not words:
        return False
    first = words[0].strip(_PUNCT).lower()
    if first in QUESTION_WORDS:
        return True
    cjk = _has_cjk(text)
    if cjk and any(mark in text for mark in CJK_QUESTION_MARKS):
        return True
    if text.rstrip().endswith(("?", "？")) and (len(words) >= 2 or (cjk and len(first) >= 4)):
        return True
    # Chinese is written without spaces: a first "word" this long is a sentence, not a command
    return cjk and len(first) >= 5


def is_question_word(word: str) -> bool:
    return word.strip(_PUNCT).lower() in QUESTION_WORDS
