"""The what-if simulator: today's figures and a scenario's, computed the same way on the same fitted
model (``kpi.whatif``), for the simulator page and the report. No Streamlit here."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from data import facts as fx
from data.facts import Facts
from data.filters import Filters
from data.source import Source
from kpi.customer_value import CLVResult, select_customers
from kpi.engagement import referral_detail
from kpi.forecast import Curves, per_purchase
from kpi.periods import add_months
from kpi.roi import channel_roi, marketing_summary
from kpi.summary import TIME_UNITS
from kpi.whatif import LEVERS, Scenario, leaving, payback_months, scenario_leaving, scenario_purchases
from service.compute import engagement_facts, memo, memo_of, roi_table
from service.forecast import (
    customer_sums,
    forecast_cells,
    horizon_weights,
    joined_within,
    kept,
    moved_curves,
    newcomer_curves,
)

__all__ = ["FIGURES", "WhatIf", "figures", "scenario_clv", "whatif"]

#: the figures compared, today against the scenario
FIGURES = ("total_clv", "revenue_12m", "margin_12m", "acquisition_spend_12m", "leaving_12m", "marketing_roi")


_NO_PAYBACK = pd.DataFrame({"campaign_id": [], "month": pd.to_datetime([]), "margin": []})


@dataclass(frozen=True)
class WhatIf:
    """Today's figures and the scenario's (``FIGURES``: the customers' total value, the next 12
    months' revenue and margin, the customers expected to leave in them, the lifetime marketing
    ROI) for the chosen customers; the waterfall of
    the change in total CLV and in the next 12 months' margin, lever by lever (``steps``: ``lever``,
    ``total_clv``, ``margin_12m``); each channel's lifetime ROI today and in the scenario."""

    today: dict[str, float]
    scenario: dict[str, float]
    steps: pd.DataFrame
    channels: pd.DataFrame


def scenario_clv(
    source: Source,
    facts: Facts,
    clv: CLVResult,
    as_of: date,
    scenario: Scenario,
    shared: dict[Any, Any] | None = None,
) -> CLVResult:
    """``clv`` (fitted at ``as_of``) with every customer's future margin and CLV under ``scenario``,
    and their chance of leaving in the next 12 months (``leaving_12m``, today's model when the
    scenario is today's); who is still a customer today stays as the model says. The CLV itself
    when there is no model. ``shared``: as in ``service.forecast.forecast_cells``."""
    if clv.bgnbd is None or clv.gamma_gamma is None:
        return clv
    shared = {} if shared is None else shared
    table = clv.table
    x, t_x, T = _history(clv, shared)  # noqa: N806
    if scenario.is_today:
        year = 12 * (365.25 / 12) / TIME_UNITS[clv.unit]
        return replace(clv, table=table.assign(leaving_12m=leaving(clv.bgnbd, clv.bgnbd, x, t_x, T, year)))
    margin, residual = _residual(source, facts, clv, as_of, scenario, shared)
    bgnbd = clv.bgnbd
    gone = kept(
        shared,
        ("leaving", scenario.churn, scenario.frequency),
        lambda: scenario_leaving(bgnbd, x, t_x, T, scenario, TIME_UNITS[clv.unit]),
    )
    moved = table.assign(
        expected_margin_per_purchase=margin,
        residual_clv=residual,
        total_clv=table["historical_clv"].to_numpy(dtype=float) + residual,
        leaving_12m=gone,
    )
    return replace(clv, table=moved)


