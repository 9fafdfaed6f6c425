"""Refunds arrive later (issue 24): yesterday's refund rate is low until its refunds come in, so the
days inside the refund window are marked incomplete in kpi, digest and trend, and a change of them is
never coloured as an improvement. The window is configured or measured from the data."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine

from bot.app import build_dispatcher
from bot.config import Settings
from bot.state.store import Store
from metrics.data.load import write_shop
from metrics.data.sample import Shop
from metrics.data.warehouse import Warehouse
from metrics.lagging import measure_window, refund_window
from tests.conftest import DEMO_SPEC, TODAY, Clock
from tests.fakes.chat import Chat

YESTERDAY = TODAY - timedelta(days=1)
LAG = 14  # in the lagged shop, an order's refund arrives uniformly within 14 days of the order


def refund_field(reply):  # type: ignore[no-untyped-def]
    return next(f for f in reply.fields if f.label == "Refund rate")


@pytest.fixture
def configured(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store) -> Chat:
    settings = demo_settings.model_copy(update={"kpis": demo_settings.kpis.model_copy(
        update={"refund_window_days": 10})})
    return Chat(build_dispatcher(settings, demo_warehouse, clock=clock, store=store))


async def test_a_configured_window_marks_yesterday_incomplete(configured: Chat) -> None:
    reply = await configured.send("kpi refund_rate gmv yesterday vs previous")
    first = (YESTERDAY - timedelta(days=9)).isoformat()
    assert reply.data["incomplete"] == {"refund_rate": {"window_days": 10, "from": first,
                                                        "until": YESTERDAY.isoformat(), "source": "configured"}}
    assert f"refunds of orders from {first} on are still coming in" in reply.plain_text()
    field = refund_field(reply)
    assert field.trend in ("up", "down") and field.good is None  # the arrow stays, the verdict goes
    gmv = next(f for f in reply.fields if f.label == "GMV")
    assert gmv.good is not None  # GMV is final: judged as before


async def test_the_digest_never_colours_an_incomplete_refund_rate(configured: Chat) -> None:
    reply = await configured.send("digest")
    assert refund_field(reply).good is None and "refund_rate" in reply.data["incomplete"]


async def test_an_old_period_is_final(configured: Chat) -> None:
    reply = await configured.send("kpi refund_rate 2026-10 vs previous")
    assert reply.data["incomplete"] == {} and "not final" not in reply.plain_text()


async def test_the_trend_draws_the_window_hollow(configured: Chat) -> None:
    reply = await configured.send("trend refund_rate last 14d")
    window = [(YESTERDAY - timedelta(days=i)).isoformat() for i in range(10)]
    assert set(window) <= set(reply.data["partial"])
    assert (YESTERDAY - timedelta(days=10)).isoformat() not in reply.data["partial"]
    assert "drawn hollow" in reply.plain_text()


def test_the_demo_shop_has_no_refund_lag_and_none_is_measured(demo_warehouse: Warehouse) -> None:
    """The generator books every refund with its order: the measurement must not invent a window."""
    assert measure_window(demo_warehouse, YESTERDAY) == 0


@pytest.fixture
def lagged(tmp_path: Path, demo_shop: Shop) -> Iterator[Warehouse]:
    """The demo shop as a real shop sees it: refunds of recent orders not all in yet."""
    orders = demo_shop.orders.copy()
    age = np.array([(YESTERDAY - d).days for d in orders.ordered_at.dt.date])
    arrived = np.random.default_rng(5).random(len(orders)) < np.clip((age + 1) / LAG, 0, 1)
    orders["refunded_amount"] = np.where(arrived, orders.refunded_amount, 0.0)
    url = f"duckdb:///{tmp_path / 'lagged.duckdb'}"
    engine = create_engine(url)
    write_shop(engine, dataclasses.replace(demo_shop, orders=orders), DEMO_SPEC)
    engine.dispose()
    settings = Settings.model_validate({"warehouse": {"url": url}})
    wh = Warehouse.from_url(url, settings.mapping())
    yield wh
    wh.engine.dispose()


def test_a_refund_lag_is_measured(lagged: Warehouse) -> None:
    window = refund_window(lagged, TODAY, None)
    assert window is not None and window.source == "measured" and window.last == YESTERDAY
    # refunds are half in at 7 days and all in at 14: the window covers the clearly low days and no more
    assert 3 <= window.days <= LAG, window
    configured = refund_window(lagged, TODAY, 21)
    assert configured is not None and configured.days == 21 and configured.source == "configured"
