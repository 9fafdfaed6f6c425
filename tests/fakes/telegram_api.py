"""A fake Telegram Bot API on 127.0.0.1, spoken to over real HTTP.

python-telegram-bot is pointed at it with `base_url`, exactly as a local Bot
API server or a proxy would be, so tests exercise PTB's real request code,
error mapping and update parsing. The fake records every call with its
parameters decoded, serves queued updates to getUpdates, and can be scripted
to fail the way Telegram does (flood control, a group upgraded to a
supergroup, a bot kicked from a chat, a bad gateway).

    async def test_x(fake_telegram: FakeTelegram) -> None:
        fake_telegram.push(fake_telegram.message("/kpi gmv", chat_id=-100, user_id=42))
        [call] = await fake_telegram.wait_for("sendMessage")
        assert "GMV" in call.params["text"]
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp import web

TOKEN = "123456:TEST-token_for-the-fake"
BOT_ID = 123456
BOT_USERNAME = "opsbot"

# PTB posts form fields; non-string values are JSON-encoded, strings are sent as they are.
# Which keys carry JSON is a property of the Bot API method signatures, so decode by key.
_JSON_KEYS = {
    "reply_markup", "entities", "caption_entities", "commands", "scope", "reply_parameters",
    "allowed_updates", "link_preview_options", "show_caption_above_media", "disable_notification",
    "protect_content", "drop_pending_updates", "show_alert", "has_spoiler", "max_connections",
}
_INT_KEYS = {"chat_id", "message_id", "offset", "limit", "timeout", "message_thread_id", "cache_time"}


# https://core.telegram.org/bots/api#html-style
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
                 "code", "pre", "blockquote", "tg-emoji"}
_BARE_AMP = re.compile(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"unsupported tag <{tag}>")
        if tag == "pre" and "pre" in self.stack:
            self.problems.append("nested <pre>")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def html_problems(text: str) -> list[str]:
    """What Telegram's HTML parser would refuse in `text` ([] when it is fine)."""
    parser = _Balance()
    parser.feed(text)
    parser.close()
    problems = list(parser.problems)
    if parser.stack:
        problems.append(f"unclosed {parser.stack}")
    if _BARE_AMP.search(text):
        problems.append("bare &")
    return problems


def visible(text: str) -> str:
    """The text a Telegram user sees: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"</?[a-z-]+>", "", text))


def tg_len(text: str) -> int:
    """Telegram counts UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # part name -> (filename, bytes)
    at: float = field(default_factory=time.monotonic)
    result: Any = None  # what the fake answered when the call succeeded


@dataclass
class Failure:
    status: int
    description: str
    parameters: dict[str, Any] | None = None
    method: str | None = None  # None: any method
    chat_id: int | None = None  # None: any chat


