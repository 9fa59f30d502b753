"""Forecast of the next months, per month and cell, from the fitted customer models.

The customers already known: BG/NBD gives each one's expected purchase days in every coming month
(the difference of equation (10) of Fader, Hardie & Lee 2005 at the month's end and start); the
revenue and margin of each are the customer's own means, weighted against their segment's as the
Gamma-Gamma model weighs them; their orders per purchase day give the orders. Customers
still to come: as many per month as came in the trailing months, each bringing, month by month of
age, what the newcomers of its segment in the last two years brought (their first purchase and
their repeat behaviour, read from the history rather than from the model: a new customer of a
shop's private clients is not an average customer). A customer counts as having bought in a month with
at least one purchase: the probability of that, not the expected purchases, is summed.

Everything is summed per month and *cell* (one combination of segment, region and channel; a
customer is in one), so a filter is a choice of cells. Beside each sum, its variance from chance
alone (purchases as Poisson counts, activity as a coin toss, newcomers as a Poisson stream): at
a few hundred customers that is the band; at many thousands it is narrow, and the band comes from
how far the same forecast missed in the backtest (``band``). Pure: arrays in, arrays out.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from kpi.clv import BGNBD, GammaGamma, by_x_and_T

__all__ = [
    "MEASURES",
    "Z_80",
    "CellForecast",
    "Curves",
    "backtest_band",
    "backtest_errors",
    "backtest_table",
    "band",
    "cohort_curves",
    "existing_customers",
    "forecast_months",
    "forecast_table",
    "forecast_total",
    "known_purchases",
    "month_shares",
    "newcomers",
    "per_purchase",
    "span_weights",
]

#: what is forecast, in this order
MEASURES = ("revenue", "margin", "orders", "active_customers")
#: the band holds 80 % of outcomes: ± 1.2816 standard deviations of a normal
Z_80 = 1.2815515655446004


def forecast_months(as_of: date, months: int) -> list[tuple[date, date]]:
    """The calendar months a forecast of ``months`` months after ``as_of`` covers, as (first day,
    last day). A forecast starts the day after ``as_of``; when that falls inside a month, the
    month's first part is history and its rest is forecast: that month is listed first, and
    ``months`` whole months follow it (data to 30 October, 12 months: 31 October, then November to
    October)."""
    if months < 1:
        raise ValueError("Forecast at least one month.")
    start = as_of + timedelta(days=1)
    out = []
    year, month = start.year, start.month
    for _ in range(months + (start.day != 1)):
        last = date(year, month, calendar.monthrange(year, month)[1])
        out.append((date(year, month, 1), last))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def month_shares(as_of: date, months: int) -> np.ndarray:
    """The share of each forecast month that is still to come: 1, except a first month that began
    before ``as_of`` (data to 20 November: 10 of November's 30 days are forecast)."""
    spans = forecast_months(as_of, months)
    shares = np.ones(len(spans))
    first, last = spans[0]
    if as_of >= first:
        shares[0] = (last - as_of).days / ((last - first).days + 1)
    return shares


def span_weights(as_of: date, months: int) -> np.ndarray:
    """How much of each of ``forecast_months(as_of, months)`` lies in the ``months`` months after
    ``as_of``: all of each, except that when the first month is partly gone, the last one counts
    for the part the first one lacks (data to 30 October, 12 months: 31 October to 30 October)."""
    shares = month_shares(as_of, months)
    weights = np.ones(len(shares))
    if len(shares) > months:
        weights[-1] = 1.0 - shares[0]
    return weights


@dataclass(frozen=True)
class CellForecast:
    """Per month (rows) and cell (columns): each measure's expected value and its variance from
    chance alone."""

    months: list[date]  # first day of each month
    mean: dict[str, np.ndarray]  # measure → (months, cells)
    variance: dict[str, np.ndarray]

    def __add__(self, other: CellForecast) -> CellForecast:
        return CellForecast(
            self.months,
            {k: self.mean[k] + other.mean[k] for k in self.mean},
            {k: self.variance[k] + other.variance[k] for k in self.variance},
        )

    def pick(self, chosen: np.ndarray) -> pd.DataFrame:
        """The chosen cells summed: per month, each measure's expected value and variance."""
        out = pd.DataFrame({"month": pd.to_datetime(self.months)})
        for k in self.mean:
            out[k] = self.mean[k][:, chosen].sum(axis=1)
            out[f"{k}_variance"] = self.variance[k][:, chosen].sum(axis=1)
        return out


def _offsets(as_of: date, months: list[tuple[date, date]], unit_days: float) -> np.ndarray:
    """Model time from the end of ``as_of`` to the end of each month, with 0 first."""
    ends = [(last - as_of).days for _first, last in months]
    return np.asarray([0.0, *ends], dtype=float) / unit_days


def per_purchase(model: GammaGamma, purchase_days: np.ndarray, amount: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each customer's expected amount (revenue or margin) per purchase day: their own mean, weighted
    against their group's (the segment's) as the Gamma-Gamma weighs a customer's mean (weight
    p·n / (p·n + q − 1) for n purchase days). One large first basket does not make a big spender,
    and a shop's small customers are not pulled towards its resellers' baskets."""
    n = np.asarray(purchase_days, dtype=float)
    amount = np.asarray(amount, dtype=float)
    group = np.asarray(group, dtype=np.int64)
    bought = n > 0
    own = np.divide(amount, n, out=np.zeros(len(n)), where=bought)
    size = int(group.max()) + 1 if len(group) else 0
    totals = np.bincount(group[bought], weights=amount[bought], minlength=size)
    days = np.bincount(group[bought], weights=n[bought], minlength=size)
    everyone = float(amount[bought].sum() / n[bought].sum()) if bought.any() else 0.0
    of_group = np.divide(totals, days, out=np.full(size, everyone), where=days > 0)[group]
    weight = np.where(bought, model.p * n / (model.p * n + model.q - 1), 0.0)
    return np.asarray(weight * own + (1 - weight) * of_group)


def existing_customers(
    model: BGNBD,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    per_purchase: dict[str, np.ndarray],
    cell: np.ndarray,
    cells: int,
    as_of: date,
    months: int,
    unit_days: float,
    alive_from: BGNBD | None = None,
) -> tuple[CellForecast, int]:
    """The customers known at ``as_of``: per month and cell, the revenue, margin and orders they are
    expected to bring and how many are expected to buy at least once (``active_customers``). ``per_purchase``:
    per customer, the expected ``revenue``, ``margin`` and ``orders`` of one purchase day. Returns
    the forecast and the customers the model could not value (an extreme history: left out).
    ``alive_from``: the model that judges who is still a customer today, when the purchases to come
    follow ``model`` (a what-if scenario)."""
    known = known_purchases(model, x, t_x, T, cell, cells, as_of, months, unit_days, alive_from)
    return known.forecast(per_purchase), known.unvalued


@dataclass(frozen=True)
class KnownPurchases:
    """What a model expects of the customers known at a date, before what a purchase brings (which
    multiplies it): per month (rows) and customer the model could value (columns; ``valued``, per
    customer), the purchase days expected (``expected``) — shared by scenarios that move only the
    amounts."""

    months: list[date]
    expected: np.ndarray  # (months, valued customers)
    valued: np.ndarray
    cell: np.ndarray  # per valued customer
    cells: int
    shape: np.ndarray  # per valued customer: r + x and α + T, for the chance of buying at least once
    scale_to: np.ndarray
    length: np.ndarray  # per month: its length in model time

    @property
    def unvalued(self) -> int:
        return int((~self.valued).sum())

    def forecast(self, per_purchase: dict[str, np.ndarray], measures: tuple[str, ...] = MEASURES) -> CellForecast:
        """The ``measures`` per month and cell, with ``per_purchase`` (per customer, the expected
        ``revenue``, ``margin`` and ``orders`` of one purchase day): ``existing_customers``."""
        months, cells, where = len(self.months), self.cells, self.cell
        mean = {k: np.zeros((months, cells)) for k in measures}
        variance = {k: np.zeros((months, cells)) for k in measures}
        values = {k: np.asarray(per_purchase[k], dtype=float)[self.valued] for k in measures if k != "active_customers"}
        for m in range(months):
            expected = self.expected[m]
            for k, value in values.items():
                mean[k][m] = np.bincount(where, weights=expected * value, minlength=cells)
                variance[k][m] = np.bincount(where, weights=expected * value**2, minlength=cells)
            if "active_customers" in measures:
                # an alive customer's rate λ is Gamma(r + x, α + T): the chance of at least one
                # purchase in a month over the purchases expected in it — below 1 for a customer who
                # buys several times a month, about 1 for one who buys now and then
                rate = self.shape / self.scale_to * self.length[m]
                some = 1.0 - np.exp(-self.shape * np.log1p(self.length[m] / self.scale_to))
                ratio = np.divide(some, rate, out=np.ones(len(rate)), where=rate > 0)
                active = np.minimum(expected * ratio, 1.0)
                mean["active_customers"][m] = np.bincount(where, weights=active, minlength=cells)
                variance["active_customers"][m] = np.bincount(where, weights=active * (1 - active), minlength=cells)
        return CellForecast(self.months, mean, variance)


def known_purchases(
    model: BGNBD,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    cell: np.ndarray,
    cells: int,
    as_of: date,
    months: int,
    unit_days: float,
    alive_from: BGNBD | None = None,
) -> KnownPurchases:
    """The purchases ``model`` expects of the customers known at ``as_of`` in each of the coming
    ``months`` (``existing_customers`` before the amounts)."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    spans = forecast_months(as_of, months)
    offsets = _offsets(as_of, spans, unit_days)
    # who is still a customer today: the fitted model's judgement, whatever a scenario does next
    odds = (alive_from or model).dropout_odds(x, t_x, T)
    with np.errstate(over="ignore", invalid="ignore"):
        ends = offsets[1:]
        by_month = by_x_and_T(
            model,
            ("expected_months", tuple(float(t) for t in ends)),
            lambda x_, T_: model.expected_numerator(ends[None, :], x_[:, None], T_[:, None]),
            x,
            T,
        )
    valued = np.isfinite(odds) & np.isfinite(by_month).all(axis=1)
    # (months, valued customers): the purchase days expected by each month's end, then in each month,
    # worked in place from the last month back (a million customers: 100 MB a copy)
    expected = by_month.T.copy() if valued.all() else by_month.T.compress(valued, axis=1)  # (copies)
    del by_month
    for month in range(len(expected) - 1, 0, -1):
        expected[month] -= expected[month - 1]
    expected *= 1.0 / (1.0 + odds[valued])
    np.maximum(expected, 0.0, out=expected)
    return KnownPurchases(
        months=[first for first, _ in spans],
        expected=expected,
        valued=valued,
        cell=np.asarray(cell)[valued],
        cells=cells,
        shape=model.r + x[valued],
        scale_to=model.alpha + T[valued],
        length=np.diff(offsets),
    )


