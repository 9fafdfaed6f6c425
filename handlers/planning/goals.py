"""Goals, their split into period targets, and pacing against them (issue 8).

    goal set <metric> <target> <period> · goal list · goal rm <id>
    plan <metric> [<target>] [<period>]
    pace [metric] [period] · pace spend

`pace spend` is answered by handlers/planning/budget.py, beside the spend plans `budget adopt` saves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select

from bot.context import Args, Context
from bot.errors import UsageError
from bot.reply import Chart, Field, Reply
from bot.reply import Table as ReplyTable
from bot.router import Router
from bot.state.planning import Goal, GoalTarget
from bot.text.i18n import fmt_change_pct, fmt_percent, fmt_value
from bot.text.messages import metric_label
from handlers.common import did_you_mean, parse_id, parse_metric
from handlers.kpi import joined_list, period_text
from handlers.planning.basics import (
    RECENT_DAYS,
    midnight,
    range_level,
    require_admin,
    signed_amount,
    today_of,
    value_text,
    whole,
)
from handlers.planning.budget import pace_spend
from handlers.planning.history import daily_series, history_profile, promo_days
from metrics import charts
from metrics.data.warehouse import TOTAL
from metrics.kpis import CATALOG, Kpi, json_number, kpi_value, rows_shown
from metrics.periods import Period, extract_period
from metrics.planning import goals as plan_mod
from metrics.planning.holidays import bin_key
from metrics.planning.holidays import occurrences as holiday_occurrences

router = Router()

# metrics a goal can add up day by day; the other catalogue KPIs are ratios: goals as a level
SUM_METRICS = ("gmv", "orders", "new_customers", "sessions", "spend")
NOT_GOALS = ("buyers",)  # distinct buyers do not add up over days, and are no level either
# a target needing more than this growth over both last year and the recent run-rate gets a warning
WARN_GROWTH = 0.5
WARN_LEVEL = 0.25  # a level goal more than 25 % better than recently
MAX_TABLE_ROWS = 20


def _sum_between(ctx: Context, kpi: Kpi, start: date, end: date) -> float | None:
    frame = ctx.warehouse.aggregate(list(kpi.measures), midnight(start), midnight(end))
    return kpi_value(kpi, frame.loc[TOTAL] if TOTAL in frame.index else None)


# ---- goal --------------------------------------------------------------------------------------


@dataclass
class GoalInput:
    kpi: Kpi
    target: float
    period: Period


def parse_goal(ctx: Context, tokens: Sequence[str], *, need_target: bool = True) -> tuple[Kpi, float | None, Period | None]:
    """`gmv 3000000 2027Q1` in any order: metric, target and period."""
    period, _, rest = extract_period(list(tokens), ctx.now())
    kpi: Kpi | None = None
    target: float | None = None
    for word in rest:
        amount = signed_amount(word.rstrip("%")) if target is None else None
        if amount is not None:
            target = amount / 100 if word.endswith("%") else amount
        elif kpi is None:
            kpi = parse_metric(ctx, word)
        else:
            raise UsageError("goal_extra_word", word=word[:40])
    if kpi is None:
        raise UsageError("goal_need_metric", choices=", ".join(CATALOG))
    if need_target and target is None:
        raise UsageError("goal_need_target")
    return kpi, target, period


def _kind(kpi: Kpi) -> str:
    if kpi.name in NOT_GOALS:
        raise UsageError("goal_metric_unsupported", metric=kpi.name)
    return "sum" if kpi.name in SUM_METRICS else "level"


def validate_goal(ctx: Context, kpi: Kpi, target: float | None, period: Period | None) -> GoalInput:
    if target is None or not math.isfinite(target) or target <= 0:
        raise UsageError("goal_target_positive", target="" if target is None else f"{target:g}")
    if period is None:
        raise UsageError("goal_need_period")
    period = whole(period)
    if period.end <= today_of(ctx):
        raise UsageError("goal_period_past", period=period_text(period, ctx.lang))
    if kpi.unit == "percent" and target > 1:
        raise UsageError("goal_percent_range", target=f"{target:g}")
    return GoalInput(kpi, target, period)


def history_check(ctx: Context, goal: GoalInput, profile: plan_mod.Profile,
                  split: plan_mod.Split | None = None) -> dict[str, Any]:
    """The target against last year's same period and against the recent run-rate, projected
    over the goal period with the seasonal weights (so a Q4 goal is not judged by a quiet August):
    for a sum goal, the projection `pace` makes (the same function), with its range."""
    today = today_of(ctx)
    kpi, period = goal.kpi, goal.period
    ly_start, ly_end = _year_back(period.start), _year_back(period.end)
    last_year = _sum_between(ctx, kpi, ly_start, ly_end) if ly_end <= today else None
    recent_start = today - timedelta(days=RECENT_DAYS)
    run_rate: float | None = None
    at_rate: plan_mod.Pace | None = None
    if _kind(kpi) == "sum" and split is not None:
        at_rate, _ = sum_pace(ctx, kpi, dict(split.by_day()), profile, today)
        run_rate = at_rate.projected if math.isfinite(at_rate.projected) else None
        if last_year is not None and last_year <= 0:
            last_year = None
    else:
        run_rate = _sum_between(ctx, kpi, recent_start, today)
    out: dict[str, Any] = {"last_year": json_number(last_year), "run_rate": json_number(run_rate),
                           "last_year_period": {"start": ly_start.isoformat(), "end": ly_end.isoformat()}}
    if at_rate is not None and run_rate is not None:
        # SMART's "achievable and relevant": is the target a stretch from where the shop runs now?
        stretch = "below" if goal.target < at_rate.low else "above" if goal.target > at_rate.high else "within"
        out.update({"run_rate_low": json_number(at_rate.low), "run_rate_high": json_number(at_rate.high),
                    "range_level": plan_mod.RANGE_LEVEL, "run_rate_days": at_rate.recent_days,
                    "run_rate_per_day": json_number(at_rate.recent_per_day),
                    "actual_to_date": json_number(at_rate.actual),
                    "needed_per_day": json_number(at_rate.needed_per_day),
                    "needed_vs_run_rate": json_number(at_rate.needed_vs_run_rate),
                    "target_vs_projection": json_number(goal.target / run_rate) if run_rate > 0 else None,
                    "stretch": stretch})
    refs = [r for r in (last_year, run_rate) if r]
    warn = False
    if refs:
        if _kind(kpi) == "sum":
            growth = [goal.target / r - 1 for r in refs]
            warn = min(growth) > WARN_GROWTH
        else:
            better = [(goal.target / r - 1) if kpi.higher_is_better else (r / goal.target - 1) for r in refs]
            warn = min(better) > WARN_LEVEL
        out["growth_vs_last_year"] = json_number(goal.target / last_year - 1) if last_year else None
        out["growth_vs_run_rate"] = json_number(goal.target / run_rate - 1) if run_rate else None
    out["warning"] = bool(warn)  # numpy's bool_ (from min() over numpy floats) is not JSON
    return out


def _year_back(d: date) -> date:
    return date(d.year - 1, 2, 28) if (d.month, d.day) == (2, 29) else d.replace(year=d.year - 1)


def _scale(kpi: Kpi) -> int:
    return 100 if kpi.unit == "money" else 1


def split_goal(ctx: Context, goal: GoalInput, profile: plan_mod.Profile) -> plan_mod.Split:
    promos = [d for d in promo_days(ctx) if goal.period.start <= d < goal.period.end]
    # promotions recur by calendar date: a 11.11 seen last year weighs this year's 11.11
    return plan_mod.decompose(goal.target, goal.period.start, goal.period.end, profile,
                              scale=_scale(goal.kpi), promo_days=promos)


def save_goal(ctx: Context, goal: GoalInput, split: plan_mod.Split | None, profile: plan_mod.Profile) -> Goal:
    """Store the goal (replacing one for the same metric and period) with its daily targets."""
    with ctx.services.store.session() as s, s.begin():
        for old in s.scalars(select(Goal).where(Goal.metric == goal.kpi.name, Goal.start == goal.period.start,
                                                Goal.end == goal.period.end)):
            s.delete(old)
        row = Goal(metric=goal.kpi.name, kind=_kind(goal.kpi), target=goal.target, start=goal.period.start,
                   end=goal.period.end, label=goal.period.label, chat=str(ctx.incoming.chat),
                   created_by=ctx.incoming.user, profile=profile.as_json())
        if split is not None:
            row.targets = [GoalTarget(day=d, units=u, scale=split.scale)
                           for d, u in zip(split.days, split.day_units, strict=True)]
        s.add(row)
        s.flush()
        return row


def load_goals(ctx: Context, metric: str | None = None) -> list[Goal]:
    from sqlalchemy.orm import selectinload

    with ctx.services.store.session() as s:
        q = select(Goal).options(selectinload(Goal.targets)).order_by(Goal.start, Goal.id)
        if metric:
            q = q.where(Goal.metric == metric)
        return list(s.scalars(q).all())


def _goal_line(ctx: Context, g: Goal) -> str:
    kpi = CATALOG[g.metric]
    period = Period(g.start, g.end, g.label)
    return ctx.t("goal_line", id=g.id, metric=metric_label(g.metric, ctx.lang), target=value_text(ctx, kpi, g.target),
                 period=period_text(period, ctx.lang))


def _goal_json(g: Goal) -> dict[str, Any]:
    return {"id": g.id, "metric": g.metric, "kind": g.kind, "target": json_number(g.target),
            "period": {"start": g.start.isoformat(), "end": g.end.isoformat()}, "label": g.label}


async def goal_set(ctx: Context, tokens: Sequence[str]) -> Reply:
    require_admin(ctx, "goal set")
    kpi, target, period = parse_goal(ctx, tokens)
    goal = validate_goal(ctx, kpi, target, period)
    kind = _kind(kpi)
    profile = await ctx.run(history_profile, ctx, kpi.numerator, today_of(ctx))
    split = await ctx.run(split_goal, ctx, goal, profile) if kind == "sum" else None
    check = await ctx.run(history_check, ctx, goal, profile, split)
    row = await ctx.run(save_goal, ctx, goal, split, profile)
    ptext = period_text(goal.period, ctx.lang)
    text = [ctx.t("goal_saved", id=row.id, metric=metric_label(kpi.name, ctx.lang), target=value_text(ctx, kpi, goal.target),
                  period=ptext)]
    text.append(ctx.t("goal_smart", days=goal.period.days))
    if check.get("last_year") is not None:
        text.append(ctx.t("goal_vs_last_year", value=value_text(ctx, kpi, check["last_year"]),
                          change=fmt_change_pct((check["growth_vs_last_year"] or 0) * 100, ctx.lang) or ctx.t("na")))
    if check.get("stretch") is not None:
        text.append(ctx.t("goal_vs_run_rate", days=check["run_rate_days"], period=ptext,
                          value=value_text(ctx, kpi, check["run_rate"]), low=value_text(ctx, kpi, check["run_rate_low"]),
                          high=value_text(ctx, kpi, check["run_rate_high"]), level=range_level(),
                          change=fmt_change_pct((check["growth_vs_run_rate"] or 0) * 100, ctx.lang) or ctx.t("na")))
        ratio = fmt_value(check["target_vs_projection"], "ratio", ctx.lang, "")
        if check["stretch"] == "below":
            text.append(ctx.t("goal_not_a_stretch", ratio=ratio))
        elif check["stretch"] == "within":
            text.append(ctx.t("goal_within_reach"))
        else:
            text.append(ctx.t("goal_needs_more", per_day=value_text(ctx, kpi, check["needed_per_day"]),
                              ratio=fmt_value(check["needed_vs_run_rate"], "ratio", ctx.lang, ""),
                              days=check["run_rate_days"]))
    elif check.get("run_rate") is not None:
        key = "goal_vs_run_rate_plain" if kind == "sum" else "goal_vs_recent_level"
        text.append(ctx.t(key, value=value_text(ctx, kpi, check["run_rate"]),
                          change=fmt_change_pct((check["growth_vs_run_rate"] or 0) * 100, ctx.lang) or ctx.t("na")))
    if check["warning"]:
        text.append(ctx.t("goal_warning", limit=int((WARN_GROWTH if kind == "sum" else WARN_LEVEL) * 100)))
    if kind == "sum":
        text.append(ctx.t("goal_next", metric=kpi.name, period=goal.period.label))
    else:
        text.append(ctx.t("goal_level_note"))
    data = {"goal": _goal_json(row), "history": check}
    if split is not None:
        data["months"] = [{"start": a.isoformat(), "end": b.isoformat(), "target": v} for a, b, v in split.by_month()]
    return Reply(title=ctx.t("goal_title"), text=text, data=data)


async def goal_list(ctx: Context) -> Reply:
    goals = await ctx.run(load_goals, ctx)
    if not goals:
        return Reply(text=[ctx.t("goal_none")], data={"goals": []})
    return Reply(title=ctx.t("goal_list_title"), text=[_goal_line(ctx, g) for g in goals],
                 data={"goals": [_goal_json(g) for g in goals]})


async def goal_rm(ctx: Context, tokens: Sequence[str]) -> Reply:
    require_admin(ctx, "goal rm")
    goal_id = parse_id(tokens[0]) if len(tokens) == 1 else None
    if goal_id is None:
        raise UsageError("goal_need_id")

    def delete() -> Goal | None:
        with ctx.services.store.session() as s, s.begin():
            row = s.get(Goal, goal_id)
            if row is not None:
                s.delete(row)
            return row

    row = await ctx.run(delete)
    if row is None:
        raise UsageError("goal_not_found", id=goal_id)
    return Reply(text=[ctx.t("goal_removed", what=_goal_line(ctx, row))], data={"removed": goal_id})


@router.command("goal", aliases=("goals", "目标"),
                usage="goal set <metric> <target> <period> | goal list | goal rm <id>",
                examples=("goal set gmv 3000000 2027Q1", "goal set conversion 3.2% next month", "goal list",
                          "goal rm 2", "目标 set 销售额 300万 下季度"))
async def goal(ctx: Context, args: Args) -> Reply:
    words = list(args.tokens)
    verb = words[0].lower() if words else "list"
    if verb in ("set", "设置", "设定"):
        ctx.require_admin("goal set")  # goals are the shop's, not one chat's
        return await goal_set(ctx, words[1:])
    if verb in ("list", "ls", "列表"):
        return await goal_list(ctx)
    if verb in ("rm", "remove", "delete", "del", "删除"):
        ctx.require_admin("goal rm")
        return await goal_rm(ctx, words[1:])
    raise UsageError("goal_usage", suggestion=did_you_mean(verb, ["set", "list", "rm"], ctx.lang))


# ---- plan --------------------------------------------------------------------------------------


def _pick_goal(goals: Sequence[Goal], today: date, period: Period | None) -> Goal | None:
    """The goal a command means: the one for the named period, else the running one, else the next."""
    if period is not None:
        p = whole(period)
        exact = [g for g in goals if g.start == p.start and g.end == p.end]
        if exact:
            return exact[-1]
        inside = [g for g in goals if g.start <= p.start and p.end <= g.end]
        return inside[-1] if inside else None
    running = [g for g in goals if g.start <= today < g.end]
    if running:
        return running[-1]
    upcoming = [g for g in goals if g.start > today]
    return upcoming[0] if upcoming else None


def _split_of(goal: Goal) -> plan_mod.Split:
    return plan_mod.Split([t.day for t in goal.targets], [t.units for t in goal.targets],
                          goal.targets[0].scale if goal.targets else 100)


def plan_chart(ctx: Context, kpi: Kpi, split: plan_mod.Split, promos: Sequence[date], title: str) -> bytes:
    series = pd.DataFrame({ctx.t("plan_daily_target"): [v for _, v in split.by_day()]},
                          index=pd.to_datetime(split.days))
    period = Period(split.days[0], split.days[-1] + timedelta(days=1), split.days[0].isoformat())
    return charts.line_chart(series, title, y_format=lambda v: value_text(ctx, kpi, v),
                             highlight=[d for d in promos if split.days[0] <= d <= split.days[-1]],
                             subtitle=period_text(period, ctx.lang))  # the title names no period


def render_plan(ctx: Context, kpi: Kpi, split: plan_mod.Split, period: Period, goal_id: int | None,
                profile: dict[str, Any] | None, png: bytes) -> Reply:
    ptext = period_text(period, ctx.lang)
    months = split.by_month()
    weeks = split.by_week()
    month_rows = [[a.strftime("%Y-%m"), value_text(ctx, kpi, v), fmt_percent(v / split.total if split.total else 0, ctx.lang)]
                  for a, _, v in months]
    week_rows = [[f"{a.isoformat()} – {(b - timedelta(days=1)).isoformat()}", str(b.toordinal() - a.toordinal()),
                  value_text(ctx, kpi, v)] for a, b, v in weeks[:rows_shown(len(weeks), MAX_TABLE_ROWS)]]
    later = weeks[len(week_rows):]
    if later:  # the weeks left out as one row, so that the table adds up to the target
        week_rows.append([ctx.t("later_weeks", count=len(later)), str(sum(b.toordinal() - a.toordinal() for a, b, _ in later)),
                          value_text(ctx, kpi, math.fsum(v for _, _, v in later))])
    text = [ctx.t("plan_intro", total=value_text(ctx, kpi, split.total), days=len(split.days))]
    holiday_text, holiday_data = holiday_lines(ctx, profile, period.start, period.end)
    text += holiday_text
    if goal_id is None:
        text.append(ctx.t("plan_preview"))
    title = ctx.t("plan_title", metric=metric_label(kpi.name, ctx.lang), period=ptext)
    return Reply(
        title=title,
        text=text,
        tables=[
            ReplyTable([ctx.t("pl_month"), ctx.t("pl_target"), ctx.t("share")], month_rows, title=ctx.t("plan_by_month")),
            ReplyTable([ctx.t("pl_week"), ctx.t("pl_days"), ctx.t("pl_target")], week_rows, title=ctx.t("plan_by_week")),
        ],
        charts=[Chart(png, title, "plan.png")],
        data={
            "metric": kpi.name, "goal": goal_id, "period": period.as_json(), "total": json_number(split.total),
            "months": [{"start": a.isoformat(), "end": b.isoformat(), "target": json_number(v)} for a, b, v in months],
            "weeks": [{"start": a.isoformat(), "end": b.isoformat(), "target": json_number(v)} for a, b, v in weeks],
            "weeks_other": {"rows": len(later), "target": json_number(math.fsum(v for _, _, v in later))} if later else None,
            "days": [{"day": d.isoformat(), "target": json_number(v)} for d, v in split.by_day()],
            "profile": profile,
            "holidays": holiday_data,
        },
    )


def _offset(k: int) -> str:
    return "0" if k == 0 else f"{k:+d}".replace("-", "−")


def holiday_lines(ctx: Context, profile: dict[str, Any] | None, start: date,
                  end: date) -> tuple[list[str], list[dict[str, Any]]]:
    """What the plan assumes around each holiday of [start, end): the weights the history gave its
    days and which year it read them from, or that it had none to read (weight 1)."""
    prof = plan_mod.Profile.from_json(profile)
    lines: list[str] = []
    data: list[dict[str, Any]] = []
    for h, anchor in holiday_occurrences(start, end):
        seen = prof.holiday_seen.get(h.key, ())
        known = []
        for lo, hi in h.bins:
            day_of = anchor + timedelta(days=lo)
            if bin_key(h, lo) in prof.holiday:
                known.append((lo, hi, prof.holiday[bin_key(h, lo)]))
            elif lo == hi and (day_of.month, day_of.day) in prof.promo:
                known.append((lo, hi, prof.promo[(day_of.month, day_of.day)]))  # a promotion day: its own effect
        name, day = ctx.t(f"holiday_{h.key}"), anchor.isoformat()
        bins = joined_list(ctx, [ctx.t("plan_holiday_day" if lo == hi else "plan_holiday_days", first=_offset(lo),
                                       last=_offset(hi), weight=f"{w:.2f}") for lo, hi, w in known])
        if not known:
            lines.append(ctx.t("plan_holiday_unseen", holiday=name, day=day))
        elif not seen:  # only its promotion days are known (from the promotions table or the calendar)
            lines.append(ctx.t("plan_holiday_promo_only", holiday=name, day=day, bins=bins))
        else:
            lines.append(ctx.t("plan_holiday" if len(known) == len(h.bins) else "plan_holiday_partly", holiday=name,
                               day=day, seen=joined_list(ctx, [a.isoformat() for a in seen]), bins=bins))
        weights = {lo: w for lo, _, w in known}
        data.append({"holiday": h.key, "day": day, "seen": [a.isoformat() for a in seen],
                     "weights": {f"{lo}..{hi}": weights.get(lo) for lo, hi in h.bins}})
    return lines, data


def _next_quarter(today: date) -> str:
    q = (today.month - 1) // 3 + 1
    return f"{today.year + 1}Q1" if q == 4 else f"{today.year}Q{q + 1}"


def _bare_plan_goal(ctx: Context, goals: Sequence[Goal], today: date) -> Goal:
    """`plan` alone: the one running goal that splits (else the next one to start)."""
    splittable = [g for g in goals if g.kind == "sum" and g.targets]
    running = _active_goals(splittable, today)
    if len(running) > 1:
        raise UsageError("plan_which_goal", choices=joined_list(
            ctx, [f"`plan {g.metric} {g.label}`" for g in running]))
    chosen = running[0] if running else _pick_goal(splittable, today, None)
    if chosen is None:
        raise UsageError("plan_no_running_goal", period=_next_quarter(today))
    return chosen


@router.command("plan", aliases=("计划", "目标拆解"), usage="plan <metric> [<target>] [<period>]",
                examples=("plan gmv 2027Q1", "plan gmv", "plan orders 90000 next quarter", "计划 销售额 下季度"))
async def plan(ctx: Context, args: Args) -> Reply:
    today = today_of(ctx)
    if not args.tokens:
        g = _bare_plan_goal(ctx, await ctx.run(load_goals, ctx), today)
        kpi, target, period = CATALOG[g.metric], None, Period(g.start, g.end, g.label)
    else:
        kpi, target, period = parse_goal(ctx, args.tokens, need_target=False)
    if _kind(kpi) != "sum":
        raise UsageError("plan_level_metric", metric=kpi.name)
    if target is not None:
        # a what-if: split a target without storing it
        goal_in = validate_goal(ctx, kpi, target, period)
        profile = await ctx.run(history_profile, ctx, kpi.numerator, today)
        split = await ctx.run(split_goal, ctx, goal_in, profile)
        goal_id, shown, prof = None, goal_in.period, profile.as_json()
    else:
        goals = await ctx.run(load_goals, ctx, kpi.name)
        g = _pick_goal(goals, today, period)
        if (g is None or not g.targets) and period is not None and whole(period).end <= today:
            # `goal set` refuses a period that is over: suggest what answers instead
            raise UsageError("plan_period_over", period=period_text(whole(period), ctx.lang), metric=kpi.name,
                             label=whole(period).label)
        if g is None or not g.targets:
            raise UsageError("plan_no_goal", metric=kpi.name,
                             period=(whole(period).label if period else _next_quarter(today)))
        split, goal_id, shown, prof = _split_of(g), g.id, Period(g.start, g.end, g.label), g.profile
    promos = await ctx.run(promo_days, ctx)
    title = ctx.t("plan_chart_title", metric=metric_label(kpi.name, ctx.lang))
    png = await ctx.run(plan_chart, ctx, kpi, split, promos, title)
    return render_plan(ctx, kpi, split, shown, goal_id, prof, png)


# ---- pace --------------------------------------------------------------------------------------


@dataclass
class GoalPace:
    goal: Goal
    kpi: Kpi
    result: plan_mod.Pace | None  # sum goals
    level: float | None = None  # level goals: the level to date
    level_verdict: str | None = None
    actuals: dict[date, float] | None = None  # sum goals: per day, kept for the chart

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"goal": _goal_json(self.goal)}
        if self.result is not None:
            out.update(self.result.as_json())
        else:
            out.update({"level": json_number(self.level), "target": json_number(self.goal.target),
                        "verdict": self.level_verdict})
        return out


def sum_pace(ctx: Context, kpi: Kpi, targets: dict[date, float], profile: plan_mod.Profile,
             today: date) -> tuple[plan_mod.Pace, dict[date, float]]:
    """Pace of a sum goal's daily targets as of `today`, and the actuals per day it read.

    The run-rate is the last 14 days against the plan; before the period starts, the last 28 days
    (RECENT_DAYS, as `goal set` reads them) against a plan-equivalent from the same day weights, so
    `goal set` and `pace` project a goal that has not started alike."""
    start, end = min(targets), max(targets) + timedelta(days=1)
    recent = RECENT_DAYS if today <= start else plan_mod.RECENT_DAYS
    lead_start = today - timedelta(days=recent)
    lead = plan_mod.lead_plan(targets, profile, lead_start, promo_days(ctx)) if lead_start < start else {}
    first = min([start, *lead])
    upto = min(today, end)
    actuals: dict[date, float] = {}
    if upto > first:
        series = daily_series(ctx.warehouse, kpi.numerator, first, upto)
        actuals = {d: float(v) for d, v in series.items()}
    # a day with no row before the data begins is no zero-sales day: leave it out of the run-rate
    seen = min(actuals) if actuals else upto
    lead = {d: v for d, v in lead.items() if d >= seen}
    untrended = profile.growth_per_day == 0 and profile.history_days < plan_mod.MIN_HISTORY_FOR_TREND
    return plan_mod.pace(targets, actuals, today, recent_days=recent, lead_plan=lead,
                         growth_sd=plan_mod.UNTRENDED_GROWTH_SD if untrended else 0.0), actuals


def _goal_profile(ctx: Context, goal: Goal, kpi: Kpi, today: date) -> plan_mod.Profile:
    # the profile the goal was split with, so the days before the period weigh as its days do
    return plan_mod.Profile.from_json(goal.profile) if goal.profile else history_profile(ctx, kpi.numerator, today)


def compute_pace(ctx: Context, goal: Goal, today: date) -> GoalPace:
    kpi = CATALOG[goal.metric]
    upto = min(today, goal.end)
    if goal.kind != "sum":
        level = _sum_between(ctx, kpi, goal.start, upto) if upto > goal.start else None
        return GoalPace(goal, kpi, None, level, plan_mod.pace_level(goal.target, level, kpi.higher_is_better))
    targets = {t.day: t.value for t in goal.targets}
    result, actuals = sum_pace(ctx, kpi, targets, _goal_profile(ctx, goal, kpi, today), today)
    return GoalPace(goal, kpi, result, actuals={d: v for d, v in actuals.items() if d >= goal.start})


def pace_line(ctx: Context, gp: GoalPace) -> str:
    """One line per goal: what the morning digest shows."""
    g, kpi = gp.goal, gp.kpi
    period = period_text(Period(g.start, g.end, g.label), ctx.lang)
    name = metric_label(g.metric, ctx.lang)
    if gp.result is None:
        return ctx.t("pace_line_level", metric=name, period=period, level=value_text(ctx, kpi, gp.level),
                     target=value_text(ctx, kpi, g.target), verdict=ctx.t(f"verdict_{gp.level_verdict}"))
    r = gp.result
    if not math.isfinite(r.projected):
        return ctx.t("pace_line_no_projection", metric=name, period=period, actual=value_text(ctx, kpi, r.actual),
                     goal=value_text(ctx, kpi, r.goal), verdict=ctx.t(f"verdict_{r.verdict}"))
    common = {"metric": name, "period": period, "goal": value_text(ctx, kpi, r.goal), "level": range_level(),
              "projected": value_text(ctx, kpi, r.projected), "low": value_text(ctx, kpi, r.low),
              "high": value_text(ctx, kpi, r.high), "verdict": ctx.t(f"verdict_{r.verdict}")}
    if r.verdict == "not_started":
        # nothing done yet: no "0 of goal"; the projection is the run-rate carried over the period
        return ctx.t("pace_line_not_started", days=r.recent_days, outlook=ctx.t(f"verdict_{r.outlook}"), **common)
    if r.days_left == 0:
        return ctx.t("pace_line_done", actual=value_text(ctx, kpi, r.actual),
                     attainment=fmt_percent(r.actual / r.goal if r.goal else 0, ctx.lang), **common)
    return ctx.t(
        "pace_line", actual=value_text(ctx, kpi, r.actual),
        attainment=fmt_percent(r.actual / r.goal if r.goal else 0, ctx.lang), plan=value_text(ctx, kpi, r.plan),
        days=r.days_elapsed, **common,
    )


def kpi_of(g: Goal) -> Kpi:
    return CATALOG[g.metric]


def _active_goals(goals: Sequence[Goal], today: date) -> list[Goal]:
    return [g for g in goals if g.start <= today < g.end]


async def pace_report(ctx: Context, now: datetime | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Pace of every running goal: lines for the digest and their data."""
    today = (now or ctx.now()).date()
    goals = _active_goals(await ctx.run(load_goals, ctx), today)
    paces = [await ctx.run(compute_pace, ctx, g, today) for g in goals]
    return [pace_line(ctx, p) for p in paces], [p.as_json() for p in paces]


