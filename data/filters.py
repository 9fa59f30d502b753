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


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of equal length that ends the day before ``start``."""
    length = end - start
    prev_end = start - timedelta(days=1)
    return prev_end - length, prev_end
