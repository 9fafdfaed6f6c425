"""The Feishu OpenAPI through lark-oapi's `Client`: send, reply, patch a card, upload images and files.

The SDK's calls are synchronous (its async variants still fetch the tenant token with blocking
`requests` on the caller's loop), so each call runs in a thread, from a pool of the adapter's own:
a slow Feishu (each call may block up to the timeout) must never take the threads of the loop's
default pool, on which the outbox, the state database and the other platforms run. Transient
failures (rate limits, 5xx, no answer) are retried here with a doubling back-off, honouring the
gateway's x-ogw-ratelimit-reset; what is left raises `FeishuApiError` or the network's exception.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lark_oapi as lark
import requests
from lark_oapi.api.im.v1 import (
    CreateFileRequest,
    CreateFileRequestBody,
    CreateImageRequest,
    CreateImageRequestBody,
    CreateMessageRequest,
    CreateMessageRequestBody,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)

from bot.adapters.feishu.config import FeishuConfig
from bot.adapters.feishu.errors import FeishuApiError, from_response

log = logging.getLogger(__name__)
NETWORK_ERRORS = (requests.RequestException, TimeoutError, ConnectionError)
MAX_WAIT = 30.0  # never sleep longer than this on one back-off, whatever the gateway says
API_THREADS = 16  # SDK calls in flight at once (the outbox serves 8 chats at once, answers come beside)


class OpenAPI:
    def __init__(self, config: FeishuConfig) -> None:
        self.config = config
        self.client = (lark.Client.builder().app_id(config.app_id).app_secret(config.app_secret)
                       .domain(config.api_url).timeout(config.timeout).log_level(lark.LogLevel.WARNING).build())
        self._pool: ThreadPoolExecutor | None = None

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(API_THREADS, thread_name_prefix="feishu-api")
        return self._pool

    def close(self) -> None:
        """Let the pool's threads go once their calls are done (a later call starts a new pool)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    async def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            try:
                # as asyncio.to_thread does, with the caller's context variables
                response = await asyncio.get_running_loop().run_in_executor(
                    self._threads(), contextvars.copy_context().run, fn)
                if response.success():
                    return getattr(response, "data", None)  # a patch answers no data
                error: Exception = from_response(response)
            except NETWORK_ERRORS as exc:
                error = exc
            except ValueError as exc:  # the SDK could not parse the body (an HTML 502 page)
                error = FeishuApiError(None, f"unreadable answer ({type(exc).__name__})")
            retry = isinstance(error, NETWORK_ERRORS) or (isinstance(error, FeishuApiError) and error.transient)
            if not retry or attempt >= self.config.max_retries:
                raise error
            wait = self.config.retry_backoff * 2 ** attempt
            if isinstance(error, FeishuApiError) and error.retry_after:
                wait = max(wait, error.retry_after)
            attempt += 1
            log.warning("feishu: %s failed (%s); retry %d in %.1f s", what, error, attempt, min(wait, MAX_WAIT))
            await asyncio.sleep(min(wait, MAX_WAIT))

    async def create(self, chat_id: str, msg_type: str, content: dict[str, Any]) -> str:
        body = (CreateMessageRequestBody.builder().receive_id(chat_id).msg_type(msg_type)
                .content(json.dumps(content, ensure_ascii=False)).build())
        request = CreateMessageRequest.builder().receive_id_type("chat_id").request_body(body).build()
        data = await self._call("send", lambda: self.client.im.v1.message.create(request))
        return str(data.message_id)

    async def reply(self, message_id: str, msg_type: str, content: dict[str, Any]) -> str:
        body = (ReplyMessageRequestBody.builder().msg_type(msg_type)
                .content(json.dumps(content, ensure_ascii=False)).build())
        request = ReplyMessageRequest.builder().message_id(message_id).request_body(body).build()
        data = await self._call("reply", lambda: self.client.im.v1.message.reply(request))
        return str(data.message_id)

    async def patch(self, message_id: str, card: dict[str, Any]) -> None:
        body = PatchMessageRequestBody.builder().content(json.dumps(card, ensure_ascii=False)).build()
        request = PatchMessageRequest.builder().message_id(message_id).request_body(body).build()
        await self._call("card update", lambda: self.client.im.v1.message.patch(request))

    async def upload_image(self, png: bytes) -> str:
        def call() -> Any:
            body = CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(png)).build()
            return self.client.im.v1.image.create(CreateImageRequest.builder().request_body(body).build())
        data = await self._call("image upload", call)
        return str(data.image_key)

    async def upload_file(self, filename: str, content: bytes) -> str:
        def call() -> Any:
            body = (CreateFileRequestBody.builder().file_type("stream").file_name(filename)
                    .file(io.BytesIO(content)).build())
            return self.client.im.v1.file.create(CreateFileRequest.builder().request_body(body).build())
        data = await self._call("file upload", call)
        return str(data.file_key)
