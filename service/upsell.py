"""What the opportunities page shows for one selection: the offers within the filters and the
page's own choices (stages, offers, a minimum value, advocates first), counted once and kept by the
app, so that coming back to the page does not filter every candidate again."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.filters import Filters
from kpi.customer_value import select_customers
from kpi.lifecycle import STAGES

__all__ = ["SHOWN", "UpsellChoice", "UpsellView", "shown_offers", "upsell_options", "upsell_view"]

#: the offers kept for the page (the table shows the first 200; names are looked up for these)
SHOWN = 2000


@dataclass(frozen=True)
class UpsellChoice:
    """The page's own choices: stages and offers (none: all), the least expected value, and
    whether the customers who bring customers (advocates) come first."""

    stages: tuple[str, ...] = ()
    offers: tuple[str, ...] = ()
    minimum: float = 0.0
    advocates_first: bool = False


@dataclass(frozen=True)
class UpsellView:
    """The offers shown: how many, to how many customers, their expected value, the first
    ``SHOWN`` in order, and the expected value per offer."""

    offers: int
    customers: int
    value: float
    first: pd.DataFrame
    by_offer: pd.DataFrame  # offer_name, expected_value (summed), by offer name


def upsell_options(candidates: pd.DataFrame, filters: Filters) -> tuple[list[str], list[str]]:
    """The stages (in ``STAGES`` order) and the offers (by name) among the candidates within the filters."""
    chosen = select_customers(candidates, filters.segments, filters.regions, filters.channels)
    present = set(chosen["stage"].unique())
    return [s for s in STAGES if s in present], sorted(chosen["offer_name"].unique())


def shown_offers(
    candidates: pd.DataFrame, filters: Filters, choice: UpsellChoice, advocates: pd.Index | None
) -> pd.DataFrame:
    """The candidates within the filters and ``choice``, by expected value; with ``advocates``
    (their customer ids) and ``choice.advocates_first``, theirs first."""
    chosen = select_customers(candidates, filters.segments, filters.regions, filters.channels)
    shown = chosen[chosen["expected_value"] >= choice.minimum]
    if advocates is not None and choice.advocates_first:
        advocate = shown["customer_id"].isin(advocates).to_numpy()
        shown = shown.iloc[np.r_[np.flatnonzero(advocate), np.flatnonzero(~advocate)]]
    if choice.stages:
        shown = shown[shown["stage"].isin(choice.stages)]
    if choice.offers:
        shown = shown[shown["offer_name"].isin(choice.offers)]
    return shown


def upsell_view(
    candidates: pd.DataFrame, filters: Filters, choice: UpsellChoice, advocates: pd.Index | None
) -> UpsellView:
    """``UpsellView`` of ``shown_offers``."""
    shown = shown_offers(candidates, filters, choice, advocates)
    by_offer = shown.groupby("offer_name")["expected_value"].sum().reset_index()
    return UpsellView(
        offers=len(shown),
        customers=int(shown["customer_id"].nunique()),
        value=float(shown["expected_value"].sum()),
        first=shown.head(SHOWN),
        by_offer=by_offer,
    )
