"""Customer lifetime value per customer: what each customer has earned us, and is expected to.

historical CLV = margin to date − service cost − acquisition cost
residual CLV   = Σ_{m=1..H} E[purchases in month m] × E[margin per purchase] / (1 + d)^m
total CLV      = historical CLV + residual CLV                       (DESIGN.md section 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from kpi.clv import BGNBD, GammaGamma, ModelError, discounted_residual_value, fit_bgnbd, fit_gamma_gamma
from kpi.lifecycle import rhythm_p_alive
from kpi.summary import TIME_UNITS, rfm_summary

__all__ = ["CLVResult", "HoldoutCheck", "compute_clv", "holdout_check", "segment_clv"]

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

    @property
    def predicted(self) -> bool:
        return self.bgnbd is not None and self.gamma_gamma is not None


def _expected_margin(model: GammaGamma, x: np.ndarray, m: np.ndarray, first_value: np.ndarray) -> np.ndarray:
    """E[margin per purchase]. Gamma-Gamma learns from repeat purchases only, so a one-time buyer
    would get the population mean; here their first purchase counts as one observation instead
    (where its margin is positive). A bargain hunter's €20 first basket then keeps their forecast
    modest rather than at the average customer's level."""
    one_time = (x == 0) & (first_value > 0)
    x_eff = np.where(one_time, 1.0, x)
    m_eff = np.where(one_time, first_value, m)
    return model.expected_value(x_eff, m_eff)


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
) -> CLVResult:
    """CLV of every customer in ``rfm`` (``data.queries.customer_rfm`` with margin values).

    ``margins`` has ``customer_id`` and ``margin`` (margin to date, refunds included); ``costs``
    has ``customer_id``, ``tickets``, ``service_cost`` and ``acquisition_cost``. The models are
    fitted on all the customers given: pass every customer, filter the result.
    """
    summary = rfm_summary(rfm, as_of, unit)
    base = rfm.set_index("customer_id").loc[summary["customer_id"]].reset_index()
    table = pd.concat([base, summary[["x", "t_x", "T"]].reset_index(drop=True)], axis=1)
    table["first_purchase_margin"] = table["first_value"]
    if "previous_purchase" not in table:
        table["previous_purchase"] = pd.NaT
    table = table.merge(margins[["customer_id", "margin"]], on="customer_id", how="left")
    table = table.rename(columns={"margin": "margin_to_date"})
    table = table.merge(
        costs[["customer_id", "tickets", "service_cost", "acquisition_cost"]], on="customer_id", how="left"
    )
    table = table.fillna({"margin_to_date": 0.0, "tickets": 0, "service_cost": 0.0, "acquisition_cost": 0.0})
    table["historical_clv"] = table["margin_to_date"] - table["service_cost"] - table["acquisition_cost"]

    bgnbd: BGNBD | None = None
    gamma_gamma: GammaGamma | None = None
    notice = None
    if models is not None:  # fitted elsewhere (e.g. at a later date): evaluate only
        bgnbd, gamma_gamma = models
    else:
        try:
            bgnbd = fit_bgnbd(summary, min_repeat_customers=min_repeat_customers)
            gamma_gamma = fit_gamma_gamma(summary, min_repeat_customers=min_repeat_customers)
            _ = gamma_gamma.population_mean
        except ModelError as exc:
            bgnbd = gamma_gamma = None
            notice = str(exc)
    x, t_x, T = (summary[c].to_numpy() for c in ("x", "t_x", "T"))
    if bgnbd is not None and gamma_gamma is not None:
        month = (365.25 / 12) / TIME_UNITS[unit]
        table["p_alive"] = bgnbd.p_alive(x, t_x, T)
        table["expected_purchases_12m"] = bgnbd.expected_purchases(12 * month, x, t_x, T)
        value = _expected_margin(gamma_gamma, x, summary["m"].to_numpy(), table["first_value"].to_numpy(dtype=float))
        table["expected_margin_per_purchase"] = value
        table["residual_clv"] = discounted_residual_value(
            bgnbd,
            summary,
            value,
            horizon_months=horizon_months,
            annual_discount_rate=annual_discount_rate,
            unit_days=TIME_UNITS[unit],
        )
    else:
        table["p_alive"] = rhythm_p_alive(x, t_x, T, table["segment"].to_numpy())
        table["expected_purchases_12m"] = np.nan
        table["expected_margin_per_purchase"] = np.nan
        table["residual_clv"] = 0.0
    table["total_clv"] = table["historical_clv"] + table["residual_clv"]
    return CLVResult(table=table[list(CLV_COLUMNS)], bgnbd=bgnbd, gamma_gamma=gamma_gamma, unit=unit, notice=notice)


