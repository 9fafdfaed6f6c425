"""docs/deploy.md is something an operator can paste: the Kubernetes example's opsbot.toml is a
valid config for two replicas (probes reachable, webhooks not polling), and the commands it shows exist."""

from __future__ import annotations

import re
import textwrap
import tomllib
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.config import Settings

DEPLOY = Path(__file__).parents[1] / "docs" / "deploy.md"


def test_the_kubernetes_example_is_a_valid_config_for_two_replicas() -> None:
    text = DEPLOY.read_text(encoding="utf-8")
    block = re.search(r"  opsbot\.toml: \|\n((?:    .*\n)+)", text)
    assert block, "the ConfigMap's opsbot.toml"
    settings = Settings.model_validate(tomllib.loads(textwrap.dedent(block.group(1))))
    assert settings.ops.host == "0.0.0.0"  # the kubelet reaches /readyz from outside the pod
    assert settings.slack is not None and settings.slack.mode == "http"
    assert settings.telegram is not None and settings.telegram.mode == "webhook"  # one poller per token only
    assert "replicas: 2" in text and "httpGet: {path: /readyz, port: ops}" in text
    assert f"containerPort: {settings.ops.port}" in text


def test_the_commands_it_shows_exist() -> None:
    text = DEPLOY.read_text(encoding="utf-8")
    # as typed: at the start of a line, after a venv's bin/, or in backticks
    shown = set(re.findall(r"(?:^ *|/bin/|`)opsbot ((?:state )?[a-z][a-z-]+)(?= |\n|`)", text, re.MULTILINE))
    assert {"run", "check", "slack-manifest", "state export", "state import", "digest"} <= shown
    for command in shown:
        result = CliRunner().invoke(main, [*command.split(), "--help"])
        assert result.exit_code == 0, f"opsbot {command}: {result.output}"


def test_slack_manifest_names_the_configured_command(tmp_path: Path) -> None:
    config = tmp_path / "opsbot.toml"
    config.write_text('[slack]\ncommand = "/kpi"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["slack-manifest", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "- command: /kpi\n" in result.output and '(try "/kpi help")' in result.output
    assert "command: /ops" not in result.output
    assert "- files:write" in result.output and "socket_mode_enabled: true" in result.output
