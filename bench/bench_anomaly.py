"""Anomaly detection benchmark (issue 7): speed, NAB window F1 against two baselines, demo shop recall.

    .venv/bin/python bench/bench_anomaly.py [--series 10000] [--days 730] [--stl-series 10000]
                                            [--nab ../shared/data/nab] [--no-readme]

1. **Speed**: the detector over 10,000 synthetic daily series x 730 days (every day of every series
   scored, as a backtest does), and the daily scan's share of it (the last 126 days: what a scan
   reads); statsmodels STL (robust, period 7) on the same series, one by one, for the ratio.
2. **NAB**: window-level precision / recall / F1 on realAdExchange, realTraffic and realKnownCause
   (metrics.anomaly.nab) for opsbot at low / medium / high, a rolling 3-sigma z-score (7-day window) and
   STL residuals with a robust 3.5 threshold; detections are alert starts (see metrics.anomaly.nab); plus the
   raw per-row variant and each method's best threshold in hindsight.
3. **Demo shop**: the daily scan's backtest against the injected anomalies (metrics.anomaly.evaluation)
   on the test seed, fresh seeds never used while tuning, and the tuning seeds.

The results go to stdout and into the "## Anomaly detection" section of bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from metrics.anomaly.detectors import PARAMS, SENSITIVITIES, daily_grid, fit  # noqa: E402
from metrics.anomaly.evaluation import DemoEvaluation, evaluate_shop  # noqa: E402
from metrics.anomaly.nab import (  # noqa: E402
    CORPORA,
    QUIET_HOURS,
    load_corpus,
    opsbot_scorer,
    stl_scorer,
    sweep,
    zscore_scorer,
)
from metrics.anomaly.scan import SCAN_KPIS, lookback_days  # noqa: E402
from metrics.data.sample import ShopSpec, generate  # noqa: E402

README = ROOT / "bench" / "README.md"
HEADING = "## Anomaly detection"
END = date(2026, 11, 25)  # the tests' "today"


def machine() -> str:
    model = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        model = m.group(1).strip() if m else model
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {model}, Python {platform.python_version()}, numpy {np.__version__}"


# ---- 1. speed ------------------------------------------------------------------------------------------


def synthetic(series: int, days: int, seed: int = 0) -> np.ndarray:
    """Daily KPI-like series: levels over five orders of magnitude, weekday pattern, growth, noise,
    and one injected spike or drop in every tenth series."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    level = rng.lognormal(5, 1.5, series)
    weekday = 1 + rng.uniform(0.0, 0.15, series)[None, :] * np.sin(2 * np.pi * (t[:, None] % 7) / 7)
    growth = 1 + rng.uniform(-0.2, 0.5, series)[None, :] * t[:, None] / 365
    x = level[None, :] * weekday * growth * np.exp(rng.normal(0, 0.06, (days, series)))
    hit = np.arange(0, series, 10)
    x[rng.integers(days // 2, days, len(hit)), hit] *= rng.choice([0.4, 2.0], len(hit))
    return np.round(x)


def bench_speed(n_series: int, n_days: int, stl_series: int) -> dict[str, float]:
    x = synthetic(n_series, n_days)
    grid = daily_grid(date(2024, 1, 1))
    fit(x[:, :50], grid, counts=True)  # warm up imports and caches
    t0, c0 = time.perf_counter(), time.process_time()
    full = fit(x, grid, counts=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    window = lookback_days(PARAMS) + 1
    t0 = time.perf_counter()
    fit(x[-window:], daily_grid(date(2024, 1, 1)), counts=True)
    scan_wall = time.perf_counter() - t0
    from statsmodels.tsa.seasonal import STL

    k = min(stl_series, n_series)
    t0 = time.perf_counter()
    for j in range(k):
        STL(x[:, j], period=7, robust=True).fit()
    stl_wall = time.perf_counter() - t0
    stl_total = stl_wall * n_series / k
    return {
        "series": n_series, "days": n_days, "wall": wall, "cpu": cpu, "scan_wall": scan_wall, "window": window,
        "stl_series": k, "stl_wall": stl_wall, "stl_total": stl_total, "ratio": stl_total / wall,
        "flagged": float(full.flags.mean()),
    }


# ---- 2. NAB ----------------------------------------------------------------------------------------------

THRESHOLDS = {
    "opsbot": [2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0],
    "zscore": [3.0, 4.0, 5.0, 6.0, 8.0, 10.0],
    "stl": [3.5, 5.0, 8.0, 10.0, 15.0, 20.0, 30.0],
}
NAMED = {  # the configurations compared: opsbot's three sensitivities and the baselines as named
    "opsbot low": ("opsbot", PARAMS.thresholds["low"]),
    "opsbot medium (default)": ("opsbot", PARAMS.thresholds["medium"]),
    "opsbot high": ("opsbot", PARAMS.thresholds["high"]),
    "rolling 3-sigma z-score (7 days)": ("zscore", 3.0),
    "STL residuals, robust z >= 3.5": ("stl", 3.5),
}


def bench_nab(root: Path) -> tuple[dict, dict, float]:
    series = [s for corpus in CORPORA for s in load_corpus(root, corpus)]
    scorers = {"opsbot": opsbot_scorer(), "zscore": zscore_scorer(), "stl": stl_scorer()}
    t0 = time.perf_counter()
    alerts = sweep(series, scorers, THRESHOLDS)
    points = sweep(series, scorers, {k: [v for n, (m, v) in NAMED.items() if m == k] for k in THRESHOLDS}, points=True)
    return alerts, points, time.perf_counter() - t0


# ---- 3. demo shop -------------------------------------------------------------------------------------

DEMO_SEEDS = [
    # (role, spec)
    ("test seed", ShopSpec(end=END, days=120, orders=30_000, seed=11)),
    ("fresh", ShopSpec(end=END, days=120, orders=30_000, seed=2027)),
    ("fresh", ShopSpec(end=END, days=400, orders=120_000, seed=2028)),
    ("fresh", ShopSpec(end=END, days=400, orders=120_000, seed=2029)),
    ("tuning", ShopSpec(end=END, days=120, orders=30_000, seed=12)),
    ("tuning", ShopSpec(end=END, days=400, orders=120_000, seed=7)),
    ("tuning", ShopSpec(end=END, days=400, orders=120_000, seed=21)),
    ("tuning", ShopSpec(end=END, days=400, orders=120_000, seed=33)),
]


def bench_demo() -> list[tuple[str, ShopSpec, dict[str, DemoEvaluation]]]:
    out = []
    for role, spec in DEMO_SEEDS:
        shop = generate(spec)
        evs = {s: evaluate_shop(shop, spec, sensitivity=s) for s in SENSITIVITIES}
        out.append((role, spec, evs))
    return out


# ---- report -------------------------------------------------------------------------------------------


def f3(x: float) -> str:
    return f"{x:.3f}"


def nab_table(alerts: dict, points: dict) -> list[str]:
    cols = [*CORPORA, "all"]
    lines = ["| method | " + " | ".join(f"{c} P / R / F1" for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for label, (scorer, k) in NAMED.items():
        by = alerts[scorer][k]
        cells = [f"{f3(by[c].precision)} / {f3(by[c].recall)} / **{f3(by[c].f1)}**" for c in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Counts (all three corpora, 47 windows): TP windows / FN windows / FP detections:")
    lines.append("")
    for label, (scorer, k) in NAMED.items():
        a = alerts[scorer][k]["all"]
        p = points[scorer][k]["all"]
        lines.append(f"- {label}: {a.tp} / {a.fn} / {a.fp} (every flagged row a detection: "
                     f"{p.tp} / {p.fn} / {p.fp}, F1 {f3(p.f1)})")
    lines.append("")
    lines.append("Best threshold in hindsight (chosen on these same files, so optimistic for every method):")
    lines.append("")
    for scorer, ks in THRESHOLDS.items():
        best = max(ks, key=lambda k: alerts[scorer][k]["all"].f1)
        b = alerts[scorer][best]
        per = ", ".join(f"{c} {f3(b[c].f1)}" for c in CORPORA)
        lines.append(f"- {scorer}: threshold {best}: F1 all {f3(b['all'].f1)} ({per})")
    return lines


def demo_tables(results: list[tuple[str, ShopSpec, dict[str, DemoEvaluation]]]) -> list[str]:
    lines = ["| seed | role | days | total recall | slice recall | slice label named at total | "
             "false alerts / KPI / 30 d (worst KPI) | mean over KPIs | slice false / series / 30 d |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    agg: dict[str, list[int]] = {"fresh+test": [0, 0, 0, 0], "tuning": [0, 0, 0, 0]}
    for role, spec, evs in results:
        ev = evs["medium"]
        th, tn = ev.recall(True)
        sh, sn = ev.recall(False)
        named = sum(h.named for h in ev.hits)
        seen = sum(h.total_flagged for h in ev.hits)
        mean = np.mean([ev.false_per_30_days(k) for k in SCAN_KPIS])
        lines.append(f"| {spec.seed} | {role} | {ev.days} | {th}/{tn} | {sh}/{sn} | {named}/{seen} | "
                     f"{ev.worst_false_rate():.2f} | {mean:.2f} | {ev.slice_false_per_30_days():.3f} |")
        key = "tuning" if role == "tuning" else "fresh+test"
        agg[key] = [agg[key][0] + th, agg[key][1] + tn, agg[key][2] + sh, agg[key][3] + sn]
    lines.append("")
    for key, (th, tn, sh, sn) in agg.items():
        lines.append(f"- {key} seeds, medium: total-level recall {th}/{tn}, slice-level recall {sh}/{sn}")
    lines.append("")
    lines.append("By sensitivity (all seeds pooled): total recall, slice recall, worst false alerts per KPI "
                 "per 30 days (any seed):")
    lines.append("")
    for s in SENSITIVITIES:
        th = sum(evs[s].recall(True)[0] for _, _, evs in results)
        tn = sum(evs[s].recall(True)[1] for _, _, evs in results)
        sh = sum(evs[s].recall(False)[0] for _, _, evs in results)
        sn = sum(evs[s].recall(False)[1] for _, _, evs in results)
        worst = max(evs[s].worst_false_rate() for _, _, evs in results)
        lines.append(f"- {s}: {th}/{tn}, {sh}/{sn}, {worst:.2f}")
    lines.append("")
    per_kpi: Counter[str] = Counter()
    days = 0
    for _, _, evs in results:
        per_kpi.update(evs["medium"].false_total)
        days += evs["medium"].days
    lines.append("False alerts at the total per KPI per 30 days, medium, all seeds pooled: "
                 + ", ".join(f"{k} {30 * per_kpi[k] / days:.2f}" for k in SCAN_KPIS) + ".")
    missed = Counter(f"{h.kind} ({h.metric}{'' if h.dimension is None else ' by ' + h.dimension})"
                     for _, _, evs in results for h in evs["medium"].hits if not h.found)
    lines.append("")
    lines.append("Missed label rows, medium, all seeds: "
                 + (", ".join(f"{k}: {v}" for k, v in missed.most_common()) or "none") + ".")
    return lines


NOTES = """Notes:

- Slice misses are mostly one kind: a channel losing 60 % of its orders for a day, on a channel
  with ~50 orders a day, scores about -3.4, under the slice threshold (3.5 raised to ~3.95 for
  the 6 channels tested together, so that a dimension raises no more false alerts than the
  total). The outage is usually still found on that channel's sessions, which drop too (one
  sessions drop is missed in the pooled seeds).
- The refund-rate miss: the refund rate is money-weighted, and on ~25 orders a day one refunded
  laptop moves it as much as the injected "half the region refunded" wave did in that seed. A
  count of refunded orders (a `refunds` measure in the warehouse) would separate the two; the
  detector already floors the spread of money shares at the root-mean-square residual, which is
  why refund_rate still has the highest false-alert rate (0.26 / 30 days) but not a runaway one.
- Seed 2027 (120 days) has five label rows in its first five weeks, before any baseline exists;
  they are left out of its recall.
- The machine was shared while this ran (load average 3-4 on 2 cores): wall times are pessimistic.
"""


def write_readme(section: str) -> None:
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    README.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--stl-series", type=int, default=10_000, help="STL on this many of the series (time scaled up)")
    ap.add_argument("--nab", type=Path, default=ROOT.parent / "shared" / "data" / "nab")
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()

    print(machine(), flush=True)
    speed = bench_speed(args.series, args.days, args.stl_series)
    print(speed, flush=True)
    alerts, points, nab_time = bench_nab(args.nab)
    print("\n".join(nab_table(alerts, points)), flush=True)
    demo = bench_demo()
    print("\n".join(demo_tables(demo)), flush=True)

    stl_note = ("" if speed["stl_series"] == speed["series"]
                else f" (timed on {speed['stl_series']:,} of them and scaled up)")
    section = "\n".join([
        HEADING,
        "",
        f"`bench/bench_anomaly.py`, {date.today().isoformat()}. Machine: {machine()}.",
        "One parameter set (`metrics.anomaly.detectors.PARAMS`) for every grain and source; it was chosen on the "
        "demo shop (seeds 11, 12, 7, 21, 33) and the NAB files below together, so the NAB numbers are "
        "in-sample for opsbot; seeds 2027-2029 were never looked at while tuning.",
        "",
        "### Speed",
        "",
        f"- {speed['series']:,} daily series x {speed['days']} days, every day of every series scored "
        f"(weekday and 7-day baselines, level, spread, scores, flags): **{speed['wall']:.2f} s** wall "
        f"({speed['cpu']:.2f} s CPU).",
        f"- The daily scan of the same series (the last {int(speed['window'])} days it reads): "
        f"{speed['scan_wall']:.2f} s.",
        f"- statsmodels STL (robust, period 7), one series at a time, same series{stl_note}: "
        f"{speed['stl_total']:.0f} s, **{speed['ratio']:.0f}x** the detector's time.",
        "",
        "### NAB (window-level, realAdExchange + realTraffic + realKnownCause)",
        "",
        "A window with a detection in it is one TP, a window without is a FN, a detection outside every "
        "window is a FP; NAB's probationary period is not scored. A detection is the start of an alert "
        f"(a flagged row with no flag in the {QUIET_HOURS:g} h before it), the same rule for every method; "
        "the per-row variant is listed below the table. STL fits each whole series at once (it sees the "
        "future); opsbot and the z-score only use the past.",
        "",
        *nab_table(alerts, points),
        "",
        f"NAB run time (all three methods, all thresholds): {nab_time:.0f} s.",
        "",
        "### Demo shop (daily scan backtest vs injected anomalies, medium unless noted)",
        "",
        "Total recall: the labels at the total (the orders/conversion collapse). Slice recall: labels on "
        "a channel, category or region, found on that slice. A flag on a day without any injected "
        "anomaly is a false alert. Scored from the 36th day (a baseline needs history).",
        "",
        *demo_tables(demo),
        "",
        NOTES,
    ])
    if not args.no_readme:
        write_readme(section)
        print(f"wrote {README}")


if __name__ == "__main__":
    main()
