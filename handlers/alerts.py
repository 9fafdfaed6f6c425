"""Anomaly alerts in chat: the scan, the alert message with its buttons, rules, and the
commands people use on an alert (ack, assign, snooze, expected)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select, update

from bot.context import Args, Context
from bot.errors import UsageError
from bot.reply import Action, Reply
from bot.router import Router
from bot.state.alerts import AlertBook, Finding, Outcome, severity_at_least
from bot.state.keys import rule_key
from bot.state.store import Alert, AlertRule, Subscription, utcnow
from bot.text.i18n import fmt_count, fmt_decimal, fmt_money, fmt_percent, fmt_value
from bot.text.messages import MESSAGES, dimension_label, metric_label
from handlers.common import by_scope, parse_dimension, parse_id, parse_metric, seen_from
from metrics.anomaly.intraday import expected_so_far
from metrics.anomaly.scan import ScanResult, scan
from metrics.errors import SourceUnavailable
from metrics.kpis import CATALOG, KpiQuery, evaluate
from metrics.periods import Period
from metrics.products import catalog
from metrics.products.alerts import scan_products

router = Router()
log = logging.getLogger(__name__)

SNOOZE = re.compile(r"^(\d{1,3})(m|h|d)$")
SEVERITY_ICON = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}


def book(ctx: Context) -> AlertBook:
    return AlertBook(ctx.services.store, ctx.settings.alerts)


# ---- findings -------------------------------------------------------------------------------


def money_at_stake(anomaly: dict[str, object]) -> float | None:
    """The GMV a deviation is worth: the gap itself for GMV, the order gap at the day's AOV for orders."""
    actual, expected = anomaly.get("actual"), anomaly.get("expected")
    if not isinstance(actual, float | int) or not isinstance(expected, float | int):
        return None
    if anomaly.get("kpi") == "gmv":
        return abs(float(actual) - float(expected))
    aov = anomaly.get("aov")
    if anomaly.get("kpi") == "orders" and isinstance(aov, float | int):
        return abs(float(actual) - float(expected)) * float(aov)
    return None


def escalate(severity: str, stake: float | None, typical_gmv: float | None) -> str:
    """Severity from the money at stake as well as the size of the deviation: a gap worth a fifth
    of a normal day's GMV is critical, one worth a twentieth at least a warning."""
    if stake is None or not typical_gmv:
        return severity
    share = stake / typical_gmv
    floor = "critical" if share >= 0.2 else "warning" if share >= 0.05 else "info"
    return max(severity, floor, key=SEVERITY_ORDER.index)


SEVERITY_ORDER = ["info", "warning", "critical"]


def detector_findings(result: ScanResult, typical_gmv: float | None = None,
                      aov: float | None = None) -> tuple[list[Finding], set[str]]:
    findings = []
    for a in result.anomalies:
        details = a.as_dict()
        details["aov"] = aov
        stake = money_at_stake(details)
        details["money_at_stake"] = stake
        findings.append(Finding(a.key, "detector", a.day.isoformat(), escalate(a.severity, stake, typical_gmv),
                                a.score, details))
    scanned = {f.series for f in findings}
    return findings, scanned


def _typical(ctx: Context, day: date) -> tuple[float | None, float | None]:
    start = datetime.combine(day - timedelta(days=28), datetime.min.time())
    daily = ctx.warehouse.daily(["gmv", "orders"], start, datetime.combine(day, datetime.min.time()))
    if daily.empty or daily["orders"].sum() == 0:
        return None, None
    return float(daily["gmv"].median()), float(daily["gmv"].sum() / daily["orders"].sum())


def rule_findings(ctx: Context, rules: list[AlertRule], day: date) -> tuple[list[Finding], set[str]]:
    findings: list[Finding] = []
    scanned: set[str] = set()
    period = Period(day, day + timedelta(days=1), day.isoformat())
    for rule in rules:
        kpi = CATALOG[rule.kpi]
        result = evaluate(ctx.warehouse, KpiQuery((kpi,), period, by=rule.by))
        values = [(None, result.totals[kpi.name].value)] if not rule.by else [
            (key, vals[kpi.name].value) for key, vals in result.rows]
        for key, value in values:
            series = f"rule{rule.id}:{kpi.name}" + (f"|{rule.by}={key}" if key is not None else "")
            scanned.add(series)
            if value is None:
                continue
            broken = value > rule.threshold if rule.op == ">" else value < rule.threshold
            if broken:
                details = {"kpi": kpi.name, "dimension": rule.by, "value": key, "day": day.isoformat(),
                           "actual": value, "threshold": rule.threshold, "op": rule.op, "rule": rule.id}
                score = abs(value / rule.threshold) if rule.threshold else 1.0
                findings.append(Finding(series, f"rule:{rule.id}", day.isoformat(), "warning", score, details))
    return findings, scanned


