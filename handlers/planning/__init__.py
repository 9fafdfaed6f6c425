"""Planning commands: goals, their split into period targets, pacing, budget allocation,
customer segments and promotion lift (issue 8).

    goal set <metric> <target> <period> · goal list · goal rm <id>
    plan <metric> [<target>] [<period>]
    pace [metric] [period] · pace spend
    budget <amount> [period] [for gmv|new_customers] [channel …] [min N%] [max N%] [channel>=N%] [adopt]
    segments [as of <date>] · segments export <segment> [<date>]
    campaign add <name> <period> [channel …] [spend <amount>] · campaign report <name> · campaign rm <id>
    campaigns

Handlers parse and render; the numbers come from metrics/planning/goals.py, budget.py, segments.py
and campaigns.py. Blocking work (SQL, pandas, charts) runs through ctx.run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import select, text

from bot.context import Args, Context
from bot.errors import AccessDenied, UsageError, UserError
from bot.reply import Action, Attachment, Chart, Field, Reply
from bot.reply import Table as ReplyTable
from bot.router import Router
from bot.state.keys import campaign_key
from bot.state.planning import Campaign, Goal, GoalTarget, SpendPlan
from bot.text.i18n import fmt_change_pct, fmt_count, fmt_percent, fmt_value
from bot.text.messages import metric_label
from handlers.common import did_you_mean, parse_id, parse_metric
from handlers.kpi import joined_list, period_text
from metrics import charts
from metrics import segments as seg_mod
from metrics.data.warehouse import TOTAL, Warehouse
from metrics.errors import InputError
from metrics.kpis import CATALOG, Kpi, json_number, kpi_value, rows_shown
from metrics.periods import Period, extract_period, parse_period
from metrics.planning import budget as budget_mod
from metrics.planning import goals as plan_mod
from metrics.planning.campaigns import PRE_DAYS, CampaignResult, EventWindow, campaign_lift
from metrics.planning.holidays import bin_key
from metrics.planning.holidays import occurrences as holiday_occurrences

router = Router()

# metrics a goal can add up day by day; the other catalogue KPIs are ratios: goals as a level
SUM_METRICS = ("gmv", "orders", "new_customers", "sessions", "spend")
NOT_GOALS = ("buyers",)  # distinct buyers do not add up over days, and are no level either
HISTORY_DAYS = 730  # two years of days: a month profile needs one whole year
RECENT_DAYS = 28
# a target needing more than this growth over both last year and the recent run-rate gets a warning
WARN_GROWTH = 0.5
WARN_LEVEL = 0.25  # a level goal more than 25 % better than recently
BUDGET_HISTORY_DAYS = 180
MAX_TABLE_ROWS = 20
OBJECTIVES = {"gmv": "gmv", "sales": "gmv", "销售额": "gmv", "new_customers": "new_customers", "new": "new_customers",
              "新客": "new_customers", "新客数": "new_customers"}
SEGMENT_WORDS = {
    "new": "new", "新客": "new", "新客户": "new",
    "champions": "champions", "champion": "champions", "high_value": "champions", "high-value": "champions",
    "vip": "champions", "高价值": "champions",
    "active": "active", "活跃": "active",
    "at_risk": "at_risk", "at-risk": "at_risk", "risk": "at_risk", "流失风险": "at_risk", "风险": "at_risk",
    "dormant": "dormant", "沉睡": "dormant", "休眠": "dormant",
    "lost": "lost", "流失": "lost",
    "all": "all", "全部": "all",
}

_AMOUNT = re.compile(r"^[¥$€£]?(?P<n>[0-9][0-9,_]*(?:\.[0-9]+)?)(?P<unit>k|m|w|万|亿|千)?$", re.IGNORECASE)
_UNITS = {"k": 1e3, "千": 1e3, "m": 1e6, "w": 1e4, "万": 1e4, "亿": 1e8, None: 1.0}
_SHARE = re.compile(r"^(?P<ch>[^<>=\s]+)(?P<op><=|>=|=)(?P<n>[0-9]+(?:\.[0-9]+)?)%?$")


# ---- small parsers ---------------------------------------------------------------------------


def parse_amount(word: str) -> float | None:
    """`3000000`, `3,000,000`, `3m`, `300k`, `300万`, `¥5000` → a number; None if not one."""
    m = _AMOUNT.match(word.strip())
    if not m:
        return None
    unit = m["unit"].lower() if m["unit"] else None
    return float(m["n"].replace(",", "").replace("_", "")) * _UNITS[unit]


def _signed_amount(word: str) -> float | None:
    """Like parse_amount, but `-5000` is read (so it can be refused as negative, not as unknown)."""
    if word.startswith(("-", "−")):
        value = parse_amount(word[1:])
        return -value if value is not None else None
    return parse_amount(word)


def _percent(word: str) -> float | None:
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)%?", word)
    return float(m[1]) / 100 if m else None


def _midnight(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time())


def whole(period: Period) -> Period:
    """`this month` means the whole month for a goal, not the month so far; and it is stored
    under a label that stays true next month ("2026-11", not "this month")."""
    grain = period.grain
    if grain in (None, "day"):
        return Period(period.start, period.end, canonical_label(period.start, period.end), grain=grain)
    nxt = {"week": lambda d: d + timedelta(days=7), "month": lambda d: _add_months(d, 1),
           "quarter": lambda d: _add_months(d, 3), "year": lambda d: _add_months(d, 12)}[grain]
    end = nxt(period.start) if period.until is not None else period.end
    return Period(period.start, end, canonical_label(period.start, end), grain=grain)


def canonical_label(start: date, end: date) -> str:
    if start.day == 1 and end == _add_months(start, 1):
        return f"{start.year}-{start.month:02d}"
    if start.day == 1 and start.month % 3 == 1 and end == _add_months(start, 3):
        return f"{start.year}Q{start.month // 3 + 1}"
    if (start.month, start.day) == (1, 1) and end == _add_months(start, 12):
        return str(start.year)
    if start.weekday() == 0 and (end - start).days == 7:
        iso = start.isocalendar()
        return f"{iso[0]}-W{iso[1]:02d}"
    last = end - timedelta(days=1)
    return start.isoformat() if last == start else f"{start.isoformat()}..{last.isoformat()}"


def _add_months(d: date, n: int) -> date:
    index = d.year * 12 + d.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _money(ctx: Context, value: float | None) -> str:
    return fmt_value(value, "money", ctx.lang, ctx.settings.bot.currency, na=ctx.t("na"))


def _value(ctx: Context, kpi: Kpi, value: float | None) -> str:
    if value is not None and not math.isfinite(value):
        value = None  # no projection is "n/a", never "NaN"
    return fmt_value(value, kpi.unit, ctx.lang, ctx.settings.bot.currency, na=ctx.t("na"))


def _range_level() -> str:
    return f"{round(plan_mod.RANGE_LEVEL * 100)}%"


def _today(ctx: Context) -> date:
    return ctx.now().date()


def _require_admin(ctx: Context, what: str) -> None:
    # goal/campaign/budget are open commands; only their state-changing verbs need an admin
    if not ctx.is_admin:
        raise AccessDenied("admin_only", command=what, user=ctx.incoming.user)


# ---- history helpers (blocking; run through ctx.run) -----------------------------------------


def promo_days(ctx: Context) -> list[date]:
    """Known promotion days: the warehouse's promotions table (the demo has one) and the campaigns
    on the calendar."""
    days: set[date] = set()
    try:
        with ctx.warehouse.connect() as conn:
            for (day,) in conn.execute(text("SELECT day FROM promotions")):
                days.add(date.fromisoformat(str(day)[:10]))
    except Exception:  # most real warehouses have no such table: the calendar alone then
        pass
    with ctx.services.store.session() as s:
        for c in s.scalars(select(Campaign)):
            days.update(plan_mod.days_of(c.start, c.end))
    return sorted(days)


def promotion_events(ctx: Context) -> list[EventWindow]:
    """The warehouse's promotions table as events (contiguous days of one name)."""
    rows: list[tuple[date, str]] = []
    try:
        with ctx.warehouse.connect() as conn:
            rows = [(date.fromisoformat(str(d)[:10]), str(n)) for d, n in conn.execute(text("SELECT day, name FROM promotions"))]
    except Exception:
        return []
    events: list[EventWindow] = []
    for day, name in sorted(rows, key=lambda r: (r[1], r[0])):
        if events and events[-1].name == name and events[-1].end == day:
            events[-1] = EventWindow(name, events[-1].start, day + timedelta(days=1))
        else:
            events.append(EventWindow(name, day, day + timedelta(days=1)))
    return sorted(events, key=lambda e: e.start)


