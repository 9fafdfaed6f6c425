"""`opsbot state export` / `import`: a team's configuration moves between state databases (SQLite to
SQLite, SQLite to PostgreSQL and back) with nothing changed, an import twice changes nothing, and a
bad file is refused whole, naming the bad field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text

import bot.state.planning  # noqa: F401  (its tables are part of the state)
from bot.app import build_dispatcher
from bot.cli import main
from bot.config import Settings
from bot.state.store import Base, Store
from bot.state.transfer import FORMAT, StateFileError, import_state, parse_state_file
from metrics.data.warehouse import Warehouse
from tests.bot.state.test_upgrade import snapshot
from tests.conftest import Clock, empty_pg_url
from tests.fakes.chat import Chat

# the commands that make the source state run on the embedded demo shop (the state is what varies)
embedded = pytest.mark.parametrize("backend", ["embedded"], indirect=True, scope="session")

SETUP = [
    "lang zh",
    "subscribe digest daily 09:00",
    "subscribe digest weekly mon 08:30 gmv orders by channel wait-until 10:00",
    "subscribe digest daily 18:00 refund_rate",
    "pause 3",
    "goal set gmv 2000000 2027Q1",
    "goal set gmv 3000000 2027Q1",  # replaces the first: the goals' ids in the source start at 2
    "goal set conversion 3.2% 2026-12",
    "campaign add 双11 2026-11-08..2026-11-12 social live_stream spend 50000",
    "campaign add spring-sale 2027-03-01..2027-03-07",
    "alert add refund_rate > 5% daily",
    "alert add orders < 100 by channel",
]


def configured(url: str) -> dict[str, Any]:
    """What the export is for, read straight from the tables (not through bot.state.transfer): every column
    but the ids, a spend plan's goal named by its metric and period, a goal with its daily targets."""
    t = Base.metadata.tables
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            def rows(table: str, drop: tuple[str, ...] = ("id",)) -> list[dict[str, Any]]:
                cols = [c for c in t[table].c if c.name not in drop]
                return [dict(r._mapping) for r in conn.execute(select(*cols))]

            goal_of = {r.id: (r.metric, r.start, r.end) for r in conn.execute(select(t["goals"]))}
            targets: dict[Any, list[tuple[Any, ...]]] = {}
            for r in conn.execute(select(t["goal_targets"])):
                targets.setdefault(goal_of[r.goal_id], []).append((r.day, r.units, r.scale))
            goals = [dict(g, targets=sorted(targets.get((g["metric"], g["start"], g["end"]), [])))
                     for g in rows("goals")]
            plans = [dict(p, goal=goal_of.get(p.pop("goal_id"))) for p in rows("spend_plans")]
            found = {
                "chat_settings": rows("chat_settings", drop=()),
                "subscriptions": rows("subscriptions"), "goals": goals, "campaigns": rows("campaigns"),
                "alert_rules": rows("alert_rules"), "spend_plans": plans,
            }
    finally:
        engine.dispose()
    return {k: sorted(v, key=lambda r: json.dumps(r, sort_keys=True, default=str)) for k, v in found.items()}


def state_url(kind: str, tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / (name + '.db')}" if kind == "sqlite" else empty_pg_url(f"opsbot_state_io_{name}")


