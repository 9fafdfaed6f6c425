"""Budget allocation across channels, the spend plan `budget adopt` saves, and its pace (`pace spend`).

    budget <amount> [period] [for gmv|new_customers] [channel …] [min N%] [max N%] [channel>=N%] [adopt]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial

import pandas as pd
from sqlalchemy import select

from bot.context import Args, Context
from bot.errors import UsageError
from bot.reply import Action, Reply
from bot.reply import Table as ReplyTable
from bot.router import Router
from bot.state.planning import Goal, GoalTarget, SpendPlan
from bot.text.i18n import fmt_percent, fmt_value
from bot.text.messages import metric_label
from handlers.common import did_you_mean
from handlers.kpi import joined_list, period_text
from handlers.planning.basics import (
    RECENT_DAYS,
    midnight,
    money_text,
    require_admin,
    signed_amount,
    today_of,
    value_text,
    whole,
)
from metrics.errors import InputError
from metrics.kpis import CATALOG, Kpi, json_number
from metrics.periods import Period, extract_period, parse_period
from metrics.planning import budget as budget_mod
from metrics.planning import goals as plan_mod

router = Router()

BUDGET_HISTORY_DAYS = 180
OBJECTIVES = {"gmv": "gmv", "sales": "gmv", "销售额": "gmv", "new_customers": "new_customers", "new": "new_customers",
              "新客": "new_customers", "新客数": "new_customers"}
_SHARE = re.compile(r"^(?P<ch>[^<>=\s]+)(?P<op><=|>=|=)(?P<n>[0-9]+(?:\.[0-9]+)?)%?$")


def _percent(word: str) -> float | None:
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)%?", word)
    return float(m[1]) / 100 if m else None


@dataclass
class BudgetQuery:
    amount: float
    period: Period
    objective: str
    channels: list[str]
    min_share: dict[str, float]
    max_share: dict[str, float]
    adopt: bool
    words: list[str]  # the constraints as typed, for the Adopt button

    def command(self) -> str:
        last = self.period.end - timedelta(days=1)
        parts = ["budget", "adopt", f"{self.amount:.2f}".rstrip("0").rstrip("."),
                 f"{self.period.start.isoformat()}..{last.isoformat()}", "for", self.objective, *self.words]
        return " ".join(parts)


def parse_budget(ctx: Context, tokens: Sequence[str], known: Sequence[str]) -> BudgetQuery:
    words = list(tokens)
    adopt = False
    if words and words[0].lower() in ("adopt", "采用"):
        adopt, words = True, words[1:]
    period, _, rest = extract_period(words, ctx.now())
    amount: float | None = None
    objective = "gmv"
    channels: list[str] = []
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    kept: list[str] = []
    i = 0

    def channel(word: str) -> str:
        if word not in known:
            raise InputError("budget_unknown_channel", name=word[:40], suggestion=did_you_mean(word, known, ctx.lang),
                             choices=", ".join(known))
        return word

    while i < len(rest):
        w = rest[i]
        low = w.lower()
        if amount is None and (value := signed_amount(w)) is not None:
            amount = value
        elif low in ("for", "目标", "按") and i + 1 < len(rest):
            obj = OBJECTIVES.get(rest[i + 1].lower())
            if obj is None:
                raise UsageError("budget_objective", name=rest[i + 1][:40])
            objective = obj
            i += 1
        elif low in ("min", "max", "最少", "最多") and i + 1 < len(rest):
            share = _percent(rest[i + 1])
            if share is None:
                raise UsageError("budget_bad_share", text=f"{w} {rest[i + 1]}"[:40])
            target = lo if low in ("min", "最少") else hi
            target["*"] = share
            kept += [w, rest[i + 1]]
            i += 1
        elif (m := _SHARE.match(low)) is not None:
            ch = channel(m["ch"])
            share = float(m["n"]) / 100
            if m["op"] in (">=", "="):
                lo[ch] = share
            if m["op"] in ("<=", "="):
                hi[ch] = share
            kept.append(w)
        else:
            ch = channel(low)
            if ch not in channels:
                channels.append(ch)
            kept.append(low)
        i += 1
    if amount is None:
        raise UsageError("budget_need_amount")
    if amount <= 0:
        raise UsageError("budget_not_positive", amount=f"{amount:g}")
    period = whole(period) if period else parse_period("next month", ctx.now())
    return BudgetQuery(amount, period, objective, channels, lo, hi, adopt, kept)


def _expand(shares: dict[str, float], channels: Sequence[str]) -> dict[str, float]:
    default = shares.get("*")
    out = {ch: default for ch in channels if default is not None}
    out.update({k: v for k, v in shares.items() if k != "*"})
    return {k: v for k, v in out.items() if k in channels}  # type: ignore[misc]


@dataclass
class BudgetResult:
    query: BudgetQuery
    curves: dict[str, budget_mod.Curve]
    thin: list[str]
    best: budget_mod.Allocation
    current: budget_mod.Allocation
    even: budget_mod.Allocation
    caps: dict[str, float]


def budget_channels(ctx: Context) -> list[str]:
    t = ctx.warehouse.tables["marketing_spend"]
    with ctx.warehouse.connect() as conn:
        return sorted(str(v) for v in conn.execute(select(t.c.channel).distinct()).scalars() if v is not None)


def _check_budget_scope(ctx: Context) -> None:
    """Spend is recorded per channel: a chat scoped to another dimension (region) has none of it."""
    if not ctx.warehouse.available("spend", "channel", []):
        scope = ", ".join(f"{d}={'/'.join(v)}" for d, v in ctx.warehouse.scope.items())
        raise InputError("budget_not_at_scope", scope=scope)


def compute_budget(ctx: Context, q: BudgetQuery, today: date) -> BudgetResult:
    start = today - timedelta(days=BUDGET_HISTORY_DAYS)
    measures = ["spend", "gmv", "orders"] if q.objective == "gmv" else ["spend", q.objective]
    daily = ctx.warehouse.daily(measures, midnight(start), midnight(today), by="channel")
    curves, thin = budget_mod.fit_curves(budget_mod.outcome_series(daily, q.objective), q.objective)
    if q.channels:
        thin = [ch for ch in q.channels if ch not in curves]
        curves = {ch: c for ch, c in curves.items() if ch in q.channels}
    if not curves:
        raise InputError("budget_no_history", channels=", ".join(thin) or "-")
    names = sorted(curves)
    days = q.period.days
    recent = daily[daily["day"] >= today - timedelta(days=RECENT_DAYS)].groupby("key")["spend"].sum().to_dict()
    caps = budget_mod.caps_for(curves, days, {ch: recent.get(ch, 0.0) / RECENT_DAYS for ch in names})
    factors = budget_mod.demand_factors(curves, q.period.start, days)
    like_recent = budget_mod.current_mix(recent, names, q.amount)
    # moves from the recent split are credited net of the curves' optimism there (metrics/planning/budget.py)
    curves = budget_mod.anchored(curves, {ch: v / days for ch, v in like_recent.items()})
    best = budget_mod.allocate(curves, q.amount, days, caps, _expand(q.min_share, names), _expand(q.max_share, names),
                               factors)
    current = budget_mod.evaluate(curves, like_recent, days, caps, factors)
    even = budget_mod.evaluate(curves, budget_mod.even_split(names, q.amount), days, caps, factors)
    return BudgetResult(q, curves, thin, best, current, even, caps)


def _channel_note(ctx: Context, r: BudgetResult, ch: str) -> str:
    curve = r.curves[ch]
    if ch in r.best.uncredited:
        return ctx.t("budget_note_uncredited", amount=money_text(ctx, r.best.uncredited[ch]))
    if curve.weak:
        return ctx.t("budget_note_weak", r2=f"{curve.r2:.2f}")
    if r.best.spend[ch] >= r.caps[ch] * (1 - 1e-6):
        return ctx.t("budget_note_cap")
    return ""


def render_budget(ctx: Context, r: BudgetResult) -> Reply:
    q = r.query
    objective_kpi = CATALOG[q.objective]
    label = metric_label(q.objective, ctx.lang)
    value = partial(value_text, ctx, objective_kpi)

    def span(lo: float, hi: float) -> str:
        return ctx.t("budget_range", lo=value(lo), hi=value(hi))

    rows, channels_data = [], []
    for ch in sorted(r.best.spend, key=lambda c: -r.best.spend[c]):
        spend, inc = r.best.spend[ch], r.best.incremental[ch]
        lo, hi = r.best.channel_range(ch)
        # the return on the money, not on the baseline the channel brings anyway
        # no spend (or nothing credited) has no CAC: n/a, not CN¥0.00 (issue 24)
        ratio = (inc / spend if spend else None) if q.objective == "gmv" else (spend / inc if spend > 0 < inc else None)
        weak = r.curves[ch].weak
        # a weak fit's point estimate is not an expectation anyone should plan on: its range only
        rows.append([ch, money_text(ctx, spend), fmt_percent(spend / q.amount, ctx.lang), "–" if weak else value(inc),
                     f"{value(lo)} – {value(hi)}",
                     "–" if weak else fmt_value(ratio, "ratio" if q.objective == "gmv" else "money", ctx.lang,
                                                ctx.settings.bot.currency, na=ctx.t("na")),
                     money_text(ctx, r.current.spend[ch]), _channel_note(ctx, r, ch)])
        channels_data.append({"channel": ch, "spend": json_number(spend), "share": json_number(spend / q.amount),
                              "incremental": json_number(inc), "incremental_range": [json_number(lo), json_number(hi)],
                              "baseline": json_number(r.best.baseline[ch]),
                              "incremental_" + ("roas" if q.objective == "gmv" else "cac"): json_number(ratio),
                              "marginal": json_number(r.best.marginal[ch]), "cap": json_number(r.caps[ch]),
                              "weak_fit": weak, "uncredited": json_number(r.best.uncredited.get(ch, 0.0)),
                              "current_spend": json_number(r.current.spend[ch]),
                              "even_spend": json_number(r.even.spend[ch]), "curve": r.curves[ch].as_json()})
    uplift, up_lo, up_hi = r.best.uplift_over(r.current)
    inc_lo, inc_hi = r.best.range()
    text = [ctx.t("budget_intro", amount=money_text(ctx, q.amount), period=period_text(q.period, ctx.lang), objective=label),
            ctx.t("budget_uplift", uplift=_signed_value(ctx, objective_kpi, uplift), range=span(up_lo, up_hi)),
            ctx.t("budget_incremental", value=value(r.best.total_incremental), range=span(inc_lo, inc_hi),
                  baseline=value(r.best.total_baseline))]
    if up_lo <= 0 < uplift:
        # the split may be no better than the recent one: a test to run, not a plan to adopt blindly
        text.append(ctx.t("budget_uplift_unsure"))
    even_gain, _, _ = r.best.uplift_over(r.even)
    text.append(ctx.t("budget_vs_even", change=_signed_value(ctx, objective_kpi, even_gain)))
    if r.best.unplaced > 0.005:
        text.append(ctx.t("budget_unplaced", amount=money_text(ctx, r.best.unplaced)))
    weak = [ch for ch in sorted(r.curves) if r.curves[ch].weak]
    if weak:
        r2 = "（r² {:.2f}）" if ctx.lang == "zh" else " (r² {:.2f})"
        text.append(ctx.t("budget_weak", channels=joined_list(ctx, [ch + r2.format(r.curves[ch].r2) for ch in weak]),
                          r2=f"{budget_mod.MIN_R2:.1f}"))
    if r.best.uncredited:
        text.append(ctx.t("budget_uncredited", channels=joined_list(ctx, sorted(r.best.uncredited))))
    if r.thin:
        text.append(ctx.t("budget_thin", channels=joined_list(ctx, r.thin), days=budget_mod.MIN_SPEND_DAYS))
    text.append(ctx.t("budget_method", days=BUDGET_HISTORY_DAYS))
    columns = [ctx.t("pl_channel"), ctx.t("budget_spend"), ctx.t("share"), ctx.t("budget_from_spend", metric=label),
               ctx.t("budget_range_column"),
               ctx.t("budget_iroas") if q.objective == "gmv" else ctx.t("budget_icac"),
               ctx.t("budget_current"), ctx.t("budget_note")]
    reply = Reply(
        title=ctx.t("budget_title", amount=money_text(ctx, q.amount), period=period_text(q.period, ctx.lang)),
        text=text,
        tables=[ReplyTable(columns, rows)],
        data={"amount": q.amount, "period": q.period.as_json(), "objective": q.objective, "channels": channels_data,
              "thin": r.thin, "weak": weak, "unplaced": json_number(r.best.unplaced),
              "uplift_vs_current": {"expected": json_number(uplift), "range": [json_number(up_lo), json_number(up_hi)],
                                    "sure": bool(up_lo > 0)},
              "best": _allocation_json(r.best), "current": _allocation_json(r.current), "even": _allocation_json(r.even)},
    )
    if not q.adopt:
        reply.actions.append(Action(ctx.t("budget_adopt_button"), q.command(), "primary"))
    return reply


def _allocation_json(a: budget_mod.Allocation) -> dict[str, object]:
    def numbers(value: object) -> object:
        if isinstance(value, dict):
            return {k: numbers(v) for k, v in value.items()}
        if isinstance(value, list):
            return [numbers(v) for v in value]
        return json_number(value) if isinstance(value, float) else value

    return numbers(a.as_json())  # type: ignore[return-value]


def _signed_value(ctx: Context, kpi: Kpi, v: float) -> str:
    text = value_text(ctx, kpi, abs(v))
    return ("+" if v >= 0 else "−") + text


def save_spend_plan(ctx: Context, r: BudgetResult) -> int:
    """Store the split (replacing any plan for the same period) and a spend goal for `pace`."""
    q = r.query
    with ctx.services.store.session() as s, s.begin():
        for old in s.scalars(select(SpendPlan).where(SpendPlan.start == q.period.start, SpendPlan.end == q.period.end)):
            s.delete(old)
        for old in s.scalars(select(Goal).where(Goal.metric == "spend", Goal.start == q.period.start,
                                                Goal.end == q.period.end)):
            s.delete(old)
        # spend is paced evenly per day: a plan, not a forecast of demand
        placed = r.best.total_spend  # money not placed is not planned to be spent
        split = plan_mod.decompose(placed, q.period.start, q.period.end, plan_mod.Profile(), scale=100)
        goal_row = Goal(metric="spend", kind="sum", target=placed, start=q.period.start, end=q.period.end,
                        label=q.period.label, chat=str(ctx.incoming.chat), created_by=ctx.incoming.user,
                        targets=[GoalTarget(day=d, units=u, scale=100) for d, u in zip(split.days, split.day_units, strict=True)])
        s.add(goal_row)
        s.flush()
        for ch, amount in r.best.spend.items():
            s.add(SpendPlan(start=q.period.start, end=q.period.end, channel=ch, amount=round(amount, 2),
                            objective=q.objective, expected=r.best.baseline[ch] + r.best.incremental[ch],
                            goal_id=goal_row.id,
                            created_by=ctx.incoming.user))
        return goal_row.id


async def pace_spend(ctx: Context, today: date) -> Reply:
    """`pace spend`: each channel's spend to date against the running spend plan."""

    def load() -> tuple[list[SpendPlan], pd.DataFrame | None]:
        with ctx.services.store.session() as s:
            plans = list(s.scalars(select(SpendPlan).where(SpendPlan.start <= today, SpendPlan.end > today)))
        if not plans:
            return plans, None
        start, end = plans[0].start, plans[0].end
        actual = ctx.warehouse.aggregate(["spend"], midnight(start), midnight(min(today, end)), by="channel") \
            if today > start else None
        return plans, actual

    plans, actual = await ctx.run(load)
    if not plans:
        raise UsageError("pace_no_spend_plan")
    start, end = plans[0].start, plans[0].end
    elapsed = max((min(today, end) - start).days, 0) / (end - start).days
    rows, data = [], []
    for p in sorted(plans, key=lambda p: -p.amount):
        spent = float(actual.loc[p.channel, "spend"]) if actual is not None and p.channel in actual.index else 0.0
        due = p.amount * elapsed
        rows.append([p.channel, money_text(ctx, p.amount), money_text(ctx, due), money_text(ctx, spent),
                     fmt_percent(spent / due if due else 0, ctx.lang)])
        data.append({"channel": p.channel, "plan": p.amount, "plan_to_date": json_number(due), "actual": json_number(spent)})
    period = Period(start, end, f"{start.isoformat()}..{(end - timedelta(days=1)).isoformat()}")
    return Reply(title=ctx.t("pace_spend_title", period=period_text(period, ctx.lang)),
                 tables=[ReplyTable([ctx.t("pl_channel"), ctx.t("pace_plan"), ctx.t("pace_plan_to_date"),
                                     ctx.t("pace_actual"), ctx.t("pace_attainment")], rows)],
                 data={"period": period.as_json(), "channels": data, "elapsed": elapsed})


