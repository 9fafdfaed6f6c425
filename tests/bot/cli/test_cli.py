"""The command line: `opsbot ask` exit codes and JSON, `opsbot demo` building and talking."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

from bot.adapters.console import ConsoleAdapter
from bot.app import build_dispatcher, ensure_demo_shop
from bot.cli import main
from bot.config import load_settings
from metrics.data.load import demo_end


@pytest.fixture
def config(tmp_path: Path, demo_url: str) -> Path:
    path = tmp_path / "opsbot.toml"  # the state database defaults to a file beside it
    path.write_text(f'[warehouse]\nurl = "{demo_url}"\n[access]\nchats = ["slack:COPS"]\n')
    return path


def ask(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["ask", *args])
    return result.exit_code, result.output


def test_ask_json(config: Path) -> None:
    code, out = ask("--config", str(config), "--json", "kpi gmv orders aov conversion 2026-11-01..2026-11-07 vs previous by channel")
    assert code == 0
    data = json.loads(out)["data"]
    assert data["period"] == {"start": "2026-11-01", "end": "2026-11-08"}
    assert data["compare"] == {"kind": "previous", "start": "2026-10-25", "end": "2026-11-01"}
    assert set(data["metrics"]) == {"gmv", "orders", "aov", "conversion"}
    assert {"value", "previous", "change", "change_pct"} == set(data["metrics"]["gmv"])
    assert data["rows"] and all("channel" in row for row in data["rows"])


def test_bad_input_exits_1(config: Path) -> None:
    code, out = ask("--config", str(config), "kpi gmvv")
    assert code == 1
    assert "Did you mean gmv?" in out


def test_bad_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[bot]\ntimezone = 'Nowhere/Land'\n")
    code, out = ask("--config", str(bad), "kpi gmv")
    assert code == 2
    assert "bot.timezone" in out and str(bad) in out


def test_unreachable_warehouse_exits_2_without_secrets(tmp_path: Path) -> None:
    cfg = tmp_path / "pg.toml"
    cfg.write_text('[warehouse]\nurl = "postgresql://admin:hunter2@127.0.0.1:1/shop"\n')
    code, out = ask("--config", str(cfg), "kpi gmv")
    # the driver may be missing or the port closed: either way opsbot cannot run, and says so safely
    assert code in (1, 2)
    assert "hunter2" not in out


def test_chat_and_user_apply_access_rules(config: Path) -> None:
    code, out = ask("--config", str(config), "--chat", "slack:CRANDOM", "--user", "slack:U1", "kpi gmv")
    assert code == 1 and "not allowed" in out
    code, out = ask("--config", str(config), "--chat", "slack:COPS", "--user", "slack:U1", "kpi gmv")
    assert code == 0 and "GMV" in out
    code, out = ask("--config", str(config), "--chat", "nonsense", "kpi gmv")
    assert code == 2


def test_demo_shop_is_built_once_per_day(tmp_path: Path) -> None:
    cfg = tmp_path / "demo.toml"
    cfg.write_text("[demo]\ndays = 30\norders = 2000\n")
    settings = load_settings(cfg)
    today = date(2026, 11, 25)
    assert ensure_demo_shop(settings, today) is True
    assert ensure_demo_shop(settings, today) is False
    assert ensure_demo_shop(settings, today + timedelta(days=1)) is True  # stale: rebuilt so yesterday has data
    engine = create_engine(settings.warehouse_url())
    assert demo_end(engine) == today + timedelta(days=1)
    engine.dispose()


async def test_console_repl_reads_commands_until_quit(demo_settings, demo_warehouse, clock) -> None:
    out = io.StringIO()
    console = ConsoleAdapter(build_dispatcher(demo_settings, demo_warehouse, clock=clock), out=out)
    await console.repl(io.StringIO("kpi gmv yesterday\n\nkpii\nquit\nkpi orders\n"))
    text = out.getvalue()
    assert "GMV" in text
    assert "Did you mean kpi?" in text
    assert "Orders" not in text  # nothing is read after quit


def test_digest_now_prints_and_delivers_once(config: Path) -> None:
    result = CliRunner().invoke(main, ["digest", "--now", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "Morning digest" in result.output
    first = CliRunner().invoke(main, ["digest", "--now", "--config", str(config), "--chat", "console:ops"])
    assert first.exit_code == 0 and ": sent" in first.output and "--- to console:ops ---" in first.output
    again = CliRunner().invoke(main, ["digest", "--now", "--config", str(config), "--chat", "console:ops"])
    assert again.exit_code == 0 and "already delivered today" in again.output


def test_detect_flags_a_spike_in_a_csv(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(120)]
    values = 1000 + 100 * np.sin(np.arange(120) * 2 * np.pi / 7) + rng.normal(0, 10, 120)
    values[100] *= 3  # the spike
    path = tmp_path / "series.csv"
    path.write_text("timestamp,value\n" + "".join(f"{d},{v:.2f}\n" for d, v in zip(days, values, strict=True)))
    result = CliRunner().invoke(main, ["detect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    flagged = json.loads(result.output)
    assert str(days[100]) in json.dumps(flagged)
    missing = CliRunner().invoke(main, ["detect", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "no such file" in missing.output
