"""Period presets, anchored on the last day with data (not on today), so an export that stops
last month still opens on a full period."""

from __future__ import annotations

from datetime import date, timedelta

__all__ = ["PERIOD_PRESETS", "add_months", "resolve_period"]

PERIOD_PRESETS: tuple[str, ...] = ("12m", "ytd", "6m", "3m", "all", "custom")


def _months_back(anchor: date, months: int) -> date:
    """The first day of the month ``months - 1`` months before the anchor's month."""
    index = anchor.year * 12 + anchor.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1)


def resolve_period(
    preset: str,
    first: date,
    last: date,
    custom_start: date | None = None,
    custom_end: date | None = None,
) -> tuple[date, date]:
    """The (start, end) dates of ``preset`` for data running from ``first`` to ``last``.

    ``12m``, ``6m``, ``3m``: whole calendar months up to and including the month of ``last``;
    ``ytd``: 1 January of ``last``'s year to ``last``; ``all``: ``first`` to ``last``;
    ``custom``: the given dates, clipped to nothing (an owner may look at a future-empty range).
    """
    if preset not in PERIOD_PRESETS:
        raise ValueError(f"Unknown period {preset!r}; the periods are {', '.join(PERIOD_PRESETS)}.")
    if first > last:
        raise ValueError("The first date with data is after the last one.")
    if preset == "all":
        return first, last
    if preset == "ytd":
        return date(last.year, 1, 1), last
    if preset == "custom":
        start = custom_start or first
        end = custom_end or last
        if start > end:
            raise ValueError("The period starts after it ends: choose a start date before the end date.")
        return start, end
    months = {"12m": 12, "6m": 6, "3m": 3}[preset]
    return _months_back(last, months), _month_end(last)


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months (back when negative). A month's last day stays
    a month's last day (31 October − 1 month = 30 September); another day is clipped to the
    target month's length (31 March + 1 month = 30 April)."""
    index = day.year * 12 + day.month - 1 + months
    first = date(index // 12, index % 12 + 1, 1)
    last = _month_end(first)
    if day == _month_end(day):
        return last
    return min(first.replace(day=1) + timedelta(days=day.day - 1), last)
