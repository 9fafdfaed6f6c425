"""Everyday analysis: `trend`, `top`, `movers`, `drivers` and `funnel`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial

from bot.context import Args, Context
from bot.errors import UsageError
from bot.reply import Chart, Field, Reply, Table
from bot.router import Router
from bot.text.i18n import fmt_change_pct, fmt_percent, fmt_value
from bot.text.messages import dimension_label, metric_label
from handlers.common import check_filter_values, parse_common, parse_dimension, parse_metric
from handlers.coverage import (
    compare_lines,
    judge,
    na_lines,
    no_data_reply,
    not_recorded,
    partial_lines,
)
from handlers.kpi import period_text
from metrics import charts
from metrics.breakdown import DRIVERS, Contribution, drivers, movers, movers_rest, top, top_rest
from metrics.coverage import Judgement
from metrics.data.warehouse import measure_table
from metrics.errors import UnknownDimension
from metrics.funnel import STAGES, STEPS, funnel
from metrics.kpis import CATALOG, Kpi, json_number, rows_shown
from metrics.lagging import LAGGING, refund_window
from metrics.periods import Comparison, Period, parse_period, previous_period
from metrics.products.catalog import catalogue
from metrics.trend import OTHER, TOTAL_LINE, buckets, trend

router = Router()

GRAINS = {"daily": "day", "day": "day", "按天": "day", "weekly": "week", "week": "week", "按周": "week",
          "monthly": "month", "month": "month", "按月": "month"}
TOP_ROWS = 15
CHART_BARS = 10
MOVER_ROWS = 5


def _value_format(ctx: Context, kpi: Kpi) -> Callable[[float], str]:
    currency = ctx.settings.bot.currency
    return lambda v: fmt_value(v, kpi.unit, ctx.lang, currency)


def _fmt(ctx: Context, kpi: Kpi, value: float | None) -> str:
    return fmt_value(value, kpi.unit, ctx.lang, ctx.settings.bot.currency, na=ctx.t("na"))


def _signed(ctx: Context, kpi: Kpi, delta: float | None) -> str:
    if delta is None:
        return ctx.t("na")
    if kpi.unit == "percent":
        return f"{delta * 100:+.2f} pp"
    text = _fmt(ctx, kpi, abs(delta))
    return ("+" if delta >= 0 else "−") + text


def _compare_or_previous(period: Period, compare: Comparison | None) -> Comparison:
    return compare or Comparison("previous", previous_period(period))


def _only_one_metric(ctx: Context, words: list[str], command: str) -> Kpi:
    if not words:
        raise UsageError("need_metric", command=command)
    kpis = [parse_metric(ctx, w) for w in words]
    if len(kpis) > 1:
        raise UsageError("one_metric", command=command)
    return kpis[0]


def _require_split(ctx: Context, kpi: Kpi, by: str | None) -> None:
    # a measure the chat's scope hides is not a split problem: the command says why it is n/a
    dims = ctx.warehouse.mapping.table_dimensions
    read_as = ctx.warehouse.read_as
    if by and not all(by in dims(measure_table(read_as(m, by))) for m in kpi.measures):
        raise UnknownDimension("not_split", metric=kpi.name, dimension=by)


async def _unknown(ctx: Context, kpi: Kpi, period: Period, data: dict[str, object]) -> Reply | None:
    """The whole answer when the data cannot give `kpi` for `period` at all: not recorded at this
    chat's scope (traffic by region), a missing table or column, or a period outside the data."""
    ptext = period_text(period, ctx.lang)
    if not all(ctx.warehouse.available(m, None, ()) for m in kpi.measures):
        return Reply(title=ctx.t("cov_title", period=ptext),
                     text=[ctx.t("cov_na", metrics=metric_label(kpi.name, ctx.lang), reason=not_recorded(ctx))],
                     data={**data, "period": period.as_json(), "value": None, "unavailable": [kpi.name]})
    judgement = await ctx.run(judge, ctx, kpi.measures, period)
    if judgement.gaps:
        return no_data_reply(ctx, judgement, period, ptext, data)
    return None


