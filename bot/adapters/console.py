"""The console adapter: a REPL for `opsbot demo`, and `send` that prints.

A reply's files (a segment export) are what Slack and Telegram attach; a console has nowhere to
attach them, so they are written to a directory (the working directory unless `--out` names one),
never over an existing file, and the reply says where each went. `--json` keeps them inline as
base64, as the data they are."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot.adapters.base import Progress, Sent
from bot.context import CONSOLE, ChatRef, Incoming
from bot.dispatch import Dispatcher
from bot.reply import Reply

PROMPT = "opsbot> "
CONSOLE_USER = "console:local"


def render(reply: Reply, as_json: bool = False, files_dir: Path | None = None) -> str:
    """The reply as the console prints it; with `files_dir`, its files are written there first and
    the text names each one's path instead of only its name."""
    if as_json:
        return json.dumps(reply.to_json(), ensure_ascii=False, indent=2, default=str)
    if files_dir is None or not reply.files:
        return reply.plain_text()
    try:
        saved = [f"[file saved: {path}, {size:,} bytes]" for path, size in save_files(reply, files_dir)]
    except OSError as exc:  # a directory that cannot be written: the answer still shows, and why the file did not
        saved = [f"[file not saved: {f.filename} — {files_dir}: {exc.strerror or exc}]" for f in reply.files]
    return "\n\n".join([replace(reply, files=[]).plain_text(), *saved])


def save_files(reply: Reply, directory: Path) -> list[tuple[Path, int]]:
    """Write the reply's files into `directory`: (absolute path, size) of each. A name already taken
    gets a suffix (-1, -2 ...): an earlier export is never overwritten."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for f in reply.files:
        name = Path(f.filename).name or "file"  # a bare name: a filename never picks the directory
        out.append((_write_new(directory.resolve() / name, f.content), len(f.content)))
    return out


def _write_new(path: Path, content: bytes) -> Path:
    for n in range(10_000):
        candidate = path if n == 0 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            with candidate.open("xb") as fh:  # "x": fails if it exists, even if it appeared just now
                fh.write(content)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"no free name for {path} after 10,000 tries")


class ConsoleAdapter:
    platform = "console"

    def __init__(self, dispatcher: Dispatcher, out: TextIO | None = None, files_dir: Path | None = None) -> None:
        self.dispatcher = dispatcher
        self._out = out
        self._files_dir = files_dir
        self._sent = 0

    @property
    def files_dir(self) -> Path:
        return self._files_dir or Path.cwd()  # looked up late, as `out`: where the user is when it writes

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout  # looked up late: click's test runner swaps sys.stdout

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def ask(self, text: str) -> Reply:
        return await self.dispatcher.dispatch(Incoming(text=text, chat=CONSOLE, user=CONSOLE_USER, direct=True))

    async def send(self, chat: ChatRef, reply: Reply, progress: Progress | None = None) -> Sent:
        """Pushes (digests, alerts) print: the demo's stand-in for a channel."""
        self._sent += 1
        print(f"--- to {chat} ---\n{render(reply, files_dir=self.files_dir)}\n", file=self.out, flush=True)
        return Sent(chat, str(self._sent))

    async def edit(self, sent: Sent, reply: Reply) -> Sent:
        print(f"--- edit of message {sent.message_id} in {sent.chat} ---\n{render(reply, files_dir=self.files_dir)}\n",
              file=self.out, flush=True)
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
            print(render(reply, files_dir=self.files_dir) + "\n", file=self.out, flush=True)
