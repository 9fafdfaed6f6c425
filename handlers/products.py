"""`stock`, `fulfilment`, `returns` and `sku`: the SKUs at risk of running out, how orders ship and
arrive, what comes back, and one SKU's card. (`top sku by gmv`, `movers gmv by sku` and
`kpi units asp …` are the general commands: SKU is a split where order lines are recorded.)"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from functools import partial

import pandas as pd

from bot.context import Args, Context
from bot.errors import UsageError
from bot.reply import Action, Attachment, Chart, Field, Reply, Table
from bot.router import Router
from bot.text.i18n import fmt_count, fmt_decimal, fmt_money, fmt_percent
from bot.text.messages import dimension_label, metric_label
from handlers.common import did_you_mean, parse_common
from handlers.kpi import period_text
from metrics import charts
from metrics.data.warehouse import Filter
from metrics.periods import Period, parse_period
from metrics.products import catalog, stock
from metrics.products.fulfilment import Fulfilment, fulfilment
from metrics.products.returns import Returned, returns

router = Router()

TOP_N = 15  # rows a chat shows; the rest go to the export
STOCKOUT_DAYS = 30
SKU_TREND_DAYS = 30
REASONS = ("size", "quality", "changed_mind", "wrong_item", "damaged", "late_delivery")


def _money(ctx: Context, value: float | None) -> str:
    return fmt_money(value, ctx.lang, ctx.settings.bot.currency) if value is not None else "–"


def _days(ctx: Context, value: float | None) -> str:
    return fmt_decimal(value, ctx.lang) if value is not None else "∞"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def _period(ctx: Context, raw: str, default: str, splits: tuple[str, ...], bad: str) -> tuple[Period, str | None]:
    parsed = parse_common(ctx, raw, by_is_dimension=False)
    if parsed.words:
        raise UsageError("unexpected_words", text=" ".join(parsed.words)[:60])
    by = parsed.by.lower() if parsed.by else None
    if by is not None and by not in splits:
        raise UsageError(bad, name=by[:40])
    return parsed.period or parse_period(default, ctx.now()), by


# ---- stock -----------------------------------------------------------------------------------


def _stock_csv(ctx: Context, rows: list[stock.Cover], names: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sku", "name", "warehouse", "on_hand", "on_order", "units_per_day", "cover_days",
                     "lead_time_days", "gmv_at_stake"])
    for c in rows:
        writer.writerow([c.sku, names.get(c.sku, c.sku), c.warehouse or "", int(c.on_hand), int(c.on_order),
                         round(c.daily_units, 3), "" if c.cover_days is None else round(c.cover_days, 1), c.lead_time,
                         round(c.gmv_at_stake, 2)])
    return out.getvalue()


@router.command("stock", aliases=("库存", "缺货"), usage="stock", examples=("stock", "库存"))
async def stock_(ctx: Context, args: Args) -> Reply:
    if args.raw.strip():
        raise UsageError("unexpected_words", text=args.raw.strip()[:60])
    window = ctx.settings.products.cover_window_days
    day = ctx.now().date() - timedelta(days=1)  # the last closed day's snapshot
    risky = await ctx.run(stock.at_risk, ctx.warehouse, day, window)
    # per warehouse: a SKU out at one warehouse while another still holds it is already losing
    # that warehouse's orders
    outs = await ctx.run(stock.stockouts, ctx.warehouse, day - timedelta(days=STOCKOUT_DAYS - 1),
                         day + timedelta(days=1), True)
    names = {sku: p.name for sku, p in (await ctx.run(catalog.catalogue, ctx.warehouse)).items()}
    out_now = [o for o in outs if o.ongoing]
    title = ctx.t("stock_title", day=day.isoformat())
    tables: list[Table] = []
    if risky:
        rows = [[c.sku, names.get(c.sku, c.sku), c.warehouse or "", fmt_count(c.on_hand, ctx.lang),
                 fmt_count(c.on_order, ctx.lang), fmt_decimal(c.daily_units, ctx.lang), _days(ctx, c.cover_days),
                 fmt_count(c.lead_time, ctx.lang), _money(ctx, c.gmv_at_stake)] for c in risky[:TOP_N]]
        if len(risky) > TOP_N:
            rows.append(["", ctx.t("stock_more", count=len(risky) - TOP_N), "", "", "", "", "", "", ""])
        tables.append(Table([ctx.t("dimension_sku"), "", ctx.t("stock_warehouse"), ctx.t("stock_on_hand"),
                             ctx.t("stock_on_order"), ctx.t("stock_daily_units"), ctx.t("stock_cover"),
                             ctx.t("stock_lead"), ctx.t("stock_gmv_at_stake")], rows,
                            title=ctx.t("stock_at_risk"), align=["l", "l", "l", "r", "r", "r", "r", "r", "r"]))
    if outs:
        rows = [[o.sku, names.get(o.sku, o.sku), o.warehouse or "", o.first.isoformat(), fmt_count(o.days, ctx.lang),
                 _money(ctx, o.lost_gmv)] for o in outs[:TOP_N]]
        tables.append(Table([ctx.t("dimension_sku"), "", ctx.t("stock_warehouse"), ctx.t("stock_since"),
                             ctx.t("stock_days_out"), ctx.t("stock_lost")], rows,
                            title=ctx.t("stock_outs_table", days=STOCKOUT_DAYS), align=["l", "l", "l", "l", "r", "r"]))
    text = [] if risky else [ctx.t("stock_none")]
    files = []
    if risky:
        filename = f"stock-at-risk-{day.isoformat()}.csv"
        files.append(Attachment(filename, _stock_csv(ctx, risky, names).encode("utf-8"), "text/csv", filename))
        text.append(ctx.t("stock_export", count=fmt_count(len(risky), ctx.lang), filename=filename))
    return Reply(
        title=title, text=text,
        fields=[Field(ctx.t("stock_at_risk"), fmt_count(len(risky), ctx.lang)),
                Field(ctx.t("stock_out_now"), fmt_count(len(out_now), ctx.lang)),
                Field(ctx.t("stock_gmv_at_stake"), _money(ctx, sum(c.gmv_at_stake for c in risky)))],
        tables=tables, files=files, footer=ctx.t("stock_method", window=window),
        data={"as_of": day.isoformat(),
              "at_risk": [{"sku": c.sku, "warehouse": c.warehouse, "on_hand": c.on_hand, "on_order": c.on_order, "daily_units": c.daily_units, "cover_days": c.cover_days,
                           "lead_time": c.lead_time, "gmv_at_stake": c.gmv_at_stake} for c in risky],
              "stockouts": [{"sku": o.sku, "warehouse": o.warehouse, "first": o.first.isoformat(), "last": o.last.isoformat(), "days": o.days,
                             "ongoing": o.ongoing, "lost_units": o.lost_units, "lost_gmv": o.lost_gmv} for o in outs]},
    )


# ---- fulfilment ----------------------------------------------------------------------------------


def _pair(ctx: Context, key: str, a: float | None, b: float | None) -> str:
    if a is None:
        return "–"
    return ctx.t(key, value=f"{fmt_decimal(a, ctx.lang)} / {fmt_decimal(b if b is not None else a, ctx.lang)}")


def _fulfilment_json(f: Fulfilment) -> dict[str, object]:
    return {"key": f.key, "due": f.due, "on_time": f.on_time, "on_time_rate": f.on_time_rate, "shipped": f.shipped,
            "delivered": f.delivered, "ship_p50_hours": f.ship_p50, "ship_p90_hours": f.ship_p90,
            "delivery_p50_days": f.delivery_p50, "delivery_p90_days": f.delivery_p90}


@router.command("fulfilment", aliases=("fulfillment", "履约", "发货"),
                usage="fulfilment [period] [by warehouse|carrier]",
                examples=("fulfilment last 7d", "fulfilment last 7d by carrier", "履约 近7天 按 warehouse"))
async def fulfilment_(ctx: Context, args: Args) -> Reply:
    period, by = _period(ctx, args.raw, "last 7d", ("warehouse", "carrier"), "fulfilment_bad_split")
    start, end = _midnight(period.start), _midnight(period.end)
    sla = ctx.settings.products.ship_sla_hours
    total, rows = await ctx.run(fulfilment, ctx.warehouse, start, end, ctx.now().replace(tzinfo=None), by, sla)
    title = ctx.t("fulfilment_title", period=period_text(period, ctx.lang))
    if not total.due and not total.shipped:
        return Reply(title=title, text=[ctx.t("fulfilment_none", period=period_text(period, ctx.lang))],
                     data={"period": period.as_json(), "total": _fulfilment_json(total), "rows": []})
    rate = fmt_percent(total.on_time_rate, ctx.lang) if total.on_time_rate is not None else "–"
    fields = [Field(ctx.t("fulfilment_on_time"), rate),
              Field(ctx.t("fulfilment_ship"), _pair(ctx, "fulfilment_hours", total.ship_p50, total.ship_p90)),
              Field(ctx.t("fulfilment_delivery"), _pair(ctx, "fulfilment_days", total.delivery_p50, total.delivery_p90)),
              Field(ctx.t("fulfilment_due"), f"{fmt_count(total.due, ctx.lang)} / {fmt_count(total.shipped, ctx.lang)}")]
    tables = []
    if rows:
        tables.append(Table(
            [by or "", ctx.t("fulfilment_on_time"), ctx.t("fulfilment_ship"), ctx.t("fulfilment_delivery"),
             ctx.t("fulfilment_due")],
            [[r.key, fmt_percent(r.on_time_rate, ctx.lang) if r.on_time_rate is not None else "–",
              _pair(ctx, "fulfilment_hours", r.ship_p50, r.ship_p90),
              _pair(ctx, "fulfilment_days", r.delivery_p50, r.delivery_p90),
              f"{fmt_count(r.due, ctx.lang)} / {fmt_count(r.shipped, ctx.lang)}"] for r in rows[:TOP_N]],
            align=["l", "r", "r", "r", "r"]))
    actions = [] if by else [Action(ctx.t("fulfilment_by_warehouse"), f"fulfilment {period.label} by warehouse"),
                             Action(ctx.t("fulfilment_by_carrier"), f"fulfilment {period.label} by carrier")]
    return Reply(title=title, fields=fields, tables=tables, footer=ctx.t("fulfilment_sla", hours=f"{sla:g}"),
                 actions=actions,
                 data={"period": period.as_json(), "by": by, "sla_hours": sla, "total": _fulfilment_json(total),
                       "rows": [_fulfilment_json(r) for r in rows]})


# ---- returns --------------------------------------------------------------------------------------


def _reason(ctx: Context, key: str) -> str:
    if not key:
        return ctx.t("unknown_label")
    return ctx.t(f"reason_{key}") if key in REASONS else key


def _returned_json(r: Returned) -> dict[str, object]:
    return {"key": r.key, "units": r.units, "amount": r.amount, "sold_units": r.sold_units, "sold_gmv": r.sold_gmv,
            "unit_rate": r.unit_rate, "amount_rate": r.amount_rate}


@router.command("returns", aliases=("退货",), usage="returns [period] [by reason|sku|category]",
                examples=("returns last 30d by reason", "returns last 7d by sku", "退货 上月 按 reason"))
async def returns_(ctx: Context, args: Args) -> Reply:
    period, by = _period(ctx, args.raw, "last 30d", ("reason", "sku", "category"), "returns_bad_split")
    total, rows = await ctx.run(returns, ctx.warehouse, _midnight(period.start), _midnight(period.end), by)

    def pct(v: float | None) -> str:
        return fmt_percent(v, ctx.lang) if v is not None else "–"

    names: dict[str, str] = {}
    if by == "sku":
        names = {sku: p.name for sku, p in (await ctx.run(catalog.catalogue, ctx.warehouse)).items()}
    label = {"reason": ctx.t("returns_reason"), "sku": ctx.t("dimension_sku"),
             "category": dimension_label("category", ctx.lang)}
    tables = []
    if rows:
        key = (lambda k: _reason(ctx, k)) if by == "reason" else (
            lambda k: f"{k} · {names.get(k, k)}" if by == "sku" and names.get(k, k) != k else (k or ctx.t("unknown_label")))
        tables.append(Table([label.get(by or "", ""), ctx.t("returns_units"), ctx.t("returns_amount"),
                             ctx.t("returns_unit_rate"), ctx.t("returns_amount_rate")],
                            [[key(r.key), fmt_count(r.units, ctx.lang), _money(ctx, r.amount), pct(r.unit_rate),
                              pct(r.amount_rate)] for r in rows[:TOP_N]],
                            align=["l", "r", "r", "r", "r"]))
    title = ctx.t("returns_title", period=period_text(period, ctx.lang))
    charts_ = []
    if by == "reason" and rows:
        bars = rows[:10]
        draw = partial(charts.bar_chart, [_reason(ctx, r.key) for r in bars], [r.amount for r in bars], title,
                       value_format=lambda v: _money(ctx, v))
        charts_.append(Chart.later(draw, title, "returns-by-reason.png"))
    return Reply(
        title=title, text=[ctx.t("returns_note")],
        fields=[Field(ctx.t("returns_units"), fmt_count(total.units, ctx.lang)),
                Field(ctx.t("returns_amount"), _money(ctx, total.amount)),
                Field(ctx.t("returns_unit_rate"), pct(total.unit_rate)),
                Field(ctx.t("returns_amount_rate"), pct(total.amount_rate))],
        tables=tables, charts=charts_,
        data={"period": period.as_json(), "by": by, "total": _returned_json(total),
              "rows": [_returned_json(r) for r in rows]},
    )


# ---- one SKU ----------------------------------------------------------------------------------------


@router.command("sku", aliases=("商品",), usage="sku <code or name> [period]",
                examples=("sku SKU-0001", "sku 蓝牙耳机 last 7d"))
async def sku_(ctx: Context, args: Args) -> Reply:
    parsed = parse_common(ctx, args.raw, by_is_dimension=False)
    wanted = " ".join(parsed.words).strip()
    if not wanted:
        raise UsageError("sku_need")
    found = await ctx.run(catalog.find, ctx.warehouse, wanted)
    if not found:
        products = await ctx.run(catalog.catalogue, ctx.warehouse)
        raise UsageError("sku_unknown", name=wanted[:60],
                         suggestion=did_you_mean(wanted, list(products)[:5000], ctx.lang))
    if len(found) > 1 and found[0].sku.lower() != wanted.lower():
        return Reply(title=ctx.t("sku_several", name=wanted[:60]),
                     actions=[Action(f"{p.sku} · {p.name}"[:40], f"sku {p.sku}") for p in found],
                     data={"matches": [p.sku for p in found]})
    product = found[0]
    period = parsed.period or parse_period("last 7d", ctx.now())
    return await _sku_card(ctx, product, period)


async def _sku_card(ctx: Context, product: catalog.Product, period: Period) -> Reply:
    only = (Filter("sku", (product.sku,)),)
    w = ctx.warehouse
    sales = await ctx.run(w.aggregate, ["units", "line_gmv", "line_orders"], _midnight(period.start),
                          _midnight(period.end), None, only)
    units = float(sales["units"].iloc[0]) if "units" in sales and len(sales) else 0.0
    gmv = float(sales["line_gmv"].iloc[0]) if "line_gmv" in sales and len(sales) else 0.0
    day = ctx.now().date() - timedelta(days=1)
    trend_start = day - timedelta(days=SKU_TREND_DAYS - 1)
    daily = await ctx.run(w.daily, ["units"], _midnight(trend_start), _midnight(day + timedelta(days=1)), None, only)
    series = pd.Series(0.0, index=pd.date_range(trend_start, day, freq="D"))
    for row in daily.itertuples():
        series[pd.Timestamp(row.day)] = float(row.units)
    title = ctx.t("sku_title", sku=product.sku, name=product.name)
    fields = [Field(metric_label("units", ctx.lang), fmt_count(units, ctx.lang)),
              Field(metric_label("gmv", ctx.lang), _money(ctx, gmv)),
              Field(metric_label("asp", ctx.lang), _money(ctx, gmv / units) if units else "–")]
    text = [ctx.t("sku_sales", period=period_text(period, ctx.lang))]
    tables = []
    covers = await _cover_or_none(ctx, day, product.sku)
    if covers:
        on_hand = sum(c.on_hand for c in covers)
        daily = sum(c.daily_units for c in covers)
        fields += [Field(ctx.t("stock_on_hand"), fmt_count(on_hand, ctx.lang)),
                   Field(ctx.t("stock_cover"), _days(ctx, on_hand / daily if daily else None)),
                   Field(ctx.t("stock_lead"), fmt_count(covers[0].lead_time, ctx.lang))]
        per = await ctx.run(stock.stock_on, w, day, True)
        mine = per[per["sku"] == product.sku] if "warehouse" in per else per.iloc[0:0]
        if len(mine):
            tables.append(Table(["", ctx.t("stock_on_hand")],
                                [[str(r.warehouse), fmt_count(r.on_hand, ctx.lang)] for r in mine.itertuples()],
                                title=ctx.t("sku_stock", day=day.isoformat()), align=["l", "r"]))
    else:
        text.append(ctx.t("sku_no_stock"))
    chart_title = ctx.t("sku_trend", days=SKU_TREND_DAYS)
    draw = partial(charts.line_chart, series.to_frame(product.sku), f"{product.sku} · {chart_title}",
                   y_format=lambda v: fmt_count(v, ctx.lang))
    return Reply(title=title, text=text, fields=fields, tables=tables,
                 charts=[Chart.later(draw, chart_title, f"sku-{product.sku}.png")],
                 actions=[Action(ctx.t("sku_stock_button"), "stock"),
                          Action(ctx.t("sku_returns_button"), f"returns {period.label} by sku")],
                 data={"sku": product.sku, "name": product.name, "period": period.as_json(), "units": units,
                       "gmv": gmv, "daily_units": {d.date().isoformat(): v for d, v in series.items()},
                       "stock": None if not covers else {
                           "on_hand": sum(c.on_hand for c in covers), "lead_time": covers[0].lead_time,
                           "warehouses": {c.warehouse or "": {"on_hand": c.on_hand, "cover_days": c.cover_days,
                                                              "at_risk": c.at_risk} for c in covers}}})


async def _cover_or_none(ctx: Context, day: date, sku: str) -> list[stock.Cover]:
    from metrics.errors import DataNotMapped

    try:
        return await ctx.run(partial(stock.cover, sku=sku), ctx.warehouse, day, ctx.settings.products.cover_window_days)
    except DataNotMapped:
        return []
