"""Customer lifetime value per customer: what each customer has earned us, and is expected to.

historical CLV = margin to date − service cost − acquisition cost
residual CLV   = Σ_{m=1..H} E[purchases in month m] × E[margin per purchase] / (1 + d)^m
total CLV      = historical CLV + residual CLV                       (DESIGN.md section 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from data.filters import UNASSIGNED
from kpi.clv import (
    BGNBD,
    MIN_REPEAT_CUSTOMERS,
    GammaGamma,
    ModelError,
    discounted_residual_value,
    expected_purchases_by_curve,
    fit_bgnbd,
    fit_gamma_gamma,
)
from kpi.lifecycle import rhythm_p_alive
from kpi.summary import TIME_UNITS, rfm_summary

__all__ = [
    "CLVResult",
    "DayHistory",
    "HistoryState",
    "HoldoutCheck",
    "compute_clv",
    "holdout_check",
    "segment_clv",
    "sorted_codes",
    "total_clv_of",
]

CLV_COLUMNS = (
    "customer_id",
    "segment",
    "region",
    "channel",
    "first_purchase",
    "last_purchase",
    "previous_purchase",
    "purchase_days",
    "x",
    "t_x",
    "T",
    "first_purchase_margin",
    "margin_to_date",
    "tickets",
    "service_cost",
    "acquisition_cost",
    "historical_clv",
    "p_alive",
    "expected_purchases_12m",
    "expected_margin_per_purchase",
    "residual_clv",
    "total_clv",
)


@dataclass(frozen=True)
class CLVResult:
    """The per-customer table (``CLV_COLUMNS``), the fitted models (None when they could not be
    fitted) and, then, the reason in ``notice``."""

    table: pd.DataFrame
    bgnbd: BGNBD | None
    gamma_gamma: GammaGamma | None
    unit: str
    notice: str | None = None
    reason: str | None = None  # ``ModelError.reason`` when the models could not be fitted
    unvalued: int = 0  # customers the fitted models could not value (their value is the historical one)

    @property
    def predicted(self) -> bool:
        return self.bgnbd is not None and self.gamma_gamma is not None


def _expected_margin(
    model: GammaGamma, x: np.ndarray, m: np.ndarray, first_value: np.ndarray, group: np.ndarray | None = None
) -> np.ndarray:
    """E[margin per purchase]. Gamma-Gamma learns from repeat purchases only, so a one-time buyer
    would get the population mean; here their first purchase counts as one observation instead
    (where its margin is positive). A bargain hunter's €20 first basket then keeps their forecast
    modest rather than at the average customer's level.

    The mean a customer's own is weighed against (with the model's weight p·x / (p·x + q − 1)) is
    their ``group``'s (segment's): the model's population mean times the ratio of the segment's
    repeat customers' mean to everyone's, where the segment has ``MIN_REPEAT_CUSTOMERS`` of them;
    else the model's population mean. A business that sells to
    private customers and to resellers does not price a private customer's next order like a
    reseller's."""
    one_time = (x == 0) & (first_value > 0)
    x_eff = np.where(one_time, 1.0, x)
    m_eff = np.where(one_time, first_value, m)
    if group is None or len(x) == 0:
        return model.expected_value(x_eff, m_eff)
    group = np.asarray(group, dtype=np.int64)
    shift = group - group.min()
    repeat = (np.asarray(x) > 0) & np.isfinite(m)
    counts = np.bincount(shift[repeat], minlength=int(shift.max()) + 1)
    sums = np.bincount(shift[repeat], weights=np.asarray(m, dtype=float)[repeat], minlength=int(shift.max()) + 1)
    # the model's population mean, moved by how a segment's repeat customers compare with everyone's
    # (one segment, or none large enough: the model's own mean, as published)
    population = model.population_mean
    # everyone's mean over the rows, not over the segments' sums: the same float however the
    # segments are numbered
    overall = float(np.asarray(m, dtype=float)[repeat].sum()) / counts.sum() if counts.sum() else 0.0
    ratio = np.where((counts >= MIN_REPEAT_CUSTOMERS) & (overall > 0), sums / np.maximum(counts, 1) / overall, 1.0)
    prior = (population * ratio)[shift]
    weight = model.p * x_eff / (model.p * x_eff + model.q - 1)
    return np.where(x_eff > 0, weight * m_eff + (1 - weight) * prior, prior)


