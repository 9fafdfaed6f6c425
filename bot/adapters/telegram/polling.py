"""Polling's getUpdates request, which skips the updates PTB cannot read instead of fetching the
same batch forever (`SkipUnreadableUpdates`)."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from telegram import Update
from telegram.request import HTTPXRequest

# the adapter's logger: a skipped update is logged under the name it always had
log = logging.getLogger("bot.adapters.telegram.adapter")


class SkipUnreadableUpdates(HTTPXRequest):
    """getUpdates through PTB's own HTTPXRequest, minus the updates PTB cannot read.

    PTB parses a getUpdates batch in one go. One update it cannot read (a required field
    missing, or a Bot API version other than the one this PTB expects) fails the whole batch
    before its offset is confirmed, so the poller fetches the same batch again, forever, and
    the bot falls silent. Here each such update is cut down to its update_id: confirmed with
    the rest of the batch, logged, and otherwise ignored.
    """

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, payload = await super().do_request(*args, **kwargs)
        if status != 200:
            return status, payload
        try:
            data = json.loads(payload)
        except ValueError:
            return status, payload  # PTB reports an unreadable answer itself
        updates = data.get("result") if isinstance(data, dict) else None
        if not isinstance(updates, list):
            return status, payload
        kept: list[Any] = []
        for raw in updates:
            try:
                if Update.de_json(copy.deepcopy(raw), None) is None:
                    raise ValueError("empty update")
                kept.append(raw)
            except Exception as exc:
                update_id = raw.get("update_id") if isinstance(raw, dict) else None
                log.warning("telegram: skipping update %s that cannot be read (%s: %s)",
                            update_id, type(exc).__name__, str(exc)[:200])
                if isinstance(update_id, int):
                    kept.append({"update_id": update_id})
        if len(kept) == len(updates) and all(a is b for a, b in zip(kept, updates, strict=True)):
            return status, payload
        return status, json.dumps({**data, "result": kept}).encode()
