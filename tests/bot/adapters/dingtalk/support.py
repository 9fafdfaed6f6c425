"""Helpers the DingTalk adapter tests share: the adapter's config against the fake, the
environment `opsbot run` reads, card readers, an independent computation from the demo shop."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from bot.adapters.dingtalk.config import DingTalkConfig
from metrics.data.sample import Shop
from tests.conftest import TODAY
from tests.fakes.dingtalk_api import APP_KEY, APP_SECRET, CARD_DELIVER, FakeDingTalk

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def env(fake: FakeDingTalk, **extra: str) -> dict[str, str]:
    """The DINGTALK_* variables `opsbot run` reads, pointing at the fake."""
    return {"DINGTALK_CLIENT_ID": APP_KEY, "DINGTALK_CLIENT_SECRET": APP_SECRET, "DINGTALK_API_URL": fake.url,
            "DINGTALK_OAPI_URL": fake.url, **extra}


def config(fake: FakeDingTalk, **overrides: Any) -> DingTalkConfig:
    """The adapter's config against the fake, its in-send back-off and reconnects milliseconds apart."""
    values: dict[str, Any] = {"client_id": APP_KEY, "client_secret": APP_SECRET, "api_url": fake.url,
                              "oapi_url": fake.url, "retry_backoff": 0.01, "connect_timeout": 10,
                              "reconnect_max": 0.2}
    return DingTalkConfig(**{**values, **overrides})


def cards(fake: FakeDingTalk) -> list[dict[str, Any]]:
    """The parameters of every card delivered, in order."""
    return [c.card for c in fake.messages() if c.path == CARD_DELIVER]


def gmv_yesterday(shop: Shop) -> float:
    """GMV by its definition (docs/kpis.md): order amounts of yesterday's orders not cancelled."""
    o = shop.orders
    day = o.ordered_at.dt.date
    return float(o[(o.status != "cancelled") & (day == TODAY - timedelta(days=1))].amount.sum())


def number(text: str) -> float:
    return float(re.sub(r"[^\d.]", "", text))