def compute_clv(
    rfm: pd.DataFrame,
    margins: pd.DataFrame,
    costs: pd.DataFrame,
    *,
    as_of: date,
    unit: str = "week",
    horizon_months: int = 36,
    annual_discount_rate: float = 0.10,
    min_repeat_customers: int = 50,
    models: tuple[BGNBD, GammaGamma] | None = None,
    fitted_bgnbd: BGNBD | None = None,
) -> CLVResult:
    """CLV of every customer in ``rfm`` (``data.queries.customer_rfm`` with margin values).

    ``margins`` has ``customer_id`` and ``margin`` (margin to date, refunds included); ``costs``
    has ``customer_id``, ``tickets``, ``service_cost`` and ``acquisition_cost``. The models are
    fitted on all the customers given: pass every customer, filter the result. ``models``: both
    fitted elsewhere (at a later date), only evaluated here; ``fitted_bgnbd``: the BG/NBD already
    fitted on these very customers at ``as_of`` (the same fit, made once), the Gamma-Gamma fitted here.
    """
    summary = rfm_summary(rfm, as_of, unit)
    if len(summary) == len(rfm):  # every customer had bought by as_of (always so from a day history)
        base = rfm.reset_index(drop=True)
    else:
        base = rfm.set_index("customer_id").loc[summary["customer_id"]].reset_index()
    table = pd.concat([base, summary[["x", "t_x", "T"]].reset_index(drop=True)], axis=1)
    table["first_purchase_margin"] = table["first_value"]
    if "previous_purchase" not in table:
        table["previous_purchase"] = pd.NaT
    ids = table["customer_id"].to_numpy()

    def aligned(frame: pd.DataFrame) -> bool:
        """Rows already in the table's order (a day history returns them so): no join needed."""
        return len(frame) == len(ids) and bool(np.array_equal(frame["customer_id"].to_numpy(), ids))

    if aligned(margins):
        table["margin_to_date"] = margins["margin"].to_numpy()
    else:
        table = table.merge(margins[["customer_id", "margin"]], on="customer_id", how="left")
        table = table.rename(columns={"margin": "margin_to_date"})
    cost_columns = ["tickets", "service_cost", "acquisition_cost"]
    if aligned(costs):
        for col in cost_columns:
            table[col] = costs[col].to_numpy()
    else:
        table = table.merge(costs[["customer_id", *cost_columns]], on="customer_id", how="left")
    table = table.fillna({"margin_to_date": 0.0, "tickets": 0, "service_cost": 0.0, "acquisition_cost": 0.0})
    table["historical_clv"] = table["margin_to_date"] - table["service_cost"] - table["acquisition_cost"]

    bgnbd: BGNBD | None = None
    gamma_gamma: GammaGamma | None = None
    notice = reason = None
    unvalued = 0
    if models is not None:  # fitted elsewhere (e.g. at a later date): evaluate only
        bgnbd, gamma_gamma = models
    else:
        try:
            bgnbd = fitted_bgnbd or fit_bgnbd(summary, min_repeat_customers=min_repeat_customers)
            gamma_gamma = fit_gamma_gamma(summary, min_repeat_customers=min_repeat_customers)
            _ = gamma_gamma.population_mean
        except ModelError as exc:
            bgnbd = gamma_gamma = None
            notice, reason = str(exc), exc.reason
    x, t_x, T = (summary[c].to_numpy() for c in ("x", "t_x", "T"))
    if bgnbd is not None and gamma_gamma is not None:
        month = (365.25 / 12) / TIME_UNITS[unit]
        table["p_alive"] = bgnbd.p_alive(x, t_x, T)
        expected = expected_purchases_by_curve(bgnbd, 12 * month, x, t_x, T)
        table["expected_purchases_12m"] = np.where(np.isfinite(expected), expected, np.nan)
        segment = pd.factorize(table["segment"].to_numpy())[0]
        value = _expected_margin(
            gamma_gamma, x, summary["m"].to_numpy(), table["first_value"].to_numpy(dtype=float), segment
        )
        table["expected_margin_per_purchase"] = value
        residual = discounted_residual_value(
            bgnbd,
            summary,
            value,
            horizon_months=horizon_months,
            annual_discount_rate=annual_discount_rate,
            unit_days=TIME_UNITS[unit],
        )
        # a history far outside the fitted population (hundreds of purchase days) can overflow the
        # model's formulas: such a customer is valued on their history alone, and counted
        unvalued = int((~np.isfinite(residual)).sum())
        table["residual_clv"] = _finite_or_zero(residual)
    else:
        table["p_alive"] = rhythm_p_alive(x, t_x, T, table["segment"].to_numpy())
        table["expected_purchases_12m"] = np.nan
        table["expected_margin_per_purchase"] = np.nan
        table["residual_clv"] = 0.0
    table["total_clv"] = table["historical_clv"] + table["residual_clv"]
    return CLVResult(
        table=table[list(CLV_COLUMNS)],
        bgnbd=bgnbd,
        gamma_gamma=gamma_gamma,
        unit=unit,
        notice=notice,
        reason=reason,
        unvalued=unvalued,
    )