@dataclass(frozen=True)
class Curves:
    """What a new customer of each group (segment) brought, by month of age (0: the month of their
    first purchase): per measure the mean per customer (``mean``) and the mean of its square
    (``square``), arrays (groups, ages)."""

    mean: dict[str, np.ndarray]
    square: dict[str, np.ndarray]


#: the newcomers whose curves are drawn: those whose first purchase fell in this many whole months up
#: to the last one
NEWCOMER_WINDOW = 24


def cohort_curves(
    first_month: np.ndarray,
    group: np.ndarray,
    groups: int,
    month_code: np.ndarray,
    month: np.ndarray,
    values: dict[str, np.ndarray],
    last_month: int,
    ages: int,
    window: int = NEWCOMER_WINDOW,
) -> Curves:
    """The newcomers' curves (``Curves``) from the customers whose first purchase fell in the
    ``window`` months up to ``last_month`` (the last whole month of history): at age a, the mean over
    the customers already that old. ``first_month``, ``group``: per customer; ``month_code``,
    ``month``, ``values``: per customer and month with activity (``values`` holds ``revenue``,
    ``margin``, ``orders``; ``active_customers`` is 1 for a month with a purchase; the months of
    customers outside the window and after ``last_month`` may be left out). An age no customer has
    reached yet repeats the last age seen."""
    first_month = np.asarray(first_month, dtype=np.int64)
    recent = (first_month > last_month - window) & (first_month <= last_month)
    age = first_month[month_code]
    np.subtract(np.asarray(month, dtype=np.int64), age, out=age)  # (in place: 9 million pairs at 1M customers)
    keep = recent[month_code] & (age >= 0) & (age < ages) & (np.asarray(month) <= last_month)
    where = group[month_code[keep]] * ages + age[keep]
    # customers old enough for each age: first month + age ≤ last month
    reach = np.clip(last_month - first_month[recent] + 1, 0, ages)
    counted = np.zeros((groups, ages))
    for g in range(groups):
        reached = reach[group[recent] == g]
        counted[g] = (reached[:, None] > np.arange(ages)[None, :]).sum(axis=0)
    mean, square = {}, {}
    for k in MEASURES:
        v = np.asarray(values[k], dtype=float)[keep]
        total = np.bincount(where, weights=v, minlength=groups * ages).reshape(groups, ages)
        sq = np.bincount(where, weights=np.square(v, out=v), minlength=groups * ages).reshape(groups, ages)
        mean[k] = np.divide(total, counted, out=np.full((groups, ages), np.nan), where=counted > 0)
        square[k] = np.divide(sq, counted, out=np.full((groups, ages), np.nan), where=counted > 0)
        for table in (mean[k], square[k]):
            for g in range(groups):  # an age not reached yet: the last one seen (0 with none)
                row = table[g]
                seen = np.flatnonzero(np.isfinite(row))
                if len(seen) == 0:
                    row[:] = 0.0
                else:
                    row[seen[-1] + 1 :] = row[seen[-1]]
                    row[~np.isfinite(row)] = 0.0
    return Curves(mean, square)


