"""The morning digest, and the commands that subscribe a chat to it.

    subscribe digest daily 09:00 [metric …] [by <dimension>] [with stock] [wait-until 11:00]
    subscribe digest weekly mon 09:00 …
    subscriptions · unsubscribe <id> · pause <id> · resume <id> · digest now [weekly] [with stock] · deliveries

`with stock` adds the stock-and-fulfilment section (docs/digest.md): the SKUs out of stock on the
last closed day, the SKUs about to run out, and the on-time ship rate.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.context import Args, Context
from bot.errors import UsageError
from bot.reply import Chart, Reply, Table
from bot.router import Router
from bot.state.alerts import AlertBook
from bot.state.keys import subscription_key
from bot.state.store import OutboxItem, Subscription
from bot.text.i18n import fmt_change_pct, fmt_count, fmt_decimal, fmt_money, fmt_percent, fmt_value
from bot.text.messages import dimension_label, metric_label
from handlers.common import parse_dimension, parse_id, parse_metric
from handlers.coverage import kpi_lines
from handlers.kpi import add_week_comparison, joined_list, judge_lagging, period_text, render_kpi, week_ago
from handlers.planning.campaigns import load_campaigns
from handlers.planning.goals import pace_report
from metrics import charts
from metrics.breakdown import movers, movers_rest
from metrics.coverage import apply_to_kpis
from metrics.data.warehouse import Warehouse
from metrics.kpis import CATALOG, STANDARD_CARD, KpiQuery, evaluate, rows_shown
from metrics.periods import Comparison, Period, parse_period, previous_period
from metrics.products import catalog, stock
from metrics.products.fulfilment import shipments_of
from metrics.products.source import has
from metrics.trend import trend

router = Router()

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
HISTORY_DAYS = 56  # "far fewer orders than any day in the last 8 weeks"
INCOMPLETE_SHARE = 0.5


# the optional sections a digest can add (`with stock`; `sections = ["stock"]` in [[digest]]), and
# the words that name them
SECTIONS = ("stock",)
SECTION_WORDS = {"stock": "stock", "库存": "stock", "库存履约": "stock"}
WITH_WORDS = ("with", "含", "附带")


@dataclass(frozen=True)
class DigestSpec:
    cadence: str = "daily"  # daily | weekly
    metrics: tuple[str, ...] = ()
    by: str | None = None
    sections: tuple[str, ...] = ()

    @classmethod
    def of(cls, sub: Subscription) -> DigestSpec:
        return cls(sub.cadence, tuple(sub.metrics or ()), sub.by, tuple(sub.sections))


# ---- completeness ---------------------------------------------------------------------


def completeness(ctx: Context, day: date) -> tuple[str, float, float]:
    """("complete" | "incomplete" | "missing", orders that day, the smallest day in the last 8 weeks).

    A day with far fewer orders than any recent day is more likely a late load than a
    collapse; saying so beats reporting a fake drop.
    """
    start = datetime.combine(day - timedelta(days=HISTORY_DAYS), datetime.min.time())
    end = datetime.combine(day + timedelta(days=1), datetime.min.time())
    daily = ctx.warehouse.daily(["orders"], start, end)
    by_day = {d: v for d, v in zip(daily["day"], daily["orders"], strict=True)}
    orders = float(by_day.get(day, 0.0))
    history = [by_day.get(day - timedelta(days=k), 0.0) for k in range(1, HISTORY_DAYS + 1)]
    history = [h for h in history if h > 0]
    low = min(history) if history else 0.0
    if orders == 0 and history:
        return "missing", orders, low
    if history and orders < INCOMPLETE_SHARE * low:
        return "incomplete", orders, low
    return "complete", orders, low


# ---- building ------------------------------------------------------------------------------


def fingerprint(reply: Reply) -> str:
    """Of the numbers only: a late load changes it, a re-render does not. A digest with a section
    (`with stock`) includes the section's numbers; one without has the fingerprint it always had."""
    numbers: object = reply.data.get("metrics", {})
    if reply.data.get("sections"):
        numbers = {"metrics": numbers, "sections": reply.data["sections"]}
    text = json.dumps(numbers, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


async def build_digest(ctx: Context, spec: DigestSpec, now: datetime | None = None) -> Reply:
    now = now or ctx.now()
    weekly = spec.cadence == "weekly"
    period = parse_period("last week" if weekly else "yesterday", now)
    compare = Comparison("previous", previous_period(period))
    names = spec.metrics or STANDARD_CARD
    query = KpiQuery(tuple(CATALOG[n] for n in names), period, compare)
    today = now.date()
    result = await ctx.run(evaluate, ctx.warehouse, query)
    await ctx.run(apply_to_kpis, ctx.warehouse, result, today)
    await ctx.run(judge_lagging, ctx, result)  # yesterday's refund rate is not final: no colour
    reply = render_kpi(ctx, result)
    reply.title = ctx.t("digest_weekly_title" if weekly else "digest_title", period=period_text(period, ctx.lang))
    if not weekly:
        weekly_result = await ctx.run(
            evaluate, ctx.warehouse, replace(query, compare=Comparison("week", week_ago(period))))
        await ctx.run(apply_to_kpis, ctx.warehouse, weekly_result, today)
        add_week_comparison(ctx, reply, weekly_result)
        status, orders, low = await ctx.run(completeness, ctx, period.start)
        reply.data["data_status"] = status
        if status != "complete":
            reply.text.insert(0, ctx.t(f"digest_{status}", day=period.start.isoformat(),
                                       orders=fmt_value(orders, "count", ctx.lang, ""),
                                       low=fmt_value(low, "count", ctx.lang, "")))
    await _add_month_to_date(ctx, reply, now)
    await _add_open_alerts(ctx, reply)
    await _add_campaigns(ctx, reply, period)
    if "stock" in spec.sections:
        await _add_stock_section(ctx, reply, now, period, compare.period)
    await _add_movers(ctx, reply, period, compare.period)
    await _add_trend(ctx, reply, now, weekly)
    if spec.by:
        by_result = await ctx.run(evaluate, ctx.warehouse, replace(query, by=spec.by))
        await ctx.run(apply_to_kpis, ctx.warehouse, by_result, today)
        reply.tables.extend(render_kpi(ctx, by_result).tables)
    reply.data["cadence"] = spec.cadence
    return reply


def month_to_date(today: date) -> tuple[Period, Period] | None:
    """This month through yesterday, and the same days of last month (capped at its end)."""
    first = today.replace(day=1)
    if first == today:
        return None
    prev_first = (first - timedelta(days=1)).replace(day=1)
    prev_end = min(prev_first + (today - first), first)
    return Period(first, today, "mtd"), Period(prev_first, prev_end, "last month to date")


async def _add_month_to_date(ctx: Context, reply: Reply, now: datetime) -> None:
    """Pace against every running goal; month to date against last month to date besides."""
    lines, paces = await pace_report(ctx, now)
    reply.text.extend(lines)
    reply.data["pace"] = paces
    periods = month_to_date(now.date())
    if periods is None:
        return
    mtd, last = periods
    query = KpiQuery((CATALOG["gmv"],), mtd, Comparison("previous", last))
    result = await ctx.run(evaluate, ctx.warehouse, query)
    found = await ctx.run(apply_to_kpis, ctx.warehouse, result, now.date())
    gmv = result.totals["gmv"]
    currency = ctx.settings.bot.currency
    reply.text.append(ctx.t(
        "digest_mtd", value=fmt_value(gmv.value, "money", ctx.lang, currency, na=ctx.t("na")),
        previous=fmt_value(gmv.previous, "money", ctx.lang, currency, na=ctx.t("na")),
        change=fmt_change_pct(gmv.change_pct, ctx.lang) or ctx.t("na"),
    ))
    labels = {"gmv": metric_label("gmv", ctx.lang)}
    reply.text += kpi_lines(ctx, found, labels, period_text(mtd, ctx.lang), period_text(last, ctx.lang))
    reply.data["mtd"] = {"period": mtd.as_json(), "compare": last.as_json(), "gmv": gmv.as_json()}


async def _add_open_alerts(ctx: Context, reply: Reply) -> None:
    """Open anomalies, including minor ones held back from pushing (quiet hours, the budget)."""
    chat = None if ctx.incoming.chat.platform == "console" else str(ctx.incoming.chat)
    alerts = await ctx.run(AlertBook(ctx.services.store, ctx.settings.alerts).open_alerts, chat)
    if alerts:
        reply.text.append(ctx.t("digest_open_alerts",
                                alerts="; ".join(f"#{a.id} {a.series} ({a.severity})" for a in alerts[:8])))
    reply.data["open_alerts"] = [{"id": a.id, "series": a.series, "severity": a.severity} for a in alerts]


async def _add_campaigns(ctx: Context, reply: Reply, period: Period) -> None:
    """The calendar's campaigns over the digest's days, by the name they were added with: a peak
    or a dip in the numbers above is read against them."""
    stored = await ctx.run(load_campaigns, ctx)
    running = [c for c in stored if c.start < period.end and period.start < c.end]  # half-open days
    if running:
        reply.text.append(ctx.t("digest_campaigns", campaigns=joined_list(ctx, [
            f"#{c.id} {c.name} ({period_text(Period(c.start, c.end, c.start.isoformat()), ctx.lang)})"
            for c in running])))
    reply.data["campaigns"] = [{"id": c.id, "name": c.name} for c in running]


# ---- the stock-and-fulfilment section (`with stock`) -------------------------------------------

SECTION_TOP = 5  # SKUs named per list; the rest are counted
SECTION_DATA = 50  # rows per list in the reply's data (and so in its fingerprint)
STOCKOUT_LOOKBACK = 30  # days of snapshots searched for the day a stock-out began (as `stock`)
STOCK_TABLES = ("inventory", "order_lines")  # stock-outs, their lost sales, cover
SHIP_TABLES = ("shipments",)


async def _add_stock_section(ctx: Context, reply: Reply, now: datetime, period: Period, before: Period) -> None:
    """Stock-outs on the last closed day, the SKUs about to run out, and the on-time ship rate of
    the digest's days against the days before; a part whose table is missing is one line saying so."""
    w = ctx.warehouse
    missing = {t: not await ctx.run(has, w, t) for t in (*STOCK_TABLES, *SHIP_TABLES)}
    stock_gap = [t for t in STOCK_TABLES if missing[t]]
    ship_gap = [t for t in SHIP_TABLES if missing[t]]
    data: dict[str, object] = {"missing": stock_gap + ship_gap}
    reply.data.setdefault("sections", {})["stock"] = data
    if stock_gap and ship_gap:
        reply.text.append(ctx.t("digest_stock_needs", tables=joined_list(ctx, stock_gap + ship_gap)))
        return
    day = now.date() - timedelta(days=1)  # the last closed day
    if stock_gap:
        reply.text.append(ctx.t("digest_part_needs", part=ctx.t("digest_part_stock"),
                                tables=joined_list(ctx, stock_gap)))
    else:
        # a chat scoped to a channel or region sees no stock (stock is not kept per channel): as in
        # a shop that held only its rows, there is no snapshot
        found = await ctx.run(stock_today, w, day, ctx.settings.products.cover_window_days)
        data.update(found.as_json())
        if found.as_of is None:
            reply.text.append(ctx.t("digest_stock_no_snapshot", day=day.isoformat()))
        else:
            reply.text.append(_stock_summary(ctx, found, day))
            reply.tables.extend(_stock_tables(ctx, found))
    if ship_gap:
        reply.text.append(ctx.t("digest_part_needs", part=ctx.t("digest_part_on_time"),
                                tables=joined_list(ctx, ship_gap)))
        return
    sla = ctx.settings.products.ship_sla_hours
    local_now = now.replace(tzinfo=None)
    current = await ctx.run(on_time_as_of, w, period, local_now, sla)
    previous = await ctx.run(on_time_as_of, w, before, local_now, sla)
    data["on_time"] = {"period": period.as_json(), "sla_hours": sla, **current.as_json(),
                       "previous": {"period": before.as_json(), **previous.as_json()}}
    reply.text.append(_on_time_line(ctx, period, before, current, previous, sla))


def _stock_summary(ctx: Context, found: StockToday, day: date) -> str:
    """One line of counts; the SKUs are in the tables below."""
    assert found.as_of is not None
    count = lambda n: fmt_count(n, ctx.lang)  # noqa: E731
    parts = [ctx.t("digest_stock_outs", count=count(len(found.out))) if found.out else ctx.t("digest_stock_outs_none")]
    if found.partial:
        parts.append(ctx.t("digest_stock_partial", count=count(len(found.partial))))
    parts.append(ctx.t("digest_stock_risk", count=count(len(found.at_risk))))
    key = "digest_stock_summary" if found.as_of == day else "digest_stock_summary_late"
    return ctx.t(key, as_of=found.as_of.isoformat(), day=day.isoformat(), parts=joined_list(ctx, parts))


def _stock_tables(ctx: Context, found: StockToday) -> list[Table]:
    names = found.names
    money = lambda v: fmt_money(v, ctx.lang, ctx.settings.bot.currency) if v is not None else "–"  # noqa: E731
    tables = []

    def more(rows: list[list[str]], total: int, width: int) -> list[list[str]]:
        if total > SECTION_TOP:
            rows.append(["", ctx.t("digest_stock_more", count=fmt_count(total - SECTION_TOP, ctx.lang))]
                        + [""] * (width - 2))
        return rows

    if found.out:
        rows = [[o.sku, names.get(o.sku, o.sku), ", ".join(o.warehouses) or "–", o.since.isoformat(),
                 money(o.lost_gmv)] for o in found.out[:SECTION_TOP]]
        tables.append(Table([ctx.t("dimension_sku"), "", ctx.t("stock_warehouse"), ctx.t("stock_since"),
                             ctx.t("stock_lost")], more(rows, len(found.out), 5),
                            title=ctx.t("digest_stock_outs_table", count=fmt_count(len(found.out), ctx.lang)),
                            align=["l", "l", "l", "l", "r"]))
    if found.partial:
        rows = [[o.sku, names.get(o.sku, o.sku), ", ".join(o.warehouses), o.since.isoformat(), money(o.lost_gmv)]
                for o in found.partial[:SECTION_TOP]]
        tables.append(Table([ctx.t("dimension_sku"), "", ctx.t("stock_warehouse"), ctx.t("stock_since"),
                             ctx.t("stock_lost")], more(rows, len(found.partial), 5),
                            title=ctx.t("digest_stock_partial_table", count=fmt_count(len(found.partial), ctx.lang)),
                            align=["l", "l", "l", "l", "r"]))
    if found.at_risk:
        # as `stock` shows them: cover is the stock on hand's, and what is on order beside it
        rows = [[c.sku, names.get(c.sku, c.sku), c.warehouse or "–", fmt_decimal(c.cover_days or 0.0, ctx.lang),
                 fmt_count(c.on_order, ctx.lang), fmt_count(c.lead_time, ctx.lang), money(c.gmv_at_stake)]
                for c in found.at_risk[:SECTION_TOP]]
        tables.append(Table([ctx.t("dimension_sku"), "", ctx.t("stock_warehouse"), ctx.t("stock_cover"),
                             ctx.t("stock_on_order"), ctx.t("stock_lead"), ctx.t("stock_gmv_at_stake")],
                            more(rows, len(found.at_risk), 7),
                            title=ctx.t("digest_stock_risk_table", count=fmt_count(len(found.at_risk), ctx.lang)),
                            align=["l", "l", "l", "r", "r", "r", "r"]))
    return tables


def _on_time_line(ctx: Context, period: Period, before: Period, current: OnTime, previous: OnTime,
                  sla: float) -> str:
    if current.rate is None:
        return ctx.t("digest_on_time_none", period=period_text(period, ctx.lang))
    parts = [ctx.t("digest_on_time", hours=f"{sla:g}", period=period_text(period, ctx.lang),
                   rate=fmt_percent(current.rate, ctx.lang), on_time=fmt_count(current.on_time, ctx.lang),
                   due=fmt_count(current.due, ctx.lang))]
    if previous.rate is not None:
        parts.append(ctx.t("digest_on_time_previous", period=period_text(before, ctx.lang),
                           rate=fmt_percent(previous.rate, ctx.lang)))
    worst = current.worst
    if worst is not None and worst.rate < current.warehouses[-1].rate:  # "lowest" of equals says nothing
        parts.append(ctx.t("digest_on_time_worst", warehouse=worst.warehouse, rate=fmt_percent(worst.rate, ctx.lang)))
    end = "。" if ctx.lang == "zh" else "."
    return ("；" if ctx.lang == "zh" else "; ").join(parts) + end


@dataclass(frozen=True)
class OutNow:
    sku: str
    warehouses: tuple[str, ...]  # where it is at zero
    since: date  # the first day of the run of zero days it is in
    lost_gmv: float | None  # the run's lost sales so far (metrics/products/stock.py); None: no estimate


@dataclass
class StockToday:
    as_of: date | None  # the snapshot read: the last on or before the day asked for (None: none)
    out: list[OutNow]  # the SKUs at zero in total, most lost sales first
    partial: list[OutNow]  # at zero at a warehouse, in stock at another, most lost sales first
    at_risk: list[stock.Cover]  # in stock and at risk (metrics/products/stock.py), most GMV at stake first
    names: dict[str, str]

    def as_json(self) -> dict[str, object]:
        def out(o: OutNow) -> dict[str, object]:
            return {"sku": o.sku, "warehouses": list(o.warehouses), "since": o.since.isoformat(),
                    "lost_gmv": _rounded(o.lost_gmv)}

        # the lists as far as SECTION_DATA rows (a digest goes to the outbox once per chat), and their lengths
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "stockouts": [out(o) for o in self.out[:SECTION_DATA]], "stockouts_count": len(self.out),
            "stockouts_partial": [out(o) for o in self.partial[:SECTION_DATA]],
            "stockouts_partial_count": len(self.partial),
            "at_risk": [{"sku": c.sku, "warehouse": c.warehouse, "on_hand": c.on_hand, "on_order": c.on_order,
                         "daily_units": _rounded(c.daily_units),
                         "cover_days": _rounded(c.cover_days), "lead_time": c.lead_time,
                         "gmv_at_stake": _rounded(c.gmv_at_stake)} for c in self.at_risk[:SECTION_DATA]],
            "at_risk_count": len(self.at_risk),
        }