PRODUCT_SOURCE = "products"
STOCK_KINDS = ("stock_risk", "stockout_began")


def product_findings(ctx: Context, day: date, expected: set[date],
                     typical_gmv: float | None = None) -> tuple[list[Finding], set[str]]:
    """Stock, fulfilment and returns (metrics/products/alerts.py): a top SKU about to run out or
    out of stock, a warehouse or carrier shipping late or delivering slowly, a returns spike. Their
    kind stands in for the KPI in routing (`[[alerts.routes]] kpis = ["stock_risk"]`); the stock
    kinds get the severity of the money at stake, like a GMV gap. Nothing, and no error, where the
    tables are not there."""
    settings = ctx.settings
    result = scan_products(ctx.warehouse, day, sla_hours=settings.products.ship_sla_hours,
                           cover_window=settings.products.cover_window_days,
                           sensitivity=settings.alerts.sensitivity, expected_days=expected)
    findings = []
    for f in result.findings:
        details = {**f.details, "kpi": f.kind, "product": f.kind, "day": day.isoformat(), "since": f.since.isoformat()}
        severity = f.severity
        stake = f.details.get("money_at_stake")
        if f.kind in STOCK_KINDS and isinstance(stake, float | int):
            severity = escalate(severity, float(stake), typical_gmv)
        if f.kind == "on_time_drop":
            details["sla_hours"] = settings.products.ship_sla_hours
        findings.append(Finding(f.series, PRODUCT_SOURCE, day.isoformat(), severity, f.score, details))
    return findings, result.scanned


def _daily_product_findings(ctx: Context, day: date, expected: set[date],
                            typical_gmv: float | None) -> tuple[list[Finding], set[str]]:
    """In the daily scan a failure here (an optional table with unexpected contents) is logged and
    leaves the KPI alerts alone."""
    try:
        return product_findings(ctx, day, expected, typical_gmv)
    except SourceUnavailable:
        raise
    except Exception:
        log.exception("product alerts of %s failed; the KPI alerts go out without them", day)
        return [], set()


def chats_for(ctx: Context, severity: str, kpi: str) -> list[str]:
    """Where a detector anomaly goes: the configured routes, else every chat with a digest."""
    routes = ctx.settings.alerts.routes
    if routes:
        return sorted({r.chat for r in routes
                       if (not r.kpis or kpi in r.kpis) and severity_at_least(severity, r.min_severity)})
    if not severity_at_least(severity, "warning"):
        return []
    with ctx.services.store.session() as s:
        return sorted(set(s.scalars(select(Subscription.chat).where(Subscription.paused.is_(False))).all()))


@dataclass
class ChatScan:
    chat: str
    outcome: Outcome
    reply: Reply | None
    key: str | None
    not_before: datetime | None = None  # naive UTC: queue it to go out then (quiet hours)


def scan_day(ctx: Context, day: date, now: datetime) -> list[ChatScan]:
    """Detect, route, record: once per row-level scope among the chats alerts may go to. Blocking:
    call through ctx.run."""
    with ctx.services.store.session() as s:
        rules = list(s.scalars(select(AlertRule)).all())
        open_chats = set(s.scalars(select(Alert.chat).where(Alert.status.in_(("open", "acked")))).all())
    by_chat_rules: dict[str, list[AlertRule]] = {}
    for rule in rules:
        by_chat_rules.setdefault(rule.chat, []).append(rule)
    expected = {date.fromisoformat(d) for d in book(ctx).expected_days()} | promotion_days(ctx)
    local_now = now.astimezone(ZoneInfo(ctx.settings.bot.timezone)).replace(tzinfo=None)
    out = []
    for sctx, members in by_scope(ctx, alert_chats(ctx) | set(by_chat_rules) | open_chats):
        result = scan(sctx.warehouse, day, expected_days=expected, sensitivity=ctx.settings.alerts.sensitivity)
        typical = _typical(sctx, day)
        detected, _ = detector_findings(result, *typical)
        detected += segment_shift_findings(sctx, day)
        products, product_series = _daily_product_findings(sctx, day, expected, typical[0])
        per_chat: dict[str, list[Finding]] = {}
        per_chat_products: dict[str, list[Finding]] = {}
        for found, into in ((detected, per_chat), (products, per_chat_products)):
            for f in found:
                for chat in chats_for(ctx, f.severity, str(f.details["kpi"])):
                    if chat in members:
                        into.setdefault(chat, []).append(f)
        # every series the detector looked at counts as scanned: absent from findings means in range
        scanned_here = {f.series for f in detected} | _detector_series(result) | {SEGMENT_SERIES} | product_series
        for chat in sorted((set(per_chat) | set(per_chat_products) | set(by_chat_rules) | open_chats) & members):
            findings = list(per_chat.get(chat, []))
            rf, rs = rule_findings(seen_from(ctx, chat), by_chat_rules.get(chat, []), day)
            # after the KPIs and the chat's own rules: those keep their place in the daily budget
            findings += rf + per_chat_products.get(chat, [])
            # yesterday's findings are still news after the quiet hours: deferred, not dropped
            out.append(chat_scan(ctx, chat, findings, scanned_here | rs, now, local_now, day,
                                 f"alerts:{chat}:{day.isoformat()}", defer_quiet=True))
    return sorted(out, key=lambda c: c.chat)


