"""What every chat platform adapter provides.

An adapter translates: platform events become `Incoming` values handed to the
dispatcher, and `Reply` values become platform messages. It holds no business
logic, builds no SQL and formats no numbers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.context import ChatRef
from bot.errors import ConfigError
from bot.reply import Reply
from bot.state.shared import SeenEvents

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    """Where a reply landed, so it can be edited later (a digest updated by late data)."""

    chat: ChatRef
    message_id: str


@dataclass
class Progress:
    """How much of a push already landed. A reply can take several platform messages (text parts,
    charts, files); the adapter skips the parts already `done` and reports each new one, which
    the outbox saves at once. So a retry after an error mid-reply, or a takeover after the
    process died, resumes where it stopped instead of posting the first parts twice."""

    done: int = 0
    ids: list[str] = field(default_factory=list)  # message ids of the parts that can be edited later
    saved: Callable[[Progress], Awaitable[None]] | None = None

    async def landed(self, message_id: str | None = None) -> None:
        self.done += 1
        if message_id:
            self.ids.append(message_id)
        if self.saved is not None:
            await self.saved(self)


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

    async def send(self, chat: ChatRef, reply: Reply, progress: Progress | None = None) -> Sent:
        """Push a reply (digests, alerts), skipping the parts `progress` says landed before and
        reporting each new one; raises DeliveryError when it cannot be delivered."""
        ...


def required_env(env: Mapping[str, str], name: str, why: str) -> str:
    """A platform credential from the environment; missing, the error says which and where to get it."""
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {why}")
    return value


async def first_delivery(seen: SeenEvents, platform: str, event_id: str | None) -> bool:
    """Whether no instance has taken this platform event yet (one INSERT into the state database).
    Without an id, or with the state database down, answer: better twice than never."""
    if not event_id:
        return True
    try:
        return await asyncio.to_thread(seen.first_time, f"{platform}:{event_id}")
    except Exception:
        log.warning("%s: could not record event %s as seen", platform, event_id, exc_info=True)
        return True
