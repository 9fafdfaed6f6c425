"""The outgoing robot's HTTP callbacks (`[dingtalk] mode = "http"`), checked before anything reads them.

DingTalk posts each robot message to the configured URL with two headers: `timestamp`
(milliseconds) and `sign` = base64(HMAC-SHA256(key = app secret, timestamp + "\\n" + app
secret)). A missing or wrong signature, or a timestamp more than an hour from now, gets 401; a
body that is not a JSON object, 400. Each accepted request is recorded through the dispatcher's
replay guard (issue 23): its second use gets a 200 and nothing else. The answer is an empty 200
at once; the reply goes out through the OpenAPI.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.adapters.dingtalk.config import DingTalkConfig
from bot.adapters.dingtalk.limits import SIGNATURE_MAX_AGE
from bot.state.shared import ReplayGuard, SignedRequest

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024  # a robot message is small; anything bigger is no robot message


def signature(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class CallbackServer:
    """The aiohttp endpoint; `handle(payload)` gets each verified, first-time robot message."""

    def __init__(self, config: DingTalkConfig, replays: ReplayGuard,
                 handle: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.config = config
        self.replays = replays
        self.handle = handle
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self.config.path, self.endpoint)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.config.host, self.config.port).start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}{self.config.path}"
        log.info("dingtalk: outgoing robot callbacks on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def endpoint(self, request: web.Request) -> web.Response:
        ts = request.headers.get("timestamp", "")
        sign = request.headers.get("sign", "")
        fresh = ts.isdigit() and abs(time.time() * 1000 - int(ts)) <= SIGNATURE_MAX_AGE * 1000
        if not fresh or not sign or not hmac.compare_digest(sign.encode(),
                                                             signature(ts, self.config.client_secret).encode()):
            log.warning("dingtalk: refused a callback with a stale, missing or wrong signature")
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            payload = json.loads(await request.read())
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            log.warning("dingtalk: refused a callback that is not a JSON object")
            return web.json_response({"error": "not a robot message"}, status=400)
        # the signature covers the timestamp only, not the body: each signature acts once, whatever
        # body comes with it (a captured one cannot carry a second, forged message)
        guard = SignedRequest("dingtalk", "command", f"dingtalk:req:{sign}",
                              int(ts) / 1000 + SIGNATURE_MAX_AGE, chat=str(payload.get("conversationId") or ""),
                              user=str(payload.get("senderStaffId") or ""))
        if await self.replays.admit(guard):
            await self.handle(payload)
        return web.json_response({})