def _covered_days(ctx: Context, measures: tuple[str, ...]) -> tuple[date | None, date | None]:
    """The days every table of `measures` has data for (None, None without any)."""
    from metrics.coverage import tables_of

    spans = [ctx.warehouse.coverage(t, ctx.now().date()) for t in tables_of(measures)]
    firsts, lasts = [f for f, _ in spans if f], [v for _, v in spans if v]
    return (max(firsts) if firsts else None), (min(lasts) if lasts else None)


# ---- trend -------------------------------------------------------------------------


@router.command(
    "trend", aliases=("趋势",),
    usage="trend <metric> [period] [daily|weekly|monthly] [by <dimension>] [where …]",
    examples=("trend gmv last 90d", "trend orders last 12w weekly by channel", "trend conversion 本月"),
)
async def trend_(ctx: Context, args: Args) -> Reply:
    parsed = parse_common(ctx, args.raw)
    grains = [GRAINS[w.lower()] for w in parsed.words if w.lower() in GRAINS]
    words = [w for w in parsed.words if w.lower() not in GRAINS]
    kpi = _only_one_metric(ctx, words, "trend")
    _require_split(ctx, kpi, parsed.by)
    grain = grains[0] if grains else "day"
    # a trend of one day says nothing: without a period, the last four weeks
    period = parsed.period or parse_period("last 28d", ctx.now())
    if grain == "day" and period.days > 731:
        raise UsageError("too_many_points", days=period.days)
    if parsed.filters:
        await ctx.run(check_filter_values, ctx, ctx.warehouse, parsed.filters)
    unknown = await _unknown(ctx, kpi, period, {"metric": kpi.name, "grain": grain, "by": parsed.by, "series": []})
    if unknown is not None:
        return unknown
    result = await ctx.run(trend, ctx.warehouse, kpi, period, grain, parsed.by, parsed.filters)
    # buckets wholly outside the data are unknown, not zero
    first, last = await ctx.run(_covered_days, ctx, kpi.measures)
    outside = [label for label, lo, after in buckets(period, grain)
               if first is None or last is None or after <= first or lo > last]
    result.series.loc[result.series.index.isin(outside)] = float("nan")
    coverage_notes = partial_lines(ctx, (await ctx.run(judge, ctx, kpi.measures, period)).partial,
                                   period_text(period, ctx.lang))
    coverage_notes += await _lagging_buckets(ctx, kpi, period, grain, result.partial)
    series = result.series
    label = metric_label(kpi.name, ctx.lang)
    title = ctx.t("trend_title", metric=label, period=period_text(period, ctx.lang))
    named = series.rename(columns={TOTAL_LINE: label, OTHER: ctx.t("other")})
    # incomplete buckets are drawn hollow, and the chart says why in the reply's own words
    partial_note = ctx.t("trend_partial", buckets=", ".join(str(b) for b in result.partial)) if result.partial else ""
    draw = partial(charts.line_chart, named, title, y_format=_value_format(ctx, kpi), partial=result.partial,
                   note=partial_note)
    values = series[TOTAL_LINE] if TOTAL_LINE in series else series.sum(axis=1, min_count=1)
    fields = []
    if TOTAL_LINE in series and values.notna().any():
        fields = [
            Field(ctx.t("trend_last"), _fmt(ctx, kpi, values.dropna().iloc[-1]), delta=str(values.dropna().index[-1])),
            Field(ctx.t("trend_high"), _fmt(ctx, kpi, values.max()), delta=str(values.idxmax())),
            Field(ctx.t("trend_low"), _fmt(ctx, kpi, values.min()), delta=str(values.idxmin())),
        ]
    text = [ctx.t("trend_partial", buckets=", ".join(str(b) for b in result.partial))] if (
        result.partial and grain != "day") else []
    text += coverage_notes
    data_series = [
        {"line": str(col), "points": [
            {"day": str(idx), "value": json_number(v)} for idx, v in series[col].items()
        ]}
        for col in series.columns
    ]
    return Reply(
        title=title, text=text, fields=fields,
        charts=[Chart.later(draw, title, f"trend-{kpi.name}.png")],
        data={"metric": kpi.name, "grain": grain, "by": parsed.by, "period": period.as_json(),
              "partial": [str(b) for b in result.partial], "series": data_series},
    )


