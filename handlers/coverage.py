"""Saying what the data does not cover (metrics/coverage.py) in a reply: the reason a value is n/a,
a period only partly covered, or no data at all. Shared by every command that reads the warehouse."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.context import Context
from bot.reply import Reply
from bot.text.messages import dimension_label
from metrics.coverage import Gap, Judgement, KpiCoverage, Partial, judge_measures
from metrics.periods import Period


def table_label(ctx: Context, table: str) -> str:
    return ctx.t(f"table_{table}")


def _source(ctx: Context, gap: Gap) -> str:
    tmap = ctx.warehouse.mapping.tables[gap.table]
    if gap.kind == "missing_column":
        return ", ".join(tmap.columns.get(c, c) for c in gap.columns)
    return "query" if tmap.query is not None else tmap.table


def reason(ctx: Context, gap: Gap, period_text: str) -> str:
    """The gap as a clause: "the orders data starts on 2026-10-15"."""
    return ctx.t(f"reason_{gap.kind}", period=period_text, table=table_label(ctx, gap.table),
                 first=gap.first.isoformat() if gap.first else "", last=gap.last.isoformat() if gap.last else "",
                 columns=", ".join(gap.columns), source=_source(ctx, gap))


def not_recorded(ctx: Context) -> str:
    """Why traffic and spend are unknown to a chat scoped by region: they are recorded per channel."""
    dims = sorted(d for d in ctx.scope if d != "channel")
    return ctx.t("reason_not_recorded", dimensions=", ".join(dimension_label(d, ctx.lang) for d in dims))


def _parts(ctx: Context, partial: Sequence[Partial]) -> str:
    out = []
    for p in partial:
        table = table_label(ctx, p.table)
        if p.first and p.last:
            out.append(ctx.t("part_between", table=table, first=p.first.isoformat(), last=p.last.isoformat()))
        elif p.first:
            out.append(ctx.t("part_from", table=table, first=p.first.isoformat()))
        elif p.last:
            out.append(ctx.t("part_until", table=table, last=p.last.isoformat()))
        if p.days:
            out[-1] += ctx.t("part_days", covered=p.covered, days=p.days)
    return "; ".join(out)


def partial_lines(ctx: Context, partial: Sequence[Partial], period_text: str, compare: bool = False) -> list[str]:
    if not partial:
        return []
    return [ctx.t("cov_compare_partial" if compare else "cov_partial", period=period_text, parts=_parts(ctx, partial))]


def grouped(gaps: dict[str, Gap]) -> list[tuple[Gap, list[str]]]:
    """The names that share each gap, the gaps in first-seen order."""
    out: dict[Gap, list[str]] = {}
    for name, gap in gaps.items():
        out.setdefault(gap, []).append(name)
    return list(out.items())


def na_lines(ctx: Context, gaps: dict[str, Gap], labels: dict[str, str], period_text: str) -> list[str]:
    """"n/a for GMV, Orders: the orders data starts on …", one line per reason."""
    return [ctx.t("cov_na", metrics=", ".join(labels.get(n, n) for n in names), reason=reason(ctx, gap, period_text))
            for gap, names in grouped(gaps)]


def compare_lines(ctx: Context, gaps: dict[str, Gap], labels: dict[str, str], period_text: str) -> list[str]:
    return [ctx.t("cov_compare_na", metrics=", ".join(labels.get(n, n) for n in names), period=period_text,
                  reason=reason(ctx, gap, period_text)) for gap, names in grouped(gaps)]


def kpi_lines(ctx: Context, found: KpiCoverage, labels: dict[str, str], period_text: str,
              compare_text: str | None) -> list[str]:
    lines = na_lines(ctx, found.gaps, labels, period_text)
    lines += partial_lines(ctx, found.partial, period_text)
    if compare_text is not None:
        lines += compare_lines(ctx, found.compare_gaps, labels, compare_text)
        lines += partial_lines(ctx, found.compare_partial, compare_text, compare=True)
    return lines


def judge(ctx: Context, measures: Iterable[str], period: Period) -> Judgement:
    return judge_measures(ctx.warehouse, measures, period, ctx.now().date())


def no_data_lines(ctx: Context, judgement: Judgement, period_text: str) -> list[str]:
    return [ctx.t("cov_future", period=period_text) if gap.kind == "future" else
            ctx.t("cov_no_data", period=period_text, reason=reason(ctx, gap, period_text))
            for gap in dict.fromkeys(g for g in judgement.reasons if g.kind != "future" or g.table == "orders"
                                     or all(x.kind == "future" for x in judgement.reasons))]


def no_data_reply(ctx: Context, judgement: Judgement, period: Period, period_text: str,
                  data: dict[str, object] | None = None) -> Reply:
    """The whole answer when the data says nothing about the period: the reason, and null numbers."""
    return Reply(
        title=ctx.t("cov_title", period=period_text),
        text=no_data_lines(ctx, judgement, period_text),
        data={**(data or {}), "period": period.as_json(), "value": None, "no_data": coverage_json(judgement)},
    )


def coverage_json(judgement: Judgement) -> dict[str, object]:
    return {"gaps": {m: g.as_json() for m, g in judgement.gaps.items()},
            "partial": [p.as_json() for p in judgement.partial]}
