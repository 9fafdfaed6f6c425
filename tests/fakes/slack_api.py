"""A fake Slack on 127.0.0.1: the Web API, file uploads, response_url, and Socket Mode.

It is real HTTP (aiohttp), so the code under test runs unchanged through
slack_sdk and slack-bolt; only the base URL differs (SLACK_API_URL). Every call
is recorded, and failures can be scripted per method:

    fake.fail("chat.postMessage", status=429, retry_after=1)   # next call rate-limited
    fake.fail("chat.postMessage", times=2, status=500)
    fake.fail("files.completeUploadExternal", error="not_in_channel")
    fake.hold("chat.postMessage", 4.0)                          # next call answered 4 s late
    fake.outage(503)                                            # every call 503 until outage(None)
    await fake.stop(); await fake.start()                       # refused meanwhile, then the same port
    await fake.wait_for("chat.postMessage")                     # a recorded Call

It also plays the Slack side of the conversation: `sign()` signs a request body
as Slack does (v0 HMAC-SHA256), `slash_command_form()`, `event_body()` and
`block_actions_form()` build the payloads Slack sends, and the websocket endpoint
speaks the Socket Mode envelope protocol (hello, envelopes, acks).

Use it from a test module with

    from tests.fakes.slack_api import fake_slack  # noqa: F401
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import WSMsgType, web

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0FAKE"
APP_ID = "A0FAKE"


@dataclass
class Call:
    """One request the fake received."""

    method: str  # Web API method ("chat.postMessage"), or "upload" / "response" for those URLs
    args: dict[str, Any]  # query, form and JSON body merged
    token: str | None  # the bearer token, to check which token was used where
    status: int  # what the fake answered
    body: bytes = b""
    path: str = ""

    @property
    def blocks(self) -> list[dict[str, Any]]:
        """The blocks sent, whether as JSON or as a form field holding JSON."""
        blocks = self.args.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else list(blocks)

    @property
    def text(self) -> str:
        return str(self.args.get("text") or "")

    def all_text(self) -> str:
        """The fallback and every text in the blocks, for 'does the reply say X' asserts."""
        return self.text + "\n" + json.dumps(self.blocks, ensure_ascii=False)


@dataclass
class Failure:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None


@dataclass
class FakeSlack:
    host: str = "127.0.0.1"
    calls: list[Call] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)  # file id -> uploaded bytes
    socket_received: list[dict[str, Any]] = field(default_factory=list)  # what clients sent on the socket
    port: int = 0

    def __post_init__(self) -> None:
        self._failures: dict[str, deque[Failure | None]] = defaultdict(deque)
        self._holds: dict[str, deque[float]] = defaultdict(deque)
        self.held: dict[str, int] = defaultdict(int)  # calls being held right now, by method
        self._outage: int | None = None
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_open = asyncio.Event()
        self._changed = asyncio.Event()

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free port; after `stop()`, on the same port again (an outage that refused
        connections is over)."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- addresses -------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL should be (deliberately without the trailing slash callers must add)."""
        return f"{self.base}/api"

    def response_url(self, rid: str = "1") -> str:
        return f"{self.base}/response/{rid}"

    # ---- scripting -------------------------------------------------------------------------

    def fail(
        self, method: str, *, times: int = 1, status: int = 200, error: str | None = None, retry_after: int | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next `times` calls to `method` with this status/error instead of success
        (after letting `after` calls succeed)."""
        self._failures[method].extend([None] * after)
        if status == 429 and retry_after is None:
            retry_after = 1
        if error is None and status == 429:
            error = "ratelimited"
        for _ in range(times):
            self._failures[method].append(Failure(status, error, retry_after))

    def hold(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Answer the next `times` calls to `method` only after `seconds` (a slow Slack); they are
        recorded when answered, and counted in `held` meanwhile.

        A held call whose client hangs up (timed out, killed) is never answered: Slack did not
        get to act on it. It is recorded at once with status 499 and `_failed: client_gone`, so
        it never counts as delivered."""
        self._holds[method].extend([seconds] * times)

    def cancel_holds(self, method: str) -> None:
        """Forget the holds scripted for `method` that no call has used yet."""
        self._holds.pop(method, None)

    def outage(self, status: int | None = 503) -> None:
        """Answer every Web API call and upload with `status` (Slack is down) until `outage(None)`."""
        self._outage = status

    def calls_to(self, method: str, *, ok_only: bool = False) -> list[Call]:
        return [c for c in self.calls if c.method == method and (not ok_only or c.status == 200)]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> Call:
        """Wait until `count` calls to `method` have been answered successfully; the last of them."""
        deadline = time.monotonic() + timeout
        while True:
            done = [c for c in self.calls_to(method) if c.status == 200 and not c.args.get("_failed")]
            if len(done) >= count:
                return done[count - 1]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = ", ".join(f"{c.method}:{c.status}" for c in self.calls) or "nothing"
                raise AssertionError(f"no {count}× {method} within {timeout}s; the fake saw: {seen}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.2))
            except TimeoutError:
                pass

    async def settle(self, quiet: float = 0.3) -> None:
        """Wait until no call has arrived for `quiet` seconds (to assert that nothing more comes)."""
        while True:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=quiet)
            except TimeoutError:
                return

    @staticmethod
    async def _held(request: web.Request, seconds: float) -> bool:
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

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._changed.set()

    def _scripted(self, method: str) -> Failure | None:
        queue = self._failures.get(method)
        return queue.popleft() if queue else None

    @staticmethod
    def _failure_response(failure: Failure) -> web.Response:
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
        if failure.status >= 500:
            return web.Response(status=failure.status, text="upstream error", headers=headers)
        return web.json_response({"ok": False, "error": failure.error}, status=failure.status, headers=headers)

    # ---- Web API ---------------------------------------------------------------------------

    async def _read(self, request: web.Request) -> tuple[dict[str, Any], bytes]:
        body = await request.read()
        args: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if ctype == "application/json" and body:
            args.update(json.loads(body))
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        return args, body

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, body = await self._read(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if self._outage is not None:
            response = self._failure_response(Failure(self._outage, "service_unavailable"))
            self._record(Call(method, {**args, "_failed": "outage"}, token, response.status, body, request.path))
            return response
        if self._holds.get(method):
            self.held[method] += 1
            self._changed.set()
            try:
                gone = await self._held(request, self._holds[method].popleft())
            finally:
                self.held[method] -= 1
            if gone:
                self._record(Call(method, {**args, "_failed": "client_gone"}, token, 499, body, request.path))
                return web.Response(status=499)
        failure = self._scripted(method)
        if failure is None:
            failure = self._token_problem(method, token)
        if failure is not None:
            response = self._failure_response(failure)
            self._record(Call(method, {**args, "_failed": failure.error}, token, response.status, body, request.path))
            return response
        payload = self._answer(method, args)
        self._record(Call(method, args, token, 200, body, request.path))
        return web.json_response(payload)

    @staticmethod
    def _token_problem(method: str, token: str | None) -> Failure | None:
        # as Slack does: the app-level token opens sockets and does nothing else
        if not token:
            return Failure(error="not_authed")
        if method == "apps.connections.open":
            return None if token.startswith("xapp-") else Failure(error="not_allowed_token_type")
        return Failure(error="not_allowed_token_type") if token.startswith("xapp-") else None

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True, "url": "https://fake.slack.test/", "team": "Fake Shop", "user": "opsbot",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False,
            }
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            ts = args.get("ts") or self._next_ts()
            reply: dict[str, Any] = {"ok": True, "channel": args.get("channel"), "ts": ts}
            if method == "chat.postEphemeral":
                return {"ok": True, "message_ts": ts}
            reply["message"] = {"text": args.get("text"), "ts": ts, "bot_id": BOT_ID}
            return reply
        if method == "files.getUploadURLExternal":
            file_id = "F" + uuid.uuid4().hex[:10].upper()
            # the upload goes to *our* URL: a fake that handed out files.slack.com would leak the test
            return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = json.loads(args.get("files") or "[]")
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title"), "name": f.get("title")} for f in files]}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://{self.host}:{self.port}/socket?ticket={uuid.uuid4().hex}"}
        return {"ok": True}

    def _next_ts(self) -> str:
        return f"1764000000.{next(self._ts):06d}"

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        body = await request.read()
        failure = Failure(self._outage) if self._outage is not None else self._scripted("upload")
        status = failure.status if failure else 200
        if failure is None:
            self.uploads[file_id] = body
        self._record(Call("upload", {"file_id": file_id}, None, status, body, request.path))
        return web.Response(status=status, text=f"OK - {len(body)}" if status == 200 else "failed")

    async def _response(self, request: web.Request) -> web.Response:
        args, body = await self._read(request)
        failure = self._scripted("response")
        status = failure.status if failure else 200
        self._record(Call("response", {**args, "rid": request.match_info["rid"]}, None, status, body, request.path))
        if failure is not None:
            return web.Response(status=failure.status, text=failure.error or "expired_url")
        return web.Response(text="ok")

    # ---- Socket Mode -----------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({
            "type": "hello", "num_connections": len(self._sockets),
            "debug_info": {"host": "fake", "approximate_connection_time": 3600},
            "connection_info": {"app_id": APP_ID},
        })
        self._socket_open.set()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self.socket_received.append(json.loads(message.data))
                    self._changed.set()
        finally:
            self._sockets.remove(ws)
        return ws

    async def socket_connected(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self._socket_open.wait(), timeout)

    async def socket_send(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0) -> str:
        """Push an envelope ("slash_commands", "events_api", "interactive") to the client; its envelope_id."""
        if not self._sockets:
            raise AssertionError("no Socket Mode client is connected")
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope.update({"retry_attempt": retry_attempt, "retry_reason": ""})
        await self._sockets[-1].send_json(envelope)
        return envelope_id

    async def socket_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The client's acknowledgement of an envelope."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.socket_received:
                if message.get("envelope_id") == envelope_id:
                    return message
            await asyncio.sleep(0.01)
        raise AssertionError(f"envelope {envelope_id} was not acknowledged within {timeout}s")