def _rounded(value: float | None) -> float | None:
    # 12 significant digits: the same sums in another order (another engine) fingerprint the same
    return None if value is None else float(f"{value:.12g}")


def stock_today(w: Warehouse, day: date, window: int) -> StockToday:
    """What the section says of stock as of the last snapshot on or before `day` (definitions in
    metrics/products/stock.py): a SKU is out when its stock over every warehouse is 0."""
    snapshot = stock.stock_on(w, day)
    if snapshot.empty:
        return StockToday(None, [], [], [], {})
    as_of = snapshot["as_of"].iloc[0]
    start, end = as_of - timedelta(days=STOCKOUT_LOOKBACK - 1), as_of + timedelta(days=1)
    whole = [o for o in stock.stockouts(w, start, end) if o.ongoing]
    per_warehouse = [o for o in stock.stockouts(w, start, end, by_warehouse=True) if o.ongoing]
    zero_at: dict[str, list[str]] = {}
    for o in per_warehouse:
        if o.warehouse is not None:
            zero_at.setdefault(o.sku, []).append(str(o.warehouse))
    out_skus = {o.sku for o in whole}
    out = [OutNow(o.sku, tuple(sorted(zero_at.get(o.sku, []))), o.first, o.lost_gmv) for o in whole]
    # stockouts() orders both lists by lost sales, most first
    partial = [OutNow(o.sku, (str(o.warehouse),), o.first, o.lost_gmv) for o in per_warehouse
               if o.sku not in out_skus and o.warehouse is not None]
    # per SKU and warehouse where shipments name the warehouse; stock already out (there) is in the
    # lists above, not "about to run out"
    risky = [c for c in stock.at_risk(w, day, window) if c.on_hand > 0]
    skus = {o.sku for o in out} | {o.sku for o in partial} | {c.sku for c in risky}
    names = {sku: catalog.name_of(w, sku) for sku in skus}
    return StockToday(as_of, out, partial, risky, names)


