"""DingTalk's Stream mode on the official SDK (dingtalk-stream), on our event loop.

What comes from the SDK: the frame types (`CallbackMessage`, `SystemMessage`, `AckMessage`), the
routing of a frame to its topic's `CallbackHandler` and the ack it sends back
(`DingTalkStreamClient.route_message` / `background_task`), the system handler (ping, disconnect).
What is ours, and why: the connection loop. The SDK's `start()` opens the connection with
blocking `requests` and no timeout (it would stall our loop), reads the gateway URL from the class
attribute `DingTalkStreamClient.OPEN_CONNECTION_API` (one host for every instance; the tests need
a fake's), swallows a cancel and sleeps 10 s before reconnecting (it cannot be stopped), and finds
its local IP by "connecting" a UDP socket to 8.8.8.8. `StreamClient.run` opens the connection over
aiohttp with a timeout against the configured host, reconnects with a capped back-off, and stops
when told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import websockets
from dingtalk_stream import AckMessage, CallbackHandler, CallbackMessage, Credential, DingTalkStreamClient
from dingtalk_stream.version import VERSION_STRING

from bot.errors import ConfigError

log = logging.getLogger(__name__)
TOPIC_ROBOT = "/v1.0/im/bot/messages/get"  # a message to the robot (ChatbotMessage.TOPIC)
TOPIC_CARD = "/v1.0/card/instances/callback"  # an interactive card's button


class _Topic(CallbackHandler):
    """Hands a topic's frames to `on_frame(topic, data, frame_id)`, which must return at once; the
    frame is acked with 200 as soon as it returns (the work runs in a task of the adapter's)."""

    def __init__(self, topic: str, on_frame: Callable[[str, dict[str, Any], str], None]) -> None:
        super().__init__()
        self.topic = topic
        self.on_frame = on_frame

    async def process(self, message: CallbackMessage) -> tuple[int, str]:
        data = message.data if isinstance(message.data, dict) else {}
        self.on_frame(self.topic, data, str(message.headers.message_id or ""))
        return AckMessage.STATUS_OK, "OK"


class StreamClient(DingTalkStreamClient):
    def __init__(self, client_id: str, client_secret: str, api_url: str,
                 on_frame: Callable[[str, dict[str, Any], str], None], *, timeout: float = 15,
                 reconnect_max: float = 30.0) -> None:
        super().__init__(Credential(client_id, client_secret), logger=logging.getLogger("dingtalk_stream.client"))
        self.gateway = api_url + "/v1.0/gateway/connections/open"
        self.timeout = timeout
        self.reconnect_max = reconnect_max
        for topic in (TOPIC_ROBOT, TOPIC_CARD):
            self.register_callback_handler(topic, _Topic(topic, on_frame))
        self.connected = asyncio.Event()
        self._stopping = False
        self._frames: set[asyncio.Task[Any]] = set()

    def get_host_ip(self) -> str:
        """The SDK reports a local IP; found without sending anything anywhere."""
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return ""

    async def _open(self) -> dict[str, Any]:
        """The gateway's endpoint and ticket; ConfigError when it refuses the credentials."""
        body = {"clientId": self.credential.client_id, "clientSecret": self.credential.client_secret,
                "subscriptions": [{"type": "CALLBACK", "topic": t} for t in self.callback_handler_map],
                "ua": f"dingtalk-sdk-python/v{VERSION_STRING}-union (opsbot)", "localIp": self.get_host_ip()}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(self.gateway, json=body) as response:
            answer = await response.json(content_type=None)
            if response.status in (400, 401, 403):
                code = (answer or {}).get("code") if isinstance(answer, dict) else None
                raise ConfigError(f"DingTalk refused the Stream connection for DINGTALK_CLIENT_ID ({code or response.status}): "
                                  "check the Client ID and Secret, and that the robot's message receiving mode is Stream")
            response.raise_for_status()
        if not isinstance(answer, dict) or not answer.get("endpoint") or not answer.get("ticket"):
            raise aiohttp.ClientPayloadError("the gateway answered without an endpoint and ticket")
        return answer

    async def run(self) -> None:
        """Connect, serve frames, reconnect after a drop; returns when `stop` is called. A refused
        credential on the first connection raises ConfigError (the adapter's start reports it)."""
        self.pre_start()
        wait = 1.0
        while not self._stopping:
            try:
                connection = await self._open()
                uri = f'{connection["endpoint"]}?ticket={quote_plus(connection["ticket"])}'
                async with websockets.connect(uri, open_timeout=self.timeout) as websocket:
                    self.websocket = websocket
                    self.connected.set()
                    wait = 1.0
                    log.info("dingtalk: stream connected")
                    async for raw in websocket:
                        self._serve(raw)
            except ConfigError:
                if not self.connected.is_set():
                    raise
                log.error("dingtalk: the gateway refused the credentials; retrying in %.0f s", self.reconnect_max)
                wait = self.reconnect_max
            except (OSError, TimeoutError, aiohttp.ClientError, websockets.exceptions.WebSocketException) as exc:
                if self._stopping:
                    break
                log.warning("dingtalk: stream connection lost (%s); reconnecting in %.0f s", type(exc).__name__, wait)
            finally:
                self.websocket = None
            if self._stopping:
                break
            self.connected.clear()
            await asyncio.sleep(wait)
            wait = min(wait * 2, self.reconnect_max)

    def _serve(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.warning("dingtalk: ignoring a frame that is not JSON")
            return
        task = asyncio.create_task(self.background_task(frame))  # the SDK's routing and ack
        self._frames.add(task)
        task.add_done_callback(self._frames.discard)

    async def stop(self) -> None:
        self._stopping = True
        websocket = self.websocket
        if websocket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(), 5)
        if self._frames:
            await asyncio.wait(set(self._frames), timeout=5)
