"""Goal decomposition and pacing (metrics/planning/goals.py) on hand-made series with known answers."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from metrics.planning.goals import (
    AT_RISK,
    HORIZON_SD,
    MODEL_SD,
    ON_TRACK,
    RANGE_Z,
    Profile,
    days_of,
    decompose,
    fit_profile,
    largest_remainder,
    pace,
    pace_level,
    verdict,
)

WEEKDAY = np.array([0.9, 0.92, 0.95, 1.0, 1.05, 1.15, 1.03])  # Monday..Sunday
MONTH = np.array([0.8, 0.75, 0.95, 1.0, 1.0, 1.1, 1.0, 0.95, 1.0, 1.05, 1.25, 1.15])


def history(start: date, days: int, promo: dict[tuple[int, int], float] | None = None,
            noise: float = 0.0, seed: int = 1) -> pd.Series:
    """A daily series with exactly the weekday, month and promotion profile above (no trend)."""
    rng = np.random.default_rng(seed)
    index = days_of(start, start + timedelta(days=days))
    values = []
    for d in index:
        v = 10_000 * WEEKDAY[d.weekday()] * MONTH[d.month - 1] * (promo or {}).get((d.month, d.day), 1.0)
        values.append(v * math.exp(rng.normal(0, noise)) if noise else v)
    return pd.Series(values, index=index)


def test_largest_remainder_sums_exactly() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 120))
        weights = rng.random(n) * rng.choice([1, 1000, 1e-6])
        total = int(rng.integers(0, 10**12))
        parts = largest_remainder(total, weights)
        assert sum(parts) == total
        assert all(p >= 0 for p in parts)
        # no part is more than one unit away from its exact share
        exact = weights / weights.sum() * total
        assert np.all(np.abs(np.array(parts) - exact) < 1.0 + 1e-6 * total / n)


def test_largest_remainder_ties_go_to_the_earlier_part() -> None:
    assert largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert largest_remainder(2, [0, 0]) == [1, 1]  # all-zero weights split evenly


def test_decompose_adds_up_to_the_cent_at_every_level() -> None:
    profile = Profile(weekday=tuple(WEEKDAY / WEEKDAY.mean()))
    split = decompose(3_000_000.01, date(2027, 1, 1), date(2027, 4, 1), profile)
    assert sum(split.day_units) == 300_000_001
    assert len(split.days) == 90
    months = split.by_month()
    assert [m[0] for m in months] == [date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)]
    assert round(sum(v for *_, v in months) * 100) == 300_000_001
    assert round(sum(v for *_, v in split.by_week()) * 100) == 300_000_001
    # every month is the exact sum of its days
    for start, end, value in months:
        assert round(value * 100) == sum(u for d, u in zip(split.days, split.day_units, strict=True) if start <= d < end)


def test_weights_follow_the_learnt_weekday_and_month_profile() -> None:
    series = history(date(2024, 1, 1), 730, noise=0.02)
    profile = fit_profile(series)
    learnt = np.array(profile.weekday)
    assert learnt == pytest.approx(WEEKDAY / np.exp(np.log(WEEKDAY).mean()), rel=0.02)
    month = np.array(profile.month)
    assert month[10] / month[1] == pytest.approx(MONTH[10] / MONTH[1], rel=0.03)
    split = decompose(1_000_000, date(2026, 1, 1), date(2027, 1, 1), profile)
    by_day = dict(split.by_day())
    # a Saturday and a Monday of the same month: the weekday ratio
    assert by_day[date(2026, 3, 7)] / by_day[date(2026, 3, 2)] == pytest.approx(WEEKDAY[5] / WEEKDAY[0], rel=0.03)
    months = {s.month: v for s, _, v in split.by_month()}
    # November outweighs February by the month profile (per day, February being shorter)
    assert (months[11] / 30) / (months[2] / 28) == pytest.approx(MONTH[10] / MONTH[1], rel=0.04)


def test_promotion_days_weigh_more() -> None:
    series = history(date(2024, 11, 1), 400, promo={(11, 11): 4.0})
    profile = fit_profile(series, promo_days=[date(2024, 11, 11), date(2025, 11, 11)])
    assert profile.promo[(11, 11)] == pytest.approx(4.0, rel=0.02)
    split = decompose(500_000, date(2026, 11, 1), date(2026, 12, 1), profile)
    by_day = dict(split.by_day())
    # 11.11 (a Wednesday) against the Wednesday before
    assert by_day[date(2026, 11, 11)] / by_day[date(2026, 11, 4)] == pytest.approx(4.0, rel=0.03)


def test_period_starting_mid_week_has_a_short_first_week() -> None:
    split = decompose(100_000, date(2026, 11, 25), date(2027, 1, 1), Profile())  # a Wednesday
    weeks = split.by_week()
    assert weeks[0][0] == date(2026, 11, 25) and weeks[0][1] == date(2026, 11, 30)  # Wed..Sun
    assert weeks[1][0] == date(2026, 11, 30)  # then whole ISO weeks from Monday
    assert weeks[-1][1] == date(2027, 1, 1)
    assert sum(split.day_units) == 10_000_000
    # an even profile: 5 of 37 days in the first week
    assert weeks[0][2] == pytest.approx(100_000 * 5 / 37, abs=0.05)  # each day within a cent


def test_leap_year() -> None:
    split = decompose(29_000, date(2028, 2, 1), date(2028, 3, 1), Profile(), scale=1)
    assert split.days[-1] == date(2028, 2, 29)
    assert split.day_units == [1000] * 29
    # a year split in a leap year has 366 days and still adds up
    year = decompose(1_000_000, date(2028, 1, 1), date(2029, 1, 1), Profile(weekday=tuple(WEEKDAY)))
    assert len(year.days) == 366 and sum(year.day_units) == 100_000_000
    # history through a leap day fits without tripping on Feb 29
    profile = fit_profile(history(date(2027, 3, 1), 730))
    assert np.array(profile.weekday) == pytest.approx(WEEKDAY / np.exp(np.log(WEEKDAY).mean()), rel=0.01)


# ---- pacing ------------------------------------------------------------------------------------


def flat_targets(start: date, days: int, per_day: float) -> dict[date, float]:
    return {d: per_day for d in days_of(start, start + timedelta(days=days))}


def test_pace_known_answer() -> None:
    start = date(2026, 11, 1)
    targets = flat_targets(start, 30, 100.0)  # goal 3000
    actuals = {d: 90.0 for d in days_of(start, start + timedelta(days=10))}
    p = pace(targets, actuals, as_of=start + timedelta(days=10))
    assert (p.goal, p.actual, p.plan, p.gap) == (3000, 900, 1000, -100)
    assert p.run_rate_ratio == pytest.approx(0.9)
    assert p.projected == pytest.approx(900 + 2000 * 0.9)  # 2700: exactly 90 % of the goal
    # no day noise: the range is the model's own error only, log-normal around the remaining part
    ahead = sum(range(1, 21)) / 20  # the 20 days left are 1..20 days after the last day seen
    spread = RANGE_Z * math.sqrt(MODEL_SD**2 + HORIZON_SD**2 * ahead / 30)
    assert p.high == pytest.approx(900 + 1800 * math.exp(spread))
    assert p.low == pytest.approx(900 + 1800 * math.exp(-spread))
    assert p.needed_per_day == pytest.approx(2100 / 20)
    assert p.needed_ratio == pytest.approx(1.05)
    assert (p.days_elapsed, p.days_left) == (10, 20)
    assert p.verdict == "at_risk"


def test_pace_uses_the_recent_run_rate_against_a_seasonal_plan() -> None:
    start = date(2026, 11, 1)
    days = days_of(start, start + timedelta(days=30))
    targets = {d: (200.0 if d.weekday() >= 5 else 100.0) for d in days}
    as_of = start + timedelta(days=20)
    # the first 6 days were weak, the last 14 exactly on plan: the projection follows the recent days
    actuals = {d: targets[d] * (0.5 if i < 6 else 1.0) for i, d in enumerate(days[:20])}
    p = pace(targets, actuals, as_of)
    remaining = sum(targets[d] for d in days[20:])
    assert p.run_rate_ratio == pytest.approx(1.0)
    assert p.projected == pytest.approx(sum(actuals.values()) + remaining)


def test_pace_range_widens_with_noise() -> None:
    start = date(2026, 11, 1)
    targets = flat_targets(start, 30, 100.0)
    rng = np.random.default_rng(5)
    actuals = {d: 100.0 * rng.uniform(0.7, 1.3) for d in days_of(start, start + timedelta(days=15))}
    p = pace(targets, actuals, start + timedelta(days=15))
    assert p.low < p.projected < p.high


def test_pace_before_and_after_the_period() -> None:
    start = date(2026, 12, 1)
    targets = flat_targets(start, 31, 10.0)
    before = pace(targets, {}, date(2026, 11, 20))
    # no data before the period either: no projection (the target is not a projection of itself)
    assert before.verdict == "not_started" and math.isnan(before.projected)
    done = {d: 11.0 for d in targets}
    assert pace(targets, done, date(2027, 1, 5)).verdict == "achieved"
    assert pace(targets, {d: 9.0 for d in targets}, date(2027, 1, 5)).verdict == "missed"
    ahead = pace(targets, {d: 50.0 for d in list(targets)[:10]}, start + timedelta(days=10))
    assert ahead.needed_per_day == 0.0  # already past the goal: nothing more needed


@pytest.mark.parametrize(("ratio", "expected"), [
    (1.2, "on_track"), (ON_TRACK, "on_track"), (ON_TRACK - 1e-9, "at_risk"),
    (AT_RISK, "at_risk"), (AT_RISK - 1e-9, "off_track"), (0.0, "off_track"), (None, "unknown"),
])
def test_verdict_thresholds(ratio: float | None, expected: str) -> None:
    assert verdict(ratio) == expected


def test_level_goals() -> None:
    assert pace_level(0.03, 0.031, higher_is_better=True) == "on_track"
    assert pace_level(0.03, 0.028, higher_is_better=True) == "at_risk"
    assert pace_level(0.03, 0.02, higher_is_better=True) == "off_track"
    assert pace_level(80.0, 78.0, higher_is_better=False) == "on_track"  # cac below target is good
    assert pace_level(80.0, 100.0, higher_is_better=False) == "off_track"
    assert pace_level(80.0, None, higher_is_better=False) == "unknown"


def test_pace_before_the_period_projects_the_run_rate() -> None:
    """A goal that has not started: the days before it, with their plan-equivalent, set the rate."""
    start = date(2026, 12, 1)
    targets = {d: (20.0 if d.weekday() >= 5 else 10.0) for d in days_of(start, start + timedelta(days=31))}
    goal = sum(targets.values())
    as_of = date(2026, 11, 20)
    lead_days = days_of(as_of - timedelta(days=28), as_of)
    lead = {d: (20.0 if d.weekday() >= 5 else 10.0) for d in lead_days}
    # the shop runs at 60 % of the plan's shape before the period, day by day
    actuals = {d: 0.6 * lead[d] for d in lead_days}
    p = pace(targets, actuals, as_of, recent_days=28, lead_plan=lead)
    assert p.verdict == "not_started" and p.days_elapsed == 0
    assert p.run_rate_ratio == pytest.approx(0.6)
    assert p.projected == pytest.approx(0.6 * goal)  # from the run-rate, not the target
    assert p.outlook == "off_track"
    assert p.needed_per_day == pytest.approx(goal / 31)
    assert p.needed_vs_run_rate == pytest.approx(1 / 0.6)  # 1.67x the rate, not "100 % of plan"
    assert p.recent_days == 28
    assert p.recent_per_day == pytest.approx(sum(actuals.values()) / 28)
    # lead days only count before the period; days of the period come from the targets
    inside = pace(targets, {**actuals, start: 10.0}, start + timedelta(days=1), recent_days=28, lead_plan=lead)
    assert inside.days_elapsed == 1 and inside.actual == pytest.approx(10.0)
    assert inside.run_rate_ratio == pytest.approx((sum(actuals.values()) - actuals[lead_days[0]] + 10.0)
                                                  / (sum(lead.values()) - lead[lead_days[0]] + targets[start]))


def test_pace_range_is_log_normal_and_covers_noise() -> None:
    start = date(2026, 12, 1)
    targets = flat_targets(start, 31, 100.0)
    rng = np.random.default_rng(9)
    lead_days = days_of(start - timedelta(days=28), start)
    lead = {d: 100.0 for d in lead_days}
    actuals = {d: 100.0 * math.exp(rng.normal(0, 0.3)) for d in lead_days}
    p = pace(targets, actuals, start, recent_days=28, lead_plan=lead)
    assert 0 < p.low < p.projected < p.high
    assert p.projected / p.low == pytest.approx(p.high / p.projected)


# ---- holidays that move: Chinese New Year -------------------------------------------------------

# what Chinese New Year does to the test shop's sales, by days from the day (2026-02-17): stocking
# up three weeks before, deliveries closing, the holiday week, the return
CNY_EFFECT = {(-21, -15): 1.25, (-14, -8): 1.1, (-7, -1): 0.6, (0, 6): 0.35, (7, 13): 0.75}
# January to March alike, so that a week of February reads against a week of March directly
MONTH_FLAT_Q1 = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.0, 0.95, 1.0, 1.05, 1.25, 1.15])


def cny_history(start: date, end: date, noise: float = 0.03) -> pd.Series:
    """Daily GMV with a weekday and month profile and the 2026 Chinese New Year's effect."""
    from metrics.planning.holidays import spring_festival

    rng = np.random.default_rng(7)
    values = {}
    for d in days_of(start, end):
        v = 10_000 * WEEKDAY[d.weekday()] * MONTH_FLAT_Q1[d.month - 1]
        for year in (d.year, d.year + 1):
            offset = (d - spring_festival(year)).days
            v *= next((m for (lo, hi), m in CNY_EFFECT.items() if lo <= offset <= hi), 1.0)
        values[d] = v * math.exp(rng.normal(0, noise))
    return pd.Series(values)