def newcomers(
    per_month: np.ndarray,
    cell_group: np.ndarray,
    curves: Curves,
    as_of: date,
    months: int,
    measures: tuple[str, ...] = MEASURES,
) -> CellForecast:
    """Customers still to come: ``per_month`` per cell each month (the recent pace), each bringing
    at every month of age what the recent newcomers of its group brought (``cohort_curves``). Their
    number is a Poisson stream: the variance of a sum over them is the pace × the mean square."""
    spans = forecast_months(as_of, months)
    months = len(spans)
    ages = curves.mean["revenue"].shape[1]
    per_month = np.asarray(per_month, dtype=float)
    cells = len(per_month)
    mean = {k: np.zeros((months, cells)) for k in measures}
    variance = {k: np.zeros((months, cells)) for k in measures}
    shares = month_shares(as_of, months)
    for j in range(months):  # arrivals in month j (its part still to come), at age m − j in month m
        arriving = per_month * shares[j]
        for m in range(j, months):
            age = min(m - j, ages - 1)  # older than the curves know: their last age
            for k in measures:
                mean[k][m] += arriving * curves.mean[k][cell_group, age]
                variance[k][m] += arriving * curves.square[k][cell_group, age]
    return CellForecast([first for first, _ in spans], mean, variance)


def band(mean: np.ndarray, variance: np.ndarray, relative_error: float) -> tuple[np.ndarray, np.ndarray]:
    """The 80 % band: the expected value ± 1.28 standard deviations, where the deviation joins the
    variance from chance with ``relative_error`` × the value (how far the backtest missed, as a
    share: the model's own error). Never below 0."""
    mean = np.asarray(mean, dtype=float)
    sd = np.sqrt(np.asarray(variance, dtype=float) + (relative_error * mean) ** 2)
    return np.maximum(mean - Z_80 * sd, 0.0), mean + Z_80 * sd


