"""What the adapter reads out of Slack's payloads for an `Incoming`: the command as typed, whether
the conversation is a DM, and the workspace it came from."""

from __future__ import annotations

import re
from typing import Any

_LEADING_MENTIONS = re.compile(r"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>[\s:,]*)+")


def clean_text(text: str, bot_user_id: str | None = None) -> str:
    """Message text as typed: without the leading @mentions (and the bot's own anywhere), unescaped.

    Slack escapes &, < and > in message text; the command grammar wants them back (`where a<>b`).
    """
    text = _LEADING_MENTIONS.sub("", text)
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def is_direct(channel: str) -> bool:
    """A Slack DM with the bot: its conversation id starts with D (a group DM's does not)."""
    return channel.startswith("D")


def team_of(body: dict[str, Any]) -> str | None:
    """The workspace a request came from: `team_id` in commands and events, `team.id` in actions."""
    team = body.get("team_id")
    if not team and isinstance(body.get("team"), dict):
        team = body["team"].get("id")
    return str(team) if team else None