async def _lagging_buckets(ctx: Context, kpi: Kpi, period: Period, grain: str, partial_buckets: list[date]) -> list[str]:
    """A lagging KPI's buckets with days still inside the refund window join the hollow (partial)
    ones, and the reply says why."""
    if kpi.name not in LAGGING:
        return []
    window = await ctx.run(refund_window, ctx.warehouse, ctx.now().date(), ctx.settings.kpis.refund_window_days)
    if window is None or not window.touches(period):
        return []
    late = [label for label, lo, after in buckets(period, grain)  # type: ignore[arg-type]
            if lo <= window.last and after > window.first]
    partial_buckets[:] = sorted(set(partial_buckets) | set(late))
    return [ctx.t("trend_refund_incomplete", first=max(window.first, period.start).isoformat(), days=window.days,
                  how=ctx.t(f"window_{window.source}"))]


def _compare_notes(ctx: Context, kpi: Kpi, before: Judgement, compare: Period) -> list[str]:
    ctext = period_text(compare, ctx.lang)
    gap = before.gap_for(kpi.measures)
    lines = compare_lines(ctx, {kpi.name: gap}, {kpi.name: metric_label(kpi.name, ctx.lang)}, ctext) if gap else []
    return lines + partial_lines(ctx, before.partial, ctext, compare=True)


# ---- top ---------------------------------------------------------------------------


