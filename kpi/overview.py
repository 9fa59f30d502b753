"""The overview KPIs: period figures, their change against the previous period, segment shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpi.registry import KPIS

__all__ = ["OVERVIEW_KPIS", "Headline", "headline", "overview_kpis", "safe_ratio", "segment_shares"]

OVERVIEW_KPIS: tuple[str, ...] = (
    "revenue",
    "margin",
    "margin_pct",
    "orders",
    "aov",
    "active_customers",
    "new_customers",
    "repeat_customers",
)

_MEASURES = ("revenue", "margin", "orders", "active_customers", "new_customers", "repeat_customers")


def safe_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or NaN ("n/d") where the denominator is zero or missing."""
    if denominator is None or numerator is None:
        return math.nan
    if isinstance(denominator, float) and math.isnan(denominator):
        return math.nan
    if denominator == 0:
        return math.nan
    ratio = float(numerator) / float(denominator)
    return ratio if math.isfinite(ratio) else math.nan


def _validate(measures: pd.DataFrame) -> None:
    missing = [c for c in ("period", *_MEASURES) if c not in measures.columns]
    if missing:
        raise ValueError(f"The period measures lack the columns {', '.join(missing)}.")
    periods = set(measures["period"])
    if periods != {"current", "previous"}:
        raise ValueError("The period measures need exactly one 'current' and one 'previous' row.")


def _values(row: pd.Series) -> dict[str, float]:
    values = {m: float(row[m]) for m in _MEASURES}
    values["margin_pct"] = safe_ratio(values["margin"], values["revenue"])
    values["aov"] = safe_ratio(values["revenue"], values["orders"])
    return values


def overview_kpis(measures: pd.DataFrame) -> pd.DataFrame:
    """The overview KPI table from the two rows of ``data.queries.period_measures``.

    Returns one row per KPI of ``OVERVIEW_KPIS`` with columns ``kpi``, ``value``, ``previous``,
    ``change`` and ``change_kind``: for percentages the change is the difference in points
    (``"points"``), otherwise the relative change (``"relative"``, 0.10 = +10 %). A change from a
    zero or missing previous value is NaN ("n/d").
    """
    _validate(measures)
    by_period = measures.set_index("period")
    cur, prev = _values(by_period.loc["current"]), _values(by_period.loc["previous"])
    rows = []
    for name in OVERVIEW_KPIS:
        value, previous = cur[name], prev[name]
        if KPIS[name].format == "percent":
            kind = "points"
            change = value - previous if not (math.isnan(value) or math.isnan(previous)) else math.nan
        else:
            kind = "relative"
            change = safe_ratio(value - previous, abs(previous)) if not math.isnan(value) else math.nan
        rows.append({"kpi": name, "value": value, "previous": previous, "change": change, "change_kind": kind})
    return pd.DataFrame(rows, columns=["kpi", "value", "previous", "change", "change_kind"])


def segment_shares(totals: pd.DataFrame) -> pd.DataFrame:
    """Add ``revenue_share`` (of the total revenue) and ``margin_pct`` to the per-segment totals.

    Input columns: ``segment``, ``revenue``, ``margin``; other columns are kept. Largest revenue first.
    """
    missing = [c for c in ("segment", "revenue", "margin") if c not in totals.columns]
    if missing:
        raise ValueError(f"The segment totals lack the columns {', '.join(missing)}.")
    out = totals.copy()
    total = float(out["revenue"].sum())
    out["revenue_share"] = out["revenue"] / total if total else np.nan
    revenue = out["revenue"].replace(0, np.nan)
    out["margin_pct"] = out["margin"] / revenue
    return out.sort_values(["revenue", "segment"], ascending=[False, True]).reset_index(drop=True)


#: Period KPIs an owner reads as "how the business is going", in the order they are preferred
#: when their changes are equally large.
_HEADLINE_MOVERS = ("margin_pct", "active_customers", "new_customers", "repeat_customers", "orders", "aov")


@dataclass(frozen=True)
class Headline:
    """The overview's opening in facts: revenue and its change, the other KPI that moved most, and
    the first thing to do. The UI puts them in words."""

    revenue: float
    revenue_change: float
    mover: str | None
    mover_change: float
    mover_kind: str
    action: str  # "at_risk_rising", "stop_campaigns", "call_at_risk" or "none"
    at_risk_now: int = 0
    at_risk_before: int = 0
    campaigns_to_stop: tuple[str, ...] = ()


def headline(
    kpis: pd.DataFrame, at_risk_now: int, at_risk_before: int, campaigns_to_stop: list[str] | tuple[str, ...]
) -> Headline:
    """What to say first, from the ``overview_kpis`` table and the lifecycle and campaign facts.

    The mover is the KPI of ``_HEADLINE_MOVERS`` with the largest change (percentage points count
    as a relative change of the same size: 2 pp ≈ 2 %); a change under 1 % is no news. The action:
    customers at risk rising by at least 10 % come first (they are margin walking out), then
    campaigns that do not pay, then any customer at risk; otherwise none."""
    table = kpis.set_index("kpi")
    best, size = None, 0.01
    for name in _HEADLINE_MOVERS:
        change = float(table.loc[name, "change"])
        if math.isfinite(change) and abs(change) >= size + 1e-12:
            best, size = name, abs(change)
    if at_risk_now > 0 and at_risk_before > 0 and at_risk_now >= 1.1 * at_risk_before:
        action = "at_risk_rising"
    elif campaigns_to_stop:
        action = "stop_campaigns"
    elif at_risk_now > 0:
        action = "call_at_risk"
    else:
        action = "none"
    return Headline(
        revenue=float(table.loc["revenue", "value"]),
        revenue_change=float(table.loc["revenue", "change"]),
        mover=best,
        mover_change=float(table.loc[best, "change"]) if best else math.nan,
        mover_kind=str(table.loc[best, "change_kind"]) if best else "relative",
        action=action,
        at_risk_now=int(at_risk_now),
        at_risk_before=int(at_risk_before),
        campaigns_to_stop=tuple(campaigns_to_stop),
    )
