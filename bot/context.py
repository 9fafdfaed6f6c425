"""What travels inward from an adapter and what a handler gets: the chat and message values
(`ChatRef`, `Incoming`, `Args`), the services built once by bot/app.py, and the per-command
`Context`. Platform-neutral: nothing here knows Slack, Telegram or any other platform."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from bot.config import Settings
from bot.errors import AccessDenied
from bot.state.store import Store
from bot.text.messages import t
from metrics.data.warehouse import Warehouse
from metrics.periods import now_in

if TYPE_CHECKING:
    from bot.delivery.source_watch import SourceWatch
    from bot.router import Command

T = TypeVar("T")


@dataclass(frozen=True)
class ChatRef:
    """Where a message came from or goes to: `slack:C0123`, `telegram:-1001`, `console:local`."""

    platform: str
    id: str
    thread: str | None = None  # a Slack thread ts; None for the main channel

    def __str__(self) -> str:
        return f"{self.platform}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> ChatRef:
        platform, sep, ident = text.partition(":")
        if not sep or not platform or not ident:
            raise ValueError(f"{text!r} is not a chat id like 'slack:C0123' or 'telegram:-1001'")
        return cls(platform, ident)


CONSOLE = ChatRef("console", "local")


@dataclass(frozen=True)
class Incoming:
    """A message typed by a person, as every adapter reports it."""

    text: str
    chat: ChatRef
    user: str  # `platform:user id`
    language: str | None = None  # a language hint from the platform (Telegram's language_code)
    team: str | None = None  # the workspace or tenant it came from (Slack team, Feishu tenant, DingTalk corp)
    # a one-to-one chat with the bot (Slack DM, Telegram private chat, the console), set by the
    # adapter from the platform's own chat type; unknown counts as a group, the safer reading
    direct: bool = False


@dataclass(frozen=True)
class Args:
    """The text after the command word, and its tokens: split at whitespace, a quoted name
    ("Black Friday", “…”, 「…」) kept as one token without its quotes (bot/tokens.py)."""

    raw: str
    tokens: tuple[str, ...]


@dataclass
class Services:
    """What handlers may use; built once by bot.app."""

    settings: Settings
    warehouse: Warehouse
    store: Store
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4, "opsbot-work"))
    clock: Callable[[], datetime] | None = None  # naive local now; tests inject one
    # called after a command changed a schedule (subscribe, pause...): the scheduler resyncs
    schedule_changed: Callable[[], None] | None = None
    source_watch: SourceWatch | None = None  # tells the admins of a warehouse outage (bot/app.py)

    def warehouse_for(self, chat: ChatRef | str) -> Warehouse:
        """The warehouse as `chat` may see it: row-level scopes are applied here, for every
        command, digest, alert and export alike (handlers only ever get this one)."""
        return self.warehouse.scoped(self.settings.access.scope_for(str(chat)))


@dataclass
class Context:
    services: Services
    incoming: Incoming
    lang: str
    is_admin: bool
    commands: Sequence[Command]

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def warehouse(self) -> Warehouse:
        return self.services.warehouse_for(self.incoming.chat)

    @property
    def scope(self) -> dict[str, tuple[str, ...]]:
        return self.settings.access.scope_for(str(self.incoming.chat))

    def now(self) -> datetime:
        """Now as naive wall-clock time in the business timezone."""
        clock = self.services.clock
        return clock() if clock else now_in(self.settings.zone)

    def t(self, key: str, /, **params: Any) -> str:
        return t(self.lang, key, **params)

    def require_admin(self, what: str) -> None:
        """For a command whose reading is open to all but whose changes are not (`goal set`)."""
        if not self.is_admin:
            raise AccessDenied("admin_only", command=what, user=self.incoming.user)

    def require_chat_settings(self, what: str) -> None:
        """For a change that applies to everyone in the chat (`lang`): a direct message is the
        user's own; in a group it takes an admin, or whoever `[access] settings_by` names."""
        if self.incoming.direct or self.is_admin:
            return
        if self.settings.access.may_change_settings(str(self.incoming.chat), self.incoming.user):
            return
        raise AccessDenied("chat_settings_admin_only", command=what, user=self.incoming.user)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking work (SQL, pandas, charts) off the event loop, in the bounded pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.services.executor, partial(fn, *args, **kwargs))