def backtest_table(backtest: CellForecast, actual: dict[str, np.ndarray], chosen: np.ndarray) -> pd.DataFrame:
    """The backtest of the chosen cells, month by month: for each measure what the forecast said
    (``<measure>_forecast``), what happened (``<measure>``) and the error as a share of what
    happened (``<measure>_error``: +0.05 = the forecast was 5 % too high)."""
    out = pd.DataFrame({"month": pd.to_datetime(backtest.months)})
    for k in MEASURES:
        said = backtest.mean[k][:, chosen].sum(axis=1)
        was = actual[k][:, chosen].sum(axis=1)
        out[f"{k}_forecast"] = said
        out[k] = was
        out[f"{k}_error"] = np.divide(said - was, was, out=np.full(len(was), np.nan), where=was > 0)
    return out


def backtest_errors(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per measure: the typical monthly error (``monthly``: root mean square of the monthly errors,
    a share) and the error on the whole backtest (``total``: Σ forecast ÷ Σ actual − 1)."""
    out = {}
    for k in MEASURES:
        errors = table[f"{k}_error"].to_numpy(dtype=float)
        errors = errors[np.isfinite(errors)]
        was = float(table[k].sum())
        out[k] = {
            "monthly": float(np.sqrt(np.mean(errors**2))) if len(errors) else float("nan"),
            "total": float(table[f"{k}_forecast"].sum()) / was - 1 if was > 0 else float("nan"),
        }
    return out


def forecast_table(
    forecast: CellForecast, chosen: np.ndarray, errors: dict[str, dict[str, float]] | None
) -> pd.DataFrame:
    """The forecast of the chosen cells: per month each measure with its 80 % band (``<measure>_low``,
    ``<measure>_high``); the band joins chance with the backtest's typical monthly error (none
    without a backtest: the band is then chance alone)."""
    picked = forecast.pick(chosen)
    out = pd.DataFrame({"month": picked["month"]})
    for k in MEASURES:
        error = (errors or {}).get(k, {}).get("monthly", 0.0)
        error = error if np.isfinite(error) else 0.0
        low, high = band(picked[k].to_numpy(), picked[f"{k}_variance"].to_numpy(), error)
        out[k], out[f"{k}_low"], out[f"{k}_high"] = picked[k], low, high
    return out


def backtest_band(
    table: pd.DataFrame, backtest: CellForecast, chosen: np.ndarray, errors: dict[str, dict[str, float]]
) -> pd.DataFrame:
    """``table`` (``backtest_table``) with the 80 % band around what the forecast said of each month
    (``<measure>_forecast_low``, ``<measure>_forecast_high``), made as the forecast's own band: chance
    joined with the backtest's typical monthly error. A month outside it surprised the model."""
    out = table.copy()
    for k in MEASURES:
        error = errors.get(k, {}).get("monthly", 0.0)
        low, high = band(
            out[f"{k}_forecast"].to_numpy(),
            backtest.variance[k][:, chosen].sum(axis=1),
            error if np.isfinite(error) else 0.0,
        )
        out[f"{k}_forecast_low"], out[f"{k}_forecast_high"] = low, high
    return out


def forecast_total(
    forecast: CellForecast,
    chosen: np.ndarray,
    errors: dict[str, dict[str, float]] | None,
    measure: str = "revenue",
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """The whole forecast of one measure for the chosen cells: ``value``, ``low`` and ``high`` (80 %),
    where the model's own error is the backtest's error on its whole span (chance adds up across
    months; the model's error over a year is what the backtest measured over one). ``weights``: the
    share of each month counted (``span_weights``), all of each by default."""
    picked = forecast.pick(chosen)
    w = np.ones(len(picked)) if weights is None else np.asarray(weights, dtype=float)
    value = float((picked[measure].to_numpy() * w).sum())
    error = abs((errors or {}).get(measure, {}).get("total", 0.0))
    error = error if np.isfinite(error) else 0.0
    # a share w of a month's purchases: a Poisson count w times as large, and so its variance
    variance = float((picked[f"{measure}_variance"].to_numpy() * w).sum())
    low, high = band(np.array([value]), np.array([variance]), error)
    return {"value": value, "low": float(low[0]), "high": float(high[0])}
