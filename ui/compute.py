"""What each page computes, assembled once from ``data`` and ``kpi`` — used by the cached loaders
of the app, by ``cli.py`` and by the executive report, so every figure is computed the same way
everywhere. No Streamlit here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from data import queries
from data.filters import Filters
from data.source import Source
from kpi.customer_value import CLVResult, DayHistory, compute_clv, select_customers
from kpi.lifecycle import StageRules, assign_stages
from kpi.roi import campaign_roi
from kpi.summary import TIME_UNITS
from kpi.upsell import ladder_funnel, upsell_candidates

__all__ = ["History", "clv_at", "clv_from_history", "history", "roi_table", "stages_at", "upsell_tables"]


def _clv(
    source: Source,
    inputs: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    as_of: date,
    unit: str,
    models: tuple[Any, Any] | None = None,
) -> CLVResult:
    """``compute_clv`` with the business settings of ``source``."""
    business = source.settings.business
    return compute_clv(
        *inputs,
        as_of=as_of,
        unit=unit,
        horizon_months=business.clv_horizon_months,
        annual_discount_rate=business.annual_discount_rate,
        models=models,
    )


def clv_at(source: Source, as_of: date, today: date, unit: str = "week", value: str = "margin") -> CLVResult:
    """The CLV of every customer as of ``as_of``: the model sees every customer; callers filter."""
    everyone = Filters()
    inputs = (
        queries.customer_rfm(source, everyone, as_of, value=value),
        queries.customer_summary(source, everyone, as_of),
        queries.customer_costs(source, as_of, today),
    )
    return _clv(source, inputs, as_of, unit)


@dataclass(frozen=True)
class History:
    """Every customer's order days and ticket days up to ``anchor``, with acquisition costs: one read
    that gives the CLV inputs at any earlier date (``kpi.customer_value.inputs_at``)."""

    anchor: date
    days: DayHistory


def history(source: Source, anchor: date, today: date) -> History:
    costs = queries.customer_costs(source, anchor, today)
    return History(
        anchor=anchor,
        days=DayHistory.build(
            queries.customer_days(source, anchor, today),
            queries.ticket_days(source, anchor, today),
            costs[["customer_id", "campaign_id", "acquisition_cost"]],
        ),
    )


def clv_from_history(source: Source, past: History, as_of: date, models_from: CLVResult) -> CLVResult:
    """The CLV of every customer as of ``as_of`` (≤ the history's anchor) without a query or a fit:
    the inputs come from the history, the models from ``models_from`` (fitted at the anchor), so
    month after month is judged by one model and only the customers' own histories change."""
    if as_of > past.anchor:
        raise ValueError("as_of must not be after the history's anchor.")
    models = (models_from.bgnbd, models_from.gamma_gamma) if models_from.predicted else None
    return _clv(source, past.days.at(as_of), as_of, models_from.unit, models)


def stages_at(
    source: Source, as_of: date, today: date, clv: CLVResult | None = None, rules: StageRules | None = None
) -> pd.DataFrame:
    """Every customer's CLV columns with their lifecycle ``stage`` and ``p_alive`` at ``as_of``."""
    result = clv or clv_at(source, as_of, today)
    stages = assign_stages(
        result.table, as_of, rules or source.settings.lifecycle, model=result.bgnbd, unit_days=TIME_UNITS[result.unit]
    )
    return result.table.drop(columns=["p_alive"]).merge(stages, on="customer_id")


def roi_table(
    source: Source,
    filters: Filters,
    as_of: date,
    today: date,
    clv: CLVResult | None = None,
    monthly_margin: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The campaign ROI table for the filters (``kpi.roi.campaign_roi``); needs the campaigns entity.
    Pass ``clv`` and ``monthly_margin`` when the caller has them already (both are queries)."""
    result = clv or clv_at(source, as_of, today)
    customers = result.table.merge(queries.customer_acquisition(source, today), on="customer_id", how="left")
    chosen = select_customers(customers, filters.segments, filters.regions, filters.channels).index
    return campaign_roi(
        queries.campaigns(source, today),
        customers,
        selected=pd.Series(customers.index.isin(chosen), index=customers.index),
        monthly_margin=(
            monthly_margin
            if monthly_margin is not None
            else queries.campaign_monthly_margin(source, filters, as_of, today)
        ),
    )


def upsell_tables(
    source: Source, as_of: date, today: date, stages: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ranked upsell candidates of every customer (with region and channel, for filtering)
    and the ladder funnel; needs the order_lines and products entities."""
    everyone = stages if stages is not None else stages_at(source, as_of, today)
    owned = queries.customer_products(source, as_of, today)
    catalogue = queries.products(source, today)
    candidates = upsell_candidates(everyone, owned, catalogue).merge(
        everyone[["customer_id", "region", "channel"]], on="customer_id", how="left"
    )
    return candidates, ladder_funnel(everyone, owned, catalogue)
