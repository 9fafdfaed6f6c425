"""SIGTERM on a real `opsbot run`: the answer being computed and the delivery being sent both
arrive, readiness turns 503 meanwhile, and the process exits 0 well within the bound. And the
Telegram adapter's part of it (stop receiving, then drain), in process against the fake Bot API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bot.adapters.telegram.adapter import TelegramAdapter
from bot.app import build_dispatcher
from bot.config import Settings
from bot.context import Args, ChatRef, Context
from bot.delivery.outbox import Outbox
from bot.reply import Reply
from bot.router import Router
from bot.run import DRAIN_SECONDS
from bot.state.store import Store
from metrics.data.warehouse import Warehouse
from tests.conftest import free_port
from tests.fakes.slack_api import FakeSlack, fake_slack, slash_command  # noqa: F401
from tests.fakes.telegram_api import FakeTelegram, fake_telegram  # noqa: F401

BOT_TOKEN = "xoxb-5151515151-2626262626-ShutdownTestToken"
APP_TOKEN = "xapp-1-A0FAKE-3737373737-shutdown"

# `opsbot run` exactly as shipped, plus one test command whose answer takes a while
RUNNER = '''
import asyncio
import sys

import bot.app
from bot.cli import main
from bot.router import Router
from bot.reply import Reply

slow = Router()


@slow.command("slow")
async def slow_answer(ctx, args):
    await asyncio.sleep(float(args.raw))
    return Reply(title="Slow answer done")


bot.app.ROUTERS = (*bot.app.ROUTERS, slow)
main(["run", "--config", sys.argv[1]])
'''


async def status_of(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def wait_until(condition, timeout: float, what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s; log:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.05)


async def test_sigterm_finishes_answers_and_deliveries(
    tmp_path: Path, demo_url: str, backend: str, fake_slack: FakeSlack  # noqa: F811
) -> None:
    if backend != "embedded":
        pytest.skip("about the process, not the database")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    store = Store(state)
    # an item queued before the start; Slack will take 3 s to accept it
    Outbox(store).enqueue("test:queued", ChatRef("slack", "COPS"), Reply(title="Queued before SIGTERM"))
    fake_slack.hold("chat.postMessage", 3.0)
    ops_port = free_port()
    config = tmp_path / "opsbot.toml"
    config.write_text(f'[warehouse]\nurl = "{demo_url}"\n[state]\nurl = "{state}"\n'
                      '[access]\nchats = ["slack:COPS"]\n[alerts]\nenabled = false\n'
                      f'[ops]\nport = {ops_port}\n[log]\nformat = "json"\n')
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TELEGRAM_"))}
    env.update({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": fake_slack.api_url})
    log = tmp_path / "opsbot.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, str(script), str(config)], env=env, stdout=subprocess.DEVNULL,
                                stderr=stderr)
    try:
        await wait_until(lambda: bool(fake_slack._sockets), 60, "the Socket Mode connection", log)
        # the deliverer is sending the queued item: Slack holds it
        await wait_until(lambda: fake_slack.held["chat.postMessage"] == 1, 10, "the delivery", log)
        envelope = await fake_slack.socket_send(
            "slash_commands", slash_command("slow 2", response_url=fake_slack.response_url("slow")))
        await fake_slack.socket_ack(envelope)
        assert (await status_of(f"http://127.0.0.1:{ops_port}/readyz"))[0] == 200
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        # no new work: readiness says so at once, while the answer and the delivery are still running
        await wait_until(lambda: "shutting down" in log.read_text(), 5, "the shutdown", log)
        status, body = await status_of(f"http://127.0.0.1:{ops_port}/readyz")
        assert (status, body["failed"]) == (503, ["shutting_down"])
        assert not fake_slack.calls_to("response") and not fake_slack.calls_to("chat.postMessage")
        await wait_until(lambda: proc.poll() is not None, DRAIN_SECONDS + 10, "the exit", log)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert took < DRAIN_SECONDS, took
    [answer] = fake_slack.calls_to("response")
    assert "Slow answer done" in answer.body.decode()
    [delivery] = fake_slack.calls_to("chat.postMessage", ok_only=True)
    assert "Queued before SIGTERM" in delivery.text
    item = Outbox(store).get("test:queued")
    assert item is not None and item.status == "sent"
    store.dispose()
    # the logs are JSON lines, and the tokens are in none of them
    records = [json.loads(line) for line in text.splitlines()]
    assert any(r["message"] == "stopped" for r in records)
    assert BOT_TOKEN not in text and APP_TOKEN not in text


# ---- Telegram: stop receiving, then let the answers in hand finish (bounded) ------------------------

slow = Router()


@slow.command("slow")
async def slow_answer(ctx: Context, args: Args) -> Reply:
    await asyncio.sleep(float(args.raw))
    return Reply(title="Slow answer done")


@pytest.mark.parametrize("seconds, budget, answered", [(1.0, 5.0, True), (3.0, 0.3, False)])
async def test_telegram_drains_answers_in_flight(
    demo_settings: Settings, demo_warehouse: Warehouse, fake_telegram: FakeTelegram,  # noqa: F811
    seconds: float, budget: float, answered: bool,
) -> None:
    settings = demo_settings.model_copy(update={"access": demo_settings.access.model_copy(
        update={"users": ("telegram:42",)})})
    dispatcher = build_dispatcher(settings, demo_warehouse)
    dispatcher.include(slow)
    adapter = TelegramAdapter(dispatcher, fake_telegram.token, api_url=fake_telegram.url, poll_timeout=1)
    await adapter.start()
    try:
        fake_telegram.push(fake_telegram.message(f"/slow {seconds}", chat_id=42, user_id=42))
        await fake_telegram.wait_for("sendChatAction")  # the answer is being computed
        await adapter.stop_receiving()
        fake_telegram.push(fake_telegram.message("/help", chat_id=42, user_id=42))  # too late: not taken
        started = time.monotonic()
        await adapter.drain(budget)
        assert time.monotonic() - started < min(seconds, budget) + 1.0
    finally:
        await adapter.stop()
    texts = [c.params["text"] for c in fake_telegram.calls_to("sendMessage")]
    assert any("Slow answer done" in t for t in texts) is answered
    assert len(texts) == (1 if answered else 0)  # nothing for the /help that came after
