"""Feishu events (schema 2.0 JSON, as both the long connection and HTTP callbacks carry them) as
`Incoming`: im.message.receive_v1 (a text message: one-to-one, or a group message that @mentions
the bot) and card.action.trigger (a button click: its command, run as the clicker)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.context import ChatRef, Incoming

MENTION_KEY = re.compile(r"@_user_\d+|@_all")


@dataclass(frozen=True)
class Inbound:
    """An event to answer: the Incoming, and the message it answers (a reply quotes it)."""

    incoming: Incoming
    event_id: str
    reply_to: str | None = None  # the message id to reply to; None posts into the chat


def header(payload: dict[str, Any]) -> dict[str, Any]:
    return payload.get("header") or {}


def event_type(payload: dict[str, Any]) -> str:
    return str(header(payload).get("event_type") or payload.get("type") or "")


def message_event(payload: dict[str, Any], bot_open_id: str | None, language: str | None) -> Inbound | None:
    """A person's text message the bot should answer, or None (another kind, or a group message
    that does not mention the bot)."""
    event = payload.get("event") or {}
    message = event.get("message") or {}
    sender = event.get("sender") or {}
    open_id = (sender.get("sender_id") or {}).get("open_id")
    chat_id = message.get("chat_id")
    if sender.get("sender_type") not in (None, "user") or not open_id or not chat_id:
        return None  # a bot's or the app's own message, or no one to answer
    if message.get("message_type") != "text":
        return None
    try:
        text = str((json.loads(message.get("content") or "{}") or {}).get("text") or "")
    except (ValueError, AttributeError):
        return None
    direct = message.get("chat_type") == "p2p"
    mentions = message.get("mentions") or []
    if not direct:
        ours = [m for m in mentions if bot_open_id is None or (m.get("id") or {}).get("open_id") == bot_open_id]
        if not ours:
            return None  # a group conversation not addressed to the bot
    text = MENTION_KEY.sub(" ", text)
    text = " ".join(text.split())
    # "/ops kpi gmv" as on Slack; "/kpi gmv" and "kpi gmv" the dispatcher reads by itself
    if text == "/ops" or text.startswith("/ops "):
        text = text[len("/ops"):].strip()
    incoming = Incoming(text=text, chat=ChatRef("feishu", chat_id),
                        user=f"feishu:{open_id}", language=language, team=header(payload).get("tenant_key"),
                        direct=direct)
    return Inbound(incoming, str(header(payload).get("event_id") or ""), reply_to=message.get("message_id"))


def card_action(payload: dict[str, Any], language: str | None) -> Inbound | None:
    """A button click: the command its value carries, as if the clicker had typed it."""
    event = payload.get("event") or {}
    operator = event.get("operator") or {}
    context = event.get("context") or {}
    value = (event.get("action") or {}).get("value") or {}
    command = value.get("command") if isinstance(value, dict) else None
    chat_id = context.get("open_chat_id")
    open_id = operator.get("open_id")
    if not command or not chat_id or not open_id:
        return None
    incoming = Incoming(text=str(command), chat=ChatRef("feishu", chat_id), user=f"feishu:{open_id}",
                        language=language, team=header(payload).get("tenant_key") or operator.get("tenant_key"))
    return Inbound(incoming, str(header(payload).get("event_id") or ""), reply_to=context.get("open_message_id"))
