"""What every chat platform adapter provides.

An adapter translates: platform events become `Incoming` values handed to the
dispatcher, and `Reply` values become platform messages. It holds no business
logic, builds no SQL and formats no numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.core import ChatRef
from bot.reply import Reply


@dataclass(frozen=True)
class Sent:
    """Where a reply landed, so it can be edited later (a digest updated by late data)."""

    chat: ChatRef
    message_id: str


class DeliveryError(Exception):
    """A send failed. `permanent` means retrying cannot help (bot removed, channel gone, bad token)."""

    def __init__(self, reason: str, *, permanent: bool, migrated_to: ChatRef | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.migrated_to = migrated_to


class Adapter(Protocol):
    platform: str

    async def start(self) -> None:
        """Connect and start receiving; returns once running."""

    async def stop(self) -> None:
        """Stop receiving, finish in-flight replies, release connections."""

    async def send(self, chat: ChatRef, reply: Reply) -> Sent:
        """Push a reply (digests, alerts); raises DeliveryError when it cannot be delivered."""
        ...