def chat_rules(ctx: Context, chat: str) -> list[AlertRule]:
    with ctx.services.store.session() as s:
        return list(s.scalars(select(AlertRule).where(AlertRule.chat == chat).order_by(AlertRule.id)).all())


def chat_scan(ctx: Context, chat: str, findings: list[Finding], scanned: set[str], now: datetime,
              local_now: datetime, day: date, key_prefix: str, *, defer_quiet: bool = False) -> ChatScan:
    """Record one chat's findings in the alert book; the message to push, under a key that
    changes only when what is pushed changes (so a re-run pushes nothing twice)."""
    outcome = book(ctx).record(chat, findings, scanned, now.astimezone(ZoneInfo("UTC")).replace(tzinfo=None),
                               local_now, defer_quiet=defer_quiet)
    if not (outcome.push or outcome.recovered):
        return ChatScan(chat, outcome, None, None)
    ids = ",".join(f"{a.id}:{a.notified_score:.3f}" for a in outcome.push + outcome.recovered)
    key = f"{key_prefix}:{hashlib.sha256(ids.encode()).hexdigest()[:12]}"
    return ChatScan(chat, outcome, render_alerts(ctx, outcome, day), key, outcome.not_before)


def alert_chats(ctx: Context) -> set[str]:
    """Every chat a detector alert may be routed to (whatever its severity or KPI)."""
    if ctx.settings.alerts.routes:
        return {r.chat for r in ctx.settings.alerts.routes}
    with ctx.services.store.session() as s:
        return set(s.scalars(select(Subscription.chat).where(Subscription.paused.is_(False))).all())


SEGMENT_SERIES = "segment:champions->declining"


def segment_shift_findings(ctx: Context, day: date) -> list[Finding]:
    """High-value customers turning at-risk or dormant faster than in the months before."""
    from metrics.segments import segment_report

    report = segment_report(ctx.warehouse, day + timedelta(days=1))
    return [Finding(SEGMENT_SERIES, "segments", day.isoformat(), "warning",
                    float(s["rate"] / s["usual"]) if s["usual"] else 10.0,
                    {"kpi": "segments", "segment_shift": True, "day": day.isoformat(), "customers": s["customers"],
                     "rate": s["rate"], "usual": s["usual"]})
            for s in report.shifts]


INTRADAY_WEEKS = 6


def intraday_scan(ctx: Context, now: datetime) -> list[ChatScan]:
    """Today so far against what is normal by this hour, for orders and GMV in total and per
    channel: a collapse at 10:00 is reported at 11:00, not the next morning. Once per row-level
    scope among the chats alerts may go to. Blocking."""
    local = now.astimezone(ZoneInfo(ctx.settings.bot.timezone)).replace(tzinfo=None, minute=0, second=0,
                                                                          microsecond=0)
    expected = {date.fromisoformat(d) for d in book(ctx).expected_days()} | promotion_days(ctx)
    out = []
    for sctx, members in by_scope(ctx, alert_chats(ctx) | _chats_with_open(ctx, "@today")):
        findings, scanned = _intraday_findings(sctx, local, expected)
        for chat in sorted({c for f in findings for c in chats_for(ctx, f.severity, str(f.details["kpi"]))}
                           & members | (_chats_with_open(ctx, "@today") & members)):
            mine = [f for f in findings if chat in chats_for(ctx, f.severity, str(f.details["kpi"]))]
            out.append(chat_scan(ctx, chat, mine, scanned, now, local, local.date(),
                                 f"intraday:{chat}:{local.isoformat()}"))
    return sorted(out, key=lambda c: c.chat)


def _intraday_findings(ctx: Context, local: datetime, expected: set[date]) -> tuple[list[Finding], set[str]]:
    start = datetime.combine(local.date() - timedelta(days=7 * INTRADAY_WEEKS), datetime.min.time())
    frames = [ctx.warehouse.hourly(["orders", "gmv"], start, local)]
    if "channel" in ctx.warehouse.dimensions:
        frames.append(ctx.warehouse.hourly(["orders", "gmv"], start, local, by="channel"))
    hourly = pd.concat(frames, axis=1)
    checks = expected_so_far(hourly, local, weeks=INTRADAY_WEEKS, expected_days=expected,
                             sensitivity=ctx.settings.alerts.sensitivity)
    findings, scanned = [], set()
    day = local.date().isoformat()
    for check in checks:
        series = f"{check.series}@today"
        scanned.add(series)
        if not check.flagged:
            continue
        kpi, _, slice_ = check.series.partition("|")
        dimension, _, value = slice_.partition("=")
        details = {"kpi": kpi, "dimension": dimension or None, "value": value or None, "day": day,
                   "actual": check.actual, "expected": check.expected, "change": check.change,
                   "intraday": True, "until": local.strftime("%H:%M")}
        findings.append(Finding(series, "intraday", day, check.severity or "warning", check.score, details))
    return findings, scanned


