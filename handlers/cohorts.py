"""`retention` and `ltv`: cohort triangles (metrics/cohorts.py) as a table, a chart and data."""

from __future__ import annotations

import math
import re
from functools import partial

import pandas as pd
from babel.numbers import format_currency, format_percent

from bot.context import Args, Context
from bot.reply import Chart, Field, Reply, Table
from bot.router import Router
from bot.text.i18n import fmt_count, fmt_money, fmt_ratio, locale_of
from handlers.coverage import na_lines, no_data_lines, not_recorded, partial_lines
from metrics import cohorts as co
from metrics.charts import MAX_LINES, heatmap, line_chart
from metrics.coverage import judge_measures, schema_gap
from metrics.periods import Period, extract_period

router = Router()

BY_WORDS = ("by", "按")
# after `by`: any of these; on their own only the unambiguous ones, since "month" and "week"
# belong to periods ("last month", "this week")
GRAIN_WORDS: dict[str, co.Grain] = {
    "month": "month", "months": "month", "monthly": "month", "m": "month", "月": "month", "月度": "month",
    "week": "week", "weeks": "week", "weekly": "week", "w": "week", "周": "week", "周度": "week", "星期": "week",
}  # fmt: skip
STANDALONE_GRAIN_WORDS: dict[str, co.Grain] = {
    "monthly": "month", "按月": "month", "月度": "month", "每月": "month",
    "weekly": "week", "按周": "week", "周度": "week", "每周": "week",
}  # fmt: skip
# `ltv 6`, `ltv 6m`, `ltv 6mo`, `ltv 6个月`, `ltv 6 months`
_MONTHS = re.compile(r"(?P<n>[0-9]+)\s*(?:m|mo|mos|month|months|个月|月)?", re.IGNORECASE)
_MONTH_WORDS = ("month", "months", "个月", "月")
# Where cohorts stop reading as separate lines on one chart.
LTV_CHART_LINES = MAX_LINES


# ---- parsing ------------------------------------------------------------------------------------


def _take_grain(tokens: list[str]) -> tuple[co.Grain | None, str | None, list[str]]:
    """The grain the user asked for (and the word they used), and the other tokens."""
    rest: list[str] = []
    grain: co.Grain | None = None
    word: str | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i].lower()
        if token in BY_WORDS:
            word = tokens[i + 1] if i + 1 < len(tokens) else tokens[i]  # a bare trailing `by`
            grain = GRAIN_WORDS.get(word.lower())
            if grain is None:
                raise co.BadGrain("cohort_bad_grain", text=word[:40])
            i += 2
            continue
        if token in STANDALONE_GRAIN_WORDS:
            grain, word = STANDALONE_GRAIN_WORDS[token], tokens[i]
        else:
            rest.append(tokens[i])
        i += 1
    return grain, word, rest


def _take_period(ctx: Context, tokens: list[str]) -> tuple[Period | None, list[str]]:
    period, compare, rest = extract_period(tokens, ctx.now())
    if compare is not None:
        raise co.CohortInputError("cohort_no_compare")
    return period, rest


def parse_retention(ctx: Context, raw: str) -> co.CohortWindow:
    grain, _, tokens = _take_grain(raw.split())
    period, rest = _take_period(ctx, tokens)
    if rest:
        raise co.CohortInputError("cohort_unexpected", text=" ".join(rest)[:60])
    return co.cohort_window(grain or "month", period, ctx.now().date())


def parse_ltv(ctx: Context, raw: str) -> tuple[co.CohortWindow, int]:
    grain, word, tokens = _take_grain(raw.split())
    if grain not in (None, "month"):
        raise co.BadGrain("ltv_monthly_only", text=(word or "")[:40])
    period, rest = _take_period(ctx, tokens)
    months: int | None = None
    i = 0
    while i < len(rest):
        m = _MONTHS.fullmatch(rest[i])
        if m is None or months is not None:
            raise co.BadMonths("ltv_bad_months", text=rest[i][:40], limit=co.MAX_LTV_MONTHS)
        # a 900-digit number is out of range like 500 is; no need to echo all of it back
        months = co.check_months(int(m["n"]) if len(m["n"]) <= 6 else 10**6)
        i += 1
        if i < len(rest) and rest[i].lower() in _MONTH_WORDS:
            i += 1  # `6 months`
    window = co.cohort_window("month", period, ctx.now().date())
    return window, months or co.DEFAULT_LTV_MONTHS


