"""The error contract of opsbot.

    Exception
    ├── BotError                   opsbot's own failures
    │   ├── UserError              bad input or a refusal: its text is shown to the user as is
    │   │   ├── UnknownCommand
    │   │   ├── AccessDenied
    │   │   ├── RateLimited        too many commands from one user or chat this minute
    │   │   └── UsageError         arguments that do not fit the command's grammar
    │   └── ConfigError(ValueError) a bad config file: opsbot cannot start (exit code 2)
    ├── metrics.errors.InputError(ValueError)
    │                              bad input found while building a query (unknown metric,
    │                              bad period, unknown dimension...): shown like a UserError
    └── metrics.errors.SourceUnavailable
                                   the warehouse cannot be reached: "data source unavailable"

Anything else that escapes a handler is an incident: the core logs it with an id
and the user sees only that id, never the exception text (it may hold SQL or
credentials).

User-facing errors carry a message key and parameters rather than text, so the
core can say them in the chat's language (`bot/text/messages.py`).
"""

from __future__ import annotations


class BotError(Exception):
    """Base of opsbot's own exceptions."""


class UserError(BotError):
    """An error the user caused and can fix; shown to them as is."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(f"{key}: {params}")
        self.key = key
        self.params = params


class UnknownCommand(UserError):
    pass


class AccessDenied(UserError):
    pass


class RateLimited(UserError):
    pass


class UsageError(UserError):
    pass


class ConfigError(BotError, ValueError):
    """The configuration cannot be used; the message names the file and the key."""
