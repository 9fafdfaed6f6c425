from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "opsbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_the_demo() -> None:
    settings = load_settings(None)
    assert settings.is_demo
    assert settings.warehouse_url().startswith("duckdb:///") and settings.warehouse_url().endswith("opsbot-demo.duckdb")
    assert settings.state_url().endswith("opsbot-state.db")


def test_only_a_warehouse_url_takes_the_logical_names(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[warehouse]\nurl = "sqlite:///shop.db"\n'))
    mapping = settings.mapping()
    assert mapping.tables["orders"].table == "orders"
    assert mapping.tables["orders"].columns["ordered_at"] == "ordered_at"
    assert mapping.statuses["placed"] == ("placed", "paid", "shipped", "completed")
    assert mapping.statuses["cancelled"] == ("cancelled",)
    assert mapping.timestamps == "local"
    # the state database sits beside the config file, not in the working directory
    assert settings.state_url() == f"sqlite:///{tmp_path.resolve() / 'opsbot-state.db'}"


def test_mapping_renames(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, """
[warehouse]
url = "sqlite:///shop.db"
dimensions = { brand = "brand_name" }
[warehouse.tables.orders]
table = "shop_orders"
columns = { order_id = "id", ordered_at = "created_at" }
"""))
    mapping = settings.mapping()
    assert mapping.tables["orders"].table == "shop_orders"
    assert mapping.tables["orders"].columns["order_id"] == "id"
    assert mapping.tables["orders"].columns["amount"] == "amount"
    assert mapping.dimensions == ("channel", "category", "region", "brand")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[bot]\ntimezone = 'Mars/Olympus'\n", "bot.timezone: unknown timezone 'Mars/Olympus'"),
        ("[bot]\ntimzone = 'UTC'\n", "bot.timzone: unknown key"),
        ("[bot]\nlanguage = 'fr'\n", "bot.language"),
        ("[bot]\nmax_command_length = 'long'\n", "bot.max_command_length"),
        ("[slack]\nbot_token = 'xoxb-secret'\n", "slack.bot_token: unknown key"),
        ("[access]\nadmins = ['U123']\n", "access.admins"),
        ("[warehouse.tables.order]\ntable = 'x'\n", "unknown logical table 'order'"),
        ("[warehouse.tables.orders]\ncolumns = { price = 'p' }\n", "unknown column(s) price"),
        ("[bot\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert "xoxb-secret" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_the_example_config_is_valid() -> None:
    example = Path(__file__).parents[2] / "config.example.toml"
    settings = load_settings(example)
    assert settings.bot.timezone == "Asia/Shanghai"


def test_a_database_password_in_the_file_is_refused_and_never_echoed(tmp_path: Path) -> None:
    for section, variable in (("warehouse", "OPSBOT_WAREHOUSE_URL"), ("state", "OPSBOT_STATE_URL")):
        path = write(tmp_path, f"[{section}]\nurl = 'postgresql+psycopg://ops:hunter2@db.internal/shop'\n")
        with pytest.raises(ConfigError) as info:
            load_settings(path)
        assert f"{section}.url" in str(info.value) and variable in str(info.value)
        assert "hunter2" not in str(info.value)


def test_database_urls_with_passwords_come_from_the_environment(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSBOT_WAREHOUSE_URL", "postgresql+psycopg://ops:hunter2@db.internal/shop")
    monkeypatch.setenv("OPSBOT_STATE_URL", "postgresql+psycopg://ops:hunter2@db.internal/opsbot")
    settings = load_settings(write(tmp_path, "[bot]\ntimezone = 'UTC'\n"))
    assert not settings.is_demo
    assert settings.warehouse_url().endswith("@db.internal/shop")
    assert settings.state_url().endswith("@db.internal/opsbot")
