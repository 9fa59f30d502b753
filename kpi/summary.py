"""The per-customer summary the CLV model needs: recency, frequency, age and repeat value.

Input is one row per customer with purchases, as returned by ``data.queries.customer_rfm``:
``customer_id``, ``first_purchase``, ``last_purchase``, ``purchase_days``, ``total_value`` and
``first_value`` (the value of all purchase days and of the first purchase day, in the value the
caller chose — margin for CLV, revenue for the published CDNOW reference).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

__all__ = ["TIME_UNITS", "rfm_summary"]

#: Days per model time unit.
TIME_UNITS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}

_REQUIRED = ("customer_id", "first_purchase", "last_purchase", "purchase_days", "total_value", "first_value")


def rfm_summary(per_customer: pd.DataFrame, as_of: date, unit: str = "week") -> pd.DataFrame:
    """The BG/NBD and Gamma-Gamma inputs as of ``as_of`` (Fader, Hardie & Lee 2005, section 2).

    Returns columns ``customer_id``, ``x`` (repeat purchases = purchase days − 1), ``t_x`` (time
    from the first to the last purchase), ``T`` (time from the first purchase to ``as_of``), both
    in ``unit`` ("day", "week" or "month"), and ``m`` (mean value of the repeat purchase days; 0
    where there is none). Customers whose first purchase is after ``as_of`` are left out.
    """
    missing = [c for c in _REQUIRED if c not in per_customer.columns]
    if missing:
        raise ValueError(f"The per-customer table lacks the columns {', '.join(missing)}.")
    if unit not in TIME_UNITS:
        raise ValueError(f"Unknown time unit {unit!r}; use one of {', '.join(TIME_UNITS)}.")
    days = TIME_UNITS[unit]
    end = pd.Timestamp(as_of)
    first = pd.to_datetime(per_customer["first_purchase"])
    last = pd.to_datetime(per_customer["last_purchase"])
    keep = (first <= end).to_numpy()
    if (last[keep] > end).any():
        raise ValueError("The per-customer table holds purchases after as_of: query it as of the same date.")
    x = per_customer["purchase_days"].to_numpy(dtype=float)[keep] - 1
    if (x < 0).any():
        raise ValueError("purchase_days must be at least 1 for every customer with a first purchase.")
    repeat_value = (
        per_customer["total_value"].to_numpy(dtype=float) - per_customer["first_value"].to_numpy(dtype=float)
    )[keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(x > 0, repeat_value / np.where(x > 0, x, 1), 0.0)
    return pd.DataFrame(
        {
            "customer_id": per_customer["customer_id"].array[keep],  # its own type: no conversion
            "x": x,
            "t_x": ((last - first).dt.days.to_numpy(dtype=float) / days)[keep],
            "T": ((end - first).dt.days.to_numpy(dtype=float) / days)[keep],
            "m": m,
        }
    )