# ---- formatting ---------------------------------------------------------------------------------


def _pct(value: float, lang: str) -> str:
    # one decimal: a triangle has a dozen columns, and 23.4% says as much as 23.41%
    return format_percent(value, format="#,##0.0%", locale=locale_of(lang))


def _num(value: float | None) -> float | None:
    """Twelve significant digits in data: every real digit, without float-sum noise (as kpi does)."""
    return None if value is None else float(f"{value:.12g}")


def _window_text(window: co.CohortWindow, lang: str) -> str:
    starts = window.starts
    first, last = co.bucket_label(starts[0], window.grain), co.bucket_label(starts[-1], window.grain)
    if first == last:
        return first
    return f"{first} 至 {last}" if lang == "zh" else f"{first} – {last}"


def _age_column(ctx: Context, grain: co.Grain, k: int) -> str:
    return ctx.t(f"column_age_{grain}", k=k)


def coverage_notes(ctx: Context, window: co.CohortWindow, empty: bool) -> list[str]:
    """What the orders data leaves out of the window: no data at all (said instead of "no customer
    placed a first order"), or only part of it."""
    period = Period(window.start, window.end, "cohorts")
    text = _window_text(window, ctx.lang)
    judgement = judge_measures(ctx.warehouse, ["orders"], period, ctx.now().date())
    if judgement.gaps:
        return no_data_lines(ctx, judgement, text) if empty else []
    return partial_lines(ctx, judgement.partial, text)


def cac_notes(ctx: Context, result: co.LtvTable) -> list[str]:
    """Why CAC is n/a: spend not recorded at this scope, no spend table, or months outside its days."""
    label = {"cac": ctx.t("column_cac")}
    if not ctx.warehouse.available("spend", None, ()):
        return [ctx.t("cov_na", metrics=label["cac"], reason=not_recorded(ctx))]
    gap = schema_gap(ctx.warehouse, "spend")
    text = _window_text(result.window, ctx.lang)
    if gap is not None:
        return na_lines(ctx, {"cac": gap}, label, text)
    if not any(c.spend is None for c in result.cohorts):
        return []
    unknown = [c.cohort.start for c in result.cohorts if c.spend is None]
    period = Period(min(unknown), co.add_buckets(max(unknown), "month", 1), "cohorts")
    judgement = judge_measures(ctx.warehouse, ["spend"], period, ctx.now().date())
    gaps = {"cac": next(iter(judgement.gaps.values()))} if judgement.gaps else {}
    return na_lines(ctx, gaps, label, ", ".join(co.bucket_label(m, "month") for m in unknown)) if gaps else []


# ---- retention ----------------------------------------------------------------------------------


