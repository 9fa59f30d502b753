"""The forecast of the coming months and its backtest, assembled from the facts and the fitted
models (``kpi.forecast``) — for the overview, ``cli.py forecast`` and the report. Computed once per
source and date for every cell; a filter then picks cells. No Streamlit here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from data import facts as fx
from data.facts import Facts
from data.filters import Filters
from data.settings import ForecastParams
from kpi.customer_value import CLVResult
from kpi.forecast import (
    MEASURES,
    NEWCOMER_WINDOW,
    CellForecast,
    Curves,
    backtest_band,
    backtest_errors,
    backtest_table,
    cohort_curves,
    forecast_months,
    forecast_table,
    forecast_total,
    known_purchases,
    newcomers,
    per_purchase,
    span_weights,
)
from kpi.periods import add_months
from kpi.summary import TIME_UNITS
from kpi.whatif import Scenario, newcomer_factor, scenario_model
from service.compute import memo, memo_of
from service.cores import on_two_cores

__all__ = [
    "ForecastCells",
    "ForecastView",
    "backtest_cells",
    "backtest_start",
    "forecast_cells",
    "forecast_for",
    "forecast_view",
    "horizon_weights",
    "joined_within",
    "kept",
    "moved_curves",
    "newcomer_curves",
]


@dataclass(frozen=True)
class ForecastCells:
    """A forecast from ``as_of`` for every cell (``None`` when the model could not be fitted:
    ``reason`` says why), with the customers left out and the pace of new customers it assumed."""

    as_of: date
    forecast: CellForecast | None
    unvalued: int = 0
    new_per_month: np.ndarray | None = None  # per cell
    reason: str | None = None


def _to_date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(day))


def customer_sums(facts: Facts, as_of: date) -> dict[str, np.ndarray]:
    """Per customer code, up to ``as_of``: revenue, margin, purchase days and orders (kept with the
    facts)."""
    found: dict[str, np.ndarray] = memo(facts, ("customer_sums", as_of), lambda: _customer_sums(facts, as_of))
    return found


def _up_to(facts: Facts, as_of: date) -> slice | np.ndarray:
    """The day rows up to ``as_of``: every row (a view, no copy) when ``as_of`` is past the last."""
    keep = facts.d_day <= (as_of - date(1970, 1, 1)).days
    return slice(None) if keep.all() else np.flatnonzero(keep)


def _customer_sums(facts: Facts, as_of: date) -> dict[str, np.ndarray]:
    """Per customer code, up to ``as_of``: revenue, margin, purchase days and orders."""
    rows = _up_to(facts, as_of)
    code, n = facts.d_code[rows], facts.customers
    purchases = facts.d_purchases[rows]
    return {
        "revenue": np.bincount(code, weights=facts.d_revenue[rows], minlength=n),
        "margin": np.bincount(code, weights=facts.d_margin[rows], minlength=n),
        "purchase_days": np.bincount(code[purchases > 0], minlength=n).astype(float),
        "orders": np.bincount(code, weights=purchases, minlength=n),
    }


def _last_whole_month(as_of: date) -> int:
    """Months since January 1970 of the last whole month up to ``as_of``."""
    month = (as_of.year - 1970) * 12 + as_of.month - 1
    return month if (as_of + timedelta(days=1)).day == 1 else month - 1


def _monthly(
    facts: Facts, as_of: date, joined_after: int | None = None
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The arguments of ``kpi.forecast.cohort_curves`` up to ``as_of``: per customer the month of the
    first purchase and the segment; per customer and month the revenue, margin, orders and whether
    they bought — of every customer, or only of those whose first purchase came after the month
    ``joined_after`` (months since January 1970), the only ones the curves look at."""
    first = facts.first_purchase_day()
    first_month = np.where(first >= 0, fx.month_numbers(first).astype(np.int64), -(10**6))
    if joined_after is None:
        rows = _up_to(facts, as_of)
    else:  # the newcomers' rows only: at a million customers 2.9 million pairs, not 5.6
        joined = (first_month > joined_after)[facts.d_code]
        rows = np.flatnonzero(joined & (facts.d_day <= (as_of - date(1970, 1, 1)).days))
        del joined
    code, month = facts.d_code[rows], facts.months(rows)
    # rows sorted by customer then day: (customer, month) pairs are contiguous
    starts = np.flatnonzero(np.r_[True, (code[1:] != code[:-1]) | (month[1:] != month[:-1])]) if len(code) else code
    pair_code, pair_month = code[starts].astype(np.int64), month[starts].astype(np.int64)
    del code, month

    def summed(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values[rows], starts, dtype=float) if len(starts) else np.zeros(0)

    orders = summed(facts.d_purchases)
    values = {
        "revenue": summed(facts.d_revenue),
        "margin": summed(facts.d_margin),
        "orders": orders,
        "active_customers": (orders > 0).astype(float),
    }
    segment = facts.dims["segment"].astype(np.int64)
    return first_month, segment, len(facts.labels["segment"]), pair_code, pair_month, values


