"""Customer lifetime value: BG/NBD for the number of purchases, Gamma-Gamma for their value.

Both are fitted by maximum likelihood with analytic gradients (scipy L-BFGS-B on log-parameters).
References:
  Fader, Hardie & Lee (2005a), "Counting Your Customers the Easy Way: An Alternative to the
  Pareto/NBD Model", Marketing Science 24(2) — equations (6), (10), (13).
  Fader, Hardie & Lee (2005b), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis",
  Journal of Marketing Research 42(4) — the Gamma-Gamma spend model, equation (5).
  Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from threadpoolctl import threadpool_limits

__all__ = [
    "BGNBD",
    "GammaGamma",
    "ModelError",
    "discounted_purchases",
    "discounted_residual_value",
    "fit_bgnbd",
    "fit_gamma_gamma",
]

MIN_REPEAT_CUSTOMERS = 50


class ModelError(ValueError):
    """The model cannot be fitted on this data. ``reason``: ``few_repeat`` (too few customers bought
    twice), ``no_purchases`` or ``no_fit`` (the fit did not converge, or gave no usable mean)."""

    def __init__(self, message: str, reason: str = "no_fit") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class BGNBD:
    """A fitted BG/NBD model; time in the unit of the summary it was fitted on."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int
    repeat_customers: int

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(alive | x, t_x, T), equation (13) of FHL 2005a; 1 for customers with no repeat."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        with np.errstate(divide="ignore", over="ignore"):
            log_ratio = (
                math.log(self.a)
                - np.log(self.b + np.maximum(x, 1) - 1)
                + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
            )
            odds = np.where(x > 0, np.exp(log_ratio), 0.0)
        return 1.0 / (1.0 + odds)

    def expected_purchases(self, t: float | np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: purchases expected in the next ``t`` time units, equation (10)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        return np.asarray(self.expected_numerator(t, x, T) / (1 + self.dropout_odds(x, t_x, T)))

    def expected_numerator(self, t: float | np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """The numerator of equation (10): it depends on ``x`` and ``T`` only, not on ``t_x``."""
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        t = np.asarray(t, dtype=float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        if abs(a - 1) < 1e-9:
            a = 1 + 1e-9  # equation (10) has a removable singularity at a = 1
        z = t / (alpha + T + t)
        # a history far outside the population (hundreds of purchases) overflows: inf or NaN, which
        # the callers turn into "not valued by the model"
        with np.errstate(over="ignore", invalid="ignore"):
            hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
            return np.asarray(
                (a + b + x - 1) / (a - 1) * (1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp)
            )

    def dropout_odds(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """The odds that the customer has already left: the denominator of equation (10) minus 1."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(over="ignore"):
            return np.asarray(
                np.where(
                    x > 0,
                    a / (b + np.maximum(x, 1) - 1) * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x))),
                    0.0,
                )
            )

    def population_expected(self, t: float | np.ndarray) -> np.ndarray:
        """E[X(t)] for a new customer, equation (9)."""
        t = np.asarray(t, dtype=float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return np.asarray((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp))


@dataclass(frozen=True)
class GammaGamma:
    """A fitted Gamma-Gamma model of the value per purchase."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    customers: int

    def expected_value(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """E[M | x, m̄]: a weighted mean of the population mean and the customer's own mean."""
        x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
        population = self.population_mean
        own = self.p * (self.gamma + x * m) / (self.p * x + self.q - 1)
        return np.where(x > 0, own, population)

    @property
    def population_mean(self) -> float:
        if self.q <= 1:
            raise ModelError("The fitted q ≤ 1: the mean value per purchase is undefined.")
        return self.p * self.gamma / (self.q - 1)


def _distinct_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For identical rows across ``columns``: the index of each distinct row's first occurrence,
    and for every row the number of its distinct row. Hash-based (pandas factorize), not a sort:
    at a million customers this is the difference between 0.05 s and 0.4 s."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(column)
        key = key * len(uniques) + codes
    inverse, distinct = pd.factorize(key)
    first = np.zeros(len(distinct), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(key))[::-1]
    return first, inverse


def _grouped(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Identical rows once, with their counts: repeated summaries are evaluated once."""
    if len(columns[0]) == 0:
        return [np.asarray(c, dtype=float) for c in columns], np.zeros(0)
    first, inverse = _distinct_rows(*columns)
    return [np.asarray(c, dtype=float)[first] for c in columns], np.bincount(inverse).astype(float)


_BLAS_ONCE = threading.Lock()
_blas_held = False


def _one_blas_thread() -> None:
    """Hold BLAS to one thread for the rest of the process, the first time a model is fitted.

    A limit per fit (threadpoolctl's ``with`` block) was undone by whichever fit ended first: with
    two fits on two threads (a page and a helper), the other went on with as many BLAS threads as
    cores, its long dot products summed in another order (tested). Seven fits started at once gave
    other parameters in the last digits in one run of twenty; with one thread for good, none of
    twenty. (The "line search did not converge" warnings seen when fits run at once come from
    Python's warning filters, which threads share: scipy silences that warning of its fallback
    search for its own block, and another thread's block ending lets it through. The fit is not
    changed by it.)"""
    global _blas_held
    if _blas_held:
        return
    with _BLAS_ONCE:
        if not _blas_held:
            threadpool_limits(limits=1, user_api="blas")
            _blas_held = True


def _minimize(objective: Any, start: np.ndarray) -> optimize.OptimizeResult:
    """Quasi-Newton (BFGS) on the log-parameters, which are unconstrained; L-BFGS-B if it fails.

    With three or four parameters, BFGS's own overhead is a fraction of L-BFGS-B's (measured:
    0.05 s against 0.15 s for the same 25 evaluations), and both reach the same optimum.

    The gradient's tolerance, 1e-8 per customer, is about where the sums' rounding stops the line
    search: below it, BFGS spent 60–100 more evaluations on steps it could not take, for the same
    parameters to the last digit (measured at 100k and 1M customers).

    BLAS is held to one thread (``_one_blas_thread``): the dot products are short, and on a busy
    machine BLAS threads spin waiting for a core (measured: the fit took 3.5–4.7 s instead of
    0.9–1.4 s)."""
    _one_blas_thread()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = optimize.minimize(objective, start, jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 2000})
        if not result.success and not (np.isfinite(result.fun) and np.linalg.norm(result.jac) < 1e-6):
            result = optimize.minimize(
                objective,
                result.x if np.all(np.isfinite(result.x)) else start,
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": 2000, "gtol": 1e-12, "ftol": 1e-15},
            )
    return result


@dataclass(frozen=True)
class _BGNBDData:
    """The BG/NBD likelihood's inputs, each distinct value once: ``xs`` (every customer's ``x``)
    with weights ``xs_w``; ``t0`` (``T`` of the customers who never bought again) with ``t0_w``;
    the repeat customers' distinct (x, t_x, T) rows with weights ``w``, each row as positions in
    the distinct values ``x_u``, ``tx_u`` and ``T_u`` (dates make ``t_x`` and ``T`` whole days:
    a thousand values for a million customers, so each logarithm is taken once per value)."""

    xs: np.ndarray
    xs_w: np.ndarray
    t0: np.ndarray
    t0_w: np.ndarray
    x_u: np.ndarray
    tx_u: np.ndarray
    T_u: np.ndarray
    ix: np.ndarray
    itx: np.ndarray
    iT: np.ndarray  # noqa: N815
    x: np.ndarray
    w: np.ndarray

    @classmethod
    def of(cls, x_all: np.ndarray, t_x_all: np.ndarray, T_all: np.ndarray, grouped: bool = True) -> _BGNBDData:
        """From every customer's ``x``, ``t_x`` and ``T``; ``grouped``: identical rows once, with
        their counts (the fit), else every row with weight 1 (the same sum, term by term)."""
        repeat = x_all > 0
        if grouped:
            (xs,), xs_w = _grouped(x_all)
            (t0,), t0_w = _grouped(T_all[~repeat])
            (x, t_x, T), w = _grouped(x_all[repeat], t_x_all[repeat], T_all[repeat])
        else:
            xs, xs_counts = np.unique(x_all, return_counts=True)
            t0, t0_counts = np.unique(T_all[~repeat], return_counts=True)
            xs_w, t0_w = xs_counts.astype(float), t0_counts.astype(float)
            x, t_x, T = x_all[repeat], t_x_all[repeat], T_all[repeat]
            w = np.ones(len(x))
        # a NaN stays a value of its own (the likelihood is then NaN, as a NaN input makes it)
        ix, x_u = pd.factorize(x, use_na_sentinel=False)
        itx, tx_u = pd.factorize(t_x, use_na_sentinel=False)
        iT, T_u = pd.factorize(T, use_na_sentinel=False)
        return cls(
            xs=np.asarray(xs, dtype=float),
            xs_w=np.asarray(xs_w, dtype=float),
            t0=np.asarray(t0, dtype=float),
            t0_w=np.asarray(t0_w, dtype=float),
            x_u=np.asarray(x_u, dtype=float),
            tx_u=np.asarray(tx_u, dtype=float),
            T_u=np.asarray(T_u, dtype=float),
            ix=np.asarray(ix, dtype=np.intp),
            itx=np.asarray(itx, dtype=np.intp),
            iT=np.asarray(iT, dtype=np.intp),
            x=np.asarray(x, dtype=float),
            w=np.asarray(w, dtype=float),
        )


def _bgnbd_negll(log_params: np.ndarray, data: _BGNBDData) -> tuple[float, np.ndarray]:
    """Minus the BG/NBD log-likelihood (equation 6 of FHL 2005a) and its gradient in log-params."""
    params = np.exp(log_params)
    if not np.all(np.isfinite(params)) or np.any(params <= 0):
        return math.inf, np.zeros_like(log_params)  # out of range: the line search steps back
    r, alpha, a, b = params
    xs, xs_w, t0, t0_w = data.xs, data.xs_w, data.t0, data.t0_w
    # Terms that depend on x only (few distinct values): computed once per value of x.
    a1 = special.gammaln(r + xs) - special.gammaln(r) + r * math.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + xs) - special.gammaln(b) - special.gammaln(a + b + xs)
    ll = float(np.dot(xs_w, a1 + a2))
    d_r = float(np.dot(xs_w, special.digamma(r + xs) - special.digamma(r) + math.log(alpha)))
    d_alpha = float(xs_w.sum()) * r / alpha
    d_a = float(np.dot(xs_w, special.digamma(a + b) - special.digamma(a + b + xs)))
    d_b = float(
        np.dot(
            xs_w, special.digamma(a + b) + special.digamma(b + xs) - special.digamma(b) - special.digamma(a + b + xs)
        )
    )
    # Customers with no repeat purchase: the likelihood term is −r·ln(α+T), by distinct T.
    if len(t0):
        log_t0 = np.log(alpha + t0)
        ll -= r * float(np.dot(t0_w, log_t0))
        d_r -= float(np.dot(t0_w, log_t0))
        d_alpha -= r * float(np.dot(t0_w, 1.0 / (alpha + t0)))
    # Repeat customers: log(exp(A3) + exp(A4)), with A3 = −(r+x)·ln(α+T) and
    # A4 = ln a − ln(b+x−1) − (r+x)·ln(α+t_x); the logarithms by distinct value.
    w = data.w
    if len(w):
        log_T, log_tx = np.log(alpha + data.T_u)[data.iT], np.log(alpha + data.tx_u)[data.itx]
        rx = r + data.x
        a3 = -rx * log_T
        a4 = (math.log(a) - np.log(b + data.x_u - 1))[data.ix] - rx * log_tx
        # log(exp(A3) + exp(A4)) = max(A3, A4) + log(1 + e) and the share of exp(A4) in the sum,
        # from one exponential e = exp(−|A4 − A3|) (``np.logaddexp`` and ``expit`` take one each and
        # were half of an evaluation at a million customers: 16 of 32 ms, now 7)
        d = a4 - a3
        e = np.exp(-np.abs(d))
        ll += float(np.dot(w, np.maximum(a3, a4) + np.log1p(e)))
        w4 = w * (np.where(d >= 0, 1.0, e) / (1.0 + e))  # each row's weight times the share of exp(A4)
        w3 = w - w4
        d_r -= float(np.dot(w3, log_T) + np.dot(w4, log_tx))
        d_alpha -= float(
            np.dot(np.bincount(data.iT, w3 * rx, len(data.T_u)), 1.0 / (alpha + data.T_u))
            + np.dot(np.bincount(data.itx, w4 * rx, len(data.tx_u)), 1.0 / (alpha + data.tx_u))
        )
        d_a += float(w4.sum()) / a
        d_b -= float(np.dot(np.bincount(data.ix, w4, len(data.x_u)), 1.0 / (b + data.x_u - 1)))
    grad = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return -ll, -grad


def fit_bgnbd(summary: pd.DataFrame, *, min_repeat_customers: int = MIN_REPEAT_CUSTOMERS) -> BGNBD:
    """Fit BG/NBD by maximum likelihood on ``x``, ``t_x``, ``T`` (``kpi.summary.rfm_summary``).

    Raises ``ModelError`` when fewer than ``min_repeat_customers`` customers bought twice, or when
    the optimiser does not converge.
    """
    for col in ("x", "t_x", "T"):
        if col not in summary.columns:
            raise ValueError(f"The summary lacks the column {col}.")
    x_all = summary["x"].to_numpy(dtype=float)
    t_x_all = summary["t_x"].to_numpy(dtype=float)
    T_all = summary["T"].to_numpy(dtype=float)
    if len(x_all) == 0:
        raise ModelError("No customer has bought: the model needs purchases.", "no_purchases")
    if np.any(x_all < 0) or np.any(t_x_all < 0) or np.any(t_x_all > T_all + 1e-9):
        raise ValueError("The summary needs x ≥ 0 and 0 ≤ t_x ≤ T for every customer.")
    repeat = x_all > 0
    n_repeat = int(repeat.sum())
    if n_repeat < min_repeat_customers:
        raise ModelError(
            f"Only {n_repeat} customers bought more than once (at least {min_repeat_customers} are needed "
            "for a reliable model).",
            "few_repeat",
        )
    data = _BGNBDData.of(x_all, t_x_all, T_all)
    scale = float(len(x_all))

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = _bgnbd_negll(theta, data)
        return value / scale, grad / scale

    start = np.log([1.0, max(float(np.mean(T_all)), 1e-3), 1.0, 1.0])
    result = _minimize(objective, start)
    if not np.isfinite(result.fun):
        raise ModelError(f"The BG/NBD fit did not converge: {result.message}")
    r, alpha, a, b = np.exp(result.x)
    return BGNBD(
        r=float(r),
        alpha=float(alpha),
        a=float(a),
        b=float(b),
        log_likelihood=float(-result.fun * scale),
        customers=len(x_all),
        repeat_customers=n_repeat,
    )


def bgnbd_log_likelihood(summary: pd.DataFrame, r: float, alpha: float, a: float, b: float) -> float:
    """The BG/NBD log-likelihood of given parameters (for checks and comparisons)."""
    x_all, t_x_all, T_all = (np.asarray(summary[c], dtype=float) for c in ("x", "t_x", "T"))
    data = _BGNBDData.of(x_all, t_x_all, T_all, grouped=False)
    value, _ = _bgnbd_negll(np.log([r, alpha, a, b]), data)
    return -value


def _gg_negll(log_params: np.ndarray, data: tuple[Any, ...]) -> tuple[float, np.ndarray]:
    """Minus the Gamma-Gamma log-likelihood (FHL 2005b, equation 5) and its gradient in log-params.

    The gamma-function terms depend on x only and are evaluated once per distinct x; the sums
    that do not depend on the parameters are computed once, before the fit."""
    params = np.exp(log_params)
    if not np.all(np.isfinite(params)) or np.any(params <= 0):
        return math.inf, np.zeros_like(log_params)  # out of range: the line search steps back
    p, q, g = params
    xs, xs_w, x, m, w, n, s_xlogm, s_logm, s_xlogx = data
    pxs = p * xs
    log_den = np.log(g + x * m)
    wx_logden = float(np.dot(w * x, log_den))
    w_logden = float(np.dot(w, log_den))
    ll = (
        float(np.dot(xs_w, special.gammaln(pxs + q) - special.gammaln(pxs)))
        - n * special.gammaln(q)
        + n * q * math.log(g)
        + p * s_xlogm
        - s_logm
        + p * s_xlogx
        - p * wx_logden
        - q * w_logden
    )
    psi = special.digamma(pxs + q)
    d_p = float(np.dot(xs_w * xs, psi - special.digamma(pxs))) + s_xlogm + s_xlogx - wx_logden
    d_q = float(np.dot(xs_w, psi)) - n * special.digamma(q) + n * math.log(g) - w_logden
    d_g = n * q / g - float(np.dot(w, (p * x + q) / (g + x * m)))
    return -ll, -np.array([d_p * p, d_q * q, d_g * g])


def fit_gamma_gamma(summary: pd.DataFrame, *, min_repeat_customers: int = MIN_REPEAT_CUSTOMERS) -> GammaGamma:
    """Fit Gamma-Gamma on the repeat buyers' ``x`` and ``m`` (mean value of their repeat purchases).

    Customers without repeat purchases, or with a non-positive mean, carry no information on the
    spend and are left out of the fit (the model needs positive values)."""
    for col in ("x", "m"):
        if col not in summary.columns:
            raise ValueError(f"The summary lacks the column {col}.")
    x_all, m_all = summary["x"].to_numpy(dtype=float), summary["m"].to_numpy(dtype=float)
    use = (x_all > 0) & (m_all > 0)
    if int(use.sum()) < min_repeat_customers:
        raise ModelError(
            f"Only {int(use.sum())} customers have repeat purchases of positive value "
            f"(at least {min_repeat_customers} are needed).",
            "few_repeat",
        )
    x, m = x_all[use], m_all[use]
    w = np.ones(len(x))
    (xs,), xs_w = _grouped(x)
    log_m = np.log(m)
    data = (xs, xs_w, x, m, w, float(len(x)), float(np.dot(x, log_m)), float(log_m.sum()), float(np.dot(x, np.log(x))))
    scale = float(len(x))

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = _gg_negll(theta, data)
        return value / scale, grad / scale

    start = np.log([1.0, 2.0, max(float(np.mean(m)), 1e-3)])
    result = _minimize(objective, start)
    if not np.isfinite(result.fun):
        raise ModelError(f"The Gamma-Gamma fit did not converge: {result.message}")
    p, q, g = np.exp(result.x)
    return GammaGamma(
        p=float(p), q=float(q), gamma=float(g), log_likelihood=float(-result.fun * scale), customers=int(scale)
    )


_EXACT_PAIRS = 5_000  # distinct (x, T) pairs computed exactly; above, interpolated on a grid
_GRID_POINTS = 65
#: per (model, name, x): the range of log(α + T) covered, the grid and the spline's coefficients
_SPLINES: dict[tuple[Any, ...], tuple[float, float, np.ndarray, np.ndarray]] = {}


def by_x_and_T(model: BGNBD, name: tuple[Any, ...], function: Any, x_all: np.ndarray, T_all: np.ndarray) -> np.ndarray:  # noqa: N802
    """``function(x, T)`` for every customer, computed once per distinct (x, T) pair; with many
    distinct pairs (large bases), for each x on a grid of T and interpolated. ``function`` gives one
    value per pair, or a row of values (one spline through all of them: cheaper than a spline each).

    ``function`` must depend on the model, x and T only (``name`` says which, for the cache), be
    computed pair by pair (a call on many pairs gives what calls on each would), and be smooth in
    log(α + T), as the numerator of equation (10) and its monthly sums are: 65 points and a cubic
    spline keep the relative error under 1e-7 (tested). The curves depend on the model and x only,
    not on the date: kept for the next call (the lifecycle page evaluates a dozen month ends with
    one model). Every x's grid is evaluated in one call of ``function`` and every spline is made
    and read at once (``_not_a_knot``, ``_spline_values``): scipy's CubicSpline, one per x, spent
    more time in its own checks than in the arithmetic."""
    first, inverse = _distinct_rows(x_all, T_all)
    x, T = x_all[first], T_all[first]
    if len(x) <= _EXACT_PAIRS:
        return np.asarray(function(x, T))[inverse]
    # ``function`` may give one value per pair or a row of values (e.g. one per month)
    width = np.shape(function(x[:1], T[:1]))[1:]
    per_pair = np.empty((len(x), *width))
    values, group = np.unique(x, return_inverse=True)
    order = np.argsort(group, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(group, minlength=len(values)))]
    logs = np.log(model.alpha + T)
    lows = np.minimum.reduceat(logs[order], bounds[:-1])
    highs = np.maximum.reduceat(logs[order], bounds[:-1])
    exact: list[np.ndarray] = []  # pairs computed one by one
    ready: dict[int, tuple[float, float, np.ndarray, np.ndarray]] = {}  # x's position: its spline
    build: list[tuple[int, float, float]] = []  # x's position and the range of its new spline
    for v, value in enumerate(values):
        rows = order[bounds[v] : bounds[v + 1]]
        if len(rows) <= _GRID_POINTS:  # few histories with this x: exactly, cheaper than a spline
            exact.append(rows)
            continue
        low, high = float(lows[v]), float(highs[v])
        cached = _SPLINES.get((model, *name, float(value)))
        if cached is not None and low >= cached[0] and high <= cached[1]:
            ready[v] = cached
            continue
        if cached is not None:  # widen to what is already known: month ends share ranges
            low, high = min(low, cached[0]), max(high, cached[1])
        if high - low < 1e-9:
            per_pair[rows] = function(np.full(1, value), T[rows][:1])[0]
            continue
        build.append((v, low, high))
    if build:
        at = np.asarray([v for v, _, _ in build])
        # T enters through α + T: a grid even in log(α + T), a cubic spline through it
        grids = np.linspace([lo for _, lo, _ in build], [hi for _, _, hi in build], _GRID_POINTS, axis=1)
        found = np.asarray(function(np.repeat(values[at], _GRID_POINTS), (np.exp(grids) - model.alpha).ravel()))
        found = found.reshape(len(at), _GRID_POINTS, -1)
        finite = np.isfinite(found).all(axis=(1, 2))
        coefficients = _not_a_knot(grids[finite], found[finite])
        if len(_SPLINES) > 20_000:
            _SPLINES.clear()
        for k, (v, low, high) in enumerate(build):
            if not finite[k]:  # an extreme history: each pair exactly
                exact.append(order[bounds[v] : bounds[v + 1]])
                continue
            j = int(np.count_nonzero(finite[:k]))
            made = (low, high, grids[k], coefficients[j])
            ready[v] = _SPLINES[(model, *name, float(values[v]))] = made
    if exact:
        rows = np.concatenate(exact)
        per_pair[rows] = function(x[rows], T[rows])
    if ready:
        at = np.fromiter(ready, dtype=np.int64, count=len(ready))
        rows = np.concatenate([order[bounds[v] : bounds[v + 1]] for v in at])
        spline = np.repeat(np.arange(len(at)), bounds[at + 1] - bounds[at])
        grid = np.stack([ready[v][2] for v in at])
        coefficient = np.stack([ready[v][3] for v in at])
        per_pair[rows] = _spline_values(grid, coefficient, spline, logs[rows]).reshape(len(rows), *width)
    return per_pair[inverse]


def _not_a_knot(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The not-a-knot cubic splines through ``values`` (splines, points, columns) at ``grid``
    (splines, points), as scipy's ``CubicSpline`` makes them (the same system and formulas; its
    tridiagonal system solved by elimination without pivoting, which LAPACK's partial pivoting does
    not change here), many at once: per spline, the coefficients (4, points − 1, columns) of each
    interval's cubic in the distance from the interval's start (``scipy.interpolate.PPoly``)."""
    n = grid.shape[1]
    dx = np.diff(grid, axis=1)[:, :, None]
    slope = np.diff(values, axis=1) / dx
    lower, diagonal, upper = np.empty((3, grid.shape[0], n, 1))
    rhs = np.empty_like(values)
    diagonal[:, 1:-1] = 2 * (dx[:, :-1] + dx[:, 1:])
    upper[:, 1:-1] = dx[:, :-1]
    lower[:, 1:-1] = dx[:, 1:]
    rhs[:, 1:-1] = 3 * (dx[:, 1:] * slope[:, :-1] + dx[:, :-1] * slope[:, 1:])
    d = (grid[:, 2] - grid[:, 0])[:, None]  # not-a-knot at the start
    diagonal[:, 0], upper[:, 0] = dx[:, 1], d
    rhs[:, 0] = ((dx[:, 0] + 2 * d) * dx[:, 1] * slope[:, 0] + dx[:, 0] ** 2 * slope[:, 1]) / d
    d = (grid[:, -1] - grid[:, -3])[:, None]  # and at the end
    diagonal[:, -1], lower[:, -1] = dx[:, -2], d
    rhs[:, -1] = (dx[:, -1] ** 2 * slope[:, -2] + (2 * d + dx[:, -1]) * dx[:, -2] * slope[:, -1]) / d
    ratio, solved = np.empty((grid.shape[0], n, 1)), np.empty_like(values)
    ratio[:, 0], solved[:, 0] = upper[:, 0] / diagonal[:, 0], rhs[:, 0] / diagonal[:, 0]
    for i in range(1, n):
        pivot = diagonal[:, i] - lower[:, i] * ratio[:, i - 1]
        ratio[:, i] = upper[:, i] / pivot if i < n - 1 else 0.0
        solved[:, i] = (rhs[:, i] - lower[:, i] * solved[:, i - 1]) / pivot
    for i in range(n - 2, -1, -1):
        solved[:, i] -= ratio[:, i] * solved[:, i + 1]
    t = (solved[:, :-1] + solved[:, 1:] - 2 * slope) / dx
    return np.stack([t / dx, (slope - solved[:, :-1]) / dx - t, solved[:, :-1], values[:, :-1]], axis=1)


def _spline_values(grid: np.ndarray, coefficients: np.ndarray, spline: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Spline ``spline[i]`` (of ``_not_a_knot``'s, on ``grid``) at ``at[i]``, as ``PPoly`` reads it:
    the interval whose start is the last knot ≤ the point (the first or last beyond the ends)."""
    last = grid.shape[1] - 2
    low, high = grid[spline, 0], grid[spline, -1]
    interval = np.clip(np.floor((at - low) / (high - low) * (last + 1)), 0, last).astype(np.int64)
    for _ in range(2):  # the grid is even up to rounding: settle on the knots themselves
        interval -= (interval > 0) & (at < grid[spline, interval])
        interval += (interval < last) & (at >= grid[spline, np.minimum(interval + 1, last + 1)])
    s = (at - grid[spline, interval])[:, None]
    c = coefficients[spline, :, interval]  # (points, 4, columns)
    z = s * s
    return ((c[:, 3] + c[:, 2] * s) + c[:, 1] * z) + c[:, 0] * (z * s)


def expected_purchases_by_curve(model: BGNBD, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """``model.expected_purchases(t, x, t_x, T)`` by ``by_x_and_T`` (exact on small bases)."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    numerator = by_x_and_T(model, ("expected", float(t)), lambda x_, T_: model.expected_numerator(t, x_, T_), x, T)
    return np.asarray(numerator / (1 + model.dropout_odds(x, t_x, T)))


def discounted_residual_value(
    model: BGNBD,
    summary: pd.DataFrame | dict[str, np.ndarray],
    value_per_purchase: np.ndarray,
    *,
    horizon_months: int,
    annual_discount_rate: float,
    unit_days: float,
    alive_from: BGNBD | None = None,
) -> np.ndarray:
    """Σ_{m=1..H} E[purchases in month m] × E[value per purchase] / (1 + d)^m per customer, with d
    the monthly rate equivalent to ``annual_discount_rate`` (DESIGN.md section 3). ``alive_from``:
    the model that says who is still a customer today, when the purchases to come follow another
    (a what-if scenario: a decision changes who leaves from now on, not who has left)."""
    purchases = discounted_purchases(
        model,
        summary,
        horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
        unit_days=unit_days,
        alive_from=alive_from,
    )
    return purchases * np.asarray(value_per_purchase, dtype=float)


def discounted_purchases(
    model: BGNBD,
    summary: pd.DataFrame | dict[str, np.ndarray],
    *,
    horizon_months: int,
    annual_discount_rate: float,
    unit_days: float,
    alive_from: BGNBD | None = None,
) -> np.ndarray:
    """Σ_{m=1..H} E[purchases in month m] / (1 + d)^m per customer: ``discounted_residual_value``
    before the value per purchase, which it multiplies (a what-if that moves only the margin keeps
    this part)."""
    if horizon_months <= 0:
        raise ValueError("The horizon must be a positive number of months.")
    if annual_discount_rate <= -1:
        raise ValueError("The discount rate must be above -100 %.")
    x_all, t_x_all, T_all = (np.asarray(summary[c], dtype=float) for c in ("x", "t_x", "T"))
    if len(x_all) == 0:
        return np.zeros(0)
    month = (365.25 / 12) / unit_days
    monthly = (1 + annual_discount_rate) ** (1 / 12) - 1

    def discounted(x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Σ_m (N(m) − N(m−1)) / (1 + d)^m for the numerator N of equation (10)."""
        months = np.arange(1, horizon_months + 1, dtype=float)[:, None]
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow stays inf or NaN: see above
            # every month in one call (months × customers): the formula broadcasts
            cumulative = model.expected_numerator(months * month, x[None, :], T[None, :])
            each = np.diff(cumulative, axis=0, prepend=np.zeros((1, len(x))))
            return np.asarray((each / (1 + monthly) ** months).sum(axis=0))

    # E[Y] = N(x, T, t) / (1 + odds(x, t_x, T)): the sum over months needs (x, T) only
    per_pair = by_x_and_T(
        model, ("residual", horizon_months, annual_discount_rate, unit_days), discounted, x_all, T_all
    )
    return np.asarray(per_pair / (1 + (alive_from or model).dropout_odds(x_all, t_x_all, T_all)))
