"""The shop's history the planning commands read (blocking; run through ctx.run): promotion days and
events, daily series and the seasonal profile a goal is split with."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from sqlalchemy import select, text

from bot.context import Context
from bot.state.planning import Campaign
from handlers.planning.basics import midnight
from metrics.data.warehouse import Warehouse
from metrics.planning import goals as plan_mod
from metrics.planning.campaigns import EventWindow

HISTORY_DAYS = 730  # two years of days: a month profile needs one whole year


# ---- history helpers (blocking; run through ctx.run) -----------------------------------------


def promo_days(ctx: Context) -> list[date]:
    """Known promotion days: the warehouse's promotions table (the demo has one) and the campaigns
    on the calendar."""
    days: set[date] = set()
    try:
        with ctx.warehouse.connect() as conn:
            for (day,) in conn.execute(text("SELECT day FROM promotions")):
                days.add(date.fromisoformat(str(day)[:10]))
    except Exception:  # most real warehouses have no such table: the calendar alone then
        pass
    with ctx.services.store.session() as s:
        for c in s.scalars(select(Campaign)):
            days.update(plan_mod.days_of(c.start, c.end))
    return sorted(days)


def promotion_events(ctx: Context) -> list[EventWindow]:
    """The warehouse's promotions table as events (contiguous days of one name)."""
    rows: list[tuple[date, str]] = []
    try:
        with ctx.warehouse.connect() as conn:
            rows = [(date.fromisoformat(str(d)[:10]), str(n)) for d, n in conn.execute(text("SELECT day, name FROM promotions"))]
    except Exception:
        return []
    events: list[EventWindow] = []
    for day, name in sorted(rows, key=lambda r: (r[1], r[0])):
        if events and events[-1].name == name and events[-1].end == day:
            events[-1] = EventWindow(name, events[-1].start, day + timedelta(days=1))
        else:
            events.append(EventWindow(name, day, day + timedelta(days=1)))
    return sorted(events, key=lambda e: e.start)


def daily_series(warehouse: Warehouse, measure: str, start: date, end: date) -> pd.Series:
    frame = warehouse.daily([measure], midnight(start), midnight(end))
    if frame.empty or measure not in frame:
        return pd.Series(dtype=float)
    return pd.Series(frame[measure].to_numpy(dtype=float), index=list(frame["day"]))


def history_profile(ctx: Context, measure: str, today: date) -> plan_mod.Profile:
    history = daily_series(ctx.warehouse, measure, today - timedelta(days=HISTORY_DAYS), today)
    return plan_mod.fit_profile(history, promo_days(ctx))