def _finite_or_zero(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, 0.0)


def total_clv_of(
    state: HistoryState,
    models: tuple[BGNBD, GammaGamma] | None,
    *,
    unit: str,
    horizon_months: int,
    annual_discount_rate: float,
    segments: np.ndarray | None = None,
) -> np.ndarray:
    """The ``total_clv`` column ``compute_clv`` gives for the customers of ``state`` with these
    (already fitted) models — the same arithmetic on arrays, without the table: what the stage
    rules of an earlier date need. ``models`` None: no residual value; ``segments``: each
    customer's segment code (the expected margin is weighed against the segment's)."""

    def zero_nan(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        return np.where(np.isnan(values), 0.0, values)

    historical = zero_nan(state.margin) - zero_nan(state.service_cost) - zero_nan(state.acquisition_cost)
    if models is None:
        return historical + 0.0
    bgnbd, gamma_gamma = models
    days = TIME_UNITS[unit]
    x = state.purchase_days.astype(float) - 1
    first_value = np.asarray(state.first_value, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(x > 0, (np.asarray(state.total_value, dtype=float) - first_value) / np.where(x > 0, x, 1), 0.0)
    summary = {
        "x": x,
        "t_x": (state.last_day - state.first_day).astype(float) / days,
        "T": (state.day - state.first_day).astype(float) / days,
    }
    value = _expected_margin(gamma_gamma, x, m, first_value, segments)
    residual = discounted_residual_value(
        bgnbd,
        summary,
        value,
        horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
        unit_days=days,
    )
    return historical + _finite_or_zero(residual)


_SPAN = np.int64(1 << 32)  # sort key = customer code × span + day number


def _day_numbers(values: pd.Series) -> np.ndarray:
    return np.asarray(pd.to_datetime(values).to_numpy().astype("datetime64[D]").astype(np.int64))


def _index_type(rows: int) -> type[np.signedinteger[Any]]:
    """The integer type of a position among ``rows`` (a million customers' positions: 4 MB, not 8)."""
    return np.int32 if rows < 2**31 else np.int64


def _starts(sorted_codes: np.ndarray, n: int) -> np.ndarray:
    """For each code, the index of its first row in ``sorted_codes`` (-1 where it has none)."""
    start = np.full(n, -1, dtype=_index_type(len(sorted_codes)))
    if len(sorted_codes):
        first = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
        start[sorted_codes[first]] = first
    return start


def _sum_between(cumulative: np.ndarray, start: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Σ rows start..last from running sums (rows may be 2-D: one column per measure)."""
    before = np.where((start > 0)[(...,) + (None,) * (cumulative.ndim - 1)], cumulative[np.maximum(start - 1, 0)], 0)
    return np.asarray(cumulative[last] - before)


def _sum_before(cumulative: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The running sums just before rows ``start`` (0 before the first row): what ``_sum_between``
    takes off."""
    return np.asarray(np.where(start > 0, cumulative[np.maximum(start - 1, 0)], 0))


def sorted_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(values, sort=True)`` (-1: none; labels sorted by their text, a categorical's
    too, whatever the order of its categories): from a categorical's codes where ``values`` is one,
    so a million customers' labels are not hashed again; pandas' own text coded as it is held,
    without a Python string per value."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.na_value is np.nan:
        codes, labels = pd.factorize(values, sort=True)
        return np.asarray(codes), pd.Index(labels)
    if not isinstance(values.dtype, pd.CategoricalDtype):
        codes, labels = pd.factorize(values.to_numpy(), sort=True)
        return np.asarray(codes), pd.Index(labels)
    own = values.cat.codes.to_numpy()
    present = np.flatnonzero(np.bincount(own[own >= 0], minlength=len(values.cat.categories)))
    labels = values.cat.categories.to_numpy(dtype=object)[present]
    order = np.argsort(labels, kind="stable")
    remap = np.full(len(values.cat.categories) + 1, -1, dtype=np.int32)  # the last: none (-1)
    remap[present[order]] = np.arange(len(present))
    return remap[own], pd.Index(labels[order])


@dataclass(frozen=True)
class DayHistory:
    """Day-level history prepared once — sorted by customer and day, with running sums — so that
    the CLV inputs at any date are a few binary searches (the lifecycle page needs a dozen dates)."""

    ids: np.ndarray  # customer id of each code
    dims: pd.DataFrame  # segment, region, channel of each code (of its first purchase day)
    p_day: np.ndarray  # purchase days: day numbers, running purchase value
    p_cum: np.ndarray
    p_start: np.ndarray
    a_day: np.ndarray  # every order day (refunds too): day numbers, running margin, and the
    a_cum: np.ndarray  # purchase days up to and including it (a count: the last purchase's row,
    a_bought: np.ndarray  # plus one)
    a_start: np.ndarray
    t_key: np.ndarray  # ticket days: running tickets and service cost
    t_cum: np.ndarray
    t_start: np.ndarray
    campaign: np.ndarray  # by code: acquisition campaign and cost
    acquisition_cost: np.ndarray

    @classmethod
    def build(cls, days: pd.DataFrame, tickets: pd.DataFrame, acquisition: pd.DataFrame) -> DayHistory:
        """From ``data.queries.customer_days``, ``ticket_days`` and the acquisition columns of
        ``customer_costs`` (``customer_id``, ``campaign_id``, ``acquisition_cost``)."""
        everyone = pd.concat(
            [days["customer_id"], tickets["customer_id"], acquisition["customer_id"]], ignore_index=True
        )
        codes, ids = pd.factorize(everyone)
        n = len(ids)
        n_days, n_tickets = len(days), len(tickets)
        d_code, t_code, a_code = codes[:n_days], codes[n_days : n_days + n_tickets], codes[n_days + n_tickets :]

        day = _day_numbers(days["order_date"]) if n_days else np.zeros(0, dtype=np.int64)
        order = np.lexsort((day, d_code))
        d_code, day = d_code[order], day[order]
        bought = days["purchases"].to_numpy()[order] > 0
        p_start = _starts(d_code[bought], n)
        first_rows = days.iloc[order[bought]]
        dims = pd.DataFrame(index=range(n), columns=["segment", "region", "channel"], dtype=object)
        has = np.flatnonzero(p_start >= 0)
        for col in dims.columns:
            dims.loc[has, col] = first_rows[col].astype(object).to_numpy()[p_start[has]]

        t_day = _day_numbers(tickets["opened_at"]) if n_tickets else np.zeros(0, dtype=np.int64)
        t_order = np.lexsort((t_day, t_code))
        campaign = np.full(n, None, dtype=object)
        cost = np.zeros(n)
        campaign[a_code] = acquisition["campaign_id"].to_numpy()
        cost[a_code] = acquisition["acquisition_cost"].to_numpy(dtype=float)
        return cls.from_arrays(
            ids=np.asarray(ids, dtype=object),
            dims=dims,
            code=d_code,
            day=day,
            purchases=days["purchases"].to_numpy()[order],
            purchase_value=days["purchase_value"].to_numpy(dtype=float)[order],
            day_margin=days["day_margin"].to_numpy(dtype=float)[order],
            t_code=t_code[t_order],
            t_day=t_day[t_order],
            t_values=tickets[["tickets", "service_cost"]].to_numpy(dtype=float)[t_order],
            campaign=campaign,
            acquisition_cost=cost,
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        ids: np.ndarray,
        dims: pd.DataFrame,
        code: np.ndarray,
        day: np.ndarray,
        purchases: np.ndarray,
        purchase_value: np.ndarray,
        day_margin: np.ndarray,
        t_code: np.ndarray,
        t_day: np.ndarray,
        t_values: np.ndarray,
        campaign: np.ndarray,
        acquisition_cost: np.ndarray,
    ) -> DayHistory:
        """From per-customer arrays (``ids``, ``dims``: segment, region, channel, ``campaign``,
        ``acquisition_cost``, indexed by customer code) and day rows sorted by code then day: order
        days (``purchases``, the purchases' ``purchase_value``, the ``day_margin`` with refunds) and
        ticket days (``t_values``: tickets and service cost)."""
        n = len(ids)
        code, day = np.asarray(code), np.asarray(day)  # (the caller's: held as they are, not copied)
        bought = np.asarray(purchases) > 0
        # purchase days up to each order day: the last purchase by a date is found from the last
        # order day by it (one count a date, not two; half the memory of a second key)
        a_bought = np.cumsum(bought, dtype=np.int32 if len(bought) < 2**31 else np.int64)
        t_code, t_day = np.asarray(t_code, dtype=np.int64), np.asarray(t_day, dtype=np.int64)
        return cls(
            ids=np.asarray(ids, dtype=object),
            dims=dims,
            p_day=day[bought].astype(np.int32),
            p_cum=np.cumsum(np.asarray(purchase_value, dtype=float)[bought]),
            p_start=_starts(code[bought], n),
            a_day=day,
            a_cum=np.cumsum(np.asarray(day_margin, dtype=float)),
            a_bought=a_bought,
            a_start=_starts(code, n),
            t_key=t_code * _SPAN + t_day,
            t_cum=np.cumsum(t_values, axis=0) if len(t_code) else np.zeros((0, 2)),
            t_start=_starts(t_code, n),
            campaign=campaign,
            acquisition_cost=np.asarray(acquisition_cost, dtype=float),
        )

    @cached_property
    def _columns(self) -> dict[str, Any]:
        """The per-customer columns as pandas arrays, made once: ``at`` takes rows of them. Segment,
        region and channel are categories of the sorted labels (``dim_categories``): a code per
        customer in every table made from the history, not a text (at a million customers about
        15 MB a column a table)."""
        columns = {"customer_id": pd.Series(self.ids).array, "campaign_id": pd.Series(self.campaign).array}
        for name, (codes, labels) in self.dim_categories.items():
            columns[name] = pd.Categorical.from_codes(codes, categories=labels)
        return columns

    @cached_property
    def dim_categories(self) -> dict[str, tuple[np.ndarray, pd.Index]]:
        """Each customer's segment, region and channel as a code into the sorted labels, made once:
        an earlier date's table holds a code per customer, not a text."""
        return {name: sorted_codes(self.dims[name]) for name in ("segment", "region", "channel")}

    @property
    def segment_codes(self) -> np.ndarray:
        """Each customer's segment as a number (-1: none): the stage rules group by it."""
        return self.dim_categories["segment"][0]

    @cached_property
    def _buyers(self) -> dict[str, np.ndarray]:
        """Per customer with a purchase, in code order, what no date changes: the code, the first
        purchase's row, day and value, the running sums before the customer's first rows, the first
        ticket row and the acquisition cost. Made once: ``state_at`` then gathers from the
        customers' day rows only what a date moves (at a million customers, 0.24 → 0.1 s a date)."""
        code = self._buyer_codes
        start = self.p_start[code]
        a_start, t_start = self.a_start[code], self.t_start[code]
        t_before = np.zeros((len(code), 2))
        has = t_start > 0  # (with tickets, and not the first customer's)
        t_before[has] = self.t_cum[t_start[has] - 1]
        fixed = {
            "code": code,
            "key": code * _SPAN,
            "start": start,
            "first_day": self.p_day[start],
            "first_value": _sum_between(self.p_cum, start, start),
            "p_before": _sum_before(self.p_cum, start),
            "a_before": _sum_before(self.a_cum, a_start),
            "t_start": t_start,
            "t_before": t_before,
            "acquisition_cost": self.acquisition_cost[code],
        }
        for values in fixed.values():
            values.setflags(write=False)  # handed out as they are where every customer had bought
        return fixed

    @cached_property
    def _buyer_codes(self) -> np.ndarray:
        """The codes of the customers with a purchase, in order."""
        return np.flatnonzero(self.p_start >= 0).astype(_index_type(len(self.p_start)))

    @cached_property
    def _runs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each customer with order days starts among the rows (in code order, so in row
        order: a date's order days per customer are counted over these runs of rows), which run is
        each buyer's, and each buyer's first row."""
        code = self._buyer_codes
        rowed = np.flatnonzero(self.a_start >= 0)
        return self.a_start[rowed], np.searchsorted(rowed, code).astype(code.dtype), self.a_start[code]

    def state_at(self, as_of: date) -> HistoryState:
        """Each customer's purchases, margin and tickets by ``as_of``, as arrays (the customers with
        a purchase by then, in code order): a count of order days and a few binary searches over
        the running sums."""
        m = np.int64((pd.Timestamp(as_of) - pd.Timestamp(0)).days)
        fixed = self._buyers
        runs, run, a_start = self._runs
        key = fixed["key"] + m
        # the last order day by then: each customer's days are sorted, so it is the customer's
        # first row plus the count of their days by then, less one (the row before their first
        # where they have none by then)
        by_then = np.add.reduceat((self.a_day <= m).view(np.int8), runs, dtype=np.int32) if len(self.a_day) else runs
        a_last = a_start + by_then[run] - 1
        last = self.a_bought[np.maximum(a_last, 0)].astype(np.int64) - 1  # the last purchase day
        last[a_last < 0] = -1
        bought = last >= fixed["start"]
        rows: slice | np.ndarray = slice(None) if bought.all() else np.flatnonzero(bought)
        got = {name: values[rows] for name, values in fixed.items()} if isinstance(rows, np.ndarray) else fixed
        key, last, a_last = key[rows], last[rows], a_last[rows]
        t_start = got["t_start"]
        t_last = np.searchsorted(self.t_key, key, side="right") - 1
        with_tickets = (t_start >= 0) & (t_last >= t_start)
        served = np.zeros((len(last), 2))
        if with_tickets.any():
            served[with_tickets] = self.t_cum[t_last[with_tickets]] - got["t_before"][with_tickets]
        return HistoryState(
            day=int(m),
            code=got["code"],
            first_day=got["first_day"],
            last_day=self.p_day[last],
            previous_day=self.p_day[np.maximum(last - 1, 0)],
            purchase_days=last - got["start"] + 1,
            total_value=self.p_cum[last] - got["p_before"],
            first_value=got["first_value"],
            margin=self.a_cum[a_last] - got["a_before"],
            tickets=served[:, 0].round().astype(int),
            service_cost=served[:, 1],
            acquisition_cost=got["acquisition_cost"],
        )

    def at(self, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """What ``customer_rfm``, ``customer_summary`` (the margin) and ``customer_costs`` return
        at ``as_of``, for the customers with a purchase by then."""
        state = self.state_at(as_of)
        code = state.code

        def when(day: np.ndarray) -> pd.Series:
            return pd.Series(day.astype("datetime64[D]").astype("datetime64[us]"))

        previous = when(state.previous_day).where(pd.Series(state.purchase_days >= 2))
        column = self._columns
        ids = column["customer_id"].take(code)
        rfm = pd.DataFrame(
            {
                "customer_id": ids,
                "segment": column["segment"].take(code),
                "region": column["region"].take(code),
                "channel": column["channel"].take(code),
                "first_purchase": when(state.first_day),
                "last_purchase": when(state.last_day),
                "previous_purchase": previous,
                "purchase_days": state.purchase_days,
                "total_value": state.total_value,
                "first_value": state.first_value,
            }
        )
        margins = pd.DataFrame({"customer_id": ids, "margin": state.margin})
        costs = pd.DataFrame(
            {
                "customer_id": ids,
                "tickets": state.tickets,
                "service_cost": state.service_cost,
                "campaign_id": column["campaign_id"].take(code),
                "acquisition_cost": state.acquisition_cost,
            }
        )
        return rfm, margins, costs


@dataclass(frozen=True)
class HistoryState:
    """What each customer had done by a date (``DayHistory.state_at``): arrays in customer-code
    order, days as day numbers since 1970-01-01 (``previous_day`` means something where
    ``purchase_days`` ≥ 2)."""

    day: int
    code: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray
    previous_day: np.ndarray
    purchase_days: np.ndarray
    total_value: np.ndarray
    first_value: np.ndarray
    margin: np.ndarray
    tickets: np.ndarray
    service_cost: np.ndarray
    acquisition_cost: np.ndarray


def inputs_at(
    days: pd.DataFrame, tickets: pd.DataFrame, acquisition: pd.DataFrame, as_of: date
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three inputs of ``compute_clv`` as of ``as_of``, from day-level history (one date; for
    many, build a ``DayHistory`` once and call ``at``).

    ``days`` has one row per customer and order day (``data.queries.customer_days``): ``customer_id``,
    ``segment``, ``region``, ``channel``, ``order_date``, ``purchases``, ``purchase_value`` and
    ``day_margin`` (refunds included); ``tickets`` has ``customer_id``, ``opened_at``, ``tickets``,
    ``service_cost``; ``acquisition`` has ``customer_id``, ``campaign_id``, ``acquisition_cost``.
    Returns, for the customers with a purchase by ``as_of``, what ``customer_rfm``,
    ``customer_summary`` (margin) and ``customer_costs`` return at ``as_of``.
    """
    return DayHistory.build(days, tickets, acquisition).at(as_of)


@dataclass(frozen=True)
class CLVHistogram:
    """Customers per band of total CLV, by segment: ``edges`` (``bins`` + 1, the top 5 % folded
    into the last band), ``counts`` per segment (in the order given by ``segments``) and the median."""

    edges: np.ndarray
    segments: list[str]
    counts: np.ndarray  # segments × bins
    median: float


def clv_histogram(table: pd.DataFrame, bins: int = 40) -> CLVHistogram:
    """``CLVHistogram`` of ``table`` (a CLV table, at least one row): counted here, so a chart
    carries ``bins`` numbers per segment, not every customer's value. Segments by name, the
    unassigned last."""
    values = table["total_clv"].to_numpy(dtype=float)
    cap = float(np.quantile(values, 0.95))
    low = float(min(values.min(), 0.0))
    edges = np.linspace(low, cap, bins + 1) if cap > low else np.array([low, low + 1.0])
    codes, names = pd.factorize(table["segment"].to_numpy(dtype=object))
    order = sorted(range(len(names)), key=lambda k: (names[k] == UNASSIGNED, str(names[k])))
    clipped = np.clip(values, low, edges[-1])
    counts = np.array([np.histogram(clipped[codes == k], bins=edges)[0] for k in order]).reshape(len(order), -1)
    return CLVHistogram(edges, [str(names[k]) for k in order], counts, float(table["total_clv"].median()))


def segment_clv(table: pd.DataFrame, by: str = "segment") -> pd.DataFrame:
    """Per group: ``customers``, mean ``historical_clv``, ``residual_clv``, ``total_clv``, mean
    ``acquisition_cost`` of the customers with one (``cac``) and ``clv_cac`` = mean CLV before
    acquisition cost of those customers ÷ their mean CAC (NaN where no customer has a CAC)."""
    columns = [by, "customers", "historical_clv", "residual_clv", "total_clv", "cac", "clv_cac"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    # one grouped pass over the few columns needed (a loop over the groups copied every column of
    # each group: a second per call at a million customers)
    slim = table[[by, "historical_clv", "residual_clv", "total_clv", "acquisition_cost"]]
    grouped = slim.groupby(by, sort=True)
    out = grouped[["historical_clv", "residual_clv", "total_clv"]].mean()
    out.insert(0, "customers", grouped.size())
    acquired = slim[slim["acquisition_cost"] > 0]
    by_acquired = acquired.groupby(by, sort=True)
    cac = by_acquired["acquisition_cost"].mean().reindex(out.index)
    before_cac = (acquired["total_clv"] + acquired["acquisition_cost"]).groupby(acquired[by], sort=True).mean()
    out["cac"] = cac.astype(float)
    out["clv_cac"] = (before_cac.reindex(out.index) / cac.where(cac != 0)).astype(float)
    return out.rename_axis(by).reset_index()[columns]


@dataclass(frozen=True)
class HoldoutCheck:
    """Fit on the history up to a date, predict the rest, compare with what happened."""

    actual: int
    predicted: float
    holdout_length: float
    by_frequency: pd.DataFrame  # x_bucket, customers, actual (mean), predicted (mean)
    per_customer: pd.DataFrame  # customer_id, actual, predicted
    mean_absolute_error: float


def holdout_check(
    calibration: pd.DataFrame,
    full: pd.DataFrame,
    *,
    calibration_end: date,
    end: date,
    unit: str = "week",
    min_repeat_customers: int = 50,
    model: BGNBD | None = None,
) -> HoldoutCheck:
    """Fit BG/NBD on ``calibration`` (``customer_rfm`` as of ``calibration_end``) and predict each
    customer's repeat purchases up to ``end``; ``full`` is ``customer_rfm`` as of ``end``.
    ``model``: that fit, made already (the CLV at ``calibration_end`` fits the same).

    Raises ``ModelError`` when the calibration history is too short to fit."""
    if end <= calibration_end:
        raise ValueError("The holdout must end after the calibration period.")
    summary = rfm_summary(calibration, calibration_end, unit)
    model = model or fit_bgnbd(summary, min_repeat_customers=min_repeat_customers)
    length = (pd.Timestamp(end) - pd.Timestamp(calibration_end)).days / TIME_UNITS[unit]
    predicted = model.expected_purchases(length, summary["x"], summary["t_x"], summary["T"])
    later = full.set_index("customer_id")["purchase_days"]
    before = calibration.set_index("customer_id")["purchase_days"]
    ids = summary["customer_id"]
    actual = (later.reindex(ids).fillna(0).to_numpy() - before.reindex(ids).to_numpy()).clip(min=0)
    per_customer = pd.DataFrame(
        {"customer_id": ids.to_numpy(), "x": summary["x"].to_numpy(), "actual": actual, "predicted": predicted}
    )
    bucket = per_customer["x"].clip(upper=7).astype(int)
    by_frequency = (
        per_customer.assign(x_bucket=bucket)
        .groupby("x_bucket")
        .agg(customers=("customer_id", "size"), actual=("actual", "mean"), predicted=("predicted", "mean"))
        .reset_index()
    )
    return HoldoutCheck(
        actual=int(actual.sum()),
        predicted=float(predicted.sum()),
        holdout_length=float(length),
        by_frequency=by_frequency,
        per_customer=per_customer,
        mean_absolute_error=float(np.mean(np.abs(actual - predicted))),
    )


def holdout_split(first: date, as_of: date) -> date | None:
    """The calibration end for the model check: the last third of the history, at most 12 months,
    is held out. None when the history is shorter than six months."""
    days = (as_of - first).days
    if days < 183:
        return None
    held = min(days // 3, 365)
    return as_of - pd.Timedelta(days=held).to_pytimedelta()


def chosen_mask(
    table: pd.DataFrame, segments: tuple[str, ...] = (), regions: tuple[str, ...] = (), channels: tuple[str, ...] = ()
) -> np.ndarray | None:
    """Per row: within the chosen segments, regions and channels; None when nothing is chosen (every
    row). A column of categories is matched by its codes: a lookup per row, no text compared."""
    mask: np.ndarray | None = None
    for column, chosen in (("segment", segments), ("region", regions), ("channel", channels)):
        if not chosen:
            continue
        values = table[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            wanted = np.append(values.cat.categories.isin(list(chosen)), False)  # code -1 (missing): last
            hit = wanted[values.cat.codes.to_numpy()]
        else:
            hit = values.isin(chosen).to_numpy(dtype=bool)
        mask = hit if mask is None else mask & hit
    return mask


def select_customers(
    table: pd.DataFrame, segments: tuple[str, ...] = (), regions: tuple[str, ...] = (), channels: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The rows of the chosen segments, regions and channels (an empty choice keeps all)."""
    mask = chosen_mask(table, segments, regions, channels)
    return table.copy(deep=False) if mask is None else table[mask]


def clv_overview(table: pd.DataFrame) -> dict[str, float]:
    """Headline figures of a set of customers: ``customers``, ``avg_clv``, ``avg_historical``,
    ``future_margin`` (Σ residual CLV), ``alive`` (Σ P(alive)) and ``clv_cac`` (customers with an
    acquisition cost: mean CLV before that cost ÷ mean cost; NaN when there are none)."""
    acquired = table[table["acquisition_cost"] > 0]
    cac = float(acquired["acquisition_cost"].mean()) if len(acquired) else float("nan")
    before = float((acquired["total_clv"] + acquired["acquisition_cost"]).mean()) if len(acquired) else float("nan")
    return {
        "customers": float(len(table)),
        "avg_clv": float(table["total_clv"].mean()) if len(table) else float("nan"),
        "avg_historical": float(table["historical_clv"].mean()) if len(table) else float("nan"),
        "future_margin": float(table["residual_clv"].sum()),
        "alive": float(table["p_alive"].sum()),
        "clv_cac": before / cac if len(acquired) and cac > 0 else float("nan"),
    }
