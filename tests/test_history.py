"""One read of the history gives the CLV inputs at any earlier date: the same as querying then."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data import queries
from data.filters import Filters
from data.source import Source
from kpi.customer_value import CLVResult, DayHistory, inputs_at
from kpi.lifecycle import STAGES
from service import compute

AS_OF = date(2026, 10, 31)


@pytest.mark.parametrize("when", [date(2024, 6, 30), date(2025, 12, 31), AS_OF])
def test_inputs_from_history_equal_the_queries(demo_source: Source, when: date) -> None:
    rfm, margins, costs = inputs_at(
        queries.customer_days(demo_source, AS_OF, AS_OF),
        queries.ticket_days(demo_source, AS_OF, AS_OF),
        queries.customer_costs(demo_source, AS_OF, AS_OF)[["customer_id", "campaign_id", "acquisition_cost"]],
        when,
    )
    want_rfm = queries.customer_rfm(demo_source, Filters(), when)
    columns = ["customer_id", "segment", "first_purchase", "last_purchase", "previous_purchase", "purchase_days"]
    got = rfm.sort_values("customer_id").reset_index(drop=True)
    want = want_rfm.sort_values("customer_id").reset_index(drop=True)
    dates = ["first_purchase", "last_purchase", "previous_purchase"]
    pd.testing.assert_frame_equal(
        got[columns].astype({d: "datetime64[ns]" for d in dates}).astype({"segment": object}),
        want[columns].astype({d: "datetime64[ns]" for d in dates}).astype({"segment": object}),
        check_dtype=False,
    )
    assert got["total_value"].to_numpy() == pytest.approx(want["total_value"].to_numpy())
    assert got["first_value"].to_numpy() == pytest.approx(want["first_value"].to_numpy())
    summary = queries.customer_summary(demo_source, Filters(), when).set_index("customer_id")["margin"]
    assert margins.set_index("customer_id")["margin"].sort_index().to_numpy() == pytest.approx(
        summary.sort_index().to_numpy()
    )
    # costs of the customers with a purchase by then; the query leaves out customers without costs
    want_costs = queries.customer_costs(demo_source, when, AS_OF).set_index("customer_id")
    got_costs = costs.set_index("customer_id").sort_index()
    assert list(got_costs.index) == list(got.sort_values("customer_id")["customer_id"])
    want_costs = want_costs.reindex(got_costs.index).fillna(
        {"tickets": 0, "service_cost": 0.0, "acquisition_cost": 0.0}
    )
    for col in ("tickets", "service_cost", "acquisition_cost"):
        assert got_costs[col].to_numpy(dtype=float) == pytest.approx(want_costs[col].to_numpy(dtype=float)), col
    assert (got_costs["tickets"] > 0).any() and (got_costs["acquisition_cost"] > 0).any()


def test_the_clv_at_the_anchor_is_the_same_either_way(demo_source: Source) -> None:
    exact = compute.clv_at(demo_source, AS_OF, AS_OF)
    again = compute.clv_from_history(demo_source, compute.history(demo_source, AS_OF, AS_OF), AS_OF, exact)
    a = exact.table.set_index("customer_id").sort_index()
    b = again.table.set_index("customer_id").sort_index()
    assert list(a.index) == list(b.index)
    for col in ("historical_clv", "residual_clv", "total_clv", "p_alive"):
        assert b[col].to_numpy() == pytest.approx(a[col].to_numpy(), rel=1e-9, abs=1e-9), col
    with pytest.raises(ValueError):
        compute.clv_from_history(demo_source, compute.history(demo_source, date(2025, 1, 31), AS_OF), AS_OF, exact)


def test_a_date_before_any_purchase_gives_no_customers(demo_source: Source) -> None:
    past = compute.history(demo_source, AS_OF, AS_OF)
    rfm, margins, costs = past.days.at(date(2000, 1, 1))
    assert rfm.empty and margins.empty and costs.empty


def test_what_no_date_changes_is_made_once_and_cannot_be_changed(demo_source: Source) -> None:
    """A state where every customer had bought hands out the history's own per-customer arrays (made
    once for every date): they are read-only, so nobody changes another date's figures; an earlier
    date gets its own rows of them."""
    days = compute.history(demo_source, AS_OF, AS_OF).days
    now, earlier = days.state_at(AS_OF), days.state_at(date(2025, 3, 31))
    assert now.code is days._buyers["code"]
    for values in (now.code, now.first_day, now.first_value, now.acquisition_cost):
        with pytest.raises(ValueError):
            values[:1] = 0
    assert len(earlier.code) < len(now.code) and earlier.code.flags.writeable
    assert set(earlier.code) <= set(now.code)


@pytest.mark.parametrize("when", [date(2024, 6, 30), date(2025, 3, 31), date(2026, 7, 31), AS_OF])
def test_past_stages_equal_the_stages_of_the_clv_table(demo_source: Source, when: date) -> None:
    """The month ends of the lifecycle page come from arrays (``past_stages``): the very stages
    and P(alive) of the whole CLV table at that date judged by the anchor's model."""
    anchor = compute.clv_at(demo_source, AS_OF, AS_OF)
    past = compute.history(demo_source, AS_OF, AS_OF)
    got = compute.past_stages(demo_source, past, when, anchor)
    table = compute.clv_from_history(demo_source, past, when, anchor)
    want = compute.stages_at(demo_source, when, AS_OF, table)[compute.PAST_STAGE_COLUMNS]
    assert list(got.columns) == compute.PAST_STAGE_COLUMNS
    dims = ("segment", "region", "channel", "stage")
    assert all(isinstance(got[d].dtype, pd.CategoricalDtype) for d in dims)  # a code per customer
    got = got.astype({d: want[d].dtype for d in dims})
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_exact=True)
    assert got["stage"].nunique() >= 4  # the fixture has customers in most stages
    with pytest.raises(ValueError):
        compute.past_stages(demo_source, compute.history(demo_source, date(2024, 1, 31), AS_OF), when, anchor)