def _chats_with_open(ctx: Context, suffix: str) -> set[str]:
    with ctx.services.store.session() as s:
        return set(s.scalars(select(Alert.chat).where(Alert.status.in_(("open", "acked")),
                                                      Alert.series.endswith(suffix))).all())


def _detector_series(result: ScanResult) -> set[str]:
    # totals of every scanned KPI, plus the slices that were scanned (not skipped for low volume)
    from metrics.anomaly.scan import SCAN_KPIS

    return set(SCAN_KPIS) if not result.no_data else set()


def promotion_days(ctx: Context) -> set[date]:
    """Expected peaks: the promotions table and the campaign calendar (`campaign add`)."""
    from handlers.planning.history import promo_days

    return set(promo_days(ctx))


# ---- the message ------------------------------------------------------------------------------


def _headline(ctx: Context, alert: Alert) -> str:
    d = alert.details
    if d.get("product"):
        return _product_headline(ctx, d)
    if d.get("segment_shift"):
        return ctx.t("alert_segment_shift", customers=d["customers"], rate=fmt_percent(d["rate"], ctx.lang),
                     usual=fmt_percent(d["usual"], ctx.lang))
    kpi = CATALOG.get(str(d.get("kpi")))
    if kpi is None:
        return alert.series
    currency = ctx.settings.bot.currency
    label = metric_label(kpi.name, ctx.lang)
    if d.get("dimension"):
        label += f" · {dimension_label(str(d['dimension']), ctx.lang)}={d.get('value')}"
    actual = fmt_value(d.get("actual"), kpi.unit, ctx.lang, currency)  # type: ignore[arg-type]
    if "threshold" in d:
        return ctx.t("alert_rule_line", metric=label, actual=actual, op=d["op"],
                     threshold=fmt_value(d["threshold"], kpi.unit, ctx.lang, currency))  # type: ignore[arg-type]
    change = d.get("change")
    if d.get("intraday"):
        label += " " + ctx.t("alert_so_far", until=d.get("until"))
    line = ctx.t("alert_line", metric=label, actual=actual,
                 expected=fmt_value(d.get("expected"), kpi.unit, ctx.lang, currency),  # type: ignore[arg-type]
                 change=(f"{change * 100:+.0f}%" if isinstance(change, float) else ctx.t("na")))
    causes = []
    for dim, items in (d.get("root_causes") or {}).items():  # type: ignore[union-attr]
        if items and items[0]["share"] >= 0.5:
            causes.append((items[0]["share"], f"{dimension_label(dim, ctx.lang)}={items[0]['value']}"))
    if causes:
        causes.sort(reverse=True)
        line += " " + ctx.t("alert_causes", share=fmt_percent(causes[0][0], ctx.lang),
                            slices=", ".join(c for _, c in causes[:3]))
    return line


def render_alerts(ctx: Context, outcome: Outcome, day: date) -> Reply:
    reply = Reply(title=ctx.t("alerts_title", count=len(outcome.push), day=day.isoformat()))
    for alert in outcome.push:
        reply.text.append(f"{SEVERITY_ICON.get(alert.severity, '')} #{alert.id} {_headline(ctx, alert)}")
        reply.actions += [
            Action(ctx.t("btn_ack", id=alert.id), f"ack {alert.id}", "primary"),
            Action(ctx.t("btn_assign"), f"assign {alert.id}"),
            Action(ctx.t("btn_snooze_4h"), f"snooze {alert.id} 4h"),
            Action(ctx.t("btn_snooze_1d"), f"snooze {alert.id} 1d"),
            Action(ctx.t("btn_expected"), f"expected {alert.id}"),
        ]
        # a product alert also opens what to look at; the same view once per message
        for action in _product_actions(ctx, alert.details):
            if all(a.command != action.command for a in reply.actions):
                reply.actions.append(action)
    for alert in outcome.recovered:
        label = _product_label(ctx, alert.details) if alert.details.get("product") else alert.series
        reply.text.append(ctx.t("alert_recovered", id=alert.id, series=label))
    if not outcome.push:
        reply.title = ctx.t("alerts_recovered_title", day=day.isoformat())
    reply.data = {"day": day.isoformat(),
                  "alerts": [{"id": a.id, "series": a.series, "severity": a.severity, **a.details}
                             for a in outcome.push],
                  "recovered": [{"id": a.id, "series": a.series} for a in outcome.recovered]}
    return reply


