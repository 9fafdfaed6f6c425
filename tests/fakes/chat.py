"""A chat-like driver over the dispatcher, so tests read as dialogue.

    chat = Chat(dispatcher)
    reply = await chat.send("kpi gmv yesterday")
    assert "GMV" in reply.plain_text()
"""

from __future__ import annotations

from bot.core import CONSOLE, ChatRef, Dispatcher, Incoming
from bot.reply import Reply


class Chat:
    def __init__(self, dispatcher: Dispatcher, chat: ChatRef = CONSOLE, user: str = "console:local") -> None:
        self.dispatcher = dispatcher
        self.chat = chat
        self.user = user
        self.history: list[tuple[str, Reply]] = []

    async def send(self, text: str) -> Reply:
        reply = await self.dispatcher.dispatch(Incoming(text=text, chat=self.chat, user=self.user))
        self.history.append((text, reply))
        return reply

    async def say(self, text: str) -> str:
        return (await self.send(text)).plain_text()

    def as_(self, chat: str, user: str) -> Chat:
        """The same bot, seen from another chat and user."""
        return Chat(self.dispatcher, ChatRef.parse(chat), user)