@dataclass(frozen=True)
class WarehouseOnTime:
    warehouse: str
    due: int
    on_time: int

    @property
    def rate(self) -> float:
        return self.on_time / self.due


@dataclass(frozen=True)
class OnTime:
    due: int
    on_time: int
    warehouses: tuple[WarehouseOnTime, ...]  # lowest rate first

    @property
    def rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @property
    def worst(self) -> WarehouseOnTime | None:
        """The warehouse with the lowest rate, when the orders shipped from more than one."""
        return self.warehouses[0] if len(self.warehouses) > 1 else None

    def as_json(self) -> dict[str, object]:
        return {"due": self.due, "on_time": self.on_time, "rate": _rounded(self.rate),
                "warehouses": [{"warehouse": x.warehouse, "due": x.due, "on_time": x.on_time,
                                "rate": _rounded(x.rate)} for x in self.warehouses]}


def on_time_as_of(w: Warehouse, period: Period, now: datetime, sla_hours: float) -> OnTime:
    """The on-time ship rate of the orders placed in `period` as it stood at `now`: the definition
    of metrics/products/fulfilment.py (shipped within `sla_hours` ÷ due: shipped, or unshipped past
    the deadline), with a shipment made after `now` counted as not yet made. So a digest rebuilt
    hours later for the same `now` (the late-data refresh) reads the same rate unless shipments
    made before `now` arrived late, and the morning's shipping never reads as restated numbers.
    By warehouse: the orders shipped from it (an unshipped order has no warehouse)."""
    frame = shipments_of(w, datetime.combine(period.start, datetime.min.time()),
                         datetime.combine(period.end, datetime.min.time()))
    sla = timedelta(hours=sla_hours)
    shipped = frame["shipped_at"].notna() & (frame["shipped_at"] <= now)
    due = shipped | (frame["ordered_at"] + sla <= now)
    on_time = shipped & (frame["shipped_at"] - frame["ordered_at"] <= sla)
    rows = []
    placed = frame[shipped & frame["warehouse"].notna()]
    for key, group in placed.groupby("warehouse"):
        rows.append(WarehouseOnTime(str(key), len(group), int(on_time.loc[group.index].sum())))
    rows.sort(key=lambda r: (r.rate, -r.due, r.warehouse))
    return OnTime(int(due.sum()), int((on_time & due).sum()), tuple(rows))


