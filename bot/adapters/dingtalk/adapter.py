"""The DingTalk adapter: robot messages in over the SDK's Stream mode (default) or the outgoing
robot's HTTP callbacks; interactive cards, images and files out through the OpenAPI.

Inbound: a robot message (one-to-one, or a group message that @mentions the robot) and a card
button's click (its command, run as the clicker) become `Incoming` (`inbound`). A Stream frame is
acked as soon as it is handed over (the SDK's ack), an HTTP callback answered 200 at once; the
work runs in a tracked task on our loop, and a message redelivered with the same id, on this
instance or another, runs once (`SeenEvents`).

Outbound: a `Reply` is sent as parts, in order: its cards (`render`; the last one carries the
buttons), then each chart uploaded as media and sent as an image message, then each CSV export
uploaded and sent as a file message. The parts a `Progress` says landed are skipped, each new one
is reported as it lands. Every part waits for a slot in its chat's per-minute window
(`ratelimit`), so a fan-out never trips DingTalk's limit; "too fast" from DingTalk closes the
chat's window for a minute. `edit` updates sent cards in place (a digest restated by late data).

The app secret comes from the environment only; a log filter masks it should a library print it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine, Mapping
from typing import Any

from bot.adapters.base import DeliveryError, Progress, Sent, first_delivery
from bot.adapters.dingtalk.config import DingTalkConfig, config_from_env
from bot.adapters.dingtalk.errors import DingTalkApiError, delivery_error
from bot.adapters.dingtalk.http import CallbackServer
from bot.adapters.dingtalk.inbound import Inbound, card_click, robot_message
from bot.adapters.dingtalk.limits import GROUP_PER_MINUTE, MAX_MEDIA_BYTES, THROTTLE_BACKOFF_SECONDS
from bot.adapters.dingtalk.openapi import NETWORK_ERRORS, OpenAPI
from bot.adapters.dingtalk.render import render
from bot.adapters.dingtalk.stream import TOPIC_CARD, TOPIC_ROBOT, StreamClient
from bot.adapters.plaintext import language_of
from bot.adapters.ratelimit import Clock, Limiters, Sleep
from bot.config import Settings
from bot.context import ChatRef
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.reply import Reply
from bot.state.shared import SeenEvents
from bot.text.messages import t

log = logging.getLogger(__name__)
SEND_ERRORS = (DingTalkApiError, *NETWORK_ERRORS)


def dingtalk_from_env(settings: Settings, dispatcher: Dispatcher,
                      environ: Mapping[str, str] | None = None) -> DingTalkAdapter:
    """The adapter `[dingtalk]` and the DINGTALK_* environment variables configure."""
    return DingTalkAdapter(dispatcher, config_from_env(settings, environ))


class _Redact(logging.Filter):
    """Masks the app secret in any record that would carry it."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if len(self.secret) >= 4:
            message = record.getMessage()
            if self.secret in message:
                record.msg, record.args = message.replace(self.secret, "***"), None
        return True


