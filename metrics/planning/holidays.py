"""The days around holidays that move an online shop's sales, on their own dates every year.

Chinese New Year moves with the lunar calendar (2026-02-17, 2027-02-06, 2028-01-26): shoppers stock
up in the weeks before it, deliveries stop in the days before and after it, and sales dip. 618 and
11.11 keep their dates, but a shop without a promotions table would not know them. Each holiday is
an anchor day and a few ranges of days around it ("bins"), each with an effect of its own that
`metrics.planning.goals.fit_profile` reads from the shop's history when the history covers it.

Chinese New Year's dates come from the `holidays` package (its China calendar computes the Spring
Festival for any year), not from a table kept here by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays as holiday_calendars

__all__ = ["HOLIDAYS", "Holiday", "bin_key", "bins_of", "occurrences", "spring_festival"]


@lru_cache(maxsize=256)
def spring_festival(year: int) -> date | None:
    """The first day of Chinese New Year in `year` (the Spring Festival), None if the calendar has none."""
    days = holiday_calendars.China(years=year, language="en_US").get_named("Spring Festival")
    return min(days) if days else None


@dataclass(frozen=True)
class Holiday:
    key: str  # "cny", "618", "11.11": message keys holiday_<key> name it
    bins: tuple[tuple[int, int], ...]  # (first, last) day offsets from the anchor, both included
    month: int = 0  # fixed-date holidays: month and day of the anchor
    day: int = 0

    def anchor(self, year: int) -> date | None:
        if self.key == "cny":
            return spring_festival(year)
        return date(year, self.month, self.day)

    @property
    def reach(self) -> tuple[int, int]:
        return self.bins[0][0], self.bins[-1][1]

    def anchors_near(self, day: date) -> Iterator[date]:
        """Anchors whose window could hold `day` (this year's, and next year's for late December)."""
        for year in (day.year - 1, day.year, day.year + 1):
            a = self.anchor(year)
            if a is not None:
                yield a


# Chinese New Year: three weeks of stocking up and of deliveries closing, the holiday week, the week
# of return; a week per bin, so one year of history gives each bin seven days to be read from.
# 618 and 11.11: the two days before (pre-sales, waiting shoppers), the day, the two after (the dip).
HOLIDAYS: tuple[Holiday, ...] = (
    Holiday("cny", ((-21, -15), (-14, -8), (-7, -1), (0, 6), (7, 13))),
    Holiday("618", tuple((k, k) for k in range(-2, 3)), 6, 18),
    Holiday("11.11", tuple((k, k) for k in range(-2, 3)), 11, 11),
)


def bin_key(holiday: Holiday, first: int) -> str:
    return f"{holiday.key}:{first:+d}"


def bins_of(day: date) -> list[tuple[str, date]]:
    """The holiday bins `day` falls in (at most one per holiday), with the anchor of each."""
    out = []
    for h in HOLIDAYS:
        for anchor in h.anchors_near(day):
            offset = (day - anchor).days
            match = [b for b in h.bins if b[0] <= offset <= b[1]]
            if match:
                out.append((bin_key(h, match[0][0]), anchor))
                break
    return out


def occurrences(start: date, end: date) -> list[tuple[Holiday, date]]:
    """(holiday, anchor) of every holiday whose window touches [start, end), in date order."""
    found: set[tuple[str, date]] = set()
    out = []
    for h in HOLIDAYS:
        lo, hi = h.reach
        for year in range(start.year - 1, end.year + 2):
            a = h.anchor(year)
            if a is None or (h.key, a) in found:
                continue
            if a + timedelta(days=lo) < end and a + timedelta(days=hi) >= start:
                found.add((h.key, a))
                out.append((h, a))
    return sorted(out, key=lambda x: x[1])
