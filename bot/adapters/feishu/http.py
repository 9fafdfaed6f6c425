"""Event callbacks over HTTP (`[feishu] mode = "http"`), checked before anything reads them.

Feishu signs each callback: X-Lark-Signature = sha256(timestamp + nonce + encrypt key + body),
and with an encrypt key set the body is {"encrypt": AES-256-CBC(sha256(key), JSON)}. A request
with a missing or wrong signature, a stale timestamp or a wrong verification token gets 401; a
body that does not decrypt gets 400; both are logged (never with the secrets). The
url_verification challenge (sent unsigned, but encrypted and carrying the verification token) is
answered. Each accepted signed callback is recorded through the dispatcher's replay guard
(issue 23): its second use gets a 200 and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from lark_oapi.core.utils.decryptor import AESCipher

from bot.adapters.feishu.config import FeishuConfig
from bot.adapters.feishu.limits import SIGNATURE_MAX_AGE
from bot.state.shared import ReplayGuard, SignedRequest

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # callbacks are small; anything bigger is no callback


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def decrypt(encrypt_key: str, body: bytes) -> dict[str, Any] | None:
    """The callback's JSON, or None when it is not an encrypted object that decrypts to one."""
    try:
        outer = json.loads(body)
        sealed = outer.get("encrypt") if isinstance(outer, dict) else None
        if not isinstance(sealed, str) or not sealed:
            return None
        inner = json.loads(AESCipher(encrypt_key).decrypt_str(sealed))
    except Exception:  # bad base64, padding, UTF-8 or JSON: all the same to the sender
        return None
    return inner if isinstance(inner, dict) else None


def token_of(payload: dict[str, Any]) -> str:
    return str((payload.get("header") or {}).get("token") or payload.get("token") or "")


class CallbackServer:
    """The aiohttp endpoint; `handle(payload)` gets each verified, decrypted, first-time callback
    and returns the JSON to answer (a card action's toast, or {})."""

    def __init__(self, config: FeishuConfig, replays: ReplayGuard,
                 handle: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
        self.config = config
        self.replays = replays
        self.handle = handle
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self.config.path, self.endpoint)
        app.router.add_get("/healthz", self.health)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.config.host, self.config.port).start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}{self.config.path}"
        log.info("feishu: HTTP callbacks on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def endpoint(self, request: web.Request) -> web.Response:
        key = self.config.encrypt_key or ""
        expected_token = self.config.verification_token or ""
        raw = await request.read()
        ts = request.headers.get("X-Lark-Request-Timestamp", "")
        nonce = request.headers.get("X-Lark-Request-Nonce", "")
        sig = request.headers.get("X-Lark-Signature", "")
        signed = bool(ts and nonce and sig)
        if signed:
            fresh = ts.isdigit() and abs(time.time() - int(ts)) <= SIGNATURE_MAX_AGE
            if not key or not fresh or not hmac.compare_digest(sig, signature(ts, nonce, key, raw)):
                log.warning("feishu: refused a callback with a stale or wrong signature")
                return web.json_response({"error": "invalid signature"}, status=401)
        payload = decrypt(key, raw) if key else None
        if payload is None:
            log.warning("feishu: refused a callback that does not decrypt with the encrypt key")
            return web.json_response({"error": "undecryptable"}, status=400)
        if not expected_token or not hmac.compare_digest(token_of(payload).encode(), expected_token.encode()):
            log.warning("feishu: refused a callback with a wrong verification token")
            return web.json_response({"error": "invalid token"}, status=401)
        if payload.get("type") == "url_verification":
            return web.json_response({"challenge": payload.get("challenge", "")})
        if not signed:
            log.warning("feishu: refused an unsigned callback")
            return web.json_response({"error": "unsigned"}, status=401)
        guard = SignedRequest("feishu", "event", "feishu:req:" + sig, int(ts) + SIGNATURE_MAX_AGE,
                              chat=str(((payload.get("event") or {}).get("message") or {}).get("chat_id") or ""))
        if not await self.replays.admit(guard):
            return web.json_response({})
        return web.json_response(await self.handle(payload))
