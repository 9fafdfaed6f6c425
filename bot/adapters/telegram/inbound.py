"""What the adapter reads out of a Telegram message for an `Incoming`: the chat, the sender, their
language, whether the chat is private, and the command in a message addressed to this bot."""

from __future__ import annotations

from telegram import Chat, Message
from telegram.constants import MessageEntityType
from telegram.ext import filters

from bot.context import ChatRef

PLATFORM = "telegram"


def chat_ref(chat_id: int, thread_id: int | None = None) -> ChatRef:
    return ChatRef(PLATFORM, str(chat_id), str(thread_id) if thread_id is not None else None)


def is_private(chat: Chat) -> bool:
    """A one-to-one chat with the bot: Telegram's chat type, never a guess from the id's sign."""
    return chat.type == Chat.PRIVATE


def user_of(message: Message) -> str:
    # An anonymous group admin posts as the group itself (from_user is Telegram's placeholder bot)
    if message.sender_chat is not None:
        return f"{PLATFORM}:{message.sender_chat.id}"
    if message.from_user is not None:
        return f"{PLATFORM}:{message.from_user.id}"
    return f"{PLATFORM}:{message.chat.id}"


def language_of(message: Message) -> str | None:
    return message.from_user.language_code if message.from_user is not None else None


def command_text(message: Message) -> str:
    """`/kpi@opsbot gmv yesterday` → `kpi gmv yesterday` (the core reads the command word)."""
    text = message.text or ""
    entity = message.entities[0] if message.entities else None
    if entity is None or entity.type != MessageEntityType.BOT_COMMAND or entity.offset != 0:
        return text
    command = message.parse_entity(entity)  # UTF-16 aware, unlike slicing by entity.length
    word = command[1:].split("@", 1)[0]
    return word + text[len(command):]


def addressed_text(message: Message) -> str | None:
    """The command in a message that starts by naming this bot, else None.

    `/anything@opsbot …` (a command the core may not know: it answers "did you
    mean") and `@opsbot kpi …` (a mention, e.g. with a Chinese command word,
    which can't be a bot command).
    """
    text = message.text or ""
    entity = message.entities[0] if message.entities else None
    username = (message.get_bot().username or "").lower()
    if entity is None or entity.offset != 0 or not username:
        return None
    part = message.parse_entity(entity)
    if entity.type == MessageEntityType.BOT_COMMAND:
        _, _, target = part.partition("@")
        return command_text(message) if target.lower() == username else None
    if entity.type == MessageEntityType.MENTION and part[1:].lower() == username:
        return text[len(part):].strip()
    return None


class _Addressed(filters.MessageFilter):
    """Group messages that start by naming this bot (privacy mode delivers those)."""

    def filter(self, message: Message) -> bool:
        return addressed_text(message) is not None


ADDRESSED = _Addressed(name="addressed to this bot")
