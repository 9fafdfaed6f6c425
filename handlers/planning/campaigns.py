"""The campaign calendar and promotion lift: campaigns added by hand and the warehouse's promotions.

    campaign add <name> <period> [channel …] [spend <amount>] · campaign report <name> · campaign rm <id>
    campaigns

Where order lines are recorded the report adds units sold against their baseline; where stock is
recorded too, the SKUs that sold out during the campaign (docs/planning.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select

from bot.context import Args, Context
from bot.errors import UsageError, UserError
from bot.reply import Chart, Reply
from bot.reply import Table as ReplyTable
from bot.router import Router
from bot.state.keys import campaign_key
from bot.state.planning import Campaign
from bot.text.i18n import fmt_change_pct, fmt_value
from bot.text.messages import metric_label
from handlers.common import did_you_mean, parse_id
from handlers.kpi import joined_list, period_text
from handlers.planning.basics import (
    canonical_label,
    money_text,
    range_level,
    require_admin,
    signed_amount,
    today_of,
    value_text,
)
from handlers.planning.history import promotion_events
from metrics import charts
from metrics.errors import InputError
from metrics.kpis import CATALOG
from metrics.periods import Period, extract_period
from metrics.planning.campaigns import PRE_DAYS, CampaignResult, EventWindow, campaign_lift, sold_out
from metrics.products import catalog
from metrics.products.stock import StockOut

router = Router()

def load_campaigns(ctx: Context) -> list[Campaign]:
    with ctx.services.store.session() as s:
        return list(s.scalars(select(Campaign).order_by(Campaign.start, Campaign.id)))


def _event(c: Campaign) -> EventWindow:
    return EventWindow(c.name, c.start, c.end, tuple(c.channels or ()), c.spend)


CAMPAIGN_NAME_MAX = 100  # Campaign.name is a String(100): PostgreSQL refuses a longer one


async def campaign_add(ctx: Context, tokens: Sequence[str]) -> Reply:
    require_admin(ctx, "campaign add")
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
            spend = signed_amount(words[i + 1])
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
    require_admin(ctx, "campaign rm")
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
    for m in ("gmv", "orders", "new_customers", "units"):  # units: where order lines are recorded
        if m not in r.actual:
            continue
        kpi = CATALOG[m]
        ly = r.last_year
        rows.append([metric_label(m, ctx.lang), value_text(ctx, kpi, r.actual[m]), value_text(ctx, kpi, r.expected[m]),
                     ("+" if r.incremental[m] >= 0 else "−") + value_text(ctx, kpi, abs(r.incremental[m])),
                     fmt_change_pct(r.lift[m] * 100 if r.lift[m] is not None else None, ctx.lang) or ctx.t("na"),
                     _lift_range(ctx, r.lift_low.get(m), r.lift_high.get(m)),
                     (fmt_change_pct(ly.lift[m] * 100, ctx.lang) if ly and ly.lift.get(m) is not None else ctx.t("na"))])
    text = [ctx.t("campaign_intro", days=e.days, baseline_days=PRE_DAYS, level=range_level())]
    post = r.post_incremental.get(money, 0.0)
    if r.post_days:
        text.append(ctx.t("campaign_post_dip" if post < 0 else "campaign_post", days=r.post_days,
                          value=("+" if post >= 0 else "−") + money_text(ctx, abs(post)), net=money_text(ctx, r.net_incremental_gmv)))
    if r.aov and r.baseline_aov:
        text.append(ctx.t("campaign_aov", aov=money_text(ctx, r.aov), baseline=money_text(ctx, r.baseline_aov),
                          change=fmt_change_pct((r.aov / r.baseline_aov - 1) * 100, ctx.lang)))
    text += _campaign_cost_lines(ctx, r)
    if r.last_year is not None:
        ly = r.last_year
        text.append(ctx.t("campaign_last_year", period=_dates_text(ly.event.start, ly.event.end, ctx.lang),
                          gmv=money_text(ctx, ly.actual["gmv"]), change=fmt_change_pct(
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
                            ctx.t("campaign_lift_range", level=range_level()), ctx.t("campaign_lift_last_year")], rows)],
        data=r.as_json(),
    )
    if png:
        reply.charts.append(Chart(png, reply.title, "campaign.png"))
    return reply


SOLD_OUT_TOP = 10  # SKUs the report names; the rest are counted


def add_sold_out(ctx: Context, reply: Reply, outs: list[StockOut] | None, names: dict[str, str]) -> None:
    """The SKUs that ran out during the campaign (metrics/planning/campaigns.py sold_out); nothing
    where stock or order lines are not recorded (None)."""
    if outs is None:
        return
    reply.data["sold_out"] = [{"sku": o.sku, "warehouse": o.warehouse, "first": o.first.isoformat(),
                               "last": o.last.isoformat(), "days": o.days, "lost_units": o.lost_units,
                               "lost_gmv": o.lost_gmv} for o in outs]
    if not outs:
        reply.text.append(ctx.t("campaign_sold_out_none"))
        return
    rows = [[o.sku, names.get(o.sku, o.sku), o.warehouse or "–", o.first.isoformat(), fmt_value(o.days, "count", ctx.lang, ""),
             money_text(ctx, o.lost_gmv) if o.lost_gmv is not None else "–"] for o in outs[:SOLD_OUT_TOP]]
    if len(outs) > SOLD_OUT_TOP:
        rows.append(["", ctx.t("digest_stock_more", count=fmt_value(len(outs) - SOLD_OUT_TOP, "count", ctx.lang, "")),
                     "", "", "", ""])
    reply.tables.append(ReplyTable(
        [ctx.t("dimension_sku"), "", ctx.t("stock_warehouse"), ctx.t("campaign_sold_out_first"),
         ctx.t("campaign_sold_out_days"), ctx.t("stock_lost")], rows,
        title=ctx.t("campaign_sold_out", count=fmt_value(len(outs), "count", ctx.lang, "")), align=["l", "l", "l", "l", "r", "r"]))
    reply.text.append(ctx.t("campaign_sold_out_note"))


def _campaign_cost_lines(ctx: Context, r: CampaignResult) -> list[str]:
    """The cost the ROI divides by, and what it is a part of: the campaign days' whole marketing
    spend and its baseline, so a derived cost never reads as the spend of the window."""
    lines = []
    if r.spend_window is not None and r.spend_baseline is not None:
        lines.append(ctx.t("campaign_spend_window", window=money_text(ctx, r.spend_window),
                           baseline=money_text(ctx, r.spend_baseline), baseline_days=PRE_DAYS,
                           channels=joined_list(ctx, list(r.event.channels)) or ctx.t("campaign_all_channels")))
    roi = fmt_value(r.roi, "ratio", ctx.lang, "") if r.roi is not None else ""
    if r.spend_source == "declared" and r.spend is not None and r.roi is not None:
        lines.append(ctx.t("campaign_roi", spend=money_text(ctx, r.spend), roi=roi))
    elif r.spend_source == "estimated" and r.spend is not None and r.roi is not None:
        lines.append(ctx.t("campaign_roi_estimated", spend=money_text(ctx, r.spend), roi=roi,
                           window=money_text(ctx, r.spend_window), baseline=money_text(ctx, r.spend_baseline)))
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
    return charts.line_chart(series, title, y_format=lambda v: money_text(ctx, v), highlight=days,
                             subtitle=period_text(event, ctx.lang))  # the shaded days


async def campaign_report(ctx: Context, tokens: Sequence[str]) -> Reply:
    if not tokens:
        raise UsageError("campaign_report_usage")
    today = today_of(ctx)
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
    reply = render_campaign(ctx, result, png)
    outs = await ctx.run(sold_out, ctx.warehouse, event, today)
    names = {o.sku: await ctx.run(catalog.name_of, ctx.warehouse, o.sku) for o in (outs or [])[:SOLD_OUT_TOP]}
    add_sold_out(ctx, reply, outs, names)
    return reply


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
             money_text(ctx, c.spend) if c.spend else "–"] for c in stored]
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
