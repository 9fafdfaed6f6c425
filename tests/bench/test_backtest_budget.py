"""The budget back-test on one small shop: the promise is checked against the generator's truth."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bench.backtest_budget import PERIOD_DAYS, run_case
from bench.backtest_planning import build_bot
from metrics.data import sample
from metrics.data.sample import ShopSpec

SPEC = ShopSpec(end=date(2026, 12, 1), days=300, orders=60_000, seed=2)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[float, dict]:  # type: ignore[type-arg]
    bot = build_bot(SPEC, tmp_path_factory.mktemp("budget-backtest"))
    bot.spend = sample.generate(SPEC).marketing_spend.assign(day=lambda f: f["day"].dt.date)  # type: ignore[attr-defined]
    return {share: run_case(bot, SPEC, SPEC.end - timedelta(days=PERIOD_DAYS), share) for share in (1.0, 0.7)}


@pytest.mark.parametrize("share", [1.0, 0.7])
def test_the_gmv_the_spend_brings_is_within_its_range(cases: dict[float, dict], share: float) -> None:  # type: ignore[type-arg]
    row = cases[share]
    lo, hi = row["brought_range"]
    assert lo <= row["true_brought"] <= hi
    assert row["uplift"] >= 0  # the chosen split is never expected to do worse than the recent one


@pytest.mark.parametrize("share", [1.0, 0.7])
def test_the_promised_gain_over_the_recent_split_is_within_its_range(cases: dict[float, dict], share: float) -> None:  # type: ignore[type-arg]
    row = cases[share]
    lo, hi = row["uplift_range"]
    slack = 0.01 * row["true_brought"]
    assert lo - slack <= row["true_uplift"] <= hi + slack
    if row["sure"]:  # called a gain: truly no worse than the recent split
        assert row["true_uplift"] >= -slack