@router.command(
    "top", aliases=("排行", "排名"),
    usage="top <dimension> [by <metric>] [period] [vs <period>|previous|last year] [where …]",
    examples=("top category by gmv mtd", "top channel by orders last 7d vs previous", "top region 上月"),
)
async def top_(ctx: Context, args: Args) -> Reply:
    parsed = parse_common(ctx, args.raw, by_is_dimension=False)
    if not parsed.words:
        raise UsageError("need_dimension", choices=", ".join(ctx.warehouse.dimensions))
    dimension = parse_dimension(ctx, parsed.words[0])
    extra = parsed.words[1:]
    kpi = parse_metric(ctx, parsed.by) if parsed.by else (
        _only_one_metric(ctx, extra, "top") if extra else CATALOG["gmv"])
    if parsed.by and extra:
        parse_metric(ctx, extra[0])  # says which word is not understood
        raise UsageError("one_metric", command="top")
    _require_split(ctx, kpi, dimension)
    period = parsed.period or parse_period("yesterday", ctx.now())
    compare = parsed.compare.period if parsed.compare else None
    if parsed.filters:
        await ctx.run(check_filter_values, ctx, ctx.warehouse, parsed.filters)
    unknown = await _unknown(ctx, kpi, period, {"dimension": dimension, "metric": kpi.name, "total": None,
                                                "rows": []})
    if unknown is not None:
        return unknown
    result = await ctx.run(top, ctx.warehouse, dimension, kpi, period, compare, parsed.filters)
    label = metric_label(kpi.name, ctx.lang)
    notes = partial_lines(ctx, (await ctx.run(judge, ctx, kpi.measures, period)).partial,
                          period_text(period, ctx.lang))
    if compare:
        before = await ctx.run(judge, ctx, kpi.measures, compare)
        notes += _compare_notes(ctx, kpi, before, compare)
        if before.gaps:  # nothing to compare with: no previous values, no changes
            result.previous_total = None
            for r in result.rows:
                r.previous = None
    columns = ["#", dimension_label(dimension, ctx.lang), label, ctx.t("share")]
    if compare:
        columns += [ctx.t("previous"), ctx.t("column_change")]
    rows = []
    limit = rows_shown(len(result.rows), TOP_ROWS)
    other = top_rest(result, limit)  # the slices left out, as one row: the table adds up to its total
    if other is not None and result.previous_total is None:
        other.previous = None
    named = await _sku_names(ctx, dimension, [r.key for r in result.rows[:limit]])
    shown = [(str(i), named.get(r.key, r.key), r) for i, r in enumerate(result.rows[:limit], 1)]
    if other is not None:
        shown.append(("", ctx.t("other_rows", count=len(result.rows) - limit), other))
    for rank, key, r in shown:
        row = [rank, key, _fmt(ctx, kpi, r.value), fmt_percent(r.share, ctx.lang) if r.share is not None else "–"]
        if compare:
            row += [_fmt(ctx, kpi, r.previous), fmt_change_pct(r.change_pct, ctx.lang) or "–"]
        rows.append(row)
    title = ctx.t("top_title", dimension=dimension_label(dimension, ctx.lang), metric=label,
                  period=period_text(period, ctx.lang))
    bars = result.rows[:CHART_BARS]  # a phone shows ten bars legibly; the table has the rest
    left = len(result.rows) - len(bars)
    draw = partial(charts.bar_chart, [r.key for r in bars], [r.value or 0.0 for r in bars], title,
                   value_format=_value_format(ctx, kpi), note=ctx.t("rows_more", count=left) if left else "")
    text = [ctx.t("compared_with", period=period_text(compare, ctx.lang))] if compare else []
    text += notes
    return Reply(
        title=title, text=text,
        fields=[Field(ctx.t("total"), _fmt(ctx, kpi, result.total))],
        tables=[Table(columns, rows, align=["r", "l", "r", "r", "r", "r"][: len(columns)])],
        charts=[Chart.later(draw, title, f"top-{dimension}.png")],
        data={"dimension": dimension, "metric": kpi.name, "period": period.as_json(),
              "compare": compare.as_json() if compare else None, "total": result.total,
              "previous_total": result.previous_total,
              "rows": [{dimension: r.key, "value": r.value, "share": r.share, "previous": r.previous,
                        "change": r.change, "change_pct": r.change_pct} for r in result.rows],
              # the table shows the first TOP_ROWS rows and this one for the rest (all rows are above)
              "other": None if other is None else {
                  "rows": len(result.rows) - limit, "value": other.value, "share": other.share,
                  "previous": other.previous, "change": other.change, "change_pct": other.change_pct}},
    )


# ---- movers --------------------------------------------------------------------------


async def _sku_names(ctx: Context, dimension: str, keys: list[str]) -> dict[str, str]:
    """A SKU row reads "code · name" where the products table names it (the data keeps the code)."""
    if dimension != "sku" or not keys:
        return {}
    products = await ctx.run(catalogue, ctx.warehouse)
    return {k: f"{k} · {products[k].name}" for k in keys if k in products and products[k].name != k}


def _contribution_json(c: Contribution) -> dict[str, object]:
    return {"value": c.key, "contribution": c.contribution, "current": c.value, "previous": c.previous}