def _history(clv: CLVResult, shared: dict[Any, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The table's ``x``, ``t_x`` and ``T``."""
    found: tuple[np.ndarray, np.ndarray, np.ndarray] = kept(
        shared, ("history",), lambda: tuple(clv.table[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    )
    return found


def _residual(
    source: Source, facts: Facts, clv: CLVResult, as_of: date, scenario: Scenario, shared: dict[Any, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Every customer's margin per purchase and residual CLV under ``scenario`` (not today's): the
    discounted purchases to come depend on the retention and frequency levers only, and are kept in
    ``shared`` for the scenarios that move only the margin, spend or CAC."""
    assert clv.bgnbd is not None and clv.gamma_gamma is not None
    table = clv.table
    margin = kept(shared, ("margin",), lambda: table["expected_margin_per_purchase"].to_numpy(dtype=float))
    if scenario.margin_pp:
        revenue = memo_of(facts, ("whatif_revenue", as_of), table, lambda: _revenue(facts, clv, as_of))
        margin = margin + scenario.margin_pp * revenue
    business = source.settings.business
    x, t_x, T = _history(clv, shared)  # noqa: N806
    bgnbd = clv.bgnbd
    purchases = kept(
        shared,
        ("discounted", scenario.churn, scenario.frequency),
        lambda: scenario_purchases(
            bgnbd,
            x,
            t_x,
            T,
            scenario,
            horizon_months=business.clv_horizon_months,
            annual_discount_rate=business.annual_discount_rate,
            unit_days=TIME_UNITS[clv.unit],
        ),
    )
    residual = purchases * margin
    today = kept(shared, ("residual",), lambda: table["residual_clv"].to_numpy(dtype=float))
    return margin, np.where(np.isfinite(residual), residual, today)


def _revenue(facts: Facts, clv: CLVResult, as_of: date) -> np.ndarray:
    """Per row of ``clv``'s table, the expected revenue of a purchase (0 for a customer the facts do
    not know): what the margin lever adds a share of."""
    assert clv.gamma_gamma is not None
    code = fx.positions(facts, clv.table["customer_id"])
    sums = customer_sums(facts, as_of)
    safe = np.maximum(code, 0)
    revenue = per_purchase(
        clv.gamma_gamma,
        sums["purchase_days"][safe],
        sums["revenue"][safe],
        facts.dims["segment"].astype(np.int64)[safe],
    )
    return np.asarray(np.where(code >= 0, revenue, 0.0))


def _forecast_sums(
    facts: Facts,
    clv: CLVResult,
    filters: Filters,
    as_of: date,
    trailing_months: int,
    scenario: Scenario,
    measures: tuple[str, ...],
    shared: dict[Any, Any],
    referred: np.ndarray | None,
) -> dict[str, float]:
    """The next 12 months' ``measures`` summed over the chosen customers' cells under ``scenario``
    (NaN without a model); ``referred`` as in ``service.forecast.forecast_cells``."""
    ahead = forecast_cells(facts, clv, as_of, 12, trailing_months, scenario, referred, measures=measures, shared=shared)
    if ahead.forecast is None:
        return {k: float("nan") for k in measures}
    cells = kept(shared, ("cells", filters), lambda: fx.cells(facts).chosen(facts, filters))
    weights = horizon_weights(ahead)  # 12 months to the day, as the spend beside them
    return {k: float((ahead.forecast.mean[k][:, cells].sum(axis=1) * weights).sum()) for k in measures}


def _chosen(clv: CLVResult, filters: Filters, shared: dict[Any, Any]) -> np.ndarray:
    """Per row of ``clv``'s table: one of the chosen customers (``select_customers``)."""
    found: np.ndarray = kept(
        shared,
        ("chosen", filters),
        lambda: clv.table.index.isin(
            select_customers(clv.table, filters.segments, filters.regions, filters.channels).index
        ),
    )
    return found


def _step_figures(
    source: Source,
    facts: Facts,
    clv: CLVResult,
    filters: Filters,
    as_of: date,
    scenario: Scenario,
    shared: dict[Any, Any],
) -> dict[str, float]:
    """The two figures of a waterfall's step under ``scenario``: ``total_clv`` and ``margin_12m``,
    as ``figures`` gives them (no leaving, revenue, spend or ROI: the waterfall shows only these)."""
    trailing = source.settings.forecast.trailing_months
    referred, _rewards = referred_customers(source, facts, as_of)
    out = _forecast_sums(facts, clv, filters, as_of, trailing, scenario, ("margin",), shared, referred)
    if clv.bgnbd is None or clv.gamma_gamma is None or scenario.is_today:
        chosen = select_customers(clv.table, filters.segments, filters.regions, filters.channels)
        return {"total_clv": float(chosen["total_clv"].sum()), "margin_12m": out["margin"]}
    _margin, residual = _residual(source, facts, clv, as_of, scenario, shared)
    historical = kept(shared, ("historical",), lambda: clv.table["historical_clv"].to_numpy(dtype=float))
    total = pd.Series((historical + residual)[_chosen(clv, filters, shared)])
    return {"total_clv": float(total.sum()), "margin_12m": out["margin"]}


def figures(
    source: Source,
    facts: Facts,
    clv: CLVResult,
    filters: Filters,
    as_of: date,
    today: date,
    scenario: Scenario,
    shared: dict[Any, Any] | None = None,
) -> tuple[dict[str, float], pd.DataFrame]:
    """The ``FIGURES`` of the chosen customers under ``scenario``, and each channel's lifetime ROI.
    ``shared``: as in ``service.forecast.forecast_cells``."""
    shared = {} if shared is None else shared
    moved = scenario_clv(source, facts, clv, as_of, scenario, shared)
    chosen = select_customers(moved.table, filters.segments, filters.regions, filters.channels)
    trailing = source.settings.forecast.trailing_months
    referred, rewards = referred_customers(source, facts, as_of)
    ahead = _forecast_sums(facts, clv, filters, as_of, trailing, scenario, ("revenue", "margin"), shared, referred)
    # what the campaigns spent on the chosen customers acquired in the last 12 months: the spend
    # the acquisition lever moves (the margin it brings is not the whole story without its cost)
    recent = _paid_last_year(facts, filters, as_of)
    spend = float(facts.acquisition_cost[recent].sum()) * (1.0 + scenario.spend)
    # and the rewards of the last 12 months' referrals of the chosen customers, as many more as referrals
    spend += float(rewards[fx.customer_mask(facts, filters)].sum()) * (1.0 + scenario.referral)
    figures = {
        "acquisition_spend_12m": spend if facts.campaigns is not None or rewards.any() else float("nan"),
        "total_clv": float(chosen["total_clv"].sum()),
        "revenue_12m": ahead["revenue"],
        "margin_12m": ahead["margin"],
        "leaving_12m": float(chosen["leaving_12m"].sum()) if "leaving_12m" in chosen else float("nan"),
        "marketing_roi": float("nan"),
    }
    channels = pd.DataFrame(columns=["channel", "roi_lifetime"])
    if facts.campaigns is not None:
        # the payback months are not among the figures: an empty monthly margin leaves them out
        roi = roi_table(source, filters, as_of, today, moved, monthly_margin=_NO_PAYBACK, facts=facts)
        if len(roi):
            # the same customers bought at the scenario's CAC: ROI = value ÷ (spend × (1 + cac)) − 1
            factor = 1.0 + scenario.cac
            figures["marketing_roi"] = (marketing_summary(roi)["roi_lifetime"] + 1.0) / factor - 1.0
            by_channel = channel_roi(roi)
            channels = pd.DataFrame(
                {"channel": by_channel["channel"], "roi_lifetime": (by_channel["roi_lifetime"] + 1.0) / factor - 1.0}
            )
            paid_back = new_customer_payback(facts, filters, as_of, scenario)
            channels["payback_months"] = channels["channel"].map(paid_back).astype(float)
    return figures, channels


def _paid_last_year(facts: Facts, filters: Filters, as_of: date) -> np.ndarray:
    """The chosen customers a paid campaign brought in the 12 months up to ``as_of``."""
    return np.asarray(facts.costed & joined_within(facts, as_of, 12) & fx.customer_mask(facts, filters))


#: months of age a new customer's payback is looked for over
PAYBACK_AGES = 24


def new_customer_payback(facts: Facts, filters: Filters, as_of: date, scenario: Scenario) -> pd.Series:
    """Per campaign channel: the months a new customer takes to pay back what acquiring them cost
    under ``scenario`` — the average cost of the chosen customers the channel's campaigns brought in
    the 12 months up to ``as_of`` (× 1 + the CAC lever), against the margin a new customer of their
    segments brings month by month of age (the newcomers' curves the forecast uses, moved by the
    frequency and margin levers), the segments weighed as the channel's newcomers were. Infinite
    beyond ``PAYBACK_AGES`` months; a channel without such customers is not listed."""
    if facts.campaigns is None or not len(facts.campaigns):
        return pd.Series(dtype=float)
    curves: Curves = memo(
        facts, ("cohort_curves", as_of, PAYBACK_AGES), lambda: newcomer_curves(facts, as_of, PAYBACK_AGES)
    )
    if not scenario.is_today:
        curves = moved_curves(curves, scenario)
    margin = curves.mean["margin"][:, :PAYBACK_AGES]
    recent = _paid_last_year(facts, filters, as_of)
    channel_of = dict(zip(facts.campaigns["campaign_id"], facts.campaigns["channel"], strict=True))
    channel = pd.Series(facts.campaign_costed()[recent]).map(channel_of).to_numpy(dtype=object)
    segment = facts.dims["segment"][recent].astype(np.int64)
    cost = facts.acquisition_cost[recent]
    out = {}
    for name in pd.unique(channel):
        mine = channel == name
        mix = np.bincount(segment[mine], minlength=margin.shape[0]) / mine.sum()
        out[name] = payback_months(mix @ margin, float(cost[mine].mean()) * (1.0 + scenario.cac))
    return pd.Series(out, dtype=float)


def referred_customers(source: Source, facts: Facts, as_of: date) -> tuple[np.ndarray, np.ndarray]:
    """Per customer (the facts' order): the chance a referral brought them — the referral's
    ``incremental`` answer, else the settings' share — where they first bought within the window
    after it (0 for everyone else, and for a customer a paid campaign brought: the spend lever
    moves those), and the rewards paid on the referrals each customer made in the 12 months up to
    ``as_of``, converted or not. Zeros without referrals."""

    def make() -> tuple[np.ndarray, np.ndarray]:
        n = len(facts.ids)
        brought, rewards = np.zeros(n), np.zeros(n)
        referrals = engagement_facts(source, facts).referrals
        if referrals is None or not len(referrals):
            return brought, rewards
        days = facts.first_purchase_day()
        first = pd.Series(pd.to_datetime(np.where(days >= 0, days, np.nan), unit="D"), index=facts.ids)
        detail = referral_detail(referrals, pd.Series(dtype=float), first, source.settings.engagement, 0.0)
        code = fx.positions(facts, detail["referred_id"])
        known = code >= 0
        converted = detail["converted"].to_numpy(dtype=bool) & known
        np.maximum.at(brought, code[converted], detail["p_incremental"].to_numpy(dtype=float)[converted])
        brought[facts.costed] = 0.0  # one lever each: a customer a campaign paid for is the spend's
        by = fx.positions(facts, detail["referrer_id"])
        at = pd.to_datetime(detail["referred_at"])
        recent = (by >= 0) & (at > pd.Timestamp(add_months(as_of, -12))).to_numpy()
        recent &= (at <= pd.Timestamp(as_of)).to_numpy()
        np.add.at(rewards, by[recent], detail["rewards"].to_numpy(dtype=float)[recent])
        return brought, rewards

    found: tuple[np.ndarray, np.ndarray] = memo(facts, ("referred_customers", as_of), make)
    return found


def whatif(
    source: Source,
    facts: Facts,
    clv: CLVResult,
    filters: Filters,
    as_of: date,
    today: date,
    scenario: Scenario,
    known: tuple[dict[str, float], pd.DataFrame] | None = None,
) -> WhatIf:
    """Today against ``scenario`` for the chosen customers, with the waterfall lever by lever (a
    lever left at 0 adds nothing and is computed no more). ``known``: today's ``figures`` when the
    caller keeps them. A step before the last needs only the waterfall's two figures; the steps
    share what their levers do not change (``shared``: the customers' amounts and histories, and
    the purchases of a retention and frequency, which the margin, spend and CAC levers keep)."""
    shared: dict[Any, Any] = {}
    now, channels_now = known or figures(source, facts, clv, filters, as_of, today, Scenario(), shared)
    moved = [lever for lever in LEVERS if getattr(scenario, lever) != 0]
    steps = []
    previous = now
    then, channels_then = now, channels_now
    for lever in moved:
        step = scenario.up_to(lever)
        if lever == moved[-1]:  # the scenario itself: every figure
            then, channels_then = figures(source, facts, clv, filters, as_of, today, step, shared)
        else:
            then = _step_figures(source, facts, clv, filters, as_of, step, shared)
        steps.append(
            {
                "lever": lever,
                "total_clv": then["total_clv"] - previous["total_clv"],
                "margin_12m": then["margin_12m"] - previous["margin_12m"],
            }
        )
        previous = then
    channels = channels_now.rename(columns={"roi_lifetime": "roi_today", "payback_months": "payback_today"}).merge(
        channels_then.rename(columns={"roi_lifetime": "roi_scenario", "payback_months": "payback_scenario"}),
        on="channel",
        how="outer",
    )
    return WhatIf(now, then, pd.DataFrame(steps, columns=["lever", "total_clv", "margin_12m"]), channels)
