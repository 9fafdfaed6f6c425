"""Reporting periods: parse what users type ("yesterday", "last 7d", "2026Q4", "本月") into
half-open ranges of business-timezone calendar days, and derive the periods they are compared with.

The meanings are a fixed contract (DESIGN.md, "Conversation"); every command and test relies on them.
`today` below is `now.date()`, where `now` is the naive wall-clock time in the business timezone.

=============================================  ==========================================================
form                                           period
=============================================  ==========================================================
today, 今天                                     today so far: [today, today+1), until=now
yesterday, 昨天 / 前天                          one complete day: today-1 / today-2
last Nd, last N days, 近N天/最近N天/过去N天       the N complete days ending yesterday ("past" = "last")
last Nw, last N weeks, 近N周                     the 7*N complete days ending yesterday (not Monday-aligned)
last Nm, last N months, 近N个月/近N月             the N calendar months ending with the last complete month
                                               (today 2026-11-25: last 3m = [2026-08-01, 2026-11-01))
this week|month|quarter|year, wtd|mtd|qtd|ytd,  from the first day of the current ISO week (Monday) /
本周 本月 本季度 今年/本年                         month / quarter / year through today so far (until=now)
last week|month|quarter|year, 上周 上月 上季度 去年  the previous complete calendar week/month/quarter/year
next week|month|quarter|year, 下周 下月 下季度 明年  the next calendar one (for goals and budgets)
2026-11, 2026年11月                             a calendar month
2026Q4, 2026-q4, 2026年Q4, 2026年第4季度          a calendar quarter
2026, 2026年                                    a calendar year (a bare number counts only for 1900-2999)
2026-W47                                       an ISO week, Monday to Sunday
2026-11-05                                     one day
2026-11-01..2026-11-07                         both days inclusive: [2026-11-01, 2026-11-08)
=============================================  ==========================================================

Matching ignores case and full-width forms; periods in the future parse (the caller decides whether
they make sense). Years must lie in 1900-2999 so that every derived period stays representable.

Comparisons: `previous_period` steps back one calendar unit for calendar periods (March -> February,
2026Q1 -> 2025Q4, 2026-W01 -> 2025-W52) and the same number of days for rolling windows and explicit
ranges; `last 3m` steps back three months. `last_year_period` keeps the dates and moves them a year
back (Feb 29 -> Feb 28), except that whole months, quarters and years map to the whole unit a year
back (February 2029 -> all 29 days of February 2028). A period that includes today so far is
compared like for like: the earlier period is cut after the same elapsed time, and when that cut
reaches its natural end the earlier period is complete (mtd on Mar 31 -> all of February).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from metrics.errors import BadPeriod

__all__ = [
    "Comparison",
    "Period",
    "extract_period",
    "last_year_period",
    "now_in",
    "parse_period",
    "previous_period",
]

# Calendar units a period can be aligned to; "day" and "week" are fixed lengths, the others are not.
Grain = str
DAY, WEEK, MONTH, QUARTER, YEAR = "day", "week", "month", "quarter", "year"

# The window of dates we accept: wide enough for any real shop, narrow enough that stepping a
# period back a year or a span never leaves what `date` can represent.
MIN_DAY = date(1900, 1, 1)
MAX_DAY = date(3000, 1, 1)

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    label: str
    until: datetime | None = None
    # Set when [start, end) is whole calendar units (or, with `until`, the start of one), so that
    # previous_period can step by months instead of days; None for rolling windows and ranges.
    grain: Grain | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty period {self.start}..{self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def as_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    def bounds(self) -> tuple[datetime, datetime]:
        upper = self.until if self.until is not None else _midnight(self.end)
        return _midnight(self.start), upper


@dataclass(frozen=True)
class Comparison:
    kind: str  # "previous" | "last_year" | "explicit"
    period: Period


# ---------------------------------------------------------------------------------------------
# calendar arithmetic


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time())


def _add_months(d: date, months: int) -> date:
    # Only ever called on the first of a month, so there is no day-of-month overflow to settle.
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _unit_start(d: date, grain: Grain) -> date:
    if grain == WEEK:
        return d - timedelta(days=d.weekday())
    if grain == MONTH:
        return d.replace(day=1)
    if grain == QUARTER:
        return date(d.year, (d.month - 1) // 3 * 3 + 1, 1)
    if grain == YEAR:
        return date(d.year, 1, 1)
    return d


def _add_units(d: date, grain: Grain, n: int) -> date:
    if grain == DAY:
        return d + timedelta(days=n)
    if grain == WEEK:
        return d + timedelta(weeks=n)
    return _add_months(d, n * {MONTH: 1, QUARTER: 3, YEAR: 12}[grain])


def _units_between(start: date, end: date, grain: Grain) -> int:
    if grain in (DAY, WEEK):
        return (end - start).days // (7 if grain == WEEK else 1)
    months = (end.year - start.year) * 12 + end.month - start.month
    return months // {MONTH: 1, QUARTER: 3, YEAR: 12}[grain]


def _year_back(d: date) -> date:
    # Feb 29 has no twin a year earlier; the last day of February is the closest like-for-like day.
    if d.month == 2 and d.day == 29:
        return date(d.year - 1, 2, 28)
    return d.replace(year=d.year - 1)


# ---------------------------------------------------------------------------------------------
# builders: each turns a recognised phrase into a Period


def _to_date(grain: Grain, now: datetime, label: str) -> Period:
    today = now.date()
    return Period(_unit_start(today, grain), today + ONE_DAY, label, until=now, grain=grain)


def _calendar(start: date, grain: Grain, label: str) -> Period:
    return Period(start, _add_units(start, grain, 1), label, grain=grain)


def _relative(grain: Grain, offset: int, today: date, label: str) -> Period:
    return _calendar(_add_units(_unit_start(today, grain), grain, offset), grain, label)


def _rolling(n: int, unit: str, today: date) -> Period:
    if n <= 0:
        raise ValueError("a rolling window needs at least one unit")
    label = f"last {n}{unit}"
    if unit == "m":
        end = today.replace(day=1)
        return Period(_add_months(end, -n), end, label, grain=MONTH)
    days = n * 7 if unit == "w" else n
    return Period(today - timedelta(days=days), today, label)


def _year(text: str) -> int:
    year = int(text)
    if not MIN_DAY.year <= year < MAX_DAY.year:
        raise ValueError(f"year {year} out of range")
    return year


def _ymd(y: str, m: str, d: str) -> date:
    return date(_year(y), int(m), int(d))


def _quarter(y: str, q: str) -> Period:
    number = int(_CN_DIGITS.get(q, q))
    if not 1 <= number <= 4:
        raise ValueError(f"quarter {number} out of range")
    year = _year(y)
    return _calendar(date(year, number * 3 - 2, 1), QUARTER, f"{year}Q{number}")


def _iso_week(y: str, w: str) -> Period:
    year, week = _year(y), int(w)
    # fromisocalendar rejects week 53 in a 52-week year, which is exactly the check we want.
    start = date.fromisocalendar(year, week, 1)
    return _calendar(start, WEEK, f"{year}-W{week:02d}")


def _month(y: str, m: str) -> Period:
    start = date(_year(y), int(m), 1)
    return _calendar(start, MONTH, f"{start.year}-{start.month:02d}")


def _single_day(d: date) -> Period:
    return Period(d, d + ONE_DAY, d.isoformat(), grain=DAY)


def _day_range(a: date, b: date) -> Period:
    if b < a:
        raise ValueError("range ends before it starts")
    return Period(a, b + ONE_DAY, f"{a.isoformat()}..{b.isoformat()}")


# ---------------------------------------------------------------------------------------------
# the grammar


_CN_DIGITS = {"一": "1", "二": "2", "三": "3", "四": "4"}

_UNIT_WORDS = {
    "d": "d", "day": "d", "days": "d", "天": "d", "日": "d",
    "w": "w", "week": "w", "weeks": "w", "周": "w", "个星期": "w", "星期": "w",
    "m": "m", "month": "m", "months": "m", "个月": "m", "月": "m",
}  # fmt: skip

_GRAIN_WORDS = {"week": WEEK, "month": MONTH, "quarter": QUARTER, "year": YEAR}
_TO_DATE = {"wtd": WEEK, "mtd": MONTH, "qtd": QUARTER, "ytd": YEAR}
_OFFSETS = {"last": -1, "next": 1}

# Chinese words mapped onto the English phrase they mean, so labels stay canonical English.
_CHINESE = {
    "今天": "today", "昨天": "yesterday",
    "本周": "this week", "这周": "this week", "上周": "last week", "下周": "next week",
    "本月": "this month", "这个月": "this month", "上月": "last month", "上个月": "last month",
    "下月": "next month", "下个月": "next month",
    "本季度": "this quarter", "这个季度": "this quarter", "上季度": "last quarter",
    "上个季度": "last quarter", "下季度": "next quarter", "下个季度": "next quarter",
    "今年": "this year", "本年": "this year", "去年": "last year", "明年": "next year",
}  # fmt: skip

_Builder = Callable[[re.Match[str], datetime], Period]

_DATE = r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
# Only plausible years: a bare number is more often an amount ("budget 5000 next month").
_BARE_YEAR = re.compile(r"(?:19|2[0-9])[0-9]{2}")


def _words(m: re.Match[str], now: datetime) -> Period:
    phrase = _CHINESE.get(m[0], m[0])
    today = now.date()
    if phrase == "today":
        return _to_date(DAY, now, "today")
    if phrase == "yesterday":
        return Period(today - ONE_DAY, today, "yesterday", grain=DAY)
    if phrase == "前天":
        return _single_day(today - 2 * ONE_DAY)
    if phrase in _TO_DATE:
        return _to_date(_TO_DATE[phrase], now, phrase)
    which, unit = phrase.split(" ")
    if which == "this":
        return _to_date(_GRAIN_WORDS[unit], now, phrase)
    return _relative(_GRAIN_WORDS[unit], _OFFSETS[which], today, phrase)


def _rolling_match(m: re.Match[str], now: datetime) -> Period:
    return _rolling(int(m["n"]), _UNIT_WORDS[m["unit"]], now.date())


_WORD_PATTERN = "|".join(
    re.escape(w)
    for w in sorted(
        ["today", "yesterday", "前天", *_TO_DATE, *_CHINESE]
        + [f"{which} {unit}" for which in ("this", "last", "next") for unit in _GRAIN_WORDS],
        key=len,
        reverse=True,
    )
)
_UNIT_PATTERN = "|".join(re.escape(u) for u in sorted(_UNIT_WORDS, key=len, reverse=True))

# Every pattern must match the whole (normalized) phrase, so no rule can steal another's text.
_RULES: list[tuple[re.Pattern[str], _Builder]] = [
    (re.compile(_WORD_PATTERN), _words),
    (re.compile(rf"(?:last|past) ?(?P<n>[0-9]+) ?(?P<unit>{_UNIT_PATTERN})"), _rolling_match),
    (re.compile(rf"(?:最近|近|过去) ?(?P<n>[0-9]+) ?(?P<unit>{_UNIT_PATTERN})"), _rolling_match),
    (
        re.compile(rf"{_DATE}\.\.{_DATE}"),
        lambda m, _: _day_range(_ymd(*m.groups()[:3]), _ymd(*m.groups()[3:])),
    ),
    (re.compile(_DATE), lambda m, _: _single_day(_ymd(*m.groups()))),
    (re.compile(r"([0-9]{4})-([0-9]{1,2})"), lambda m, _: _month(*m.groups())),
    (re.compile(r"([0-9]{4})年([0-9]{1,2})月"), lambda m, _: _month(*m.groups())),
    (re.compile(r"([0-9]{4})-?q([0-9])"), lambda m, _: _quarter(*m.groups())),
    (re.compile(r"([0-9]{4})年q([0-9])"), lambda m, _: _quarter(*m.groups())),
    (re.compile(r"([0-9]{4})年第?([0-9一二三四])季度"), lambda m, _: _quarter(*m.groups())),
    (re.compile(r"([0-9]{4})-?w([0-9]{1,2})"), lambda m, _: _iso_week(*m.groups())),
    (re.compile(r"([0-9]{4})年"), lambda m, _: _calendar(date(_year(m[1]), 1, 1), YEAR, m[1])),
    (_BARE_YEAR, lambda m, _: _calendar(date(int(m[0]), 1, 1), YEAR, m[0])),
]


def _normalize(text: str) -> str:
    # NFKC folds full-width digits and letters that Chinese input methods produce ("２０２６Ｑ４").
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = re.sub(r"\s*\.\.\s*", "..", folded)
    # a range as the bot prints it ("2026-11-01 – 2026-11-10", "2026-11-01 至 2026-11-10") reads back
    folded = _PRINTED_RANGE.sub(r"\1..\2", folded)
    return re.sub(r"\s+", " ", folded).strip()


_DAY_TEXT = r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
_PRINTED_RANGE = re.compile(rf"({_DAY_TEXT})\s*(?:–|—|~|～|至|\s-\s|\sto\s)\s*({_DAY_TEXT})")


def _match(text: str, now: datetime) -> Period | None:
    """The period `text` names, None when it does not look like one at all.

    Text shaped like a period but impossible ("2026-13", "last 0d") raises BadPeriod rather than
    returning None, so the user hears about the typo instead of it passing as some other word."""
    if now.tzinfo is not None:
        raise ValueError("now must be a naive local datetime in the business timezone")
    norm = _normalize(text)
    for pattern, build in _RULES:
        m = pattern.fullmatch(norm)
        if m is None:
            continue
        try:
            period = build(m, now)
        except (ValueError, OverflowError) as exc:
            raise BadPeriod("bad_period", text=text) from exc
        if period.start < MIN_DAY or period.end > MAX_DAY:
            raise BadPeriod("bad_period", text=text)
        return period
    return None


def parse_period(text: str, now: datetime) -> Period:
    period = _match(text, now)
    if period is None:
        raise BadPeriod("bad_period", text=text)
    return period


# ---------------------------------------------------------------------------------------------
# comparisons


def _cut_like(full: Period, partial: Period) -> Period:
    """`full` cut after as much time as has elapsed in `partial`, so a period in progress is
    compared with the same stretch of the earlier one rather than with all of it."""
    if partial.until is None:
        return full
    until = _midnight(full.start) + (partial.until - _midnight(partial.start))
    if until >= _midnight(full.end):
        return full
    end = min(until.date() + ONE_DAY, full.end)
    return Period(full.start, end, full.label, until=until, grain=full.grain)


def previous_period(p: Period) -> Period:
    if p.grain is None:
        full = Period(p.start - timedelta(days=p.days), p.start, "previous")
    else:
        # A period in progress is one unit long even though its `end` stops at today.
        whole_end = p.end if p.until is None else _add_units(p.start, p.grain, 1)
        n = _units_between(p.start, whole_end, p.grain)
        full = Period(_add_units(p.start, p.grain, -n), p.start, "previous", grain=p.grain)
    return _cut_like(full, p)


def last_year_period(p: Period) -> Period:
    start = _year_back(p.start)
    if p.until is None and p.grain in (MONTH, QUARTER, YEAR):
        # A whole month a year back is that whole month, so February 2029 meets all of February 2028.
        end = _year_back(p.end)
    else:
        # Shift the last day rather than `end`, so a period ending on Feb 28 of a leap year still
        # covers Feb 28 a year earlier instead of collapsing.
        end = _year_back(p.end - ONE_DAY) + ONE_DAY
    until = None if p.until is None else datetime.combine(_year_back(p.until.date()), p.until.time())
    # The same dates a year earlier no longer start on a Monday, so they are no longer an ISO week.
    grain = None if p.grain == WEEK else p.grain
    return Period(start, end, "last year", until=until, grain=grain)


# ---------------------------------------------------------------------------------------------
# scanning a command


_VS_WORDS = {"vs", "vs.", "versus", "对比"}
# Words after "vs" that name a derived comparison rather than a period of their own; "vs last
# year" means the same dates a year ago, not the calendar year before.
_COMPARE_AFTER_VS = {
    "previous": "previous", "prev": "previous", "previous period": "previous", "上期": "previous",
    "last year": "last_year", "去年": "last_year", "去年同期": "last_year", "同期": "last_year",
}  # fmt: skip
_COMPARE_WORDS = {"环比": "previous", "同比": "last_year", "对比上期": "previous", "对比去年": "last_year"}

# The longest phrase a period or comparison is written in: "last 7 days", "2026-11-01 .. 2026-11-07".
_MAX_PHRASE = 3


@dataclass(frozen=True)
class _Found:
    position: int
    text: str
    period: Period
    weak: bool


def _phrase_at(tokens: list[str], i: int, now: datetime) -> tuple[Period, int] | None:
    """The longest period phrase starting at token i and how many tokens it spans."""
    for n in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
        period = _match(" ".join(tokens[i : i + n]), now)
        if period is not None:
            return period, n
    return None


def _compare_word_at(tokens: list[str], i: int) -> tuple[str, int] | None:
    for n in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
        kind = _COMPARE_AFTER_VS.get(_normalize(" ".join(tokens[i : i + n])))
        if kind is not None:
            return kind, n
    return None


def _resolve_comparison(spec: str | Period, primary: Period) -> Comparison:
    if isinstance(spec, Period):
        return Comparison("explicit", spec)
    if spec == "previous":
        return Comparison("previous", previous_period(primary))
    return Comparison("last_year", last_year_period(primary))


def _single_period(found: list[_Found]) -> _Found | None:
    # A bare number such as "2000" is a year only when nothing else names the period, so that
    # "budget 2000 next month" keeps its amount.
    candidates = [f for f in found if not f.weak] or found
    if not candidates:
        return None
    first = candidates[0]
    for other in candidates[1:]:
        # "this month" and "mtd" differ only in label: the same period said twice is not two.
        if _span(other.period) != _span(first.period):
            raise BadPeriod("two_periods", first=first.text, second=other.text)
    return first


def _span(p: Period) -> tuple[date, date, datetime | None]:
    return p.start, p.end, p.until


def extract_period(tokens: list[str], now: datetime) -> tuple[Period | None, Comparison | None, list[str]]:
    """Take one period phrase and at most one comparison out of a tokenized command.

    Returns the period (None when the command names none: the caller applies its default), the
    comparison, and the other tokens in their order. A comparison without a period is made against
    yesterday, the default of every command, and that period is returned with it."""
    found: list[_Found] = []
    comparisons: list[tuple[str, str | Period]] = []
    kept: list[tuple[int, str]] = []
    i = 0
    while i < len(tokens):
        word = _normalize(tokens[i])
        if word in _COMPARE_WORDS:
            comparisons.append((tokens[i], _COMPARE_WORDS[word]))
            i += 1
        elif word in _VS_WORDS:
            named = _compare_word_at(tokens, i + 1)
            phrase = None if named else _phrase_at(tokens, i + 1, now)
            if named is not None:
                spec, n = named
            elif phrase is not None:
                spec, n = phrase
            else:
                raise BadPeriod("bad_compare", text=" ".join(tokens[i : i + 2]))
            comparisons.append((" ".join(tokens[i : i + 1 + n]), spec))
            i += 1 + n
        elif (phrase := _phrase_at(tokens, i, now)) is not None:
            period, n = phrase
            text = " ".join(tokens[i : i + n])
            weak = n == 1 and _BARE_YEAR.fullmatch(_normalize(text)) is not None
            found.append(_Found(i, text, period, weak))
            i += n
        else:
            kept.append((i, tokens[i]))
            i += 1

    chosen = _single_period(found)
    # Bare years that lost to a real period phrase go back to the command as ordinary words.
    kept += [(f.position, f.text) for f in found if f.weak and chosen is not None and not chosen.weak]
    rest = [token for _, token in sorted(kept)]

    if len({spec for _, spec in comparisons}) > 1:
        # bot/text/messages.py has no message for this case yet; "can't read the comparison" fits it.
        raise BadPeriod("bad_compare", text=comparisons[1][0])
    period = chosen.period if chosen is not None else None
    if not comparisons:
        return period, None, rest
    if period is None:
        period = parse_period("yesterday", now)
    return period, _resolve_comparison(comparisons[0][1], period), rest


def now_in(tz: str | ZoneInfo, *, at: datetime | None = None) -> datetime:
    """The naive wall-clock time in `tz`: what the business calls "now" (and today's date).

    `at` is the aware instant to convert, for tests and replays; by default the current one."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    instant = datetime.now(UTC) if at is None else at
    if instant.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    return instant.astimezone(zone).replace(tzinfo=None)
