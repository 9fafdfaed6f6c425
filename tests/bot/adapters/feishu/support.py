"""Helpers the Feishu adapter tests share: the adapter's config against the fake, the
environment `opsbot run` reads, independent computations from the demo shop, card readers."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from bot.adapters.feishu.config import FeishuConfig
from metrics.data.sample import Shop
from tests.conftest import TODAY
from tests.fakes.feishu_api import APP_ID, APP_SECRET, FakeFeishu

ENCRYPT_KEY = "feishu-encrypt-key-value-4567"
VERIFY_TOKEN = "feishu-verification-token-89ab"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MESSAGES = "/open-apis/im/v1/messages"
LONG_TABLE_ROWS = 400  # rows of the test-only `longtable` command


def long_table_row(i: int) -> list[str]:
    """Row i of `longtable`: an SKU line as a ranking would show it (name, GMV, orders, change)."""
    return [f"SKU-{i:04d} · 无线蓝牙耳机 降噪版 电子产品/音频/耳机 · 旗舰店", f"¥{(i * 7919) % 100_000:,}.{i % 100:02d}",
            f"{(i * 31) % 5000:,}", f"{'+' if i % 3 else '-'}{i % 97}.{i % 10}%"]


def env(fake: FakeFeishu, **extra: str) -> dict[str, str]:
    """The FEISHU_* variables `opsbot run` reads, pointing at the fake."""
    return {"FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": APP_SECRET, "FEISHU_API_URL": fake.url, **extra}


def config(fake: FakeFeishu, **overrides: Any) -> FeishuConfig:
    """The adapter's config against the fake, its in-send back-off milliseconds apart."""
    values: dict[str, Any] = {"app_id": APP_ID, "app_secret": APP_SECRET, "api_url": fake.url,
                              "retry_backoff": 0.01, "connect_timeout": 10}
    return FeishuConfig(**{**values, **overrides})


def gmv_yesterday(shop: Shop) -> float:
    """GMV by its definition (docs/kpis.md): amounts of the orders not cancelled, ordered yesterday."""
    o = shop.orders
    day = o.ordered_at.dt.date
    return float(o[(o.status != "cancelled") & (day == TODAY - timedelta(days=1))].amount.sum())


def orders_yesterday(shop: Shop) -> int:
    """Orders by its definition: orders not cancelled, ordered yesterday."""
    o = shop.orders
    return int(((o.status != "cancelled") & (o.ordered_at.dt.date == TODAY - timedelta(days=1))).sum())


def number(text: str) -> float:
    return float(re.sub(r"[^\d.]", "", text))


def lark_md(card: Any) -> list[str]:
    """The content of every lark_md text in a card (what Feishu reads as markdown)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "lark_md" and isinstance(node.get("content"), str):
                out.append(node["content"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(card)
    return out