@router.command(
    "movers", aliases=("why", "异动", "归因"),
    usage="movers <metric> [period] [vs previous|last year|<period>] [by <dimension>] [where …]",
    examples=("movers gmv yesterday", "movers orders last 7d vs previous by channel", "movers conversion yesterday"),
)
async def movers_(ctx: Context, args: Args) -> Reply:
    parsed = parse_common(ctx, args.raw)
    kpi = _only_one_metric(ctx, parsed.words, "movers")
    period = parsed.period or parse_period("yesterday", ctx.now())
    compare = _compare_or_previous(period, parsed.compare)
    dims = [parsed.by] if parsed.by else list(ctx.warehouse.dimensions)
    if parsed.filters:
        await ctx.run(check_filter_values, ctx, ctx.warehouse, parsed.filters)
    unknown = await _unknown(ctx, kpi, period, {"metric": kpi.name, "compare": compare.period.as_json(),
                                                "previous": None, "change": None, "dimensions": {}})
    if unknown is not None:
        return unknown
    result = await ctx.run(movers, ctx.warehouse, kpi, period, compare.period, dims, parsed.filters)
    label = metric_label(kpi.name, ctx.lang)
    before = await ctx.run(judge, ctx, kpi.measures, compare.period)
    notes = partial_lines(ctx, (await ctx.run(judge, ctx, kpi.measures, period)).partial,
                          period_text(period, ctx.lang)) + _compare_notes(ctx, kpi, before, compare.period)
    if before.gaps:  # nothing to compare with: no change to explain
        result.previous = None
        result.by_dimension = {}
    change = result.change
    title = ctx.t("movers_title", metric=label, period=period_text(period, ctx.lang))
    text = [ctx.t("movers_summary", metric=label, value=_fmt(ctx, kpi, result.value),
                  previous=_fmt(ctx, kpi, result.previous), change=_signed(ctx, kpi, change),
                  period=period_text(compare.period, ctx.lang))] + notes
    tables = []
    lead: list[Contribution] = []
    for dim, contribs in result.by_dimension.items():
        limit = rows_shown(len(contribs), MOVER_ROWS)
        top_rows = contribs[:limit]
        if not lead or (top_rows and abs(top_rows[0].contribution) > abs(lead[0].contribution)):
            lead = top_rows
            lead_dim = dim
        named = await _sku_names(ctx, dim, [c.key for c in top_rows])
        shown = [(named.get(c.key, c.key), c) for c in top_rows]
        other = movers_rest(result, dim, limit)  # the rest as one row: the table adds up to the change
        if other is not None:
            shown.append((ctx.t("other_rows", count=len(contribs) - limit), other))
        rows = [[key, _signed(ctx, kpi, c.contribution),
                 fmt_percent(c.contribution / change, ctx.lang) if change else "–",
                 _fmt(ctx, kpi, c.previous), _fmt(ctx, kpi, c.value)] for key, c in shown]
        tables.append(Table(
            [dimension_label(dim, ctx.lang), ctx.t("contribution"), ctx.t("of_change"), ctx.t("previous"),
             ctx.t("current")], rows, title=dimension_label(dim, ctx.lang)))
    if result.unavailable:
        text.append(ctx.t("not_split_list", metric=label,
                          dimensions=", ".join(dimension_label(d, ctx.lang) for d in result.unavailable)))
    chart = []
    if lead and change:
        text.append(ctx.t("movers_lead", dimension=dimension_label(lead_dim, ctx.lang), value=lead[0].key,
                          share=fmt_percent(lead[0].contribution / change, ctx.lang)))
        draw = partial(charts.diverging_bar_chart, [c.key for c in lead], [c.contribution for c in lead],
                       ctx.t("movers_chart", metric=label, dimension=dimension_label(lead_dim, ctx.lang)),
                       # a change, signed as in the table: a rate moves in "pp", not in "%"
                       value_format=partial(_signed, ctx, kpi),
                       subtitle=f"{period_text(period, ctx.lang)} · "
                                + ctx.t("compared_with", period=period_text(compare.period, ctx.lang)))
        chart = [Chart.later(draw, title, f"movers-{kpi.name}.png")]
    return Reply(
        title=title, text=text, tables=tables, charts=chart,
        data={"metric": kpi.name, "period": period.as_json(),
              "compare": {"kind": compare.kind, **compare.period.as_json()},
              "value": result.value, "previous": result.previous, "change": change,
              "dimensions": {d: [_contribution_json(c) for c in cs] for d, cs in result.by_dimension.items()},
              # each table shows the first MOVER_ROWS slices and this row for the rest (all are above)
              "other": {d: {"rows": len(cs) - n, "contribution": o.contribution, "current": o.value,
                            "previous": o.previous}
                        for d, cs in result.by_dimension.items()
                        if (o := movers_rest(result, d, n := rows_shown(len(cs), MOVER_ROWS))) is not None},
              "unavailable": result.unavailable},
    )


