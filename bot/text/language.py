"""The language of a question, for the one rule that picks the language of its reply.

The rule (README "Languages", docs/languages.md), decided in bot/dispatch.py:

1. A question written in Chinese gets a Chinese answer, whatever the chat's setting.
2. Otherwise the chat's setting, `lang en` or `lang zh`.
3. With `lang auto` (the default) the question's own language: English when it names its period
   in English words; then Chinese when the user's platform language is Chinese; then
   `[bot] language`.

English forms never override `lang zh`: they are the grammar's canonical spelling, which the
Chinese help, usage lines and error messages teach as they are (`kpi gmv`, `vs previous`), so a
Chinese chat writing them is not asking for English. Chinese forms are an opt-in alternative.

What "written in" means: only words of the command grammar whose form belongs to one language
count. A word counts when the other language's help does not teach it:

- Chinese: every Chinese word of the grammar — command words (指标), metric names (销售额),
  periods (昨天, 近30天), keywords (按, 对比, 添加, 每周) — also glued together (按渠道).
- English: periods written in English words (yesterday, last 7d, this month, mtd).

Never counted: names and data values (campaign and goal names such as 双11, channel, category and
region values such as 天猫 or 华东, quoted text, anything after `=`), numbers, dates and ids, and
the forms both languages' help shows — English command words, sub-commands and keywords (kpi,
subscriptions, campaign add, by, daily), metric names (gmv), dimension names and `vs previous` /
`vs last year`, which the Chinese usage lines teach as they are. When the counted words are all in
one language the question is in it; with none, or with both, it says nothing and the chat's
language holds. Text that does not start with a command word has no names: any Chinese in it
makes it Chinese.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import datetime

from metrics.errors import InputError
from metrics.periods import parse_period

__all__ = ["chinese_vocabulary", "question_language"]

# Chinese keywords handlers accept beside the command words, metric names and periods (the
# sub-commands and options of handlers/*.py). A keyword missing here only weakens the signal: the
# question then falls back to the chat's language, it is never taken for the wrong one.
CHINESE_KEYWORDS = frozenset(
    "按 对比 环比 同比 上期 去年同期 同期 对比上期 对比去年 每天 每周 每月 按天 按周 按月 周度 月度 等到 添加 新增 删除 "
    "列表 全部 报告 复盘 导出 设定 设置 目标 计划 拆解 预算 费用 花费 最多 最少 截至 采用 排名 排行 分群 风险 "
    "中文 英文 英语 默认 语言 渠道 品类 类目 地区 周一 周二 周三 周四 周五 周六 周日".split()
)
# Inside a question, what follows `vs` and names no period of its own: the comparison words the
# Chinese help teaches in English (`vs previous`, `vs last year`) say nothing about the language.
_VS = {"vs", "vs.", "versus"}
_SHARED_COMPARISONS = ("previous", "prev", "previous period", "last year")
# the quote pairs of bot/tokens.py (＂ is " after NFKC): a quoted span is a name, never a word
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|「[^」]*」|『[^』]*』|“[^”]*”|‘[^’]*’|《[^》]*》")
_ENGLISH_WORD = re.compile(r"[a-z]{2,}")
_MAX_PHRASE = 3  # "last 7 days"
_MAX_PIECE = 12  # the longest word or period glued into a token (2026年11月, 生命周期价值)
_ANY_DAY = datetime(2026, 1, 1)  # parse_period needs a "now"; only whether a phrase parses matters here


def _is_han(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF" and ch.isalpha()


def _has_han(text: str) -> bool:
    return any(_is_han(ch) for ch in text)


def chinese_vocabulary(words: Iterable[str]) -> frozenset[str]:
    """The Chinese words of the grammar: those of ``words`` (command words, metric names...)
    written in Chinese, plus the handlers' keywords."""
    return frozenset(w.lower() for w in words if _has_han(w)) | CHINESE_KEYWORDS


def _is_period(text: str) -> bool:
    try:
        parse_period(text, _ANY_DAY)
    except (InputError, ValueError, OverflowError):
        return False
    return True


def _splits(token: str, vocabulary: frozenset[str]) -> bool:
    """Whether ``token`` is Chinese grammar words (and numbers) glued together: 按渠道, 本月销售额."""
    n = len(token)
    ok = [True] + [False] * n  # ok[i]: token[:i] splits
    for end in range(1, n + 1):
        for start in range(max(0, end - _MAX_PIECE), end):
            if not ok[start]:
                continue
            piece = token[start:end]
            # ASCII runs are numbers, typos and metric names (销售额x, gmv销售额): neutral, like alone
            if piece in vocabulary or (piece.isascii() and piece.isalnum()) or (
                _has_han(piece) and _is_period(piece)
            ):
                ok[end] = True
                break
    return ok[n]


def _chinese(token: str, vocabulary: frozenset[str]) -> bool:
    return _has_han(token) and (token in vocabulary or _is_period(token) or _splits(token, vocabulary))


def _english_period_at(tokens: list[str], i: int) -> int:
    """How many tokens from ``i`` form a period written in English words (0: none)."""
    for n in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
        phrase = " ".join(tokens[i : i + n])
        if phrase.isascii() and _ENGLISH_WORD.search(phrase) and _is_period(phrase):
            return n
    return 0


def question_language(text: str, vocabulary: frozenset[str], is_command: Callable[[str], bool]) -> str | None:
    """"zh" or "en" when the question's counted words are all in that language, else None.

    Text that does not start with a command word is no command, so it holds no names either: a
    sentence with Chinese in it (上周各渠道销售怎么样？, a mistyped command word) is Chinese."""
    text = unicodedata.normalize("NFKC", text).lower()
    words = text.lstrip("/").split()
    if not words or not is_command(words[0].split("@", 1)[0]):
        return "zh" if _has_han(text) else None
    text = _QUOTED.sub(" ", text)
    tokens = [token.split("=", 1)[0].rstrip("!<>") for token in text.lstrip("/").split()]
    if tokens:
        tokens[0] = tokens[0].split("@", 1)[0]  # /kpi@opsbot in Telegram groups
    seen: set[str] = set()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _VS:
            rest = " ".join(tokens[i + 1 : i + 3])
            shared = next((c for c in _SHARED_COMPARISONS if rest == c or rest.startswith(c + " ")), None)
            i += 1 + (len(shared.split()) if shared else 0)
            continue
        if _chinese(token, vocabulary):
            seen.add("zh")
            i += 1
            continue
        span = _english_period_at(tokens, i)
        if span:
            seen.add("en")
        i += max(span, 1)
    return seen.pop() if len(seen) == 1 else None
