"""The Feishu/Lark adapter: lark-oapi's long connection (default) or HTTP callbacks in, cards out.

Inbound: im.message.receive_v1 (one-to-one chats, and group messages that @mention the bot) and
card.action.trigger (a button: its command run as the clicker) become `Incoming` (`inbound`).
The event is acked at once (the SDK acks the frame when our callback returns; HTTP answers 200)
and dispatched in a tracked task on our loop; an event redelivered with the same event_id, on
this instance or another, runs once (`SeenEvents`).

Outbound: a `Reply` becomes interactive cards (`render`); its charts are drawn, uploaded as
images and shown in the card by image_key; CSV exports are uploaded as files and sent as file
messages. `edit` patches a sent card in place (a digest restated by late data).

Identity: chats are `feishu:oc_…`, users `feishu:ou_…` (open ids), the team is the event's
tenant_key (checked against `[access] feishu_tenants` by the dispatcher).

Secrets (FEISHU_APP_SECRET, FEISHU_ENCRYPT_KEY, FEISHU_VERIFICATION_TOKEN) come from the
environment only; a log filter masks them should any library ever print one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine, Mapping
from typing import Any

import lark_oapi as lark

from bot.adapters.base import DeliveryError, Progress, Sent, first_delivery
from bot.adapters.feishu.config import FeishuConfig, config_from_env
from bot.adapters.feishu.errors import FeishuApiError, delivery_error
from bot.adapters.feishu.http import CallbackServer
from bot.adapters.feishu.inbound import Inbound, card_action, event_type, message_event
from bot.adapters.feishu.limits import (
    APP_PER_MINUTE,
    APP_PER_SECOND,
    CHAT_PER_SECOND,
    MAX_FILE_BYTES,
    MAX_IMAGE_BYTES,
    THROTTLE_BACKOFF_SECONDS,
)
from bot.adapters.feishu.openapi import NETWORK_ERRORS, OpenAPI
from bot.adapters.feishu.render import render
from bot.adapters.feishu.ws import LongConnection
from bot.adapters.ratelimit import Clock, Limiters, MinuteLimiter, Sleep
from bot.config import Settings
from bot.context import ChatRef
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.reply import Reply
from bot.state.shared import SeenEvents

log = logging.getLogger(__name__)
SEND_ERRORS = (FeishuApiError, *NETWORK_ERRORS)


def feishu_from_env(settings: Settings, dispatcher: Dispatcher,
                    environ: Mapping[str, str] | None = None) -> FeishuAdapter:
    """The adapter `[feishu]` and the FEISHU_* environment variables configure."""
    return FeishuAdapter(dispatcher, config_from_env(settings, environ))


class _Redact(logging.Filter):
    """Masks the secrets in any record that would carry one (an SDK's debug line, an exception)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            for s in self.secrets:
                message = message.replace(s, "***")
            record.msg, record.args = message, None
        return True


class FeishuAdapter:
    """Serves Feishu/Lark through lark-oapi; implements bot.adapters.base.Adapter."""

    platform = "feishu"

    def __init__(self, dispatcher: Dispatcher, config: FeishuConfig, *, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.dispatcher = dispatcher
        self.config = config
        self.api = OpenAPI(config)
        self._seen = SeenEvents(dispatcher.services.store)
        # proactive pacing, so a fan-out stays inside Feishu's limits instead of bouncing off them
        pace = {"reason": "feishu_rate_limit", "clock": clock, "sleep": sleep}
        self.chat_pace = Limiters(limit=CHAT_PER_SECOND, window=1.0, backoff=THROTTLE_BACKOFF_SECONDS, **pace)
        self.app_pace = (MinuteLimiter("feishu app", limit=APP_PER_SECOND, window=1.0, **pace),
                         MinuteLimiter("feishu app", limit=APP_PER_MINUTE, window=60.0, **pace))
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: LongConnection | None = None
        self._http: CallbackServer | None = None
        self.bot_open_id: str | None = None
        self._redact = _Redact(config.secrets)
        # a logger's filter sees only the records made on that logger, not its children's: each by name
        for name in ("Lark", *(f"bot.adapters.feishu.{m}" for m in ("adapter", "http", "openapi", "ws"))):
            logging.getLogger(name).addFilter(self._redact)

    @property
    def url(self) -> str | None:
        return self._http.url if self._http else None

    @property
    def connected(self) -> bool:
        """Whether events can reach us (readiness, and the opsbot_adapter_connected gauge)."""
        return self._http is not None or (self._ws is not None and self._ws.connected)

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._who_am_i()
        if self.config.mode == "http":
            self._http = CallbackServer(self.config, self.dispatcher.replays, self._on_callback)
            await self._http.start()
            return
        self._ws = LongConnection(self.config.app_id, self.config.app_secret, self.config.api_url,
                                  self._on_frame)
        try:
            await self._ws.start(self.config.connect_timeout)
        except lark.ws.exception.ClientException as exc:
            self._ws = None
            raise ConfigError(f"Feishu refused the long connection for FEISHU_APP_ID ({exc}): check the app id "
                              "and secret, and that events are subscribed in long-connection mode") from exc
        log.info("feishu: long connection open")

    async def _who_am_i(self) -> None:
        """The bot's open_id, so a group message is answered only when it mentions this bot."""
        request = (lark.BaseRequest.builder().http_method(lark.HttpMethod.GET).uri("/open-apis/bot/v3/info")
                   .token_types({lark.AccessTokenType.TENANT}).build())
        try:
            response = await asyncio.to_thread(self.api.client.request, request)
            body = json.loads(response.raw.content or b"{}")
        except Exception as exc:  # answer any mention rather than refuse to start
            log.warning("feishu: could not read the bot's identity (%s)", type(exc).__name__)
            return
        if body.get("code") in (10014, 10003):
            raise ConfigError("Feishu refused FEISHU_APP_ID / FEISHU_APP_SECRET: copy both from the app's "
                              "Credentials & Basic Info page")
        self.bot_open_id = (body.get("bot") or {}).get("open_id")
        log.info("feishu: signed in as bot %s", self.bot_open_id)

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.stop()
            self._ws = None
        if self._http is not None:
            await self._http.stop()
            self._http = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.config.drain_timeout)
        self.api.close()

    # ---- inbound ----------------------------------------------------------------------------

    def _on_frame(self, payload: bytes) -> Any:
        """In the SDK's thread: hand the event to our loop and return at once (the frame's ack)."""
        try:
            data = json.loads(payload)
        except ValueError:
            log.warning("feishu: ignoring a frame that is not JSON")
            return None
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._take(data), self._loop)
        return {} if event_type(data) == "card.action.trigger" else None

    async def _on_callback(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self._take(payload)
        return {}

    async def _take(self, payload: dict[str, Any]) -> None:
        kind = event_type(payload)
        if kind == "im.message.receive_v1":
            inbound = message_event(payload, self.bot_open_id, self.config.language)
        elif kind == "card.action.trigger":
            inbound = card_action(payload, self.config.language)
        else:
            log.info("feishu: ignoring a %r event", kind)
            return
        if inbound is None:
            return
        self._spawn(self._answer(inbound))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, inbound: Inbound) -> None:
        if not await first_delivery(self._seen, "feishu", inbound.event_id):
            log.info("feishu: event %s already taken", inbound.event_id)
            return
        incoming = inbound.incoming
        reply = await self.dispatcher.dispatch(incoming)
        try:
            await self._deliver(incoming.chat, reply, Progress(), inbound.reply_to)
        except SEND_ERRORS as exc:
            log.error("feishu: could not answer %s in %s: %s", incoming.user, incoming.chat, delivery_error(exc).reason)
        except Exception:
            log.exception("feishu: answering %s in %s failed", incoming.user, incoming.chat)

    # ---- outbound ---------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply, progress: Progress | None = None) -> Sent:
        """Push a reply; the Sent's message_id is the card messages' ids joined by commas."""
        try:
            ids = await self._deliver(chat, reply, progress or Progress())
        except SEND_ERRORS as exc:
            if isinstance(exc, FeishuApiError) and exc.rate_limited:
                self.chat_pace[chat.id].throttled()
            err = delivery_error(exc)
            log.error("feishu: delivery to %s failed (%s, %s)", chat, err.reason,
                      "permanent" if err.permanent else "transient")
            raise err from exc
        return Sent(chat, ",".join(ids))

    async def edit(self, sent: Sent, reply: Reply) -> Sent:
        """Patch the sent cards in place; cards beyond the old ones are sent anew."""
        ids = [i for i in sent.message_id.split(",") if i]
        out: list[str] = []
        try:
            cards = render(reply, await self._images(reply))
            for i, card in enumerate(cards):
                if i < len(ids):
                    await self.api.patch(ids[i], card)
                    out.append(ids[i])
                else:
                    out.append(await self.api.create(sent.chat.id, "interactive", card))
        except SEND_ERRORS as exc:
            err = delivery_error(exc)
            log.error("feishu: editing %s in %s failed (%s)", sent.message_id, sent.chat, err.reason)
            raise err from exc
        return Sent(sent.chat, ",".join(out))

    async def _images(self, reply: Reply) -> list[str | None]:
        """Draw the charts (off the loop) and upload each; a chart too big or refused is left out."""
        await self.dispatcher.draw(reply)
        keys: list[str | None] = []
        for chart in reply.charts:
            if len(chart.png) > MAX_IMAGE_BYTES:
                log.warning("feishu: chart %r is over the image limit; left out", chart.title)
                keys.append(None)
                continue
            try:
                keys.append(await self.api.upload_image(chart.png))
            except FeishuApiError as exc:
                if exc.transient:
                    raise  # the outbox retries the whole part later
                log.warning("feishu: chart %r refused (%s); left out", chart.title, exc)
                keys.append(None)
        return keys

    async def _pace(self, chat: ChatRef) -> None:
        """Wait for a slot in the chat's and the app's windows (a long wait is the outbox's to do)."""
        for limiter in (self.chat_pace[chat.id], *self.app_pace):
            await limiter.acquire(self.config.max_wait)

    async def _deliver(self, chat: ChatRef, reply: Reply, progress: Progress, reply_to: str | None = None) -> list[str]:
        cards = render(reply)
        if progress.done < len(cards):  # cards still to send: their charts are needed (a resumed push
            cards = render(reply, await self._images(reply))  # past them skips drawing and uploading)
        for part, card in enumerate(cards):
            if part < progress.done:
                continue
            await self._pace(chat)
            if reply_to and part == 0:
                message_id = await self.api.reply(reply_to, "interactive", card)
            else:
                message_id = await self.api.create(chat.id, "interactive", card)
            await progress.landed(message_id)
        for part, attachment in enumerate(reply.files, start=len(cards)):
            if part < progress.done:
                continue
            if len(attachment.content) > MAX_FILE_BYTES:
                raise DeliveryError(f"file {attachment.filename} is over Feishu's 30 MB", permanent=True)
            key = await self.api.upload_file(attachment.filename, attachment.content)
            await self._pace(chat)
            await self.api.create(chat.id, "file", {"file_key": key})
            await progress.landed()
        return [i for i in progress.ids if i]
