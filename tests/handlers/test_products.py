"""The product commands as dialogue, on the hand-made shop of tests/metrics/products/small_products.py
(the numbers worked out by hand there): `top sku`, `kpi units`, `stock`, `fulfilment`, `returns`,
`sku`, and what each says when its table is missing or the input is wrong."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest

from bot.app import build_dispatcher
from bot.config import Settings
from metrics.data.warehouse import Warehouse
from tests.conftest import Clock
from tests.fakes.chat import Chat
from tests.metrics import small_shop
from tests.metrics.products import small_products

# the day after the hand-made shop's last day, at noon: "yesterday" is 2026-11-03
NOW = datetime(2026, 11, 4, 12)


def chat_over(url: str, tmp_path: Path) -> Chat:
    settings = Settings.model_validate({"warehouse": {"url": url}, "state": {"url": f"sqlite:///{tmp_path / 's.db'}"},
                                        "bot": {"timezone": "Asia/Shanghai"}})
    wh = Warehouse.from_url(url, settings.mapping())
    return Chat(build_dispatcher(settings, wh, clock=Clock(NOW)))


@pytest.fixture
def chat(tmp_path: Path) -> Chat:
    return chat_over(small_products.build(tmp_path / "shop.db"), tmp_path)


async def test_top_sku_by_gmv_reads_the_lines(chat: Chat) -> None:
    reply = await chat.send("top sku by gmv 2026-11-01..2026-11-03")
    assert not reply.error, reply.plain_text()
    assert [(r["sku"], r["value"]) for r in reply.data["rows"]] == [
        ("SKU-H", 550), ("SKU-A", 400), ("SKU-T", 80), ("SKU-X", 55), ("SKU-B", 50)]
    units = await chat.send("kpi units items_per_order 2026-11-01..2026-11-03")
    assert not units.error, units.plain_text()
    assert {k: v["value"] for k, v in units.data["metrics"].items()} == pytest.approx(
        {"units": 12, "items_per_order": 12 / 5})


async def test_stock_lists_the_sku_at_risk_with_its_export(chat: Chat) -> None:
    reply = await chat.send("stock")
    assert not reply.error, reply.plain_text()
    assert [r["sku"] for r in reply.data["at_risk"]] == ["SKU-T"]
    assert reply.data["at_risk"][0]["gmv_at_stake"] == pytest.approx(80 / 28 * 3)
    [out] = reply.data["stockouts"]
    assert (out["sku"], out["first"], out["days"], out["ongoing"]) == ("SKU-T", "2026-11-02", 2, True)
    [export] = reply.files
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [r["sku"] for r in rows] == ["SKU-T"] and rows[0]["cover_days"] == "0.0"
    assert "Puzzle" in reply.plain_text()  # the product's name, from products


async def test_fulfilment_by_carrier(chat: Chat) -> None:
    reply = await chat.send("fulfilment 2026-11-01..2026-11-03 by carrier")
    assert not reply.error, reply.plain_text()
    # at the clock's 11-04 12:00 with the default 24 h SLA: 12 due, 4 on time (the hand count)
    assert (reply.data["total"]["due"], reply.data["total"]["on_time"]) == (12, 4)
    assert {r["key"]: r["on_time"] for r in reply.data["rows"]} == {"sf": 3, "zto": 1}
    bad = await chat.send("fulfilment last 7d by region")
    assert bad.error and "warehouse" in bad.plain_text()


async def test_returns_by_reason_in_chinese(chat: Chat) -> None:
    reply = await chat.send("退货 2026-11-01..2026-11-03 按 reason")
    assert not reply.error, reply.plain_text()
    assert [r["key"] for r in reply.data["rows"]] == ["quality", "size", "damaged"]
    assert "质量问题" in reply.plain_text()
    assert reply.data["total"]["unit_rate"] == pytest.approx(3 / 12)


async def test_a_sku_card_by_code_by_name_and_a_typo(chat: Chat) -> None:
    card = await chat.send("sku sku-t 2026-11-01..2026-11-03")
    assert not card.error, card.plain_text()
    assert (card.data["sku"], card.data["units"], card.data["gmv"]) == ("SKU-T", 4, 80)
    assert card.data["stock"]["on_hand"] == 0 and card.charts
    by_name = await chat.send("sku lamp")
    assert by_name.data["sku"] == "SKU-H"
    typo = await chat.send("sku trail runer")
    assert typo.data.get("sku") == "SKU-A" or "SKU-A" in str(typo.data.get("matches"))
    nothing = await chat.send("sku zzzzqqq")
    assert nothing.error and "zzzzqqq" in nothing.plain_text()


async def test_a_shop_without_the_tables_is_told_what_to_map(tmp_path: Path) -> None:
    plain = chat_over(small_shop.build(tmp_path / "plain.db"), tmp_path)
    for command, table in (("stock", "inventory"), ("fulfilment", "shipments"), ("returns", "returns"),
                           ("top sku by units", None)):
        reply = await plain.send(command)
        assert reply.error, (command, reply.plain_text())
        if table:
            assert f"[warehouse.tables.{table}]" in reply.plain_text(), reply.plain_text()


async def test_top_sku_rows_carry_the_product_names(chat: Chat) -> None:
    reply = await chat.send("top sku by units 2026-11-01..2026-11-03")
    [table] = reply.tables
    assert "SKU-A · Trail runner" in [row[1] for row in table.rows]
    assert "SKU-X" in [row[1] for row in table.rows]  # no product row: the code alone
