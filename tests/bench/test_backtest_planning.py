"""A small run of bench/backtest_planning.py: projections and lifts against the known truth.

The cases are fixed before looking at the results (every third month from the 8th month of history;
every planted promotion); the assertions allow what an honest 80 % range allows."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from bench import backtest_planning as bt
from metrics.data.sample import ShopSpec

SPEC = ShopSpec(end=date(2027, 1, 1), days=460, orders=60_000, seed=21)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> bt.Bot:
    return bt.build_bot(SPEC, Path(tmp_path_factory.mktemp("backtest")))


def test_truth_is_the_generators_multipliers() -> None:
    """On a Tuesday peak the expected orders are the planted multiplier x the cancel adjustment."""
    day = date(2026, 11, 11)
    lift = bt.true_lift(SPEC, day, day + timedelta(days=1))
    assert 3.0 < lift["orders"] + 1 < 4.5  # x4.5, fewer kept (cancellations +1 pt) and live_stream share
    assert lift["gmv"] < lift["orders"]  # the 8 % promotion discount and cheaper live-stream baskets
    lull = bt.true_lift(SPEC, date(2026, 11, 1), date(2026, 11, 9))
    assert lull["orders"] == pytest.approx(0.92 - 1, abs=1e-9)


def test_pace_ranges_cover_the_known_future(bot: bt.Bot) -> None:
    first = SPEC.end - timedelta(days=SPEC.days) + timedelta(days=210)
    cases = bt.pace_cases(first, SPEC.end, step_months=3)
    rows = bt.run_pace(bot, cases)
    assert len(rows) >= 8
    covered = sum(r["covered"] for r in rows)
    # an 80 % range covering fewer than 60 % of 8+ cases happens under 5 % of the time
    assert covered >= 0.6 * len(rows), bt.summarise_pace(rows)
    assert np.median([abs(r["error"]) for r in rows]) < 0.10


def test_campaign_lift_ranges_cover_the_planted_lift(bot: bt.Bot) -> None:
    rows = bt.run_campaigns(bot)
    assert {r["promotion"] for r in rows} >= {"618", "11.11"}
    assert sum(r["covered"] for r in rows) >= 0.6 * len(rows), bt.summarise_campaigns(rows)
    assert np.median([abs(r["error"]) for r in rows]) < 0.35