# ---- the Slack side of requests -----------------------------------------------------------------


def sign(secret: str, body: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends: v0 HMAC-SHA256 over `v0:<timestamp>:<raw body>`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def trigger_id() -> str:
    """A fresh trigger_id, shaped like Slack's (`<digits>.<digits>.<hex>`)."""
    return f"1337.42.{uuid.uuid4().hex}"


def slash_command(
    text: str, *, command: str = "/ops", channel: str = "COPS", user: str = "UALICE", response_url: str = ""
) -> dict[str, str]:
    """The fields of a slash command (a form in HTTP mode, the payload in Socket Mode)."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "fakeshop",
        "channel_id": channel,
        "channel_name": "ops",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        # Slack gives every invocation its own trigger_id, so no two real commands have one body
        # (the replay guard refuses a second use of a signed body: bot/state/shared.py ReplayGuard)
        "trigger_id": trigger_id(),
    }


def slash_command_form(text: str, **kwargs: Any) -> str:
    return urlencode(slash_command(text, **kwargs))


def event_body(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """An Events API `event_callback` wrapping `event`."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
    }


def mention_event(text: str, *, channel: str = "COPS", user: str = "UALICE", ts: str = "1764000100.000100",
                  thread_ts: str | None = None) -> dict[str, Any]:
    event = {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def dm_event(text: str, *, channel: str = "DALICE", user: str = "UALICE", ts: str = "1764000200.000100",
             **extra: Any) -> dict[str, Any]:
    return {"type": "message", "channel_type": "im", "user": user, "text": text, "ts": ts, "channel": channel,
            "event_ts": ts, **extra}


def block_actions(
    value: str, *, action_id: str = "opsbot_action_0", channel: str = "COPS", user: str = "UALICE",
    message_ts: str = "1764000300.000100", response_url: str = "",
) -> dict[str, Any]:
    """A block_actions payload for a click on a button carrying `value`."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": trigger_id(),
        "team": {"id": TEAM_ID, "domain": "fakeshop"},
        "channel": {"id": channel, "name": "ops"},
        "message": {"type": "message", "ts": message_ts, "bot_id": BOT_ID, "text": "KPIs"},
        "response_url": response_url,
        "actions": [{
            "type": "button", "action_id": action_id, "block_id": "b1", "value": value,
            "text": {"type": "plain_text", "text": "Run"}, "action_ts": str(time.time()),
        }],
    }


def block_actions_form(value: str, **kwargs: Any) -> str:
    return urlencode({"payload": json.dumps(block_actions(value, **kwargs))})


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
