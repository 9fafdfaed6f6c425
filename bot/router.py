"""Commands registered on routers: each handler module has one `Router`, and bot/app.py includes
them in the dispatcher explicitly (no discovery)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.context import Args, Context
from bot.reply import Reply

Handler = Callable[[Context, Args], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    aliases: tuple[str, ...] = ()
    admin: bool = False
    usage: str = ""
    examples: tuple[str, ...] = ()
    summary_key: str = ""

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


class Router:
    """A module's commands. `@router.command("kpi", aliases=["指标"])` registers one."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def command(
        self,
        name: str,
        *,
        aliases: Sequence[str] = (),
        admin: bool = False,
        usage: str = "",
        examples: Sequence[str] = (),
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(f"handler for {name!r} must be an async function")
            self.commands.append(
                Command(name.lower(), fn, tuple(a.lower() for a in aliases), admin, usage or name,
                        tuple(examples), f"summary_{name.lower()}")
            )
            return fn

        return register
