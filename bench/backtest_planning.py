"""Back-tests of the planning numbers against a known truth (issue 15).

    .venv/bin/python -m bench.backtest_planning [--seeds 1,2,3] [--orders 200000] [--quick]

* **pace**: one seeded demo shop per seed runs to SHOP_END; the bot's clock is set at a cut day E
  (it reads only days before E: the profile, the run-rate and the actuals all stop at the clock),
  `goal set` + `pace` project a month or quarter, and the projection is compared with that
  period's actual GMV in the same shop, the days after E (the "known future").
* **campaign report**: `campaign add` over each planted promotion's days (618, 11.11, 12.12, as
  metrics/data/sample.py plants them) and `campaign report`, with the clock a week after the promotion;
  the reported lift is compared with the lift the generator's expected values imply, computed here
  from its constants (`true_lift`), not from the generated rows.

Prints Markdown tables (the README's "Back-tests" section is pasted from them).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics.data import sample  # noqa: E402
from metrics.data.sample import ShopSpec  # noqa: E402

SHOP_END = date(2027, 1, 1)
SHOP_DAYS = 760  # from 2024-12-02: cuts from mid-2025 see 6 to 24 months of history
ORDERS = 200_000


# ---- truth from the generator's expected values ------------------------------------------------


def _multipliers(days: list[date], *, promotions: bool) -> tuple[np.ndarray, np.ndarray]:
    """Order multiplier per day (promotions and the lulls around them) and the promotion flag."""
    mult = np.ones(len(days))
    promo = np.zeros(len(days), dtype=bool)
    if not promotions:
        return mult, promo
    index = {d: i for i, d in enumerate(days)}
    for year in range(days[0].year, days[-1].year + 1):
        for month, day, m in sample._LULLS:
            if (i := index.get(date(year, month, day))) is not None:
                mult[i] *= m
        for _, plan in sample._PROMOTIONS:
            for month, day, m, _conv in plan:
                if (i := index.get(date(year, month, day))) is not None:
                    mult[i], promo[i] = m, True
    return mult, promo


def _mean_amount_per_channel() -> np.ndarray:
    """E[amount | channel] before any promotion discount: the category mix of the channel x the
    lognormal mean of each category's price x the channel's AOV factor."""
    cats = list(sample.CATEGORIES)
    mix = np.tile(np.asarray(sample._CAT_MIX_BASE, dtype=float), (len(sample.CHANNELS), 1))
    for ch, tilts in sample._CAT_MIX_TILT.items():
        for cat, t in tilts.items():
            mix[sample.CHANNELS.index(ch), cats.index(cat)] *= t
    mix /= mix.sum(axis=1, keepdims=True)
    cat = np.asarray(sample._CAT, dtype=float)
    price = cat[:, 0] * np.exp(cat[:, 1] ** 2 / 2)
    return (mix @ price) * np.asarray(sample._AOV_FACTOR, dtype=float)


def expected_daily(spec: ShopSpec, *, promotions: bool = True) -> pd.DataFrame:
    """Expected counted (non-cancelled) orders and GMV per day of the shop `spec`, up to one constant
    (the generator scales the total to spec.orders; it cancels in every ratio). promotions=False is
    the counterfactual: no promotion and no lull, everything else the same."""
    days = [spec.end - timedelta(days=spec.days - i) for i in range(spec.days)]
    t = np.arange(spec.days)
    mult, promo = _multipliers(days, promotions=promotions)
    weekday = np.asarray(sample._WEEKDAY)[[d.weekday() for d in days]]
    level = (1 + sample._GROWTH_PER_YEAR) ** (t / 365.0) * weekday * mult
    frac = (t / max(spec.days - 1, 1))[:, None]
    share = np.asarray(sample._SHARE_START) * (1 - frac) + np.asarray(sample._SHARE_END) * frac
    share /= share.sum(axis=1, keepdims=True)
    live = sample.CHANNELS.index("live_stream")
    share[:, live] *= np.where(mult > 1.0, 1.0 + 0.25 * (mult - 1.0) / 3.5, 1.0)
    share /= share.sum(axis=1, keepdims=True)
    orders = level[:, None] * share  # expected orders per day and channel
    keep = 1.0 - (np.asarray(sample._CANCEL)[None, :] + np.where(mult > 1.0, 0.01, 0.0)[:, None])
    amount = _mean_amount_per_channel()[None, :] * np.where(mult > 1.0, 0.92, 1.0)[:, None]
    return pd.DataFrame({"orders": (orders * keep).sum(axis=1), "gmv": (orders * keep * amount).sum(axis=1),
                         "promo": promo}, index=days)


def true_lift(spec: ShopSpec, start: date, end: date) -> dict[str, float]:
    """The lift of the days [start, end) the generator plants: expected with its promotions and lulls
    over expected without them, minus one."""
    with_promo = expected_daily(spec)
    without = expected_daily(spec, promotions=False)
    sel = (with_promo.index >= start) & (with_promo.index < end)
    return {m: float(with_promo.loc[sel, m].sum() / without.loc[sel, m].sum() - 1) for m in ("gmv", "orders")}


# ---- the bot on a shop with a movable clock -----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2000, 1, 1)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Bot:
    spec: ShopSpec
    daily_gmv: pd.Series  # actual GMV per day, from the generated rows (non-cancelled)
    clock: Clock
    dispatcher: object

    def ask(self, command: str, today: date) -> dict:  # type: ignore[type-arg]
        from bot.context import CONSOLE, Incoming

        self.clock.now = datetime.combine(today, datetime.min.time()) + timedelta(hours=10, minutes=30)
        reply = asyncio.run(self.dispatcher.dispatch(Incoming(command, CONSOLE, "console:local")))  # type: ignore[attr-defined]
        assert not reply.error, f"{command} @ {today}: {reply.plain_text()}"
        return reply.data


def build_bot(spec: ShopSpec, folder: Path) -> Bot:
    from sqlalchemy import create_engine

    from bot.app import build_dispatcher
    from bot.config import Settings
    from bot.state.store import Store
    from metrics.data.load import write_shop
    from metrics.data.sample import generate
    from metrics.data.warehouse import Warehouse

    shop = generate(spec)
    url = f"duckdb:///{folder / f'backtest-{spec.seed}-{spec.days}-{spec.orders}.duckdb'}"
    engine = create_engine(url)
    write_shop(engine, shop, spec)
    engine.dispose()
    settings = Settings.model_validate({"warehouse": {"url": url}})
    wh = Warehouse.from_url(url, settings.mapping())
    clock = Clock()
    store = Store(f"sqlite:///{folder / f'state-{spec.seed}.db'}")
    dispatcher = build_dispatcher(settings, wh, clock=clock, store=store)
    o = shop.orders[shop.orders.status != "cancelled"]
    daily = o.groupby(o.ordered_at.dt.date).amount.sum()
    return Bot(spec, daily, clock, dispatcher)


# ---- pace back-test ------------------------------------------------------------------------------


def _month(d: date, n: int = 0) -> date:
    i = d.year * 12 + d.month - 1 + n
    return date(i // 12, i % 12 + 1, 1)


def pace_cases(first_cut: date, last_end: date, step_months: int = 1) -> list[tuple[date, str, date, date]]:
    """(cut, kind, period start, period end) for every month from first_cut: the month seen from
    its first day and from its 16th, the next month, and the next quarter from a quarter's start."""
    out = []
    cut = _month(first_cut)
    while True:
        nxt = _month(cut, 1)
        if nxt > last_end:
            break
        out.append((cut, "this month, from its 1st", cut, nxt))
        out.append((cut + timedelta(days=15), "this month, from its 16th", cut, nxt))
        if _month(cut, 2) <= last_end:
            out.append((cut, "next month, from the 1st before", nxt, _month(cut, 2)))
        if cut.month % 3 == 1 and _month(cut, 3) <= last_end:
            out.append((cut, "this quarter, from its 1st", cut, _month(cut, 3)))
        cut = _month(cut, step_months)
    return out