class FakeTelegram:
    """The fake server. Start it with `await fake.start()`, or use the `fake_telegram` fixture."""

    def __init__(self, token: str = TOKEN, username: str = BOT_USERNAME) -> None:
        self.token = token
        self.username = username
        self.calls: list[Call] = []
        self.webhook: dict[str, Any] = {}
        self.commands: dict[str, list[dict[str, str]]] = {}  # language_code ("" = default) -> commands
        # groups upgraded to supergroups: every send to the old id fails, as on Telegram
        self.migrated: dict[int, int] = {}
        # chats the bot was removed from: every send fails with 403
        self.kicked: set[int] = set()
        self._failures: list[Failure] = []
        self._outage: int | None = None
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_message_id = 1000
        self._arrived = asyncio.Event()  # an update was queued
        self._called = asyncio.Condition()  # a call was recorded
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API root, as TELEGRAM_API_URL would name it (methods at {url}/bot{token}/{method})."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free port; after `stop()`, on the same port again (an outage that refused
        connections is over)."""
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.port = self._runner.addresses[0][1]  # port 0 at first: the OS picked a free one

    async def stop(self) -> None:
        self._arrived.set()  # release a long poll in flight
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- scripting ------------------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; gives it the next update_id unless it has one."""
        update.setdefault("update_id", self._next_update_id)
        self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
        self._updates.append(update)
        self._arrived.set()
        return update

    def fail(
        self,
        status: int,
        description: str,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        parameters: dict[str, Any] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` matching calls fail with this Bot API error."""
        for _ in range(times):
            self._failures.append(Failure(status, description, parameters, method, chat_id))

    def outage(self, status: int | None = 503) -> None:
        """Answer every call with `status` (Telegram is down) until `outage(None)`; calls are still
        recorded, with no result."""
        self._outage = status

    def flood(self, retry_after: int, *, method: str | None = None, times: int = 1) -> None:
        self.fail(429, f"Too Many Requests: retry after {retry_after}", method=method,
                  parameters={"retry_after": retry_after}, times=times)

    def bad_gateway(self, *, method: str | None = None, times: int = 1) -> None:
        self.fail(502, "Bad Gateway", method=method, times=times)

    # ---- building updates -----------------------------------------------------------------------

    @staticmethod
    def chat(chat_id: int, title: str = "Ops team") -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Ann"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": title}

    @staticmethod
    def user(user_id: int, language_code: str | None = "en", username: str = "ann") -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Ann", "username": username}
        if language_code:
            user["language_code"] = language_code
        return user

    def message(
        self,
        text: str,
        *,
        chat_id: int,
        user_id: int,
        language_code: str | None = "en",
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """A message update, with the bot_command / mention entities Telegram would attach."""
        self._next_message_id += 1
        message: dict[str, Any] = {
            "message_id": self._next_message_id,
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": self.user(user_id, language_code),
            "text": text,
        }
        first = text.split(maxsplit=1)[0] if text.strip() else ""
        if first.startswith("/") and len(first) > 1 and first[1:].split("@")[0].isascii():
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": tg_len(first)}]
        elif first.startswith("@") and len(first) > 1:
            message["entities"] = [{"type": "mention", "offset": 0, "length": tg_len(first)}]
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        return {"message": message}

    def callback(
        self, data: str, *, chat_id: int, user_id: int, message_id: int = 999, language_code: str | None = "en"
    ) -> dict[str, Any]:
        """A callback_query update: user `user_id` pressed a button carrying `data`."""
        return {
            "callback_query": {
                "id": f"cb{self._next_update_id}",
                "from": self.user(user_id, language_code),
                "chat_instance": "ci1",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": self.chat(chat_id),
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "opsbot", "username": self.username},
                    "text": "earlier reply",
                },
            }
        }

    # ---- inspecting -----------------------------------------------------------------------------

    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [
            c for c in self.calls
            if c.method == method and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    async def wait_for(
        self, method: str, count: int = 1, *, chat_id: int | None = None, timeout: float = 10.0
    ) -> list[Call]:
        """Wait until `count` calls to `method` (to `chat_id`) were recorded; returns them all."""

        def enough() -> bool:
            return len(self.calls_to(method, chat_id)) >= count

        async with self._called:
            await asyncio.wait_for(self._called.wait_for(enough), timeout)
        return self.calls_to(method, chat_id)

    # ---- the API --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = Call(method, params, files)
        async with self._called:
            self.calls.append(call)
            self._called.notify_all()
        if self._outage is not None:
            return _error(self._outage, "Service Unavailable")
        failure = self._take_failure(method, params.get("chat_id"))
        if failure is not None:
            return _error(failure.status, failure.description, failure.parameters)
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int) and method.startswith(("send", "edit")):
            if chat_id in self.migrated:
                return _error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                              {"migrate_to_chat_id": self.migrated[chat_id]})
            if chat_id in self.kicked:
                return _error(403, "Forbidden: bot was kicked from the group chat")
        handler: Callable[[dict[str, Any], dict[str, tuple[str, bytes]]], Any] | None = getattr(
            self, f"_api_{method.lower()}", None
        )
        if handler is None:
            return _error(404, "Not Found")
        result = handler(params, files)
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, web.StreamResponse):
            return result
        call.result = result
        return web.json_response({"ok": True, "result": result})

    def _take_failure(self, method: str, chat_id: Any) -> Failure | None:
        for i, f in enumerate(self._failures):
            if (f.method is None or f.method == method) and (f.chat_id is None or f.chat_id == chat_id):
                return self._failures.pop(i)
        return None

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID, "is_bot": True, "first_name": "opsbot", "username": self.username,
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
        }

    def _api_getme(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        return self._bot_user()

    async def _api_getupdates(self, params: dict[str, Any], files: Any) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:  # Telegram forgets every update below the offset: they are confirmed
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            # Long polling, but short: a queued update wakes us at once, and an empty answer
            # comes back quickly so stopping the poller never waits out a real 10 s poll.
            self._arrived.clear()
            wait = min(float(params.get("timeout") or 0), 0.5)
            if wait > 0:
                try:
                    await asyncio.wait_for(self._arrived.wait(), wait)
                except TimeoutError:
                    pass
        limit = int(params.get("limit") or 100)
        return [u for u in self._updates if u["update_id"] >= offset][:limit]

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        self._next_message_id += 1
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": self._next_message_id,
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": self._bot_user(),
            **extra,
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        if "message_thread_id" in params:
            message["message_thread_id"] = params["message_thread_id"]
        return message

    @staticmethod
    def _check_html(params: dict[str, Any], key: str, limit: int) -> web.Response | None:
        """Refuse what Telegram refuses: broken HTML, and too much visible text."""
        text = params.get(key) or ""
        if params.get("parse_mode") == "HTML":
            problems = html_problems(text)
            if problems:
                return _error(400, f"Bad Request: can't parse entities: {problems[0]}")
            text = visible(text)
        if tg_len(text) > limit:
            return _error(400, f"Bad Request: {'message' if key == 'text' else 'caption'} is too long")
        return None

    def _api_sendmessage(self, params: dict[str, Any], files: Any) -> Any:
        if not (params.get("text") or "").strip():
            return _error(400, "Bad Request: message text is empty")
        refused = self._check_html(params, "text", 4096)
        return refused or self._message(params, text=params["text"])

    def _api_sendphoto(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> Any:
        if "photo" not in files and not params.get("photo"):
            return _error(400, "Bad Request: there is no photo in the request")
        refused = self._check_html(params, "caption", 1024)
        if refused:
            return refused
        extra: dict[str, Any] = {"photo": [{"file_id": "photo1", "file_unique_id": "u1", "width": 1, "height": 1}]}
        if params.get("caption"):
            extra["caption"] = params["caption"]
        return self._message(params, **extra)

    def _api_senddocument(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> Any:
        if "document" not in files and not params.get("document"):
            return _error(400, "Bad Request: there is no document in the request")
        name = files["document"][0] if "document" in files else "file"
        return self._message(params, document={"file_id": "doc1", "file_unique_id": "d1", "file_name": name})

    def _api_editmessagetext(self, params: dict[str, Any], files: Any) -> Any:
        refused = self._check_html(params, "text", 4096)
        if refused:
            return refused
        message = self._message(params, text=params.get("text", ""))
        message["message_id"] = params["message_id"]
        message["edit_date"] = int(time.time())
        return message

    def _api_sendchataction(self, params: dict[str, Any], files: Any) -> bool:
        return True

    def _api_setmycommands(self, params: dict[str, Any], files: Any) -> bool:
        self.commands[params.get("language_code", "")] = params.get("commands", [])
        return True

    def _api_answercallbackquery(self, params: dict[str, Any], files: Any) -> bool:
        return True

    def _api_setwebhook(self, params: dict[str, Any], files: Any) -> bool:
        self.webhook = dict(params)
        return True

    def _api_deletewebhook(self, params: dict[str, Any], files: Any) -> bool:
        self.webhook = {}
        return True

    def _api_getwebhookinfo(self, params: dict[str, Any], files: Any) -> dict[str, Any]:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}

    def _api_close(self, params: dict[str, Any], files: Any) -> bool:
        return True


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _decode(key: str, value: str) -> Any:
    if key in _JSON_KEYS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if key in _INT_KEYS:
        try:
            return int(value)
        except ValueError:
            return value  # a @channelusername
    return value


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    params: dict[str, Any] = dict(request.query)
    files: dict[str, tuple[str, bytes]] = {}
    if request.content_type == "application/json":
        body = await request.json()
        params.update(body if isinstance(body, dict) else {})
        return params, files
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", None)
            if not name:
                continue
            filename = getattr(part, "filename", None)
            data = await part.read()  # type: ignore[union-attr]
            if filename:
                files[name] = (filename, bytes(data))
            else:
                params[name] = _decode(name, bytes(data).decode("utf-8"))
        return params, files
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, str):
            params[key] = _decode(key, value)
    return params, files


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
