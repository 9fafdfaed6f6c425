"""Every table that leaves rows out keeps its total (issue 24): the rows it shows plus its "other" row
add up to the total, to the cent for money and counts and to 100 % for shares, and a ratio's "other"
is the ratio of its own summed parts. Row limits are lowered so that every command truncates on the
demo shop; the totals are recomputed in pandas from the generator's rows."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest

import handlers.analysis as analysis
import handlers.digest as digest
import handlers.kpi as kpi_handler
from metrics.data.sample import Shop
from tests.conftest import TODAY
from tests.fakes.chat import Chat

CENT = 0.005
WEEK = (TODAY - timedelta(days=7), TODAY)  # "last 7d"
BEFORE = (TODAY - timedelta(days=14), TODAY - timedelta(days=7))


def counted(shop: Shop, span: tuple[date, date]) -> pd.DataFrame:
    o = shop.orders
    day = o.ordered_at.dt.date
    return o[(o.status != "cancelled") & (day >= span[0]) & (day < span[1])]


def other_label(table_rows: list[list[str]], column: int = 0) -> list[str]:
    return [r[column] for r in table_rows if r[column].startswith("other (")]


@pytest.mark.parametrize("limit", [1, 3, 7])
async def test_kpi_by_dimension(chat: Chat, demo_shop: Shop, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    monkeypatch.setattr(kpi_handler, "MAX_ROWS", limit)
    reply = await chat.send("kpi gmv orders aov refund_rate last 7d vs previous by category")
    assert not reply.error, reply.plain_text()
    rows, other = reply.data["rows"], reply.data["other"]
    o = counted(demo_shop, WEEK)
    assert other["rows"] == len(rows) - limit == o.category.nunique() - limit
    shown = [r["category"] for r in rows[:limit]]
    rest = o[~o.category.isin(shown)]
    metrics = reply.data["metrics"]
    for name in ("gmv", "orders"):
        parts = math.fsum(r["metrics"][name]["value"] for r in rows[:limit]) + other["metrics"][name]["value"]
        assert parts == pytest.approx(metrics[name]["value"], abs=CENT)
    assert metrics["gmv"]["value"] == pytest.approx(o.amount.sum(), abs=CENT)
    assert other["metrics"]["gmv"]["value"] == pytest.approx(rest.amount.sum(), abs=CENT)
    # ratios of "other" from its summed parts, never an average of the rows' ratios
    assert other["metrics"]["aov"]["value"] == pytest.approx(rest.amount.sum() / len(rest))
    assert other["metrics"]["refund_rate"]["value"] == pytest.approx(rest.refunded_amount.sum() / rest.amount.sum())
    before = counted(demo_shop, BEFORE)
    before_rest = before[~before.category.isin(shown)]
    assert other["metrics"]["gmv"]["previous"] == pytest.approx(before_rest.amount.sum(), abs=CENT)
    table = reply.tables[0]
    assert len(table.rows) == limit + 1 and other_label(table.rows) == [f"other ({other['rows']} more)"]


async def test_kpi_by_dimension_with_room_for_all_has_no_other(chat: Chat) -> None:
    reply = await chat.send("kpi gmv last 7d by channel")
    assert reply.data["other"] is None and not other_label(reply.tables[0].rows)


@pytest.mark.parametrize("metric", ["gmv", "orders", "aov"])
async def test_top(chat: Chat, demo_shop: Shop, monkeypatch: pytest.MonkeyPatch, metric: str) -> None:
    monkeypatch.setattr(analysis, "TOP_ROWS", 4)
    reply = await chat.send(f"top category by {metric} last 7d vs previous")
    assert not reply.error, reply.plain_text()
    rows, other = reply.data["rows"], reply.data["other"]
    assert other["rows"] == len(rows) - 4
    o = counted(demo_shop, WEEK)
    rest = o[~o.category.isin([r["category"] for r in rows[:4]])]
    if metric == "aov":
        assert other["value"] == pytest.approx(rest.amount.sum() / len(rest))
    else:
        shown = math.fsum(r["value"] for r in rows[:4])
        assert shown + other["value"] == pytest.approx(reply.data["total"], abs=CENT)
        assert reply.data["total"] == pytest.approx(o.amount.sum() if metric == "gmv" else len(o), abs=CENT)
    # shares are of GMV for AOV too (its numerator): shown + other = 100 %
    assert math.fsum(r["share"] for r in rows[:4]) + other["share"] == pytest.approx(1.0, abs=1e-12)
    assert other["share"] == pytest.approx(rest.amount.sum() / o.amount.sum() if metric != "orders"
                                           else len(rest) / len(o))
    assert len(reply.tables[0].rows) == 5 and reply.tables[0].rows[-1][1] == f"other ({other['rows']} more)"


@pytest.mark.parametrize("metric", ["gmv", "orders", "aov", "refund_rate"])
async def test_movers(chat: Chat, demo_shop: Shop, metric: str) -> None:
    reply = await chat.send(f"movers {metric} last 7d by category")
    assert not reply.error, reply.plain_text()
    contribs, other = reply.data["dimensions"]["category"], reply.data["other"]["category"]
    shown = len(contribs) - other["rows"]
    assert shown == analysis.MOVER_ROWS and len(reply.tables[0].rows) == shown + 1
    change = reply.data["change"]
    parts = math.fsum(c["contribution"] for c in contribs[:shown]) + other["contribution"]
    assert parts == pytest.approx(change, abs=CENT if metric in ("gmv", "orders") else 1e-12)
    # and the percentages of the change in the table add to 100 %
    of_change = [float(r[2].rstrip("%")) for r in reply.tables[0].rows]
    assert sum(of_change) == pytest.approx(100.0, abs=0.01 * len(of_change))
    o = counted(demo_shop, WEEK)
    rest = o[~o.category.isin([c["value"] for c in contribs[:shown]])]
    expected = {"gmv": rest.amount.sum(), "orders": len(rest), "aov": rest.amount.sum() / len(rest),
                "refund_rate": rest.refunded_amount.sum() / rest.amount.sum()}[metric]
    assert other["current"] == pytest.approx(expected)


async def test_movers_of_every_channel_shows_them_all(chat: Chat) -> None:
    """The issue's case: 5 of 6 channels summed to more than the change; one left over is shown by name."""
    reply = await chat.send("movers gmv last 7d by channel")
    assert "channel" not in reply.data["other"]
    contribs = reply.data["dimensions"]["channel"]
    assert len(reply.tables[0].rows) == len(contribs) == 6
    assert math.fsum(c["contribution"] for c in contribs) == pytest.approx(reply.data["change"], abs=CENT)


