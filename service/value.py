"""What the customer-value page shows for one selection of customers: a few small tables and
numbers, made once per filters, date and time unit and kept by the app, so that coming back to the
page does not walk a million customers again."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from data.filters import Filters
from kpi.customer_value import CLVHistogram, clv_histogram, clv_overview, segment_clv, select_customers

__all__ = ["TOP", "ValueView", "value_view"]

#: rows of the most valuable customers' table
TOP = 50


@dataclass(frozen=True)
class ValueView:
    """The customer-value page's figures for the chosen customers."""

    head: dict[str, float]  # ``clv_overview``
    histogram: CLVHistogram
    by_segment: pd.DataFrame  # ``segment_clv``
    by_channel: pd.DataFrame  # ``segment_clv`` by channel
    segments: list[str]  # the segments among them, as met
    repeat_95: float  # the 95th percentile of repeat purchases (the P(alive) map's range)
    longest: float  # the longest history, in time units
    top: pd.DataFrame  # the TOP by total CLV


def value_view(table: pd.DataFrame, filters: Filters) -> ValueView | None:
    """The view of ``table`` (a CLV table) within ``filters``; None when no customer is chosen."""
    chosen = select_customers(table, filters.segments, filters.regions, filters.channels)
    if chosen.empty:
        return None
    return ValueView(
        head=clv_overview(chosen),
        histogram=clv_histogram(chosen),
        by_segment=segment_clv(chosen),
        by_channel=segment_clv(chosen, by="channel"),
        segments=[str(s) for s in chosen["segment"].unique()],
        repeat_95=float(chosen["x"].quantile(0.95)),
        longest=float(chosen["T"].max()),
        top=chosen.nlargest(TOP, "total_clv"),  # not a sort of every customer
    )
