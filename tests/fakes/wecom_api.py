"""A fake WeCom group robot webhook on 127.0.0.1: `POST /cgi-bin/webhook/send?key=…` and
`/cgi-bin/webhook/upload_media?key=…&type=file`.

Real HTTP (aiohttp), so the adapter runs unchanged; only the base URL differs (WECOM_API_URL).
It checks what the real one checks: a known key (else errcode 93000), the payload's shape per
msgtype, markdown ≤ 4096 and text ≤ 2048 bytes of UTF-8, an image ≤ 2 MB, PNG or JPEG, whose md5
matches its base64 content, files of 5 B – 20 MB and a media_id this robot uploaded, and 20
messages a minute per robot (errcode 45009 beyond, on the fake's clock, which a test may share
with the adapter). Errors are answered as WeCom does: HTTP 200 with an errcode. 40058 for an
oversize or malformed field is this fake's choice (WeCom's exact code for it is not documented).

    fake.add_robot("ops")                      # its key is fake.keys["ops"]
    fake.fail(errcode=45009)                   # next send throttled
    fake.fail(status=500, times=2)             # next two sends answered 500
    fake.sent("ops")                           # the messages that robot accepted, in order

Use it from a test module with

    from tests.fakes.wecom_api import fake_wecom  # noqa: F401
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

MARKDOWN_BYTES = 4096
TEXT_BYTES = 2048
IMAGE_BYTES = 2 * 1024 * 1024
PER_MINUTE = 20


@dataclass
class Call:
    path: str
    robot: str | None  # None: an unknown key
    body: dict[str, Any]
    errcode: int
    status: int
    at: float  # on the fake's clock


@dataclass
class Failure:
    status: int = 200
    errcode: int = 0


@dataclass
class FakeWeCom:
    host: str = "127.0.0.1"
    clock: Callable[[], float] = time.monotonic
    calls: list[Call] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # robot name -> key
    uploads: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # media_id -> robot, name, bytes
    port: int = 0

    def __post_init__(self) -> None:
        self._failures: deque[Failure] = deque()
        self._runner: web.AppRunner | None = None

    def add_robot(self, name: str) -> str:
        self.keys[name] = f"{uuid.uuid4()}"
        return self.keys[name]

    async def start(self) -> None:
        app = web.Application(client_max_size=40 * 1024 * 1024)
        app.router.add_post("/cgi-bin/webhook/send", self._send)
        app.router.add_post("/cgi-bin/webhook/upload_media", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail(self, *, errcode: int = 0, status: int = 200, times: int = 1) -> None:
        """Answer the next `times` sends with this errcode (HTTP 200) or HTTP status instead."""
        self._failures.extend(Failure(status, errcode) for _ in range(times))

    def sent(self, robot: str) -> list[dict[str, Any]]:
        return [c.body for c in self.calls if c.robot == robot and c.errcode == 0 and c.status == 200
                and c.path.endswith("/send")]

    def _robot(self, request: web.Request) -> str | None:
        key = request.query.get("key", "")
        return next((name for name, k in self.keys.items() if k == key), None)

    def _answer(self, call: Call, extra: dict[str, Any] | None = None, errmsg: str = "ok") -> web.Response:
        self.calls.append(call)
        if call.status != 200:
            return web.Response(status=call.status, text="upstream error")
        return web.json_response({"errcode": call.errcode, "errmsg": errmsg, **(extra or {})})

    async def _send(self, request: web.Request) -> web.Response:
        now = self.clock()
        robot = self._robot(request)
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if robot is None:
            return self._answer(Call(request.path, None, body or {}, 93000, 200, now), errmsg="invalid webhook url")
        if self._failures:
            f = self._failures.popleft()
            return self._answer(Call(request.path, robot, body or {}, f.errcode, f.status, now), errmsg="scripted")
        if not isinstance(body, dict):
            return self._answer(Call(request.path, robot, {}, 40058, 200, now))
        recent = [c for c in self.calls if c.robot == robot and c.errcode == 0 and c.status == 200
                  and c.path.endswith("/send")
                  and c.at > now - 60]
        if len(recent) >= PER_MINUTE:
            return self._answer(Call(request.path, robot, body, 45009, 200, now), errmsg="api freq out of limit")
        return self._answer(Call(request.path, robot, body, self._check(robot, body), 200, now))

    def _check(self, robot: str, body: dict[str, Any]) -> int:
        kind = body.get("msgtype")
        inner = body.get(kind) if isinstance(kind, str) else None
        if kind not in ("text", "markdown", "image", "file", "news") or not isinstance(inner, dict):
            return 40008
        if kind in ("text", "markdown"):
            content = inner.get("content")
            if not isinstance(content, str) or not content.strip():
                return 44004
            limit = MARKDOWN_BYTES if kind == "markdown" else TEXT_BYTES
            return 40058 if len(content.encode("utf-8")) > limit else 0
        if kind == "image":
            try:
                data = base64.b64decode(inner.get("base64", ""), validate=True)
            except (binascii.Error, TypeError):
                return 40058
            if hashlib.md5(data).hexdigest() != inner.get("md5"):
                return 40058
            if len(data) > IMAGE_BYTES or not data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
                return 40009
            return 0
        if kind == "file":
            upload = self.uploads.get(str(inner.get("media_id")))
            return 0 if upload is not None and upload[0] == robot else 40058
        return 0

    async def _upload(self, request: web.Request) -> web.Response:
        now = self.clock()
        robot = self._robot(request)
        if robot is None:
            return self._answer(Call(request.path, None, {}, 93000, 200, now), errmsg="invalid webhook url")
        if request.query.get("type") != "file" or not request.content_type.startswith("multipart/"):
            return self._answer(Call(request.path, robot, {}, 40058, 200, now))
        form = await request.post()
        media = form.get("media")
        if not isinstance(media, web.FileField):
            return self._answer(Call(request.path, robot, {}, 40058, 200, now))
        content = media.file.read()
        if not 5 <= len(content) <= 20 * 1024 * 1024:
            return self._answer(Call(request.path, robot, {"filename": media.filename}, 40006, 200, now))
        media_id = uuid.uuid4().hex
        self.uploads[media_id] = (robot, media.filename, content)
        return self._answer(Call(request.path, robot, {"filename": media.filename}, 0, 200, now),
                            {"type": "file", "media_id": media_id, "created_at": str(int(time.time()))})


@pytest.fixture
async def fake_wecom() -> AsyncIterator[FakeWeCom]:
    fake = FakeWeCom()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