def daily_series(warehouse: Warehouse, measure: str, start: date, end: date) -> pd.Series:
    frame = warehouse.daily([measure], _midnight(start), _midnight(end))
    if frame.empty or measure not in frame:
        return pd.Series(dtype=float)
    return pd.Series(frame[measure].to_numpy(dtype=float), index=list(frame["day"]))


def history_profile(ctx: Context, measure: str, today: date) -> plan_mod.Profile:
    history = daily_series(ctx.warehouse, measure, today - timedelta(days=HISTORY_DAYS), today)
    return plan_mod.fit_profile(history, promo_days(ctx))


def _sum_between(ctx: Context, kpi: Kpi, start: date, end: date) -> float | None:
    frame = ctx.warehouse.aggregate(list(kpi.measures), _midnight(start), _midnight(end))
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
        amount = _signed_amount(word.rstrip("%")) if target is None else None
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
    if period.end <= _today(ctx):
        raise UsageError("goal_period_past", period=period_text(period, ctx.lang))
    if kpi.unit == "percent" and target > 1:
        raise UsageError("goal_percent_range", target=f"{target:g}")
    return GoalInput(kpi, target, period)


def history_check(ctx: Context, goal: GoalInput, profile: plan_mod.Profile,
                  split: plan_mod.Split | None = None) -> dict[str, Any]:
    """The target against last year's same period and against the recent run-rate, projected
    over the goal period with the seasonal weights (so a Q4 goal is not judged by a quiet August):
    for a sum goal, the projection `pace` makes (the same function), with its range."""
    today = _today(ctx)
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
    return ctx.t("goal_line", id=g.id, metric=metric_label(g.metric, ctx.lang), target=_value(ctx, kpi, g.target),
                 period=period_text(period, ctx.lang))


def _goal_json(g: Goal) -> dict[str, Any]:
    return {"id": g.id, "metric": g.metric, "kind": g.kind, "target": json_number(g.target),
            "period": {"start": g.start.isoformat(), "end": g.end.isoformat()}, "label": g.label}


