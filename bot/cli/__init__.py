"""The `opsbot` command line: the click group `main`, and every command added to it explicitly.

Each command group lives in a module of its own; what they share is in `bot.cli.common`."""

from __future__ import annotations

import click

from bot.cli.chat import ask, demo
from bot.cli.data import check, ingest
from bot.cli.detect import detect
from bot.cli.manifest import slack_manifest
from bot.cli.serve import digest, run
from bot.cli.state import migrate, state


@click.group()
@click.version_option(package_name="opsbot")
def main() -> None:
    """opsbot: KPIs, digests and alerts for e-commerce operations teams."""


main.add_command(demo)
main.add_command(ask)
main.add_command(digest)
main.add_command(check)
main.add_command(ingest)
main.add_command(detect)
main.add_command(run)
main.add_command(migrate)
main.add_command(slack_manifest)
main.add_command(state)
