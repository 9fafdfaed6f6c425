"""`retention` and `ltv`: cohort triangles (metrics/cohorts.py) as a table, a chart and data."""

from __future__ import annotations

import math
import re

import pandas as pd
from babel.numbers import format_percent

from bot.core import Args, Context, Router
from bot.i18n import fmt_count, fmt_money, fmt_ratio, locale_of
from bot.messages import MESSAGES
from bot.reply import Chart, Field, Reply, Table
from metrics import cohorts as co
from metrics.charts import MAX_LINES, heatmap, line_chart
from metrics.periods import Period, extract_period

router = Router()

# TEMP: lead moves these into bot/messages.py. `setdefault`, so that once they are there, the
# wording in bot/messages.py wins over this copy.
COHORT_MESSAGES: dict[str, dict[str, str]] = {
    "summary_retention": {
        "en": "Cohort retention: the share of each month's (or week's) new customers who order again later",
        "zh": "同期群留存：每月（周）新客在之后各月（周）再次下单的比例",
    },
    "summary_ltv": {
        "en": "Lifetime value by monthly cohort: cumulative GMV per customer, CAC and LTV/CAC",
        "zh": "按月同期群的客户生命周期价值：人均累计销售额、获客成本与 LTV/CAC",
    },
    "retention_title_month": {"en": "Retention by monthly cohort · {period}", "zh": "月度同期群留存率 · {period}"},
    "retention_title_week": {"en": "Retention by weekly cohort · {period}", "zh": "周度同期群留存率 · {period}"},
    "retention_explain_month": {
        "en": "A cohort is the customers whose first non-cancelled order was in that month. M1 is the share "
        "of them who ordered in the following month, M2 the month after, and so on (M0 = 100%).",
        "zh": "同期群：首个未取消订单在该月的客户。M1 为其中在下一个月下单的比例，M2 为再下一个月，"
        "依此类推（M0 = 100%）。",
    },
    "retention_explain_week": {
        "en": "A cohort is the customers whose first non-cancelled order was in that ISO week (Monday to "
        "Sunday). W1 is the share of them who ordered in the following week, W2 the week after, and so on "
        "(W0 = 100%).",
        "zh": "同期群：首个未取消订单在该 ISO 周（周一至周日）的客户。W1 为其中在下一周下单的比例，"
        "W2 为再下一周，依此类推（W0 = 100%）。",
    },
    "cohort_in_progress": {
        "en": "{current} is still in progress and is left out: it counts neither as a cohort nor as an age.",
        "zh": "{current} 尚未结束，不计入：既不作为同期群，也不计入任何月龄（周龄）。",
    },
    "cohort_none": {"en": "No customer placed a first order in {period}.", "zh": "{period} 内没有新客首单。"},
    "column_cohort": {"en": "Cohort", "zh": "同期群"},
    "column_customers": {"en": "Customers", "zh": "客户数"},
    "column_age_month": {"en": "M{k}", "zh": "M{k}"},
    "column_age_week": {"en": "W{k}", "zh": "W{k}"},
    "column_cac": {"en": "CAC", "zh": "获客成本"},
    "column_ltv_cac": {"en": "LTV/CAC", "zh": "LTV/CAC"},
    "retention_chart_month": {"en": "Retention by monthly cohort", "zh": "月度同期群留存率"},
    "retention_chart_week": {"en": "Retention by weekly cohort", "zh": "周度同期群留存率"},
    "retention_x_month": {"en": "Months since first order", "zh": "距首单月数"},
    "retention_x_week": {"en": "Weeks since first order", "zh": "距首单周数"},
    "field_cohort_customers": {"en": "New customers in these cohorts", "zh": "同期群新客数"},
    "field_retention_month": {"en": "Month-{k} retention", "zh": "第 {k} 月留存率"},
    "field_retention_week": {"en": "Week-{k} retention", "zh": "第 {k} 周留存率"},
    "retention_footer": {
        "en": "Cohort = month (week) of the first non-cancelled order, business time {zone}. Retention over "
        "several cohorts weighs each by its customers.",
        "zh": "同期群按首个未取消订单所在的月（周）划分，业务时区 {zone}。多个同期群的留存率按客户数加权。",
    },
    "ltv_title": {"en": "LTV by monthly cohort · {period}", "zh": "月度同期群 LTV · {period}"},
    "ltv_explain": {
        "en": "M0 is the GMV per customer in the cohort's first month, M1 the total through the following "
        "month, and so on, up to {months} months. CAC = marketing spend in the cohort month / its new "
        "customers. LTV/CAC takes each cohort's latest complete month.",
        "zh": "M0 为同期群首月的人均销售额，M1 为截至下一个月的人均累计销售额，依此类推，最多 {months} 个月。"
        "获客成本 = 同期群当月推广费用 / 当月新客数。LTV/CAC 取各同期群最近一个完整月的 LTV。",
    },
    "ltv_footer": {
        "en": "LTV counts GMV of non-cancelled orders; refunds are NOT subtracted (the net-of-refunds LTV is "
        "in the data as ltv_net). Business time {zone}.",
        "zh": "LTV 按未取消订单的销售额计算，未扣除退款（扣除退款后的 LTV 见数据字段 ltv_net）。业务时区 {zone}。",
    },
    "field_cac_all": {"en": "CAC (all cohorts)", "zh": "获客成本（全部同期群）"},
    "field_ltv_avg": {"en": "Avg LTV M{k}", "zh": "平均 LTV（M{k}）"},
    "ltv_chart_title": {"en": "Cumulative LTV per customer by cohort", "zh": "各同期群人均累计 LTV"},
    # ---- errors
    "cohort_bad_grain": {
        "en": "Cohorts are by month or by week, not '{text}'. Try `retention by month` or `retention by week`.",
        "zh": "同期群只能按月或按周划分，不支持「{text}」。可以试试 `retention by month` 或 `retention by week`。",
    },
    "cohort_no_complete": {
        "en": "'{period}' has no complete month or week yet ({current} is still in progress). Try `last month`, "
        "or no period for the last 12.",
        "zh": "「{period}」内还没有完整的月或周（{current} 尚未结束）。可以试试 `上月`，或不指定时间段查看最近 12 个。",
    },
    "cohort_too_many": {
        "en": "That period holds {count} cohorts; at most {limit} fit in one table. Pick a shorter period.",
        "zh": "该时间段包含 {count} 个同期群，一张表最多显示 {limit} 个，请缩短时间段。",
    },
    "cohort_no_compare": {
        "en": "Cohort tables can't be compared with `vs`; ask for each period on its own.",
        "zh": "同期群表不支持 `vs` 对比，请分别查询各个时间段。",
    },
    "cohort_unexpected": {"en": "I can't read '{text}' here.", "zh": "无法识别「{text}」。"},
    "ltv_bad_months": {
        "en": "'{text}' is not a number of months. `ltv` takes how many months to follow each cohort, "
        "1 to {limit}, e.g. `ltv 6`.",
        "zh": "「{text}」不是月数。`ltv` 后面跟每个同期群要追踪的月数（1 到 {limit}），例如 `ltv 6`。",
    },
    "ltv_months_range": {
        "en": "LTV follows cohorts for 1 to {limit} months, not {months}.",
        "zh": "LTV 可追踪 1 到 {limit} 个月，不支持 {months}。",
    },
    "ltv_monthly_only": {
        "en": "LTV cohorts are monthly; `by {text}` is not available.",
        "zh": "LTV 只支持按月同期群，不支持按「{text}」。",
    },
}
for _key, _texts in COHORT_MESSAGES.items():
    MESSAGES.setdefault(_key, _texts)

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
    png = heatmap(
        retention_matrix(ctx, table),
        title,
        x_label=ctx.t(f"retention_x_{grain}"),
        y_label=ctx.t("column_cohort"),
    )
    return Chart(png=png, title=title, filename=f"retention-{grain}.png")


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
    if table.cohorts:
        reply.charts.append(await ctx.run(retention_chart, ctx, table))
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
    png = line_chart(ltv_series(result), title, y_format=lambda v: fmt_money(v, ctx.lang, currency))
    return Chart(png=png, title=title, filename="ltv.png")