async def goal_set(ctx: Context, tokens: Sequence[str]) -> Reply:
    _require_admin(ctx, "goal set")
    kpi, target, period = parse_goal(ctx, tokens)
    goal = validate_goal(ctx, kpi, target, period)
    kind = _kind(kpi)
    profile = await ctx.run(history_profile, ctx, kpi.numerator, _today(ctx))
    split = await ctx.run(split_goal, ctx, goal, profile) if kind == "sum" else None
    check = await ctx.run(history_check, ctx, goal, profile, split)
    row = await ctx.run(save_goal, ctx, goal, split, profile)
    ptext = period_text(goal.period, ctx.lang)
    text = [ctx.t("goal_saved", id=row.id, metric=metric_label(kpi.name, ctx.lang), target=_value(ctx, kpi, goal.target),
                  period=ptext)]
    text.append(ctx.t("goal_smart", days=goal.period.days))
    if check.get("last_year") is not None:
        text.append(ctx.t("goal_vs_last_year", value=_value(ctx, kpi, check["last_year"]),
                          change=fmt_change_pct((check["growth_vs_last_year"] or 0) * 100, ctx.lang) or ctx.t("na")))
    if check.get("stretch") is not None:
        text.append(ctx.t("goal_vs_run_rate", days=check["run_rate_days"], period=ptext,
                          value=_value(ctx, kpi, check["run_rate"]), low=_value(ctx, kpi, check["run_rate_low"]),
                          high=_value(ctx, kpi, check["run_rate_high"]), level=_range_level(),
                          change=fmt_change_pct((check["growth_vs_run_rate"] or 0) * 100, ctx.lang) or ctx.t("na")))
        ratio = fmt_value(check["target_vs_projection"], "ratio", ctx.lang, "")
        if check["stretch"] == "below":
            text.append(ctx.t("goal_not_a_stretch", ratio=ratio))
        elif check["stretch"] == "within":
            text.append(ctx.t("goal_within_reach"))
        else:
            text.append(ctx.t("goal_needs_more", per_day=_value(ctx, kpi, check["needed_per_day"]),
                              ratio=fmt_value(check["needed_vs_run_rate"], "ratio", ctx.lang, ""),
                              days=check["run_rate_days"]))
    elif check.get("run_rate") is not None:
        key = "goal_vs_run_rate_plain" if kind == "sum" else "goal_vs_recent_level"
        text.append(ctx.t(key, value=_value(ctx, kpi, check["run_rate"]),
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
    _require_admin(ctx, "goal rm")
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
    return charts.line_chart(series, title, y_format=lambda v: _value(ctx, kpi, v),
                             highlight=[d for d in promos if split.days[0] <= d <= split.days[-1]],
                             subtitle=period_text(period, ctx.lang))  # the title names no period


def render_plan(ctx: Context, kpi: Kpi, split: plan_mod.Split, period: Period, goal_id: int | None,
                profile: dict[str, Any] | None, png: bytes) -> Reply:
    ptext = period_text(period, ctx.lang)
    months = split.by_month()
    weeks = split.by_week()
    month_rows = [[a.strftime("%Y-%m"), _value(ctx, kpi, v), fmt_percent(v / split.total if split.total else 0, ctx.lang)]
                  for a, _, v in months]
    week_rows = [[f"{a.isoformat()} – {(b - timedelta(days=1)).isoformat()}", str(b.toordinal() - a.toordinal()),
                  _value(ctx, kpi, v)] for a, b, v in weeks[:rows_shown(len(weeks), MAX_TABLE_ROWS)]]
    later = weeks[len(week_rows):]
    if later:  # the weeks left out as one row, so that the table adds up to the target
        week_rows.append([ctx.t("later_weeks", count=len(later)), str(sum(b.toordinal() - a.toordinal() for a, b, _ in later)),
                          _value(ctx, kpi, math.fsum(v for _, _, v in later))])
    text = [ctx.t("plan_intro", total=_value(ctx, kpi, split.total), days=len(split.days))]
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
    today = _today(ctx)
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
        return ctx.t("pace_line_level", metric=name, period=period, level=_value(ctx, kpi, gp.level),
                     target=_value(ctx, kpi, g.target), verdict=ctx.t(f"verdict_{gp.level_verdict}"))
    r = gp.result
    if not math.isfinite(r.projected):
        return ctx.t("pace_line_no_projection", metric=name, period=period, actual=_value(ctx, kpi, r.actual),
                     goal=_value(ctx, kpi, r.goal), verdict=ctx.t(f"verdict_{r.verdict}"))
    common = {"metric": name, "period": period, "goal": _value(ctx, kpi, r.goal), "level": _range_level(),
              "projected": _value(ctx, kpi, r.projected), "low": _value(ctx, kpi, r.low),
              "high": _value(ctx, kpi, r.high), "verdict": ctx.t(f"verdict_{r.verdict}")}
    if r.verdict == "not_started":
        # nothing done yet: no "0 of goal"; the projection is the run-rate carried over the period
        return ctx.t("pace_line_not_started", days=r.recent_days, outlook=ctx.t(f"verdict_{r.outlook}"), **common)
    if r.days_left == 0:
        return ctx.t("pace_line_done", actual=_value(ctx, kpi, r.actual),
                     attainment=fmt_percent(r.actual / r.goal if r.goal else 0, ctx.lang), **common)
    return ctx.t(
        "pace_line", actual=_value(ctx, kpi, r.actual),
        attainment=fmt_percent(r.actual / r.goal if r.goal else 0, ctx.lang), plan=_value(ctx, kpi, r.plan),
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
    return charts.line_chart(frame, title, y_format=lambda v: _value(ctx, gp.kpi, v))


def _pace_fields(ctx: Context, gp: GoalPace) -> list[Field]:
    kpi, r = gp.kpi, gp.result
    assert r is not None
    fields: list[Field] = []
    if r.days_elapsed:
        fields += [
            Field(ctx.t("pace_actual"), _value(ctx, kpi, r.actual),
                  ctx.t("pace_of_goal", pct=fmt_percent(r.actual / r.goal if r.goal else 0, ctx.lang))),
            Field(ctx.t("pace_plan_to_date"), _value(ctx, kpi, r.plan)),
            Field(ctx.t("pace_gap"), ("+" if r.gap >= 0 else "−") + _value(ctx, kpi, abs(r.gap)),
                  trend="up" if r.gap >= 0 else "down", good=r.gap >= 0),
        ]
    if math.isfinite(r.projected) and r.days_left:
        fields.append(Field(ctx.t("pace_projected"), _value(ctx, kpi, r.projected),
                            ctx.t("pace_range", level=_range_level(), low=_value(ctx, kpi, r.low),
                                  high=_value(ctx, kpi, r.high))))
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
            fields.append(Field(ctx.t("pace_needed"), ctx.t("pace_per_day", value=_value(ctx, kpi, r.needed_per_day),
                                                            days=r.days_left),
                                " · ".join(notes) or None))
    return fields


async def _pace_spend(ctx: Context, today: date) -> Reply:
    def load() -> tuple[list[SpendPlan], pd.DataFrame | None]:
        with ctx.services.store.session() as s:
            plans = list(s.scalars(select(SpendPlan).where(SpendPlan.start <= today, SpendPlan.end > today)))
        if not plans:
            return plans, None
        start, end = plans[0].start, plans[0].end
        actual = ctx.warehouse.aggregate(["spend"], _midnight(start), _midnight(min(today, end)), by="channel") \
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
        rows.append([p.channel, _money(ctx, p.amount), _money(ctx, due), _money(ctx, spent),
                     fmt_percent(spent / due if due else 0, ctx.lang)])
        data.append({"channel": p.channel, "plan": p.amount, "plan_to_date": json_number(due), "actual": json_number(spent)})
    period = Period(start, end, f"{start.isoformat()}..{(end - timedelta(days=1)).isoformat()}")
    return Reply(title=ctx.t("pace_spend_title", period=period_text(period, ctx.lang)),
                 tables=[ReplyTable([ctx.t("pl_channel"), ctx.t("pace_plan"), ctx.t("pace_plan_to_date"),
                                     ctx.t("pace_actual"), ctx.t("pace_attainment")], rows)],
                 data={"period": period.as_json(), "channels": data, "elapsed": elapsed})


@router.command("pace", aliases=("进度",), usage="pace [metric] [period] | pace spend",
                examples=("pace", "pace gmv", "pace gmv 2027Q1", "pace spend", "进度 销售额"))
async def pace(ctx: Context, args: Args) -> Reply:
    today = _today(ctx)
    period, _, rest = extract_period(list(args.tokens), ctx.now())
    kpi = parse_metric(ctx, rest[0]) if rest else None
    if len(rest) > 1:
        raise UsageError("goal_extra_word", word=rest[1][:40])
    if kpi is not None and kpi.name == "spend":
        plans_reply = await _pace_spend(ctx, today)
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
                                    per_day=_value(ctx, kpi_of(g), r.recent_per_day), level=_range_level()))
        if r.days_elapsed:
            png = await ctx.run(pace_chart, ctx, gp, today, title)
            reply.charts.append(Chart(png, title, "pace.png"))
    return reply


# ---- budget --------------------------------------------------------------------------------------


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
        if amount is None and (value := _signed_amount(w)) is not None:
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
    daily = ctx.warehouse.daily(measures, _midnight(start), _midnight(today), by="channel")
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
        return ctx.t("budget_note_uncredited", amount=_money(ctx, r.best.uncredited[ch]))
    if curve.weak:
        return ctx.t("budget_note_weak", r2=f"{curve.r2:.2f}")
    if r.best.spend[ch] >= r.caps[ch] * (1 - 1e-6):
        return ctx.t("budget_note_cap")
    return ""


def render_budget(ctx: Context, r: BudgetResult) -> Reply:
    q = r.query
    objective_kpi = CATALOG[q.objective]
    label = metric_label(q.objective, ctx.lang)
    value = partial(_value, ctx, objective_kpi)

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
        rows.append([ch, _money(ctx, spend), fmt_percent(spend / q.amount, ctx.lang), "–" if weak else value(inc),
                     f"{value(lo)} – {value(hi)}",
                     "–" if weak else fmt_value(ratio, "ratio" if q.objective == "gmv" else "money", ctx.lang,
                                                ctx.settings.bot.currency, na=ctx.t("na")),
                     _money(ctx, r.current.spend[ch]), _channel_note(ctx, r, ch)])
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
    text = [ctx.t("budget_intro", amount=_money(ctx, q.amount), period=period_text(q.period, ctx.lang), objective=label),
            ctx.t("budget_uplift", uplift=_signed_value(ctx, objective_kpi, uplift), range=span(up_lo, up_hi)),
            ctx.t("budget_incremental", value=value(r.best.total_incremental), range=span(inc_lo, inc_hi),
                  baseline=value(r.best.total_baseline))]
    if up_lo <= 0 < uplift:
        # the split may be no better than the recent one: a test to run, not a plan to adopt blindly
        text.append(ctx.t("budget_uplift_unsure"))
    even_gain, _, _ = r.best.uplift_over(r.even)
    text.append(ctx.t("budget_vs_even", change=_signed_value(ctx, objective_kpi, even_gain)))
    if r.best.unplaced > 0.005:
        text.append(ctx.t("budget_unplaced", amount=_money(ctx, r.best.unplaced)))
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
        title=ctx.t("budget_title", amount=_money(ctx, q.amount), period=period_text(q.period, ctx.lang)),
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
    text = _value(ctx, kpi, abs(v))
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
        _require_admin(ctx, "budget adopt")
    if q.period.end <= _today(ctx):
        raise UsageError("goal_period_past", period=period_text(q.period, ctx.lang))
    try:
        result = await ctx.run(compute_budget, ctx, q, _today(ctx))
    except budget_mod.BudgetError as exc:
        raise InputError(exc.key, **exc.params) from exc
    reply = render_budget(ctx, result)
    if q.adopt:
        goal_id = await ctx.run(save_spend_plan, ctx, result)
        reply.text.insert(0, ctx.t("budget_adopted", period=period_text(q.period, ctx.lang)))
        reply.data["adopted_goal"] = goal_id
    return reply


# ---- segments -------------------------------------------------------------------------------------


def _segment_name(ctx: Context, word: str) -> str:
    # a quoted "at risk" (as the legend writes it) is the at_risk segment
    name = SEGMENT_WORDS.get(word.lower()) or SEGMENT_WORDS.get("_".join(word.lower().split()))
    if name is None:
        raise InputError("segment_unknown", name=word[:40],
                         suggestion=did_you_mean(word, list(SEGMENT_WORDS), ctx.lang), choices=", ".join(seg_mod.SEGMENTS))
    return name


@router.command("segments", aliases=("segment", "分群", "客户分层"),
                usage="segments [as of <date>] | segments export <segment> [<date>]",
                examples=("segments", "segments as of 2026-11-01", "segments export dormant", "分群 export 高价值"))
async def segments(ctx: Context, args: Args) -> Reply:
    words = [w for w in args.tokens if w.lower() not in ("as", "of", "截至")]
    export: str | None = None
    if words and words[0].lower() in ("export", "导出"):
        if len(words) < 2:
            raise UsageError("segment_export_usage", choices=", ".join(seg_mod.SEGMENTS))
        export = _segment_name(ctx, words[1])
        words = words[2:]
    period, _, rest = extract_period(words, ctx.now())
    if rest:
        raise UsageError("goal_extra_word", word=rest[0][:40])
    # "as of D" includes day D: orders before the day after it
    as_of = min(period.end if period is not None else _today(ctx), _today(ctx))
    # segments need orders before the day: none yet is "no data", not "0 customers"
    first, _ = await ctx.run(ctx.warehouse.coverage, "orders", _today(ctx))
    if first is None or as_of <= first:
        from handlers.coverage import no_data_reply
        from metrics.coverage import Gap, Judgement

        gap = Gap("before", "orders", first) if first is not None else Gap("empty", "orders")
        day = (as_of - timedelta(days=1)).isoformat()
        return no_data_reply(ctx, Judgement({"orders": gap}, []), Period(as_of - timedelta(days=1), as_of, day), day,
                             {"as_of": as_of.isoformat(), "customers": None, "counts": None})
    report = await ctx.run(seg_mod.segment_report, ctx.warehouse, as_of, keep_frame=export is not None,
                           only=None if export in (None, "all") else export)
    if export is not None:
        return await _export(ctx, report, export)
    return render_segments(ctx, report, data_first=first)


def render_segments(ctx: Context, report: seg_mod.SegmentReport, data_first: date | None = None) -> Reply:
    """`data_first`: the orders' first day; a comparison day before it has no segments (change n/a)."""
    previous_known = data_first is None or report.previous_as_of > data_first
    rows = []
    for s in seg_mod.SEGMENTS:
        change = report.counts[s] - report.previous[s]
        rows.append([ctx.t(f"segment_{s}"), fmt_count(report.counts[s], ctx.lang),
                     (("+" if change >= 0 else "−") + fmt_count(abs(change), ctx.lang)) if previous_known
                     else ctx.t("na"),
                     fmt_percent(report.gmv_share[s], ctx.lang), ctx.t(f"segment_action_{s}")])
    text = [ctx.t("segments_intro", customers=fmt_count(report.customers, ctx.lang),
                  previous=report.previous_as_of.isoformat())]
    for shift in report.shifts:
        text.append(ctx.t("segments_shift", customers=fmt_count(shift["customers"], ctx.lang),
                          rate=fmt_percent(shift["rate"], ctx.lang), usual=fmt_percent(shift["usual"], ctx.lang)))
    rules = seg_mod.SegmentRules()
    days = seg_mod.rule_days(report.as_of, rules)
    text.append(ctx.t("segments_rules", **{k: d.isoformat() for k, d in days.items()}, new_days=rules.new_days,
                      active_days=rules.active_days, risk_days=rules.at_risk_days - rules.active_days,
                      champion_orders=rules.champion_orders, risk_orders=rules.at_risk_orders,
                      top=f"{rules.top_share:.0%}"))
    data = report.as_json()
    data["rules"] = {k: d.isoformat() for k, d in days.items()}
    if not previous_known:
        text.insert(1, ctx.t("cov_compare_na", metrics=ctx.t("segments_vs_last_month"),
                             period=report.previous_as_of.isoformat(),
                             reason=ctx.t("reason_before", table=ctx.t("table_orders"),
                                          first=data_first.isoformat() if data_first else "")))
        data["previous"] = None
        data["change"] = dict.fromkeys(seg_mod.SEGMENTS)
    return Reply(
        title=ctx.t("segments_title", day=(report.as_of - timedelta(days=1)).isoformat()),
        text=text,
        tables=[ReplyTable([ctx.t("pl_segment"), ctx.t("pl_customers"), ctx.t("segments_vs_last_month"), ctx.t("pl_gmv_share"),
                            ctx.t("segment_action")], rows, align=["l", "r", "r", "r", "l"])],
        # the button types the segment's name in the chat's language: the name the table shows
        actions=[Action(ctx.t("segments_export_button", segment=ctx.t(f"segment_{s}")),
                        f"segments export {ctx.t(f'segment_{s}') if ctx.lang == 'zh' else s}")
                 for s in ("dormant", "at_risk", "champions")],
        data=data,
    )


async def _export(ctx: Context, report: seg_mod.SegmentReport, segment: str) -> Reply:
    csv = await ctx.run(seg_mod.export_csv, report, None if segment == "all" else segment)
    lines = csv.splitlines()
    filename = f"segment-{segment}-{(report.as_of - timedelta(days=1)).isoformat()}.csv"
    preview = [line.split(",") for line in lines[1:11]]
    return Reply(
        title=ctx.t("segments_export_title", segment=ctx.t(f"segment_{segment}") if segment != "all" else segment,
                    count=fmt_count(len(lines) - 1, ctx.lang)),
        text=[ctx.t("segments_export_text", filename=filename)],
        tables=[ReplyTable(lines[0].split(","), preview)] if preview else [],
        files=[Attachment(filename, csv.encode("utf-8"), "text/csv", filename)],
        data={"segment": segment, "as_of": report.as_of.isoformat(), "rows": len(lines) - 1,
              "file": {"filename": filename, "mime": "text/csv", "content": csv}},
    )


# ---- campaigns ------------------------------------------------------------------------------------


def load_campaigns(ctx: Context) -> list[Campaign]:
    with ctx.services.store.session() as s:
        return list(s.scalars(select(Campaign).order_by(Campaign.start, Campaign.id)))


def _event(c: Campaign) -> EventWindow:
    return EventWindow(c.name, c.start, c.end, tuple(c.channels or ()), c.spend)


CAMPAIGN_NAME_MAX = 100  # Campaign.name is a String(100): PostgreSQL refuses a longer one


async def campaign_add(ctx: Context, tokens: Sequence[str]) -> Reply:
    _require_admin(ctx, "campaign add")
    if len(tokens) < 2:
        raise UsageError("campaign_add_usage")
    # a quoted name arrives as one token (bot/tokens.py); line breaks inside the quotes are spaces
    name, rest = " ".join(tokens[0].split()), list(tokens[1:])
    if not name or len(name) > CAMPAIGN_NAME_MAX:
        raise UsageError("campaign_bad_name", limit=CAMPAIGN_NAME_MAX)
    period, _, words = extract_period(rest, ctx.now())
    if period is None:
        raise UsageError("campaign_need_period")
    known = await ctx.run(ctx.warehouse.distinct_values, "channel")
    channels: list[str] = []
    spend: float | None = None
    i = 0
    while i < len(words):
        w = words[i]
        if w.lower() in ("spend", "cost", "费用", "花费") and i + 1 < len(words):
            spend = _signed_amount(words[i + 1])
            if spend is None or spend <= 0:
                raise UsageError("campaign_bad_spend", text=words[i + 1][:40])
            i += 2
            continue
        if w not in known:
            raise InputError("budget_unknown_channel", name=w[:40], suggestion=did_you_mean(w, known, ctx.lang),
                             choices=", ".join(known))
        channels.append(w)
        i += 1

    stored = await ctx.run(load_campaigns, ctx)
    promos = await ctx.run(promotion_events, ctx)
    here = EventWindow(name, period.start, period.end)
    for c in stored:
        if _same_name(c.name, name) and _overlap(_event(c), here) and (c.start, c.end) != (period.start, period.end):
            # a second 双11 over the first one's days is a correction, not a second campaign
            raise UserError("campaign_same_name_overlap", id=c.id, name=c.name, period=_dates_text(c.start, c.end, ctx.lang))
    for p in promos:
        if _same_name(p.name, name) and (p.start, p.end) == (period.start, period.end):
            return Reply(text=[ctx.t("campaign_in_data", name=p.name, period=_dates_text(p.start, p.end, ctx.lang))],
                         data={"campaign": None, "existing": "data",
                               "promotion": {"name": p.name, "start": p.start.isoformat(), "end": p.end.isoformat()}})

    def make() -> Campaign:
        return Campaign(name=name, start=period.start, end=period.end, channels=channels, spend=spend,
                        chat=str(ctx.incoming.chat), created_by=ctx.incoming.user)

    def save() -> tuple[Campaign, bool]:
        same_days = select(Campaign).where(Campaign.start == period.start, Campaign.end == period.end)
        return ctx.services.store.add_once(make, campaign_key, same_days)

    row, added = await ctx.run(save)
    if not added:
        return Reply(text=[ctx.t("campaign_exists", id=row.id, name=row.name,
                                 period=_dates_text(row.start, row.end, ctx.lang))],
                     data={"campaign": _campaign_json(row), "existing": "calendar"})
    text = [ctx.t("campaign_added", id=row.id, name=name, period=period_text(period, ctx.lang),
                  channels=", ".join(channels) or ctx.t("campaign_all_channels"))]
    overlaps = [c for c in stored if _overlap(_event(c), here)]
    overlaps_data = [p for p in promos if _overlap(p, here)]
    if overlaps or overlaps_data:
        others = [f"#{c.id} {c.name} ({_dates_text(c.start, c.end, ctx.lang)})" for c in overlaps]
        others += [ctx.t("campaign_overlap_data", name=p.name, period=_dates_text(p.start, p.end, ctx.lang))
                   for p in overlaps_data]
        text.append(ctx.t("campaign_overlaps", others=joined_list(ctx, others)))
    data = {"campaign": _campaign_json(row),
            "overlaps": [c.id for c in overlaps],
            "overlaps_data": [{"name": p.name, "start": p.start.isoformat(), "end": p.end.isoformat()}
                              for p in overlaps_data]}
    return Reply(text=text, data=data)


def _same_name(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def _overlap(a: EventWindow, b: EventWindow) -> bool:
    return a.start < b.end and b.start < a.end  # half-open windows


def _campaign_json(c: Campaign) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "period": {"start": c.start.isoformat(), "end": c.end.isoformat()},
            "channels": list(c.channels or []), "spend": c.spend}


async def campaign_rm(ctx: Context, tokens: Sequence[str]) -> Reply:
    _require_admin(ctx, "campaign rm")
    cid = parse_id(tokens[0]) if len(tokens) == 1 else None
    if cid is None:
        raise UsageError("campaign_need_id")

    def delete() -> Campaign | None:
        with ctx.services.store.session() as s, s.begin():
            row = s.get(Campaign, cid)
            if row is not None:
                s.delete(row)
            return row

    row = await ctx.run(delete)
    if row is None:
        raise UsageError("campaign_not_found", name=f"#{cid}", choices="")
    return Reply(text=[ctx.t("campaign_removed", id=cid, name=row.name)], data={"removed": cid})


def _find_event(ctx: Context, name: str, stored: Sequence[Campaign], promos: Sequence[EventWindow],
                today: date) -> EventWindow:
    if (cid := parse_id(name)) is not None:
        match = [c for c in stored if c.id == cid]
        if match:
            return _event(match[0])
    named = [_event(c) for c in stored if c.name.lower() == name.lower()]
    named += [p for p in promos if p.name.lower() == name.lower()]
    named = [e for e in named if e.start < today]
    if not named:
        names = sorted({c.name for c in stored} | {p.name for p in promos})
        raise UsageError("campaign_not_found", name=name[:60],
                         choices=(did_you_mean(name, names, ctx.lang) + " " + ", ".join(names)).strip())
    return max(named, key=lambda e: e.start)  # the latest edition


def render_campaign(ctx: Context, r: CampaignResult, png: bytes | None) -> Reply:
    e = r.event
    period = Period(e.start, e.end, e.name)
    money = "gmv"
    rows = []
    for m in ("gmv", "orders", "new_customers"):
        if m not in r.actual:
            continue
        kpi = CATALOG[m]
        ly = r.last_year
        rows.append([metric_label(m, ctx.lang), _value(ctx, kpi, r.actual[m]), _value(ctx, kpi, r.expected[m]),
                     ("+" if r.incremental[m] >= 0 else "−") + _value(ctx, kpi, abs(r.incremental[m])),
                     fmt_change_pct(r.lift[m] * 100 if r.lift[m] is not None else None, ctx.lang) or ctx.t("na"),
                     _lift_range(ctx, r.lift_low.get(m), r.lift_high.get(m)),
                     (fmt_change_pct(ly.lift[m] * 100, ctx.lang) if ly and ly.lift.get(m) is not None else ctx.t("na"))])
    text = [ctx.t("campaign_intro", days=e.days, baseline_days=PRE_DAYS, level=_range_level())]
    post = r.post_incremental.get(money, 0.0)
    if r.post_days:
        text.append(ctx.t("campaign_post_dip" if post < 0 else "campaign_post", days=r.post_days,
                          value=("+" if post >= 0 else "−") + _money(ctx, abs(post)), net=_money(ctx, r.net_incremental_gmv)))
    if r.aov and r.baseline_aov:
        text.append(ctx.t("campaign_aov", aov=_money(ctx, r.aov), baseline=_money(ctx, r.baseline_aov),
                          change=fmt_change_pct((r.aov / r.baseline_aov - 1) * 100, ctx.lang)))
    text += _campaign_cost_lines(ctx, r)
    if r.last_year is not None:
        ly = r.last_year
        text.append(ctx.t("campaign_last_year", period=_dates_text(ly.event.start, ly.event.end, ctx.lang),
                          gmv=_money(ctx, ly.actual["gmv"]), change=fmt_change_pct(
                              (r.actual["gmv"] / ly.actual["gmv"] - 1) * 100 if ly.actual["gmv"] else None, ctx.lang)
                          or ctx.t("na")))
    else:
        text.append(ctx.t("campaign_no_last_year"))
    for note in r.notes:
        text.append(ctx.t(f"campaign_note_{note}"))
    reply = Reply(
        title=ctx.t("campaign_title", name=e.name, period=_dates_text(period.start, period.end, ctx.lang)),
        text=text,
        tables=[ReplyTable([ctx.t("pl_metric"), ctx.t("campaign_actual"), ctx.t("campaign_baseline"),
                            ctx.t("campaign_incremental"), ctx.t("campaign_lift"),
                            ctx.t("campaign_lift_range", level=_range_level()), ctx.t("campaign_lift_last_year")], rows)],
        data=r.as_json(),
    )
    if png:
        reply.charts.append(Chart(png, reply.title, "campaign.png"))
    return reply


def _campaign_cost_lines(ctx: Context, r: CampaignResult) -> list[str]:
    """The cost the ROI divides by, and what it is a part of: the campaign days' whole marketing
    spend and its baseline, so a derived cost never reads as the spend of the window."""
    lines = []
    if r.spend_window is not None and r.spend_baseline is not None:
        lines.append(ctx.t("campaign_spend_window", window=_money(ctx, r.spend_window),
                           baseline=_money(ctx, r.spend_baseline), baseline_days=PRE_DAYS,
                           channels=joined_list(ctx, list(r.event.channels)) or ctx.t("campaign_all_channels")))
    roi = fmt_value(r.roi, "ratio", ctx.lang, "") if r.roi is not None else ""
    if r.spend_source == "declared" and r.spend is not None and r.roi is not None:
        lines.append(ctx.t("campaign_roi", spend=_money(ctx, r.spend), roi=roi))
    elif r.spend_source == "estimated" and r.spend is not None and r.roi is not None:
        lines.append(ctx.t("campaign_roi_estimated", spend=_money(ctx, r.spend), roi=roi,
                           window=_money(ctx, r.spend_window), baseline=_money(ctx, r.spend_baseline)))
    elif r.spend_window is not None and r.event.spend is None:
        lines.append(ctx.t("campaign_spend_not_above"))
    else:
        lines.append(ctx.t("campaign_no_spend"))
    return lines


def _lift_range(ctx: Context, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return ctx.t("na")
    return f"{fmt_change_pct(low * 100, ctx.lang)} … {fmt_change_pct(high * 100, ctx.lang)}"


def _dates_text(start: date, end: date, lang: str) -> str:
    """A campaign's days without its name (the title already names it: no "11.11: 11.11 (…)")."""
    return period_text(Period(start, end, canonical_label(start, end)), lang)


def campaign_chart(ctx: Context, r: CampaignResult, title: str) -> bytes:
    d = r.daily
    series = pd.DataFrame({ctx.t("campaign_actual"): d["gmv"].to_numpy(), ctx.t("campaign_baseline"): d["gmv_baseline"].to_numpy()},
                          index=pd.to_datetime(list(d["day"])))
    if r.last_year is not None:
        # last year's edition drawn on this year's dates: aligned by event day
        ly = r.last_year.daily.set_index("event_day")["gmv"]
        series[ctx.t("campaign_last_year_line")] = [ly.get(k, float("nan")) for k in d["event_day"]]
    days = [r.event.start + timedelta(days=i) for i in range(r.event.days)]
    event = Period(r.event.start, r.event.end, r.event.start.isoformat())
    return charts.line_chart(series, title, y_format=lambda v: _money(ctx, v), highlight=days,
                             subtitle=period_text(event, ctx.lang))  # the shaded days


async def campaign_report(ctx: Context, tokens: Sequence[str]) -> Reply:
    if not tokens:
        raise UsageError("campaign_report_usage")
    today = _today(ctx)
    stored = await ctx.run(load_campaigns, ctx)
    promos = await ctx.run(promotion_events, ctx)
    # the name as campaign add keeps it: runs of spaces (inside quotes too) are one space
    event = _find_event(ctx, " ".join(" ".join(tokens).split()), stored, promos, today)
    others = [_event(c) for c in stored] + promos
    result = await ctx.run(campaign_lift, ctx.warehouse, event, today, others)
    if result is None:
        raise UsageError("campaign_no_data", name=event.name)
    title = ctx.t("campaign_chart_title", name=event.name)
    png = await ctx.run(campaign_chart, ctx, result, title)
    return render_campaign(ctx, result, png)


@router.command("campaign", aliases=("活动",),
                usage="campaign add <name> <period> [channel …] [spend <amount>] | campaign report <name> | "
                      "campaign rm <id>",
                examples=("campaign add 双11 2026-11-08..2026-11-12", "campaign report 双11", "campaign report 11.11",
                          "campaign add spring-sale 2027-03-01..2027-03-07 social live_stream spend 50000"))
async def campaign(ctx: Context, args: Args) -> Reply:
    words = list(args.tokens)
    verb = words[0].lower() if words else ""
    if verb in ("add", "添加", "新增"):
        ctx.require_admin("campaign add")  # the campaign calendar also silences expected alerts
        return await campaign_add(ctx, words[1:])
    if verb in ("report", "报告", "复盘"):
        return await campaign_report(ctx, words[1:])
    if verb in ("rm", "remove", "delete", "删除"):
        ctx.require_admin("campaign rm")
        return await campaign_rm(ctx, words[1:])
    if verb in ("list", "ls", "列表"):
        return await campaigns(ctx, Args("", ()))
    if words:  # `campaign 双11` reads as a report
        return await campaign_report(ctx, words)
    raise UsageError("campaign_usage")


@router.command("campaigns", aliases=("活动列表",), usage="campaigns", examples=("campaigns",))
async def campaigns(ctx: Context, args: Args) -> Reply:
    stored = await ctx.run(load_campaigns, ctx)
    promos = await ctx.run(promotion_events, ctx)
    rows = [[f"#{c.id}", c.name, period_text(Period(c.start, c.end, c.name), ctx.lang), ", ".join(c.channels or []) or "–",
             _money(ctx, c.spend) if c.spend else "–"] for c in stored]
    rows += [["–", p.name, period_text(Period(p.start, p.end, p.name), ctx.lang), ctx.t("campaign_from_data"), "–"]
             for p in promos]
    if not rows:
        return Reply(text=[ctx.t("campaign_none")], data={"campaigns": [], "promotions": []})
    return Reply(
        title=ctx.t("campaigns_title"),
        tables=[ReplyTable(["id", ctx.t("campaign_name"), ctx.t("pl_period"), ctx.t("pl_channel"), ctx.t("budget_spend")],
                           rows, align=["l", "l", "l", "l", "r"])],
        data={"campaigns": [_campaign_json(c) for c in stored],
              "promotions": [{"name": p.name, "start": p.start.isoformat(), "end": p.end.isoformat()} for p in promos]},
    )