# ---- product alerts: the message -----------------------------------------------------------------


def _product(ctx: Context, sku: str) -> str:
    name = catalog.name_of(ctx.warehouse, sku)
    return sku if name == sku else f"{sku} {name}"


def _days(ctx: Context, value: object) -> str:
    return fmt_decimal(float(value), ctx.lang) if isinstance(value, float | int) else "∞"  # type: ignore[arg-type]


def _money(ctx: Context, value: object) -> str:
    return fmt_money(float(value), ctx.lang, ctx.settings.bot.currency) if isinstance(value, float | int) else "–"


def _slice(ctx: Context, d: dict[str, object]) -> str:
    return ctx.t(f"palert_slice_{d.get('dimension')}", value=d.get("value"))


def _reason(ctx: Context, reason: object) -> str:
    key = f"reason_{reason}"
    return ctx.t(key) if key in MESSAGES else str(reason)


def _product_headline(ctx: Context, d: dict[str, object]) -> str:
    kind = d["product"]
    lang = ctx.lang
    since = d.get("since")
    if kind == "stock_risk":
        # short at a warehouse: its numbers in the sentence, the other warehouses short after it;
        # without warehouses (shipments do not name them), the SKU's whole stock
        named = d.get("warehouse")
        others = [w for w in d.get("warehouses") or [] if w.get("warehouse") and w.get("warehouse") != named]  # type: ignore[union-attr]
        on_hand, on_order = d.get("on_hand"), d.get("on_order")
        least = "; ".join(ctx.t("palert_least", warehouse=w["warehouse"], cover=_days(ctx, w.get("cover_days")),
                                on_hand=fmt_count(w.get("on_hand") or 0, lang),
                                on_order=fmt_count(w.get("on_order") or 0, lang)) for w in others)
        line = ctx.t("palert_stock_risk_at" if named else "palert_stock_risk", product=_product(ctx, str(d["sku"])),
                     warehouse=named, cover=_days(ctx, d.get("cover_days")), lead=d.get("lead_time"),
                     on_hand=fmt_count(float(on_hand or 0), lang), on_order=fmt_count(float(on_order or 0), lang),
                     stake=_money(ctx, d.get("gmv_at_stake")))
        if least:
            line += " " + ctx.t("palert_also_short", least=least)
    elif kind == "stockout_began":
        where = d.get("warehouse") or ctx.t("palert_everywhere")
        params = {"product": _product(ctx, str(d["sku"])), "warehouse": where, "since": since,
                  "days": fmt_count(d.get("days_out") or 0, lang)}  # type: ignore[arg-type]
        if isinstance(d.get("lost_gmv"), float | int):
            line = ctx.t("palert_stockout", lost=_money(ctx, d["lost_gmv"]),
                         units=fmt_decimal(float(d.get("lost_units") or 0.0), lang), **params)  # type: ignore[arg-type]
        else:
            line = ctx.t("palert_stockout_unknown", **params)
        if d.get("warehouse") and d.get("everywhere"):
            line += " " + ctx.t("palert_also_everywhere")
        since = None  # said already
    elif kind == "on_time_drop":
        count, base = int(d.get("count") or 0), int(d.get("base") or 0)
        line = ctx.t("palert_on_time", slice=_slice(ctx, d), day=d.get("orders_of"),
                     actual=fmt_percent(float(d.get("actual") or 0.0), lang),
                     expected=fmt_percent(float(d.get("expected") or 0.0), lang),
                     hours=f"{float(d.get('sla_hours') or 24):g}", late=fmt_count(count, lang),
                     shipped=fmt_count(base, lang))
    elif kind == "delivery_slow":
        line = ctx.t("palert_delivery", slice=_slice(ctx, d), day=d.get("on"), actual=_days(ctx, d.get("actual")),
                     expected=_days(ctx, d.get("expected")), count=fmt_count(int(d.get("count") or 0), lang))
    else:  # returns_spike
        params = {"day": d.get("on"), "count": fmt_count(int(d.get("count") or 0), lang),
                  "base": fmt_count(int(d.get("base") or 0), lang),
                  "actual": fmt_percent(float(d.get("actual") or 0.0), lang),
                  "expected": fmt_percent(float(d.get("expected") or 0.0), lang)}
        if d.get("dimension") == "sku":
            line = ctx.t("palert_returns_sku", product=_product(ctx, str(d["value"])), **params)
        else:
            scope = ctx.t("palert_returns_in", category=d["category"]) if d.get("category") else ""
            line = ctx.t("palert_returns", reason=_reason(ctx, d.get("reason")), scope=scope, **params)
    hint = _product_hint(ctx, d)
    if hint:
        line += " " + hint
    if since and since != d.get("day"):
        line += " " + ctx.t("palert_since", since=since)
    return line


