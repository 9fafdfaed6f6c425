"""An in-memory adapter that records pushes and can be told to fail: for outbox tests that
are about the outbox, not a platform (platform faults are tested against the fake servers)."""

from __future__ import annotations

from bot.adapters.base import DeliveryError, Progress, Sent
from bot.context import ChatRef
from bot.reply import Reply


class RecordingAdapter:
    def __init__(self, platform: str = "slack") -> None:
        self.platform = platform
        self.sent: list[tuple[ChatRef, Reply]] = []
        self.edits: list[tuple[Sent, Reply]] = []
        self.failures: list[DeliveryError] = []
        self.fail_only: str | None = None  # fail sends to this chat only (deliveries run concurrently)

    def fail_next(self, *errors: DeliveryError, chat: str | None = None) -> None:
        self.failures.extend(errors)
        self.fail_only = chat

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, chat: ChatRef, reply: Reply, progress: Progress | None = None) -> Sent:
        if self.failures and self.fail_only in (None, str(chat)):
            raise self.failures.pop(0)
        self.sent.append((chat, reply))
        if progress is not None:
            await progress.landed(f"m{len(self.sent)}")
        return Sent(chat, f"m{len(self.sent)}")

    async def edit(self, sent: Sent, reply: Reply) -> Sent:
        self.edits.append((sent, reply))
        return sent
