"""DingTalk's API answers as the outbox's `DeliveryError`: what a retry can fix, what it cannot.

The v1.0 API (api.dingtalk.com) answers errors with an HTTP status and {"code": "<string>",
"message": …}; the older one (oapi.dingtalk.com, media uploads) with HTTP 200 and a numeric
{"errcode": …, "errmsg": …}. The rule for both: throttling, a server error or no answer is
transient; an expired access token is fetched again and retried; any other refusal (a wrong
parameter, a group the robot is not in, a missing permission) is permanent.
"""

from __future__ import annotations

from bot.adapters.base import DeliveryError

# v1.0 codes that mean "too fast": Forbidden.AccessDenied.QpsLimitForApi, …QpsLimitForAppkeyAndApi,
# Throttling, Throttling.User, and the send-rate limits of robot messages
THROTTLE_MARKS = ("QpsLimit", "Throttling", "FlowControl", "too.fast", "TooFast", "send.too.fast")
AUTH_CODES = frozenset({"InvalidAuthentication", "invalidAuthentication", "Forbidden.AccessDenied.AccessTokenExpired"})
# oapi errcodes
OAPI_THROTTLED = frozenset({90018, 90002, 90006, 130101, 88})  # QPS / per-minute limits
OAPI_BUSY = frozenset({-1})  # system busy
OAPI_TOKEN = frozenset({40014, 42001, 40001})  # invalid or expired access_token


class DingTalkApiError(Exception):
    """A call DingTalk refused (or answered with something unreadable)."""

    def __init__(self, code: str | int | None, message: str, status: int | None = None) -> None:
        super().__init__(f"dingtalk {code or status}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @property
    def rate_limited(self) -> bool:
        if isinstance(self.code, int):
            return self.code in OAPI_THROTTLED
        return self.status == 429 or any(mark in str(self.code or "") for mark in THROTTLE_MARKS)

    @property
    def auth_expired(self) -> bool:
        if isinstance(self.code, int):
            return self.code in OAPI_TOKEN
        return self.status == 401 or self.code in AUTH_CODES

    @property
    def transient(self) -> bool:
        if self.rate_limited or self.auth_expired:
            return True
        if isinstance(self.code, int):
            return self.code in OAPI_BUSY
        return self.status is None or self.status >= 500

    @property
    def reason(self) -> str:
        return f"dingtalk_{self.code}" if self.code not in (None, "") else f"dingtalk_http_{self.status}"


def delivery_error(exc: Exception) -> DeliveryError:
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, DingTalkApiError):
        return DeliveryError(exc.reason, permanent=not exc.transient)
    return DeliveryError(type(exc).__name__, permanent=False)  # no answer at all: the network
