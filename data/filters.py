"""The filter value shared by every page, query and cache key."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

__all__ = ["UNASSIGNED", "Filters", "previous_period"]

#: The label of customers with no segment, region or channel (and of orders with no customer row).
UNASSIGNED = "n/d"


@dataclass(frozen=True)
class Filters:
    """Segment, region and channel choose customers (empty = all); start/end bound order dates."""

    segments: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ValueError("The period starts after it ends: choose a start date before the end date.")

    def with_period(self, start: date | None, end: date | None) -> Filters:
        return replace(self, start=start, end=end)

    @property
    def period_days(self) -> int | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).days + 1


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _is_month_end(d: date) -> bool:
    return (d + timedelta(days=1)).day == 1


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of equal length that ends the day before ``start``.

    Whole calendar months (start on the 1st, end on a month's last day) compare with the same
    number of whole months before them (November–October with the November–October before);
    any other period with the same number of days before it.
    """
    prev_end = start - timedelta(days=1)
    if start.day == 1 and _is_month_end(end):
        months = _month_index(end) - _month_index(start) + 1
        return _month_start(_month_index(start) - months), prev_end
    return prev_end - (end - start), prev_end
