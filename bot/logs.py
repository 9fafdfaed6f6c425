"""Logging for every `opsbot` command: human text or JSON lines, with secrets redacted.

`setup_logging(settings.log)` installs one handler on the root logger. Its format is
`[log] format`: "text" (`2026-11-25 10:30:00,123 WARNING bot.dispatch: ...`) or "json", one
object per line:

    {"ts": "2026-11-25T02:30:00.123Z", "level": "ERROR", "logger": "bot.dispatch",
     "message": "incident 1a2b3c4d: command 'kpi' from slack:U1 failed", "incident": "1a2b3c4d",
     "exc_info": "Traceback (most recent call last): ..."}

plus any `extra=` fields a call passed. Whatever the format, every record goes through
`RedactSecrets` first: its message (after the % arguments are applied), its traceback
and its stack are scrubbed of

- the values of secret environment variables set right now: any name ending in TOKEN,
  SECRET, PASSWORD or KEY (SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET,
  TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET, PGPASSWORD...), when at least
  `MIN_SECRET_LENGTH` characters long (shorter values are words, not secrets);
- Slack tokens (`xoxb-…`, `xoxp-…`, `xapp-…`) and Telegram bot tokens (`123456:AA…`,
  also as `/bot<token>/` in Bot API URLs), wherever they come from;
- passwords in URLs (`postgresql://user:password@host/db`).

Each is replaced by `***`. The filter rewrites the record in place, so every handler that
sees the record after it (and the JSON `exc_info`) gets the redacted text.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any

from bot.config import LogSection

__all__ = ["JsonFormatter", "RedactSecrets", "TEXT_FORMAT", "redact", "secret_values", "setup_logging"]

MASK = "***"
MIN_SECRET_LENGTH = 8
SECRET_SUFFIXES = ("TOKEN", "SECRET", "PASSWORD", "KEY")
# named explicitly, whatever the suffix rule says about them
SECRET_NAMES = frozenset({
    "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET",
    "PGPASSWORD",
})
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_PATTERNS = (
    # Slack: bot, user, app-configuration, refresh and app-level tokens
    (re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]+"), MASK),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), MASK),
    # Telegram Bot API URLs carry the token in the path: .../bot<token>/sendMessage
    (re.compile(r"/bot\d+:[^/\s?#\"']+"), "/bot" + MASK),
    # a bare Telegram token: the bot id, a colon, 35 characters
    (re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"), MASK),
    # scheme://user:password@host: keep the user and the host, hide the password
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1" + MASK + "@"),
)
_INCIDENT = re.compile(r"^incident ([0-9a-f]{6,32})\b")
_OURS = "_opsbot_handler"  # marks the handler setup_logging installed, so a second call replaces it


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper in SECRET_NAMES or upper.endswith(SECRET_SUFFIXES)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the secret variables set now, longest first (so a secret containing another goes whole)."""
    env = os.environ if environ is None else environ
    values = {v.strip() for k, v in list(env.items()) if is_secret_name(k)}
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every secret we know of replaced by `***`."""
    for value in secret_values(environ):
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record so that its message, traceback and stack hold no secret. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad % arguments: let the handler report it as logging does
            return True
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _format_exception(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _format_exception(exc_info: Any) -> str:
    return "".join(traceback.format_exception(*exc_info)).rstrip("\n")


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (ISO 8601, UTC), level, logger, message, exc_info, and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        incident = _INCIDENT.match(message)
        if incident and "incident" not in entry:
            # the core logs "incident <id>: ..."; give log search a field to match the id users quote
            entry["incident"] = incident.group(1)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (click's test runner swaps it per invocation)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


def setup_logging(section: LogSection | None = None, *, quiet: bool = False,
                  stream: IO[str] | None = None) -> logging.Handler:
    """Install opsbot's handler on the root logger (replacing one a previous call installed).

    `quiet` raises the level to WARNING at least (commands whose output is the answer, such as
    `opsbot ask`). `stream` defaults to stderr. The redaction filter is also put on every other
    handler already on the root logger, so nothing written by this process shows a secret.
    """
    section = section or LogSection()
    handler: logging.Handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if section.format == "json" else logging.Formatter(TEXT_FORMAT))
    redactor = RedactSecrets()
    handler.addFilter(redactor)
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    for other in root.handlers:
        if not any(isinstance(f, RedactSecrets) for f in other.filters):
            other.addFilter(redactor)
    root.addHandler(handler)
    level = logging.getLevelName(section.level)
    root.setLevel(max(level, logging.WARNING) if quiet else level)
    sys.excepthook = _log_uncaught
    return handler


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    # the default hook prints the traceback straight to stderr, past the redaction
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("opsbot").critical("unhandled exception", exc_info=(kind, exc, tb))
