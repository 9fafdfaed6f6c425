"""`opsbot slack-manifest`: setting up the Slack app, its manifest with the configured slash command."""

from __future__ import annotations

import click

from bot.cli.common import config_option, settings_or_exit


@click.command("slack-manifest")
@config_option
def slack_manifest(config_path: str | None) -> None:
    """Print the Slack app manifest (paste it at api.slack.com/apps; see docs/slack.md), with the
    slash command `[slack] command` names."""
    from importlib.resources import files

    from bot.config import SlackSection

    command = (settings_or_exit(config_path).slack or SlackSection()).command
    # shipped in the package: an installation from the wheel has no checkout to copy it from
    manifest = files("bot.adapters.slack").joinpath("manifest.yaml").read_text(encoding="utf-8")
    manifest = manifest.replace("- command: /ops\n", f"- command: {command}\n")
    click.echo(manifest.replace('(try "/ops help")', f'(try "{command} help")'), nl=False)
