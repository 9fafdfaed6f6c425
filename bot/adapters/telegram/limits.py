"""Telegram's numbers: the message, caption and callback-data limits a rendered reply keeps, and the
length of a command's description in the menu."""

from __future__ import annotations

# Telegram's limits (telegram.constants.MessageLimit, CallbackQuery data). Telegram counts text after
# entity parsing; we measure the HTML source in UTF-16 code units, which is never shorter, so a chunk
# that passes here always passes there.
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
# setMyCommands: a command's description has 1-256 characters
MAX_COMMAND_DESCRIPTION = 256
