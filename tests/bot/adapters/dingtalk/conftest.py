"""Fixtures the DingTalk adapter tests share: the fake DingTalk, a dispatcher whose [access] lists
DingTalk chats and users (and two test-only commands), the adapter in Stream and in HTTP mode."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.adapters.dingtalk.adapter import DingTalkAdapter, dingtalk_from_env
from bot.app import build_dispatcher
from bot.config import DingTalkSection, Settings
from bot.context import Args, Context
from bot.dispatch import Dispatcher
from bot.reply import Action, Attachment, Chart, Field, Reply, Table
from bot.router import Router
from bot.state.store import Store
from metrics.data.warehouse import Warehouse
from tests.bot.adapters.dingtalk.support import PNG, config, env
from tests.conftest import Clock
from tests.fakes.dingtalk_api import CORP, FakeDingTalk, fake_dingtalk  # noqa: F401

LONG_TABLE_ROWS = 600


def long_table_row(i: int) -> list[str]:
    return [f"SKU-{i:04d}", f"¥{i * 7:,}", f"{i % 100}%"]


@pytest.fixture
def dingtalk_dispatcher(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store) -> Dispatcher:
    """The demo shop's dispatcher with cidOPS and staff_alice allowed (CORP only), and two test-only
    commands: `chartdemo` (fields, a chart, a CSV file, a button) and `longtable`."""
    settings = demo_settings.model_copy(update={
        "access": demo_settings.access.model_copy(update={
            "chats": ("dingtalk:cidOPS",), "users": ("dingtalk:staff_alice",), "admins": (),
            "dingtalk_corps": (CORP,)}),
        "dingtalk": DingTalkSection(mode="stream"),
    })
    # a state database of its own: outbox items and seen events never meet another test's
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock, store=store)
    router = Router()

    @router.command("chartdemo")
    async def chartdemo(ctx: Context, args: Args) -> Reply:
        return Reply(title="GMV trend", fields=[Field("GMV", "¥1", "+1.0%", "up", True)],
                     charts=[Chart(png=PNG, title="GMV, last 30 days", filename="gmv.png")],
                     files=[Attachment("export.csv", b"a,b\n1,2\n", "text/csv", "Export")],
                     actions=[Action("By channel", "kpi gmv by channel")])

    @router.command("longtable")
    async def longtable(ctx: Context, args: Args) -> Reply:
        rows = [long_table_row(i) for i in range(LONG_TABLE_ROWS)]
        return Reply(title="All SKUs", tables=[Table(["SKU", "GMV", "Share"], rows, title="SKUs by GMV")])

    dispatcher.include(router)
    return dispatcher


@pytest.fixture
async def stream_adapter(fake_dingtalk: FakeDingTalk,  # noqa: F811
                         dingtalk_dispatcher: Dispatcher) -> AsyncIterator[DingTalkAdapter]:
    """Built from the environment, as `opsbot run` builds it, and connected to the fake's Stream."""
    adapter = dingtalk_from_env(dingtalk_dispatcher.services.settings, dingtalk_dispatcher, env(fake_dingtalk))
    await adapter.start()
    yield adapter
    await adapter.stop()


@pytest.fixture
async def http_adapter(fake_dingtalk: FakeDingTalk,  # noqa: F811
                       dingtalk_dispatcher: Dispatcher) -> AsyncIterator[DingTalkAdapter]:
    adapter = DingTalkAdapter(dingtalk_dispatcher, config(fake_dingtalk, mode="http", port=0))
    await adapter.start()
    yield adapter
    await adapter.stop()
