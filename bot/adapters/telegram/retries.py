"""How hard a send tries (`RetryPolicy`), how long Telegram's flood control asks to wait, and the
plain-text copy a message is sent once more as when Telegram refuses its HTML."""

from __future__ import annotations

import datetime as dtm
import html
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RetryPolicy:
    """How hard `send` tries before giving the caller a DeliveryError (the outbox retries later)."""

    attempts: int = 5
    backoff: float = 1.0  # first wait after a network error; doubles each time, with jitter
    max_backoff: float = 30.0
    # Telegram can ask for a long pause after a burst; waiting longer than this inside one send
    # would stall the caller, so we give up (not permanently) and let the outbox try again.
    max_flood_wait: float = 120.0


def retry_after_seconds(value: int | float | dtm.timedelta) -> float:
    """RetryAfter.retry_after is an int in v22, a timedelta with PTB_TIMEDELTA=1 (the future default)."""
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def plain(markup: str) -> str:
    """HTML → plain text, the fallback if Telegram ever refuses our markup."""
    return html.unescape(re.sub(r"</?[a-z]+>", "", markup))


def as_plain(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A send's arguments with its text and caption as plain text, and no parse mode."""
    out = dict(kwargs, parse_mode=None)
    for key in ("text", "caption"):
        if isinstance(out.get(key), str):
            out[key] = plain(out[key])
    return out
