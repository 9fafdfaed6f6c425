"""The budget back-test on one small shop: the promise is checked against the generator's truth."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from bench.backtest_budget import PERIOD_DAYS, run_case
from bench.backtest_planning import build_bot
from metrics import sample
from metrics.sample import ShopSpec


@pytest.mark.parametrize("share", [1.0, pytest.param(0.7, marks=pytest.mark.xfail(
    strict=True, reason="known defect (issue 15 left open): on this shop the split recommended for a 30% cut is "
    "truly 2.6% worse than cutting every channel alike: the optimiser's curse, see bench/README.md"))])
def test_the_spend_s_gmv_is_within_its_range_and_the_split_helps(tmp_path: Path, share: float) -> None:
    spec = ShopSpec(end=date(2026, 12, 1), days=300, orders=60_000, seed=2)
    bot = build_bot(spec, tmp_path)
    bot.spend = sample.generate(spec).marketing_spend.assign(day=lambda f: f["day"].dt.date)  # type: ignore[attr-defined]
    row = run_case(bot, spec, spec.end - timedelta(days=PERIOD_DAYS), share)
    lo, hi = row["brought_range"]
    assert lo <= row["true_brought"] <= hi
    # the split the reply recommends is truly no worse than spending like the last 28 days
    assert row["true_uplift"] >= -0.01 * row["true_brought"]
    assert row["uplift"] >= 0
