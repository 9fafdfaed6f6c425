"""The WeCom adapter's configuration: `WeComConfig`, read from `[wecom] robots` (chat name -> the
environment variable holding the robot's webhook key) and WECOM_API_URL (a replacement for
https://qyapi.weixin.qq.com, for tests and proxies)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

from bot.config import Settings, WeComSection
from bot.errors import ConfigError

DEFAULT_API_URL = "https://qyapi.weixin.qq.com"
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Robot:
    """One group robot; the key stays out of repr so it never reaches a log."""

    name: str
    env: str
    key: str = field(repr=False)


@dataclass(frozen=True)
class WeComConfig:
    robots: dict[str, Robot]
    api_url: str = DEFAULT_API_URL
    timeout: float = 15.0
    # how long a send may wait for a slot in a robot's one-minute window before the outbox is told to
    # retry later; a minute and a bit, so a burst waits instead of spending the item's attempts
    max_wait: float = 65.0


def normalize_api_url(url: str) -> str:
    """WECOM_API_URL as a base without a trailing slash (paths are appended to it)."""
    url = url.strip()
    if not re.match(r"^https?://[^/]+", url):
        raise ConfigError(f"WECOM_API_URL must be an http(s) URL such as {DEFAULT_API_URL}, got {url!r}")
    return url.rstrip("/")


def _key_of(value: str, env: str) -> str:
    """The key itself; the whole webhook URL pasted into the variable is accepted too."""
    value = value.strip()
    if value.startswith(("http://", "https://")):
        keys = parse_qs(urlparse(value).query).get("key") or [""]
        value = keys[0]
    if not _KEY.match(value):
        raise ConfigError(f"{env} must hold the group robot's webhook key (the key=… part of its webhook URL)")
    return value


def config_from_env(settings: Settings, environ: Mapping[str, str] | None = None) -> WeComConfig:
    env = os.environ if environ is None else environ
    section = settings.wecom or WeComSection()
    if not section.robots:
        raise ConfigError("[wecom] robots is empty: name at least one robot, e.g. robots = { ops = \"WECOM_KEY_OPS\" }")
    robots = {}
    for name, var in section.robots.items():
        value = env.get(var, "").strip()
        if not value:
            raise ConfigError(f"{var} is not set: [wecom] robots.{name} names it as the webhook key of the group "
                              f"robot for chat wecom:{name} (the key=… part of the robot's webhook URL)")
        robots[name] = Robot(name, var, _key_of(value, var))
    return WeComConfig(robots=robots, api_url=normalize_api_url(env.get("WECOM_API_URL") or DEFAULT_API_URL))