def inputs_at(
    days: pd.DataFrame, tickets: pd.DataFrame, acquisition: pd.DataFrame, as_of: date
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three inputs of ``compute_clv`` as of ``as_of``, from day-level history.

    ``days`` has one row per customer and order day (``data.queries.customer_days``): ``customer_id``,
    ``segment``, ``region``, ``channel``, ``order_date``, ``purchases``, ``purchase_value`` and
    ``day_margin`` (refunds included); ``tickets`` has ``customer_id``, ``opened_at``, ``tickets``,
    ``service_cost``; ``acquisition`` has ``customer_id``, ``campaign_id``, ``acquisition_cost``.
    Returns what ``customer_rfm``, ``customer_summary`` and ``customer_costs`` return at ``as_of``,
    so one read of the history gives the inputs at any earlier date.
    """
    end = pd.Timestamp(as_of)
    upto = days[pd.to_datetime(days["order_date"]) <= end]
    bought = upto[upto["purchases"] > 0].assign(order_date=lambda d: pd.to_datetime(d["order_date"]))
    bought = bought.sort_values(["customer_id", "order_date"])
    grouped = bought.groupby("customer_id", sort=True)
    from_last = grouped.cumcount(ascending=False)
    previous = bought.loc[from_last == 1].set_index("customer_id")["order_date"]
    rfm = grouped.agg(
        segment=("segment", "first"),
        region=("region", "first"),
        channel=("channel", "first"),
        first_purchase=("order_date", "min"),
        last_purchase=("order_date", "max"),
        purchase_days=("order_date", "size"),
        total_value=("purchase_value", "sum"),
        first_value=("purchase_value", "first"),
    )
    rfm["previous_purchase"] = previous.reindex(rfm.index)
    rfm = rfm.rename_axis("customer_id").reset_index()
    margins = upto.groupby("customer_id", sort=True)["day_margin"].sum().rename("margin").reset_index()
    margins = margins[margins["customer_id"].isin(rfm["customer_id"])]
    t = tickets[pd.to_datetime(tickets["opened_at"]) <= end].groupby("customer_id")[["tickets", "service_cost"]].sum()
    costs = acquisition.set_index("customer_id")[["campaign_id", "acquisition_cost"]].join(t, how="outer")
    costs = costs.rename_axis("customer_id").reset_index()
    costs = costs.fillna({"tickets": 0, "service_cost": 0.0, "acquisition_cost": 0.0})
    return rfm, margins, costs.astype({"tickets": int, "service_cost": float, "acquisition_cost": float})


def segment_clv(table: pd.DataFrame, by: str = "segment") -> pd.DataFrame:
    """Per group: ``customers``, mean ``historical_clv``, ``residual_clv``, ``total_clv``, mean
    ``acquisition_cost`` of the customers with one (``cac``) and ``clv_cac`` = mean CLV before
    acquisition cost of those customers ÷ their mean CAC (NaN where no customer has a CAC)."""
    rows = []
    for group, part in table.groupby(by, sort=True):
        acquired = part[part["acquisition_cost"] > 0]
        cac = float(acquired["acquisition_cost"].mean()) if len(acquired) else np.nan
        before_cac = (acquired["total_clv"] + acquired["acquisition_cost"]).mean() if len(acquired) else np.nan
        rows.append(
            {
                by: group,
                "customers": len(part),
                "historical_clv": float(part["historical_clv"].mean()),
                "residual_clv": float(part["residual_clv"].mean()),
                "total_clv": float(part["total_clv"].mean()),
                "cac": cac,
                "clv_cac": float(before_cac / cac) if cac and not np.isnan(cac) else np.nan,
            }
        )
    return pd.DataFrame(
        rows, columns=[by, "customers", "historical_clv", "residual_clv", "total_clv", "cac", "clv_cac"]
    )


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
) -> HoldoutCheck:
    """Fit BG/NBD on ``calibration`` (``customer_rfm`` as of ``calibration_end``) and predict each
    customer's repeat purchases up to ``end``; ``full`` is ``customer_rfm`` as of ``end``.

    Raises ``ModelError`` when the calibration history is too short to fit."""
    if end <= calibration_end:
        raise ValueError("The holdout must end after the calibration period.")
    summary = rfm_summary(calibration, calibration_end, unit)
    model = fit_bgnbd(summary, min_repeat_customers=min_repeat_customers)
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


def select_customers(
    table: pd.DataFrame, segments: tuple[str, ...] = (), regions: tuple[str, ...] = (), channels: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The rows of the chosen segments, regions and channels (an empty choice keeps all)."""
    mask = pd.Series(True, index=table.index)
    for column, chosen in (("segment", segments), ("region", regions), ("channel", channels)):
        if chosen:
            mask &= table[column].isin(chosen)
    return table[mask]


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
