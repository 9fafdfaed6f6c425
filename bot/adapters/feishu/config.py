"""The Feishu adapter's configuration: `FeishuConfig` from `[feishu]` and the FEISHU_* environment.

Secrets (app secret, verification token, encrypt key) come only from the environment and are kept
out of repr, so a logged config never shows them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from bot.adapters.base import required_env
from bot.config import FeishuSection, Settings
from bot.errors import ConfigError

DOMAINS = {"feishu": "https://open.feishu.cn", "lark": "https://open.larksuite.com"}


@dataclass(frozen=True)
class FeishuConfig:
    app_id: str
    app_secret: str = field(repr=False)
    mode: Literal["ws", "http"] = "ws"
    domain: Literal["feishu", "lark"] = "feishu"
    api_url: str = DOMAINS["feishu"]
    verification_token: str | None = field(default=None, repr=False)
    encrypt_key: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 3001
    path: str = "/feishu/events"
    timeout: float = 10
    max_retries: int = 3
    retry_backoff: float = 0.5  # first wait of the 5xx/rate-limit back-off, doubled per attempt
    drain_timeout: float = 30
    connect_timeout: float = 15
    max_wait: float = 30.0  # longest a send waits for a slot in the rate windows before the outbox retries

    @property
    def language(self) -> str | None:
        """Lark is Feishu's international edition: its chats default to English, Feishu's to Chinese."""
        return "en" if self.domain == "lark" else None

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.app_secret, self.verification_token, self.encrypt_key) if s)


def config_from_env(settings: Settings, environ: Mapping[str, str] | None = None) -> FeishuConfig:
    env = os.environ if environ is None else environ
    section = settings.feishu or FeishuSection()

    def need(name: str, why: str) -> str:
        return required_env(env, name, why)

    app_id = need("FEISHU_APP_ID", "the App ID (cli_…) from the app's Credentials & Basic Info page")
    app_secret = need("FEISHU_APP_SECRET", "the App Secret from the app's Credentials & Basic Info page")
    token = key = None
    if section.mode == "http":
        why = 'HTTP mode ([feishu] mode = "http") checks every callback with it (Events & Callbacks > Encryption)'
        token = need("FEISHU_VERIFICATION_TOKEN", why)
        key = need("FEISHU_ENCRYPT_KEY", why)
    if not section.path.startswith("/"):
        raise ConfigError(f"[feishu] path must start with '/', got {section.path!r}")
    api_url = (env.get("FEISHU_API_URL") or DOMAINS[section.domain]).strip().rstrip("/")
    if not re.match(r"^https?://[^/]+$", api_url):
        raise ConfigError(f"FEISHU_API_URL must be a scheme and host such as {DOMAINS['feishu']}, got {api_url!r}")
    return FeishuConfig(app_id=app_id, app_secret=app_secret, mode=section.mode, domain=section.domain,
                        api_url=api_url, verification_token=token, encrypt_key=key, host=section.host,
                        port=section.port, path=section.path)
