"""Two real `opsbot run` processes on one state database (PostgreSQL, and one SQLite file) behind
one fake Slack in HTTP mode, as behind a load balancer: a Slack event delivered to both and
redelivered with a retry header is answered once; 40 commands from one person spread over both
meet the per-user limit as one process would; a segments answer computed by one is served warm
by the other; a captured slash command and a captured button click, replayed to both and twice to
one, run once, counted in both instances' /metrics, while a fresh signing of the same words runs
(issue 23)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.state.store import KeptAnswer, Lease, Store
from tests.conftest import empty_pg_url, free_port
from tests.fakes.slack_api import (
    BOT_USER_ID,
    FakeSlack,
    block_actions_form,
    event_body,
    fake_slack,  # noqa: F401
    mention_event,
    sign,
    slash_command_form,
)

SECRET = "two-instances-signing-secret"
PER_MINUTE = 20


@pytest.fixture(params=["postgresql", "sqlite"])
def shared_state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return empty_pg_url("opsbot_instances_shared")


async def post(port: int, body: str, content_type: str, headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/slack/events", data=body.encode(),
                                headers={"Content-Type": content_type, **sign(SECRET, body), **(headers or {})}) as r:
            return r.status


async def command(port: int, words: str, user: str, fake: FakeSlack, rid: str) -> int:
    form = slash_command_form(words, user=user, response_url=fake.response_url(rid))
    return await post(port, form, "application/x-www-form-urlencoded")


async def answers(fake: FakeSlack, rid: str, count: int, seconds: float = 60.0) -> list[str]:
    """The texts posted to response URL `rid`, once there are `count` of them (the "working…"
    acknowledgement is the HTTP response itself, not a post)."""
    for _ in range(int(seconds * 10)):
        got = [c.text for c in fake.calls_to("response") if c.path == f"/response/{rid}"]
        if len(got) >= count:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(got)} of {count} answers on /response/{rid}")


async def metrics(port: int) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as r:
        return await r.text()


def _counted(scraped: str, kind: str) -> int:
    """Replays of `kind` refused, summed over the instances' scrapes."""
    prefix = f'opsbot_replays_refused_total{{kind="{kind}",platform="slack"}} '
    return int(sum(float(line[len(prefix):]) for line in scraped.splitlines() if line.startswith(prefix)))


async def kept_segments(store: Store, seconds: float = 90.0) -> KeptAnswer:
    """The kept segments answer, once an instance has computed it."""
    for _ in range(int(seconds * 10)):
        with store.session() as s:
            for row in s.scalars(select(KeptAnswer)).all():
                value = json.loads(row.value)
                if value.get("v") and str(value["v"][0].get("t", "")).endswith(":SegmentReport"):
                    return row
        await asyncio.sleep(0.1)
    raise AssertionError("no instance kept a segments answer")