DIGEST_MOVERS = 3  # slices per dimension in the digest's movers table, before its "other" row


async def _add_movers(ctx: Context, reply: Reply, period: Period, compare: Period) -> None:
    result = await ctx.run(movers, ctx.warehouse, CATALOG["gmv"], period, compare, ["channel", "category"])
    currency = ctx.settings.bot.currency
    rows = []
    others = {}
    for dim, contribs in result.by_dimension.items():
        shown = rows_shown(len(contribs), DIGEST_MOVERS)
        lines = [(c.key, c) for c in contribs[:shown]]
        # the rest of each dimension as one row, so that its rows add up to the day's change
        if (other := movers_rest(result, dim, shown)) is not None:
            others[dim] = {"rows": len(contribs) - shown, "contribution": other.contribution}
            lines.append((ctx.t("other_rows", count=len(contribs) - shown), other))
        for key, c in lines:
            sign = "+" if c.contribution >= 0 else "−"
            rows.append([dimension_label(dim, ctx.lang), key,
                         sign + fmt_value(abs(c.contribution), "money", ctx.lang, currency)])
    if rows:
        reply.tables.append(Table([ctx.t("dimension"), ctx.t("value"), ctx.t("contribution")], rows,
                                  title=ctx.t("digest_movers", metric=metric_label("gmv", ctx.lang),
                                              period=period_text(compare, ctx.lang))))
    reply.data["movers"] = {
        dim: [{"value": c.key, "contribution": c.contribution} for c in cs[:rows_shown(len(cs), DIGEST_MOVERS)]]
        for dim, cs in result.by_dimension.items()
    }
    reply.data["movers_other"] = others
    reply.data["movers_change"] = result.change