def retention_matrix(ctx: Context, table: co.CohortTable) -> pd.DataFrame:
    """Cohorts x ages, retention as a fraction, NaN where an age is not complete yet."""
    ages = table.max_age + 1
    rows = {c.label: list(c.retention) + [math.nan] * (ages - len(c.customers)) for c in table.cohorts}
    columns = [_age_column(ctx, table.window.grain, k) for k in range(ages)]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def render_retention(ctx: Context, table: co.CohortTable) -> Reply:
    w = table.window
    grain = w.grain
    period = _window_text(w, ctx.lang)
    text = [ctx.t(f"retention_explain_{grain}"), ctx.t("cohort_in_progress", current=w.in_progress)]
    reply = Reply(
        title=ctx.t(f"retention_title_{grain}", period=period),
        text=text,
        footer=ctx.t("retention_footer", zone=ctx.settings.bot.timezone),
        data={
            "grain": grain,
            "period": w.as_json(),
            "in_progress": w.in_progress,
            "customers": table.customers,
            "cohorts": [
                {
                    "cohort": c.label,
                    "start": c.start.isoformat(),
                    "size": c.size,
                    "customers": list(c.customers),
                    "retention": [_num(r) for r in c.retention],
                }
                for c in table.cohorts
            ],
            # each age over the cohorts that reached it, weighted by their customers
            "weighted_retention": [_num(table.weighted_retention(k)) for k in range(table.max_age + 1)],
        },
    )
    if not table.cohorts:
        reply.text = [ctx.t("cohort_none", period=period)]
        return reply
    reply.fields.append(Field(ctx.t("field_cohort_customers"), fmt_count(table.customers, ctx.lang)))
    for k in (1, 3) if grain == "month" else (1, 4):
        value = table.weighted_retention(k)
        if value is not None:
            reply.fields.append(Field(ctx.t(f"field_retention_{grain}", k=k), _pct(value, ctx.lang)))
    ages = table.max_age + 1
    rows = [
        [c.label, fmt_count(c.size, ctx.lang)]
        + [_pct(r, ctx.lang) for r in c.retention]
        + [""] * (ages - len(c.customers))
        for c in table.cohorts
    ]
    columns = [ctx.t("column_cohort"), ctx.t("column_customers")] + [
        _age_column(ctx, grain, k) for k in range(ages)
    ]
    reply.tables.append(Table(columns=columns, rows=rows))
    return reply


def retention_chart(ctx: Context, table: co.CohortTable) -> Chart:
    grain = table.window.grain
    title = ctx.t(f"retention_chart_{grain}")
    draw = partial(
        heatmap,
        retention_matrix(ctx, table),
        title,
        x_label=ctx.t(f"retention_x_{grain}"),
        y_label=ctx.t("column_cohort"),
    )
    return Chart.later(draw, title, f"retention-{grain}.png")


@router.command(
    "retention",
    aliases=("留存", "留存率", "cohort", "cohorts", "同期群"),
    usage="retention [by month|week] [period]",
    examples=("retention", "retention by week", "retention by month 2026", "retention last 6m", "留存 按周"),
)
async def retention(ctx: Context, args: Args) -> Reply:
    window = parse_retention(ctx, args.raw)
    table = await ctx.run(co.retention, ctx.warehouse, window)
    reply = render_retention(ctx, table)
    notes = await ctx.run(coverage_notes, ctx, window, not table.cohorts)
    reply.text = notes if not table.cohorts and notes else reply.text + notes
    if table.cohorts:
        reply.charts.append(retention_chart(ctx, table))
    return reply


# ---- ltv ------------------------------------------------------------------------------------------


def ltv_series(result: co.LtvTable) -> pd.DataFrame:
    """Cumulative LTV per customer over calendar months, one column per cohort (the latest
    cohorts with at least two points, as many as a chart can tell apart).

    Calendar months, not ages, on the x axis: `metrics.charts.line_chart` draws date series.
    """
    followed = [c for c in result.cohorts if len(c.ltv) >= 2] or list(result.cohorts)
    shown = followed[-LTV_CHART_LINES:]
    columns: dict[str, pd.Series] = {}
    for c in shown:
        months = [co.add_buckets(c.cohort.start, "month", k) for k in range(len(c.ltv))]
        columns[c.cohort.label] = pd.Series(list(c.ltv), index=pd.DatetimeIndex(months))
    return pd.DataFrame(columns).sort_index()


def ltv_chart(ctx: Context, result: co.LtvTable) -> Chart:
    title = ctx.t("ltv_chart_title")
    currency = ctx.settings.bot.currency
    locale = locale_of(ctx.lang)

    def axis_money(value: float) -> str:
        # whole currency units: an axis tick with cents is noise
        return format_currency(value, currency, format="¤#,##0", locale=locale, currency_digits=False)

    return Chart.later(partial(line_chart, ltv_series(result), title, y_format=axis_money), title, "ltv.png")


