"""`kpi`: KPIs for a period, compared with another, split by a dimension, filtered."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.context import Args, Context
from bot.reply import Field, Reply, Table
from bot.router import Router
from bot.text.i18n import fmt_change_pct, fmt_change_points, fmt_value
from bot.text.messages import dimension_label, metric_label
from handlers.common import check_filter_values, parse_common, parse_metric
from handlers.coverage import compare_lines, kpi_lines
from metrics.coverage import KpiCoverage, apply_to_kpis
from metrics.kpis import (
    CATALOG,
    STANDARD_CARD,
    KpiQuery,
    KpiResult,
    MetricValue,
    evaluate_many,
    rest_row,
    rows_shown,
)
from metrics.lagging import LAGGING, RefundWindow, mark_incomplete, refund_window
from metrics.periods import Comparison, Period, parse_period, previous_period

router = Router()

MAX_ROWS = 25


def parse_kpi_query(ctx: Context, raw: str) -> tuple[KpiQuery, bool]:
    """The query, and whether it is the standard card (no metric and no comparison named)."""
    parsed = parse_common(ctx, raw)
    metrics = tuple(dict.fromkeys(parse_metric(ctx, w) for w in parsed.words))
    period = parsed.period or parse_period("yesterday", ctx.now())
    compare = parsed.compare
    card = not metrics and compare is None
    if not metrics:
        metrics = tuple(CATALOG[name] for name in STANDARD_CARD)
        if compare is None:
            compare = Comparison("previous", previous_period(period))
    return KpiQuery(metrics, period, compare, parsed.by, tuple(parsed.filters)), card


def week_ago(period: Period) -> Period:
    """The same weekdays a week earlier: the comparison that cancels weekly seasonality."""
    shift = timedelta(days=7)
    label = "the same weekday last week" if period.days == 1 else "the same days a week earlier"
    return Period(period.start - shift, period.end - shift, label,
                  until=period.until - shift if period.until else None)


def add_week_comparison(ctx: Context, reply: Reply, weekly: KpiResult) -> None:
    """The standard card's second delta: vs the same weekday last week, beside day over day
    (beside the previous period, for a card of a few days such as wtd)."""
    one_day = weekly.query.period.days == 1
    for f, (name, mv) in zip(reply.fields, weekly.totals.items(), strict=True):
        week = _delta(ctx, name, mv)
        if week:
            f.delta = ctx.t("card_deltas" if one_day else "card_deltas_period", day=f.delta or "–", week=week)
        reply.data["metrics"][name]["week_ago"] = mv.as_json()
    reply.data["compare_week"] = weekly.query.compare.period.as_json() if weekly.query.compare else None
    if one_day:  # say what d/d compares with, as the w/w line below does
        day_before = period_text(previous_period(weekly.query.period), ctx.lang)
        line = ctx.t("compared_with", period=day_before)
        if line in reply.text:
            reply.text[reply.text.index(line)] = ctx.t("card_compare_day", period=day_before)
    reply.text.append(ctx.t("card_compare", period=period_text(weekly.query.compare.period, ctx.lang)))
    if isinstance(weekly.coverage, KpiCoverage) and weekly.query.compare:
        labels = {n: metric_label(n, ctx.lang) for n in weekly.totals}
        gaps = {n: g for n, g in weekly.coverage.compare_gaps.items() if n not in weekly.coverage.gaps}
        reply.text += compare_lines(ctx, gaps, labels, period_text(weekly.query.compare.period, ctx.lang))


def judge_lagging(ctx: Context, result: KpiResult) -> None:
    """Mark the lagging KPIs (refund_rate) of `result` whose days are still inside the refund window."""
    if not any(k.name in LAGGING for k in result.query.metrics):
        return  # the window reads the orders' history: not for a question that asks nothing of it
    window = refund_window(ctx.warehouse, ctx.now().date(), ctx.settings.kpis.refund_window_days)
    mark_incomplete(result, window)


def incomplete_lines(ctx: Context, result: KpiResult) -> list[str]:
    lines = []
    for name, window in result.incomplete.items():
        if isinstance(window, RefundWindow):
            lines.append(ctx.t("refund_incomplete", metric=metric_label(name, ctx.lang), first=window.first.isoformat(),
                               days=window.days, how=ctx.t(f"window_{window.source}")))
    return lines


def period_text(period: Period, lang: str) -> str:
    last = period.end - timedelta(days=1)
    dates = period.start.isoformat() if period.days == 1 else f"{period.start.isoformat()} – {last.isoformat()}"
    if lang == "zh":
        return dates.replace(" – ", " 至 ")
    if period.label in (period.start.isoformat(), f"{period.start.isoformat()}..{last.isoformat()}",
                        "previous", "last year"):
        return dates
    return f"{period.label} ({dates})"


def joined_list(ctx: Context, names: list[str]) -> str:
    """A list inside a sentence: "GMV, Orders"; "销售额、订单量" in Chinese."""
    return ("、" if ctx.lang == "zh" else ", ").join(names)


def _delta(ctx: Context, name: str, mv: MetricValue) -> str | None:
    if CATALOG[name].unit == "percent":
        return fmt_change_points(mv.change, ctx.lang)
    return fmt_change_pct(mv.change_pct, ctx.lang)


def _field(ctx: Context, name: str, mv: MetricValue) -> Field:
    kpi = CATALOG[name]
    change = mv.change
    trend = None if change is None else ("flat" if abs(change) < 1e-12 else "up" if change > 0 else "down")
    return Field(
        label=metric_label(name, ctx.lang),
        value=fmt_value(mv.value, kpi.unit, ctx.lang, ctx.settings.bot.currency, na=ctx.t("na")),
        delta=_delta(ctx, name, mv),
        trend=trend,
        good=None if trend in (None, "flat") else (trend == "up") == kpi.higher_is_better,
    )


def _table(ctx: Context, result: KpiResult) -> Table:
    query = result.query
    by = query.by or ""
    columns = [dimension_label(by, ctx.lang)]
    for k in query.metrics:
        columns.append(metric_label(k.name, ctx.lang))
        if query.compare:
            columns.append(ctx.t("column_change"))
    rows = []
    limit = rows_shown(len(result.rows), MAX_ROWS)
    shown = [(key, values) for key, values in result.rows[:limit]]
    other = rest_row(result, limit)
    if other is not None:  # the rows left out, as one: the table still adds up to the total
        shown.append((ctx.t("other_rows", count=other.count), other.values))
    for key, values in shown:
        row = [key]
        for k in query.metrics:
            f = _field(ctx, k.name, values[k.name])
            row.append(f.value)
            if query.compare:
                row.append(f"{f.arrow}{f.delta}" if f.delta else "–")
        rows.append(row)
    return Table(columns=columns, rows=rows)


def _data(result: KpiResult) -> dict[str, object]:
    query = result.query
    data: dict[str, object] = {
        "period": query.period.as_json(),
        "compare": (
            {"kind": query.compare.kind, **query.compare.period.as_json()} if query.compare else None
        ),
        "by": query.by,
        "filters": [{"dimension": f.dimension, "values": list(f.values), "negate": f.negate} for f in query.filters],
        "metrics": {name: mv.as_json() for name, mv in result.totals.items()},
        "unavailable": result.unavailable,
    }
    if isinstance(result.coverage, KpiCoverage) and result.coverage:
        data["coverage"] = result.coverage.as_json()
    data["incomplete"] = {n: w.as_json() for n, w in result.incomplete.items() if isinstance(w, RefundWindow)}
    if query.by:
        data["rows"] = [
            {query.by: key, "metrics": {name: mv.as_json() for name, mv in values.items()}}
            for key, values in result.rows
        ]
        # the table shows the first MAX_ROWS rows and this row for the rest (every row is above)
        other = rest_row(result, rows_shown(len(result.rows), MAX_ROWS))
        data["other"] = other.as_json() if other is not None else None
    return data


def render_kpi(ctx: Context, result: KpiResult) -> Reply:
    query = result.query
    ptext = period_text(query.period, ctx.lang)
    title = (
        ctx.t("kpi_by_title", dimension=dimension_label(query.by, ctx.lang), period=ptext)
        if query.by
        else ctx.t("kpi_title", period=ptext)
    )
    text = []
    if query.period.until is not None:
        text.append(ctx.t("partial_note", time=query.period.until.strftime("%H:%M")))
    if query.compare:
        text.append(ctx.t("compared_with", period=period_text(query.compare.period, ctx.lang)))
    if query.filters:
        conditions = " and ".join(
            f"{f.dimension}{'!=' if f.negate else '='}{','.join(f.values)}" for f in query.filters
        )
        text.append(ctx.t("filtered_by", conditions=conditions))
    if result.unavailable:
        dims = sorted({d for d in [query.by, *(f.dimension for f in query.filters), *ctx.scope]
                       if d and d != "channel"})
        text.append(ctx.t(
            "unavailable",
            metrics=joined_list(ctx, [metric_label(n, ctx.lang) for n in result.unavailable]),
            dimensions=joined_list(ctx, [dimension_label(d, ctx.lang) for d in dims]),
        ))
    if isinstance(result.coverage, KpiCoverage):
        labels = {n: metric_label(n, ctx.lang) for n in result.totals}
        text += kpi_lines(ctx, result.coverage, labels, ptext,
                          period_text(query.compare.period, ctx.lang) if query.compare else None)
    text += incomplete_lines(ctx, result)
    fields = [_field(ctx, name, mv) for name, mv in result.totals.items()]
    for f, name in zip(fields, result.totals, strict=True):
        if name in result.incomplete:  # a change of days still collecting refunds is no verdict
            f.good = None
    reply = Reply(
        title=title,
        text=text,
        fields=fields,
        data=_data(result),
        footer=ctx.t("footer_source", zone=ctx.settings.bot.timezone),
    )
    if query.by:
        reply.tables.append(_table(ctx, result))
    return reply


@router.command(
    "kpi",
    aliases=("kpis", "指标"),
    usage="kpi [metric …] [period] [vs previous | vs last year | vs <period>] [by <dimension>] "
    "[where <dimension>=<value> [and …]]",
    examples=(
        "kpi gmv yesterday",
        "kpi gmv orders aov conversion last 7d vs previous by channel",
        "kpi refund_rate mtd vs last year where region=east",
        "kpi 销售额 订单量 本月",
    ),
)
async def kpi(ctx: Context, args: Args) -> Reply:
    query, card = parse_kpi_query(ctx, args.raw)
    if query.filters:
        await ctx.run(check_filter_values, ctx, ctx.warehouse, query.filters)
    queries = [query]
    # a week or longer: the same days a week earlier would be (or overlap) the previous period again
    weekly = card and query.period.days < 7
    if weekly:
        queries.append(replace(query, compare=Comparison("week", week_ago(query.period)), by=None))
    results = await ctx.run(evaluate_many, ctx.warehouse, queries)
    for result in results:
        await ctx.run(apply_to_kpis, ctx.warehouse, result, ctx.now().date())
        await ctx.run(judge_lagging, ctx, result)
    reply = render_kpi(ctx, results[0])
    if weekly:
        add_week_comparison(ctx, reply, results[1])
    return reply
