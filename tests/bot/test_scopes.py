"""Row-level scopes: a scoped chat sees exactly what it would see if the shop held only its rows.

The reference is independent of the scoping code: a second warehouse built from only the
in-scope rows (filtered here with pandas), read by an unscoped chat. Every command example,
the digest and the alert scan must give the scoped chat the same reply as the reference —
numbers, tables and CSV exports alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from bot.app import build_dispatcher
from bot.config import Settings
from bot.context import ChatRef, Incoming
from bot.dispatch import Dispatcher
from bot.reply import Reply
from bot.state.store import Store
from handlers.digest import DigestSpec, build_digest
from metrics.data.load import write_shop
from metrics.data.sample import Shop
from metrics.data.warehouse import Warehouse
from tests.conftest import DEMO_SPEC, NOW, Clock, pg_scratch_url, rounded

SCOPED = "slack:CSOCIAL"
ADMIN = "slack:UADMIN"


def only(shop: Shop, channel: str) -> Shop:
    def keep(frame: Any) -> Any:
        return frame[frame["channel"] == channel].reset_index(drop=True)

    orders = keep(shop.orders)

    def of_orders(frame: Any) -> Any:
        return frame[frame["order_id"].isin(orders["order_id"])].reset_index(drop=True)

    # lines, shipments and returns come with their orders; a channel team sees no products or stock
    return Shop(orders, keep(shop.traffic), keep(shop.marketing_spend), shop.labels, shop.promotions,
                order_lines=of_orders(shop.order_lines), shipments=of_orders(shop.shipments),
                returns=of_orders(shop.returns), products=shop.products.iloc[0:0], inventory=shop.inventory.iloc[0:0])


def warehouse_url(backend: str, tmp: Path, name: str) -> str:
    return pg_scratch_url(f"opsbot_scope_{name}") if backend == "postgresql" else f"duckdb:///{tmp / name}.duckdb"


@pytest.fixture(scope="module")
def urls(backend: str, demo_shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("scopes")
    out = {}
    for name, shop in (("full", demo_shop), ("social", only(demo_shop, "social"))):
        out[name] = warehouse_url(backend, tmp, name)
        engine = create_engine(out[name])
        write_shop(engine, shop, DEMO_SPEC)
        engine.dispose()
    return out


@contextmanager
def bot(url: str, scopes: dict[str, Any], tmp: Path, name: str) -> Iterator[Dispatcher]:
    settings = Settings.model_validate({
        "warehouse": {"url": url},
        "access": {"chats": [SCOPED, "slack:CALL"], "admins": [ADMIN], "scopes": scopes},
        "limits": {"user_per_minute": 10_000, "chat_per_minute": 10_000},  # a whole command list in a minute
    })
    store = Store(f"sqlite:///{tmp / name}.db")
    warehouse = Warehouse.from_url(url, settings.mapping())
    yield build_dispatcher(settings, warehouse, clock=Clock(NOW), store=store)
    warehouse.engine.dispose()
    store.dispose()


@pytest.fixture
def scoped_bot(urls: dict[str, str], tmp_path: Path) -> Iterator[Dispatcher]:
    with bot(urls["full"], {SCOPED: {"channel": "social"}}, tmp_path, "scoped") as dispatcher:
        yield dispatcher


@pytest.fixture
def reference_bot(urls: dict[str, str], tmp_path: Path) -> Iterator[Dispatcher]:
    with bot(urls["social"], {}, tmp_path, "reference") as dispatcher:
        yield dispatcher


def comparable(reply: Reply) -> Any:
    out = reply.to_json()
    # charts are drawn from the same numbers; their bytes are matplotlib's business
    out["charts"] = [c["title"] for c in out["charts"]]
    return rounded(out)


async def ask(dispatcher: Dispatcher, text: str, chat: str = SCOPED) -> Reply:
    return await dispatcher.dispatch(Incoming(text=text, chat=ChatRef.parse(chat), user=ADMIN))


def examples(dispatcher: Dispatcher) -> list[str]:
    # whoami and audit describe the chat itself (its scope, its log), not the shop
    return [e for c in dispatcher.commands if c.name not in ("whoami", "audit") for e in c.examples]


async def test_every_command_sees_only_the_chats_rows(scoped_bot: Dispatcher, reference_bot: Dispatcher) -> None:
    texts = examples(scoped_bot)
    assert len(texts) > 60
    for text in texts:
        scoped, reference = await ask(scoped_bot, text), await ask(reference_bot, text)
        assert not scoped.data.get("error") == "incident", text
        assert comparable(scoped) == comparable(reference), text


async def test_exports_hold_only_in_scope_customers(scoped_bot: Dispatcher, reference_bot: Dispatcher) -> None:
    scoped = await ask(scoped_bot, "segments export champions")
    reference = await ask(reference_bot, "segments export champions")
    assert scoped.files and scoped.files[0].content == reference.files[0].content
    assert len(scoped.files[0].content.splitlines()) > 2


async def test_an_unscoped_chat_still_sees_the_whole_shop(scoped_bot: Dispatcher, demo_shop: Shop) -> None:
    reply = await ask(scoped_bot, "top channel by orders yesterday", chat="slack:CALL")
    day = (NOW - timedelta(days=1)).date()
    orders = demo_shop.orders[(demo_shop.orders.ordered_at.dt.date == day) & (demo_shop.orders.status != "cancelled")]
    assert len(orders.channel.unique()) > 1
    assert len(reply.tables[0].rows) == len(orders.channel.unique())


async def test_the_scheduled_digest_is_built_per_scope(scoped_bot: Dispatcher, reference_bot: Dispatcher,
                                                        tmp_path: Path) -> None:
    from bot.delivery import scheduler as sched
    from bot.delivery.outbox import Deliverer, Outbox

    spec = DigestSpec(cadence="daily", metrics=(), by="channel")
    outbox = Outbox(scoped_bot.services.store)
    rt = sched.Runtime(scoped_bot, outbox, Deliverer(outbox, {}), clock=lambda: NOW.astimezone())
    # the unscoped chat's digest is built first and cached: the scoped chat must not get it
    whole = await sched._digest(rt, ChatRef.parse("slack:CALL"), spec, NOW)
    scoped = await sched._digest(rt, ChatRef.parse(SCOPED), spec, NOW)
    reference = await build_digest(reference_bot.context_for(ChatRef.parse(SCOPED)), spec, NOW)
    assert comparable(scoped) == comparable(reference)
    assert comparable(whole) != comparable(scoped)


async def test_alerts_are_detected_on_the_chats_own_rows(urls: dict[str, str], tmp_path: Path) -> None:
    from handlers.alerts import scan_day

    routes = [{"chat": SCOPED}, {"chat": "slack:CALL"}]
    results = {}
    for name, url, scopes in (("scoped", urls["full"], {SCOPED: {"channel": "social"}}),
                              ("reference", urls["social"], {})):
        settings = Settings.model_validate({
            "warehouse": {"url": url}, "access": {"chats": [SCOPED, "slack:CALL"], "scopes": scopes},
            "alerts": {"routes": routes, "sensitivity": "high", "quiet_hours": None},
        })
        store = Store(f"sqlite:///{tmp_path / name}.db")
        warehouse = Warehouse.from_url(url, settings.mapping())
        dispatcher = build_dispatcher(settings, warehouse, clock=Clock(NOW), store=store)
        ctx = dispatcher.context_for(ChatRef("console", "scheduler"))
        found = {}
        # several days, so that some days have anomalies in the social channel
        for back in range(1, 8):
            day = NOW.date() - timedelta(days=back)
            for chat_scan in scan_day(ctx, day, datetime.combine(day + timedelta(days=1), datetime.min.time())
                                      .replace(hour=8).astimezone()):
                found.setdefault(chat_scan.chat, []).append(
                    sorted((a.series, a.day) for a in chat_scan.outcome.push))
        results[name] = found
        warehouse.engine.dispose()
        store.dispose()
    scoped, reference = results["scoped"].get(SCOPED), results["reference"].get(SCOPED)
    assert scoped == reference
    assert any(scoped or [])  # something was detected, so the comparison means something
    # the unscoped chat scanned the whole shop, where other channels' slices show up
    whole = {s for day in results["scoped"]["slack:CALL"] for s, _ in day}
    assert any(re.search(r"channel=(?!social)", s) for s in whole)


def test_a_scope_on_an_unknown_dimension_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unknown dimension 'colour'"):
        Settings.model_validate({"access": {"scopes": {SCOPED: {"colour": "red"}}}})


async def test_region_scoped_chat_gets_no_shop_wide_traffic(urls: dict[str, str], tmp_path: Path,
                                                            demo_shop: Shop) -> None:
    with bot(urls["full"], {SCOPED: {"region": ["east", "west"]}}, tmp_path, "region") as dispatcher:
        await _region_scoped(dispatcher, demo_shop)


async def _region_scoped(dispatcher: Dispatcher, demo_shop: Shop) -> None:
    reply = await ask(dispatcher, "kpi gmv orders conversion yesterday")
    day = (NOW - timedelta(days=1)).date()
    o = demo_shop.orders
    mine = o[(o.ordered_at.dt.date == day) & o.region.isin(["east", "west"]) & (o.status != "cancelled")]
    assert reply.data["metrics"]["gmv"]["value"] == pytest.approx(mine.amount.sum())
    assert reply.data["metrics"]["orders"]["value"] == len(mine)
    # sessions are not recorded by region: conversion is not shown rather than shop-wide
    assert reply.data["unavailable"] == ["conversion"]
    assert "region" in reply.plain_text().lower()
    # and no other region ever appears in an answer
    for text in ("top region by gmv last 30d", "movers gmv yesterday", "segments export champions"):
        body = str((await ask(dispatcher, text)).to_json())
        assert not re.search(r"\b(north|south|central|northeast|northwest|southwest)\b", body), text
    whoami = await ask(dispatcher, "whoami")
    assert "region" in whoami.plain_text() and "east" in whoami.plain_text()


async def test_every_help_example_answers_in_a_region_scoped_chat(urls: dict[str, str], tmp_path: Path) -> None:
    """Traffic and spend are recorded per channel only: a region-scoped chat gets them as n/a with
    the reason, and no command (as `help <command>` lists its examples) ends in an incident."""
    with bot(urls["full"], {SCOPED: {"region": ["east"]}}, tmp_path, "region_examples") as dispatcher:
        texts = []
        for command in dispatcher.commands:
            listed = await ask(dispatcher, f"help {command.name}")
            assert listed.data["examples"] == list(command.examples)
            texts += listed.data["examples"]
        assert len(texts) > 60
        incidents = []
        for text in texts:
            reply = await ask(dispatcher, text)  # ADMIN: the admin-only examples are allowed
            if reply.data.get("error") in ("incident", "data_unavailable"):
                incidents.append(text)
        assert incidents == []
        funnel = await ask(dispatcher, "funnel last 30d")
        steps = {s["step"]: s["count"] for s in funnel.data["steps"]}
        assert [steps[s] for s in ("sessions", "product_views", "add_to_cart")] == [None, None, None]
        assert steps["orders"] > 0
        assert "not recorded per region" in funnel.plain_text()