def _product_hint(ctx: Context, d: dict[str, object]) -> str:
    """The root-cause hint: the SKUs (or reason) behind a returns spike, the warehouses of a slow
    carrier, the carriers (or warehouses) of a late warehouse (or carrier)."""
    items = d.get("hint") or []
    if not items:
        return ""
    lang = ctx.lang
    kind = d["product"]
    if kind == "returns_spike":
        if "sku" in items[0]:  # type: ignore[index]
            text = ", ".join(f"{_product(ctx, str(i['sku']))} ({fmt_count(i['lines'], lang)})"
                             for i in items)  # type: ignore[union-attr]
            return ctx.t("palert_hint_sku", items=text)
        text = ", ".join(f"{_reason(ctx, i['reason'])} ({fmt_count(i['lines'], lang)})"
                         for i in items)  # type: ignore[union-attr]
        return ctx.t("palert_hint_reason", items=text)
    if kind == "delivery_slow":
        text = ", ".join(f"{i['warehouse']} {ctx.t('palert_days', value=_days(ctx, i['delivery_days']))}"
                         for i in items)  # type: ignore[union-attr]
        return ctx.t("palert_hint_where", items=text)
    if kind == "on_time_drop":
        other = "carrier" if "carrier" in items[0] else "warehouse"  # type: ignore[operator]
        text = ", ".join(f"{i[other]} {fmt_percent(float(i['on_time_rate'] or 0.0), lang)}"
                         for i in items)  # type: ignore[union-attr]
        return ctx.t(f"palert_hint_{other}", items=text)
    return ""


def _product_label(ctx: Context, d: dict[str, object]) -> str:
    kind = d["product"]
    if kind == "returns_spike":
        if d.get("dimension") == "sku":
            what = str(d.get("value"))
        else:
            what = _reason(ctx, d.get("reason")) + (f" · {d['category']}" if d.get("category") else "")
        return ctx.t("palert_label_returns_spike", what=what)
    if kind in STOCK_KINDS:
        return ctx.t(f"palert_label_{kind}", sku=d.get("sku"),
                     warehouse=d.get("warehouse") or ctx.t("palert_everywhere"))
    return ctx.t(f"palert_label_{kind}", slice=_slice(ctx, d))


def _product_actions(ctx: Context, d: dict[str, object]) -> list[Action]:
    """The command to run on a product alert: the SKU's card and the stock list, the fulfilment by
    the slice's dimension, the returns by reason (and the SKU's card for a SKU's returns)."""
    kind = d.get("product")
    if not kind:
        return []
    if kind in STOCK_KINDS:
        return [Action(ctx.t("btn_sku", sku=d["sku"]), f"sku {d['sku']}"), Action(ctx.t("btn_stock"), "stock")]
    if kind in ("on_time_drop", "delivery_slow"):
        by = str(d.get("dimension"))
        return [Action(ctx.t("btn_fulfilment_by", by=ctx.t(f"palert_by_{by}")), f"fulfilment last 7d by {by}")]
    actions = [Action(ctx.t("btn_returns_by_reason"), "returns last 7d by reason")]
    if d.get("dimension") == "sku":
        actions.append(Action(ctx.t("btn_sku", sku=d["value"]), f"sku {d['value']}"))
    return actions


# ---- commands ------------------------------------------------------------------------------------


def _alert_id(ctx: Context, args: Args, usage_key: str) -> int:
    alert_id = parse_id(args.tokens[0]) if args.tokens else None
    if alert_id is None:
        raise UsageError(usage_key)
    return alert_id


def _own_alert(ctx: Context, alert_id: int) -> Alert:
    chat = None if ctx.incoming.chat.platform == "console" else str(ctx.incoming.chat)
    alert = book(ctx).get(alert_id, chat)
    if alert is None:
        raise UsageError("no_alert", id=alert_id)
    return alert


@router.command("ack", aliases=("确认",), usage="ack <alert id>", examples=("ack 12",))
async def ack(ctx: Context, args: Args) -> Reply:
    alert = await ctx.run(_own_alert, ctx, _alert_id(ctx, args, "need_alert_id"))
    updated = await ctx.run(book(ctx).ack, alert.id, ctx.incoming.user)
    return Reply(text=[ctx.t("acked", id=updated.id, user=ctx.incoming.user)],
                 data={"alert": updated.id, "status": updated.status, "by": updated.acked_by})


@router.command("assign", aliases=("认领",), usage="assign <alert id>", examples=("assign 12",))
async def assign(ctx: Context, args: Args) -> Reply:
    alert = await ctx.run(_own_alert, ctx, _alert_id(ctx, args, "need_alert_id"))
    updated = await ctx.run(book(ctx).assign, alert.id, ctx.incoming.user)
    return Reply(text=[ctx.t("assigned", id=updated.id, user=ctx.incoming.user)],
                 data={"alert": updated.id, "assignee": updated.assignee})


