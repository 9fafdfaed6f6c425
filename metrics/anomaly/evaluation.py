"""Scoring the daily scan against the demo shop's injected anomalies (metrics.data.sample labels).

The shop is written to a SQLite warehouse and scanned through the same `Warehouse.daily` path as
production (`anomaly_scan.backtest`: the verdict of the daily scan on every day, in one pass).

* **Recall**, per label row (day, metric, dimension, value, magnitude): found when the scan flags
  that metric on that day at that level (the total when dimension is None, else the slice) in the
  labelled direction. Total-level labels (the conversion/orders collapse) and slice-level labels
  are reported apart. For slice labels we also record whether the total moved enough to be
  flagged and, if so, whether its root causes name the slice first in its dimension.
* **False alerts**: flags on days with no injected anomaly at all. Injected anomalies move more
  than their labelled metric (a channel's drop also cuts gmv, buyers and that channel's categories;
  metrics that only follow are not labelled), so every flag on a label day counts as explained.
  Per KPI at the total level, as alerts per 30 scored days; slices are reported per series.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine

from metrics.anomaly.detectors import PARAMS, Params, Sensitivity
from metrics.anomaly.scan import MIN_VOLUME, SCAN_KPIS, KpiAnomaly, MinVolume, backtest
from metrics.data.load import write_shop
from metrics.data.sample import Shop, ShopSpec
from metrics.data.schema import Mapping
from metrics.data.warehouse import Warehouse


@dataclass
class LabelHit:
    day: date
    metric: str
    dimension: str | None
    value: str | None
    kind: str
    found: bool  # flagged at the labelled level, in the labelled direction
    total_flagged: bool = False  # the metric's total was flagged that day (for slice labels)
    named: bool = False  # ... and its root causes put the slice first in its dimension


@dataclass
class DemoEvaluation:
    seed: int
    days: int  # days scored (with a full baseline)
    hits: list[LabelHit]
    false_total: Counter[str] = field(default_factory=Counter)  # kpi -> false alerts at the total
    false_slices: Counter[str] = field(default_factory=Counter)  # kpi -> false alerts over all its slices
    slice_series: Counter[str] = field(default_factory=Counter)  # kpi -> number of slices scanned
    false_examples: list[KpiAnomaly] = field(default_factory=list)

    def recall(self, total: bool) -> tuple[int, int]:
        rows = [h for h in self.hits if (h.dimension is None) == total]
        return sum(h.found for h in rows), len(rows)

    def false_per_30_days(self, kpi: str) -> float:
        return 30.0 * self.false_total[kpi] / self.days if self.days else 0.0

    def worst_false_rate(self) -> float:
        return max((self.false_per_30_days(k) for k in SCAN_KPIS), default=0.0)

    def slice_false_per_30_days(self) -> float:
        """False alerts per slice series per 30 days, over every KPI's slices."""
        series = sum(self.slice_series.values())
        return 30.0 * sum(self.false_slices.values()) / (self.days * series) if self.days and series else 0.0


def evaluate_shop(
    shop: Shop,
    spec: ShopSpec,
    *,
    sensitivity: Sensitivity = "medium",
    params: Params = PARAMS,
    min_volume: MinVolume = MIN_VOLUME,
    warmup_days: int = 35,
    workdir: str | Path | None = None,
) -> DemoEvaluation:
    """Backtest the scan over the shop's history and score it against the shop's labels.

    Days before `warmup_days` are not scored (no baseline yet: five weeks give the weekday median
    three weeks and the spread seven residuals); labels in them are left out of the recall too.
    """
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'shop.db'}")
        write_shop(engine, shop, spec)
        wh = Warehouse(engine, Mapping.default())
        start = spec.end - timedelta(days=spec.days)
        promotions = set(shop.promotions["day"])
        levels, found = backtest(wh, start, spec.end, expected_days=promotions, sensitivity=sensitivity,
                                 min_volume=min_volume, params=params)
        engine.dispose()
    first_scored = levels.days[warmup_days].date()
    found = [a for a in found if a.day >= first_scored]
    return score_against_labels(shop, found, first_scored, spec, levels_slices(levels))


def levels_slices(levels: object) -> Counter[str]:
    """Slices per KPI the scan looked at (for the per-series false-alert rate)."""
    from metrics.anomaly.scan import Levels
    from metrics.kpis import CATALOG

    assert isinstance(levels, Levels)
    out: Counter[str] = Counter()
    for name in SCAN_KPIS:
        kpi = CATALOG[name]
        for level, per in levels.frames.items():
            if level is not None and all(m in per for m in kpi.measures):
                out[name] += per[kpi.numerator].shape[1]
    return out


def score_against_labels(
    shop: Shop, found: list[KpiAnomaly], first_scored: date, spec: ShopSpec, slices: Counter[str]
) -> DemoEvaluation:
    labels = shop.labels[shop.labels["day"] >= first_scored]
    label_days: Collection[date] = set(shop.labels["day"])
    flagged = {(a.day, a.kpi, a.dimension, a.value): a for a in found}
    hits: list[LabelHit] = []
    for row in labels.itertuples(index=False):
        want = "up" if row.magnitude > 0 else "down"
        dim = None if row.dimension is None or (isinstance(row.dimension, float) and np.isnan(row.dimension)) else row.dimension
        val = None if dim is None else row.value
        a = flagged.get((row.day, row.metric, dim, val))
        hit = LabelHit(row.day, row.metric, dim, val, row.kind, a is not None and a.direction == want)
        if dim is not None:
            total = flagged.get((row.day, row.metric, None, None))
            hit.total_flagged = total is not None and total.direction == want
            if total is not None:
                causes = total.root_causes.get(dim, [])
                hit.named = bool(causes) and causes[0].value == val
        hits.append(hit)
    days = (spec.end - first_scored).days
    ev = DemoEvaluation(spec.seed, days, hits, slice_series=slices)
    for a in found:
        if a.day in label_days:
            continue
        if a.dimension is None:
            ev.false_total[a.kpi] += 1
            ev.false_examples.append(a)
        else:
            ev.false_slices[a.kpi] += 1
    return ev
