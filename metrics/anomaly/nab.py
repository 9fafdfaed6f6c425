"""The Numenta Anomaly Benchmark (NAB) as an evaluation set: loading, baselines, window scoring.

Scoring is window-level, simpler than NAB's own weighted score (see data/nab/README.md):

* a **detection** is the start of an alert: a flagged row whose previous grid row was not flagged.
  A run of flagged rows is one detection, as in opsbot's alert life-cycle, where an open alert is
  not raised again while the series stays abnormal. Every method (ours and the baselines) goes
  through the same rule; `point_detections` gives the raw per-row variant for comparison;
* a window with at least one detection inside it (ends included) is one true positive, however
  many detections it holds; a window with none is a false negative;
* a detection outside every window is a false positive;
* detections in NAB's probationary period (the first min(floor(0.15 N), 750) rows) are ignored.

precision = TP / (TP + FP), recall = TP / windows, F1 their harmonic mean; corpora are pooled
by summing TP, FP and FN over files (micro average).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from metrics.anomaly.detectors import MAD_TO_SD, PARAMS, Params, Sensitivity, fit
from metrics.anomaly.series import GridSeries, detect_series, read_series, to_grid

CORPORA: tuple[str, ...] = ("realAdExchange", "realTraffic", "realKnownCause")
Window = tuple[pd.Timestamp, pd.Timestamp]
QUIET_HOURS = 1.0


@dataclass
class NabSeries:
    name: str  # path under data/, e.g. "realKnownCause/nyc_taxi.csv"
    timestamps: pd.DatetimeIndex
    values: np.ndarray
    windows: list[Window]

    @property
    def corpus(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def probation_end(self) -> pd.Timestamp:
        """The first timestamp that is scored."""
        return self.timestamps[probation_rows(len(self.timestamps))]


def probation_rows(n: int) -> int:
    return min(int(math.floor(0.15 * n)), 750)


def load_windows(root: str | Path) -> dict[str, list[Window]]:
    raw = json.loads((Path(root) / "labels" / "combined_windows.json").read_text())
    return {name: [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in spans] for name, spans in raw.items()}


def load_series(root: str | Path, name: str, windows: dict[str, list[Window]] | None = None) -> NabSeries:
    windows = windows if windows is not None else load_windows(root)
    ts, values = read_series(Path(root) / "data" / name)
    return NabSeries(name, ts, values, windows.get(name, []))


def load_corpus(root: str | Path, corpus: str) -> list[NabSeries]:
    windows = load_windows(root)
    files = sorted((Path(root) / "data" / corpus).glob("*.csv"))
    return [load_series(root, f"{corpus}/{f.name}", windows) for f in files]


# ---- window scoring ----------------------------------------------------------------------------------


@dataclass
class WindowScore:
    tp: int = 0  # windows with a detection
    fn: int = 0  # windows without
    fp: int = 0  # detections outside every window

    def __add__(self, other: WindowScore) -> WindowScore:
        return WindowScore(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_windows(
    detections: Iterable[pd.Timestamp], windows: Sequence[Window], probation_end: pd.Timestamp | None = None
) -> WindowScore:
    """Window-level TP / FN / FP of detection timestamps (see the module docstring)."""
    hit = [False] * len(windows)
    fp = 0
    for t in detections:
        if probation_end is not None and t < probation_end:
            continue
        inside = [i for i, (a, b) in enumerate(windows) if a <= t <= b]
        if inside:
            for i in inside:
                hit[i] = True
        else:
            fp += 1
    tp = sum(hit)
    return WindowScore(tp, len(windows) - tp, fp)


def onsets(flags: np.ndarray, quiet: int = 1) -> np.ndarray:
    """Rows that start an alert: flagged, with no flag in the `quiet` rows before.

    quiet=1 is "a run of consecutive flags is one alert"; more rows let an alert stay open across
    a short return to normal, as an alert that closes only after the series has recovered for a
    while (an hour for sub-daily data).
    """
    f = np.asarray(flags, dtype=bool)
    cs = np.concatenate([[0], np.cumsum(f)])
    i = np.arange(len(f))
    recent = cs[i] - cs[np.maximum(i - quiet, 0)]
    return np.flatnonzero(f & (recent == 0))


def quiet_rows(gs: GridSeries, hours: float = 1.0) -> int:
    """Rows an alert stays open after its last flag: an hour for sub-daily data, one row otherwise."""
    return max(1, int(round(pd.Timedelta(hours=hours) / gs.grid.step)))


# ---- methods: scores on the series' grid ---------------------------------------------------------------
#
# A scorer turns a grid series into |score| per row; a method is a scorer with a threshold. Scores
# are kept apart so that the benchmark can also sweep thresholds (a hindsight check: how well each
# method would do at the threshold that suits this corpus best).

Scorer = Callable[[GridSeries], np.ndarray]  # grid series -> |score| per grid row (0 where unknown)
Method = Callable[[GridSeries], np.ndarray]  # grid series -> flags per grid row


def opsbot_scorer(params: Params = PARAMS) -> Scorer:
    def run(gs: GridSeries) -> np.ndarray:
        return np.nan_to_num(np.abs(fit(gs.values, gs.grid, params=params).score))

    return run


def zscore_scorer(window_days: float = 7.0) -> Scorer:
    """Rolling z-score against the mean and standard deviation of the previous `window_days`
    (at least 12 rows)."""

    def run(gs: GridSeries) -> np.ndarray:
        w = max(12, gs.grid.rows(window_days))
        s = pd.Series(gs.values)
        past = s.shift(1).rolling(w, min_periods=max(3, w // 4))
        mean, std = past.mean(), past.std()
        return ((s - mean) / std.where(std > 0)).abs().fillna(0.0).to_numpy(np.float64)

    return run


def stl_period(gs: GridSeries) -> int:
    """STL's period: a day of rows for sub-daily data, a week for daily data, else 2 (no season)."""
    per_day = gs.grid.per_day
    if abs(per_day - 1) < 1e-9:
        return 7
    if per_day > 1 and abs(per_day - round(per_day)) < 1e-9:
        return int(round(per_day))
    return 2