def test_past_stages_without_a_model_at_the_anchor_take_the_dates_own_judgement(demo_source: Source) -> None:
    anchor = compute.clv_at(demo_source, AS_OF, AS_OF)
    no_model = CLVResult(table=anchor.table, bgnbd=None, gamma_gamma=None, unit="week", notice="too few")
    past = compute.history(demo_source, AS_OF, AS_OF)
    when = date(2025, 3, 31)
    got = compute.past_stages(demo_source, past, when, no_model)
    want = compute.stages_at(demo_source, when, AS_OF, compute.clv_from_history(demo_source, past, when, no_model))
    pd.testing.assert_frame_equal(got, want[compute.PAST_STAGE_COLUMNS])
    assert len(got) > 0 and set(got["stage"]) <= set(STAGES)


@st.composite
def _day_rows(draw: st.DrawFn) -> tuple[int, list[tuple[int, int, int, float, float]]]:
    """A few customers' order days, sorted by customer then day: (code, day, purchases, purchase
    value, margin); a day without purchases is a refund."""
    n = draw(st.integers(1, 5))
    rows = []
    for code in range(n):
        days = sorted(draw(st.sets(st.integers(0, 40), max_size=6)))
        for day in days:
            purchases = draw(st.sampled_from([0, 1, 2]))
            value = float(draw(st.integers(1, 90))) if purchases else 0.0
            rows.append((code, day, purchases, value, float(draw(st.integers(-30, 60)))))
    return n, rows


@given(data=_day_rows(), when=st.integers(-1, 42))
@settings(max_examples=150, deadline=None)
def test_the_state_at_a_date_is_each_customers_own_days_up_to_it(
    data: tuple[int, list[tuple[int, int, int, float, float]]], when: int
) -> None:
    """Every customer's purchases, last and previous purchase day, value and margin by a date, from
    the running sums, equal those counted from the customer's own rows; customers with refunds
    only, or whose first row comes after the date, are left out (the search for the last purchase
    goes through the last order day, which may be another customer's)."""
    n, rows = data
    frame = pd.DataFrame(rows, columns=["code", "day", "purchases", "value", "margin"])
    days = DayHistory.from_arrays(
        ids=np.arange(n).astype(object),
        dims=pd.DataFrame(index=range(n), columns=["segment", "region", "channel"], dtype=object),
        code=frame["code"].to_numpy(),
        day=frame["day"].to_numpy(),
        purchases=frame["purchases"].to_numpy(),
        purchase_value=frame["value"].to_numpy(),
        day_margin=frame["margin"].to_numpy(),
        t_code=np.zeros(0, dtype=np.int64),
        t_day=np.zeros(0, dtype=np.int64),
        t_values=np.zeros((0, 2)),
        campaign=np.full(n, None, dtype=object),
        acquisition_cost=np.zeros(n),
    )
    state = days.state_at(date(1970, 1, 1) + timedelta(days=when))
    expected = []
    for code in range(n):
        own = frame[(frame["code"] == code) & (frame["day"] <= when)]
        bought = own[own["purchases"] > 0]
        if len(bought):
            expected.append(
                (
                    code,
                    len(bought),
                    bought["day"].iloc[-1],
                    bought["day"].iloc[-2] if len(bought) > 1 else None,
                    bought["value"].sum(),
                    own["margin"].sum(),  # refunds before the first purchase too
                )
            )
    assert state.code.tolist() == [e[0] for e in expected]
    assert state.purchase_days.tolist() == [e[1] for e in expected]
    assert state.last_day.tolist() == [e[2] for e in expected]
    for got, e in zip(state.previous_day.tolist(), expected, strict=True):
        if e[3] is not None:
            assert got == e[3]
    assert np.allclose(state.total_value, [e[4] for e in expected])
    assert np.allclose(state.margin, [e[5] for e in expected])
