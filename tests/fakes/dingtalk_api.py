"""A fake DingTalk on 127.0.0.1 that the real dingtalk_stream SDK and our aiohttp OpenAPI client talk to.

DingTalk has two hosts, api.dingtalk.com (the v1.0 OpenAPI: access token, robot messages, interactive
cards, the Stream gateway) and oapi.dingtalk.com (the old API: media upload, session webhooks); the fake
serves both path sets on one port (`fake.url`):

    POST /v1.0/oauth2/accessToken              app key + secret -> TOKEN
    POST /v1.0/gateway/connections/open        Stream mode: client id + secret -> a websocket endpoint and ticket
    GET  /connect?ticket=...                   the Stream websocket (JSON text frames, the SDK's acks)
    POST /v1.0/robot/groupMessages/send        a robot message to a group (openConversationId)
    POST /v1.0/robot/oToMessages/batchSend     a robot message to people one to one (userIds)
    POST /v1.0/card/instances/createAndDeliver an interactive card, into a group or a one-to-one chat
    PUT  /v1.0/card/instances                  update a card's data (by outTrackId)
    POST /media/upload?access_token=&type=     an image or file upload (the old API: errcode in a 200 answer)
    POST /robot/sendBySession?session=...      the session webhook a robot callback carries (no token)

It runs on a thread and loop of its own, as the Feishu fake does: the SDK's `open_connection` is a
blocking `requests.post` made on the SDK client's own event loop, which a fake on that loop could not
answer. Every request is recorded (`calls`, with the status answered); secrets are masked in the record.

Scripting, keyed by "METHOD /path" (e.g. "POST /v1.0/robot/groupMessages/send"):

    fake.fail(key, 403, {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "..."}, times=2)
    fake.fail_for(key, lambda c: c.json["openConversationId"] == "cidA", 429, {"code": "Throttling"}, times=5)
    fake.hold(key, 4.0)            # answered 4 s late; a client that hangs up meanwhile: status 499
    fake.outage(503)               # every HTTP call answers 503 until outage(None)

and the Stream side: `push(topic, data)` sends a CALLBACK frame to the connected SDK client (its ack
lands in `acks[message_id]`), `ping()`, `disconnect()` (DingTalk asks the client to reconnect), `drop()`
(the connection breaks) and `close_socket()` (a clean server close).

`robot_message()`, `card_click()` and `outgoing_headers()` build what DingTalk sends.

Use it from a test module with

    from tests.fakes.dingtalk_api import fake_dingtalk  # noqa: F401
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web

APP_KEY = "dingopsbotappkey"
APP_SECRET = "dingtalk-app-secret-value-0123"
TOKEN = "dt-fake-access-token"
CORP = "dingcorpops"
ROBOT_CODE = APP_KEY
BOT_DINGTALK_ID = "$:LWCP_v1:$bot"

TOPIC_ROBOT = "/v1.0/im/bot/messages/get"
TOPIC_CARD = "/v1.0/card/instances/callback"

TOKEN_PATH = "/v1.0/oauth2/accessToken"
GATEWAY_PATH = "/v1.0/gateway/connections/open"
GROUP_SEND = "/v1.0/robot/groupMessages/send"
BATCH_SEND = "/v1.0/robot/oToMessages/batchSend"
CARD_DELIVER = "/v1.0/card/instances/createAndDeliver"
CARD_UPDATE = "/v1.0/card/instances"
MEDIA_UPLOAD = "/media/upload"
SESSION_WEBHOOK = "/robot/sendBySession"
# the calls that put something in front of people: what `messages()` and `delivered_to()` read
MESSAGE_PATHS = (GROUP_SEND, BATCH_SEND, CARD_DELIVER)

# how the endpoints check the caller: the v1.0 header, the old API's query parameter, or not at all
_HEADER, _QUERY, _NONE = "header", "query", "none"


@dataclass
class Call:
    """One request the fake received, and what it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)  # a multipart upload: media (bytes), filename, type
    status: int = 0
    failed: str | None = None  # "outage", "scripted", "auth", "client_gone", "invalid": why it was not a success
    seq: int = 0  # arrival order (a held call is recorded when answered, after later ones)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.failed is None

    @property
    def msg_param(self) -> Any:
        """A robot message's msgParam, decoded (`{"content": ...}` for sampleText, title/text for markdown)."""
        raw = (self.json or {}).get("msgParam")
        return json.loads(raw) if isinstance(raw, str) else raw

    @property
    def card(self) -> dict[str, Any]:
        """A card call's cardData.cardParamMap."""
        return dict(((self.json or {}).get("cardData") or {}).get("cardParamMap") or {})

    def all_text(self) -> str:
        """The message's parameters and the card's, for 'does the reply say X' asserts."""
        parts = [json.dumps(self.msg_param, ensure_ascii=False)] if (self.json or {}).get("msgParam") else []
        return "\n".join(parts + [json.dumps(self.card, ensure_ascii=False)])

    def targets(self) -> list[str]:
        """The chats this call is for: the group, the staff ids, or the card's open space ids."""
        body = self.json or {}
        found: list[str] = []
        if body.get("openConversationId"):
            found.append(str(body["openConversationId"]))
        found.extend(str(u) for u in body.get("userIds") or [])
        found.extend(space_id for _, space_id in _spaces(str(body.get("openSpaceId") or "")))
        return found


