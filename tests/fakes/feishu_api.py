"""A fake Feishu on 127.0.0.1 that the real lark-oapi SDK talks to: the OpenAPI (tenant token,
bot info, messages create/reply/patch, images, files), the long connection's endpoint discovery
and its websocket with the SDK's protobuf frames, and helpers to build signed, encrypted HTTP
callbacks.

It runs on a thread and loop of its own: the SDK's calls are blocking `requests` (in our
adapter's worker threads) and its websocket client lives on a loop of its own too.
Every call is recorded (`calls`, each with the status it was answered with); scripting:

    fake.fail("POST /open-apis/im/v1/messages", 429, {"code": 99991400, "msg": "..."}, times=2)
    fake.fail("POST /open-apis/im/v1/messages", 503, "Service Unavailable", times=5, chat="oc_x")
    fake.hold("POST /open-apis/im/v1/messages", 120, times=8)    # answered 120 s late
    fake.cancel_holds("POST /open-apis/im/v1/messages")          # quick again
    fake.delivered()                                             # messages actually created

A card message whose request body is over 30 KB is refused as Feishu refuses it (400, code
230025). A failure scoped to a chat (`chat=`) answers only the message creates for that receive_id, so
failures can be spread over the chats of a fan-out whatever order the calls come in.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from Crypto.Cipher import AES
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

APP_ID = "cli_test_app"
APP_SECRET = "feishu-app-secret-value-0123"
TOKEN = "t-fake-tenant-access-token"
BOT_OPEN_ID = "ou_bot_opsbot"
MAX_CARD_REQUEST = 30 * 1024  # bytes of a card message's request body Feishu takes (im/v1 message create)
TENANT = "tenant_ops"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)
    status: int = 0  # the HTTP status answered; 0 while unanswered, 499 when the client hung up first
    size: int = 0  # bytes of a JSON request body, as sent (a message's card, escaped in its envelope)

    scripted: bool = False  # answered with a scripted failure

    @property
    def ok(self) -> bool:
        """Answered 200 and not with a scripted failure: Feishu acted on it (a message exists)."""
        return self.status == 200 and not self.scripted

    @property
    def content(self) -> Any:
        """A message's content (a card, a file key), decoded."""
        raw = (self.json or {}).get("content")
        return json.loads(raw) if isinstance(raw, str) else raw


CALL = web.RequestKey("call", Call)  # the recorded call of a request, for the middleware to note its status