class DingTalkAdapter:
    """Serves DingTalk; implements bot.adapters.base.Adapter (and `edit`)."""

    platform = "dingtalk"

    def __init__(self, dispatcher: Dispatcher, config: DingTalkConfig, *, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.dispatcher = dispatcher
        self.config = config
        self.api = OpenAPI(config)
        self.limiters = Limiters(limit=GROUP_PER_MINUTE, backoff=THROTTLE_BACKOFF_SECONDS,
                                 reason="dingtalk_rate_limit", clock=clock, sleep=sleep)
        self._seen = SeenEvents(dispatcher.services.store)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stream: StreamClient | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._http: CallbackServer | None = None
        redact = _Redact(config.client_secret)
        # a logger's filter sees only the records made on that logger, not its children's: each by name
        for name in ("dingtalk_stream.client", "dingtalk_stream.handler",
                     *(f"bot.adapters.dingtalk.{m}" for m in ("adapter", "http", "openapi", "stream"))):
            logging.getLogger(name).addFilter(redact)

    @property
    def url(self) -> str | None:
        return self._http.url if self._http else None

    @property
    def connected(self) -> bool:
        return self._http is not None or (self._stream is not None and self._stream.connected.is_set())

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self.config.mode == "http":
            await self._check_credentials()
            self._http = CallbackServer(self.config, self.dispatcher.replays, self._on_callback)
            await self._http.start()
            return
        stream = StreamClient(self.config.client_id, self.config.client_secret, self.config.api_url,
                              self._on_frame, timeout=self.config.connect_timeout,
                              reconnect_max=self.config.reconnect_max)
        self._stream, self._stream_task = stream, asyncio.create_task(stream.run())
        connected = asyncio.create_task(stream.connected.wait())
        await asyncio.wait({connected, self._stream_task}, timeout=self.config.connect_timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        connected.cancel()
        if not stream.connected.is_set():
            failure = self._stream_task.exception() if self._stream_task.done() else None
            await self.stop()
            if isinstance(failure, ConfigError):
                raise failure
            raise ConfigError(f"DingTalk's Stream gateway ({self.config.api_url}) did not connect within "
                              f"{self.config.connect_timeout:.0f} s: check the network and the Client ID")

    async def _check_credentials(self) -> None:
        try:
            await self.api.token()
        except DingTalkApiError as exc:
            if not exc.transient:
                raise ConfigError("DingTalk refused DINGTALK_CLIENT_ID / DINGTALK_CLIENT_SECRET: copy both from "
                                  "the app's Credentials & Basic Info page") from None
            log.warning("dingtalk: could not check the credentials yet (%s)", exc.reason)

    async def stop(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
        if self._stream_task is not None:
            self._stream_task.cancel()
            await asyncio.gather(self._stream_task, return_exceptions=True)
        self._stream = self._stream_task = None
        if self._http is not None:
            await self._http.stop()
            self._http = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.config.drain_timeout)
        await self.api.close()

    # ---- inbound ----------------------------------------------------------------------------

    def _on_frame(self, topic: str, data: dict[str, Any], frame_id: str) -> None:
        if topic == TOPIC_ROBOT:
            self._take(robot_message(data))
        elif topic == TOPIC_CARD:
            self._take(card_click(data, frame_id))

    async def _on_callback(self, payload: dict[str, Any]) -> None:
        self._take(robot_message(payload))

    def _take(self, inbound: Inbound | None) -> None:
        if inbound is not None:
            self._spawn(self._answer(inbound))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, inbound: Inbound) -> None:
        if not await first_delivery(self._seen, "dingtalk", inbound.event_id):
            log.info("dingtalk: message %s already taken", inbound.event_id)
            return
        incoming = inbound.incoming
        reply = await self.dispatcher.dispatch(incoming)
        try:
            await self._deliver(incoming.chat, reply, Progress())
        except (*SEND_ERRORS, DeliveryError) as exc:
            log.error("dingtalk: could not answer %s in %s: %s", incoming.user, incoming.chat,
                      delivery_error(exc).reason)
        except Exception:
            log.exception("dingtalk: answering %s in %s failed", incoming.user, incoming.chat)

    # ---- outbound ---------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply, progress: Progress | None = None) -> Sent:
        """Push a reply; the Sent's message_id is its cards' ids joined by commas."""
        try:
            ids = await self._deliver(chat, reply, progress or Progress())
        except (*SEND_ERRORS, DeliveryError) as exc:
            err = delivery_error(exc)
            log.error("dingtalk: delivery to %s failed (%s, %s)", chat, err.reason,
                      "permanent" if err.permanent else "transient")
            raise err from None
        return Sent(chat, ",".join(ids))

    async def edit(self, sent: Sent, reply: Reply) -> Sent:
        """Update the sent cards in place; cards beyond the old ones are sent anew."""
        ids = [i for i in sent.message_id.split(",") if i]
        out: list[str] = []
        try:
            for i, card in enumerate(self._cards(reply)):
                if i < len(ids):
                    await self.api.update_card(ids[i], card)
                    out.append(ids[i])
                else:
                    await self.limiters[sent.chat.id].acquire(self.config.max_wait)
                    out.append(await self.api.create_card(sent.chat.id, uuid.uuid4().hex, card))
        except SEND_ERRORS as exc:
            err = delivery_error(exc)
            log.error("dingtalk: updating %s in %s failed (%s)", sent.message_id, sent.chat, err.reason)
            raise err from None
        return Sent(sent.chat, ",".join(out))

    def _cards(self, reply: Reply) -> list[dict[str, str]]:
        lang = language_of(reply)
        notes = [t(lang, "file_left_out", name=f.filename, why=f"{len(f.content):,} bytes > 10 MB")
                 for f in reply.files if len(f.content) > MAX_MEDIA_BYTES]
        return render(reply, buttons=self.config.buttons, notes=notes)

    async def _deliver(self, chat: ChatRef, reply: Reply, progress: Progress) -> list[str]:
        cards = self._cards(reply)
        files = [f for f in reply.files if len(f.content) <= MAX_MEDIA_BYTES]
        total = len(cards) + len(reply.charts) + len(files)
        if progress.done < len(cards) + len(reply.charts):
            await self.dispatcher.draw(reply)  # off the loop; a resumed push past the charts skips it
        for part in range(progress.done, total):
            await self.limiters[chat.id].acquire(self.config.max_wait)
            try:
                landed = await self._send_part(chat, reply, cards, files, part)
            except DingTalkApiError as exc:
                if exc.rate_limited:
                    self.limiters[chat.id].throttled()
                raise
            await progress.landed(landed)
        return [i for i in progress.ids if i]

    async def _send_part(self, chat: ChatRef, reply: Reply, cards: list[dict[str, str]],
                         files: list[Any], part: int) -> str | None:
        """Send part `part` of the reply; the card's id (editable later), or None."""
        if part < len(cards):
            return await self.api.create_card(chat.id, uuid.uuid4().hex, cards[part])
        part -= len(cards)
        if part < len(reply.charts):
            chart = reply.charts[part]
            if len(chart.png) > MAX_MEDIA_BYTES:
                log.warning("dingtalk: chart %r is over the media limit; left out", chart.title)
                return None
            media = await self.api.upload("image", chart.filename or "chart.png", chart.png, "image/png")
            await self.api.send_message(chat.id, "sampleImageMsg", {"photoURL": media})
            return None
        attachment = files[part - len(reply.charts)]
        media = await self.api.upload("file", attachment.filename, attachment.content, attachment.mime)
        kind = attachment.filename.rsplit(".", 1)[-1].lower() if "." in attachment.filename else "file"
        await self.api.send_message(chat.id, "sampleFile", {"mediaId": media, "fileName": attachment.filename,
                                                            "fileType": kind})
        return None