async def _add_trend(ctx: Context, reply: Reply, now: datetime, weekly: bool) -> None:
    period = parse_period("last 12w" if weekly else "last 28d", now)
    result = await ctx.run(trend, ctx.warehouse, CATALOG["gmv"], period, "week" if weekly else "day")
    title = ctx.t("trend_title", metric=metric_label("gmv", ctx.lang), period=period_text(period, ctx.lang))
    series = result.series.rename(columns={"total": metric_label("gmv", ctx.lang)})
    currency = ctx.settings.bot.currency
    # the running week (or a week cut by the period) is drawn hollow: its low total is no drop
    note = ctx.t("trend_partial", buckets=", ".join(str(b) for b in result.partial)) if result.partial else ""
    png = await ctx.run(charts.line_chart, series, title,
                        y_format=lambda v: fmt_value(v, "money", ctx.lang, currency), partial=result.partial, note=note)
    reply.charts.append(Chart(png, title, "digest-trend.png"))


# ---- commands ---------------------------------------------------------------------------------


@router.command("digest", aliases=("日报", "早报"), usage="digest now [weekly] [with stock]",
                examples=("digest now", "digest now weekly", "digest now with stock"))
async def digest_now(ctx: Context, args: Args) -> Reply:
    words = [w.lower() for w in args.tokens]
    if words[:1] not in ([], ["now"]):
        raise UsageError("digest_now_usage")
    cadence, sections = "daily", []
    rest = words[1:]
    while rest:
        w = rest.pop(0)
        if w in ("weekly", "daily"):
            cadence = w
        elif w in WITH_WORDS:
            sections.append(parse_section(rest.pop(0) if rest else None))
        else:
            raise UsageError("digest_now_usage")
    return await build_digest(ctx, DigestSpec(cadence, sections=tuple(dict.fromkeys(sections))))