@dataclass
class _Failure:
    status: int
    body: Any
    match: Callable[[Call], bool] | None = None
    times: int = 1


def _spaces(open_space_id: str) -> list[tuple[str, str]]:
    """"dtv1.card//IM_GROUP.cid1;IM_ROBOT.staff1" -> [("IM_GROUP", "cid1"), ("IM_ROBOT", "staff1")]."""
    spaces = []
    for part in open_space_id.split("//", 1)[-1].split(";"):
        if not part:
            continue
        kind, _, space_id = part.rpartition(".")
        spaces.append((kind, space_id))
    return spaces


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "requestid": os.urandom(8).hex().upper()},
                             status=status)


class FakeDingTalk:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.acks: dict[str, dict[str, Any]] = {}  # messageId -> the SDK's ack, parsed
        self.received: list[dict[str, Any]] = []  # every frame the SDK sent, in order
        self.cards: dict[str, dict[str, Any]] = {}  # outTrackId -> the card's cardParamMap, latest version
        self.uploads: dict[str, bytes] = {}  # media_id -> the bytes uploaded
        self.held: dict[str, int] = defaultdict(int)  # calls being held right now, by "METHOD /path"
        self.ws_connects = 0
        self.url = ""
        self._failures: dict[str, list[_Failure]] = defaultdict(list)
        self._holds: dict[str, deque[float]] = defaultdict(deque)
        self._outage: int | None = None
        self._tickets: set[str] = set()
        self._ws: web.WebSocketResponse | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self._requests: dict[int, web.Request] = {}  # id(websocket) -> its request (for drop's abort)
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._changed_at = time.monotonic()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-dingtalk", daemon=True)

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeDingTalk:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the fake DingTalk did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        r = app.router
        r.add_post(TOKEN_PATH, self._serving(self._token, _NONE))
        r.add_post(GATEWAY_PATH, self._serving(self._gateway, _NONE))
        r.add_get("/connect", self._websocket)
        r.add_post(GROUP_SEND, self._serving(self._group_send, _HEADER))
        r.add_post(BATCH_SEND, self._serving(self._batch_send, _HEADER))
        r.add_post(CARD_DELIVER, self._serving(self._card_deliver, _HEADER))
        r.add_put(CARD_UPDATE, self._serving(self._card_update, _HEADER))
        r.add_post(MEDIA_UPLOAD, self._serving(self._media_upload, _QUERY))
        r.add_post(SESSION_WEBHOOK, self._serving(self._session_webhook, _NONE))
        self._runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def down() -> None:
            for ws in list(self._sockets):
                await ws.close()
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(down(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def _on_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` on the fake's loop (from the test's thread) and wait for it."""
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(5)

    # ---- scripting --------------------------------------------------------------------------

    def fail(self, path_key: str, status: int, body: Any, times: int = 1) -> None:
        """The next `times` calls to `path_key` ("POST /v1.0/robot/groupMessages/send") answer `status`
        with `body` (a dict as JSON, a string as text)."""
        self._failures[path_key].append(_Failure(status, body, None, times))

    def clear_failures(self) -> None:
        """Forget every scripted failure no call has used yet."""
        self._failures.clear()

    def fail_for(self, path_key: str, match: Callable[[Call], bool], status: int, body: Any, times: int = 1) -> None:
        """As `fail`, but only for the calls `match(call)` is true of (one group, say); others succeed."""
        self._failures[path_key].append(_Failure(status, body, match, times))

    def hold(self, path_key: str, seconds: float, times: int = 1) -> None:
        """Answer the next `times` calls to `path_key` only after `seconds` (a slow DingTalk); they are
        recorded when answered, and counted in `held` meanwhile.

        A held call whose client hangs up (timed out, killed) is never answered: DingTalk did not get
        to act on it. It is recorded at once with status 499 and `failed="client_gone"`, so it never
        counts as delivered."""
        self._holds[path_key].extend([seconds] * times)

    def cancel_holds(self, path_key: str) -> None:
        """Forget the holds scripted for `path_key` that no call has used yet."""
        self._holds.pop(path_key, None)

    def outage(self, status: int | None = 503) -> None:
        """Answer every HTTP call (token, gateway, OpenAPI, uploads) with `status` until `outage(None)`;
        an open websocket stays open."""
        self._outage = status

    # ---- reading ----------------------------------------------------------------------------

    def calls_to(self, method: str, prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    def messages(self) -> list[Call]:
        """The successful group messages, one-to-one batch sends and card deliveries, in arrival order."""
        return sorted((c for c in self.calls if c.path in MESSAGE_PATHS and c.method == "POST" and c.ok),
                      key=lambda c: c.seq)

    def delivered_to(self, chat_id: str) -> list[Call]:
        """`messages()` for one chat: an openConversationId, a staff id, or a card's open space id."""
        return [c for c in self.messages() if chat_id in c.targets()]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.02)
        seen = ", ".join(f"{c.key}:{c.status}" for c in self.calls) or "nothing"
        raise AssertionError(f"the fake DingTalk did not see what the test waited for; it saw: {seen}")

    async def settle(self, quiet: float = 0.3) -> None:
        """Wait until nothing has happened for `quiet` seconds (to assert that nothing more comes)."""
        while True:
            idle = time.monotonic() - self._changed_at
            if idle >= quiet:
                return
            await asyncio.sleep(quiet - idle)

    async def ack(self, message_id: str, timeout: float = 5) -> dict[str, Any]:
        """The SDK's ack of the frame `message_id` (waits for it)."""
        result: dict[str, Any] = await self.wait_for(lambda: self.acks.get(message_id), timeout)
        return result

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    def _changed(self) -> None:
        self._changed_at = time.monotonic()

    # ---- the Stream connection --------------------------------------------------------------

    def push(self, topic: str, data: dict[str, Any], *, type_: str = "CALLBACK", message_id: str | None = None) -> str:
        """Send a frame to the connected SDK client (the latest connection); returns its messageId."""
        message_id = message_id or f"msg_{next(self._ids)}_{os.urandom(4).hex()}"
        frame = {"specVersion": "1.0", "type": type_,
                 "headers": {"appId": APP_KEY, "connectionId": "conn1", "contentType": "application/json",
                             "messageId": message_id, "time": str(int(time.time() * 1000)), "topic": topic},
                 "data": json.dumps(data, ensure_ascii=False)}

        async def send() -> None:
            assert self._ws is not None and not self._ws.closed, "no SDK client is connected"
            await self._ws.send_str(json.dumps(frame, ensure_ascii=False))
        self._on_loop(send())
        return message_id

    def ping(self) -> str:
        """A SYSTEM ping; the SDK acks it with the same data. Returns the messageId."""
        return self.push("ping", {"opaque": os.urandom(8).hex()}, type_="SYSTEM")

    def disconnect(self) -> str:
        """A SYSTEM disconnect, as DingTalk sends before it moves a connection: the SDK acks it and
        closes the socket (cleanly: the stock `start()` then reconnects at once)."""
        return self.push("disconnect", {}, type_="SYSTEM")

    def drop(self) -> None:
        """Break the latest connection without a close frame: the SDK sees ConnectionClosedError, and the
        stock `start()` sleeps 10 s before it reconnects (a clean `close_socket()` reconnects at once)."""
        async def abort() -> None:
            ws = self._ws
            assert ws is not None, "no SDK client is connected"
            request = self._requests.get(id(ws))
            if request is not None and request.transport is not None:
                request.transport.abort()
            self._ws = None
        self._on_loop(abort())

    def close_socket(self, code: int = 1000) -> None:
        """Close the latest connection from the server side with a close frame of `code`."""
        async def close() -> None:
            assert self._ws is not None, "no SDK client is connected"
            await self._ws.close(code=code)
        self._on_loop(close())

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        call = Call(request.method, request.path, dict(request.query), dict(request.headers), seq=next(self._seq))
        ticket = request.query.get("ticket", "")
        failure = self._scripted(call)
        if failure is not None:
            return self._record(call, self._failure_response(failure), "scripted")
        if ticket not in self._tickets:
            return self._record(call, web.Response(status=403, text="invalid ticket"), "invalid")
        self._tickets.discard(ticket)  # a ticket opens one connection
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        call.status = 101
        self.calls.append(call)
        self._requests[id(ws)] = request
        self._sockets.append(ws)
        self._ws = ws
        self.ws_connects += 1
        self._changed()
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                self.received.append(frame)
                message_id = (frame.get("headers") or {}).get("messageId")
                if message_id:
                    self.acks[message_id] = frame
                self._changed()
        finally:
            self._sockets.remove(ws)
            self._requests.pop(id(ws), None)
            if self._ws is ws:
                self._ws = None
            self._changed()
        return ws

    # ---- HTTP: recording, scripted failures, holds, auth -------------------------------------

    def _serving(self, answer: Callable[[Call, Any], web.Response],
                 auth: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, answer, auth)
        return handler

    async def _serve(self, request: web.Request, answer: Callable[[Call, Any], web.Response],
                     auth: str) -> web.StreamResponse:
        call = Call(request.method, request.path, dict(request.query), dict(request.headers), seq=next(self._seq))
        body = await self._read(request, call)
        self._changed()
        if self._outage is not None:
            return self._record(call, self._outage_response(self._outage), "outage")
        if self._holds.get(call.key):
            seconds = self._holds[call.key].popleft()
            self.held[call.key] += 1
            self._changed()
            try:
                gone = await self._wait_held(request, seconds)
            finally:
                self.held[call.key] -= 1
            if gone:
                return self._record(call, web.Response(status=499), "client_gone")
        failure = self._scripted(call)
        if failure is not None:
            return self._record(call, self._failure_response(failure), "scripted")
        if auth == _HEADER and request.headers.get("x-acs-dingtalk-access-token") != TOKEN:
            return self._record(call, _error(401, "InvalidAuthentication", "不合法的access_token"), "auth")
        if auth == _QUERY and request.query.get("access_token") != TOKEN:
            invalid_token = {"errcode": 40014, "errmsg": "不合法的access_token"}  # the old API: a 200 answer
            return self._record(call, web.json_response(invalid_token), "auth")
        response = answer(call, body)
        return self._record(call, response, None if response.status == 200 else "invalid")

    async def _read(self, request: web.Request, call: Call) -> Any:
        """Fill in the call's json or form; the body as sent (the record masks secrets)."""
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "media":
                    call.form["media"] = bytes(data)
                    call.form["filename"] = part.filename or ""  # type: ignore[union-attr]
                    call.form["content_type"] = part.headers.get("Content-Type", "")
                else:
                    try:
                        call.form[part.name or ""] = data.decode()
                    except UnicodeDecodeError:
                        call.form[part.name or ""] = data
            if "type" in request.query:
                call.form["type"] = request.query["type"]
            return None
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        if isinstance(body, dict):
            call.json = {k: ("***" if k in ("clientSecret", "appSecret") else v) for k, v in body.items()}
        else:
            call.json = body
        return body

    @staticmethod
    async def _wait_held(request: web.Request, seconds: float) -> bool:
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

    def _scripted(self, call: Call) -> _Failure | None:
        queue = self._failures.get(call.key)
        if not queue:
            return None
        for failure in queue:
            if failure.match is None or self._matches(failure.match, call):
                failure.times -= 1
                if failure.times <= 0:
                    queue.remove(failure)
                return failure
        return None

    @staticmethod
    def _matches(match: Callable[[Call], bool], call: Call) -> bool:
        try:
            return bool(match(call))
        except Exception:  # a predicate that cannot read this call (no JSON body, say) does not match it
            return False

    @staticmethod
    def _failure_response(failure: _Failure) -> web.Response:
        if isinstance(failure.body, str | bytes):
            return web.Response(status=failure.status, body=failure.body if isinstance(failure.body, bytes)
                                else failure.body.encode(), content_type="text/plain")
        return web.json_response(failure.body, status=failure.status)

    @staticmethod
    def _outage_response(status: int) -> web.Response:
        if status >= 500:
            return web.Response(status=status, text="Service Unavailable")
        return _error(status, "Throttling" if status == 429 else "ServiceUnavailable", "outage")

    def _record(self, call: Call, response: web.StreamResponse, failed: str | None) -> web.StreamResponse:
        call.status = response.status
        call.failed = failed
        self.calls.append(call)
        self._changed()
        return response

    # ---- HTTP: the endpoints ----------------------------------------------------------------

    def _token(self, call: Call, body: Any) -> web.Response:
        body = body if isinstance(body, dict) else {}
        if body.get("appKey") != APP_KEY or body.get("appSecret") != APP_SECRET:
            return _error(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        return web.json_response({"accessToken": TOKEN, "expireIn": 7200})

    def _gateway(self, call: Call, body: Any) -> web.Response:
        body = body if isinstance(body, dict) else {}
        if body.get("clientId") != APP_KEY or body.get("clientSecret") != APP_SECRET:
            return _error(401, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        ticket = os.urandom(16).hex()
        self._tickets.add(ticket)
        return web.json_response({"endpoint": f"ws://{self.url.removeprefix('http://')}/connect", "ticket": ticket})

    @staticmethod
    def _missing(body: Any, *keys: str) -> web.Response | None:
        if not isinstance(body, dict):
            return _error(400, "param.invalid", "请求体不是JSON")
        missing = [k for k in keys if not body.get(k)]
        if missing:
            return _error(400, "param.invalid", f"缺少参数 {', '.join(missing)}")
        if "msgParam" in keys:
            try:
                json.loads(body["msgParam"])
            except (TypeError, ValueError):
                return _error(400, "param.invalid", "msgParam 不是JSON字符串")
        if "robotCode" in keys and body["robotCode"] != ROBOT_CODE:
            return _error(400, "param.invalid", f"robotCode {body['robotCode']} 不存在")
        return None

    def _group_send(self, call: Call, body: Any) -> web.Response:
        invalid = self._missing(body, "msgParam", "msgKey", "openConversationId", "robotCode")
        return invalid or web.json_response({"processQueryKey": f"pqk_{next(self._ids)}"})

    def _batch_send(self, call: Call, body: Any) -> web.Response:
        invalid = self._missing(body, "msgParam", "msgKey", "userIds", "robotCode")
        return invalid or web.json_response({"processQueryKey": f"pqk_{next(self._ids)}",
                                             "invalidStaffIdList": [], "flowControlledStaffIdList": []})

    def _card_deliver(self, call: Call, body: Any) -> web.Response:
        invalid = self._missing(body, "cardTemplateId", "outTrackId", "openSpaceId")
        if invalid:
            return invalid
        results = []
        for kind, space_id in _spaces(body["openSpaceId"]):
            if kind not in ("IM_GROUP", "IM_ROBOT"):
                kind = "IM_GROUP" if "imGroupOpenDeliverModel" in body else "IM_ROBOT"
            results.append({"spaceType": kind, "spaceId": space_id, "success": True})
        self.cards[body["outTrackId"]] = call.card
        return web.json_response({"success": True, "result": {"outTrackId": body["outTrackId"],
                                                              "deliverResults": results}})

    def _card_update(self, call: Call, body: Any) -> web.Response:
        invalid = self._missing(body, "outTrackId")
        if invalid:
            return invalid
        out_track_id = body["outTrackId"]
        if out_track_id not in self.cards:
            return web.json_response({"code": "resource.not.found", "message": "card not found"}, status=404)
        options = body.get("cardUpdateOptions") or {}
        if options.get("updateCardDataByKey"):
            self.cards[out_track_id] = {**self.cards[out_track_id], **call.card}
        else:
            self.cards[out_track_id] = call.card
        return web.json_response({"success": True, "result": True})

    def _media_upload(self, call: Call, body: Any) -> web.Response:
        kind = call.form.get("type") or call.query.get("type") or ""
        if kind not in ("image", "voice", "video", "file") or not isinstance(call.form.get("media"), bytes):
            return web.json_response({"errcode": 40004, "errmsg": "不合法的媒体文件类型"})
        media_id = f"@lADP{next(self._ids)}{os.urandom(6).hex()}"
        self.uploads[media_id] = call.form["media"]
        return web.json_response({"errcode": 0, "errmsg": "ok", "media_id": media_id, "type": kind,
                                  "created_at": int(time.time() * 1000)})

    def _session_webhook(self, call: Call, body: Any) -> web.Response:
        return web.json_response({"errcode": 0, "errmsg": "ok"})


# ---- what DingTalk sends --------------------------------------------------------------------------


def robot_message(text: str, *, conversation_id: str = "cidOPS", conversation_type: str = "2",
                  staff_id: str = "staff_alice", corp: str = CORP, in_at_list: bool = True, msg_id: str | None = None,
                  msgtype: str = "text", session_webhook: str | None = None) -> dict[str, Any]:
    """A chatbot message as DingTalk delivers it: the data of a Stream frame on TOPIC_ROBOT, and the
    body of an outgoing robot's HTTP callback.

    conversationType is a string, "1" one to one or "2" a group; either way conversationId is a "cid…"
    id. In a group the @mention leaves a leading space in the text; a one-to-one chat has no mention,
    no atUsers and no conversationTitle. msgtype "picture" and "richText" carry `content` instead of
    `text` (the SDK's ChatbotMessage.from_dict requires it)."""
    now = int(time.time() * 1000)
    group = conversation_type == "2"
    mentioned = group and in_at_list
    nick = staff_id.removeprefix("staff_").capitalize()
    webhook = session_webhook or f"http://127.0.0.1:9{SESSION_WEBHOOK}?session={os.urandom(8).hex()}"
    data: dict[str, Any] = {
        "conversationId": conversation_id,
        "chatbotCorpId": corp,
        "chatbotUserId": BOT_DINGTALK_ID,
        "msgId": msg_id or f"msg{os.urandom(12).hex()}",
        "senderNick": nick,
        "isAdmin": False,
        "senderStaffId": staff_id,
        "sessionWebhookExpiredTime": now + 90 * 60 * 1000,
        "createAt": now,
        "senderCorpId": corp,
        "conversationType": conversation_type,
        "senderId": f"$:LWCP_v1:${base64.b64encode(staff_id.encode()).decode()}",
        "isInAtList": in_at_list,
        "sessionWebhook": webhook,
        "robotCode": ROBOT_CODE,
        "msgtype": msgtype,
    }
    if group:
        data["conversationTitle"] = "运营群 ops"
        data["atUsers"] = [{"dingtalkId": BOT_DINGTALK_ID}] if mentioned else []
    content = " " + text if mentioned else text
    if msgtype == "text":
        data["text"] = {"content": content}
    elif msgtype == "picture":
        data["content"] = {"downloadCode": f"dl{os.urandom(8).hex()}",
                           "pictureDownloadCode": f"pdl{os.urandom(8).hex()}"}
    elif msgtype == "richText":
        data["content"] = {"richText": [{"text": content}]}
    else:
        data["content"] = {"downloadCode": f"dl{os.urandom(8).hex()}", "fileName": text}
    return data


def card_click(action_id: str, *, space_id: str = "cidOPS", space_type: str = "IM_GROUP", staff_id: str = "staff_bob",
               corp: str = CORP, out_track_id: str = "ops_card_1") -> dict[str, Any]:
    """A click on an interactive card's button: the data of a Stream frame on TOPIC_CARD."""
    return {"extension": "{}", "corpId": corp, "type": "actionCallback", "userId": staff_id,
            "content": json.dumps({"cardPrivateData": {"actionIds": [action_id], "params": {}}}),
            "outTrackId": out_track_id, "spaceType": space_type, "spaceId": space_id}


def outgoing_headers(secret: str = APP_SECRET, *, timestamp_ms: int | None = None) -> dict[str, str]:
    """The headers of an outgoing (HTTP callback) robot's request: sign = base64(HMAC-SHA256(secret,
    f"{timestamp}\\n{secret}")), the timestamp in milliseconds."""
    timestamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return {"timestamp": timestamp, "sign": base64.b64encode(digest).decode(), "Content-Type": "application/json"}


@pytest.fixture
def fake_dingtalk() -> Iterator[FakeDingTalk]:
    fake = FakeDingTalk().start()
    yield fake
    fake.stop()
