"""Slack's error codes, sorted: the ones a retry can fix, the ones no retry will, and each send
failure as the outbox's `DeliveryError` (`delivery_error`)."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.adapters.base import DeliveryError

# Errors whose retry can succeed; any other `ok: false` error is a property of the request
# (channel gone, bot removed, token revoked, invalid blocks) and retrying it forever helps nobody.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found"})
# what a Web API call raises once its retries are spent: Slack's answer, or no answer at all
SEND_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError)
REFUSED_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked", "token_expired", "account_inactive"}
)


def error_code(exc: SlackApiError) -> str | None:
    data = exc.response.data
    return data.get("error") if isinstance(data, dict) else None


def delivery_error(exc: Exception) -> DeliveryError:
    """A send failure as the outbox understands it: permanent means no retry can help."""
    if isinstance(exc, SlackApiError):
        code = error_code(exc)
        status = exc.response.status_code
        transient = status == 429 or status >= 500 or code is None or code in TRANSIENT_ERRORS
        return DeliveryError(code or f"http_{status}", permanent=not transient)
    return DeliveryError(type(exc).__name__, permanent=False)