async def test_two_instances_share_dedup_limits_and_answers(
    tmp_path: Path, backend: str, demo_url: str, shared_state: str, fake_slack: FakeSlack  # noqa: F811
) -> None:
    if backend != "embedded":
        pytest.skip("the state backend is the parameter here; one warehouse is enough")
    Store(shared_state).dispose()  # migrated before both start: the concurrent start is test_migrations'
    ports = [free_port(), free_port()]
    ops_ports = [free_port(), free_port()]
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": fake_slack.api_url}
    procs = []
    for i, port in enumerate(ports):
        config = tmp_path / f"opsbot{i}.toml"
        config.write_text(f'[warehouse]\nurl = "{demo_url}"\n[state]\nurl = "{shared_state}"\n'
                          '[access]\nchats = ["slack:COPS"]\n'
                          f'[limits]\nuser_per_minute = {PER_MINUTE}\nchat_per_minute = 1000\n'
                          f'[slack]\nmode = "http"\nport = {port}\n[alerts]\nenabled = false\n'
                          f'[ops]\nport = {ops_ports[i]}\n')
        procs.append(subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--config", str(config)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=(tmp_path / f"p{i}.log").open("w")))
    logs = lambda: "".join((tmp_path / f"p{i}.log").read_text() for i in range(2))  # noqa: E731
    try:
        for _ in range(300):
            if logs().count("HTTP mode listening") == 2:
                break
            await asyncio.sleep(0.1)
        assert logs().count("HTTP mode listening") == 2, logs()[-3000:]

        # 1. one event, delivered to both, then redelivered with Slack's retry header
        mention = json.dumps(event_body(mention_event(f"<@{BOT_USER_ID}> kpi orders yesterday", user="UBOB",
                                                      ts="1764000200.000100"), event_id="EvBOTH"))
        statuses = await asyncio.gather(post(ports[0], mention, "application/json"),
                                        post(ports[1], mention, "application/json"))
        statuses.append(await post(ports[1], mention, "application/json",
                                   {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}))
        assert statuses == [200, 200, 200]

        # 2. forty commands from one person, alternating between the instances
        for i in range(40):
            assert await command(ports[i % 2], "help", "UALICE", fake_slack, "alice") == 200
        said = await answers(fake_slack, "alice", 40)
        limited = [s for s in said if "commands in the last minute" in s]
        assert len(limited) == 40 - PER_MINUTE, logs()[-3000:]

        # 3. segments computed by one instance (the scheduler's, warming the slow answers at start) ...
        store = Store(shared_state)
        row = await kept_segments(store)
        with store.session() as s:
            holder = s.scalar(select(Lease.holder).where(Lease.name == "scheduler"))
        assert holder is not None
        computed_by = [p.pid for p in procs].index(int(holder.rsplit(":", 1)[1]))
        other = ports[1 - computed_by]
        # ... and marked, so an answer the other instance computed for itself could not pass for it
        value = json.loads(row.value)
        report = value["v"][0]["v"]
        truth = report["customers"]
        report["customers"] = 424242
        with store.session() as s, s.begin():
            s.execute(update(KeptAnswer).where(KeptAnswer.key == row.key).values(value=json.dumps(value)))
        # the other instance serves it warm; the one that computed it, from its own memory
        assert await command(other, "segments", "UCAROL", fake_slack, "other") == 200
        assert await command(ports[computed_by], "segments", "UCAROL", fake_slack, "own") == 200
        [served] = await answers(fake_slack, "other", 1)
        [own] = await answers(fake_slack, "own", 1)
        assert "424,242" in served, served
        assert f"{truth:,}" in own and "424,242" not in own
        store.dispose()

        # 4. a captured slash command and a captured button click, replayed to both and twice to one (issue 23)
        replays = []
        for form, rid in ((slash_command_form("kpi orders yesterday", user="UDAVE",
                                              response_url=fake_slack.response_url("replayed")), "replayed"),
                          (block_actions_form("kpi gmv yesterday", user="UDAVE", message_ts="1764000400.000100",
                                              response_url=fake_slack.response_url("clicked")), "clicked")):
            captured = sign(SECRET, form)
            first = await asyncio.gather(*(post(p, form, "application/x-www-form-urlencoded", captured)
                                           for p in ports))
            again = await post(ports[0], form, "application/x-www-form-urlencoded", captured)
            replays.append(([*first, again], rid, form, captured))
        assert all(statuses == [200, 200, 200] for statuses, *_ in replays)
        # a fresh request (the same words, signed at another second) still runs
        form, captured = replays[0][2], replays[0][3]
        fresh = sign(SECRET, form, timestamp=int(captured["X-Slack-Request-Timestamp"]) - 1)
        assert await post(ports[1], form, "application/x-www-form-urlencoded", fresh) == 200
        assert len(await answers(fake_slack, "replayed", 2)) == 2
        scraped = ""
        for _ in range(50):
            scraped = "".join([await metrics(p) for p in ops_ports])
            if _counted(scraped, "command") == 2 and _counted(scraped, "action") == 2:
                break
            await asyncio.sleep(0.1)
        assert _counted(scraped, "command") == 2 and _counted(scraped, "action") == 2, scraped[-2000:]

        await asyncio.sleep(1.0)  # time for a duplicate answer to the event, were there going to be one
        posts = [c for c in fake_slack.calls_to("chat.postMessage") if c.status == 200]
        assert sum(c.args.get("thread_ts") == "1764000200.000100" for c in posts) == 1, logs()[-3000:]
        # the captured command answered once (plus the fresh one), the click once
        assert len([c for c in fake_slack.calls_to("response") if c.path == "/response/replayed"]) == 2
        assert sum(c.args.get("thread_ts") == "1764000400.000100" for c in posts) == 1, logs()[-3000:]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
    assert all(p.returncode == 0 for p in procs), logs()[-3000:]