def forecast_cells(
    facts: Facts,
    clv: CLVResult,
    as_of: date,
    months: int,
    trailing_months: int,
    scenario: Scenario | None = None,
    referred: np.ndarray | None = None,
    *,
    measures: tuple[str, ...] = MEASURES,
    shared: dict[Any, Any] | None = None,
) -> ForecastCells:
    """The next ``months`` months after ``as_of`` for every cell, from ``clv`` (fitted at ``as_of``
    on every customer) and the facts: the customers known at ``as_of`` and those still to come at
    the pace of the ``trailing_months`` before it. With ``scenario`` (``kpi.whatif``): today's
    customers with the retention, frequency and margin levers moved; the newcomers of paid
    campaigns scaled by spend ÷ CAC and those of referrals by the referral lever (``referred``:
    per customer, the chance a referral brought them), buying more or less often after their first
    month, at the moved margin. ``measures``: the ones wanted (all by default). ``shared``: a dict
    kept by a caller that computes several scenarios on the same ``clv`` (the what-if's waterfall):
    what the margin, spend, CAC and referral levers do not change is computed once in it."""
    if not clv.predicted or clv.bgnbd is None or clv.gamma_gamma is None:
        return ForecastCells(as_of, None, reason=clv.reason or "no_fit")
    scenario = scenario or Scenario()
    shared = {} if shared is None else shared
    cell = fx.cells(facts)
    k = len(cell)
    bgnbd = clv.bgnbd

    def purchases_to_come() -> tuple[dict[str, Any], Any]:
        # today's amounts and histories: the same for every scenario, kept while the table lives
        known = memo_of(facts, ("forecast_known", as_of), clv.table, lambda: _known(facts, clv, as_of))
        return known, kept(
            shared,
            ("purchases", as_of, months, scenario.churn, scenario.frequency),
            lambda: known_purchases(
                scenario_model(bgnbd, scenario.churn),  # the purchases to come; who is left: today's model
                known["x"],
                known["t_x"],
                known["T"],
                known["cell"],
                k,
                as_of,
                months,
                TIME_UNITS[clv.unit] / (1.0 + scenario.frequency),  # buying more often: the months pass faster
                alive_from=bgnbd,
            ),
        )

    def newcomers_curves() -> Curves:
        return memo(facts, ("cohort_curves", as_of, months), lambda: newcomer_curves(facts, as_of, months))

    # the newcomers' curves need only the facts: made beside the known customers' purchases (at a
    # million customers each is about a second)
    made: list[Any] = on_two_cores([purchases_to_come, newcomers_curves])
    (known, purchases), curves = made
    amounts = dict(known["amounts"])
    amounts["margin"] = amounts["margin"] + scenario.margin_pp * amounts["revenue"]
    known_part = purchases.forecast(amounts, measures)
    # the customers still to come: at the pace of the trailing months, each cell at its own, and
    # each bringing what the recent newcomers of its segment brought month by month
    new = joined_within(facts, as_of, trailing_months)
    per_month = np.bincount(cell.of_customer[new], minlength=k) / trailing_months
    last_year = joined_within(facts, as_of, 12)  # campaigns and referrals come and go: a year is one cycle
    if scenario.spend or scenario.cac:
        # paid campaigns bring new customers in proportion to spend ÷ CAC: the lever moves the
        # pace of the last 12 months' paid newcomers (campaigns come and go; a year is one cycle)
        paid = np.asarray([c is not None for c in cell.campaign])
        recent = last_year & paid[cell.of_customer]
        paid_pace = np.bincount(cell.of_customer[recent], minlength=k) / 12
        per_month = np.maximum(per_month + (newcomer_factor(scenario) - 1.0) * paid_pace, 0.0)
    if scenario.referral and referred is not None:
        # referrals bring new customers in proportion: the last 12 months' referred newcomers,
        # each counted by the chance the referral brought them (who would have come anyway stays)
        referred_pace = np.bincount(cell.of_customer[last_year], weights=referred[last_year], minlength=k) / 12
        per_month = np.maximum(per_month + scenario.referral * referred_pace, 0.0)
    if not scenario.is_today:
        curves = moved_curves(curves, scenario)
    to_come = newcomers(per_month, cell.dims["segment"].astype(np.int64), curves, as_of, months, measures)
    return ForecastCells(as_of, known_part + to_come, purchases.unvalued, per_month)


