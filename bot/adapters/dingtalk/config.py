"""The DingTalk adapter's configuration: `DingTalkConfig` from `[dingtalk]` and the DINGTALK_* environment.

The app secret comes only from the environment and is kept out of repr, so a logged config never
shows it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from bot.adapters.base import required_env
from bot.config import DingTalkSection, Settings
from bot.errors import ConfigError

API_URL = "https://api.dingtalk.com"  # the v1.0 OpenAPI: token, robot messages, cards, Stream gateway
OAPI_URL = "https://oapi.dingtalk.com"  # the older API, still the one for media uploads


@dataclass(frozen=True)
class DingTalkConfig:
    client_id: str  # the app's Client ID (formerly AppKey)
    client_secret: str = field(repr=False)
    robot_code: str = ""  # the robot's code; for an internal app's robot it is the Client ID
    mode: Literal["stream", "http"] = "stream"
    api_url: str = API_URL
    oapi_url: str = OAPI_URL
    host: str = "127.0.0.1"
    port: int = 3002
    path: str = "/dingtalk/events"
    timeout: float = 10
    max_retries: int = 3
    retry_backoff: float = 0.5  # first wait of the 5xx/rate-limit back-off, doubled per attempt
    max_wait: float = 30.0  # longest a push waits for a group's per-minute slot before the outbox retries
    drain_timeout: float = 30
    connect_timeout: float = 15
    reconnect_max: float = 30.0  # the Stream reconnect back-off's ceiling

    @property
    def robot(self) -> str:
        return self.robot_code or self.client_id

    @property
    def buttons(self) -> bool:
        """Card buttons call back over the Stream connection only; the HTTP mode shows them as hints."""
        return self.mode == "stream"


def _base(env: Mapping[str, str], name: str, default: str) -> str:
    url = (env.get(name) or default).strip().rstrip("/")
    if not re.match(r"^https?://[^/]+$", url):
        raise ConfigError(f"{name} must be a scheme and host such as {default}, got {url!r}")
    return url


def config_from_env(settings: Settings, environ: Mapping[str, str] | None = None) -> DingTalkConfig:
    env = os.environ if environ is None else environ
    section = settings.dingtalk or DingTalkSection()
    where = "the app's Credentials & Basic Info page in the DingTalk developer console (open-dev.dingtalk.com)"
    client_id = required_env(env, "DINGTALK_CLIENT_ID", f"the Client ID (AppKey) from {where}")
    client_secret = required_env(env, "DINGTALK_CLIENT_SECRET", f"the Client Secret (AppSecret) from {where}")
    if not section.path.startswith("/"):
        raise ConfigError(f"[dingtalk] path must start with '/', got {section.path!r}")
    return DingTalkConfig(client_id=client_id, client_secret=client_secret,
                          robot_code=env.get("DINGTALK_ROBOT_CODE", "").strip(), mode=section.mode,
                          api_url=_base(env, "DINGTALK_API_URL", API_URL),
                          oapi_url=_base(env, "DINGTALK_OAPI_URL", OAPI_URL),
                          host=section.host, port=section.port, path=section.path)
