"""What every `opsbot` command shares: the exit codes, the --config and --out options, loading the
settings and setting up the logs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.logs import setup_logging

EXIT_OK, EXIT_BAD_INPUT, EXIT_CANNOT_RUN = 0, 1, 2

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="TOML config file (default: the built-in demo shop).",
)
out_option = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Write files a reply brings (segment exports) here (default: the working directory).",
)


def settings_or_exit(config_path: str | None) -> Settings:
    """The settings from `config_path` (None: the demo shop); a bad config exits 2 with its message."""
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_CANNOT_RUN)


def start_logging(settings: Settings | None, verbose: bool) -> None:
    """Text or JSON lines on stderr as `[log]` says, secrets redacted; quiet (warnings) unless verbose."""
    setup_logging(settings.log if settings is not None else None, quiet=not verbose)
