"""What webhook mode checks in a request before the update is queued: the secret token's header and
rule, the body as an update, and the replay guard's key for it."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from telegram import Update

from bot.adapters.telegram.inbound import PLATFORM
from bot.state.shared import SignedRequest

# seconds this process remembers a webhook update_id by itself (the state database, for days)
UPDATE_MEMORY = 3600.0
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's rule for secret_token (setWebhook): 1-256 characters from A-Z a-z 0-9 _ -
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def update_data(raw: bytes) -> dict[str, Any] | None:
    """The body as a Telegram update's JSON (an object with an integer update_id), or None."""
    try:
        data = json.loads(raw)
    except ValueError:  # malformed JSON (or not UTF-8): Telegram never sends that
        return None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    return data


def signed_update(bot_id: str, update: Update) -> SignedRequest:
    """A webhook update as the replay guard sees it: update ids are the bot's own sequence, so
    the key names the bot (the token's public part, its user id) for bots sharing a state database."""
    chat, user = update.effective_chat, update.effective_user
    message, query = update.effective_message, update.callback_query
    text = (query.data if query else None) or (message.text if message else None) or ""
    return SignedRequest(PLATFORM, "update", f"{PLATFORM}:{bot_id}:{update.update_id}",
                         time.time() + UPDATE_MEMORY, chat=f"{PLATFORM}:{chat.id}" if chat else "",
                         user=f"{PLATFORM}:{user.id}" if user else "", text=text)
