"""Targets against actual: is a KPI on track for its year's (or month's) target?

A KPI that adds up over time (revenue, margin, orders, new customers) is judged on its projection
to the end of the target's period: what happened so far plus the forecast of the months left,
with the forecast's band. The ratios built from them (margin %, average order value) on the ratio
of the projections. The others are judged on their value today (average CLV, CLV : CAC, marketing
ROI) or, for counts of distinct customers, on the share of the period gone by. Pure: numbers in,
a status out.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ADDITIVE", "STATUSES", "TOLERANCE", "Judged", "judge", "pro_rata"]

#: the statuses, best first
STATUSES = ("on_track", "at_risk", "off_track")
#: without a band, a value this close to its target (a share of the target) is "at risk", not "off"
TOLERANCE = 0.05
#: KPIs that add up month by month, and so are projected with the forecast
ADDITIVE = ("revenue", "margin", "orders", "new_customers")


@dataclass(frozen=True)
class Judged:
    """A target judged: the value it is judged on (``value``: the projection to the period's end,
    today's value, or the value to date), the band of a projection (``low``, ``high``; None
    without one), how it was judged (``basis``: ``projection``, ``current``, ``to_date`` or
    ``final`` for a period already over) and the ``status``."""

    value: float
    low: float | None
    high: float | None
    basis: str
    status: str


def judge(
    target: float,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    higher_is_better: bool = True,
    basis: str = "current",
) -> Judged:
    """``on_track`` when ``value`` meets ``target``; otherwise ``at_risk`` when the band still
    reaches the target (or, without a band, when the value is within ``TOLERANCE`` of it), else
    ``off_track``. ``higher_is_better=False`` for a KPI whose target is a ceiling."""
    sign = 1.0 if higher_is_better else -1.0
    if sign * (value - target) >= 0:
        status = "on_track"
    elif low is not None and high is not None:
        best = high if higher_is_better else low
        status = "at_risk" if sign * (best - target) >= 0 else "off_track"
    else:
        status = "at_risk" if abs(value - target) <= TOLERANCE * abs(target) else "off_track"
    return Judged(value, low, high, basis, status)


def pro_rata(target: float, actual: float, elapsed: float, *, higher_is_better: bool = True) -> Judged:
    """A count judged before its period is over, without a forecast: against the share of the
    target due by now (``elapsed``: the share of the period gone by, 0 to 1)."""
    due = target * min(max(elapsed, 0.0), 1.0)
    judged = judge(due, actual, higher_is_better=higher_is_better)
    return Judged(actual, None, None, "to_date", judged.status)
