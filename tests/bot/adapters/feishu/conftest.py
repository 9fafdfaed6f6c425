"""Fixtures the Feishu adapter tests share: the fake Feishu, a dispatcher whose [access] lists
Feishu chats and users (and a few test-only commands), the adapter on the long connection and
on HTTP callbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.adapters.feishu.adapter import FeishuAdapter, feishu_from_env
from bot.app import build_dispatcher
from bot.config import FeishuSection, Settings
from bot.context import Args, Context
from bot.dispatch import Dispatcher
from bot.reply import Action, Attachment, Chart, Field, Reply, Table
from bot.router import Router
from metrics.data.warehouse import Warehouse
from tests.bot.adapters.feishu.support import (
    ENCRYPT_KEY,
    LONG_TABLE_ROWS,
    PNG,
    VERIFY_TOKEN,
    config,
    env,
    long_table_row,
)
from tests.conftest import Clock
from tests.fakes.feishu_api import TENANT, FakeFeishu, fake_feishu  # noqa: F401


@pytest.fixture
def feishu_dispatcher(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock) -> Dispatcher:
    """The demo shop's dispatcher with oc_ops and ou_alice allowed (tenant_ops only), and two
    test-only commands: `chartdemo` (fields, a chart, a CSV file, a button) and `longtable`
    (LONG_TABLE_ROWS rows of long_table_row)."""
    settings = demo_settings.model_copy(update={
        "access": demo_settings.access.model_copy(update={
            "chats": ("feishu:oc_ops",), "users": ("feishu:ou_alice",), "admins": (),
            "feishu_tenants": (TENANT,)}),
        "feishu": FeishuSection(mode="ws"),
    })
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock)
    router = Router()

    @router.command("chartdemo")
    async def chartdemo(ctx: Context, args: Args) -> Reply:
        return Reply(title="GMV trend", fields=[Field("GMV", "¥1", "+1.0%", "up", True)],
                     charts=[Chart(png=PNG, title="GMV, last 30 days", filename="gmv.png")],
                     files=[Attachment("export.csv", b"a,b\n1,2\n", "text/csv", "Export")],
                     actions=[Action("By channel", "kpi gmv by channel")])

    @router.command("longtable")
    async def longtable(ctx: Context, args: Args) -> Reply:
        return Reply(title="SKU ranking", text=["Every SKU, by GMV"],
                     tables=[Table(["SKU", "GMV", "Orders", "Change"],
                                   [long_table_row(i) for i in range(LONG_TABLE_ROWS)], title="All SKUs")],
                     footer="opsbot · test")

    dispatcher.include(router)
    return dispatcher


@pytest.fixture
async def ws_adapter(fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher) -> AsyncIterator[FeishuAdapter]:  # noqa: F811
    """The adapter on the long connection, built through feishu_from_env as `opsbot run` builds it."""
    adapter = feishu_from_env(feishu_dispatcher.services.settings, feishu_dispatcher, env(fake_feishu))
    await adapter.start()
    yield adapter
    await adapter.stop()


@pytest.fixture
async def http_adapter(fake_feishu: FakeFeishu, feishu_dispatcher: Dispatcher) -> AsyncIterator[FeishuAdapter]:  # noqa: F811
    """The adapter taking signed, encrypted HTTP callbacks on a free port."""
    adapter = FeishuAdapter(feishu_dispatcher, config(fake_feishu, mode="http", port=0, encrypt_key=ENCRYPT_KEY,
                                                      verification_token=VERIFY_TOKEN))
    await adapter.start()
    yield adapter
    await adapter.stop()
