"""DingTalk callbacks as `Incoming`: a robot message (topic /v1.0/im/bot/messages/get over Stream,
or the same JSON posted to the outgoing robot's URL) and an interactive-card click (topic
/v1.0/card/instances/callback: its button's id carries the command, run as the clicker).

Chats are `dingtalk:cid…` (groups, the openConversationId) and `dingtalk:<staffId>` (one-to-one
with the bot: pushes go to the person); users are `dingtalk:<staffId>`; the team is the corp id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.context import ChatRef, Incoming

BUTTON_PREFIX = "ops:"  # a card button's id: "ops:" + the command it runs


@dataclass(frozen=True)
class Inbound:
    incoming: Incoming
    event_id: str  # what a redelivery repeats: the message id, or the click's frame id


def robot_message(data: dict[str, Any], language: str | None = None) -> Inbound | None:
    """A person's text to the robot, or None (a picture or rich text, a group message not
    addressed to it, or no one to answer)."""
    if data.get("msgtype") != "text":
        return None
    staff = str(data.get("senderStaffId") or "")
    conversation = str(data.get("conversationId") or "")
    if not staff or not conversation:
        return None  # a user outside the organisation has no staff id: nothing to check access on
    direct = str(data.get("conversationType")) == "1"
    if not direct and data.get("isInAtList") is False:
        return None
    text = str((data.get("text") or {}).get("content") or "")
    text = " ".join(text.split())  # DingTalk leaves a space where the @mention was
    # "/ops kpi gmv" as on Slack; "/kpi gmv" and "kpi gmv" the dispatcher reads by itself
    if text == "/ops" or text.startswith("/ops "):
        text = text[len("/ops"):].strip()
    chat = ChatRef("dingtalk", staff if direct else conversation)
    team = data.get("chatbotCorpId") or data.get("senderCorpId")
    incoming = Incoming(text=text, chat=chat, user=f"dingtalk:{staff}", language=language,
                        team=str(team) if team else None, direct=direct)
    return Inbound(incoming, str(data.get("msgId") or ""))


def card_click(data: dict[str, Any], frame_id: str, language: str | None = None) -> Inbound | None:
    """A card button click: the command its id carries, as if the clicker had typed it."""
    try:
        content = json.loads(data.get("content") or "{}")
    except (TypeError, ValueError):
        return None
    private = (content or {}).get("cardPrivateData") or {}
    action_ids = private.get("actionIds") or []
    staff = str(data.get("userId") or "")
    if not action_ids or not staff or not str(action_ids[0]).startswith(BUTTON_PREFIX):
        return None
    command = str(action_ids[0])[len(BUTTON_PREFIX):]
    space = str(data.get("spaceId") or "")
    group = data.get("spaceType") == "IM_GROUP" and space
    chat = ChatRef("dingtalk", space if group else staff)
    incoming = Incoming(text=command, chat=chat, user=f"dingtalk:{staff}", language=language,
                        team=str(data.get("corpId") or "") or None, direct=not group)
    return Inbound(incoming, frame_id)
