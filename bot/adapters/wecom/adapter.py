"""The WeCom adapter: pushes digests and alerts into group robots' webhooks. Push only.

A group robot is a webhook URL (`/cgi-bin/webhook/send?key=…`): it cannot receive commands, show
buttons or edit a message. So this adapter has `send` and no `edit` (the scheduler's refresh of a
digest after late data finds no `edit` and leaves the posted digest as it is) and no inbound path.

Each part of a reply (`render`: markdown messages, images, files) is posted in order; the parts a
`Progress` says landed before are skipped and each new one is reported as it lands, so a retry
never posts a part twice. WeCom allows 20 messages a minute per robot: `bot.adapters.ratelimit` keeps a
sliding window per robot and waits (up to `max_wait`) for a slot, or raises a non-permanent
`DeliveryError` so the outbox tries again later; it never sends the 21st message of a minute and
never drops one. A 45009 from WeCom (someone else used the key too) closes the robot for a minute.

The webhook key is a secret in the URL's query: it is passed as a request parameter, never
logged, never put in an error reason (aiohttp's exception messages carry the URL, so only the
exception type is kept); logs name the robot.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp

from bot.adapters.base import DeliveryError, Progress, Sent
from bot.adapters.ratelimit import Clock, Limiters, Sleep
from bot.adapters.wecom.config import Robot, WeComConfig, config_from_env
from bot.adapters.wecom.errors import THROTTLED, api_error, http_error, transport_error
from bot.adapters.wecom.limits import MESSAGES_PER_MINUTE, THROTTLE_BACKOFF_SECONDS, WINDOW_SECONDS
from bot.adapters.wecom.render import File, Part, render
from bot.config import Settings
from bot.context import ChatRef
from bot.reply import Reply

log = logging.getLogger(__name__)

class WeComAdapter:
    """Push-only: `start`, `stop`, `send`; no `edit`, no receiving."""

    platform = "wecom"

    def __init__(self, config: WeComConfig, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.config = config
        self.limiters = Limiters(limit=MESSAGES_PER_MINUTE, window=WINDOW_SECONDS, backoff=THROTTLE_BACKOFF_SECONDS,
                                 reason="wecom_rate_limit", clock=clock, sleep=sleep)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))
        log.info("wecom: pushing to %d group robot(s): %s", len(self.config.robots), ", ".join(self.config.robots))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def robot(self, chat: ChatRef) -> Robot:
        robot = self.config.robots.get(chat.id)
        if robot is None:
            raise DeliveryError(f"wecom: no robot named {chat.id!r} in [wecom] robots", permanent=True)
        return robot

    async def send(self, chat: ChatRef, reply: Reply, progress: Progress | None = None) -> Sent:
        robot = self.robot(chat)
        for chart in reply.charts:
            if chart.pending:  # drawing is matplotlib work: off the event loop
                await asyncio.to_thread(lambda c=chart: c.png)
        parts = render(reply)
        done = progress.done if progress is not None else 0
        for index, part in enumerate(parts):
            if index < done:
                continue
            await self.limiters[robot.name].acquire(self.config.max_wait)
            await self._post(robot, part)
            log.info("wecom robot %s: part %d/%d delivered", robot.name, index + 1, len(parts))
            if progress is not None:
                await progress.landed()  # nothing to edit later: no message id
        return Sent(chat, f"{robot.name}:{uuid.uuid4().hex[:16]}")

    async def _post(self, robot: Robot, part: Part) -> None:
        if isinstance(part, File):
            media_id = await self._upload(robot, part)
            payload: dict[str, Any] = {"msgtype": "file", "file": {"media_id": media_id}}
        else:
            payload = part.payload()
        await self._call(robot, "/cgi-bin/webhook/send", {"key": robot.key}, json=payload)

    async def _upload(self, robot: Robot, part: File) -> str:
        form = aiohttp.FormData()
        form.add_field("media", part.content, filename=part.filename, content_type="application/octet-stream")
        answer = await self._call(robot, "/cgi-bin/webhook/upload_media", {"key": robot.key, "type": "file"},
                                  data=form)
        media_id = answer.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise DeliveryError(f"wecom: robot {robot.name}: upload_media answered without a media_id",
                                permanent=False)
        return media_id

    async def _call(self, robot: Robot, path: str, params: Mapping[str, str], **body: Any) -> dict[str, Any]:
        if self._session is None:
            await self.start()
        assert self._session is not None
        try:
            async with self._session.post(self.config.api_url + path, params=params, **body) as response:
                if response.status >= 300:
                    raise http_error(response.status, robot.name)
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    raise http_error(response.status, robot.name) from None
        except DeliveryError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(exc, robot.name) from None  # `from None`: the URL in exc holds the key
        if not isinstance(answer, dict):
            raise http_error(response.status, robot.name)
        code = int(answer.get("errcode", 0) or 0)
        if code != 0:
            if code == THROTTLED:
                self.limiters[robot.name].throttled()
            error = api_error(code, str(answer.get("errmsg", "")), robot.name, robot.key)
            log.warning("wecom robot %s: %s", robot.name, error.reason)
            raise error
        return answer


def wecom_from_env(settings: Settings, environ: Mapping[str, str] | None = None) -> WeComAdapter:
    """The adapter for the robots `[wecom] robots` names, their keys read from the environment."""
    return WeComAdapter(config_from_env(settings, environ))
