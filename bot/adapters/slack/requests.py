"""What HTTP mode checks in a request before Bolt sees it: its content type, Slack's signature, a
payload Bolt could trip over, and the replay guard's key for commands and clicks."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from bot.adapters.slack.limits import SIGNATURE_MAX_AGE
from bot.state.shared import SignedRequest

# What Slack POSTs: slash commands and interactivity as forms, the Events API as JSON.
SLACK_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "application/json"})


def signature_ok(secret: str, body: bytes, timestamp: str | None, signature: str | None,
                 now: float | None = None) -> bool:
    """Slack's v0 signature over the raw bytes, checked before anything parses them.

    slack_sdk's verifier raises on a timestamp that is not a number and on a body that is not
    UTF-8; here anything but a fresh, matching signature is simply False.
    """
    if not secret or not timestamp or not signature or not (timestamp.isascii() and timestamp.isdigit()):
        return False
    if len(timestamp) > 12:  # seconds since 1970 have 10 digits; a longer number overflows float
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def malformed(body: object) -> str | None:
    """Why Bolt would trip over a payload (it takes Slack's shapes for granted), or None.

    Bolt's matchers index `event["type"]` and `actions[0]["action_id"]` unguarded: a payload
    without them would become a 500 and an error log instead of a plain refusal.
    """
    if not isinstance(body, dict):
        return "not a JSON object"
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "an event_callback without an event type"
    elif kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions or not all(
            isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions
        ):
            return "block_actions without actions"
    return None


def signed_request(raw: bytes, timestamp: str, body: dict[str, Any]) -> SignedRequest | None:
    """A slash command or an interactive payload (a button click) as the replay guard sees it, or
    None for the Events API, whose deliveries are taken once by their event_id
    (`SlackAdapter._first_time`), which also covers Slack's own retries: they are signed anew,
    with a fresh timestamp.

    The key is the digest of what the signature covers (timestamp and raw body), so a captured
    request replayed byte for byte has the same key, while two real commands never do (each has
    its own trigger_id and timestamp).
    """
    key = "slack:req:" + hashlib.sha256(b"v0:" + timestamp.encode() + b":" + raw).hexdigest()
    until = int(timestamp) + SIGNATURE_MAX_AGE  # signature_ok refuses it after that anyway
    if body.get("command"):
        return SignedRequest("slack", "command", key, until, chat=f"slack:{body.get('channel_id', '')}",
                             user=f"slack:{body.get('user_id', '')}",
                             text=f"{body.get('command')} {body.get('text') or ''}".strip())
    if body.get("type") in (None, "event_callback", "url_verification", "app_rate_limited"):
        return None
    # interactivity: block_actions, and whatever else Slack posts with a payload (views, shortcuts)
    user = body.get("user") if isinstance(body.get("user"), dict) else {}
    channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    actions = body.get("actions") if isinstance(body.get("actions"), list) else []
    value = actions[0].get("value") if actions and isinstance(actions[0], dict) else None
    return SignedRequest("slack", "action", key, until,
                         chat=f"slack:{channel.get('id') or container.get('channel_id') or ''}",
                         user=f"slack:{user.get('id', '')}", text=str(value or body.get("type")))
