"""Logging: JSON lines that parse, and no secret in logs or error replies, whatever raised."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.config import LogSection
from bot.context import CONSOLE, Args, Context, Incoming
from bot.dispatch import Dispatcher
from bot.logs import redact, setup_logging
from bot.reply import Reply
from bot.router import Router

SLACK_TOKEN = "xoxb-4242424242-1717171717-FakeTokenForTheTestsOnly"
# no pattern knows this shape: only "it is the value of a secret variable" can catch it
API_KEY = "s3cr3t-value-with-no-known-shape-91x"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
PG_URL = "postgresql+psycopg://opsbot:hunter2-pw@db.internal:5432/shop"


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What setup_logging's handler writes (JSON lines), with the root logger restored afterwards."""
    root = logging.getLogger()
    handlers, level, filters = list(root.handlers), root.level, {h: list(h.filters) for h in root.handlers}
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    stream = io.StringIO()
    setup_logging(LogSection(format="json", level="INFO"), stream=stream)
    yield stream
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler, kept in filters.items():
        handler.filters[:] = kept
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_fields(logs: io.StringIO) -> None:
    log = logging.getLogger("opsbot.test")
    log.info("digest %s enqueued", "digest:1:2026-11-25", extra={"chat": "slack:COPS", "attempt": 2})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("incident 1a2b3c4d: command %r failed", "kpi gmv")
    first, second = lines(logs)
    assert first["level"] == "INFO" and first["logger"] == "opsbot.test"
    assert first["message"] == "digest digest:1:2026-11-25 enqueued"
    assert first["chat"] == "slack:COPS" and first["attempt"] == 2
    ts = datetime.fromisoformat(str(first["ts"]))
    assert ts.utcoffset() == UTC.utcoffset(None) and abs((datetime.now(UTC) - ts).total_seconds()) < 60
    assert second["level"] == "ERROR" and second["incident"] == "1a2b3c4d"
    assert "Traceback" in str(second["exc_info"]) and "ValueError: boom" in str(second["exc_info"])
    assert "exc_info" not in first


async def test_a_failing_handler_leaks_no_token(
    dispatcher: Dispatcher, logs: io.StringIO, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("OPSBOT_VENDOR_API_KEY", API_KEY)
    router = Router()

    @router.command("leak")
    async def leak(ctx: Context, args: Args) -> Reply:
        raise RuntimeError(f"auth.test refused token {SLACK_TOKEN} (key {API_KEY}) while reading {PG_URL}")

    dispatcher.include(router)
    reply = await dispatcher.dispatch(Incoming(text="leak", chat=CONSOLE, user="console:local"))

    assert reply.error and reply.data["error"] == "incident"
    shown = json.dumps(reply.to_json(), ensure_ascii=False)
    written = logs.getvalue()
    for secret in (SLACK_TOKEN, API_KEY, "hunter2-pw"):
        assert secret not in shown
        assert secret not in written
        assert secret not in caplog.text
    # the incident was logged, traceback and all, with the secrets masked
    [record] = [r for r in lines(logs) if r.get("incident") == reply.data["incident"]]
    assert "RuntimeError: auth.test refused token *** (key ***)" in str(record["exc_info"])
    assert "opsbot:***@db.internal:5432/shop" in str(record["exc_info"])


def test_telegram_tokens_are_masked(logs: io.StringIO) -> None:
    log = logging.getLogger("telegram.ext")
    log.warning("POST https://api.telegram.org/bot%s/getUpdates failed", TELEGRAM_TOKEN)
    log.warning("local API http://127.0.0.1:8081/bot123456:TEST-token_for-the-fake/sendMessage: 502")
    log.warning("token %s was refused", TELEGRAM_TOKEN)
    first, second, third = (str(line["message"]) for line in lines(logs))
    assert first == "POST https://api.telegram.org/bot***/getUpdates failed"
    assert second == "local API http://127.0.0.1:8081/bot***/sendMessage: 502"
    assert third == "token *** was refused"


def test_passwords_in_urls_are_masked(logs: io.StringIO) -> None:
    logging.getLogger("metrics").error("cannot reach %s", PG_URL)
    [line] = lines(logs)
    assert line["message"] == "cannot reach postgresql+psycopg://opsbot:***@db.internal:5432/shop"


def test_what_is_not_a_secret_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_FLAG_KEY", "on")  # too short to be a secret: masking it would garble words
    text = "http://127.0.0.1:8080/path@x and on and slack:C0123 at 12:30:45"
    assert redact(text) == text
    assert redact("xapp-1-A0FAKE-123-abc and xoxp-1-2-3") == "*** and ***"


def test_text_format(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    level = root.level
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    stream = io.StringIO()
    handler = setup_logging(LogSection(), stream=stream, quiet=True)
    try:
        logging.getLogger("x").info("not shown: quiet means warnings")
        logging.getLogger("x").warning("to %s", "postgresql://u:pw-secret@h/db")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    [line] = stream.getvalue().splitlines()
    assert line.endswith(" WARNING x: to postgresql://u:***@h/db")