def parse_section(word: str | None) -> str:
    section = SECTION_WORDS.get((word or "").lower())
    if section is None:
        raise UsageError("subscribe_section", choices=", ".join(SECTIONS), text=(word or "")[:20])
    return section


def parse_subscription(ctx: Context, tokens: list[str]) -> Subscription:
    words = list(tokens)
    if not words or words[0].lower() not in ("digest", "日报"):
        raise UsageError("subscribe_usage")
    words = words[1:]
    cadence = "daily"
    if words and words[0].lower() in ("daily", "weekly", "每天", "每周"):
        cadence = "weekly" if words.pop(0).lower() in ("weekly", "每周") else "daily"
    weekday = None
    if cadence == "weekly":
        if not words or words[0].lower()[:3] not in WEEKDAYS:
            raise UsageError("subscribe_weekday", choices=", ".join(WEEKDAYS))
        weekday = words.pop(0).lower()[:3]
    if not words or not TIME.match(words[0]):
        raise UsageError("subscribe_time", text=(words[0] if words else "")[:20])
    at = _hhmm(words.pop(0))
    if at < "03:00":
        # APScheduler 3 can skip or repeat runs between midnight and 3:00 around DST changes
        raise UsageError("subscribe_night", at=at)
    wait_until = None
    metrics: list[str] = []
    sections: list[str] = []
    by = None
    while words:
        w = words.pop(0)
        if w.lower() in ("wait-until", "wait_until", "等到"):
            if not words or not TIME.match(words[0]):
                raise UsageError("subscribe_wait", text=(words[0] if words else "")[:20])
            wait_until = _hhmm(words.pop(0))
            if wait_until <= at:
                raise UsageError("subscribe_wait_order", at=at, wait=wait_until)
        elif w.lower() in ("by", "按"):
            by = parse_dimension(ctx, words.pop(0) if words else None)
        elif w.lower() in WITH_WORDS:
            sections.append(parse_section(words.pop(0) if words else None))
        else:
            metrics.append(parse_metric(ctx, w).name)
    return Subscription(
        chat=str(ctx.incoming.chat), cadence=cadence, weekday=weekday, at=at, timezone=ctx.settings.bot.timezone,
        metrics=list(dict.fromkeys(metrics)), by=by, wait_until=wait_until, paused=False, source="chat",
        created_by=ctx.incoming.user, sections=sections,
    )


