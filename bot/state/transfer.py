"""`opsbot state export FILE` / `opsbot state import FILE`: what a team configured, as JSON.

For moving the state from SQLite to PostgreSQL, or from staging to production: chat settings,
digest subscriptions, goals with their daily targets, campaigns, alert rules and adopted spend
plans. Not exported: what the running bot makes by itself (alerts, the outbox, the audit log,
leases, APScheduler's jobs, which are derived from the subscriptions at start).

The file is versioned (`format`, `opsbot_version`) and validated whole with pydantic before
anything is written; an error names the bad field (`subscriptions[1].at: ...`). The import is one
transaction: all of it or none of it. It is idempotent, and does what the commands would have done:

- a subscription, an alert rule or a campaign already there (the same canonical key the commands
  use to add each only once, bot/state/store.py UniqueKey) is recognised and left alone;
- a goal replaces one for the same metric and period (as `goal set` does), a spend plan the plan
  for the same period (as `budget ... adopt`), a chat setting the chat's setting; an identical
  one is left alone, so importing the same file twice changes nothing.

Ids differ between databases: a file's ids only tie its records together (a spend plan's goal),
and are remapped to the ids the target database gives.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.errors import ConfigError
from bot.state.keys import campaign_key, rule_key, subscription_key
from bot.state.planning import Campaign, Goal, GoalTarget, SpendPlan
from bot.state.store import AlertRule, ChatSetting, Store, Subscription, UniqueKey, utcnow
from metrics.kpis import CATALOG

FORMAT = "opsbot-state/1"
SECTIONS = ("chat_settings", "subscriptions", "goals", "campaigns", "alert_rules", "spend_plans")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class StateFileError(ConfigError):
    """The file cannot be imported (not JSON, another format, a bad field); nothing was written."""


def opsbot_version() -> str:
    try:
        return version("opsbot")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


# --- the file's records: column lengths as in the models, so PostgreSQL never refuses a value
# that SQLite took -------------------------------------------------------------------------------

Chat = Annotated[str, Field(min_length=1, max_length=200)]
Who = Annotated[str | None, Field(max_length=200)]
HhMm = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Number = Annotated[float, Field(allow_inf_nan=False)]


def _known_kpi(name: str) -> str:
    if name not in CATALOG:
        raise ValueError(f"unknown metric {name!r} (known: {', '.join(CATALOG)})")
    return name


KpiName = Annotated[str, Field(max_length=40)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


R = TypeVar("R", bound=_Record)


class ChatSettingRecord(_Record):
    chat: Chat
    language: Literal["en", "zh"] | None = None
    updated_by: Who = None
    updated_at: datetime | None = None


class SubscriptionRecord(_Record):
    chat: Chat
    kind: Literal["digest"] = "digest"
    cadence: Literal["daily", "weekly"]
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    at: HhMm
    timezone: Annotated[str, Field(max_length=64)]
    metrics: list[KpiName] = []
    by: Annotated[str | None, Field(max_length=64)] = None
    wait_until: HhMm | None = None
    sections: list[Literal["stock"]] = []  # the digest's optional sections (handlers/digest.py)
    paused: bool = False
    paused_reason: Annotated[str | None, Field(max_length=200)] = None
    source: Literal["chat", "config"] = "chat"
    created_by: Who = None
    created_at: datetime | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: list[str]) -> list[str]:
        return [_known_kpi(m) for m in value]

    @model_validator(mode="after")
    def _schedule(self) -> SubscriptionRecord:
        if (self.cadence == "weekly") != (self.weekday is not None):
            raise ValueError("a weekly subscription needs a weekday (mon..sun), a daily one none")
        if self.wait_until is not None and self.wait_until <= self.at:
            raise ValueError(f"wait_until {self.wait_until} must be after at {self.at}")
        return self


class GoalTargetRecord(_Record):
    day: date
    units: int
    scale: Annotated[int, Field(gt=0)] = 100


class _Bounded(_Record):
    start: date
    end: date  # the day after the last, as in the database

    @model_validator(mode="after")
    def _order(self) -> _Bounded:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start} (end is the day after the last)")
        return self


class GoalRecord(_Bounded):
    id: int  # the file's own id: what a spend plan's `goal` refers to
    metric: KpiName
    kind: Literal["sum", "level"]
    target: Number
    label: Annotated[str, Field(max_length=60)]
    chat: Who = None
    created_by: Who = None
    created_at: datetime | None = None
    profile: dict[str, Any] | None = None
    targets: list[GoalTargetRecord] = []

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        return _known_kpi(value)

    @model_validator(mode="after")
    def _targets_inside(self) -> GoalRecord:
        days = [t.day for t in self.targets]
        outside = [d for d in days if not self.start <= d < self.end]
        if outside:
            raise ValueError(f"target day {outside[0]} is outside the goal's period {self.start}..{self.end}")
        if len(set(days)) != len(days):
            raise ValueError("two targets for the same day")
        return self


class CampaignRecord(_Bounded):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    channels: list[str] = []
    spend: Number | None = None
    chat: Who = None
    created_by: Who = None
    created_at: datetime | None = None


class AlertRuleRecord(_Record):
    chat: Chat
    kpi: KpiName
    op: Literal[">", "<"]
    threshold: Number
    by: Annotated[str | None, Field(max_length=64)] = None
    created_by: Who = None
    created_at: datetime | None = None

    @field_validator("kpi")
    @classmethod
    def _kpi(cls, value: str) -> str:
        return _known_kpi(value)


class SpendPlanRecord(_Bounded):
    channel: Annotated[str, Field(min_length=1, max_length=100)]
    amount: Number
    objective: Literal["gmv", "new_customers"]
    expected: Number | None = None
    goal: int | None = None  # a goal's `id` in this file
    created_by: Who = None
    created_at: datetime | None = None


class StateFile(_Record):
    format: str
    opsbot_version: str
    exported_at: datetime | None = None
    schema_revision: str | None = None  # informational: the exporting database's migration
    chat_settings: list[ChatSettingRecord] = []
    subscriptions: list[SubscriptionRecord] = []
    goals: list[GoalRecord] = []
    campaigns: list[CampaignRecord] = []
    alert_rules: list[AlertRuleRecord] = []
    spend_plans: list[SpendPlanRecord] = []

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value != FORMAT:
            raise ValueError(f"this opsbot reads {FORMAT!r} files, not {value!r}"
                             + (": export it again with this version, or import it with a newer opsbot"
                                if value.startswith("opsbot-state/") else ""))
        return value

    @model_validator(mode="after")
    def _references(self) -> StateFile:
        seen: dict[int, int] = {}
        periods: dict[tuple[str, date, date], int] = {}
        for i, g in enumerate(self.goals):
            if g.id in seen:
                raise ValueError(f"goals[{i}].id {g.id} is also goals[{seen[g.id]}].id")
            seen[g.id] = i
            twin = periods.setdefault((g.metric, g.start, g.end), i)
            if twin != i:
                raise ValueError(f"goals[{i}] is a second {g.metric} goal for {g.start}..{g.end} (goals[{twin}])")
        for i, p in enumerate(self.spend_plans):
            if p.goal is not None and p.goal not in seen:
                raise ValueError(f"spend_plans[{i}].goal {p.goal} is no goal's id in this file")
        chats = Counter(c.chat for c in self.chat_settings)
        twice = [c for c, n in chats.items() if n > 1]
        if twice:
            raise ValueError(f"chat_settings has {twice[0]!r} twice")
        return self


# --- export ----------------------------------------------------------------------------------


def export_state(store: Store) -> dict[str, Any]:
    """Everything a team configured, as the JSON-able dict of a StateFile.

    Not validated here: a row the import would refuse (a metric a later opsbot dropped) still goes
    out, and the import names it, so an export never stops a move half way."""
    with store.session() as s:
        def rows(model: type, order: Any) -> list[Any]:
            return list(s.scalars(select(model).order_by(order)))

        goals = s.scalars(select(Goal).options(selectinload(Goal.targets)).order_by(Goal.id)).all()
        doc = StateFile.model_construct(
            format=FORMAT, opsbot_version=opsbot_version(), exported_at=utcnow(),
            schema_revision=store.schema.head,
            chat_settings=[_record(ChatSettingRecord, r) for r in rows(ChatSetting, ChatSetting.chat)],
            subscriptions=[_record(SubscriptionRecord, r) for r in rows(Subscription, Subscription.id)],
            goals=[_record(GoalRecord, g, targets=[GoalTargetRecord.model_construct(day=t.day, units=t.units,
                                                                                    scale=t.scale)
                                                   for t in g.targets])
                   for g in goals],
            campaigns=[_record(CampaignRecord, r) for r in rows(Campaign, Campaign.id)],
            alert_rules=[_record(AlertRuleRecord, r) for r in rows(AlertRule, AlertRule.id)],
            spend_plans=[_record(SpendPlanRecord, r, goal=r.goal_id) for r in rows(SpendPlan, SpendPlan.id)],
        )
    return doc.model_dump(mode="json")


def _record(record: type[R], row: object, **given: Any) -> R:
    """The record of a row, column by column (`given` for the fields that are not plain columns)."""
    values = {name: getattr(row, name) for name in record.model_fields if name not in given}
    return record.model_construct(**values, **given)


def write_export(store: Store, path: str) -> dict[str, Any]:
    """Export to `path` ('-': stdout is the caller's); written whole or not at all."""
    doc = export_state(store)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent.resolve())
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)  # a half-written export never replaces a good one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return doc