# ---- drivers ----------------------------------------------------------------------------


@router.command(
    "drivers", aliases=("driver", "拆解"),
    usage="drivers [period] [vs previous|last year|<period>] [by channel]",
    examples=("drivers yesterday", "drivers last 7d vs previous by channel", "drivers 本月 vs last year"),
)
async def drivers_(ctx: Context, args: Args) -> Reply:
    parsed = parse_common(ctx, args.raw)
    words = [w for w in parsed.words if w.lower() not in ("gmv", "销售额")]
    if words:
        parse_metric(ctx, words[0])
        raise UsageError("drivers_gmv_only")
    if parsed.filters:
        raise UsageError("drivers_no_filter")
    gmv = CATALOG["gmv"]
    _require_split(ctx, CATALOG["conversion"], parsed.by)
    period = parsed.period or parse_period("yesterday", ctx.now())
    compare = _compare_or_previous(period, parsed.compare)
    ptext, ctext = period_text(period, ctx.lang), period_text(compare.period, ctx.lang)
    measures = ("gmv", "orders", "sessions")
    now_j = await ctx.run(judge, ctx, measures, period)
    if "gmv" in now_j.gaps:
        return no_data_reply(ctx, now_j, period, ptext, {"compare": compare.period.as_json(), "total": None,
                                                          "by": parsed.by})
    before_j = await ctx.run(judge, ctx, measures, compare.period)
    total, rows = await ctx.run(drivers, ctx.warehouse, period, compare.period, parsed.by)
    names = {d: ctx.t(f"driver_{d}") for d in DRIVERS}
    title = ctx.t("drivers_title", period=ptext)
    notes = partial_lines(ctx, now_j.partial, ptext) + partial_lines(ctx, before_j.partial, ctext, compare=True)
    traffic_labels = {"sessions": names["sessions"]}
    # sessions the data cannot give (not at this scope, no traffic table, outside its days): the
    # split into sessions × conversion × AOV is unknown, and sessions are n/a rather than 0
    if not ctx.warehouse.available("sessions", None, ()):
        notes.append(ctx.t("cov_na", metrics=f"{names['sessions']}, {names['conversion']}", reason=not_recorded(ctx)))
    notes += na_lines(ctx, {k: g for k, g in now_j.gaps.items() if k == "sessions"}, traffic_labels, ptext)
    notes += compare_lines(ctx, {k: g for k, g in before_j.gaps.items() if k in ("gmv", "sessions")},
                           {"gmv": metric_label("gmv", ctx.lang), **traffic_labels}, ctext)
    if not ctx.warehouse.available("sessions", None, ()) or "sessions" in now_j.gaps or before_j.gaps:
        for split in [total, *rows]:
            split.effects = None
            if not ctx.warehouse.available("sessions", None, ()) or "sessions" in now_j.gaps:
                split.factors["sessions"] = (None, split.factors["sessions"][1])
                split.factors["conversion"] = (None, split.factors["conversion"][1])
            if not ctx.warehouse.available("sessions", None, ()) or "sessions" in before_j.gaps:
                split.factors["sessions"] = (split.factors["sessions"][0], None)
                split.factors["conversion"] = (split.factors["conversion"][0], None)
            if "gmv" in before_j.gaps:
                split.previous_gmv = None  # type: ignore[assignment]
                split.factors["aov"] = (split.factors["aov"][0], None)
    prev_gmv = total.previous_gmv
    text = [ctx.t("movers_summary", metric=metric_label("gmv", ctx.lang), value=_fmt(ctx, gmv, total.gmv),
                  previous=_fmt(ctx, gmv, prev_gmv),
                  change=_signed(ctx, gmv, None if prev_gmv is None else total.gmv - prev_gmv),
                  period=ctext)] + notes
    fields = []
    charts_out = []
    if total.effects is not None:
        units = {"sessions": "count", "conversion": "percent", "aov": "money"}
        for d in DRIVERS:
            now_v, before = total.factors[d]
            factor_kpi = Kpi(d, "", d, None, units[d], True)  # type: ignore[arg-type]
            fields.append(Field(
                names[d], ctx.t("driver_factor", now=_fmt(ctx, factor_kpi, now_v), before=_fmt(ctx, factor_kpi, before)),
                delta=_signed(ctx, gmv, total.effects[d]),
                trend="up" if total.effects[d] > 0 else "down" if total.effects[d] < 0 else "flat",
                good=total.effects[d] > 0 if total.effects[d] else None,
            ))
        draw = partial(
            charts.waterfall_chart, ctx.t("previous"), total.previous_gmv,
            [(names[d], total.effects[d]) for d in DRIVERS], ctx.t("current"), title,
            value_format=_value_format(ctx, gmv),
            subtitle=ctx.t("compared_with", period=period_text(compare.period, ctx.lang)),  # what "Before" is
        )
        charts_out.append(Chart.later(draw, title, "drivers.png"))
    elif not notes:
        text.append(ctx.t("drivers_undefined"))
    tables = []
    if rows:
        table_rows = [[r.key, _signed(ctx, gmv, None if r.previous_gmv is None else r.gmv - r.previous_gmv)]
                      + ([_signed(ctx, gmv, r.effects[d]) for d in DRIVERS] if r.effects else ["–"] * 3)
                      for r in rows]
        tables.append(Table([dimension_label(parsed.by or "", ctx.lang), ctx.t("column_change")]
                            + [names[d] for d in DRIVERS], table_rows))

    def split_json(r):  # type: ignore[no-untyped-def]
        return {"gmv": r.gmv, "previous_gmv": r.previous_gmv,
                "change": None if r.previous_gmv is None else r.gmv - r.previous_gmv,
                "factors": {d: {"value": v, "previous": p} for d, (v, p) in r.factors.items()},
                "effects": r.effects}

    data = {"period": period.as_json(), "compare": {"kind": compare.kind, **compare.period.as_json()},
            "total": split_json(total), "by": parsed.by}
    if parsed.by:
        data["rows"] = [{parsed.by: r.key, **split_json(r)} for r in rows]
    return Reply(title=title, text=text, fields=fields, tables=tables, charts=charts_out, data=data)


