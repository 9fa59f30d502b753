"""What the lifecycle page shows for one selection of customers, made once per filters and dates
and kept by the app: coming back to the page does not match a million customers again."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from data.filters import Filters
from kpi.customer_value import chosen_mask, select_customers
from kpi.lifecycle import at_risk_value, stage_counts, transitions

__all__ = ["Moves", "Standing", "moves", "standing"]


@dataclass(frozen=True)
class Standing:
    """The chosen customers per stage now, and the value at risk now and at an earlier date."""

    counts: pd.Series  # ``stage_counts``
    at_risk_now: float
    at_risk_before: float


@dataclass(frozen=True)
class Moves:
    """How the chosen customers moved between two dates, and the customers now at risk with what
    is at stake (their lifetime value times the fall of their P(alive)), the most at stake first."""

    moves: pd.DataFrame  # ``transitions``
    at_risk: pd.DataFrame  # customer_id, segment, last_purchase, p_before, p_alive, total_clv, at_stake


def standing(now: pd.DataFrame, earlier: pd.DataFrame, filters: Filters) -> Standing:
    """``Standing`` of the customers within ``filters``: ``now`` and ``earlier`` are every
    customer's stages at the two dates."""
    chosen = chosen_mask(now, filters.segments, filters.regions, filters.channels)
    then = chosen_mask(earlier, filters.segments, filters.regions, filters.channels)
    return Standing(stage_counts(now, chosen), at_risk_value(now, chosen), at_risk_value(earlier, then))


def moves(now: pd.DataFrame, before: pd.DataFrame, filters: Filters) -> Moves:
    """``Moves`` of the customers within ``filters`` from ``before`` to ``now`` (every customer's
    stages at the two dates; ``now`` with the CLV table's columns)."""
    chosen = select_customers(now, filters.segments, filters.regions, filters.channels)
    then = select_customers(before, filters.segments, filters.regions, filters.channels)
    risky = chosen[chosen["stage"] == "at_risk"].merge(
        then[["customer_id", "p_alive"]].rename(columns={"p_alive": "p_before"}), on="customer_id", how="left"
    )
    risky["p_before"] = risky["p_before"].fillna(1.0)
    risky["at_stake"] = risky["total_clv"].clip(lower=0) * (risky["p_before"] - risky["p_alive"]).clip(lower=0)
    risky = risky.sort_values("at_stake", ascending=False)
    columns = ["customer_id", "segment", "last_purchase", "p_before", "p_alive", "total_clv", "at_stake"]
    return Moves(transitions(then, chosen), risky[columns].reset_index(drop=True))