async def pace_lines(ctx: Context, now: datetime | None = None) -> list[str]:
    """The digest's pace lines, one per running goal (empty when there is none)."""
    lines, _ = await pace_report(ctx, now)
    return lines


def pace_chart(ctx: Context, gp: GoalPace, today: date, title: str) -> bytes:
    targets = sorted((t.day, t.value) for t in gp.goal.targets)
    days = [d for d, _ in targets]
    plan_cum = pd.Series([v for _, v in targets], index=pd.to_datetime(days)).cumsum()
    past = [d for d in days if d < today]
    actual = pd.Series([(gp.actuals or {}).get(d, 0.0) for d in past], index=pd.to_datetime(past)).cumsum()
    frame = pd.DataFrame({ctx.t("pace_plan"): plan_cum, ctx.t("pace_actual"): actual})
    return charts.line_chart(frame, title, y_format=lambda v: value_text(ctx, gp.kpi, v))


def _pace_fields(ctx: Context, gp: GoalPace) -> list[Field]:
    kpi, r = gp.kpi, gp.result
    assert r is not None
    fields: list[Field] = []
    if r.days_elapsed:
        fields += [
            Field(ctx.t("pace_actual"), value_text(ctx, kpi, r.actual),
                  ctx.t("pace_of_goal", pct=fmt_percent(r.actual / r.goal if r.goal else 0, ctx.lang))),
            Field(ctx.t("pace_plan_to_date"), value_text(ctx, kpi, r.plan)),
            Field(ctx.t("pace_gap"), ("+" if r.gap >= 0 else "−") + value_text(ctx, kpi, abs(r.gap)),
                  trend="up" if r.gap >= 0 else "down", good=r.gap >= 0),
        ]
    if math.isfinite(r.projected) and r.days_left:
        fields.append(Field(ctx.t("pace_projected"), value_text(ctx, kpi, r.projected),
                            ctx.t("pace_range", level=range_level(), low=value_text(ctx, kpi, r.low),
                                  high=value_text(ctx, kpi, r.high))))
    if r.needed_per_day is not None:
        if r.needed_per_day <= 0:
            fields.append(Field(ctx.t("pace_needed"), ctx.t("pace_goal_reached")))
        else:
            notes = []
            if r.needed_vs_run_rate is not None:
                notes.append(ctx.t("pace_needed_vs_rate", ratio=fmt_value(r.needed_vs_run_rate, "ratio", ctx.lang, ""),
                                   days=r.recent_days))
            if r.days_elapsed and r.needed_ratio is not None:
                notes.append(ctx.t("pace_needed_vs_plan", pct=fmt_percent(r.needed_ratio, ctx.lang)))
            fields.append(Field(ctx.t("pace_needed"), ctx.t("pace_per_day", value=value_text(ctx, kpi, r.needed_per_day),
                                                            days=r.days_left),
                                " · ".join(notes) or None))
    return fields