def render_ltv(ctx: Context, result: co.LtvTable) -> Reply:
    w = result.window
    period = _window_text(w, ctx.lang)
    currency = ctx.settings.bot.currency
    na = ctx.t("na")

    def money(value: float | None) -> str:
        return na if value is None else fmt_money(value, ctx.lang, currency)

    age = result.comparison_age
    ratio_ages = [0, age] if age > 0 else [0]
    explain = ctx.t("ltv_explain", months=result.months, age=age) if age > 0 else ctx.t("ltv_explain_one")
    reply = Reply(
        title=ctx.t("ltv_title", period=period),
        text=[explain, ctx.t("cohort_in_progress", current=w.in_progress)],
        footer=ctx.t("ltv_footer", zone=ctx.settings.bot.timezone),
        data={
            "grain": "month",
            "months": result.months,
            "period": w.as_json(),
            "in_progress": w.in_progress,
            "basis": "gmv_not_net_of_refunds",
            "customers": sum(c.cohort.size for c in result.cohorts),
            "cac": _num(result.cac),
            "average_ltv": [_num(result.average_ltv(k)) for k in range(result.months)],
            "ltv_cac_age": age,  # every cohort's ltv_cac is at this age (null until it gets there)
            "cohorts": [
                {
                    "cohort": c.cohort.label,
                    "start": c.cohort.start.isoformat(),
                    "size": c.cohort.size,
                    "spend": _num(c.spend),
                    "cac": _num(c.cac),
                    "ltv": [_num(v) for v in c.ltv],
                    "ltv_net": [_num(v) for v in c.ltv_net],
                    "ltv_cac": _num(c.ltv_cac_at(age)),
                    "ltv_cac_by_age": [_num(c.ltv_cac_at(k)) for k in range(len(c.ltv))],
                }
                for c in result.cohorts
            ],
        },
    )
    if not result.cohorts:
        reply.text = [ctx.t("cohort_none", period=period)]
        return reply
    reached = max(len(c.ltv) for c in result.cohorts) - 1
    reply.fields += [
        Field(ctx.t("field_cohort_customers"), fmt_count(reply.data["customers"], ctx.lang)),
        Field(ctx.t("field_cac_all"), money(result.cac)),
        Field(ctx.t("field_ltv_avg", k=0), money(result.average_ltv(0))),
    ]
    if reached > 0:
        reply.fields.append(Field(ctx.t("field_ltv_avg", k=reached), money(result.average_ltv(reached))))
    ages = reached + 1
    rows = [
        [c.cohort.label, fmt_count(c.cohort.size, ctx.lang), money(c.cac)]
        + [money(v) for v in c.ltv]
        + [""] * (ages - len(c.ltv))
        + [na if (v := c.ltv_cac_at(k)) is None else fmt_ratio(v, ctx.lang) for k in ratio_ages]
        for c in result.cohorts
    ]
    columns = (
        [ctx.t("column_cohort"), ctx.t("column_customers"), ctx.t("column_cac")]
        + [_age_column(ctx, "month", k) for k in range(ages)]
        + [ctx.t("column_ltv_cac", k=k) for k in ratio_ages]
    )
    reply.tables.append(Table(columns=columns, rows=rows))
    return reply


@router.command(
    "ltv",
    aliases=("lifetime_value", "生命周期价值", "客户价值"),
    usage="ltv [months] [period]",
    examples=("ltv", "ltv 12", "ltv 3 last 6m", "ltv 6 2026"),
)
async def ltv(ctx: Context, args: Args) -> Reply:
    window, months = parse_ltv(ctx, args.raw)
    result = await ctx.run(co.ltv, ctx.warehouse, window, months)
    reply = render_ltv(ctx, result)
    notes = await ctx.run(coverage_notes, ctx, window, not result.cohorts)
    if result.cohorts:
        notes += await ctx.run(cac_notes, ctx, result)
    reply.text = notes if not result.cohorts and notes else reply.text + notes
    if result.cohorts:
        reply.charts.append(ltv_chart(ctx, result))
    return reply
