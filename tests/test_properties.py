"""Property-based tests: the KPI functions, fed random tables, never raise except with their
documented ValueError (or ModelError), and keep their invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi.clv import ModelError, fit_bgnbd
from kpi.lifecycle import STAGES, assign_stages
from kpi.overview import overview_kpis
from kpi.roi import VERDICTS, campaign_roi
from kpi.summary import rfm_summary
from kpi.upsell import upsell_candidates

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
money = st.floats(min_value=-1e6, max_value=1e7, allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=10_000)


@SETTINGS
@given(
    cur=st.tuples(money, money, counts, counts, counts, counts),
    prev=st.tuples(money, money, counts, counts, counts, counts),
)
def test_overview_kpis_never_crash(cur: tuple, prev: tuple) -> None:  # type: ignore[type-arg]
    names = ("revenue", "margin", "orders", "active_customers", "new_customers", "repeat_customers")
    measures = pd.DataFrame(
        [
            {"period": "current", **dict(zip(names, cur, strict=True))},
            {"period": "previous", **dict(zip(names, prev, strict=True))},
        ]
    )
    table = overview_kpis(measures)
    assert len(table) == 8
    assert all(math.isnan(v) or math.isfinite(v) for v in table["change"])


@st.composite
def histories(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=30))
    rows = []
    for i in range(n):
        first = draw(st.integers(min_value=0, max_value=700))
        later = draw(st.lists(st.integers(min_value=first, max_value=730), min_size=1, max_size=8, unique=True))
        days = sorted({first, *later})
        base = pd.Timestamp("2024-01-01")
        rows.append(
            {
                "customer_id": i,
                "segment": draw(st.sampled_from(["A", "B"])),
                "first_purchase": base + pd.Timedelta(days=days[0]),
                "last_purchase": base + pd.Timedelta(days=days[-1]),
                "previous_purchase": base + pd.Timedelta(days=days[-2]) if len(days) > 1 else pd.NaT,
                "purchase_days": len(days),
                "total_value": draw(money),
                "first_value": draw(money),
                "total_clv": draw(money),
            }
        )
    return pd.DataFrame(rows)


@SETTINGS
@given(table=histories())
def test_summary_and_stages_hold_their_invariants(table: pd.DataFrame) -> None:
    as_of = pd.Timestamp("2026-01-01").date()
    summary = rfm_summary(table, as_of, "week")
    assert (summary["x"] >= 0).all() and (summary["t_x"] <= summary["T"] + 1e-9).all()
    stages = assign_stages(table, as_of)
    assert set(stages["stage"]) <= set(STAGES)
    assert stages["p_alive"].between(0, 1).all()
    try:
        model = fit_bgnbd(summary, min_repeat_customers=1)
    except ModelError:
        return
    assert min(model.r, model.alpha, model.a, model.b) > 0
    assert np.all(model.p_alive(summary["x"], summary["t_x"], summary["T"]) >= 0)


@SETTINGS
@given(
    spend=st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=5),
    leads=st.lists(st.integers(min_value=0, max_value=100), min_size=5, max_size=5),
    margins=st.lists(money, min_size=0, max_size=12),
    mask=st.booleans(),
)
def test_campaign_roi_never_crashes(spend: list[float], leads: list[int], margins: list[float], mask: bool) -> None:
    ids = [f"C{i}" for i in range(len(spend))]
    campaigns = pd.DataFrame(
        {
            "campaign_id": ids,
            "name": ids,
            "channel": ["X"] * len(ids),
            "spend": spend,
            "leads": leads[: len(ids)],
            "converted_leads": [min(1, v) for v in leads[: len(ids)]],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": range(len(margins)),
            "campaign_id": [ids[i % len(ids)] for i in range(len(margins))],
            "first_purchase_margin": margins,
            "margin_to_date": margins,
            "service_cost": [0.0] * len(margins),
            "residual_clv": [abs(m) for m in margins],
        }
    )
    selected = pd.Series([mask or i % 2 == 0 for i in range(len(margins))], index=customers.index)
    roi = campaign_roi(campaigns, customers, selected=selected)
    assert set(roi["verdict"]) <= set(VERDICTS)


@SETTINGS
@given(stages=st.lists(st.sampled_from(list(STAGES)), min_size=1, max_size=20), seed=st.integers(0, 1000))
def test_upsell_never_crashes(stages: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = len(stages)
    customers = pd.DataFrame(
        {"customer_id": range(n), "segment": rng.choice(["A", "B"], n), "stage": stages, "p_alive": rng.random(n)}
    )
    products = pd.DataFrame(
        {
            "product_id": ["P1", "P2", "P3"],
            "name": ["a", "b", "c"],
            "category": ["x", "y", "z"],
            "ladder_step": [1.0, 2.0, np.nan],
        }
    )
    picks = rng.integers(0, 3, size=2 * n)
    owned = pd.DataFrame(
        {
            "customer_id": np.tile(np.arange(n), 2),
            "product_id": products["product_id"].to_numpy()[picks],
            "name": products["name"].to_numpy()[picks],
            "category": products["category"].to_numpy()[picks],
            "ladder_step": products["ladder_step"].to_numpy()[picks],
            "lines": 1,
            "margin": rng.random(2 * n) * 100,
        }
    ).drop_duplicates(["customer_id", "product_id"])
    got = upsell_candidates(customers, owned, products)
    assert (got["expected_value"] >= 0).all()
    assert got["expected_value"].is_monotonic_decreasing
    assert set(got["stage"]) <= {"new", "reactivated", "loyal", "active"}


def test_documented_errors_only() -> None:
    with pytest.raises(ValueError, match="lacks the columns"):
        rfm_summary(pd.DataFrame({"customer_id": [1]}), pd.Timestamp("2026-01-01").date())
    with pytest.raises(ValueError, match="Unknown time unit"):
        rfm_summary(
            pd.DataFrame(
                columns=[
                    "customer_id",
                    "first_purchase",
                    "last_purchase",
                    "purchase_days",
                    "total_value",
                    "first_value",
                ]
            ),
            pd.Timestamp("2026-01-01").date(),
            "year",
        )


@SETTINGS
@given(
    st.one_of(
        st.lists(st.integers(min_value=-200_000, max_value=200_000), max_size=300),  # far apart
        st.lists(st.integers(min_value=-400, max_value=21_000), max_size=300),  # a span: looked up
    ),
    st.sampled_from([np.int32, np.int64]),
)
def test_month_numbers_are_the_calendar_months_of_days(days: list[int], kind: type) -> None:
    """``data.facts.month_numbers`` (a lookup over the days' span) gives numpy's own month of every
    day, whatever the days: none, one, far apart, before 1970, repeated."""
    from data.facts import month_numbers

    values = np.asarray(days, dtype=kind)
    want = values.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    got = month_numbers(values)
    assert got.dtype == np.int32 and got.tolist() == want.tolist()
    # a month starts on its first day and holds the day before the next month's first
    if len(values):
        firsts = got.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        assert (firsts <= values).all() and (values - firsts < 31).all()
