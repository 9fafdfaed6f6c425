"""Back-test of `budget` against the demo shop's known response to spend (issue 15).

    .venv/bin/python -m bench.backtest_budget [--seeds 1,2,3] [--orders 120000]

The generator drives each paid channel's demand by its spend through a known curve
(metrics/data/sample.py, `expected_gmv`). For each shop and cut day the bot's clock is set at the cut
(it reads only the days before), and `budget <amount> <next 30 days>` is asked twice: with the
amount the channels spent in the last 28 days (scaled to 30), and with 70 % of it. The reply's
promise — the extra GMV over the same money split like the last 28 days, and the GMV the spend
brings — is compared with what the generator's expected values give for the same two splits.

Prints a Markdown table (pasted into bench/README.md).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from datetime import date, timedelta
from pathlib import Path

from bench.backtest_planning import build_bot
from metrics.data import sample
from metrics.data.sample import ShopSpec

SHOP_END = date(2026, 12, 1)
SHOP_DAYS = 400
PERIOD_DAYS = 30


def run_case(bot, spec: ShopSpec, cut: date, share: float) -> dict:  # type: ignore[no-untyped-def]
    recent = bot.spend[(bot.spend["day"] >= cut - timedelta(days=28)) & (bot.spend["day"] < cut)]
    amount = round(float(recent["spend"].sum()) / 28 * PERIOD_DAYS * share, -2)
    last = cut + timedelta(days=PERIOD_DAYS - 1)
    data = bot.ask(f"budget {amount:.0f} {cut.isoformat()}..{last.isoformat()}", cut)
    best = {c["channel"]: c["spend"] / PERIOD_DAYS for c in data["channels"]}
    like_recent = {c["channel"]: c["current_spend"] / PERIOD_DAYS for c in data["channels"]}
    truth = {name: sum(sample.expected_gmv(spec, cut, PERIOD_DAYS, split).values())
             for name, split in (("best", best), ("recent", like_recent), ("zero", dict.fromkeys(best, 0.0)))}
    promised = data["uplift_vs_current"]
    brought = data["best"]
    return {"seed": spec.seed, "cut": cut, "share": share, "amount": amount,
            "uplift": promised["expected"], "uplift_range": promised["range"], "sure": promised["sure"],
            "true_uplift": truth["best"] - truth["recent"],
            "brought": brought["total_incremental"], "brought_range": brought["incremental_range"],
            "true_brought": truth["best"] - truth["zero"], "unplaced": data["unplaced"]}


def summarise(rows: list[dict]) -> str:  # type: ignore[type-arg]
    def inside(v: float, r: list[float], tolerance: float = 0.0) -> bool:
        return r[0] - tolerance <= v <= r[1] + tolerance

    out = ["| quantity | n | mean promised | mean true | mean error (promised − true) | median abs error | "
           "80% range covers | within CN¥100 |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, key, truth, rng in (("extra GMV over the recent split", "uplift", "true_uplift", "uplift_range"),
                                   ("GMV brought by the spend", "brought", "true_brought", "brought_range")):
        errors = [r[key] - r[truth] for r in rows]
        covered = sum(inside(r[truth], r[rng]) for r in rows)
        near = sum(inside(r[truth], r[rng], 100.0) for r in rows)  # "no change" answers off by a few yuan
        out.append(f"| {label} | {len(rows)} | {statistics.mean(r[key] for r in rows):,.0f} | "
                   f"{statistics.mean(r[truth] for r in rows):,.0f} | {statistics.mean(errors):+,.0f} | "
                   f"{statistics.median(abs(e) for e in errors):,.0f} | {covered}/{len(rows)} | {near}/{len(rows)} |")
    sure = [r for r in rows if r["sure"]]
    out.append(f"\nCalled a gain (range wholly above zero): {len(sure)}/{len(rows)}; of them truly worse than the "
               f"recent split: {sum(r['true_uplift'] < 0 for r in sure)}.")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--orders", type=int, default=120_000)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="opsbot-budget-backtest-"))
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        spec = ShopSpec(end=SHOP_END, days=SHOP_DAYS, orders=args.orders, seed=seed)
        bot = build_bot(spec, folder)
        bot.spend = sample.generate(spec).marketing_spend.assign(  # type: ignore[attr-defined]
            day=lambda f: f["day"].dt.date)
        for cut in (date(2026, 6, 1), date(2026, 8, 1), date(2026, 10, 1), SHOP_END - timedelta(days=PERIOD_DAYS)):
            for share in (1.0, 0.7):
                rows.append(run_case(bot, spec, cut, share))
    print(f"shops: seeds {args.seeds}, {SHOP_DAYS} days to {SHOP_END - timedelta(days=1)}, {args.orders:,} orders")
    print(summarise(rows))
    for r in rows:
        print(f"seed {r['seed']} cut {r['cut']} x{r['share']}: uplift {r['uplift']:,.0f} "
              f"[{r['uplift_range'][0]:,.0f}, {r['uplift_range'][1]:,.0f}] true {r['true_uplift']:,.0f}; brought "
              f"{r['brought']:,.0f} [{r['brought_range'][0]:,.0f}, {r['brought_range'][1]:,.0f}] "
              f"true {r['true_brought']:,.0f}; unplaced {r['unplaced']:,.0f}")


if __name__ == "__main__":
    main()