def _label(start: date, end: date) -> str:
    last = end - timedelta(days=1)
    return f"{start.isoformat()}..{last.isoformat()}"


def run_pace(bot: Bot, cases: Iterable[tuple[date, str, date, date]]) -> list[dict]:  # type: ignore[type-arg]
    rows = []
    history_start = bot.spec.end - timedelta(days=bot.spec.days)
    for cut, kind, start, end in cases:
        label = _label(start, end)
        bot.ask(f"goal set gmv 1000000 {label}", cut)  # the projection does not depend on the target
        p = bot.ask(f"pace gmv {label}", cut)["goals"][0]
        actual = float(bot.daily_gmv[(bot.daily_gmv.index >= start) & (bot.daily_gmv.index < end)].sum())
        ahead = [(d - cut).days + 1 for d in (max(cut, start) + timedelta(days=i) for i in range((end - max(cut, start)).days))]
        rows.append({"seed": bot.spec.seed, "cut": cut, "kind": kind, "start": start, "end": end,
                     "history_days": (cut - history_start).days, "projected": p["projected"], "low": p["low"],
                     "high": p["high"], "actual": actual, "error": p["projected"] / actual - 1,
                     "covered": p["low"] <= actual <= p["high"],
                     # the part projected: what the days from the cut brought against the run-rate's share
                     "to_date": p["actual"], "at_rate": p["run_rate_remaining"], "ahead": sum(ahead) / len(ahead)})
    return rows


# ---- campaign back-test ----------------------------------------------------------------------------


