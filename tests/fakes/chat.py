"""A chat-like driver over the dispatcher, so tests read as dialogue.

    chat = Chat(dispatcher)
    reply = await chat.send("kpi gmv yesterday")
    assert "GMV" in reply.plain_text()
"""

from __future__ import annotations

from bot.context import CONSOLE, ChatRef, Incoming
from bot.dispatch import Dispatcher
from bot.reply import Reply


class Chat:
    def __init__(self, dispatcher: Dispatcher, chat: ChatRef = CONSOLE, user: str = "console:local",
                 direct: bool | None = None) -> None:
        self.dispatcher = dispatcher
        self.chat = chat
        self.user = user
        # a direct message, as the adapters report it; the console is one
        self.direct = chat.platform == "console" if direct is None else direct
        self.history: list[tuple[str, Reply]] = []

    async def send(self, text: str) -> Reply:
        reply = await self.dispatcher.dispatch(Incoming(text=text, chat=self.chat, user=self.user, direct=self.direct))
        self.history.append((text, reply))
        return reply

    async def say(self, text: str) -> str:
        return (await self.send(text)).plain_text()

    def as_(self, chat: str, user: str, direct: bool = False) -> Chat:
        """The same bot, seen from another chat and user (a group chat unless `direct`)."""
        return Chat(self.dispatcher, ChatRef.parse(chat), user, direct)
