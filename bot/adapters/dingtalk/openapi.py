"""DingTalk's OpenAPI over aiohttp: the app's access token, robot messages to a group or a person,
interactive cards (create and deliver, update in place) and media uploads.

The SDK's own helpers are blocking `requests` calls without a timeout against hard-coded hosts,
so this client is ours: every call has a timeout, the hosts come from the configuration (the
tests point them at a fake), and transient failures (throttling, 5xx, no answer) are retried here
with a doubling back-off; an expired token is fetched again once. What is left raises
`DingTalkApiError` or the network's exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.adapters.dingtalk.config import DingTalkConfig
from bot.adapters.dingtalk.errors import DingTalkApiError
from bot.adapters.dingtalk.limits import CARD_TEMPLATE, MAX_MSG_PARAM_BYTES

log = logging.getLogger(__name__)
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError)
MAX_WAIT = 30.0  # never sleep longer than this on one back-off
TOKEN_MARGIN = 300  # fetch a new token five minutes before the old one expires


def is_group(chat_id: str) -> bool:
    """Group chats are openConversationIds ("cid…"); anything else is a person's staff id."""
    return chat_id.startswith("cid")


class OpenAPI:
    def __init__(self, config: DingTalkConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- the access token -------------------------------------------------------------------

    async def token(self) -> str:
        async with self._token_lock:
            if self._token and time.monotonic() < self._token_until:
                return self._token
            body = {"appKey": self.config.client_id, "appSecret": self.config.client_secret}
            answer = await self._v1("POST", "/v1.0/oauth2/accessToken", body, auth=False)
            token = answer.get("accessToken")
            if not isinstance(token, str) or not token:
                raise DingTalkApiError(None, "the token answer holds no accessToken", 200)
            self._token = token
            self._token_until = time.monotonic() + max(60, int(answer.get("expireIn") or 7200) - TOKEN_MARGIN)
            return token

    def forget_token(self) -> None:
        self._token, self._token_until = None, 0.0

    # ---- calls with retries -----------------------------------------------------------------

    async def _v1(self, method: str, path: str, body: dict[str, Any], *, auth: bool = True) -> dict[str, Any]:
        headers = {"x-acs-dingtalk-access-token": await self.token()} if auth else {}
        async with self.session.request(method, self.config.api_url + path, json=body, headers=headers) as response:
            raw = await response.read()
            status = response.status
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            raise DingTalkApiError(None, f"unreadable answer (HTTP {status})", status) from None
        if status >= 300 or not isinstance(answer, dict):
            answer = answer if isinstance(answer, dict) else {}
            raise DingTalkApiError(answer.get("code") or None, str(answer.get("message") or ""), status)
        return answer

    async def _upload(self, kind: str, filename: str, content: bytes, mime: str) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("media", content, filename=filename, content_type=mime)
        params = {"access_token": await self.token(), "type": kind}
        async with self.session.post(self.config.oapi_url + "/media/upload", params=params, data=form) as response:
            raw = await response.read()
            status = response.status
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            raise DingTalkApiError(None, f"unreadable answer (HTTP {status})", status) from None
        if status >= 300 or not isinstance(answer, dict):
            raise DingTalkApiError(None, f"HTTP {status}", status)
        code = int(answer.get("errcode") or 0)
        if code != 0:
            raise DingTalkApiError(code, str(answer.get("errmsg") or ""), status)
        return answer

    async def _retrying(self, what: str, call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return await call()
            except DingTalkApiError as exc:
                if exc.auth_expired:
                    self.forget_token()
                if not exc.transient or attempt >= self.config.max_retries:
                    raise
                problem = str(exc)
            except NETWORK_ERRORS as exc:
                if attempt >= self.config.max_retries:
                    raise
                problem = type(exc).__name__  # aiohttp's messages carry URLs; the upload's holds the token
            wait = min(self.config.retry_backoff * 2 ** attempt, MAX_WAIT)
            attempt += 1
            log.warning("dingtalk: %s failed (%s); retry %d in %.1f s", what, problem, attempt, wait)
            await asyncio.sleep(wait)

    # ---- what the adapter sends -------------------------------------------------------------

    async def send_message(self, chat_id: str, msg_key: str, param: dict[str, Any]) -> str:
        """A robot message (sampleImageMsg, sampleFile, sampleMarkdown) to a group or a person."""
        msg_param = json.dumps(param, ensure_ascii=False)
        if len(msg_param.encode()) > MAX_MSG_PARAM_BYTES:
            raise DingTalkApiError("opsbot.too.long", f"msgParam over {MAX_MSG_PARAM_BYTES} bytes", 400)
        body: dict[str, Any] = {"robotCode": self.config.robot, "msgKey": msg_key, "msgParam": msg_param}
        if is_group(chat_id):
            path = "/v1.0/robot/groupMessages/send"
            body["openConversationId"] = chat_id
        else:
            path = "/v1.0/robot/oToMessages/batchSend"
            body["userIds"] = [chat_id]
        answer = await self._retrying(msg_key, lambda: self._v1("POST", path, body))
        return str(answer.get("processQueryKey") or "")

    async def create_card(self, chat_id: str, out_track_id: str, params: dict[str, str]) -> str:
        body: dict[str, Any] = {"cardTemplateId": CARD_TEMPLATE, "outTrackId": out_track_id,
                                "cardData": {"cardParamMap": params}, "callbackType": "STREAM"}
        if is_group(chat_id):
            body["openSpaceId"] = f"dtv1.card//IM_GROUP.{chat_id}"
            body["imGroupOpenSpaceModel"] = {"supportForward": True}
            body["imGroupOpenDeliverModel"] = {"robotCode": self.config.robot}
        else:
            body["openSpaceId"] = f"dtv1.card//IM_ROBOT.{chat_id}"
            body["imRobotOpenSpaceModel"] = {"supportForward": True}
            body["imRobotOpenDeliverModel"] = {"spaceType": "IM_ROBOT"}
        answer = await self._retrying("card", lambda: self._v1("POST", "/v1.0/card/instances/createAndDeliver", body))
        results = (answer.get("result") or {}).get("deliverResults") or []
        failed = [r for r in results if isinstance(r, dict) and r.get("success") is False]
        if failed:  # the call succeeded but the card reached no one there
            raise DingTalkApiError(str(failed[0].get("errorMsg") or "card.not.delivered"), "card not delivered", 400)
        return out_track_id

    async def update_card(self, out_track_id: str, params: dict[str, str]) -> None:
        body = {"outTrackId": out_track_id, "cardData": {"cardParamMap": params},
                "cardUpdateOptions": {"updateCardDataByKey": True}}
        await self._retrying("card update", lambda: self._v1("PUT", "/v1.0/card/instances", body))

    async def upload(self, kind: str, filename: str, content: bytes, mime: str) -> str:
        answer = await self._retrying(f"{kind} upload", lambda: self._upload(kind, filename, content, mime))
        media_id = answer.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise DingTalkApiError(None, "the upload answer holds no media_id", 200)
        return media_id
