"""Slack's numbers: the Block Kit limits a rendered message keeps, and the age past which a signed
request is refused."""

from __future__ import annotations

# Slack's documented limits (docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_CONTEXT_TEXT = 3000
MAX_BUTTONS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
# Not documented as a number: Slack answers msg_blocks_too_long at roughly 13k characters of blocks
# (bolt-js#2509), so a message is closed well before that.
MAX_MESSAGE_CHARS = 12_000
# The top-level `text` is only the notification/accessibility fallback; Slack truncates it at 40k and
# recommends short ones.
MAX_FALLBACK = 3000

# Slack's replay window for signed requests (PITFALLS 2.4)
SIGNATURE_MAX_AGE = 300
