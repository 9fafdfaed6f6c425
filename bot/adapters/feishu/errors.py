"""Feishu's API error codes as the outbox's `DeliveryError`: what a retry can fix, what it cannot.

Codes from open.feishu.cn "Server error codes" and the im/v1 message pages.
"""

from __future__ import annotations

from typing import Any

from bot.adapters.base import DeliveryError

# a retry (after a back-off) can succeed
RATE_LIMITED = frozenset({
    99991400,  # request trigger frequency limit (app-wide QPS)
    230020,  # this chat is being sent messages too frequently
    11232,  # message sending frequency limit
    11233,
})
TRANSIENT = RATE_LIMITED | frozenset({
    1,  # internal error
    99991663, 99991661, 99991668,  # the tenant token expired or was refused: the SDK fetches a new one
    230099,  # internal error creating the message
    1000040343,  # ws endpoint: internal error
})
# no retry will help: the chat is gone, the bot is out of it, or the app may not speak there
PERMANENT = frozenset({
    230001,  # invalid receive_id (no such chat or user)
    230002,  # the bot is not in the chat
    230006,  # the bot ability is not enabled for the app
    230013,  # the user is out of the app's availability
    230017,  # the bot cannot message this chat (left, or an external chat)
    230027,  # no permission
    230035,  # the chat no longer exists
    230110,  # the message was deleted (an edit of it)
    10014, 10003,  # app id or secret wrong: a configuration error
    99991672, 99991679,  # the app lacks a scope (im:message)
})


class FeishuApiError(Exception):
    """A call the API answered with code != 0 (or an HTTP error)."""

    def __init__(self, code: int | None, msg: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(f"feishu {code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        if self.code in PERMANENT:
            return False
        if self.code in TRANSIENT or self.status in (429, None) or (self.status or 0) >= 500:
            return True
        return False

    @property
    def rate_limited(self) -> bool:
        return self.code in RATE_LIMITED or self.status == 429


def from_response(response: Any) -> FeishuApiError:
    """The error in an SDK response (`BaseResponse` with code, msg and the raw HTTP response)."""
    raw = getattr(response, "raw", None)
    status = getattr(raw, "status_code", None)
    headers = getattr(raw, "headers", None) or {}
    reset = None
    for name in ("x-ogw-ratelimit-reset", "X-Ogw-Ratelimit-Reset", "Retry-After"):
        value = headers.get(name) if hasattr(headers, "get") else None
        if value:
            try:
                reset = float(value)
            except ValueError:
                pass
            break
    return FeishuApiError(getattr(response, "code", None), str(getattr(response, "msg", "") or ""), status, reset)


def delivery_error(exc: Exception) -> DeliveryError:
    if isinstance(exc, FeishuApiError):
        reason = f"feishu_{exc.code}" if exc.code is not None else f"http_{exc.status}"
        return DeliveryError(reason, permanent=not exc.transient)
    return DeliveryError(type(exc).__name__, permanent=False)  # no answer at all: the network