def week_sum(split_or_series: dict[date, float], first: date) -> float:
    return sum(split_or_series[first + timedelta(days=i)] for i in range(7))


def test_chinese_new_year_dates_come_from_the_calendar() -> None:
    from metrics.planning.holidays import spring_festival

    assert [spring_festival(y) for y in range(2024, 2029)] == [
        date(2024, 2, 10), date(2025, 1, 29), date(2026, 2, 17), date(2027, 2, 6), date(2028, 1, 26)]


def test_february_2027_carries_the_dip_of_the_last_chinese_new_year() -> None:
    history_days = cny_history(date(2025, 3, 1), date(2026, 11, 30))  # holds 2026-02-17, not 2025's
    profile = fit_profile(history_days)
    assert profile.holiday_seen["cny"] == (date(2026, 2, 17),)
    by_day = dict(decompose(1_000_000, date(2027, 1, 1), date(2027, 3, 1), profile).by_day())
    # independently, from the 2026 days: each week around the holiday against an ordinary week
    # (offsets +14..+20, 2026-03-03..09); whole weeks, so the weekday profile cancels
    cny_2026, cny_2027 = date(2026, 2, 17), date(2027, 2, 6)
    ordinary_2026 = week_sum(history_days.to_dict(), cny_2026 + timedelta(days=14))
    ordinary_2027 = week_sum(by_day, cny_2027 + timedelta(days=14))  # 2027-02-20..26, still February
    for (lo, _), truth in CNY_EFFECT.items():
        seen = week_sum(history_days.to_dict(), cny_2026 + timedelta(days=lo)) / ordinary_2026
        planned = week_sum(by_day, cny_2027 + timedelta(days=lo)) / ordinary_2027
        assert planned == pytest.approx(seen, rel=0.04), (lo, planned, seen)
        assert seen == pytest.approx(truth, rel=0.05)  # the check itself reads the effect right
    # so February 2027 is not flat: the holiday week plans about a third of an ordinary week
    assert week_sum(by_day, cny_2027) / ordinary_2027 < 0.45
    # and the profile survives the goal's storage
    again = Profile.from_json(profile.as_json())
    assert again.holiday == pytest.approx(profile.holiday, rel=1e-3)
    assert again.holiday_seen == profile.holiday_seen


