"""Errors raised while turning user input into a query (see bot/errors.py for the whole tree)."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input found while building a query; shown to the user as is.

    `key` names a message in bot/text/messages.py, `params` fill it in, so the
    message is translated where it is shown, not here."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(f"{key}: {params}")
        self.key = key
        self.params = params


class BadPeriod(InputError):
    pass


class UnknownMetric(InputError):
    pass


class UnknownDimension(InputError):
    pass


class BadFilter(InputError):
    pass


class SourceUnavailable(Exception):
    """The warehouse did not answer (refused, timed out, locked). Not the user's fault."""


class QueryTimeout(InputError):
    """A question ran past the statement timeout and was stopped (the user can narrow it)."""


class WarehouseBusy(InputError):
    """Every query slot stayed taken while this question waited for one."""


class WarehouseOutOfMemory(InputError):
    """The embedded engine needed more than `[warehouse] memory_limit` for one question (DuckDB
    spills most work to disk, but not all of it)."""


class DataNotMapped(InputError):
    """A question needs a table (or columns) the warehouse does not have or the mapping does not
    name: the message says which, and where to map it."""
