"""`python -m bot.cli`: the same as the `opsbot` command."""

from bot.cli import main

main()