@router.command("pace", aliases=("进度",), usage="pace [metric] [period] | pace spend",
                examples=("pace", "pace gmv", "pace gmv 2027Q1", "pace spend", "进度 销售额"))
async def pace(ctx: Context, args: Args) -> Reply:
    today = today_of(ctx)
    period, _, rest = extract_period(list(args.tokens), ctx.now())
    kpi = parse_metric(ctx, rest[0]) if rest else None
    if len(rest) > 1:
        raise UsageError("goal_extra_word", word=rest[1][:40])
    if kpi is not None and kpi.name == "spend":
        plans_reply = await pace_spend(ctx, today)
        return plans_reply
    goals = await ctx.run(load_goals, ctx, kpi.name if kpi else None)
    if kpi is None and period is None:
        # the running goals; with none running, the next one to start (projected from the run-rate)
        chosen = _active_goals(goals, today)
        if not chosen and (upcoming := _pick_goal(goals, today, None)) is not None:
            chosen = [upcoming]
    else:
        g = _pick_goal(goals, today, period)
        chosen = [g] if g is not None else []
    if not chosen:
        raise UsageError("pace_no_goal", metric=kpi.name if kpi else "gmv")
    paces = [await ctx.run(compute_pace, ctx, g, today) for g in chosen]
    lines = [pace_line(ctx, p) for p in paces]
    data: dict[str, Any] = {"as_of": today.isoformat(), "goals": [p.as_json() for p in paces]}
    if len(paces) > 1:
        return Reply(title=ctx.t("pace_title_all"), text=lines, data=data)
    gp = paces[0]
    g = gp.goal
    title = ctx.t("pace_title", metric=metric_label(g.metric, ctx.lang),
                  period=period_text(Period(g.start, g.end, g.label), ctx.lang))
    reply = Reply(title=title, text=lines, data=data)
    if gp.result is not None:
        r = gp.result
        reply.fields = _pace_fields(ctx, gp)
        if r.run_rate_ratio is not None and r.days_left:
            reply.text.append(ctx.t("pace_method_before" if r.days_elapsed < r.recent_days else "pace_method",
                                    days=r.recent_days, ratio=fmt_percent(r.run_rate_ratio, ctx.lang),
                                    per_day=value_text(ctx, kpi_of(g), r.recent_per_day), level=range_level()))
        if r.days_elapsed:
            png = await ctx.run(pace_chart, ctx, gp, today, title)
            reply.charts.append(Chart(png, title, "pace.png"))
    return reply
