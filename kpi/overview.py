"""The overview KPIs: period figures, their change against the previous period, segment shares."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kpi.registry import KPIS

__all__ = ["OVERVIEW_KPIS", "overview_kpis", "safe_ratio", "segment_shares"]

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
