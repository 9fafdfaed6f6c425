"""Budget allocation (metrics/budget.py) on data generated from known response curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metrics.budget import (
    MIN_SPEND_DAYS,
    BudgetError,
    Curve,
    allocate,
    current_mix,
    evaluate,
    even_split,
    fit_curve,
    fit_curves,
)

# channel: (a, b, mean daily spend); y = a*log(1 + s/b)
TRUTH = {"search": (60_000.0, 4_000.0, 3_000.0), "social": (25_000.0, 800.0, 1_500.0),
         "live_stream": (40_000.0, 2_500.0, 2_000.0)}
DAYS = 30


def true_curves() -> dict[str, Curve]:
    return {ch: Curve(ch, a, b, 0.0, 1.0, 180, 1e12, m) for ch, (a, b, m) in TRUTH.items()}


def history(days: int = 180, noise: float = 0.03, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for ch, (a, b, mean) in TRUTH.items():
        spend = mean * rng.lognormal(0.0, 0.45, days)  # spend varied: the bend of the curve is visible
        gmv = a * np.log1p(spend / b) * rng.lognormal(0.0, noise, days)
        rows.append(pd.DataFrame({"day": range(days), "key": ch, "spend": spend, "gmv": gmv}))
    return pd.concat(rows, ignore_index=True)


def test_fit_recovers_the_curves() -> None:
    curves, thin = fit_curves(history(), "gmv")
    assert thin == []
    for ch, (a, b, mean) in TRUTH.items():
        c = curves[ch]
        # the response over the spend range seen is what matters, not (a, b) one by one
        for s in (0.5 * mean, mean, 2 * mean):
            assert float(c.response(s)) == pytest.approx(a * np.log1p(s / b), rel=0.03)


def test_allocation_recovers_the_true_optimum_and_beats_even_and_current() -> None:
    budget = 6_000.0 * DAYS
    curves, _ = fit_curves(history(), "gmv")
    best = allocate(curves, budget, DAYS)
    truth = true_curves()
    optimum = allocate(truth, budget, DAYS)
    # the fitted split, judged by the true curves
    realised = evaluate(truth, best.spend, DAYS).total_outcome
    assert realised == pytest.approx(optimum.total_outcome, rel=0.01)
    for ch in TRUTH:
        assert best.spend[ch] == pytest.approx(optimum.spend[ch], rel=0.05)
    even = evaluate(truth, even_split(list(TRUTH), budget), DAYS).total_outcome
    mix = evaluate(truth, current_mix({"search": 5, "social": 80, "live_stream": 15}, list(TRUTH), budget), DAYS)
    assert realised > even
    assert realised > mix.total_outcome
    # at the optimum the marginal returns are equal
    marginals = [truth[ch].marginal(best.spend[ch] / DAYS) for ch in TRUTH]
    assert max(marginals) / min(marginals) == pytest.approx(1.0, abs=0.06)


def test_constraints_and_total_are_respected() -> None:
    curves, _ = fit_curves(history(), "gmv")
    budget = 123_456.78
    alloc = allocate(curves, budget, DAYS, min_share={"social": 0.4}, max_share={"search": 0.2})
    assert alloc.total_spend == pytest.approx(budget, abs=1e-6)
    assert alloc.spend["social"] >= 0.4 * budget - 1e-6
    assert alloc.spend["search"] <= 0.2 * budget + 1e-6
    assert all(v >= -1e-9 for v in alloc.spend.values())
    even = allocate(curves, budget, DAYS, min_share={ch: 1 / 3 for ch in curves})
    assert all(v == pytest.approx(budget / 3) for v in even.spend.values())


@pytest.mark.parametrize(("lo", "hi", "key"), [
    ({"search": 0.6, "social": 0.5}, {}, "budget_min_over_100"),
    ({}, {"search": 0.2, "social": 0.2, "live_stream": 0.2}, "budget_max_under_100"),
    ({"search": 0.5}, {"search": 0.3}, "budget_min_over_max"),
])
def test_infeasible_constraints(lo: dict[str, float], hi: dict[str, float], key: str) -> None:
    with pytest.raises(BudgetError) as err:
        allocate(true_curves(), 100_000, DAYS, lo, hi)
    assert err.value.key == key


def test_bad_budget() -> None:
    with pytest.raises(BudgetError) as err:
        allocate(true_curves(), 0, DAYS)
    assert err.value.key == "budget_not_positive"


def test_thin_history_is_flagged_not_guessed() -> None:
    frame = history()
    short = frame[(frame.key != "social") | (frame.day < MIN_SPEND_DAYS - 1)]
    flat = frame.assign(spend=np.where(frame.key == "live_stream", 1000.0, frame.spend))
    assert fit_curves(short, "gmv")[1] == ["social"]
    assert fit_curves(flat, "gmv")[1] == ["live_stream"]
    assert fit_curve("x", [0.0] * 50, [1.0] * 50) is None  # never spent


def test_extrapolation_is_capped_and_flagged() -> None:
    curves, _ = fit_curves(history(), "gmv")
    huge = sum(c.max_daily_spend for c in curves.values()) * DAYS * 5
    alloc = allocate(curves, huge, DAYS)
    assert alloc.total_spend == pytest.approx(huge)
    assert set(alloc.extrapolated) == set(curves)