@router.command("budget", aliases=("预算",),
                usage="budget <amount> [period] [for gmv|new_customers] [channel …] [min N%] [max N%] "
                      "[<channel>>=N%] [<channel><=N%]",
                examples=("budget 200000 next month", "budget 200000 for new_customers",
                          "budget 150000 2027-01 search social live_stream max 50%", "budget 100000 search>=20%",
                          "预算 20万 下月"))
async def budget(ctx: Context, args: Args) -> Reply:
    _check_budget_scope(ctx)
    known = await ctx.run(budget_channels, ctx)
    q = parse_budget(ctx, args.tokens, known)
    if q.adopt:
        require_admin(ctx, "budget adopt")
    if q.period.end <= today_of(ctx):
        raise UsageError("goal_period_past", period=period_text(q.period, ctx.lang))
    try:
        result = await ctx.run(compute_budget, ctx, q, today_of(ctx))
    except budget_mod.BudgetError as exc:
        raise InputError(exc.key, **exc.params) from exc
    reply = render_budget(ctx, result)
    if q.adopt:
        goal_id = await ctx.run(save_spend_plan, ctx, result)
        reply.text.insert(0, ctx.t("budget_adopted", period=period_text(q.period, ctx.lang)))
        reply.data["adopted_goal"] = goal_id
    return reply
