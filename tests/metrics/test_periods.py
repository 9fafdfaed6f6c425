"""Period parsing and comparisons: the contract of DESIGN.md "Conversation", one row per rule.

Every expected date below was worked out by hand from a calendar, not by calling the code."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.errors import BadPeriod, InputError
from metrics.periods import (
    Comparison,
    Period,
    extract_period,
    last_year_period,
    now_in,
    parse_period,
    previous_period,
)

D = date.fromisoformat
T = datetime.fromisoformat

# Wednesday of ISO week 2026-W48 (Monday 2026-11-23).
NOW = T("2026-11-25 10:00")


def span(p: Period) -> tuple[date, date, datetime | None]:
    return p.start, p.end, p.until


# ---------------------------------------------------------------------------------------------
# parse_period at NOW: (text, start, end, label, until)

AT_NOW = [
    # today so far and single days
    ("today", "2026-11-25", "2026-11-26", "today", NOW),
    ("Today", "2026-11-25", "2026-11-26", "today", NOW),
    ("今天", "2026-11-25", "2026-11-26", "today", NOW),
    ("yesterday", "2026-11-24", "2026-11-25", "yesterday", None),
    ("YESTERDAY", "2026-11-24", "2026-11-25", "yesterday", None),
    ("昨天", "2026-11-24", "2026-11-25", "yesterday", None),
    ("前天", "2026-11-23", "2026-11-24", "2026-11-23", None),
    # rolling windows ending yesterday
    ("last 7d", "2026-11-18", "2026-11-25", "last 7d", None),
    ("last 7 days", "2026-11-18", "2026-11-25", "last 7d", None),
    ("Last 7D", "2026-11-18", "2026-11-25", "last 7d", None),
    ("last 1d", "2026-11-24", "2026-11-25", "last 1d", None),
    ("last 30d", "2026-10-26", "2026-11-25", "last 30d", None),
    ("last 90d", "2026-08-27", "2026-11-25", "last 90d", None),
    ("近7天", "2026-11-18", "2026-11-25", "last 7d", None),
    ("最近7天", "2026-11-18", "2026-11-25", "last 7d", None),
    ("过去7天", "2026-11-18", "2026-11-25", "last 7d", None),
    ("近30天", "2026-10-26", "2026-11-25", "last 30d", None),
    ("last 4w", "2026-10-28", "2026-11-25", "last 4w", None),
    ("last 4 weeks", "2026-10-28", "2026-11-25", "last 4w", None),
    ("last 12w", "2026-09-02", "2026-11-25", "last 12w", None),
    ("近4周", "2026-10-28", "2026-11-25", "last 4w", None),
    ("last 3m", "2026-08-01", "2026-11-01", "last 3m", None),
    ("last 3 months", "2026-08-01", "2026-11-01", "last 3m", None),
    ("last 1m", "2026-10-01", "2026-11-01", "last 1m", None),
    ("last 12m", "2025-11-01", "2026-11-01", "last 12m", None),
    ("近3个月", "2026-08-01", "2026-11-01", "last 3m", None),
    ("近3月", "2026-08-01", "2026-11-01", "last 3m", None),
    # to date: from the unit's first day through today so far
    ("this week", "2026-11-23", "2026-11-26", "this week", NOW),
    ("wtd", "2026-11-23", "2026-11-26", "wtd", NOW),
    ("本周", "2026-11-23", "2026-11-26", "this week", NOW),
    ("this month", "2026-11-01", "2026-11-26", "this month", NOW),
    ("mtd", "2026-11-01", "2026-11-26", "mtd", NOW),
    ("MTD", "2026-11-01", "2026-11-26", "mtd", NOW),
    ("本月", "2026-11-01", "2026-11-26", "this month", NOW),
    ("this quarter", "2026-10-01", "2026-11-26", "this quarter", NOW),
    ("qtd", "2026-10-01", "2026-11-26", "qtd", NOW),
    ("本季度", "2026-10-01", "2026-11-26", "this quarter", NOW),
    ("this year", "2026-01-01", "2026-11-26", "this year", NOW),
    ("ytd", "2026-01-01", "2026-11-26", "ytd", NOW),
    ("今年", "2026-01-01", "2026-11-26", "this year", NOW),
    ("本年", "2026-01-01", "2026-11-26", "this year", NOW),
    # previous complete calendar units
    ("last week", "2026-11-16", "2026-11-23", "last week", None),
    ("上周", "2026-11-16", "2026-11-23", "last week", None),
    ("last month", "2026-10-01", "2026-11-01", "last month", None),
    ("上月", "2026-10-01", "2026-11-01", "last month", None),
    ("上个月", "2026-10-01", "2026-11-01", "last month", None),
    ("last quarter", "2026-07-01", "2026-10-01", "last quarter", None),
    ("上季度", "2026-07-01", "2026-10-01", "last quarter", None),
    ("last year", "2025-01-01", "2026-01-01", "last year", None),
    ("去年", "2025-01-01", "2026-01-01", "last year", None),
    # next calendar units (budgets and goals)
    ("next week", "2026-11-30", "2026-12-07", "next week", None),
    ("next month", "2026-12-01", "2027-01-01", "next month", None),
    ("下月", "2026-12-01", "2027-01-01", "next month", None),
    ("next quarter", "2027-01-01", "2027-04-01", "next quarter", None),
    ("next year", "2027-01-01", "2028-01-01", "next year", None),
    ("明年", "2027-01-01", "2028-01-01", "next year", None),
    # months
    ("2026-11", "2026-11-01", "2026-12-01", "2026-11", None),
    ("2026-12", "2026-12-01", "2027-01-01", "2026-12", None),
    ("2026-1", "2026-01-01", "2026-02-01", "2026-01", None),
    ("2028-02", "2028-02-01", "2028-03-01", "2028-02", None),
    ("2026年11月", "2026-11-01", "2026-12-01", "2026-11", None),
    # quarters
    ("2026Q4", "2026-10-01", "2027-01-01", "2026Q4", None),
    ("2026-Q4", "2026-10-01", "2027-01-01", "2026Q4", None),
    ("2026q4", "2026-10-01", "2027-01-01", "2026Q4", None),
    ("2026Q1", "2026-01-01", "2026-04-01", "2026Q1", None),
    ("2026Q2", "2026-04-01", "2026-07-01", "2026Q2", None),
    ("2026Q3", "2026-07-01", "2026-10-01", "2026Q3", None),
    ("2027Q1", "2027-01-01", "2027-04-01", "2027Q1", None),
    ("2026年Q4", "2026-10-01", "2027-01-01", "2026Q4", None),
    ("2026年第4季度", "2026-10-01", "2027-01-01", "2026Q4", None),
    ("2026年第四季度", "2026-10-01", "2027-01-01", "2026Q4", None),
    ("2026年3季度", "2026-07-01", "2026-10-01", "2026Q3", None),
    ("２０２６Ｑ４", "2026-10-01", "2027-01-01", "2026Q4", None),
    # years
    ("2026", "2026-01-01", "2027-01-01", "2026", None),
    ("2026年", "2026-01-01", "2027-01-01", "2026", None),
    ("2028", "2028-01-01", "2029-01-01", "2028", None),
    # ISO weeks, Monday to Sunday; 2026 has 53 (Jan 1 2026 is a Thursday)
    ("2026-W47", "2026-11-16", "2026-11-23", "2026-W47", None),
    ("2026-w47", "2026-11-16", "2026-11-23", "2026-W47", None),
    ("2026W47", "2026-11-16", "2026-11-23", "2026-W47", None),
    ("2026-W01", "2025-12-29", "2026-01-05", "2026-W01", None),
    ("2026-W1", "2025-12-29", "2026-01-05", "2026-W01", None),
    ("2026-W53", "2026-12-28", "2027-01-04", "2026-W53", None),
    ("2027-W01", "2027-01-04", "2027-01-11", "2027-W01", None),
    ("2020-W53", "2020-12-28", "2021-01-04", "2020-W53", None),
    # days and ranges (both ends inclusive)
    ("2026-11-05", "2026-11-05", "2026-11-06", "2026-11-05", None),
    ("2026-12-31", "2026-12-31", "2027-01-01", "2026-12-31", None),
    ("2028-02-29", "2028-02-29", "2028-03-01", "2028-02-29", None),
    ("2026-11-01..2026-11-07", "2026-11-01", "2026-11-08", "2026-11-01..2026-11-07", None),
    ("2026-11-01 .. 2026-11-07", "2026-11-01", "2026-11-08", "2026-11-01..2026-11-07", None),
    ("2026-11-5..2026-11-5", "2026-11-05", "2026-11-06", "2026-11-05..2026-11-05", None),
    ("2026-12-30..2027-01-02", "2026-12-30", "2027-01-03", "2026-12-30..2027-01-02", None),
    ("2028-02-28..2028-03-01", "2028-02-28", "2028-03-02", "2028-02-28..2028-03-01", None),
    # future single periods parse; the caller decides what to do with them
    ("2030-06", "2030-06-01", "2030-07-01", "2030-06", None),
]


@pytest.mark.parametrize(("text", "start", "end", "label", "until"), AT_NOW)
def test_parse_period_at_now(text: str, start: str, end: str, label: str, until: datetime | None) -> None:
    p = parse_period(text, NOW)
    assert (p.start, p.end, p.label, p.until) == (D(start), D(end), label, until)


# Relative forms when "now" sits on a boundary: (now, text, start, end, partial)
BOUNDARIES = [
    # New Year's Day (a Thursday) at midnight
    ("2026-01-01 00:00", "today", "2026-01-01", "2026-01-02", True),
    ("2026-01-01 00:00", "yesterday", "2025-12-31", "2026-01-01", False),
    ("2026-01-01 00:00", "前天", "2025-12-30", "2025-12-31", False),
    ("2026-01-01 00:00", "last 7d", "2025-12-25", "2026-01-01", False),
    ("2026-01-01 00:00", "last 3m", "2025-10-01", "2026-01-01", False),
    ("2026-01-01 00:00", "this week", "2025-12-29", "2026-01-02", True),
    ("2026-01-01 00:00", "last week", "2025-12-22", "2025-12-29", False),
    ("2026-01-01 00:00", "this month", "2026-01-01", "2026-01-02", True),
    ("2026-01-01 00:00", "last month", "2025-12-01", "2026-01-01", False),
    ("2026-01-01 00:00", "this quarter", "2026-01-01", "2026-01-02", True),
    ("2026-01-01 00:00", "last quarter", "2025-10-01", "2026-01-01", False),
    ("2026-01-01 00:00", "ytd", "2026-01-01", "2026-01-02", True),
    ("2026-01-01 00:00", "last year", "2025-01-01", "2026-01-01", False),
    # New Year's Eve (a Thursday) a minute before midnight
    ("2026-12-31 23:59", "today", "2026-12-31", "2027-01-01", True),
    ("2026-12-31 23:59", "this week", "2026-12-28", "2027-01-01", True),
    ("2026-12-31 23:59", "next week", "2027-01-04", "2027-01-11", False),
    ("2026-12-31 23:59", "mtd", "2026-12-01", "2027-01-01", True),
    ("2026-12-31 23:59", "qtd", "2026-10-01", "2027-01-01", True),
    ("2026-12-31 23:59", "this year", "2026-01-01", "2027-01-01", True),
    ("2026-12-31 23:59", "next month", "2027-01-01", "2027-02-01", False),
    ("2026-12-31 23:59", "next quarter", "2027-01-01", "2027-04-01", False),
    ("2026-12-31 23:59", "last 1m", "2026-11-01", "2026-12-01", False),
    # first day of a quarter
    ("2026-04-01 08:00", "this quarter", "2026-04-01", "2026-04-02", True),
    ("2026-04-01 08:00", "last quarter", "2026-01-01", "2026-04-01", False),
    ("2026-04-01 08:00", "last month", "2026-03-01", "2026-04-01", False),
    ("2026-07-01 08:00", "qtd", "2026-07-01", "2026-07-02", True),
    ("2026-10-01 08:00", "上季度", "2026-07-01", "2026-10-01", False),
    # last day of a quarter
    ("2026-06-30 08:00", "this quarter", "2026-04-01", "2026-07-01", True),
    ("2026-06-30 08:00", "next quarter", "2026-07-01", "2026-10-01", False),
    # a Monday and a Sunday
    ("2026-03-02 09:00", "this week", "2026-03-02", "2026-03-03", True),
    ("2026-03-02 09:00", "last week", "2026-02-23", "2026-03-02", False),
    ("2026-11-29 09:00", "this week", "2026-11-23", "2026-11-30", True),
    ("2026-11-29 09:00", "last week", "2026-11-16", "2026-11-23", False),
    # leap day and the day after
    ("2028-02-29 12:00", "today", "2028-02-29", "2028-03-01", True),
    ("2028-02-29 12:00", "yesterday", "2028-02-28", "2028-02-29", False),
    ("2028-02-29 12:00", "mtd", "2028-02-01", "2028-03-01", True),
    ("2028-02-29 12:00", "last 7d", "2028-02-22", "2028-02-29", False),
    ("2028-02-29 12:00", "last 1m", "2028-01-01", "2028-02-01", False),
    ("2028-03-01 09:00", "yesterday", "2028-02-29", "2028-03-01", False),
    ("2028-03-01 09:00", "last month", "2028-02-01", "2028-03-01", False),
    ("2028-03-01 09:00", "last 30d", "2028-01-31", "2028-03-01", False),
    ("2028-03-01 09:00", "last 3m", "2027-12-01", "2028-03-01", False),
]


@pytest.mark.parametrize(("now", "text", "start", "end", "partial"), BOUNDARIES)
def test_parse_period_on_boundaries(now: str, text: str, start: str, end: str, partial: bool) -> None:
    p = parse_period(text, T(now))
    assert span(p) == (D(start), D(end), T(now) if partial else None)


@pytest.mark.parametrize(
    "text",
    [
        "last 0d",
        "last 0w",
        "近0天",
        "2026-13",
        "2026-00",
        "2026-02-30",
        "2027-02-29",
        "2026-11-31",
        "2026-11-07..2026-11-01",
        "2026-11-05..",
        "..2026-11-05",
        "2026Q5",
        "2026Q0",
        "2027-W53",
        "2026-W00",
        "2026-W54",
        "1899-12",
        "1899",
        "3000",
        "last 100000d",
        "last 99999999999999999999d",
        "blah",
        "",
        "   ",
        "vs",
        "last",
        "last 7",
        "this",
        "this decade",
        "yesterday yesterday",
    ],
)
def test_parse_period_rejects(text: str) -> None:
    with pytest.raises(BadPeriod) as caught:
        parse_period(text, NOW)
    assert caught.value.key == "bad_period"
    assert caught.value.params == {"text": text}
    assert isinstance(caught.value, InputError)
    assert isinstance(caught.value, ValueError)


def test_parse_period_wants_a_naive_now() -> None:
    with pytest.raises(ValueError, match="naive"):
        parse_period("today", datetime(2026, 11, 25, 10, tzinfo=UTC))


def test_this_month_and_mtd_are_the_same_period() -> None:
    a, b = parse_period("this month", NOW), parse_period("mtd", NOW)
    assert span(a) == span(b)
    assert (a.label, b.label) == ("this month", "mtd")


# ---------------------------------------------------------------------------------------------
# Period itself


def test_complete_period_helpers() -> None:
    p = Period(D("2026-11-01"), D("2026-11-08"), "2026-11-01..2026-11-07")
    assert p.days == 7
    assert p.as_json() == {"start": "2026-11-01", "end": "2026-11-08"}
    assert p.bounds() == (T("2026-11-01 00:00"), T("2026-11-08 00:00"))


def test_partial_period_helpers() -> None:
    p = Period(D("2026-11-01"), D("2026-11-26"), "mtd", until=NOW)
    assert p.days == 25
    assert p.as_json() == {"start": "2026-11-01", "end": "2026-11-26"}
    assert p.bounds() == (T("2026-11-01 00:00"), NOW)


def test_period_must_not_be_empty() -> None:
    with pytest.raises(ValueError):
        Period(D("2026-11-01"), D("2026-11-01"), "nothing")


# ---------------------------------------------------------------------------------------------
# previous_period: (now, text, start, end, until)

PREVIOUS = [
    ("2026-11-25 10:00", "yesterday", "2026-11-23", "2026-11-24", None),
    ("2026-11-25 10:00", "2026-11-05", "2026-11-04", "2026-11-05", None),
    ("2026-11-25 10:00", "last 7d", "2026-11-11", "2026-11-18", None),
    ("2026-11-25 10:00", "last 4w", "2026-09-30", "2026-10-28", None),
    ("2026-11-25 10:00", "last 3m", "2026-05-01", "2026-08-01", None),
    ("2026-11-25 10:00", "2026-11-01..2026-11-07", "2026-10-25", "2026-11-01", None),
    # a range that happens to cover a month is still stepped back by its days, not as a month
    ("2026-11-25 10:00", "2026-03-01..2026-03-31", "2026-01-29", "2026-03-01", None),
    # calendar units step back one unit, whatever its length
    ("2026-11-25 10:00", "2026-03", "2026-02-01", "2026-03-01", None),
    ("2026-11-25 10:00", "2026-01", "2025-12-01", "2026-01-01", None),
    ("2026-11-25 10:00", "2028-03", "2028-02-01", "2028-03-01", None),
    ("2026-11-25 10:00", "last month", "2026-09-01", "2026-10-01", None),
    ("2026-11-25 10:00", "2026Q1", "2025-10-01", "2026-01-01", None),
    ("2026-11-25 10:00", "2026Q3", "2026-04-01", "2026-07-01", None),
    ("2026-11-25 10:00", "2026", "2025-01-01", "2026-01-01", None),
    ("2026-11-25 10:00", "2026-W47", "2026-11-09", "2026-11-16", None),
    ("2026-11-25 10:00", "2027-W01", "2026-12-28", "2027-01-04", None),
    ("2026-11-25 10:00", "2026-W01", "2025-12-22", "2025-12-29", None),
    # periods in progress: cut after the same elapsed time
    ("2026-11-25 10:00", "today", "2026-11-24", "2026-11-25", "2026-11-24 10:00"),
    ("2026-11-25 10:00", "this week", "2026-11-16", "2026-11-19", "2026-11-18 10:00"),
    ("2026-11-25 10:00", "mtd", "2026-10-01", "2026-10-26", "2026-10-25 10:00"),
    ("2026-11-25 10:00", "qtd", "2026-07-01", "2026-08-26", "2026-08-25 10:00"),
    ("2026-11-25 10:00", "ytd", "2025-01-01", "2025-11-26", "2025-11-25 10:00"),
    ("2026-03-01 00:00", "mtd", "2026-02-01", "2026-02-02", "2026-02-01 00:00"),
    ("2026-03-28 18:00", "mtd", "2026-02-01", "2026-03-01", "2026-02-28 18:00"),
    # the cut would run past the end of a shorter previous unit: that unit is then complete
    ("2026-03-29 00:00", "mtd", "2026-02-01", "2026-03-01", None),
    ("2026-03-31 18:00", "mtd", "2026-02-01", "2026-03-01", None),
    ("2028-12-31 12:00", "ytd", "2027-01-01", "2028-01-01", None),
]


@pytest.mark.parametrize(("now", "text", "start", "end", "until"), PREVIOUS)
def test_previous_period(now: str, text: str, start: str, end: str, until: str | None) -> None:
    prev = previous_period(parse_period(text, T(now)))
    assert span(prev) == (D(start), D(end), T(until) if until else None)
    assert prev.label == "previous"


def test_previous_of_previous_keeps_stepping_by_months() -> None:
    p = previous_period(previous_period(parse_period("2026-03", NOW)))
    assert span(p) == (D("2026-01-01"), D("2026-02-01"), None)


# ---------------------------------------------------------------------------------------------
# last_year_period: (now, text, start, end, until)

LAST_YEAR = [
    ("2026-11-25 10:00", "2026-11-05", "2025-11-05", "2025-11-06", None),
    ("2026-11-25 10:00", "yesterday", "2025-11-24", "2025-11-25", None),
    ("2026-11-25 10:00", "last 7d", "2025-11-18", "2025-11-25", None),
    ("2026-11-25 10:00", "2026Q4", "2025-10-01", "2026-01-01", None),
    ("2026-11-25 10:00", "2026", "2025-01-01", "2026-01-01", None),
    # the same dates, even though they no longer start on a Monday
    ("2026-11-25 10:00", "2026-W47", "2025-11-16", "2025-11-23", None),
    ("2026-11-25 10:00", "mtd", "2025-11-01", "2025-11-26", "2025-11-25 10:00"),
    ("2026-11-25 10:00", "today", "2025-11-25", "2025-11-26", "2025-11-25 10:00"),
    # Feb 29 has no twin: it becomes Feb 28
    ("2026-11-25 10:00", "2028-02-29", "2027-02-28", "2027-03-01", None),
    ("2026-11-25 10:00", "2028-02-28", "2027-02-28", "2027-03-01", None),
    ("2026-11-25 10:00", "2028-02", "2027-02-01", "2027-03-01", None),
    ("2026-11-25 10:00", "2028-02-20..2028-02-29", "2027-02-20", "2027-03-01", None),
    ("2026-11-25 10:00", "2028-02-29..2028-03-02", "2027-02-28", "2027-03-03", None),
    ("2028-02-29 10:00", "today", "2027-02-28", "2027-03-01", "2027-02-28 10:00"),
    ("2028-02-29 10:00", "ytd", "2027-01-01", "2027-03-01", "2027-02-28 10:00"),
    ("2028-02-29 10:00", "last 7d", "2027-02-22", "2027-03-01", None),
    # into a leap year: a whole month maps to the whole month, Feb 29 included...
    ("2029-03-01 10:00", "last month", "2028-02-01", "2028-03-01", None),
    ("2029-03-01 10:00", "2029-02", "2028-02-01", "2028-03-01", None),
    ("2029-03-01 10:00", "last 1m", "2028-02-01", "2028-03-01", None),
    # ...but dates stay dates: Feb 28 stays Feb 28, and Feb 29 is not covered
    ("2029-03-01 10:00", "yesterday", "2028-02-28", "2028-02-29", None),
    ("2029-03-01 10:00", "2029-02-01..2029-02-28", "2028-02-01", "2028-02-29", None),
    ("2029-03-01 10:00", "last 7d", "2028-02-22", "2028-02-29", None),
    # a month in progress keeps its like-for-like cut
    ("2029-02-28 10:00", "mtd", "2028-02-01", "2028-02-29", "2028-02-28 10:00"),
]


@pytest.mark.parametrize(("now", "text", "start", "end", "until"), LAST_YEAR)
def test_last_year_period(now: str, text: str, start: str, end: str, until: str | None) -> None:
    ly = last_year_period(parse_period(text, T(now)))
    assert span(ly) == (D(start), D(end), T(until) if until else None)
    assert ly.label == "last year"


# ---------------------------------------------------------------------------------------------
# extract_period on whole commands at NOW

YESTERDAY = (D("2026-11-24"), D("2026-11-25"), None)
MTD = (D("2026-11-01"), D("2026-11-26"), NOW)

EXTRACT = [
    # (command, period span or None, period label, comparison kind, comparison span, remaining tokens)
    (
        "gmv orders aov yesterday vs previous by channel where region=east",
        YESTERDAY, "yesterday",
        "previous", (D("2026-11-23"), D("2026-11-24"), None),
        "gmv orders aov by channel where region=east",
    ),
    ("gmv last 7 days", (D("2026-11-18"), D("2026-11-25"), None), "last 7d", None, None, "gmv"),
    ("trend gmv last 90d", (D("2026-08-27"), D("2026-11-25"), None), "last 90d", None, None, "trend gmv"),
    ("top category by gmv mtd", MTD, "mtd", None, None, "top category by gmv"),
    ("funnel last 30d", (D("2026-10-26"), D("2026-11-25"), None), "last 30d", None, None, "funnel"),
    (
        "gmv This Month VS Last Year",
        MTD, "this month",
        "last_year", (D("2025-11-01"), D("2025-11-26"), T("2025-11-25 10:00")),
        "gmv",
    ),
    (
        "gmv mtd vs last month",
        MTD, "mtd",
        "explicit", (D("2026-10-01"), D("2026-11-01"), None),
        "gmv",
    ),
    (
        "GMV LAST 4W VS PREV",
        (D("2026-10-28"), D("2026-11-25"), None), "last 4w",
        "previous", (D("2026-09-30"), D("2026-10-28"), None),
        "GMV",
    ),
    (
        "gmv 本月 环比",
        MTD, "this month",
        "previous", (D("2026-10-01"), D("2026-10-26"), T("2026-10-25 10:00")),
        "gmv",
    ),
    (
        "gmv 本月 同比",
        MTD, "this month",
        "last_year", (D("2025-11-01"), D("2025-11-26"), T("2025-11-25 10:00")),
        "gmv",
    ),
    (
        "销售额 上月 对比上期",
        (D("2026-10-01"), D("2026-11-01"), None), "last month",
        "previous", (D("2026-09-01"), D("2026-10-01"), None),
        "销售额",
    ),
    (
        "销售额 上月 对比 去年",
        (D("2026-10-01"), D("2026-11-01"), None), "last month",
        "last_year", (D("2025-10-01"), D("2025-11-01"), None),
        "销售额",
    ),
    (
        "销售额 近7天 对比 上期 按 渠道",
        (D("2026-11-18"), D("2026-11-25"), None), "last 7d",
        "previous", (D("2026-11-11"), D("2026-11-18"), None),
        "销售额 按 渠道",
    ),
    # a comparison alone is made against yesterday, the default period
    ("gmv vs prev", YESTERDAY, "yesterday", "previous", (D("2026-11-23"), D("2026-11-24"), None), "gmv"),
    (
        "gmv vs 2026-W46 2026-W47",
        (D("2026-11-16"), D("2026-11-23"), None), "2026-W47",
        "explicit", (D("2026-11-09"), D("2026-11-16"), None),
        "gmv",
    ),
    (
        "gmv 2025 vs 2024",
        (D("2025-01-01"), D("2026-01-01"), None), "2025",
        "explicit", (D("2024-01-01"), D("2025-01-01"), None),
        "gmv",
    ),
    (
        "campaign add 双11 2026-11-08..2026-11-12",
        (D("2026-11-08"), D("2026-11-13"), None), "2026-11-08..2026-11-12", None, None,
        "campaign add 双11",
    ),
    (
        "campaign add 双11 2026-11-08 .. 2026-11-12",
        (D("2026-11-08"), D("2026-11-13"), None), "2026-11-08..2026-11-12", None, None,
        "campaign add 双11",
    ),
    (
        "goal set gmv 3000000 2027Q1",
        (D("2027-01-01"), D("2027-04-01"), None), "2027Q1", None, None,
        "goal set gmv 3000000",
    ),
    # a bare number is a year only when no other period is named
    (
        "budget 2000 next month",
        (D("2026-12-01"), D("2027-01-01"), None), "next month", None, None,
        "budget 2000",
    ),
    ("budget 200000 next month", (D("2026-12-01"), D("2027-01-01"), None), "next month", None, None, "budget 200000"),
    ("gmv 2025", (D("2025-01-01"), D("2026-01-01"), None), "2025", None, None, "gmv"),
    # the same period said twice is one period
    ("gmv yesterday 昨天", YESTERDAY, "yesterday", None, None, "gmv"),
    ("gmv this month mtd", MTD, "this month", None, None, "gmv"),
    # no period at all: left to the caller's default
    ("gmv", None, None, None, None, "gmv"),
    ("blah", None, None, None, None, "blah"),
    ("subscribe digest daily 09:00", None, None, None, None, "subscribe digest daily 09:00"),
    ("gmv last", None, None, None, None, "gmv last"),
    ("", None, None, None, None, ""),
]  # fmt: skip


@pytest.mark.parametrize(("command", "period", "label", "kind", "compared", "rest"), EXTRACT)
def test_extract_period(
    command: str,
    period: tuple[date, date, datetime | None] | None,
    label: str | None,
    kind: str | None,
    compared: tuple[date, date, datetime | None] | None,
    rest: str,
) -> None:
    got_period, got_comparison, got_rest = extract_period(command.split(), NOW)
    assert got_rest == rest.split()
    if period is None:
        assert got_period is None
    else:
        assert got_period is not None
        assert (span(got_period), got_period.label) == (period, label)
    if kind is None:
        assert got_comparison is None
    else:
        assert isinstance(got_comparison, Comparison)
        assert (got_comparison.kind, span(got_comparison.period)) == (kind, compared)


@pytest.mark.parametrize(
    ("command", "key", "params"),
    [
        ("gmv yesterday last 7d", "two_periods", {"first": "yesterday", "second": "last 7d"}),
        ("gmv mtd by channel last month", "two_periods", {"first": "mtd", "second": "last month"}),
        ("gmv 2025 2024", "two_periods", {"first": "2025", "second": "2024"}),
        ("gmv yesterday vs", "bad_compare", {"text": "vs"}),
        ("vs", "bad_compare", {"text": "vs"}),
        ("gmv vs by channel", "bad_compare", {"text": "vs by"}),
        ("gmv vs blah", "bad_compare", {"text": "vs blah"}),
        ("gmv mtd 环比 同比", "bad_compare", {"text": "同比"}),
        ("gmv mtd vs previous vs last year", "bad_compare", {"text": "vs last year"}),
        ("gmv last 0d", "bad_period", {"text": "last 0d"}),
        ("gmv last 0 days by channel", "bad_period", {"text": "last 0 days"}),
        ("gmv 2026-13", "bad_period", {"text": "2026-13"}),
        ("gmv 2026-02-30", "bad_period", {"text": "2026-02-30"}),
        ("gmv 2026-11-07..2026-11-01", "bad_period", {"text": "2026-11-07..2026-11-01"}),
        ("gmv yesterday vs 2026-13", "bad_period", {"text": "2026-13"}),
    ],
)
def test_extract_period_rejects(command: str, key: str, params: dict[str, str]) -> None:
    with pytest.raises(BadPeriod) as caught:
        extract_period(command.split(), NOW)
    assert (caught.value.key, caught.value.params) == (key, params)


def test_extract_period_leaves_the_token_list_alone() -> None:
    tokens = ["gmv", "yesterday", "vs", "previous"]
    extract_period(tokens, NOW)
    assert tokens == ["gmv", "yesterday", "vs", "previous"]


# ---------------------------------------------------------------------------------------------
# now_in: the local wall clock at given UTC instants

NOW_IN = [
    # Shanghai: UTC+8 all year, no DST
    ("Asia/Shanghai", "2026-11-24 15:59", "2026-11-24 23:59"),
    ("Asia/Shanghai", "2026-11-24 16:00", "2026-11-25 00:00"),
    ("Asia/Shanghai", "2026-12-31 16:00", "2027-01-01 00:00"),
    ("Asia/Shanghai", "2026-03-08 07:00", "2026-03-08 15:00"),
    # New York, spring forward on Sunday 2026-03-08 at 02:00 EST (07:00 UTC) to 03:00 EDT
    ("America/New_York", "2026-03-08 04:59", "2026-03-07 23:59"),
    ("America/New_York", "2026-03-08 05:00", "2026-03-08 00:00"),
    ("America/New_York", "2026-03-08 06:59", "2026-03-08 01:59"),
    ("America/New_York", "2026-03-08 07:00", "2026-03-08 03:00"),
    ("America/New_York", "2026-03-09 03:59", "2026-03-08 23:59"),
    ("America/New_York", "2026-03-09 04:00", "2026-03-09 00:00"),
    # New York, fall back on Sunday 2026-11-01 at 02:00 EDT (06:00 UTC) to 01:00 EST
    ("America/New_York", "2026-11-01 03:59", "2026-10-31 23:59"),
    ("America/New_York", "2026-11-01 04:00", "2026-11-01 00:00"),
    ("America/New_York", "2026-11-01 05:30", "2026-11-01 01:30"),
    ("America/New_York", "2026-11-01 06:30", "2026-11-01 01:30"),
    ("America/New_York", "2026-11-02 04:59", "2026-11-01 23:59"),
    ("America/New_York", "2026-11-02 05:00", "2026-11-02 00:00"),
]


@pytest.mark.parametrize(("tz", "utc", "local"), NOW_IN)
def test_now_in(tz: str, utc: str, local: str) -> None:
    instant = T(utc).replace(tzinfo=UTC)
    assert now_in(tz, at=instant) == T(local)
    assert now_in(ZoneInfo(tz), at=instant) == T(local)


@pytest.mark.parametrize(("tz", "utc", "local"), NOW_IN[::3])
def test_now_in_reads_the_clock(tz: str, utc: str, local: str) -> None:
    with time_machine.travel(T(utc).replace(tzinfo=UTC), tick=False):
        got = now_in(tz)
    assert got == T(local)
    assert got.tzinfo is None


def test_now_in_wants_an_aware_instant() -> None:
    with pytest.raises(ValueError):
        now_in("Asia/Shanghai", at=T("2026-11-25 10:00"))


def test_yesterday_follows_the_business_timezone() -> None:
    # 2026-11-25 01:00 UTC is still the 24th in New York but already the 25th in Shanghai.
    instant = T("2026-11-25 01:00").replace(tzinfo=UTC)
    assert parse_period("yesterday", now_in("America/New_York", at=instant)).start == D("2026-11-23")
    assert parse_period("yesterday", now_in("Asia/Shanghai", at=instant)).start == D("2026-11-24")


# ---------------------------------------------------------------------------------------------
# properties over many "nows"

RELATIVE = ["today", "yesterday", "last 7d", "last 4w", "last 3m", "wtd", "mtd", "qtd", "ytd",
            "last week", "last month", "last quarter", "last year", "next month"]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2900, 12, 31)),
    text=st.sampled_from(RELATIVE),
)
def test_derived_periods_hold_together(now: datetime, text: str) -> None:
    p = parse_period(text, now)
    today = now.date()
    if p.until is not None:
        assert p.start <= today < p.end == today + timedelta(days=1)
    elif not text.startswith("next"):
        assert p.end <= today
    prev = previous_period(p)
    if p.until is None:
        assert prev.end == p.start
    else:
        # like for like: the same elapsed time, unless the earlier unit was shorter and ran out
        elapsed = p.until - datetime.combine(p.start, datetime.min.time())
        assert prev.start < p.start
        if prev.until is not None:
            assert prev.until - datetime.combine(prev.start, datetime.min.time()) == elapsed
    ly = last_year_period(p)
    assert ly.start.year == p.start.year - 1
    assert abs(ly.days - p.days) <= 1


@pytest.mark.parametrize("text", ["2026-11-01 – 2026-11-10", "2026-11-01 至 2026-11-10", "2026-11-01 to 2026-11-10",
                                  "2026-11-01 - 2026-11-10", "2026-11-01—2026-11-10"])
def test_a_range_as_the_bot_prints_it_reads_back(text: str) -> None:
    period = parse_period(text, datetime(2026, 11, 25, 10, 30))
    assert (period.start, period.end) == (date(2026, 11, 1), date(2026, 11, 11))