def _hhmm(text: str) -> str:
    h, m = text.split(":")
    return f"{int(h):02d}:{m}"


def describe(ctx: Context, sub: Subscription) -> str:
    # every word in the reply's language (a Chinese list once read "daily 09:00 · by channel")
    if sub.cadence == "weekly":
        when = ctx.t("sub_weekly", weekday=ctx.t(f"weekday_{sub.weekday}"), at=sub.at)
    else:
        when = ctx.t("sub_daily", at=sub.at)
    extra = []
    if sub.metrics:
        extra.append(joined_list(ctx, [metric_label(m, ctx.lang) for m in sub.metrics]))
    if sub.by:
        extra.append(ctx.t("sub_by", dimension=dimension_label(sub.by, ctx.lang)))
    if sub.sections:
        extra.append(ctx.t("sub_with", sections=joined_list(ctx, [ctx.t(f"section_{x}") for x in sub.sections])))
    if sub.wait_until:
        extra.append(ctx.t("sub_wait", at=sub.wait_until))
    state = ctx.t("paused") + (f" ({sub.paused_reason})" if sub.paused_reason else "") if sub.paused else ""
    return f"#{sub.id} {when} {sub.timezone} {' · '.join(extra)} {state}".strip()


def _schedule_changed(ctx: Context) -> None:
    if ctx.services.schedule_changed:
        ctx.services.schedule_changed()


@router.command("subscribe", aliases=("订阅",), admin=True,
                usage="subscribe digest daily HH:MM | weekly <mon..sun> HH:MM [metric …] [by <dimension>] "
                      "[with stock] [wait-until HH:MM]",
                examples=("subscribe digest daily 09:00", "subscribe digest weekly mon 09:00",
                          "subscribe digest daily 08:30 gmv orders by channel wait-until 10:00",
                          "subscribe digest daily 09:00 with stock"))
async def subscribe(ctx: Context, args: Args) -> Reply:
    tokens = list(args.tokens)
    parse_subscription(ctx, tokens)  # bad input is refused before anything is read or written

    def save() -> tuple[Subscription, bool, list[Subscription]]:
        store = ctx.services.store
        mine = select(Subscription).where(Subscription.chat == str(ctx.incoming.chat)).order_by(Subscription.id)
        saved, added = store.add_once(lambda: parse_subscription(ctx, tokens), digest_subscription_key, mine)
        with store.session() as s:
            similar = [o for o in s.scalars(mine) if o.id != saved.id and same_digest(o, saved)]
        return saved, added, similar

    saved, added, similar = await ctx.run(save)
    data = {"subscription": saved.id, "cadence": saved.cadence, "at": saved.at, "weekday": saved.weekday,
            "timezone": saved.timezone, "sections": saved.sections, "existing": not added}
    if not added:  # the same request twice must not mean the same digest twice every morning
        text = [ctx.t("subscription_exists", what=describe(ctx, saved))]
        if saved.paused:
            text.append(ctx.t("subscription_exists_paused", id=saved.id))
        return Reply(text=text, data=data)
    _schedule_changed(ctx)
    text = [ctx.t("subscribed", what=describe(ctx, saved))]
    text += [ctx.t("subscription_similar", id=o.id, at=o.at) for o in similar]
    data["similar"] = [o.id for o in similar]
    return Reply(text=text, data=data)


def same_digest(a: Subscription, b: Subscription) -> bool:
    """The same digest at another time of the day (or week): allowed, but worth saying."""
    return ((a.cadence, a.weekday, sorted(a.metrics or []), a.by, sorted(a.sections))
            == (b.cadence, b.weekday, sorted(b.metrics or []), b.by, sorted(b.sections)))


def digest_subscription_key(sub: Subscription) -> str:
    """bot/state/keys.py's subscription_key, with the sections: `with stock` is another digest than
    the plain one at the same time. Without sections it is subscription_key itself, so the keys
    already kept are unchanged. (The canonical list is subscription_key's, with the sorted sections
    appended: the form keys.py can take over as is.)"""
    if not sub.sections:
        return subscription_key(sub)
    canonical = json.dumps([sub.chat, sub.kind or "digest", sub.cadence, sub.weekday, sub.at, sub.timezone,
                            sorted(sub.metrics or []), sub.by, sub.wait_until, sorted(sub.sections)])
    return "subscription:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _own(ctx: Context, args: Args) -> int:
    sub_id = parse_id(args.tokens[0]) if len(args.tokens) == 1 else None
    if sub_id is None:
        raise UsageError("need_subscription_id")
    return sub_id


