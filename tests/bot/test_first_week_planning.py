"""A team's first week with the planning commands (issue 24): exports from the console, the defaults
a newcomer relies on (`pace` and `plan` with no words), and a past period asked for a plan.

NOW = 2026-11-25; the demo shop's orders run 2026-07-28 to 2026-11-24."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bot.adapters.console import ConsoleAdapter
from bot.cli import main
from bot.dispatch import Dispatcher
from tests.fakes.chat import Chat

SAVED = re.compile(r"\[file saved: (?P<path>.+?), (?P<size>[0-9,]+) bytes\]")


async def test_a_console_export_writes_the_csv_and_says_where(dispatcher: Dispatcher, tmp_path: Path) -> None:
    out = io.StringIO()
    console = ConsoleAdapter(dispatcher, out=out, files_dir=tmp_path / "exports")
    await console.repl(io.StringIO("segments\nsegments export at_risk\nsegments export at_risk\nquit\n"))
    text = out.getvalue()
    assert "attached" not in text  # nothing is attached on a console
    first, second = (Path(m["path"]) for m in SAVED.finditer(text))
    assert first == tmp_path / "exports" / "segment-at_risk-2026-11-24.csv"
    # the second export does not overwrite the first: it gets a name of its own
    assert second == tmp_path / "exports" / "segment-at_risk-2026-11-24-1.csv"
    assert first.read_bytes() == second.read_bytes()
    frame = pd.read_csv(first)
    assert list(frame.columns) == ["customer_id", "last_order_day", "orders", "gmv", "segment"]
    assert set(frame.segment) == {"at_risk"}
    summary = await Chat(dispatcher).send("segments")
    assert len(frame) == summary.data["counts"]["at_risk"]


@pytest.fixture
def config(tmp_path: Path, demo_url: str) -> Path:
    path = tmp_path / "opsbot.toml"
    path.write_text(f'[warehouse]\nurl = "{demo_url}"\n')
    return path


def test_opsbot_ask_writes_to_out_and_json_keeps_the_base64(config: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    runner = CliRunner()
    here = runner.invoke(main, ["ask", "--config", str(config), "segments export dormant"])
    assert here.exit_code == 0, here.output
    saved = [Path(m["path"]) for m in SAVED.finditer(here.output)]
    assert len(saved) == 1, here.output
    [written] = saved
    assert written.parent == cwd.resolve() and written.name.startswith("segment-dormant-")
    elsewhere = runner.invoke(main, ["ask", "--config", str(config), "--out", "csv", "segments export dormant"])
    assert elsewhere.exit_code == 0, elsewhere.output
    [other] = [Path(m["path"]) for m in SAVED.finditer(elsewhere.output)]
    assert other == (cwd / "csv" / written.name).resolve()
    as_json = runner.invoke(main, ["ask", "--config", str(config), "--json", "segments export dormant"])
    [f] = json.loads(as_json.output)["files"]
    assert base64.b64decode(f["content_base64"]) == written.read_bytes()
    # --json writes nothing
    assert sorted(p.name for p in cwd.iterdir()) == sorted(["csv", written.name])


async def test_bare_pace_and_plan_use_the_one_running_goal(chat: Chat) -> None:
    await chat.send("goal set gmv 4000000 this month")
    pace = await chat.send("pace")
    assert not pace.error, pace.plain_text()
    assert len(pace.data["goals"]) == 1 and pace.data["goals"][0]["goal"] == 4_000_000
    assert "2026-11" in pace.title and pace.fields  # the one goal's own card, not a list
    plan = await chat.send("plan")
    assert not plan.error, plan.plain_text()
    named = await chat.send("plan gmv 2026-11")
    assert plan.data["days"] == named.data["days"] and plan.data["goal"] == named.data["goal"]


async def test_bare_pace_and_plan_with_only_a_goal_to_come_use_it(chat: Chat) -> None:
    none = await chat.send("plan")
    assert none.error and "goal set gmv <target> 2027Q1" in none.plain_text()  # a period goal set accepts
    await chat.send("goal set gmv 6000000 2027Q1")
    pace = await chat.send("pace")
    assert not pace.error, pace.plain_text()
    assert pace.data["goals"][0]["verdict"] == "not_started"
    plan = await chat.send("plan")
    assert not plan.error and plan.data["period"] == {"start": "2027-01-01", "end": "2027-04-01"}
    # the plan says what it assumes around Chinese New Year: the demo's history holds none
    assert "Chinese New Year (2027-02-06): not in the history" in plan.plain_text()
    assert plan.data["holidays"][0]["holiday"] == "cny" and plan.data["holidays"][0]["seen"] == []


async def test_two_running_goals_make_bare_plan_ask_which(chat: Chat) -> None:
    await chat.send("goal set gmv 4000000 this month")
    await chat.send("goal set orders 9000 this month")
    reply = await chat.send("plan")
    assert reply.error
    assert "`plan gmv 2026-11`" in reply.plain_text() and "`plan orders 2026-11`" in reply.plain_text()


async def test_plan_of_a_period_that_is_over_suggests_nothing_that_is_refused(chat: Chat) -> None:
    reply = await chat.send("plan gmv 2025Q1")
    text = reply.plain_text()
    assert reply.error and "is over" in text
    assert "goal set" not in text and "plan gmv <target>" not in text
    # what it suggests answers
    suggested = re.search(r"`(kpi gmv 2025Q1)`", text)
    assert suggested is not None
    answer = await chat.send(suggested.group(1))
    assert not answer.error, answer.plain_text()
    zh = await chat.send("计划 销售额 2025Q1")
    assert zh.error and "已经结束" in zh.plain_text() and "goal set" not in zh.plain_text()
