"""State of the planning commands: goals with their daily targets, the campaign calendar, and
adopted channel spend plans. Declared on bot.state.store.Base, so Store() creates the tables as long as
this module is imported before the Store is constructed (bot/app.py imports it).

Goals belong to the shop, not to a chat: every chat sees the same quarter goal, and the morning
digest paces all of them. `chat` and `created_by` say who set it (the audit log says more).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.state.store import Base, utcnow

__all__ = ["Campaign", "Goal", "GoalTarget", "SpendPlan"]


class Goal(Base):
    """A measurable target for one metric over one bounded period."""

    __tablename__ = "goals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # sum (gmv 3,000,000) | level (conversion 3 %)
    target: Mapped[float] = mapped_column(Float)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)  # the day after the last (half-open, like Period)
    label: Mapped[str] = mapped_column(String(60))
    chat: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # the history the split was weighted with, for "why is this Friday higher?"
    profile: Mapped[dict | None] = mapped_column(JSON)  # type: ignore[type-arg]
    targets: Mapped[list[GoalTarget]] = relationship(
        back_populates="goal", cascade="all, delete-orphan", order_by="GoalTarget.day"
    )


class GoalTarget(Base):
    """One day's share of a sum goal; the days of a goal add up to it exactly."""

    __tablename__ = "goal_targets"
    __table_args__ = (UniqueConstraint("goal_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    # in minor units (cents for money): integers add up exactly, floats would not
    units: Mapped[int] = mapped_column(BigInteger)
    scale: Mapped[int] = mapped_column(Integer, default=100)
    goal: Mapped[Goal] = relationship(back_populates="targets")

    @property
    def value(self) -> float:
        return self.units / self.scale


class Campaign(Base):
    """A promotion on the calendar: reported by `campaign report`, an expected peak for alerts."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)  # the day after the last
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    spend: Mapped[float | None] = mapped_column(Float)
    chat: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SpendPlan(Base):
    """An adopted budget split: one row per channel and period, tracked by `pace spend`."""

    __tablename__ = "spend_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(100))
    amount: Mapped[float] = mapped_column(Float)
    objective: Mapped[str] = mapped_column(String(40))  # gmv | new_customers
    expected: Mapped[float | None] = mapped_column(Float)  # expected outcome of this channel's spend
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goals.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
