"""The Slack adapter's configuration: `SlackConfig`, read from `[slack]` and the SLACK_* environment
variables (`config_from_env`), and the API base URL they may replace."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from bot.adapters.base import required_env
from bot.config import Settings, SlackSection
from bot.errors import ConfigError

DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class SlackConfig:
    """Everything the adapter needs; secrets are kept out of repr so they never reach a log."""

    bot_token: str = field(repr=False)
    mode: Literal["socket", "http"] = "socket"
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    command: str = "/ops"
    host: str = "127.0.0.1"
    port: int = 3000
    path: str = "/slack/events"
    # HTTP mode's listen backlog. aiohttp's default (128) overflows when a team's burst of slash
    # commands arrives at once: the kernel drops the connections beyond it and Slack's client
    # retries them 1, 3 and 7 s later, past the 3-second ack limit (bench/README.md, issue 10).
    backlog: int = 1024
    api_url: str = DEFAULT_API_URL
    max_retries: int = 3
    # first wait of the 5xx/connection backoff (doubles per attempt); 429s wait what Retry-After says
    retry_backoff: float = 0.5
    timeout: int = 30
    ping_interval: float = 10
    connect_timeout: float = 30
    # how long stop() lets replies in flight finish
    drain_timeout: float = 30
    # answers worked on at once; the rest wait their turn (parked, at no cost). The queries run
    # in a small pool anyway, and a thousand answers interleaving on the event loop would delay
    # the acks of the commands still arriving past Slack's 3 seconds (bench/README.md, issue 10).
    answer_concurrency: int = 32
    # HTTP mode: how long an answer may wait for the requests still arriving to be acknowledged
    # first (0: answers start at once); see SlackAdapter._answer
    ack_first_wait: float = 2.0


def normalize_api_url(url: str) -> str:
    """SLACK_API_URL as a base for urljoin: without a trailing slash the last path part is dropped."""
    url = url.strip()
    if not re.match(r"^https?://[^/]+", url):
        raise ConfigError(f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_API_URL}, got {url!r}")
    return url if url.endswith("/") else url + "/"


def config_from_env(settings: Settings, environ: Mapping[str, str] | None = None) -> SlackConfig:
    """The configuration `[slack]` and the SLACK_* environment variables give."""
    env = os.environ if environ is None else environ
    section = settings.slack or SlackSection()

    def need(name: str, why: str) -> str:
        return required_env(env, name, why)

    bot_token = need("SLACK_BOT_TOKEN", "the bot token (xoxb-…) from the Slack app's OAuth & Permissions page")
    app_token = signing_secret = None
    if section.mode == "socket":
        app_token = need(
            "SLACK_APP_TOKEN",
            'Socket Mode (the default [slack] mode) needs an app-level token (xapp-…) with connections:write; '
            'or set [slack] mode = "http" and SLACK_SIGNING_SECRET',
        )
        if not app_token.startswith("xapp-"):
            raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    else:
        signing_secret = need(
            "SLACK_SIGNING_SECRET", "HTTP mode verifies every request with the app's signing secret (Basic Information)"
        )
    if not section.command.startswith("/") or " " in section.command:
        raise ConfigError(f"[slack] command must be a slash command such as '/ops', got {section.command!r}")
    if not section.path.startswith("/"):
        raise ConfigError(f"[slack] path must start with '/', got {section.path!r}")
    api_url = normalize_api_url(env.get("SLACK_API_URL") or DEFAULT_API_URL)
    return SlackConfig(
        bot_token=bot_token,
        mode=section.mode,
        app_token=app_token,
        signing_secret=signing_secret,
        command=section.command,
        host=section.host,
        port=section.port,
        path=section.path,
        api_url=api_url,
    )
