"""What the planning commands share: the amount and period parsers, the value formats, today's date,
the admin check on state-changing verbs, and the recent run-rate window."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta

from bot.context import Context
from bot.errors import AccessDenied
from bot.text.i18n import fmt_value
from metrics.kpis import Kpi
from metrics.periods import Period
from metrics.planning import goals as plan_mod

RECENT_DAYS = 28  # the recent run-rate's days: `goal set`, `pace` before a goal starts, the budget's caps

_AMOUNT = re.compile(r"^[¥$€£]?(?P<n>[0-9][0-9,_]*(?:\.[0-9]+)?)(?P<unit>k|m|w|万|亿|千)?$", re.IGNORECASE)
_UNITS = {"k": 1e3, "千": 1e3, "m": 1e6, "w": 1e4, "万": 1e4, "亿": 1e8, None: 1.0}


# ---- small parsers ---------------------------------------------------------------------------


def parse_amount(word: str) -> float | None:
    """`3000000`, `3,000,000`, `3m`, `300k`, `300万`, `¥5000` → a number; None if not one."""
    m = _AMOUNT.match(word.strip())
    if not m:
        return None
    unit = m["unit"].lower() if m["unit"] else None
    return float(m["n"].replace(",", "").replace("_", "")) * _UNITS[unit]


def signed_amount(word: str) -> float | None:
    """Like parse_amount, but `-5000` is read (so it can be refused as negative, not as unknown)."""
    if word.startswith(("-", "−")):
        value = parse_amount(word[1:])
        return -value if value is not None else None
    return parse_amount(word)


def midnight(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time())


def whole(period: Period) -> Period:
    """`this month` means the whole month for a goal, not the month so far; and it is stored
    under a label that stays true next month ("2026-11", not "this month")."""
    grain = period.grain
    if grain in (None, "day"):
        return Period(period.start, period.end, canonical_label(period.start, period.end), grain=grain)
    nxt = {"week": lambda d: d + timedelta(days=7), "month": lambda d: _add_months(d, 1),
           "quarter": lambda d: _add_months(d, 3), "year": lambda d: _add_months(d, 12)}[grain]
    end = nxt(period.start) if period.until is not None else period.end
    return Period(period.start, end, canonical_label(period.start, end), grain=grain)


def canonical_label(start: date, end: date) -> str:
    if start.day == 1 and end == _add_months(start, 1):
        return f"{start.year}-{start.month:02d}"
    if start.day == 1 and start.month % 3 == 1 and end == _add_months(start, 3):
        return f"{start.year}Q{start.month // 3 + 1}"
    if (start.month, start.day) == (1, 1) and end == _add_months(start, 12):
        return str(start.year)
    if start.weekday() == 0 and (end - start).days == 7:
        iso = start.isocalendar()
        return f"{iso[0]}-W{iso[1]:02d}"
    last = end - timedelta(days=1)
    return start.isoformat() if last == start else f"{start.isoformat()}..{last.isoformat()}"


def _add_months(d: date, n: int) -> date:
    index = d.year * 12 + d.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def money_text(ctx: Context, value: float | None) -> str:
    return fmt_value(value, "money", ctx.lang, ctx.settings.bot.currency, na=ctx.t("na"))


def value_text(ctx: Context, kpi: Kpi, value: float | None) -> str:
    if value is not None and not math.isfinite(value):
        value = None  # no projection is "n/a", never "NaN"
    return fmt_value(value, kpi.unit, ctx.lang, ctx.settings.bot.currency, na=ctx.t("na"))


def range_level() -> str:
    return f"{round(plan_mod.RANGE_LEVEL * 100)}%"


def today_of(ctx: Context) -> date:
    return ctx.now().date()


def require_admin(ctx: Context, what: str) -> None:
    # goal/campaign/budget are open commands; only their state-changing verbs need an admin
    if not ctx.is_admin:
        raise AccessDenied("admin_only", command=what, user=ctx.incoming.user)
