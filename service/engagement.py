"""What the engagement page shows for one selection of customers: a few small tables and numbers,
made once per filters and date and kept by the app, so that coming back to the page or sharing its
link does not walk a million customers again."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.filters import Filters
from kpi.customer_value import select_customers
from kpi.engagement import (
    QUADRANTS,
    engagement_overview,
    referral_chains,
    referral_programme,
    referrals_of,
    segment_engagement,
)

__all__ = ["CONTACTS", "MATRIX_POINTS", "TOP", "EngagementView", "engagement_view"]

#: points drawn in the value matrix at most: the most valuable customers, then a sample of the rest
MATRIX_POINTS = 3000
#: rows of each "most valuable" table
TOP = 15
#: rows of the contact list for sales at most
CONTACTS = 2000


@dataclass(frozen=True)
class EngagementView:
    """The engagement page's figures for the chosen customers (``customers`` of them)."""

    customers: int
    head: dict[str, float]  # ``engagement_overview``
    avg_clv: float
    total_ckv: float
    referrers: int  # customers who referred at least one
    programme: dict[str, float]  # ``referral_programme`` of their referrals
    referrals: int  # referrals made by the chosen customers
    chains: pd.DataFrame  # ``referral_chains``
    by_segment: pd.DataFrame  # ``segment_engagement``
    points: pd.DataFrame  # the value matrix's customers: the most valuable, then a sample
    medians: tuple[float, float]  # CLV and CRV of all the chosen customers
    quadrants: pd.DataFrame  # customers, mean CLV, CRV and CEV per quadrant (in ``QUADRANTS`` order)
    by_cev: pd.DataFrame  # the TOP by CEV, with ``clv_rank`` among the chosen customers
    by_clv: pd.DataFrame  # the TOP by CLV, with ``clv_rank``
    contacts: pd.DataFrame  # champions, affluents and advocates by CEV, at most CONTACTS


def engagement_view(everyone: pd.DataFrame, detail: pd.DataFrame, filters: Filters) -> EngagementView | None:
    """The view of ``everyone`` (an engagement table) within ``filters``; ``detail``: the referrals
    one by one. None when no customer is chosen."""
    table = select_customers(everyone, filters.segments, filters.regions, filters.channels)
    if table.empty:
        return None
    mine = referrals_of(detail, table)
    top = table.nlargest(MATRIX_POINTS // 2, "cev")
    rest = table.drop(top.index)
    sample = rest.sample(min(len(rest), MATRIX_POINTS - len(top)), random_state=7) if len(rest) else rest
    quadrants = (
        table.groupby("quadrant")
        .agg(customers=("customer_id", "size"), clv=("clv", "mean"), crv=("crv", "mean"), cev=("cev", "mean"))
        .reindex(list(QUADRANTS))
        .dropna(subset=["customers"])
    )
    clv = np.sort(table["clv"].to_numpy(dtype=float))
    worth_asking = table[table["quadrant"].isin(("affluents", "advocates", "champions"))]
    return EngagementView(
        customers=len(table),
        head=engagement_overview(table),
        avg_clv=float(table["clv"].mean()),
        total_ckv=float(table["ckv"].sum()),
        referrers=int((table["referrals"] > 0).sum()),
        programme=referral_programme(mine),
        referrals=len(mine),
        chains=referral_chains(mine),
        by_segment=segment_engagement(table),
        points=pd.concat([top, sample]),
        medians=(float(table["clv"].median()), float(table["crv"].median())),
        quadrants=quadrants,
        by_cev=_with_clv_rank(table.nlargest(TOP, "cev"), clv),
        by_clv=_with_clv_rank(table.nlargest(TOP, "clv"), clv),
        contacts=worth_asking.nlargest(CONTACTS, "cev"),
    )


def _with_clv_rank(rows: pd.DataFrame, clv: np.ndarray) -> pd.DataFrame:
    """``rows`` with ``clv_rank``: their CLV's rank among ``clv`` (every chosen customer's, sorted),
    1 the highest and ties sharing the best (``Series.rank(ascending=False, method="min")``), found
    by a binary search for these few rows instead of ranking every customer."""
    known = clv[: len(clv) - int(np.isnan(clv).sum())]  # (a sort puts NaN last; rank leaves it out)
    above = len(known) - np.searchsorted(known, rows["clv"].to_numpy(dtype=float), side="right")
    return rows.assign(clv_rank=(above + 1).astype(int))