def render_ltv(ctx: Context, result: co.LtvTable) -> Reply:
    w = result.window
    period = _window_text(w, ctx.lang)
    currency = ctx.settings.bot.currency
    na = ctx.t("na")

    def money(value: float | None) -> str:
        return na if value is None else fmt_money(value, ctx.lang, currency)

    reply = Reply(
        title=ctx.t("ltv_title", period=period),
        text=[ctx.t("ltv_explain", months=result.months), ctx.t("cohort_in_progress", current=w.in_progress)],
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
            "cohorts": [
                {
                    "cohort": c.cohort.label,
                    "start": c.cohort.start.isoformat(),
                    "size": c.cohort.size,
                    "spend": _num(c.spend),
                    "cac": _num(c.cac),
                    "ltv": [_num(v) for v in c.ltv],
                    "ltv_net": [_num(v) for v in c.ltv_net],
                    "ltv_cac": _num(c.ltv_cac),
                    "ltv_cac_age": len(c.ltv) - 1,
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
        + [na if c.ltv_cac is None else fmt_ratio(c.ltv_cac, ctx.lang)]
        for c in result.cohorts
    ]
    columns = (
        [ctx.t("column_cohort"), ctx.t("column_customers"), ctx.t("column_cac")]
        + [_age_column(ctx, "month", k) for k in range(ages)]
        + [ctx.t("column_ltv_cac")]
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
    if result.cohorts:
        reply.charts.append(await ctx.run(ltv_chart, ctx, result))
    return reply
