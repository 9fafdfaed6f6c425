"""WeCom's answers as the outbox's `DeliveryError`: errcodes a retry can fix (45009 throttled, -1
busy, HTTP 5xx, timeouts) are not permanent; a robot removed, disabled or out of the group
(93000/93004/93008) or a message WeCom refuses as malformed is."""

from __future__ import annotations

from bot.adapters.base import DeliveryError

THROTTLED = 45009
BUSY = -1
# no retry can help: the group's admin must fix the robot (and the chat's subscriptions are paused)
PERMANENT = {
    93000: "the webhook key is invalid or the robot was removed from the group",
    93004: "the robot is disabled",
    93008: "the robot is not in the group",
    40008: "invalid message type",
    40058: "a parameter is invalid (content too long?)",
    44004: "the content is empty",
    40009: "the image is too large",
    40006: "the file size is invalid",
}


def clean(errmsg: str, key: str) -> str:
    """WeCom's errmsg, never with the key in it, short enough for a log line."""
    return errmsg.replace(key, "***")[:200] if key else errmsg[:200]


def api_error(errcode: int, errmsg: str, robot: str, key: str = "") -> DeliveryError:
    """A JSON answer with errcode != 0."""
    if errcode == THROTTLED:
        return DeliveryError(f"wecom_45009: robot {robot} is throttled (more than 20 messages a minute)",
                             permanent=False)
    if errcode in PERMANENT:
        return DeliveryError(f"wecom_{errcode}: robot {robot}: {PERMANENT[errcode]}", permanent=True)
    # -1 (system busy) and codes we do not know: retried, a bounded number of times by the outbox
    return DeliveryError(f"wecom_{errcode}: robot {robot}: {clean(errmsg, key)}", permanent=False)


def http_error(status: int, robot: str) -> DeliveryError:
    """A non-JSON answer (a proxy's 502, WeCom's 5xx): transient."""
    return DeliveryError(f"wecom_http_{status}: robot {robot}", permanent=False)


def transport_error(exc: BaseException, robot: str) -> DeliveryError:
    """No answer at all. Only the exception's type: aiohttp's messages carry the URL, and with it the key."""
    return DeliveryError(f"wecom_{type(exc).__name__}: robot {robot}", permanent=False)
