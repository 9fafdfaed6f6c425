"""The alert life-cycle: findings from a scan become alerts, deduplicated per series, pushed
with a cooldown, closed on recovery, and acknowledged, assigned, snoozed or marked expected
by people.

A *finding* is one series out of range on one day: a detector anomaly (metrics.anomaly.scan)
or a broken threshold rule. An alert is opened once per chat and series and stays the same
alert while the series stays out of range; it is pushed again only after the cooldown and
only when it got worse. When a later scan finds the series back in range, the alert closes
and the chat gets a short recovery note. Outside working hours only critical alerts are
pushed at once: a minor one found then waits for the end of the quiet hours (the daily scan
runs at 07:30, inside the default 22:00-08:00, so holding it back for good would silence every
rule and every warning), or rides along in the same message as a critical one. Minor ones beyond
the chat's daily budget wait for the morning digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from bot.config import AlertsSection
from bot.state.store import Alert, Store, utcnow

SEVERITIES = ("info", "warning", "critical")
WORSE = 1.25  # a re-push needs the score up by a quarter


@dataclass(frozen=True)
class Finding:
    series: str  # "gmv" or "gmv|channel=search"
    source: str  # "detector" or "rule:<id>"
    day: str
    severity: str
    score: float
    details: dict[str, object] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a scan changed for one chat: alerts to push now, recoveries, and alerts held back."""

    push: list[Alert] = field(default_factory=list)
    recovered: list[Alert] = field(default_factory=list)
    held: list[Alert] = field(default_factory=list)
    # naive UTC: the message waits until then (quiet hours, nothing critical in it)
    not_before: datetime | None = None


def severity_at_least(severity: str, minimum: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(minimum)


def in_quiet_hours(window: str | None, local: time) -> bool:
    if not window:
        return False
    start, end = (time.fromisoformat(p) for p in window.split("-"))
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window crosses midnight


def quiet_ends(window: str, local_now: datetime) -> datetime:
    """The first end of the quiet window after `local_now` (both local, naive)."""
    end = datetime.combine(local_now.date(), time.fromisoformat(window.split("-")[1]))
    return end if end > local_now else end + timedelta(days=1)


class AlertBook:
    def __init__(self, store: Store, policy: AlertsSection) -> None:
        self.store = store
        self.policy = policy

    def record(self, chat: str, findings: Sequence[Finding], scanned: set[str], now: datetime,
               local_now: datetime, *, defer_quiet: bool = False, asked: bool = False) -> Outcome:
        """Apply one scan's findings for a chat. `scanned` names every series the scan looked at,
        so a series missing from the findings is known to be back in range (not just unscanned).

        In quiet hours a minor alert is held back (left for the digest), or with `defer_quiet`
        pushed when the quiet hours end (`Outcome.not_before`): the daily scan's findings are of
        the day before and still news in the morning; an intraday one would be stale by then.
        A scan someone `asked` for answers with everything it found: no quiet hours, no budget.

        A series people marked expected stays quiet for the days it covered, however often
        those days are scanned again."""
        outcome = Outcome()
        cooldown = timedelta(hours=self.policy.cooldown_hours)
        quiet = in_quiet_hours(self.policy.quiet_hours, local_now.time())
        with self.store.session() as s, s.begin():
            live = {a.series: a for a in s.scalars(
                select(Alert).where(Alert.chat == chat, Alert.status.in_(("open", "acked"))))}
            pushed_today = s.scalar(select(func.count()).select_from(Alert).where(
                Alert.chat == chat, Alert.notified_at >= now - timedelta(hours=24))) or 0
            expected = [(a.series, a.day, a.last_day) for a in s.scalars(
                select(Alert).where(Alert.chat == chat, Alert.status == "expected"))]
            for f in findings:
                if any(series == f.series and first <= f.day <= last for series, first, last in expected):
                    continue
                alert = live.get(f.series)
                if alert is None:
                    alert = Alert(chat=chat, series=f.series, source=f.source, day=f.day, last_day=f.day,
                                  status="open", severity=f.severity, score=f.score, details=f.details,
                                  opened_at=now, notified_score=0.0)
                    s.add(alert)
                    s.flush()
                else:
                    alert.last_day, alert.score, alert.details = f.day, f.score, f.details
                    if SEVERITIES.index(f.severity) > SEVERITIES.index(alert.severity):
                        alert.severity = f.severity
                if not self._due(alert, now, cooldown):
                    continue
                minor = alert.severity != "critical"
                if minor and not asked and ((quiet and not defer_quiet) or pushed_today >= self.policy.daily_budget):
                    outcome.held.append(alert)
                    continue
                alert.notified_at, alert.notified_score = now, alert.score
                pushed_today += 1
                outcome.push.append(alert)
            for series, alert in live.items():
                if series in scanned and series not in {f.series for f in findings}:
                    alert.status, alert.closed_at = "closed", now
                    alert.note = "back in range"
                    outcome.recovered.append(alert)
        if quiet and defer_quiet and not any(a.severity == "critical" for a in outcome.push):
            assert self.policy.quiet_hours is not None  # quiet implies a window
            outcome.not_before = now + (quiet_ends(self.policy.quiet_hours, local_now) - local_now)
        return outcome

    @staticmethod
    def _due(alert: Alert, now: datetime, cooldown: timedelta) -> bool:
        if alert.status != "open":
            return False  # acknowledged: the people on it know
        if alert.snoozed_until is not None and alert.snoozed_until > now:
            return False
        if alert.notified_at is None:
            return True
        return now - alert.notified_at >= cooldown and alert.score >= alert.notified_score * WORSE

    # ---- what people do ---------------------------------------------------------------------

    def get(self, alert_id: int, chat: str | None = None) -> Alert | None:
        with self.store.session() as s:
            alert = s.get(Alert, alert_id)
        if alert is None or (chat is not None and alert.chat != chat):
            return None
        return alert

    def _update(self, alert_id: int, **values: object) -> Alert:
        with self.store.session() as s, s.begin():
            alert = s.get(Alert, alert_id)
            assert alert is not None
            for k, v in values.items():
                setattr(alert, k, v)
        return alert

    def ack(self, alert_id: int, user: str) -> Alert:
        return self._update(alert_id, status="acked", acked_by=user, acked_at=utcnow())

    def assign(self, alert_id: int, user: str) -> Alert:
        return self._update(alert_id, assignee=user)

    def snooze(self, alert_id: int, until: datetime, user: str) -> Alert:
        return self._update(alert_id, snoozed_until=until, snoozed_by=user)

    def expected(self, alert_id: int, note: str, user: str) -> Alert:
        return self._update(alert_id, status="expected", note=note[:200], acked_by=user, acked_at=utcnow(),
                            closed_at=utcnow())

    def open_alerts(self, chat: str | None) -> list[Alert]:
        with self.store.session() as s:
            q = select(Alert).where(Alert.status.in_(("open", "acked"))).order_by(Alert.id)
            if chat is not None:
                q = q.where(Alert.chat == chat)
            return list(s.scalars(q).all())

    def expected_days(self) -> set[str]:
        """Days people marked expected ("promo", "known outage"): left out of future baselines."""
        with self.store.session() as s:
            return {d for d, in s.execute(select(Alert.day).where(Alert.status == "expected"))}