def cli(*args: str, url: str, tmp_path: Path) -> tuple[int, str]:
    config = tmp_path / f"opsbot-{abs(hash(url))}.toml"
    config.write_text(f'[state]\nurl = "{url}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["state", *args, "--config", str(config)])
    return result.exit_code, result.output


async def talk(url: str, demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock,
               lines: list[str]) -> list[str]:
    store = Store(url)
    try:
        chat = Chat(build_dispatcher(demo_settings, demo_warehouse, clock=clock, store=store))
        replies = []
        for line in lines:
            reply = await chat.send(line)
            assert not reply.error, f"{line}: {reply.plain_text()}"
            replies.append(reply.plain_text())
        return replies
    finally:
        store.dispose()


@pytest.fixture
async def source(tmp_path: Path, demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock) -> str:
    """A SQLite state made as a team makes it: through the commands, a budget adopted last."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    await talk(url, demo_settings, demo_warehouse, clock, SETUP)
    store = Store(url)
    try:
        chat = Chat(build_dispatcher(demo_settings, demo_warehouse, clock=clock, store=store))
        offer = await chat.send("budget 200000 next month search social live_stream")
        assert offer.actions, offer.plain_text()
        adopted = await chat.send(offer.actions[0].command)
        assert adopted.data["adopted_goal"], adopted.plain_text()
    finally:
        store.dispose()
    return url


@embedded
@pytest.mark.parametrize("target", ["sqlite", "postgresql"])
async def test_round_trip_into_an_empty_state(target: str, source: str, tmp_path: Path, demo_settings: Settings,
                                              demo_warehouse: Warehouse, clock: Clock) -> None:
    made = configured(source)
    assert len(made["subscriptions"]) == 3 and len(made["goals"]) == 3 and len(made["spend_plans"]) == 3
    assert all(p["goal"] == ("spend", p["start"], p["end"]) for p in made["spend_plans"])
    file = tmp_path / "state.json"
    code, out = cli("export", str(file), url=source, tmp_path=tmp_path)
    assert code == 0, out
    assert json.loads(file.read_text(encoding="utf-8"))["format"] == FORMAT

    url = state_url(target, tmp_path, "target")
    code, out = cli("import", str(file), url=url, tmp_path=tmp_path)
    assert code == 0, out
    assert "subscriptions: 3 added" in out and "spend plans: 3 added" in out
    assert configured(url) == made  # the spend plans point at the target's id of the spend goal

    # twice: nothing changes, not even the key rows that keep a second add out
    engine = create_engine(url)
    before = snapshot(engine)
    code, out = cli("import", str(file), url=url, tmp_path=tmp_path)
    assert code == 0, out
    assert "nothing to change" in out and "added" not in out and "replaced" not in out
    assert snapshot(engine) == before
    engine.dispose()

    # and the imported rows are the commands' own: the same subscribe or rule again is recognised
    again = await talk(url, demo_settings, demo_warehouse, clock,
                       ["subscribe digest daily 09:00", "alert add refund_rate > 5% daily", "subscriptions"])
    assert configured(url) == made
    assert "#" in again[2] and "18:00" in again[2]


@embedded
async def test_postgresql_to_sqlite_and_back(source: str, tmp_path: Path) -> None:
    made = configured(source)
    pg = state_url("postgresql", tmp_path, "pg")
    for src, dst, name in ((source, pg, "a"), (pg, f"sqlite:///{tmp_path / 'back.db'}", "b")):
        file = tmp_path / f"{name}.json"
        assert cli("export", str(file), url=src, tmp_path=tmp_path)[0] == 0
        code, out = cli("import", str(file), url=dst, tmp_path=tmp_path)
        assert code == 0, out
        assert configured(dst) == made


@embedded
async def test_an_import_recognises_what_is_there_and_replaces_a_changed_goal(
        source: str, tmp_path: Path, demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock) -> None:
    target = f"sqlite:///{tmp_path / 'target.db'}"
    # the target already has some of it, under other ids, and another target for the same quarter
    await talk(target, demo_settings, demo_warehouse, clock, [
        "goal set orders 5000 2027-02", "subscribe digest daily 09:00", "goal set gmv 1000000 2027Q1",
        "campaign add 双11 2026-11-08..2026-11-12 social live_stream spend 50000"])
    file = tmp_path / "state.json"
    assert cli("export", str(file), url=source, tmp_path=tmp_path)[0] == 0
    code, out = cli("import", str(file), "--dry-run", url=target, tmp_path=tmp_path)
    assert code == 0 and "dry run: nothing was written" in out
    assert len(configured(target)["subscriptions"]) == 1

    code, out = cli("import", str(file), url=target, tmp_path=tmp_path)
    assert code == 0, out
    assert "subscriptions: 2 added, 1 already there" in out
    assert "goals: 2 added, 1 replaced" in out and "campaigns: 1 added, 1 already there" in out
    found, made = configured(target), configured(source)
    orders = [g for g in found["goals"] if g["metric"] == "orders"]
    assert len(orders) == 1  # not in the file: kept
    assert [g for g in found["goals"] if g["metric"] != "orders"] == made["goals"]
    for section in ("alert_rules", "spend_plans", "chat_settings"):
        assert found[section] == made[section], section

    def made_when(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "created_at"} for r in rows]

    # what was there is kept as it was made here (its own created_at), not doubled
    for section in ("subscriptions", "campaigns"):
        assert made_when(found[section]) == made_when(made[section]), section


def _doc(**sections: Any) -> dict[str, Any]:
    return {"format": FORMAT, "opsbot_version": "0.1.0", **sections}


SUB = {"chat": "slack:COPS", "cadence": "daily", "at": "09:00", "timezone": "Asia/Shanghai"}


@pytest.mark.parametrize(("doc", "says"), [
    (_doc(subscriptions=[SUB, dict(SUB, at="25:00")]), "subscriptions[1].at: String should match pattern"),
    (_doc(goals=[{"id": 1, "metric": "gmvv", "kind": "sum", "target": 1, "start": "2027-01-01",
                  "end": "2027-04-01", "label": "2027Q1"}]), "goals[0].metric: unknown metric 'gmvv'"),
    (_doc(alert_rules=[{"chat": "slack:C", "kpi": "gmv", "op": ">", "threshold": 1, "colour": "red"}]),
     "alert_rules[0].colour: Extra inputs are not permitted"),
    (_doc(subscriptions=[dict(SUB, cadence="weekly")]), "subscriptions[0]: a weekly subscription needs a weekday"),
    (_doc(subscriptions=[dict(SUB, timezone="Mars/Olympus")]), "subscriptions[0].timezone: unknown time zone"),
    (_doc(spend_plans=[{"start": "2026-12-01", "end": "2027-01-01", "channel": "search", "amount": 1,
                        "objective": "gmv", "goal": 7}]), "spend_plans[0].goal 7 is no goal's id in this file"),
    (_doc(campaigns=[{"name": "x", "start": "2026-12-02", "end": "2026-12-01"}]),
     "campaigns[0]: end 2026-12-01 must be after start 2026-12-02"),
    (dict(_doc(), format="opsbot-state/2"), "format: this opsbot reads 'opsbot-state/1' files"),
    ({"subscriptions": []}, "not an opsbot state export (no 'format' field)"),
    ([1, 2], "the JSON is not an object"),
])
def test_a_bad_file_is_refused_naming_the_field(doc: Any, says: str, tmp_path: Path) -> None:
    with pytest.raises(StateFileError) as err:
        parse_state_file(json.dumps(doc))
    assert says in str(err.value)
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(doc), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'target.db'}"
    Store(url).dispose()  # an existing state, so that "nothing written" is seen in its tables
    code, out = cli("import", str(file), url=url, tmp_path=tmp_path)
    assert code == 1 and says in out and "nothing was imported" in out
    assert configured(url)["subscriptions"] == []  # the valid first subscription was not written either


def test_not_json_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "state.json"
    file.write_text("subscriptions: []\n", encoding="utf-8")
    code, out = cli("import", str(file), url=f"sqlite:///{tmp_path / 't.db'}", tmp_path=tmp_path)
    assert code == 1 and "not a JSON file" in out


def test_an_import_that_fails_half_way_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = parse_state_file(json.dumps(_doc(
        subscriptions=[SUB], chat_settings=[{"chat": "slack:COPS", "language": "zh"}],
        goals=[{"id": 1, "metric": "gmv", "kind": "sum", "target": 1.0, "start": "2027-01-01", "end": "2027-04-01",
                "label": "2027Q1"}])))

    def broken(*_: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("bot.state.transfer._spend_plans", broken)  # the last step, after everything else
    store = Store(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        with pytest.raises(RuntimeError):
            import_state(store, doc)
        with store.engine.connect() as conn:
            for table in ("subscriptions", "goals", "chat_settings", "unique_keys"):
                assert conn.scalar(text(f"select count(*) from {table}")) == 0, table
    finally:
        store.dispose()


def test_a_row_the_import_would_refuse_is_still_exported(tmp_path: Path) -> None:
    """An export never stops half way: a rule on a metric this opsbot does not know goes out,
    and the import names it."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    Store(url).dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("insert into alert_rules (chat, kpi, op, threshold, created_at) "
                          "values ('slack:COPS', 'gmv_net', '>', 5, '2026-11-25 10:30:00.000000')"))
    engine.dispose()
    file = tmp_path / "state.json"
    code, out = cli("export", str(file), url=url, tmp_path=tmp_path)
    assert code == 0, out
    assert json.loads(file.read_text(encoding="utf-8"))["alert_rules"][0]["kpi"] == "gmv_net"
    code, out = cli("import", str(file), url=f"sqlite:///{tmp_path / 'target.db'}", tmp_path=tmp_path)
    assert code == 1 and "alert_rules[0].kpi: unknown metric 'gmv_net'" in out
