"""Argument parsing and reply pieces shared by handlers."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.context import ChatRef, Context, Incoming
from bot.suggest import closest
from bot.text.messages import t
from bot.tokens import QUOTES
from metrics.data.warehouse import Filter, Warehouse
from metrics.errors import BadFilter, BadPeriod, UnknownDimension, UnknownMetric
from metrics.kpis import CATALOG, Kpi, lookup_metric, metric_names
from metrics.periods import Comparison, Period, extract_period

BY_WORDS = ("by", "按")

# A value is a bare word list (`direct,email`) or one name in any quote pair bot.tokens knows
# (`"Paid Search"`, `“Paid Search”`, `「付费搜索」`): phones type curly quotes.
_QUOTED = "|".join(
    f"{re.escape(opener)}[^{re.escape(closers)}]*[{re.escape(closers)}]" for opener, closers in QUOTES.items()
)
_OPENERS = re.escape("".join(QUOTES))
_CONDITION = re.compile(
    rf"""\s*(?P<dim>[^\s=!<>{_OPENERS}]+)\s*(?P<op>!=|==|=)\s*(?P<value>{_QUOTED}|[^\s{_OPENERS}]+)\s*""",
    re.UNICODE,
)


# Ids are what our tables hand out: a few ASCII digits. A longer number cannot name a row, and
# int() of it would not fit an integer column (SQLite: OverflowError; PostgreSQL: out of range).
MAX_ID_DIGITS = 9


def parse_id(word: str) -> int | None:
    """`12` or `#12` → 12; None for anything else (`²`, `١٢`, a 30-digit number...)."""
    digits = word.lstrip("#")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > MAX_ID_DIGITS:
        return None
    return int(digits)


def did_you_mean(word: str, choices: Sequence[str], lang: str) -> str:
    """The "Did you mean X?" sentence when `word` is a close typo of X (bot/suggest.py), else ""."""
    match = closest(word, choices)
    return t(lang, "did_you_mean", choice=match) if match else ""


def parse_metric(ctx: Context, word: str) -> Kpi:
    kpi = lookup_metric(word)
    if kpi is None:
        raise UnknownMetric(
            "unknown_metric",
            name=word[:60],
            suggestion=did_you_mean(word, metric_names(), ctx.lang),
            choices=", ".join(metric_choices()),
        )
    return kpi


def metric_choices() -> list[str]:
    return list(CATALOG)


def parse_dimension(ctx: Context, word: str | None) -> str:
    dims = ctx.warehouse.split_dimensions
    if word is None:
        raise UnknownDimension("missing_dimension", choices=", ".join(dims))
    name = word.lower()
    if name not in dims:
        raise UnknownDimension(
            "unknown_dimension",
            name=word[:60],
            suggestion=did_you_mean(name, dims, ctx.lang),
            choices=", ".join(dims),
        )
    return name


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] in QUOTES and value[-1] in QUOTES[value[0]]:
        return value[1:-1]
    return value


def split_where(raw: str) -> tuple[str, str | None]:
    """The text before `where` and the conditions after it (None when there is no `where`)."""
    m = re.search(r"(?:^|\s)(?:where|筛选)(?:\s+|$)", raw, re.IGNORECASE)
    if not m:
        return raw, None
    return raw[: m.start()], raw[m.end():]


def parse_conditions(ctx: Context, text: str) -> tuple[list[Filter], str]:
    """`region=east and channel!=direct,email` → filters, and the text after the last condition.

    The caller decides whether that leftover (a period or `by` written after the
    conditions) is acceptable.
    """
    if not text.strip():
        raise BadFilter("missing_condition")
    filters: list[Filter] = []
    rest = text
    while rest.strip():
        m = _CONDITION.match(rest)
        if not m:
            if filters:
                return filters, rest
            raise BadFilter("bad_filter", text=rest.strip()[:80])
        dim = parse_dimension(ctx, m["dim"])
        raw = m["value"]
        values = (_unquote(raw),) if raw[0] in QUOTES else tuple(v for v in raw.split(",") if v)
        if not values:
            raise BadFilter("bad_filter", text=m.group(0).strip()[:80])
        filters.append(Filter(dim, values, negate=m["op"] == "!="))
        rest = rest[m.end():]
        joiner = re.match(r"\s*(and|&&|且|并且)\s+", rest, re.IGNORECASE)
        if not joiner:
            return filters, rest
        rest = rest[joiner.end():]
    return filters, rest


@dataclass
class Parsed:
    """The parts every command shares: a period, a comparison, `by`, `where`; `words` is the rest."""

    period: Period | None
    compare: Comparison | None
    by: str | None
    filters: list[Filter]
    words: list[str]


def take_by(tokens: list[str]) -> tuple[str | None, list[str], bool]:
    """Remove `by X`; returns X (None if absent), the rest, and whether `by` had nothing after it."""
    for i, token in enumerate(tokens):
        if token.lower() in BY_WORDS:
            if i + 1 >= len(tokens):
                return None, tokens[:i], True
            return tokens[i + 1], tokens[:i] + tokens[i + 2:], False
    return None, tokens, False


def parse_common(ctx: Context, raw: str, *, by_is_dimension: bool = True) -> Parsed:
    now = ctx.now()
    main, where = split_where(raw)
    filters: list[Filter] = []
    tail: list[str] = []
    if where is not None:
        filters, leftover = parse_conditions(ctx, where)
        tail = leftover.split()
    period, compare, tokens = extract_period(main.split(), now)
    if tail:
        # a period or `by` may follow the conditions; anything else is a broken condition
        tail_period, tail_compare, tail = extract_period(tail, now)
        by_tail, tail, dangling = take_by(tail)
        if tail or dangling:
            raise BadFilter("bad_filter", text=" ".join(tail or ["by"])[:80])
        if tail_period and period and tail_period.bounds() != period.bounds():
            raise BadPeriod("two_periods", first=period.label, second=tail_period.label)
        period = period or tail_period
        compare = compare or tail_compare
        if by_tail:
            tokens += ["by", by_tail]
    by_word, tokens, dangling = take_by(tokens)
    if dangling:
        if by_is_dimension:
            raise UnknownDimension("missing_dimension", choices=", ".join(ctx.warehouse.dimensions))
        raise UnknownMetric("missing_metric", choices=", ".join(metric_choices()))
    by = parse_dimension(ctx, by_word) if by_word and by_is_dimension else by_word
    words = [w for token in tokens for w in token.split(",") if w]
    return Parsed(period, compare, by, filters, words)


def check_filter_values(ctx: Context, warehouse: Warehouse, filters: Sequence[Filter]) -> None:
    """A value no order has is almost always a typo: say so instead of answering zero."""
    from metrics.errors import InputError

    for f in filters:
        known = warehouse.distinct_values(f.dimension)
        for value in f.values:
            if value not in known:
                raise InputError(
                    "unknown_value",
                    dimension=f.dimension,
                    value=value[:60],
                    suggestion=did_you_mean(value, known, ctx.lang),
                )


# ---- row-level scopes ----------------------------------------------------------------------------


def seen_from(ctx: Context, chat: str) -> Context:
    """The same context as `chat` sees the shop: its row-level scope applies to every number."""
    return dataclasses.replace(ctx, incoming=Incoming("", ChatRef.parse(chat), ctx.incoming.user))


def by_scope(ctx: Context, chats: set[str]) -> list[tuple[Context, set[str]]]:
    """Chats grouped by row-level scope, each group with a context that sees what its chats see:
    an alert is detected on the numbers its chat may see, never on the whole shop."""
    groups: dict[tuple[object, ...], set[str]] = {}
    for chat in chats:
        groups.setdefault(tuple(sorted(ctx.settings.access.scope_for(chat).items())), set()).add(chat)
    return [(seen_from(ctx, min(members)), members) for _, members in sorted(groups.items())]
