"""`python -m opsbot run --config opsbot.toml`: the same as the `opsbot` console script."""

from bot.cli import main

if __name__ == "__main__":
    main(prog_name="opsbot")
