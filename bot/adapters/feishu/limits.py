"""Feishu's documented numbers, with where they are written down.

Sources: open.feishu.cn/document/server-docs/im-v1/message/create ("Send message": request body
of a card at most 30 KB, text at most 150 KB; the API at most 1000 calls a minute and 50 a second
per app, and 5 QPS per user or per group, shared by every bot in the group),
.../im-v1/message-card/patch (card update: 14 days after sending, 5 QPS per message),
.../im-v1/image/create (images at most 10 MB), .../im-v1/file/create (files at most 30 MB),
.../common-capabilities/message-card/... "table component" (at most 10 columns, 50 rows per page;
we stay well below by splitting), and the server error codes page (99991400 frequency limit).
"""

from __future__ import annotations

MAX_CARD_BYTES = 30 * 1024  # the JSON of one card in a message body
CARD_BUDGET = 25 * 1024  # what render fills a card to: headroom for the envelope and escapes
MAX_TEXT_BYTES = 150 * 1024
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_FILE_BYTES = 30 * 1024 * 1024
MAX_TABLE_ROWS = 50  # rows we put in one card's table; longer tables continue in the next card
MAX_TABLE_COLUMNS = 10
MAX_BUTTONS = 20  # buttons per card (an action module keeps them in rows)
MAX_TITLE = 100
# rate limits: per app 50 calls a second (and 1000 a minute); per chat 5 a second (a group's 5 are
# shared by all its bots, so we keep to 4)
APP_PER_SECOND = 50
APP_PER_MINUTE = 1000
CHAT_PER_SECOND = 4
THROTTLE_BACKOFF_SECONDS = 1.0  # after a frequency-limit answer, the chat rests this long
# the HTTP callback's signature window: Feishu retries within hours, but a timestamp older than
# this is refused (a replay of a captured request)
SIGNATURE_MAX_AGE = 3600
