"""What if: the same customer model with a decision's levers moved, customer by customer.

The levers (a ``Scenario``), and what each changes:

- **retention** (``churn``: −0.10 = a tenth fewer customers leave): the BG/NBD chance of leaving
  after a purchase, p ~ Beta(a, b), keeps its spread (a + b) and has its mean a / (a + b) moved by
  the share, from today on: who has already left stays gone (today's P(alive) is the fitted
  model's), the purchases to come and the chance of leaving next follow the moved model;
  ``churn = −1``: nobody leaves any more.
- **frequency** (+0.10 = customers buy a tenth more often from now on): each customer's purchase
  rate λ is multiplied, which for a Poisson process is the same as the coming months passing
  faster: the purchases expected in t months become those the model expects in 1.1 t.
- **margin per order** (``margin_pp``: +0.02 = two points of revenue more on every order): each
  purchase's expected margin gains that share of its expected revenue.
- **acquisition** (``spend``, ``cac``): the new customers a paid campaign brings scale with
  spend ÷ CAC; what each costs with the CAC. Customers who came on their own are not touched.
- **referrals** (``referral``: +0.20 = a fifth more referrals): the new customers referrals bring
  scale with them — only the share a referral brought who would not have come anyway (the
  referral's ``incremental``, else the settings' share) — and so do the rewards paid.

Pure: arrays and models in, arrays and models out; no data is read here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import special

from kpi.clv import BGNBD, _distinct_rows, discounted_purchases

__all__ = [
    "LEVERS",
    "Scenario",
    "leaving",
    "newcomer_factor",
    "scenario_leaving",
    "scenario_model",
    "scenario_purchases",
    "scenario_residual",
]

#: the levers, in the order the waterfall adds them
LEVERS = ("churn", "frequency", "margin_pp", "spend", "cac", "referral")
#: the smallest mean chance of leaving kept in the model (its formulas divide by a)
_FLOOR = 1e-15


@dataclass(frozen=True)
class Scenario:
    """A decision's levers, each a share of today's value (0: unchanged); ``margin_pp`` a share of
    revenue (0.02 = +2 points). ``name``: how the owner calls it."""

    churn: float = 0.0
    frequency: float = 0.0
    margin_pp: float = 0.0
    spend: float = 0.0
    cac: float = 0.0
    referral: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if not -1.0 <= self.churn <= 5.0:
            raise ValueError("churn: a change from -100 % (nobody leaves) to +500 %.")
        if not -0.9 <= self.frequency <= 5.0:
            raise ValueError("frequency: a change from -90 % to +500 %.")
        if not -1.0 <= self.margin_pp <= 1.0:
            raise ValueError("margin_pp: a change of at most 100 points of revenue.")
        if not -1.0 <= self.spend <= 5.0 or not -0.9 <= self.cac <= 5.0:
            raise ValueError("spend and cac: changes from -100 % (spend) or -90 % (CAC) to +500 %.")
        if not -1.0 <= self.referral <= 5.0:
            raise ValueError("referral: a change from -100 % to +500 %.")

    @property
    def is_today(self) -> bool:
        return all(getattr(self, lever) == 0 for lever in LEVERS)

    def up_to(self, lever: str) -> Scenario:
        """The scenario with the levers up to ``lever`` (in ``LEVERS`` order) moved and the rest
        as today: the steps of a waterfall."""
        keep = LEVERS[: LEVERS.index(lever) + 1]
        reset: dict[str, Any] = {name: 0.0 for name in LEVERS if name not in keep}
        return replace(self, **reset)


def scenario_model(model: BGNBD, churn: float) -> BGNBD:
    """``model`` with the mean chance of leaving after a purchase moved by ``churn`` (a share), its
    spread a + b kept."""
    if churn == 0:
        return model
    spread = model.a + model.b
    mean = min(max(model.a / spread * (1.0 + churn), _FLOOR), 1.0 - _FLOOR)
    return replace(model, a=spread * mean, b=spread * (1.0 - mean))


def newcomer_factor(scenario: Scenario) -> float:
    """How many new customers a paid campaign brings, against today: spend ÷ CAC."""
    return (1.0 + scenario.spend) / (1.0 + scenario.cac)


def scenario_residual(
    model: BGNBD,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    margin_per_purchase: np.ndarray,
    scenario: Scenario,
    *,
    horizon_months: int,
    annual_discount_rate: float,
    unit_days: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's discounted future margin (the CLV's residual part) under ``scenario``, and
    their chance of leaving in the next 12 months. Who is still a customer today is the fitted
    model's judgement (a decision does not bring back those who have left); from today on, the
    model with the retention lever, the months passing ``1 + frequency`` times faster,
    ``margin_per_purchase`` already moved by the margin lever."""
    purchases = scenario_purchases(
        model,
        x,
        t_x,
        T,
        scenario,
        horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
        unit_days=unit_days,
    )
    gone = scenario_leaving(model, x, t_x, T, scenario, unit_days)
    return gone, purchases * np.asarray(margin_per_purchase, dtype=float)


def scenario_purchases(
    model: BGNBD,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    scenario: Scenario,
    *,
    horizon_months: int,
    annual_discount_rate: float,
    unit_days: float,
) -> np.ndarray:
    """Each customer's discounted purchases to come under ``scenario`` (``scenario_residual``
    before the margin per purchase): they depend on the retention and frequency levers only."""
    summary = {"x": np.asarray(x, dtype=float), "t_x": np.asarray(t_x, dtype=float), "T": np.asarray(T, dtype=float)}
    return discounted_purchases(
        scenario_model(model, scenario.churn),
        summary,
        horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
        unit_days=unit_days / (1.0 + scenario.frequency),
        alive_from=model,
    )


def scenario_leaving(
    model: BGNBD, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, scenario: Scenario, unit_days: float
) -> np.ndarray:
    """Each customer's chance of leaving in the next 12 months under ``scenario`` (``leaving``): it
    depends on the retention and frequency levers only."""
    year = 12 * (365.25 / 12) / unit_days * (1.0 + scenario.frequency)
    return leaving(model, scenario_model(model, scenario.churn), x, t_x, T, year)


def leaving(
    today: BGNBD,
    moved: BGNBD,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    t: float,
) -> np.ndarray:
    """Each customer's chance of leaving within the next ``t`` (model time): still a customer today
    (``today``'s P(alive)), then a purchase that is their last before ``t`` under ``moved``. An
    alive customer's rate λ is Gamma(r + x, α + T) and their chance p of leaving after a purchase
    Beta(a, b + x); leaving comes at rate λ·p, so staying has E[exp(−λ p t)] =
    E_p[(1 + p t / (α + T))^−(r + x)] = 2F1(r + x, a; a + b + x; −t / (α + T))."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    first, inverse = _distinct_rows(x, T)  # the same (x, T) in many histories: once each
    xs, Ts = x[first], T[first]
    stay = special.hyp2f1(moved.r + xs, moved.a, moved.a + moved.b + xs, -t / (moved.alpha + Ts))[inverse]
    return np.asarray(today.p_alive(x, t_x, T) * (1.0 - stay))


def payback_months(margin_by_age: np.ndarray, cost: float) -> float:
    """Months until a new customer's cumulative expected margin covers what acquiring them cost:
    ``margin_by_age`` per month of age (0: the month of the first purchase); 1 when the first month
    covers it; infinite when the months given do not; NaN when there is no cost to cover."""
    if not cost > 0:
        return float("nan")
    reached = np.flatnonzero(np.cumsum(np.asarray(margin_by_age, dtype=float)) >= cost)
    return float(reached[0] + 1) if len(reached) else float("inf")