# --- import ----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """Per section: how many records were added, already there, or replaced an older version."""

    counts: dict[str, Counter[str]] = field(default_factory=lambda: {s: Counter() for s in SECTIONS})
    dry_run: bool = False

    def note(self, section: str, outcome: Literal["added", "unchanged", "replaced"], n: int = 1) -> None:
        self.counts[section][outcome] += n

    @property
    def changed(self) -> int:
        return sum(c["added"] + c["replaced"] for c in self.counts.values())

    def render(self) -> str:
        words = {"added": "added", "replaced": "replaced", "unchanged": "already there"}
        lines = []
        for section, c in self.counts.items():
            parts = [f"{c[k]} {w}" for k, w in words.items() if c[k]]
            lines.append(f"{section.replace('_', ' ')}: {', '.join(parts) if parts else 'none'}")
        lines.append("dry run: nothing was written" if self.dry_run else
                     ("nothing to change" if not self.changed else "imported"))
        return "\n".join(lines)


def parse_state_file(text: str | bytes) -> StateFile:
    """The file, validated whole; StateFileError names the first bad fields."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateFileError(f"not a JSON file ({exc})") from None
    if not isinstance(raw, dict):
        raise StateFileError("not an opsbot state export (the JSON is not an object)")
    if "format" not in raw:
        raise StateFileError("not an opsbot state export (no 'format' field)")
    try:
        return StateFile.model_validate(raw)
    except ValidationError as exc:
        raise StateFileError(_describe(exc)) from None


def _describe(exc: ValidationError, limit: int = 5) -> str:
    problems = []
    for err in exc.errors()[:limit]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    more = exc.error_count() - limit
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def import_state(store: Store, doc: StateFile, *, dry_run: bool = False) -> ImportReport:
    """Apply the file in one transaction (rolled back when `dry_run`, or on any error)."""
    report = ImportReport(dry_run=dry_run)
    with store.session() as s:
        tx = s.begin()
        try:
            _chat_settings(s, doc.chat_settings, report)
            _keyed(s, Subscription, doc.subscriptions, subscription_key, "subscriptions", report)
            goal_ids = _goals(s, doc.goals, report)
            _keyed(s, Campaign, doc.campaigns, campaign_key, "campaigns", report)
            _keyed(s, AlertRule, doc.alert_rules, rule_key, "alert_rules", report)
            _spend_plans(s, doc.spend_plans, goal_ids, report)
            s.flush()
        except BaseException:
            tx.rollback()
            raise
        if dry_run:
            tx.rollback()
        else:
            tx.commit()
    # a running instance keeps chat languages and the schedule in memory: import with opsbot stopped
    # (docs/deploy.md), or restart it after
    return report


def _stamped(record: _Record, **extra: Any) -> dict[str, Any]:
    values = {**record.model_dump(), **extra}
    for stamp in ("created_at", "updated_at"):
        if stamp in values and values[stamp] is None:
            values[stamp] = utcnow()
    return values


def _chat_settings(s: Session, records: list[ChatSettingRecord], report: ImportReport) -> None:
    for r in records:
        row = s.get(ChatSetting, r.chat)
        if row is not None and row.language == r.language:
            report.note("chat_settings", "unchanged")
            continue
        report.note("chat_settings", "added" if row is None else "replaced")
        row = row or ChatSetting(chat=r.chat)
        row.language, row.updated_by, row.updated_at = r.language, r.updated_by, r.updated_at or utcnow()
        s.add(row)


def _keyed(s: Session, model: type, records: list[Any], key: Any, section: str, report: ImportReport) -> None:
    """Rows that exist once by their canonical key: add the ones not there, with their key row."""
    existing = {key(r): r for r in s.scalars(select(model).order_by(model.id))}
    for r in records:
        row = model(**_stamped(r))
        wanted = key(row)
        if wanted in existing:
            report.note(section, "unchanged")
            continue
        s.add(row)
        s.flush()
        existing[wanted] = row
        held = s.get(UniqueKey, wanted)
        if held is None:
            s.add(UniqueKey(key=wanted, ref=row.id))
        else:  # no row matches it, so it is stale (its row was removed): it now guards this one
            held.ref, held.created_at = row.id, utcnow()
        report.note(section, "added")


def _goal_content(kind: str, target: float, label: str, profile: Any,
                  targets: Iterable[tuple[date, int, int]]) -> tuple[Any, ...]:
    return kind, target, label, json.dumps(profile, sort_keys=True), sorted(targets)


def _goals(s: Session, records: list[GoalRecord], report: ImportReport) -> dict[int, int]:
    """Goals by metric and period, as `goal set` keeps them; returns file id -> database id."""
    existing = {(g.metric, g.start, g.end): g
                for g in s.scalars(select(Goal).options(selectinload(Goal.targets)).order_by(Goal.id))}
    ids: dict[int, int] = {}
    for r in records:
        old = existing.get((r.metric, r.start, r.end))
        wanted = _goal_content(r.kind, r.target, r.label, r.profile, ((t.day, t.units, t.scale) for t in r.targets))
        if old is not None and wanted == _goal_content(old.kind, old.target, old.label, old.profile,
                                                       ((t.day, t.units, t.scale) for t in old.targets)):
            ids[r.id] = old.id
            report.note("goals", "unchanged")
            continue
        row = Goal(**_stamped(r, targets=[GoalTarget(**t.model_dump()) for t in r.targets], id=None))
        s.add(row)
        if old is not None:
            s.delete(old)
        s.flush()
        if old is not None:
            # SQLite does not enforce ON DELETE SET NULL unless asked: re-point the plans by hand
            for plan in s.scalars(select(SpendPlan).where(SpendPlan.goal_id == old.id)):
                plan.goal_id = row.id
        ids[r.id] = row.id
        report.note("goals", "added" if old is None else "replaced")
    return ids


def _plan_content(rows: Iterable[Any], goal_of: Any) -> list[tuple[Any, ...]]:
    return sorted((p.channel, p.amount, p.objective, p.expected, goal_of(p)) for p in rows)


def _spend_plans(s: Session, records: list[SpendPlanRecord], goal_ids: dict[int, int],
                 report: ImportReport) -> None:
    """A period's plan as a whole, as `budget ... adopt` replaces it."""
    by_period: dict[tuple[date, date], list[SpendPlanRecord]] = defaultdict(list)
    for r in records:
        by_period[(r.start, r.end)].append(r)
    for (start, end), plans in by_period.items():
        old = s.scalars(select(SpendPlan).where(SpendPlan.start == start, SpendPlan.end == end)).all()
        wanted = _plan_content(plans, lambda p: goal_ids.get(p.goal) if p.goal is not None else None)
        if old and wanted == _plan_content(old, lambda p: p.goal_id):
            report.note("spend_plans", "unchanged", len(plans))
            continue
        for row in old:
            s.delete(row)
        for p in plans:
            values = _stamped(p)
            ref = values.pop("goal")
            s.add(SpendPlan(**values, goal_id=goal_ids.get(ref) if ref is not None else None))
        report.note("spend_plans", "replaced" if old else "added", len(plans))

