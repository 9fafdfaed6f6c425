"""KPI series over time: daily, weekly (ISO weeks) or monthly, optionally one line per top slice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import pandas as pd

from metrics.data.warehouse import Filter, Warehouse
from metrics.kpis import Kpi
from metrics.periods import Period

Grain = Literal["day", "week", "month"]
TOP_LINES = 5
OTHER = "other"
TOTAL_LINE = "total"


@dataclass
class TrendResult:
    kpi: Kpi
    period: Period
    grain: Grain
    by: str | None
    # index: bucket start dates; one column per line (TOTAL_LINE, or top values + OTHER)
    series: pd.DataFrame
    # buckets that are not whole (the first/last week or month cut by the period, today so far)
    partial: list[date]


def bucket_start(day: date, grain: Grain) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _next_bucket(start: date, grain: Grain) -> date:
    if grain == "week":
        return start + timedelta(days=7)
    if grain == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def buckets(period: Period, grain: Grain) -> list[tuple[date, date, date]]:
    """(label start, first day inside the period, day after the last inside) for every bucket."""
    out = []
    cursor = bucket_start(period.start, grain)
    while cursor < period.end:
        nxt = _next_bucket(cursor, grain)
        out.append((cursor, max(cursor, period.start), min(nxt, period.end)))
        cursor = nxt
    return out


def _ratio(num: pd.Series | pd.DataFrame, den: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    # a bucket without a denominator has no value (n/a), never infinity
    return num / den.where(den != 0)


def _parts_by_bucket(
    wh: Warehouse, kpi: Kpi, period: Period, grain: Grain, by: str | None, filters: Sequence[Filter]
) -> pd.DataFrame:
    """Summed parts of the KPI per (bucket[, key]); distinct counts are counted per bucket, not summed."""
    start, end = period.bounds()
    distinct = {"buyers", "repeat_buyers"}
    additive = [m for m in kpi.measures if m not in distinct]
    frames = []
    if additive:
        daily = wh.daily(additive, start, end, by, filters)
        daily["bucket"] = [bucket_start(d, grain) for d in daily["day"]]
        keys = ["bucket"] + (["key"] if by else [])
        frames.append(daily.groupby(keys)[[m for m in additive if m in daily]].sum())
    needed = [m for m in kpi.measures if m in distinct]
    if needed:
        rows = []
        for label, first, after in buckets(period, grain):
            lo = datetime.combine(first, datetime.min.time())
            hi = min(datetime.combine(after, datetime.min.time()), end)
            agg = wh.aggregate(needed, lo, hi, by, filters)
            agg = agg.reset_index().rename(columns={agg.index.name or "index": "key"})
            agg["bucket"] = label
            rows.append(agg)
        frame = pd.concat(rows, ignore_index=True)
        keys = ["bucket"] + (["key"] if by else [])
        frames.append(frame.set_index(keys)[needed])
    parts = pd.concat(frames, axis=1).fillna(0.0) if frames else pd.DataFrame()
    return parts


def trend(
    wh: Warehouse,
    kpi: Kpi,
    period: Period,
    grain: Grain = "day",
    by: str | None = None,
    filters: Sequence[Filter] = (),
) -> TrendResult:
    parts = _parts_by_bucket(wh, kpi, period, grain, by, filters)
    index = pd.Index([label for label, _, _ in buckets(period, grain)], name="bucket")
    partial = [label for label, first, after in buckets(period, grain)
               if first != label or after != _next_bucket(label, grain)]
    if period.until is not None and index.size:
        partial.append(index[-1])
    if parts.empty or any(m not in parts for m in kpi.measures):  # a part not recorded: unknown, not 0
        series = pd.DataFrame(index=index, columns=[TOTAL_LINE], dtype=float)
        return TrendResult(kpi, period, grain, by, series, sorted(set(partial)))
    if by:
        volume_of = kpi.denominator or kpi.numerator
        volume = parts[volume_of].groupby(level="key").sum().sort_values(ascending=False)
        top = [k for k in volume.index[:TOP_LINES] if volume[k] > 0]
        keys = parts.index.get_level_values("key")
        grouped = parts.groupby([parts.index.get_level_values("bucket"), keys.where(keys.isin(top), OTHER)]).sum()
        grouped.index.names = ["bucket", "key"]
        num = grouped[kpi.numerator].unstack("key")
        values = _ratio(num, grouped[kpi.denominator].unstack("key")) if kpi.denominator else num
        lines = top + ([OTHER] if OTHER in values.columns else [])
        series = values.reindex(index=index, columns=lines)
        if not kpi.denominator:
            series = series.fillna(0.0)
    else:
        values = _ratio(parts[kpi.numerator], parts[kpi.denominator]) if kpi.denominator else parts[kpi.numerator]
        series = values.reindex(index).to_frame(TOTAL_LINE)
        if not kpi.denominator:
            series = series.fillna(0.0)
    series.index.name = "bucket"
    return TrendResult(kpi, period, grain, by, series.astype(float), sorted(set(partial)))