@router.command("snooze", aliases=("稍后提醒",), usage="snooze <alert id> <30m|4h|1d>", examples=("snooze 12 4h",))
async def snooze(ctx: Context, args: Args) -> Reply:
    alert = await ctx.run(_own_alert, ctx, _alert_id(ctx, args, "need_alert_id"))
    m = SNOOZE.match(args.tokens[1].lower()) if len(args.tokens) == 2 else None
    if not m or int(m[1]) == 0:
        raise UsageError("snooze_usage")
    amount = int(m[1])
    delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[m[2]]
    if delta > timedelta(days=30):
        raise UsageError("snooze_usage")
    updated = await ctx.run(book(ctx).snooze, alert.id, utcnow() + delta, ctx.incoming.user)
    return Reply(text=[ctx.t("snoozed", id=updated.id, duration=args.tokens[1])],
                 data={"alert": updated.id, "snoozed_until": str(updated.snoozed_until)})


@router.command("expected", aliases=("预期",), usage="expected <alert id> [note]",
                examples=("expected 12 promo", "expected 12 known outage"))
async def expected(ctx: Context, args: Args) -> Reply:
    alert = await ctx.run(_own_alert, ctx, _alert_id(ctx, args, "need_alert_id"))
    note = " ".join(args.tokens[1:]) or "expected"
    updated = await ctx.run(book(ctx).expected, alert.id, note, ctx.incoming.user)
    return Reply(text=[ctx.t("marked_expected", id=updated.id, day=updated.day, note=note)],
                 data={"alert": updated.id, "status": updated.status, "note": updated.note})


def _parse_rule(ctx: Context, tokens: list[str]) -> AlertRule:
    # alert add <kpi> <op> <threshold>[%] [daily] [by <dimension>]
    words = [w for w in tokens if w.lower() not in ("daily", "每天")]
    if len(words) < 3:
        raise UsageError("rule_usage")
    kpi = parse_metric(ctx, words[0])
    op = words[1]
    if op not in (">", "<"):
        raise UsageError("rule_op", op=op[:10])
    raw = words[2]
    percent = raw.endswith("%")
    try:
        threshold = float(raw.rstrip("%").replace(",", ""))
    except ValueError:
        raise UsageError("rule_threshold", text=raw[:20]) from None
    if threshold != threshold or threshold in (float("inf"), float("-inf")) or threshold < 0:
        raise UsageError("rule_threshold", text=raw[:20])
    if percent:
        threshold /= 100
    if percent and kpi.unit != "percent":
        raise UsageError("rule_percent", metric=kpi.name)
    by = None
    rest = words[3:]
    if rest:
        if rest[0].lower() not in ("by", "按") or len(rest) != 2:
            raise UsageError("rule_usage")
        by = parse_dimension(ctx, rest[1])
        if not all(ctx.warehouse.available(m, by, []) for m in kpi.measures):
            raise UsageError("rule_split", metric=kpi.name, dimension=by)
    return AlertRule(chat=str(ctx.incoming.chat), kpi=kpi.name, op=op, threshold=threshold, by=by,
                     created_by=ctx.incoming.user)


def _describe_rule(ctx: Context, rule: AlertRule) -> str:
    kpi = CATALOG[rule.kpi]
    value = fmt_value(rule.threshold, kpi.unit, ctx.lang, ctx.settings.bot.currency)
    by = f" by {rule.by}" if rule.by else ""
    return f"#{rule.id} {metric_label(rule.kpi, ctx.lang)} {rule.op} {value} daily{by}"


@router.command("alert", aliases=("告警",), admin=True,
                usage="alert add <metric> <|> <threshold>[%] [daily] [by <dimension>] | alert rm <rule id>",
                examples=("alert add refund_rate > 5% daily", "alert add orders < 100 by channel", "alert rm 3"))
async def alert(ctx: Context, args: Args) -> Reply:
    if not args.tokens or args.tokens[0].lower() not in ("add", "rm", "remove", "del"):
        raise UsageError("rule_usage")
    if args.tokens[0].lower() == "add":
        tokens = list(args.tokens[1:])
        rule = _parse_rule(ctx, tokens)
        mine = select(AlertRule).where(AlertRule.chat == rule.chat, AlertRule.kpi == rule.kpi)

        def save() -> tuple[AlertRule, bool]:
            # the same rule twice would open two alerts and push the same breach twice
            return ctx.services.store.add_once(lambda: _parse_rule(ctx, tokens), rule_key, mine)

        saved, added = await ctx.run(save)
        return Reply(text=[ctx.t("rule_added" if added else "rule_exists", rule=_describe_rule(ctx, saved))],
                     data={"rule": saved.id, "kpi": saved.kpi, "op": saved.op, "threshold": saved.threshold,
                           "by": saved.by, "existing": not added})
    rule_id = parse_id(args.tokens[1]) if len(args.tokens) == 2 else None
    if rule_id is None:
        raise UsageError("rule_usage")

    def delete() -> AlertRule | None:
        with ctx.services.store.session() as s, s.begin():
            rule = s.get(AlertRule, rule_id)
            if rule is None or (ctx.incoming.chat.platform != "console" and rule.chat != str(ctx.incoming.chat)):
                return None
            s.delete(rule)
            # its series is never scanned again: an alert left open would stay open for good
            s.execute(update(Alert).where(Alert.source == f"rule:{rule_id}", Alert.status.in_(("open", "acked")))
                      .values(status="closed", closed_at=utcnow(), note="rule removed"))
            return rule

    removed = await ctx.run(delete)
    if removed is None:
        raise UsageError("no_rule", id=rule_id)
    return Reply(text=[ctx.t("rule_removed", rule=_describe_rule(ctx, removed))], data={"rule": rule_id})


