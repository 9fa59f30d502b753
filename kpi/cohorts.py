"""Cohorts: customers grouped by the month of their first purchase, followed month by month."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["cohort_matrices"]


def cohort_matrices(activity: pd.DataFrame, max_months: int = 24) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Retention and cumulative margin per acquired customer, acquisition month × months since.

    ``activity``: ``cohort``, ``month``, ``customers`` (distinct buyers that month) and ``margin``,
    as from ``data.queries.cohort_activity``. Returns ``(retention, margin, sizes)``: retention is
    the share of the cohort buying in month k (k = 0 is the acquisition month, always 100 %),
    margin the cumulative margin per acquired customer up to month k; months not yet lived are NaN.
    ``sizes`` is the number of customers acquired in each cohort.
    """
    for col in ("cohort", "month", "customers", "margin"):
        if col not in activity.columns:
            raise ValueError(f"The cohort activity lacks the column {col}.")
    if activity.empty:
        empty = pd.DataFrame(dtype=float)
        return empty, empty, pd.Series(dtype=float)
    data = activity.copy()
    cohort = pd.to_datetime(data["cohort"]).dt.to_period("M")
    month = pd.to_datetime(data["month"]).dt.to_period("M")
    data["k"] = [(m - c).n for m, c in zip(month, cohort, strict=True)]
    data["cohort"] = cohort.dt.to_timestamp()
    data = data[(data["k"] >= 0) & (data["k"] <= max_months)]
    sizes = data[data["k"] == 0].set_index("cohort")["customers"].astype(float)
    buyers = data.pivot_table(index="cohort", columns="k", values="customers", aggfunc="sum")
    margin = data.pivot_table(index="cohort", columns="k", values="margin", aggfunc="sum")
    last = month.max()
    lived = pd.DataFrame(
        {k: [(last - c.to_period("M")).n >= k for c in buyers.index] for k in buyers.columns}, index=buyers.index
    )
    retention = (buyers.fillna(0).div(sizes, axis=0)).where(lived)
    cumulative = margin.fillna(0).cumsum(axis=1).div(sizes, axis=0).where(lived)
    retention.columns.name = cumulative.columns.name = "months_since"
    return retention.astype(float), cumulative.astype(float), sizes.reindex(buyers.index).fillna(np.nan)