# ---- funnel -----------------------------------------------------------------------------


@router.command(
    "funnel", aliases=("漏斗",),
    usage="funnel [period] [vs previous|last year|<period>] [by channel]",
    examples=("funnel last 30d", "funnel last 7d vs previous by channel", "funnel 本月"),
)
async def funnel_(ctx: Context, args: Args) -> Reply:
    parsed = parse_common(ctx, args.raw)
    if parsed.words:
        raise UsageError("funnel_words", text=" ".join(parsed.words)[:60])
    for f in parsed.filters:
        if f.dimension != "channel":
            raise UnknownDimension("not_split", metric="sessions", dimension=f.dimension)
    if parsed.by and parsed.by != "channel":
        raise UnknownDimension("not_split", metric="sessions", dimension=parsed.by)
    period = parsed.period or parse_period("last 30d", ctx.now())
    compare = _compare_or_previous(period, parsed.compare)
    ptext, ctext = period_text(period, ctx.lang), period_text(compare.period, ctx.lang)
    now_j = await ctx.run(judge, ctx, STEPS, period)
    if "orders" in now_j.gaps:
        return no_data_reply(ctx, now_j, period, ptext, {"compare": compare.period.as_json(), "by": parsed.by,
                                                          "steps": []})
    before_j = await ctx.run(judge, ctx, STEPS, compare.period)
    total, rows = await ctx.run(funnel, ctx.warehouse, period, compare.period, parsed.by, parsed.filters)
    # steps the data cannot give are n/a with the reason, never 0
    for r in [total, *rows]:
        for s in STEPS:
            if s in now_j.gaps:
                r.counts[s] = None
            if r.previous is not None and s in before_j.gaps:
                r.previous[s] = None
    step_names = [ctx.t(f"step_{s}") for s in STEPS]
    labels = dict(zip(STEPS, step_names, strict=True))
    hidden = [s for s in STEPS if not ctx.warehouse.available(s, None, ())]
    notes = [ctx.t("cov_na", metrics=", ".join(labels[s] for s in hidden), reason=not_recorded(ctx))] if hidden else []
    notes += na_lines(ctx, now_j.gaps, labels, ptext) + partial_lines(ctx, now_j.partial, ptext)
    notes += compare_lines(ctx, before_j.gaps, labels, ctext) + partial_lines(ctx, before_j.partial, ctext, True)
    table_rows = []
    for i, step in enumerate(STEPS):
        rate, before = total.rate(step), total.rate(step, total.previous) if total.previous else None
        table_rows.append([
            ctx.t("funnel_step", step=step_names[i], stage=ctx.t("stage_" + STAGES[step])),
            fmt_value(total.counts[step], "count", ctx.lang, "", na=ctx.t("na")),
            fmt_percent(rate, ctx.lang) if rate is not None else "",
            fmt_percent(before, ctx.lang) if before is not None else "",
        ])
    weakest = total.weakest()
    title = ctx.t("funnel_title", period=period_text(period, ctx.lang))
    text = [ctx.t("compared_with", period=period_text(compare.period, ctx.lang))] + notes
    if weakest:
        text.append(ctx.t("funnel_weakest", step=ctx.t(f"step_{weakest}"),
                          before=ctx.t(f"step_{STEPS[STEPS.index(weakest) - 1]}"),
                          rate=fmt_percent(total.rate(weakest), ctx.lang),
                          previous=fmt_percent(total.rate(weakest, total.previous), ctx.lang),
                          lost=fmt_value(total.lost_orders(weakest), "count", ctx.lang, "")))
    elif total.previous is not None and any(total.lost_orders(s) is not None for s in STEPS):
        text.append(ctx.t("funnel_none_fell", period=period_text(compare.period, ctx.lang)))
    tables = [Table([ctx.t("step"), ctx.t("count"), ctx.t("step_rate"), ctx.t("previous")], table_rows)]
    if rows:
        by_rows = []
        for r in rows:
            weak = r.weakest()
            by_rows.append([r.key, fmt_value(r.counts["sessions"], "count", ctx.lang, "", na=ctx.t("na"))]
                           + [fmt_percent(v, ctx.lang) if (v := r.rate(s)) is not None else ctx.t("na")
                              for s in STEPS[1:]]
                           + [ctx.t(f"step_{weak}") if weak else ""])
        tables.append(Table([dimension_label("channel", ctx.lang), step_names[0]] + step_names[1:]
                            + [ctx.t("weakest")], by_rows))
    known = [(name, total.counts[s]) for name, s in zip(step_names, STEPS, strict=True) if total.counts[s] is not None]
    draw = partial(charts.funnel_chart, known,
                   title, value_format=lambda v: fmt_value(v, "count", ctx.lang, ""))

    def row_json(r):  # type: ignore[no-untyped-def]
        return {"steps": [{"step": s, "count": r.counts[s], "rate": r.rate(s),
                           "previous_count": r.previous[s] if r.previous else None,
                           "previous_rate": r.rate(s, r.previous) if r.previous else None,
                           "lost_orders": r.lost_orders(s)} for s in STEPS],
                "weakest": r.weakest(), "weakest_by": "lost_orders"}

    data = {"period": period.as_json(), "compare": {"kind": compare.kind, **compare.period.as_json()},
            "by": parsed.by, **row_json(total)}
    if rows:
        data["rows"] = [{"channel": r.key, **row_json(r)} for r in rows]
    return Reply(title=title, text=text, tables=tables, charts=[Chart.later(draw, title, "funnel.png")], data=data)