def joined_within(facts: Facts, as_of: date, months: int) -> np.ndarray:
    """Per customer: whether their first purchase fell in the ``months`` months up to ``as_of``."""
    first = facts.first_purchase_day()
    since = (add_months(as_of, -months) - date(1970, 1, 1)).days
    return np.asarray((first > since) & (first <= (as_of - date(1970, 1, 1)).days))


def kept(shared: dict[Any, Any], key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """``shared[key]``, made on first use."""
    if key not in shared:
        shared[key] = make()
    return shared[key]


def _known(facts: Facts, clv: CLVResult, as_of: date) -> dict[str, Any]:
    """The customers of ``clv``'s table the facts know: their history (``x``, ``t_x``, ``T``), cell
    and expected revenue, margin and orders per purchase day (today's)."""
    assert clv.gamma_gamma is not None
    table = clv.table
    code = fx.positions(facts, table["customer_id"])
    known = code >= 0
    table, code = table[known], code[known]
    sums = customer_sums(facts, as_of)
    days = sums["purchase_days"][code]
    segment = facts.dims["segment"].astype(np.int64)
    gg = clv.gamma_gamma
    return {
        "x": table["x"].to_numpy(),
        "t_x": table["t_x"].to_numpy(),
        "T": table["T"].to_numpy(),
        "cell": fx.cells(facts).of_customer[code].astype(np.int64),
        "amounts": {
            "revenue": per_purchase(gg, days, sums["revenue"][code], segment[code]),
            "margin": per_purchase(gg, days, sums["margin"][code], segment[code]),
            "orders": np.divide(sums["orders"][code], days, out=np.ones(len(days)), where=days > 0),
        },
    }


def newcomer_curves(facts: Facts, as_of: date, months: int) -> Curves:
    last_month = _last_whole_month(as_of)
    first_month, segment_of, segments, pair_code, pair_month, values = _monthly(
        facts, as_of, joined_after=last_month - NEWCOMER_WINDOW
    )
    return cohort_curves(
        first_month,
        segment_of,
        segments,
        pair_code,
        pair_month,
        values,
        last_month,
        len(forecast_months(as_of, months)),
        window=NEWCOMER_WINDOW,
    )


def moved_curves(curves: Curves, scenario: Scenario) -> Curves:
    """The newcomers' curves under ``scenario``: after their first month they buy ``1 + frequency``
    times as often, and every purchase's margin moves by ``margin_pp`` of its revenue."""
    faster = np.ones(curves.mean["revenue"].shape[1])
    faster[1:] = 1.0 + scenario.frequency
    mean = {k: v * (faster if k != "active_customers" else np.minimum(faster, 1.0)) for k, v in curves.mean.items()}
    square = {k: v * faster**2 for k, v in curves.square.items()}
    mean["margin"] = mean["margin"] + scenario.margin_pp * mean["revenue"]
    return Curves(mean, square)


def backtest_start(as_of: date, params: ForecastParams, first_purchase: date | None) -> date | None:
    """Where the backtest's forecast starts: the end of the month ``backtest_months`` (at most the
    forecast's months, at least 3) before the last whole month up to ``as_of``, so that it is judged
    on whole months; if the history before it has a year to fit on; else as far back as it has (at
    least three months to compare), or None."""
    if first_purchase is None:
        return None
    months = _backtest_span(params)
    while months >= 3:
        start = add_months(_whole_months_end(as_of), -months)
        if add_months(start, -12) >= first_purchase:
            return start
        months -= 1
    return None


def actual_cells(facts: Facts, start: date, months: int) -> dict[str, np.ndarray]:
    """What happened in the ``months`` months after ``start``, per month and cell."""
    end = add_months(start, months)
    c = fx.cube(facts, start + timedelta(days=1), end)
    k = len(fx.cells(facts))
    out = {}
    shift = int(np.datetime64(start + timedelta(days=1), "M").astype(np.int64)) - c.first_month
    for measure, values in (("revenue", c.revenue), ("margin", c.margin), ("orders", c.orders)):
        grid = np.zeros((months, k))
        present = np.asarray(values, dtype=float).reshape(c.months, k) if c.months else np.zeros((0, k))
        for m in range(c.months):
            if 0 <= m - shift < months:
                grid[m - shift] = present[m]
        out[measure] = grid
    # customers who bought, as the overview counts them: a day with only a refund is not a purchase
    first_month = int(np.datetime64(start + timedelta(days=1), "M").astype(np.int64))
    rows = (
        (facts.d_day > (start - date(1970, 1, 1)).days)
        & (facts.d_day <= (end - date(1970, 1, 1)).days)
        & (facts.d_purchases > 0)
    )
    code, month = facts.d_code[rows], facts.months(rows).astype(np.int64) - first_month
    fresh = np.r_[True, (code[1:] != code[:-1]) | (month[1:] != month[:-1])] if len(code) else np.zeros(0, bool)
    where = month[fresh] * k + fx.cells(facts).of_customer[code[fresh]]
    out["active_customers"] = np.bincount(where, minlength=months * k)[: months * k].reshape(months, k).astype(float)
    return out


@dataclass(frozen=True)
class ForecastView:
    """A forecast for the chosen customers: per month with its band, the total of each measure,
    and the backtest (month by month, and its errors), when there is one."""

    table: pd.DataFrame
    totals: dict[str, dict[str, float]]
    backtest: pd.DataFrame | None
    errors: dict[str, dict[str, float]] | None
    unvalued: int
    new_per_month: float
    detail: pd.DataFrame  # per month, each measure's expected value and its variance from chance


def forecast_view(
    facts: Facts,
    filters: Filters,
    ahead: ForecastCells,
    behind: ForecastCells | None,
    actual: dict[str, np.ndarray] | None,
) -> ForecastView | None:
    """The chosen cells of a forecast (``ahead``) judged by its backtest (``behind``, with what
    happened: ``actual``). None when the model could not be fitted."""
    if ahead.forecast is None:
        return None
    chosen = fx.cells(facts).chosen(facts, filters)
    backtest = errors = None
    if behind is not None and behind.forecast is not None and actual is not None:
        backtest = backtest_table(behind.forecast, actual, chosen)
        errors = backtest_errors(backtest)
        backtest = backtest_band(backtest, behind.forecast, chosen, errors)
    table = forecast_table(ahead.forecast, chosen, errors)
    weights = horizon_weights(ahead)  # "the next 12 months": 12 months to the day, as the card says
    totals = {
        k: forecast_total(ahead.forecast, chosen, errors, k, weights) for k in MEASURES if k != "active_customers"
    }
    new = float(ahead.new_per_month[chosen].sum()) if ahead.new_per_month is not None else 0.0
    return ForecastView(table, totals, backtest, errors, ahead.unvalued, new, ahead.forecast.pick(chosen))


def backtest_cells(
    facts: Facts, params: ForecastParams, as_of: date, clv_at: Callable[[date], CLVResult]
) -> tuple[ForecastCells | None, dict[str, np.ndarray] | None]:
    """The backtest for a forecast after ``as_of``: the same forecast made ``backtest_months``
    earlier for every cell, and what happened since (None, None on a short history)."""
    first, _last = facts.date_range()
    start = backtest_start(as_of, params, first)
    if start is None:
        return None, None
    span = min(_backtest_span(params), _months_between(start, _whole_months_end(as_of)))
    return forecast_cells(facts, clv_at(start), start, span, params.trailing_months), actual_cells(facts, start, span)


def forecast_for(
    facts: Facts,
    filters: Filters,
    params: ForecastParams,
    as_of: date,
    clv_at: Callable[[date], CLVResult],
) -> ForecastView | None:
    """The forecast after ``as_of`` for the chosen customers with its backtest: ``clv_at(d)`` gives
    the CLV fitted at ``d`` on every customer (the CLI's one-off use; the app keeps the parts)."""
    ahead = forecast_cells(facts, clv_at(as_of), as_of, params.months, params.trailing_months)
    behind, actual = backtest_cells(facts, params, as_of, clv_at)
    return forecast_view(facts, filters, ahead, behind, actual)


def _backtest_span(params: ForecastParams) -> int:
    """Months the backtest compares: ``backtest_months``, at most the forecast's months, at least 3."""
    return max(min(params.backtest_months, params.months), 3)


def horizon_weights(ahead: ForecastCells) -> np.ndarray:
    """The share of each of ``ahead``'s months inside its horizon (``kpi.forecast.span_weights``):
    a first month partly gone is made up by the same part of the last."""
    assert ahead.forecast is not None
    partial = (ahead.as_of + timedelta(days=1)).day != 1
    return span_weights(ahead.as_of, len(ahead.forecast.months) - partial)


def _whole_months_end(as_of: date) -> date:
    """The last day of the last whole month up to ``as_of``: ``as_of`` itself at a month's end."""
    return as_of if (as_of + timedelta(days=1)).day == 1 else as_of.replace(day=1) - timedelta(days=1)


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month
