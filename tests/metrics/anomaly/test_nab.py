"""NAB loading and window-level scoring, on hand-made detections and the small test subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metrics.anomaly.nab import (
    WindowScore,
    detect_nab,
    detections,
    evaluate,
    load_corpus,
    load_series,
    load_windows,
    onsets,
    opsbot_method,
    probation_rows,
    score_windows,
    stl_method,
    zscore_method,
)
from metrics.anomaly.series import to_grid

NAB = Path(__file__).resolve().parents[2] / "data" / "nab"


def ts(hour: float) -> pd.Timestamp:
    return pd.Timestamp("2026-01-01") + pd.Timedelta(hours=hour)


WINDOWS = [(ts(10), ts(12)), (ts(20), ts(22)), (ts(30), ts(32))]


def test_window_scoring_counts_each_window_once_and_every_outside_detection() -> None:
    # window 1: three detections (one TP); window 2: none (FN); window 3: one on its right edge;
    # outside: 5 and 25 are false positives; 1 is in the probationary period (ignored)
    found = [ts(1), ts(5), ts(10), ts(11), ts(12), ts(25), ts(32)]
    score = score_windows(found, WINDOWS, probation_end=ts(2))
    assert (score.tp, score.fn, score.fp) == (2, 1, 2)
    assert score.precision == pytest.approx(0.5)
    assert score.recall == pytest.approx(2 / 3)
    assert score.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    # without a probationary period the detection at 1 is a false positive too
    assert score_windows(found, WINDOWS).fp == 3


def test_scores_add_up_and_empty_cases_are_zero() -> None:
    total = WindowScore(2, 1, 2) + WindowScore(1, 0, 3)
    assert (total.tp, total.fn, total.fp) == (3, 1, 5)
    assert WindowScore().f1 == 0.0 and WindowScore(0, 3, 0).precision == 0.0
    assert score_windows([], WINDOWS) == WindowScore(0, 3, 0)


def test_onsets_merge_runs_and_short_gaps() -> None:
    flags = np.array([0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0], dtype=bool)
    assert list(onsets(flags)) == [1, 4, 8]
    assert list(onsets(flags, quiet=2)) == [1, 8]  # the gap of one row does not close the alert
    assert list(onsets(flags, quiet=4)) == [1]


def test_probationary_period_is_fifteen_percent_capped_at_750() -> None:
    assert probation_rows(1000) == 150 and probation_rows(10_000) == 750


def test_loading_series_and_windows() -> None:
    windows = load_windows(NAB)
    assert len(windows["realKnownCause/nyc_taxi.csv"]) == 5
    s = load_series(NAB, "realTraffic/speed_7578.csv", windows)
    assert s.corpus == "realTraffic" and len(s.timestamps) == 1127 and len(s.windows) == 4
    assert s.probation_end == s.timestamps[169]
    gs = to_grid(s.timestamps, s.values)
    assert gs.grid.step == pd.Timedelta(minutes=5)
    assert np.isnan(gs.values).sum() > 0  # the gaps stay empty on the grid
    assert list(load_corpus(NAB, "realAdExchange")[0].windows) == windows["realAdExchange/exchange-3_cpc_results.csv"]


def test_evaluation_of_all_methods_on_the_subset() -> None:
    series = load_corpus(NAB, "realAdExchange") + load_corpus(NAB, "realTraffic")
    result = evaluate(series, {"opsbot": opsbot_method(), "zscore3": zscore_method()})
    for method in ("opsbot", "zscore3"):
        assert set(result[method]) == {"realAdExchange", "realTraffic", "all"}
        all_ = result[method]["all"]
        assert all_.tp + all_.fn == 7  # 3 + 4 windows
    assert result["opsbot"]["all"].tp >= 4


def test_stl_baseline_runs_on_an_hourly_series() -> None:
    s = load_corpus(NAB, "realAdExchange")[0]
    gs = to_grid(s.timestamps, s.values)
    flags = stl_method()(gs)
    assert flags.shape == gs.values.shape and flags.any()
    assert all(isinstance(t, pd.Timestamp) for t in detections(gs, flags))


def test_detect_nab_reports_alert_starts() -> None:
    s = load_series(NAB, "realTraffic/speed_7578.csv")
    found = detect_nab(s)
    assert found == sorted(found)
    assert score_windows(found, s.windows, s.probation_end).tp >= 2