@router.command("alerts", aliases=("告警列表",), usage="alerts [open]", examples=("alerts", "alerts open"))
async def alerts(ctx: Context, args: Args) -> Reply:
    if args.tokens and args.tokens[0].lower() not in ("open",):
        raise UsageError("alerts_usage")
    chat = None if ctx.incoming.chat.platform == "console" else str(ctx.incoming.chat)

    def load() -> tuple[list[Alert], list[AlertRule]]:
        with ctx.services.store.session() as s:
            q = select(AlertRule).order_by(AlertRule.id)
            rules = list(s.scalars(q if chat is None else q.where(AlertRule.chat == chat)).all())
        return book(ctx).open_alerts(chat), rules

    open_alerts, rules = await ctx.run(load)
    text = [f"{SEVERITY_ICON.get(a.severity, '')} #{a.id} {_headline(ctx, a)}"
            + (f" · {ctx.t('acked_by', user=a.acked_by)}" if a.status == "acked" else "")
            + (f" · {ctx.t('assigned_to', user=a.assignee)}" if a.assignee else "") for a in open_alerts]
    if not open_alerts:
        text.append(ctx.t("no_open_alerts"))
    if not args.tokens:
        text.append(ctx.t("rules_title") + "\n" + "\n".join(_describe_rule(ctx, r) for r in rules)
                    if rules else ctx.t("no_rules"))
    return Reply(title=ctx.t("alerts_open_title"), text=text,
                 data={"open": [{"id": a.id, "series": a.series, "status": a.status, "severity": a.severity,
                                 "assignee": a.assignee} for a in open_alerts],
                       "rules": [{"id": r.id, "kpi": r.kpi, "op": r.op, "threshold": r.threshold, "by": r.by}
                                 for r in rules]})


@router.command("scan", aliases=("检测",), admin=True, usage="scan [day]", examples=("scan", "scan 2026-11-20"))
async def scan_now(ctx: Context, args: Args) -> Reply:
    """Run the anomaly scan now and answer with what it found for this chat (the demo's alert feed)."""
    now = ctx.now()
    if args.tokens:
        try:
            day = date.fromisoformat(args.tokens[0])
        except ValueError:
            raise UsageError("scan_usage") from None
    else:
        day = now.date() - timedelta(days=1)
    zone = ZoneInfo(ctx.settings.bot.timezone)
    promotions = await ctx.run(promotion_days, ctx)
    result = await ctx.run(scan, ctx.warehouse, day, sensitivity=ctx.settings.alerts.sensitivity,
                           expected_days=promotions)
    typical = await ctx.run(_typical, ctx, day)
    findings, scanned = detector_findings(result, *typical)
    # the chat's own threshold rules are part of every scan, on demand as in the daily one
    chat = str(ctx.incoming.chat)
    rules = await ctx.run(chat_rules, ctx, chat)
    broken, rule_series = await ctx.run(rule_findings, ctx, rules, day)
    products, product_series = await ctx.run(product_findings, ctx, day, promotions, typical[0])
    outcome = await ctx.run(book(ctx).record, chat, findings + broken + products,
                            scanned | set(_detector_series(result)) | rule_series | product_series,
                            now.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")).replace(tzinfo=None), now,
                            asked=True)  # whoever asked gets all of it, whatever the hour or the budget
    found = {"day": day.isoformat(), "anomalies": [a.as_dict() for a in result.anomalies],
             "rules_broken": [dict(f.details, series=f.series) for f in broken]}
    if products:
        found["products"] = [dict(f.details, series=f.series, severity=f.severity) for f in products]
    if not outcome.push and not outcome.recovered:
        count = len(result.anomalies) + len(broken) + len(products)
        return Reply(text=[ctx.t("scan_nothing", day=day.isoformat(), count=count)], data=found)
    reply = render_alerts(ctx, outcome, day)
    reply.data.update(found)
    return reply
