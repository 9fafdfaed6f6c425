"""Customer segments as of a day, and a segment's export as CSV.

    segments [as of <date>] · segments export <segment> [<date>]
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.context import Args, Context
from bot.errors import UsageError
from bot.reply import Action, Attachment, Reply
from bot.reply import Table as ReplyTable
from bot.router import Router
from bot.text.i18n import fmt_count, fmt_percent
from handlers.common import did_you_mean
from handlers.planning.basics import today_of
from metrics import segments as seg_mod
from metrics.errors import InputError
from metrics.periods import Period, extract_period

router = Router()

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
    as_of = min(period.end if period is not None else today_of(ctx), today_of(ctx))
    # segments need orders before the day: none yet is "no data", not "0 customers"
    first, _ = await ctx.run(ctx.warehouse.coverage, "orders", today_of(ctx))
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