def stl_residual_score(values: np.ndarray, period: int) -> np.ndarray:
    """Robust z of STL residuals (the whole series at once; gaps interpolated for the fit).

    Unlike opsbot's detector this sees the whole series, future included: the usual way STL is
    run, and an advantage for the baseline."""
    from statsmodels.tsa.seasonal import STL  # only the baseline needs statsmodels

    x = pd.Series(values).interpolate(limit_direction="both").to_numpy(np.float64)
    if len(x) < 2 * period + 1:
        return np.zeros_like(x)
    resid = STL(x, period=period, robust=True).fit().resid
    med = np.median(resid)
    mad = MAD_TO_SD * np.median(np.abs(resid - med))
    z = (resid - med) / mad if mad > 0 else np.zeros_like(resid)
    return np.where(np.isfinite(values), z, 0.0)


def stl_scorer() -> Scorer:
    def run(gs: GridSeries) -> np.ndarray:
        return np.abs(stl_residual_score(gs.values, stl_period(gs)))

    return run


def _at(scorer: Scorer, k: float) -> Method:
    return lambda gs: scorer(gs) >= k


def opsbot_method(sensitivity: Sensitivity = "medium", params: Params = PARAMS) -> Method:
    """opsbot's detector at a sensitivity (the same fit as `opsbot detect`)."""
    return _at(opsbot_scorer(params), params.threshold(sensitivity))


def zscore_method(window_days: float = 7.0, k: float = 3.0) -> Method:
    """Rolling 3-sigma: |x - mean| >= k * std of the previous `window_days`."""
    return _at(zscore_scorer(window_days), k)


def stl_method(k: float = 3.5) -> Method:
    """statsmodels STL (robust), residuals with |robust z| >= k (Iglewicz-Hoaglin's 3.5)."""
    return _at(stl_scorer(), k)


def detections(gs: GridSeries, flags: np.ndarray, points: bool = False) -> list[pd.Timestamp]:
    """Timestamps of detections: alert starts (default) or every flagged row."""
    f = np.asarray(flags, dtype=bool) & np.isfinite(gs.values)
    rows = np.flatnonzero(f) if points else onsets(f, quiet_rows(gs, QUIET_HOURS))
    stamps = gs.stamps[rows]
    return [t for t in stamps if not pd.isna(t)]


def _add(out: dict[str, WindowScore], corpus: str, score: WindowScore) -> None:
    out[corpus] = out.get(corpus, WindowScore()) + score
    out["all"] = out.get("all", WindowScore()) + score


def evaluate(
    series: Sequence[NabSeries], methods: dict[str, Method], points: bool = False
) -> dict[str, dict[str, WindowScore]]:
    """{method: {corpus: score, ..., "all": score}} over the given series."""
    out: dict[str, dict[str, WindowScore]] = {m: {} for m in methods}
    for s in series:
        gs = to_grid(s.timestamps, s.values)
        for name, method in methods.items():
            _add(out[name], s.corpus, score_windows(detections(gs, method(gs), points), s.windows, s.probation_end))
    return out


def sweep(
    series: Sequence[NabSeries], scorers: dict[str, Scorer], thresholds: dict[str, Sequence[float]],
    points: bool = False,
) -> dict[str, dict[float, dict[str, WindowScore]]]:
    """{scorer: {threshold: {corpus: score}}}: every threshold from one scoring pass per series."""
    out: dict[str, dict[float, dict[str, WindowScore]]] = {n: {k: {} for k in thresholds[n]} for n in scorers}
    for s in series:
        gs = to_grid(s.timestamps, s.values)
        for name, scorer in scorers.items():
            score = scorer(gs)
            for k in thresholds[name]:
                found = detections(gs, score >= k, points)
                _add(out[name][k], s.corpus, score_windows(found, s.windows, s.probation_end))
    return out


def per_file(series: Sequence[NabSeries], methods: dict[str, Method]) -> list[tuple[str, dict[str, WindowScore]]]:
    """Per file scores, for looking at where a method wins or loses."""
    rows = []
    for s in series:
        gs = to_grid(s.timestamps, s.values)
        rows.append((s.name, {n: score_windows(detections(gs, m(gs)), s.windows, s.probation_end)
                              for n, m in methods.items()}))
    return rows


def detect_nab(s: NabSeries, sensitivity: Sensitivity = "medium") -> list[pd.Timestamp]:
    """opsbot's detections on one NAB series (what `opsbot detect` would report, as alert starts)."""
    result = detect_series(s.timestamps, s.values, sensitivity)
    return detections(result.grid_series, result.fitted.flags)