@pytest.mark.parametrize("limit", [1, 3])
async def test_digest_movers(chat: Chat, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    monkeypatch.setattr(digest, "DIGEST_MOVERS", limit)
    reply = await chat.send("digest")
    assert not reply.error, reply.plain_text()
    change = reply.data["movers_change"]
    assert change == pytest.approx(reply.data["metrics"]["gmv"]["change"], abs=CENT)
    table = next(t for t in reply.tables if t.columns[-1] == "Contribution")
    for dim, shown in reply.data["movers"].items():
        other = reply.data["movers_other"][dim]
        assert len(shown) == limit
        assert math.fsum(c["contribution"] for c in shown) + other["contribution"] == pytest.approx(change, abs=CENT)
        assert f"other ({other['rows']} more)" in [r[1] for r in table.rows if r[0] == dim]


async def test_plan_weeks(chat: Chat) -> None:
    reply = await chat.send("plan gmv 3000000 2027")
    assert not reply.error, reply.plain_text()
    weeks, later = reply.data["weeks"], reply.data["weeks_other"]
    table = reply.tables[1]
    shown = len(table.rows) - 1
    assert later["rows"] == len(weeks) - shown > 0 and table.rows[-1][0] == f"{later['rows']} later weeks"
    assert math.fsum(w["target"] for w in weeks[:shown]) + later["target"] == pytest.approx(3_000_000, abs=CENT)
    assert sum(int(r[1]) for r in table.rows) == 365


async def test_trend_by_keeps_an_other_line(chat: Chat) -> None:
    """A split trend draws the top slices and "other": together they are the total, day by day."""
    split = await chat.send("trend gmv last 7d by category")
    total = await chat.send("trend gmv last 7d")
    lines = {s["line"]: s["points"] for s in split.data["series"]}
    assert "other" in lines
    for i, point in enumerate(total.data["series"][0]["points"]):
        assert math.fsum(points[i]["value"] for points in lines.values()) == pytest.approx(point["value"], abs=CENT)
