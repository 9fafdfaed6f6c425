"""The `opsbot` distribution's entry point: `python -m opsbot ...` is the `opsbot` command.

The code lives in the packages bot, handlers and metrics; the version has one source, the
project's metadata (pyproject.toml), read from what is installed.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("opsbot")
except PackageNotFoundError:  # a checkout on sys.path that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