class FakeFeishu:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: dict[str, list[tuple[int, Any]]] = {}
        self.chat_failures: dict[tuple[str, str], list[tuple[int, Any]]] = {}
        self._holds: dict[str, deque[float]] = defaultdict(deque)
        self.held: dict[str, int] = defaultdict(int)  # calls being held right now, by "METHOD path"
        self.acks: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self.ws_connects = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-feishu", daemon=True)
        self.url = ""

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeFeishu:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the fake Feishu did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application(middlewares=[self._answered])
        r = app.router
        r.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        r.add_get("/open-apis/bot/v3/info", self._bot_info)
        r.add_post("/open-apis/im/v1/messages", self._create)
        r.add_post("/open-apis/im/v1/messages/{message_id}/reply", self._reply)
        r.add_patch("/open-apis/im/v1/messages/{message_id}", self._patch)
        r.add_post("/open-apis/im/v1/images", self._image)
        r.add_post("/open-apis/im/v1/files", self._file)
        r.add_post("/callback/ws/endpoint", self._endpoint)
        r.add_get("/ws", self._websocket)
        self._runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def down() -> None:
            if self._ws is not None:
                await self._ws.close()
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(down(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    # ---- scripting and reading --------------------------------------------------------------

    def fail(self, path: str, status: int, body: Any, times: int = 1, chat: str | None = None) -> None:
        """The next `times` calls to `path` (e.g. "POST /open-apis/im/v1/messages") answer this;
        with `chat`, only the message creates whose receive_id is that chat."""
        if chat is None:
            self.failures.setdefault(path, []).extend([(status, body)] * times)
        else:
            self.chat_failures.setdefault((path, chat), []).extend([(status, body)] * times)

    def hold(self, path: str, seconds: float, *, times: int = 1) -> None:
        """Answer the next `times` calls to `path` only after `seconds` (a slow Feishu); they are
        recorded when answered, and counted in `held` meanwhile.

        A held call whose client hangs up (timed out, killed) is never acted on: it is recorded
        at once with status 499 and never counts as delivered (`delivered()`, `Call.ok`)."""
        self._holds[path].extend([seconds] * times)

    def cancel_holds(self, path: str) -> None:
        """Forget the holds scripted for `path` that no call has used yet."""
        self._holds.pop(path, None)

    def delivered(self) -> list[Call]:
        """Messages Feishu created or replied, answered 200: what the chats now show."""
        return [c for c in self.messages() if c.ok]

    def calls_to(self, method: str, prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    def messages(self) -> list[Call]:
        """Messages created or replied (not token, uploads or patches)."""
        return [c for c in self.calls if c.method == "POST" and (c.path == "/open-apis/im/v1/messages"
                                                                  or c.path.endswith("/reply"))]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError("the fake Feishu did not see what the test waited for")

    # ---- the long connection ----------------------------------------------------------------

    def push(self, payload: dict[str, Any]) -> str:
        """Send an event frame to the connected SDK client; returns the frame's message id."""
        message_id = f"frame_{next(self._ids)}"
        frame = Frame()
        for key, value in (("type", "event"), ("message_id", message_id), ("trace_id", "trace"),
                           ("sum", "1"), ("seq", "0")):
            header = frame.headers.add()
            header.key, header.value = key, value
        frame.SeqID, frame.LogID, frame.service, frame.method = 1, 1, 1, 1  # method 1: a data frame
        frame.payload = json.dumps(payload).encode()

        async def send() -> None:
            assert self._ws is not None, "no SDK client is connected"
            await self._ws.send_bytes(frame.SerializeToString())
        asyncio.run_coroutine_threadsafe(send(), self.loop).result(5)
        return message_id

    async def _endpoint(self, request: web.Request) -> web.Response:
        body = await request.json()
        request[CALL] = Call("POST", request.path, {}, dict(request.headers), {"AppID": body.get("AppID")})
        self.calls.append(request[CALL])
        if body.get("AppID") != APP_ID or body.get("AppSecret") != APP_SECRET:
            return web.json_response({"code": 1000040344, "msg": "app id or secret wrong"})
        host = request.host
        return web.json_response({"code": 0, "msg": "ok", "data": {
            "URL": f"ws://{host}/ws?device_id=dev1&service_id=1",
            "ClientConfig": {"ReconnectCount": 1, "ReconnectInterval": 1, "ReconnectNonce": 0,
                             "PingInterval": 120}}})

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.ws_connects += 1
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                continue
            frame = Frame()
            frame.ParseFromString(message.data)
            headers = {h.key: h.value for h in frame.headers}
            if frame.method == 1:  # the SDK's answer to a data frame: its ack
                self.acks[headers.get("message_id", "")] = json.loads(frame.payload or b"{}")
        if self._ws is ws:
            self._ws = None
        return ws

    # ---- the OpenAPI ------------------------------------------------------------------------

    @web.middleware
    async def _answered(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        """Note on each recorded call the status it was answered with."""
        response: web.StreamResponse = await handler(request)
        call = request.get(CALL)
        if isinstance(call, Call) and not call.status:
            call.status = response.status
        return response

    @staticmethod
    async def _gone_while_held(request: web.Request, seconds: float) -> bool:
        """Wait `seconds` before answering; True (at once) if the client hangs up meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            if request.transport is None or request.transport.is_closing():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(remaining, 0.02))

    async def _record(self, request: web.Request) -> tuple[Call, web.Response | None]:
        call = Call(request.method, request.path, dict(request.query), dict(request.headers))
        request[CALL] = call
        what = f"{request.method} {request.path}"
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                try:  # a field as text, a file (the SDK names none of them) as its bytes
                    call.form[part.name or ""] = data if part.name in ("image", "file") else data.decode()  # type: ignore[union-attr]
                except UnicodeDecodeError:
                    call.form[part.name or ""] = data
        else:
            raw = await request.read()
            call.size = len(raw)
            call.json = json.loads(raw) if raw else None
        holds = self._holds.get(what)
        seconds = holds.popleft() if holds else None  # no await since the check: no other call took it
        if seconds is not None:
            self.held[what] += 1
            try:
                gone = await self._gone_while_held(request, seconds)
            finally:
                self.held[what] -= 1
            if gone:
                call.status = 499
                self.calls.append(call)
                return call, web.Response(status=499)
        self.calls.append(call)
        receiver = (call.json or {}).get("receive_id") if isinstance(call.json, dict) else None
        scripted = self.chat_failures.get((what, str(receiver))) or self.failures.get(what)
        if scripted:
            status, body = scripted.pop(0)
            call.scripted = True
            headers = {"x-ogw-ratelimit-reset": "0"} if status == 429 else {}
            if isinstance(body, str):
                return call, web.Response(status=status, text=body, headers=headers)
            return call, web.json_response(body, status=status, headers=headers)
        if request.path != "/open-apis/auth/v3/tenant_access_token/internal" and \
                request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return call, web.json_response({"code": 99991663, "msg": "Invalid access token"}, status=400)
        return call, None

    @staticmethod
    def _ok(data: dict[str, Any]) -> web.Response:
        return web.json_response({"code": 0, "msg": "success", "data": data})

    async def _token(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        body = call.json or {}
        if body.get("app_id") != APP_ID or body.get("app_secret") != APP_SECRET:
            return web.json_response({"code": 10014, "msg": "app secret invalid"}, status=400)
        return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": TOKEN, "expire": 7200})

    async def _bot_info(self, request: web.Request) -> web.Response:
        _, failed = await self._record(request)
        return failed or web.json_response({"code": 0, "msg": "ok", "bot": {"open_id": BOT_OPEN_ID,
                                                                             "app_name": "opsbot"}})

    def _message(self, chat_id: str, call: Call) -> web.Response:
        body = call.json or {}
        if body.get("msg_type") in ("interactive", "post") and call.size > MAX_CARD_REQUEST:
            # as Feishu does: a card's (or rich text's) request body is at most 30 KB
            return web.json_response({"code": 230025, "msg": "The message content is too long."}, status=400)
        return self._ok({"message_id": f"om_{next(self._ids)}", "chat_id": chat_id,
                         "msg_type": body.get("msg_type"), "body": {"content": body.get("content")}})

    async def _create(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        return failed or self._message((call.json or {}).get("receive_id", ""), call)

    async def _reply(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        return failed or self._message("oc_replied", call)

    async def _patch(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request)
        if failed:
            return failed
        if call.size > MAX_CARD_REQUEST:
            return web.json_response({"code": 230025, "msg": "The message content is too long."}, status=400)
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    async def _image(self, request: web.Request) -> web.Response:
        _, failed = await self._record(request)
        return failed or self._ok({"image_key": f"img_v3_{next(self._ids)}"})

    async def _file(self, request: web.Request) -> web.Response:
        _, failed = await self._record(request)
        return failed or self._ok({"file_key": f"file_v3_{next(self._ids)}"})


# ---- events, as Feishu sends them -------------------------------------------------------------


def message_event(text: str, *, chat_id: str = "oc_ops", open_id: str = "ou_alice", chat_type: str = "group",
                  mention_bot: bool = True, event_id: str | None = None, tenant: str = TENANT,
                  token: str = "") -> dict[str, Any]:
    mentions = [{"key": "@_user_1", "id": {"open_id": BOT_OPEN_ID}, "name": "opsbot", "tenant_key": tenant}]
    content = f"@_user_1 {text}" if mention_bot else text
    return {"schema": "2.0",
            "header": {"event_id": event_id or f"ev_{os.urandom(6).hex()}", "event_type": "im.message.receive_v1",
                       "create_time": str(int(time.time() * 1000)), "token": token, "app_id": APP_ID,
                       "tenant_key": tenant},
            "event": {"sender": {"sender_id": {"open_id": open_id}, "sender_type": "user", "tenant_key": tenant},
                      "message": {"message_id": f"om_in_{os.urandom(4).hex()}", "chat_id": chat_id,
                                  "chat_type": chat_type, "message_type": "text",
                                  "content": json.dumps({"text": content}),
                                  "mentions": mentions if mention_bot else []}}}


def card_click(command: str, *, chat_id: str = "oc_ops", open_id: str = "ou_bob", tenant: str = TENANT,
               token: str = "") -> dict[str, Any]:
    return {"schema": "2.0",
            "header": {"event_id": f"ev_{os.urandom(6).hex()}", "event_type": "card.action.trigger",
                       "token": token, "app_id": APP_ID, "tenant_key": tenant},
            "event": {"operator": {"open_id": open_id, "tenant_key": tenant},
                      "action": {"tag": "button", "value": {"command": command}},
                      "context": {"open_message_id": "om_card_1", "open_chat_id": chat_id}}}


def encrypt(encrypt_key: str, plaintext: str) -> str:
    """As Feishu encrypts: base64(iv + AES-256-CBC(sha256(key), PKCS#7(text)))."""
    key = hashlib.sha256(encrypt_key.encode()).digest()
    iv = os.urandom(16)
    data = plaintext.encode()
    pad = 16 - len(data) % 16
    return base64.b64encode(iv + AES.new(key, AES.MODE_CBC, iv).encrypt(data + bytes([pad]) * pad)).decode()


def signed_callback(payload: dict[str, Any], encrypt_key: str, *, timestamp: str | None = None,
                    nonce: str | None = None) -> tuple[bytes, dict[str, str]]:
    """An HTTP callback's body and headers, encrypted and signed as Feishu does."""
    body = json.dumps({"encrypt": encrypt(encrypt_key, json.dumps(payload))}).encode()
    ts = timestamp or str(int(time.time()))
    nonce = nonce or os.urandom(8).hex()
    sig = hashlib.sha256((ts + nonce + encrypt_key).encode() + body).hexdigest()
    return body, {"Content-Type": "application/json", "X-Lark-Request-Timestamp": ts,
                  "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": sig}


@pytest.fixture
def fake_feishu() -> Iterator[FakeFeishu]:
    fake = FakeFeishu().start()
    yield fake
    fake.stop()
