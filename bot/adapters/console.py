"""The console adapter: a REPL for `opsbot demo`, and `send` that prints."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TextIO

from bot.adapters.base import Progress, Sent
from bot.core import CONSOLE, ChatRef, Dispatcher, Incoming
from bot.reply import Reply

PROMPT = "opsbot> "
CONSOLE_USER = "console:local"


def render(reply: Reply, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(reply.to_json(), ensure_ascii=False, indent=2, default=str)
    return reply.plain_text()


class ConsoleAdapter:
    platform = "console"

    def __init__(self, dispatcher: Dispatcher, out: TextIO | None = None) -> None:
        self.dispatcher = dispatcher
        self._out = out
        self._sent = 0

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout  # looked up late: click's test runner swaps sys.stdout

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def ask(self, text: str) -> Reply:
        return await self.dispatcher.dispatch(Incoming(text=text, chat=CONSOLE, user=CONSOLE_USER))

    async def send(self, chat: ChatRef, reply: Reply, progress: Progress | None = None) -> Sent:
        """Pushes (digests, alerts) print: the demo's stand-in for a channel."""
        self._sent += 1
        print(f"--- to {chat} ---\n{render(reply)}\n", file=self.out, flush=True)
        return Sent(chat, str(self._sent))

    async def edit(self, sent: Sent, reply: Reply) -> Sent:
        print(f"--- edit of message {sent.message_id} in {sent.chat} ---\n{render(reply)}\n", file=self.out, flush=True)
        return sent

    async def repl(self, inp: TextIO | None = None) -> None:
        """Read commands until EOF, `quit` or Ctrl-C."""
        inp = inp or sys.stdin
        loop = asyncio.get_running_loop()
        while True:
            print(PROMPT, end="", file=self.out, flush=True)
            line = await loop.run_in_executor(None, inp.readline)
            if not line:
                print(file=self.out)
                return
            text = line.strip()
            if text.lower() in ("quit", "exit", "退出"):
                return
            if not text:
                continue
            reply = await self.ask(text)
            print(render(reply) + "\n", file=self.out, flush=True)