def _load(ctx: Context, sub_id: int) -> Subscription:
    with ctx.services.store.session() as s:
        sub = s.get(Subscription, sub_id)
    # a chat only manages its own subscriptions; the console (operator) manages all
    if sub is None or (ctx.incoming.chat.platform != "console" and sub.chat != str(ctx.incoming.chat)):
        raise UsageError("no_subscription", id=sub_id)
    return sub


@router.command("subscriptions", aliases=("订阅列表",), usage="subscriptions")
async def subscriptions(ctx: Context, args: Args) -> Reply:
    def load() -> list[Subscription]:
        with ctx.services.store.session() as s:
            q = select(Subscription).order_by(Subscription.id)
            if ctx.incoming.chat.platform != "console":
                q = q.where(Subscription.chat == str(ctx.incoming.chat))
            return list(s.scalars(q).all())

    subs = await ctx.run(load)
    if not subs:
        return Reply(text=[ctx.t("no_subscriptions")], data={"subscriptions": []})
    return Reply(
        title=ctx.t("subscriptions_title"),
        text=[describe(ctx, s) + (f" → {s.chat}" if ctx.incoming.chat.platform == "console" else "") for s in subs],
        data={"subscriptions": [{"id": s.id, "chat": s.chat, "cadence": s.cadence, "weekday": s.weekday,
                                 "at": s.at, "timezone": s.timezone, "paused": s.paused, "sections": s.sections}
                                for s in subs]},
    )


async def _set_paused(ctx: Context, args: Args, paused: bool) -> Reply:
    sub_id = _own(ctx, args)

    def change() -> Subscription:
        sub = _load(ctx, sub_id)
        with ctx.services.store.session() as s, s.begin():
            row = s.get(Subscription, sub.id)
            assert row is not None
            row.paused = paused
            row.paused_reason = None
        return row

    sub = await ctx.run(change)
    _schedule_changed(ctx)
    return Reply(text=[ctx.t("paused_now" if paused else "resumed_now", what=describe(ctx, sub))],
                 data={"subscription": sub.id, "paused": paused})


@router.command("pause", aliases=("暂停",), admin=True, usage="pause <subscription id>", examples=("pause 3",))
async def pause(ctx: Context, args: Args) -> Reply:
    return await _set_paused(ctx, args, True)


@router.command("resume", aliases=("恢复",), admin=True, usage="resume <subscription id>", examples=("resume 3",))
async def resume(ctx: Context, args: Args) -> Reply:
    return await _set_paused(ctx, args, False)


@router.command("unsubscribe", aliases=("取消订阅",), admin=True, usage="unsubscribe <subscription id>",
                examples=("unsubscribe 3",))
async def unsubscribe(ctx: Context, args: Args) -> Reply:
    sub_id = _own(ctx, args)

    def delete() -> Subscription:
        sub = _load(ctx, sub_id)
        with ctx.services.store.session() as s, s.begin():
            row = s.get(Subscription, sub.id)
            s.delete(row)
        return sub

    sub = await ctx.run(delete)
    _schedule_changed(ctx)
    return Reply(text=[ctx.t("unsubscribed", what=describe(ctx, sub))], data={"subscription": sub.id})


@router.command("deliveries", aliases=("投递",), usage="deliveries", examples=("deliveries",))
async def deliveries(ctx: Context, args: Args) -> Reply:
    def load() -> list[OutboxItem]:
        with ctx.services.store.session() as s:
            q = select(OutboxItem).order_by(OutboxItem.id.desc()).limit(20)
            if ctx.incoming.chat.platform != "console":
                q = q.where(OutboxItem.chat == str(ctx.incoming.chat))
            return list(s.scalars(q).all())

    items = await ctx.run(load)
    if not items:
        return Reply(text=[ctx.t("no_deliveries")], data={"deliveries": []})
    zone = ZoneInfo(ctx.settings.bot.timezone)
    utc = ZoneInfo("UTC")
    rows = [[i.key, i.chat, ctx.t(f"status_{i.status}"), str(i.attempts),
             (i.sent_at or i.created_at).replace(tzinfo=utc).astimezone(zone).strftime("%m-%d %H:%M"),
             (i.last_error or "")[:60]] for i in items]
    return Reply(
        title=ctx.t("deliveries_title"),
        tables=[Table([ctx.t("key"), ctx.t("chat"), ctx.t("status"), ctx.t("attempts"), ctx.t("time"),
                       ctx.t("error")], rows, align=["l", "l", "l", "r", "l", "l"])],
        data={"deliveries": [{"key": i.key, "chat": i.chat, "status": i.status, "attempts": i.attempts,
                              "error": i.last_error, "message_id": i.message_id} for i in items]},
    )