def test_a_holiday_the_history_does_not_cover_weighs_one() -> None:
    profile = fit_profile(cny_history(date(2026, 4, 1), date(2026, 11, 30)))  # no Chinese New Year
    assert "cny" not in profile.holiday_seen and not any(k.startswith("cny") for k in profile.holiday)
    by_day = dict(decompose(1_000_000, date(2027, 2, 1), date(2027, 3, 1), profile).by_day())
    # the holiday week and an ordinary week of the same month: the same weights, day for day
    assert week_sum(by_day, date(2027, 2, 6)) == pytest.approx(week_sum(by_day, date(2027, 2, 20)), rel=1e-6)


def test_a_promotion_day_keeps_its_own_effect_inside_a_holiday_window() -> None:
    # 11.11 is a holiday too; a shop that lists it as a promotion gets the promotion's effect, once
    series = history(date(2024, 11, 1), 400, promo={(11, 11): 4.0, (11, 12): 0.8})
    profile = fit_profile(series, promo_days=[date(2024, 11, 11), date(2025, 11, 11)])
    assert profile.promo[(11, 11)] == pytest.approx(4.0, rel=0.02)
    assert "11.11:+0" not in profile.holiday
    assert profile.holiday["11.11:+1"] == pytest.approx(0.8, rel=0.03)  # the day after: a holiday bin
    by_day = dict(decompose(500_000, date(2026, 11, 1), date(2026, 12, 1), profile).by_day())
    assert by_day[date(2026, 11, 11)] / by_day[date(2026, 11, 4)] == pytest.approx(4.0, rel=0.03)
    assert by_day[date(2026, 11, 12)] / by_day[date(2026, 11, 5)] == pytest.approx(0.8, rel=0.03)