def promotion_windows(spec: ShopSpec) -> list[tuple[str, date, date]]:
    """Each planted promotion edition with 56 days before it and a week after it inside the shop."""
    first = spec.end - timedelta(days=spec.days) + timedelta(days=56)
    out = []
    for year in range(first.year, spec.end.year + 1):
        for name, plan in sample._PROMOTIONS:
            days = [date(year, m, d) for m, d, *_ in plan]
            start, end = min(days), max(days) + timedelta(days=1)
            if start >= first and end + timedelta(days=8) <= spec.end:
                out.append((name, start, end))
    return out


def run_campaigns(bot: Bot) -> list[dict]:  # type: ignore[type-arg]
    rows = []
    for name, start, end in promotion_windows(bot.spec):
        today = end + timedelta(days=8)
        tag = f"bt-{name}-{start.year}"
        bot.ask(f"campaign add {tag} {_label(start, end)}", today)
        r = bot.ask(f"campaign report {tag}", today)
        truth = true_lift(bot.spec, start, end)
        for m in ("gmv", "orders"):
            lo, hi = r["lift_range"][m]
            rows.append({"seed": bot.spec.seed, "promotion": name, "start": start, "metric": m,
                         "lift": r["lift"][m], "low": lo, "high": hi, "truth": truth[m],
                         "error": r["lift"][m] - truth[m], "covered": lo <= truth[m] <= hi})
    return rows


# ---- report ------------------------------------------------------------------------------------------


def _pct(v: float) -> str:
    return f"{v * 100:+.1f}%"


def summarise_pace(rows: list[dict]) -> str:  # type: ignore[type-arg]
    out = ["| case | history | n | median abs error | mean error | worst | 80% range covers |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    groups: dict[tuple[str, str], list[dict]] = {}  # type: ignore[type-arg]
    for r in rows:
        hist = "≥ 1 year" if r["history_days"] >= 365 else "< 1 year"
        groups.setdefault((r["kind"], hist), []).append(r)
    groups[("all", "all")] = rows
    for (kind, hist), rs in groups.items():
        errs = [r["error"] for r in rs]
        worst = max(errs, key=abs)
        out.append(f"| {kind} | {hist} | {len(rs)} | {statistics.median(abs(e) for e in errs) * 100:.1f}% | "
                   f"{_pct(statistics.fmean(errs))} | {_pct(worst)} | {sum(r['covered'] for r in rs)}/{len(rs)} |")
    return "\n".join(out)


def summarise_campaigns(rows: list[dict]) -> str:  # type: ignore[type-arg]
    out = ["| seed | promotion | metric | true lift | reported lift | 80% range | error (points) | covers |",
           "| ---: | --- | --- | ---: | ---: | --- | ---: | --- |"]
    for r in rows:
        out.append(f"| {r['seed']} | {r['promotion']} {r['start'].year} | {r['metric']} | {_pct(r['truth'])} | "
                   f"{_pct(r['lift'])} | {_pct(r['low'])} … {_pct(r['high'])} | {r['error'] * 100:+.1f} | "
                   f"{'✓' if r['covered'] else '✗'} |")
    errs = [abs(r["error"]) for r in rows]
    out.append(f"\n{len(rows)} estimates: median abs error {statistics.median(errs) * 100:.1f} points, "
               f"mean error {statistics.fmean(r['error'] for r in rows) * 100:+.1f} points, "
               f"range covers the truth {sum(r['covered'] for r in rows)}/{len(rows)}.")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--orders", type=int, default=ORDERS)
    ap.add_argument("--quick", action="store_true", help="every third month only")
    ap.add_argument("--only", choices=("pace", "campaign"), default=None)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="opsbot-backtest-"))
    pace_rows: list[dict] = []  # type: ignore[type-arg]
    camp_rows: list[dict] = []  # type: ignore[type-arg]
    for seed in [int(s) for s in args.seeds.split(",")]:
        spec = ShopSpec(end=SHOP_END, days=SHOP_DAYS, orders=args.orders, seed=seed)
        bot = build_bot(spec, folder)
        if args.only != "campaign":
            first = spec.end - timedelta(days=spec.days) + timedelta(days=190)
            pace_rows += run_pace(bot, pace_cases(first, spec.end, 3 if args.quick else 1))
        if args.only != "pace":
            camp_rows += run_campaigns(bot)
    seeds = args.seeds
    print(f"shops: seeds {seeds}, {SHOP_DAYS} days to {SHOP_END - timedelta(days=1)}, {args.orders:,} orders each")
    if pace_rows:
        print("\n### pace\n")
        print(summarise_pace(pace_rows))
        worst = sorted(pace_rows, key=lambda r: -abs(r["error"]))[:5]
        print("\nworst cases: " + "; ".join(
            f"seed {r['seed']} {r['kind']} {r['start']:%Y-%m} cut {r['cut']}: {_pct(r['error'])}" for r in worst))
    if camp_rows:
        print("\n### campaign report\n")
        print(summarise_campaigns(camp_rows))


if __name__ == "__main__":
    main()
