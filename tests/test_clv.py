"""The CLV model against published reference results and hand-computed cases."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data import queries
from data.demo import write_frames
from data.filters import Filters
from data.settings import load_settings
from data.source import Source
from kpi.clv import (
    BGNBD,
    GammaGamma,
    ModelError,
    bgnbd_log_likelihood,
    discounted_residual_value,
    fit_bgnbd,
    fit_gamma_gamma,
)
from kpi.customer_value import compute_clv, holdout_check, segment_clv
from kpi.lifecycle import rhythm_p_alive
from kpi.summary import rfm_summary

CDNOW = Path(__file__).resolve().parent / "data" / "cdnow_sample.txt"
CAL_END = date(1997, 9, 30)

# Fader, Hardie & Lee (2005a), table/figure values for the CDNOW sample, 39-week calibration.
PUBLISHED = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
PUBLISHED_LL = -9582.43
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow_source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """The raw CDNOW sample log in SQLite under Italian names, read through a mapping."""
    raw = pd.read_csv(CDNOW, sep=r"\s+", header=None, names=["master", "cliente", "data", "cd", "importo"])
    raw["data"] = pd.to_datetime(raw["data"].astype(str))
    raw.insert(0, "id", np.arange(1, len(raw) + 1))
    raw["costo"] = 0.0
    tmp = tmp_path_factory.mktemp("cdnow")
    url = f"sqlite:///{tmp / 'cdnow.sqlite'}"
    write_frames(url, {"acquisti": raw}, {"acquisti": ["data"]})
    config = tmp / "cruscotto.toml"
    config.write_text(
        '[entities.orders]\ntable = "acquisti"\n[entities.orders.columns]\n'
        'order_id = "id"\ncustomer_id = "cliente"\norder_date = "data"\nrevenue = "importo"\ncost = "costo"\n'
    )
    source = Source(settings=load_settings(config, env={}, secrets_path="/nonexistent"), url=url)
    source.config_path = str(config)  # type: ignore[attr-defined]  # for the CLI test
    return source


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_source: Source) -> pd.DataFrame:
    rfm = queries.customer_rfm(cdnow_source, Filters(), CAL_END, value="revenue")
    return rfm_summary(rfm, CAL_END, "week")


def test_cdnow_summary_shape(cdnow_summary: pd.DataFrame) -> None:
    assert len(cdnow_summary) == 2357
    assert int((cdnow_summary["x"] > 0).sum()) == 946
    assert cdnow_summary["T"].max() == pytest.approx(272 / 7)


def test_bgnbd_matches_fader_hardie_lee(cdnow_summary: pd.DataFrame) -> None:
    model = fit_bgnbd(cdnow_summary)
    for name, value in PUBLISHED.items():
        assert getattr(model, name) == pytest.approx(value, abs=1e-4), name  # published to 4 decimals
    assert model.log_likelihood == pytest.approx(PUBLISHED_LL, abs=0.005)
    assert (model.customers, model.repeat_customers) == (2357, 946)
    # The published parameters give the same likelihood, and ours is at least as good.
    assert bgnbd_log_likelihood(cdnow_summary, **PUBLISHED) == pytest.approx(PUBLISHED_LL, abs=0.01)
    assert model.log_likelihood >= bgnbd_log_likelihood(cdnow_summary, **PUBLISHED) - 1e-6


def test_gamma_gamma_matches_the_published_fit(cdnow_summary: pd.DataFrame) -> None:
    model = fit_gamma_gamma(cdnow_summary)
    assert model.customers == 946
    for name, value in PUBLISHED_GG.items():
        assert getattr(model, name) == pytest.approx(value, abs=0.006), name


def test_published_conditional_expectation() -> None:
    model = BGNBD(
        r=0.2425945, alpha=4.413598, a=0.792891, b=2.425816, log_likelihood=0, customers=0, repeat_customers=0
    )
    got = model.expected_purchases(39, np.array([2.0]), np.array([30.43]), np.array([38.86]))
    assert got[0] == pytest.approx(1.226, abs=5e-4)


def test_tiny_cases_by_hand() -> None:
    model = BGNBD(r=1.0, alpha=2.0, a=1.5, b=3.0, log_likelihood=0, customers=0, repeat_customers=0)
    # No repeat purchase: alive for sure (the model only loses customers after a purchase).
    assert model.p_alive(np.array([0.0]), np.array([0.0]), np.array([10.0]))[0] == 1.0
    # x=1, t_x=4, T=10: odds = a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) = 0.5 * (12/6)^2 = 2.
    assert model.p_alive(np.array([1.0]), np.array([4.0]), np.array([10.0]))[0] == pytest.approx(1 / 3)
    # Likelihood of one customer with x=0, T=10: (alpha/(alpha+T))^r = 2/12.
    one = pd.DataFrame({"x": [0.0], "t_x": [0.0], "T": [10.0]})
    assert bgnbd_log_likelihood(one, 1.0, 2.0, 1.5, 3.0) == pytest.approx(math.log(2 / 12))
    gg = GammaGamma(p=2.0, q=3.0, gamma=10.0, log_likelihood=0, customers=0)
    assert gg.population_mean == pytest.approx(10.0)  # p*gamma/(q-1)
    # E[M | x=2, m=20] = p(gamma + x m)/(p x + q - 1) = 2*50/6
    assert gg.expected_value(np.array([2.0]), np.array([20.0]))[0] == pytest.approx(100 / 6)
    assert gg.expected_value(np.array([0.0]), np.array([0.0]))[0] == pytest.approx(10.0)


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(min_value=1, max_value=50),
    t_x=st.floats(min_value=0.5, max_value=50),
    gap=st.floats(min_value=0.0, max_value=50),
    extra=st.floats(min_value=0.1, max_value=20),
)
def test_p_alive_is_a_probability_and_falls_with_the_gap(x: int, t_x: float, gap: float, extra: float) -> None:
    model = BGNBD(r=0.2426, alpha=4.4136, a=0.7929, b=2.4259, log_likelihood=0, customers=0, repeat_customers=0)
    xs, txs = np.array([x, x], dtype=float), np.array([t_x, t_x])
    alive = model.p_alive(xs, txs, np.array([t_x + gap, t_x + gap + extra]))
    assert np.all((alive >= 0) & (alive <= 1))
    assert alive[1] <= alive[0] + 1e-12


def test_discounting() -> None:
    model = BGNBD(r=0.2426, alpha=4.4136, a=0.7929, b=2.4259, log_likelihood=0, customers=0, repeat_customers=0)
    summary = pd.DataFrame({"x": [2.0, 0.0], "t_x": [30.43, 0.0], "T": [38.86, 38.86]})
    value = np.array([10.0, 10.0])
    undiscounted = discounted_residual_value(
        model, summary, value, horizon_months=12, annual_discount_rate=0.0, unit_days=7
    )
    one_year = model.expected_purchases(365.25 / 7, summary["x"], summary["t_x"], summary["T"]) * value
    np.testing.assert_allclose(undiscounted, one_year, rtol=1e-9)
    discounted = discounted_residual_value(
        model, summary, value, horizon_months=12, annual_discount_rate=0.10, unit_days=7
    )
    assert np.all(discounted < undiscounted) and np.all(discounted > undiscounted / 1.1)


def test_too_few_repeat_buyers_gives_a_notice() -> None:
    rfm = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "segment": ["A", "A", "B"],
            "region": ["N"] * 3,
            "channel": ["W"] * 3,
            "first_purchase": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
            "last_purchase": pd.to_datetime(["2024-01-01", "2024-05-01", "2024-03-01"]),
            "purchase_days": [1, 3, 1],
            "total_value": [10.0, 60.0, 5.0],
            "first_value": [10.0, 20.0, 5.0],
        }
    )
    margins = pd.DataFrame({"customer_id": [1, 2, 3], "margin": [10.0, 60.0, 5.0]})
    costs = pd.DataFrame({"customer_id": [2], "tickets": [1], "service_cost": [25.0], "acquisition_cost": [15.0]})
    result = compute_clv(rfm, margins, costs, as_of=date(2024, 6, 30))
    assert not result.predicted
    assert "Only 1 customers bought more than once" in (result.notice or "")
    table = result.table.set_index("customer_id")
    assert table.loc[2, "historical_clv"] == pytest.approx(60 - 25 - 15)
    assert table.loc[2, "total_clv"] == pytest.approx(20.0)
    assert (table["residual_clv"] == 0).all()
    with pytest.raises(ModelError, match="Only 1 customers"):
        fit_bgnbd(rfm_summary(rfm, date(2024, 6, 30)))


def test_recency_fallback_uses_each_customers_own_rhythm() -> None:
    # Both bought last 60 days ago; one every 90 days, one every 7 days.
    alive = rhythm_p_alive(np.array([4.0, 20.0]), np.array([360.0, 140.0]), np.array([420.0, 200.0]))
    assert alive[0] == 1.0  # 60 days is less than one 90-day gap
    assert alive[1] == 0.0  # 60 days is more than eight 7-day gaps


def test_clv_on_the_demo_and_holdout(demo_source: Source) -> None:
    as_of, cal = date(2026, 10, 31), date(2025, 10, 31)
    rfm = queries.customer_rfm(demo_source, Filters(), as_of)
    margins = queries.customer_summary(demo_source, Filters(), as_of)
    costs = queries.customer_costs(demo_source, as_of)
    result = compute_clv(rfm, margins, costs, as_of=as_of)
    assert result.predicted and result.notice is None
    table = result.table
    assert len(table) == len(rfm)
    np.testing.assert_allclose(table["total_clv"], table["historical_clv"] + table["residual_clv"])
    assert (table["p_alive"].between(0, 1)).all()
    by_segment = segment_clv(table).set_index("segment")
    assert by_segment.loc["HoReCa", "total_clv"] > by_segment.loc["Privati", "total_clv"]
    check = holdout_check(queries.customer_rfm(demo_source, Filters(), cal), rfm, calibration_end=cal, end=as_of)
    assert check.actual > 0
    assert check.predicted == pytest.approx(check.actual, rel=0.25)
    assert list(check.by_frequency["x_bucket"]) == list(range(8))


def test_the_clv_and_the_model_check_at_one_date_share_one_fit(
    demo_source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year before a month's end the model check's calibration ends where the backtest starts:
    the CLV there and the check fit BG/NBD once between them, with the figures each gave when it
    fitted its own (the same customers' purchase days)."""
    from kpi import customer_value
    from service import compute

    as_of, cal = date(2026, 10, 31), date(2025, 10, 31)
    today = date(2026, 11, 5)
    facts = compute.facts_for(demo_source, today)
    days = compute.day_history(facts)
    own_fit = compute_clv(*days.at(cal), as_of=cal)
    own_check = holdout_check(days.at(cal)[0], days.at(as_of)[0], calibration_end=cal, end=as_of)

    fitted = []
    real_fit = compute.fit_bgnbd

    def counted(*args: Any, **kwargs: Any) -> Any:
        fitted.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(compute, "fit_bgnbd", counted)
    monkeypatch.setattr(customer_value, "fit_bgnbd", counted)
    shared = compute.clv_at(demo_source, cal, today, facts=facts)
    check = compute.holdout(facts, cal, as_of)
    assert len(fitted) == 1
    assert shared.bgnbd == own_fit.bgnbd
    pd.testing.assert_frame_equal(shared.table, own_fit.table)
    assert (check.actual, check.predicted) == (own_check.actual, own_check.predicted)
    pd.testing.assert_frame_equal(check.per_customer, own_check.per_customer)


def test_cli_clv_reproduces_the_reference(
    cdnow_source: Source, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import cli

    monkeypatch.setenv("CRUSCOTTO_DB_URL", cdnow_source.url)
    argv = [
        "clv",
        "--config",
        cdnow_source.config_path,
        "--as-of",
        "1997-09-30",
        "--unit",
        "week",  # type: ignore[attr-defined]
        "--value",
        "revenue",
        "--json",
        "--holdout-from",
        "1997-10-01",
    ]
    assert cli.main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    model = payload["model"]
    assert model["unit"] == "week"
    assert (model["customers"], model["repeat_customers"]) == (2357, 946)
    assert model["r"] == pytest.approx(0.2426, abs=1e-4)
    assert model["alpha"] == pytest.approx(4.4136, abs=1e-4)
    assert model["log_likelihood"] == pytest.approx(-9582.43, abs=0.005)
    assert model["p"] == pytest.approx(6.25, abs=0.006)
    assert model["gamma"] == pytest.approx(15.44, abs=0.006)
    holdout = payload["holdout"]
    # The 39-week holdout of the CDNOW sample: 1,882 repeat purchase days happened; the calibration fit
    # expected 1,653 (it undershoots, as the conditional expectations of FHL 2005a, figure 5, show).
    assert holdout["actual"] == 1882
    assert holdout["predicted"] == pytest.approx(1653.4, abs=0.5)


def test_the_residual_value_on_a_grid_matches_the_exact_sum(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above a few thousand distinct histories the monthly sum is interpolated; it must not show."""
    import kpi.clv as clv_module

    model = clv_module.BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0, customers=0, repeat_customers=0)
    rng = np.random.default_rng(1)
    n = 20_000
    age = rng.uniform(0.1, 160, n).round(3)
    x = rng.poisson(2, n).astype(float)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * age, 0.0)
    summary = pd.DataFrame({"x": x, "t_x": t_x, "T": age})
    args = {"horizon_months": 36, "annual_discount_rate": 0.1, "unit_days": 7.0}
    fast = clv_module.discounted_residual_value(model, summary, np.ones(n), **args)
    monkeypatch.setattr(clv_module, "_EXACT_PAIRS", 10**9)
    exact = clv_module.discounted_residual_value(model, summary, np.ones(n), **args)
    assert np.max(np.abs(fast - exact) / np.abs(exact)) < 1e-7
    # and the exact path is the plain sum of equation (10) month by month
    month = (365.25 / 12) / 7.0
    d = 1.1 ** (1 / 12) - 1
    i = 123
    by_hand = sum(
        (
            model.expected_purchases(m * month, x[i : i + 1], t_x[i : i + 1], age[i : i + 1])[0]
            - model.expected_purchases((m - 1) * month, x[i : i + 1], t_x[i : i + 1], age[i : i + 1])[0]
        )
        / (1 + d) ** m
        for m in range(1, 37)
    )
    assert exact[i] == pytest.approx(by_hand, rel=1e-12)


def test_the_expected_purchases_on_a_grid_match_the_closed_form() -> None:
    """The 12-month expected purchases of a large base are interpolated the same way (each month end
    of the lifecycle page reuses the curves); they must not differ from equation (10) visibly."""
    import kpi.clv as clv_module

    model = clv_module.BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0, customers=0, repeat_customers=0)
    rng = np.random.default_rng(2)
    n = 20_000
    age = rng.uniform(0.1, 160, n).round(3)
    x = rng.poisson(2, n).astype(float)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * age, 0.0)
    horizon = 12 * (365.25 / 12) / 7.0
    fast = clv_module.expected_purchases_by_curve(model, horizon, x, t_x, age)
    exact = model.expected_purchases(horizon, x, t_x, age)
    assert len(np.unique(np.c_[x, age], axis=0)) > clv_module._EXACT_PAIRS  # the grid was used
    # shown with two decimals: a relative error of a millionth is far below what can be seen
    assert np.max(np.abs(fast - exact) / np.abs(exact)) < 1e-6
    small = slice(0, 50)  # few distinct histories: exact
    assert np.array_equal(
        clv_module.expected_purchases_by_curve(model, horizon, x[small], t_x[small], age[small]), exact[small]
    )


def test_a_segments_small_baskets_are_not_priced_like_the_resellers() -> None:
    """The Gamma-Gamma weight is kept, but a customer's own mean is weighed against their segment's
    level: the model's population mean × (the segment's repeat customers' mean ÷ everyone's). With
    one segment it is the published model exactly."""
    from kpi.clv import GammaGamma
    from kpi.customer_value import _expected_margin

    model = GammaGamma(p=6.25, q=3.74, gamma=15.44, log_likelihood=0.0, customers=946)  # CDNOW (Fader & Hardie)
    n = 60  # repeat customers per segment: enough to judge each
    x = np.r_[np.full(n, 2.0), np.full(n, 2.0), [0.0, 0.0]]
    m = np.r_[np.full(n, 20.0), np.full(n, 60.0), [0.0, 0.0]]
    first = np.r_[np.full(2 * n, 20.0), [0.0, 0.0]]
    group = np.r_[np.zeros(n), np.ones(n), [0, 1]].astype(int)
    got = _expected_margin(model, x, m, first, group)
    population = model.population_mean
    small, large = population * 20 / 40, population * 60 / 40
    w = model.p * 2 / (model.p * 2 + model.q - 1)
    assert got[0] == pytest.approx(w * 20 + (1 - w) * small)
    assert got[n] == pytest.approx(w * 60 + (1 - w) * large)
    assert got[-2] == pytest.approx(small) and got[-1] == pytest.approx(large)  # no purchase to go by
    # one segment: the published model
    one = _expected_margin(model, x, m, first, np.zeros(len(x), dtype=int))
    assert one == pytest.approx(model.expected_value(np.where((x == 0) & (first > 0), 1.0, x), m))
    # a segment below 50 repeat customers keeps the population mean
    few = _expected_margin(model, x[n - 10 :], m[n - 10 :], first[n - 10 :], group[n - 10 :])
    assert few[0] == pytest.approx(w * 20 + (1 - w) * population)


def test_many_splines_at_once_are_scipys() -> None:
    """The splines ``by_x_and_T`` builds many at a time are scipy's not-a-knot CubicSpline: the
    same values between the knots, on the knots and beyond the ends."""
    from scipy.interpolate import CubicSpline

    from kpi.clv import _not_a_knot, _spline_values

    rng = np.random.default_rng(3)
    lows, highs = rng.uniform(0, 2, 5), rng.uniform(2.5, 6, 5)
    grids = np.linspace(lows, highs, 65, axis=1)
    values = np.stack([np.sin(grids * (i + 1)) + grids**2 for i in range(3)], axis=2)  # 3 columns
    coefficients = _not_a_knot(grids, values)
    for s in range(5):
        at = np.r_[rng.uniform(lows[s] - 0.1, highs[s] + 0.1, 200), grids[s]]
        got = _spline_values(grids, coefficients, np.full(len(at), s), at)
        want = CubicSpline(grids[s], values[s])(at)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_the_clv_histogram_by_hand() -> None:
    """Twenty customers worth 0 … 1,900: the 95th percentile (1,805) caps the bands, so the
    customer worth 1,900 falls in the last band with 1,800; a negative value opens the first band;
    the unassigned segment comes last; the median is every customer's."""
    from kpi.customer_value import clv_histogram

    values = [100.0 * i for i in range(20)]
    values[0] = -50.0
    table = pd.DataFrame({"segment": ["n/d", "B", "A", "A"] * 5, "total_clv": values})
    histogram = clv_histogram(table, bins=4)
    cap = float(np.quantile(values, 0.95))
    assert cap == pytest.approx(1805.0)
    assert histogram.edges.tolist() == pytest.approx(np.linspace(-50.0, cap, 5).tolist())
    assert histogram.segments == ["A", "B", "n/d"]
    # bands of 463.75 from -50: [-50, 413.75), [413.75, 877.5), [877.5, 1341.25), [1341.25, 1805]
    per = {s: c.tolist() for s, c in zip(histogram.segments, histogram.counts, strict=True)}
    assert per["n/d"] == [2, 1, 1, 1]  # -50, 400 · 800 · 1200 · 1600
    assert per["B"] == [1, 1, 2, 1]  # 100 · 500 · 900, 1300 · 1700
    assert per["A"] == [2, 2, 2, 4]  # 200, 300 · 600, 700 · 1000, 1100 · 1400, 1500, 1800, 1900
    assert histogram.counts.sum() == 20
    assert histogram.median == float(np.median(values))


_TWO_FITS = """
import threading
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_info
import kpi.clv as clv

def blas_threads():
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

default = blas_threads()
rng = np.random.default_rng(1)
T = rng.uniform(10, 100, 300)
x = rng.poisson(2, 300).astype(float)
summary = pd.DataFrame({"x": x, "t_x": np.where(x > 0, T * rng.uniform(0, 1, 300), 0.0), "T": T})
b_started, a_started, b_done = threading.Event(), threading.Event(), threading.Event()
seen = []
negll = clv._bgnbd_negll

def watched(theta, data):
    name = threading.current_thread().name
    if name == "B" and not a_started.is_set():
        b_started.set()
        a_started.wait(10)  # B is inside its fit when A starts its own
    if name == "A":
        if not a_started.is_set():
            a_started.set()
            b_done.wait(10)  # A goes on after B's fit has ended
        seen.append(blas_threads())
    return negll(theta, data)

clv._bgnbd_negll = watched

def fit_b():
    clv.fit_bgnbd(summary)
    b_done.set()

b = threading.Thread(target=fit_b, name="B")
b.start()
b_started.wait(10)
a = threading.Thread(target=lambda: clv.fit_bgnbd(summary), name="A")
a.start()
a.join(); b.join()
print(default, max(seen))
"""


def test_a_fit_keeps_one_blas_thread_when_another_fit_ends_beside_it() -> None:
    """Two fits on two threads (a page and a helper): the one that ends first must not give BLAS
    its threads back under the other, whose long dot products would then be summed in another
    order (other parameters in the last digits, a failed line search). Run in a fresh process: the
    limit, once set, holds for the rest of a process."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _TWO_FITS], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1]
    ).stdout.split()
    default, during = int(out[0]), int(out[1])
    if default < 2:
        pytest.skip("BLAS has one thread on this machine: nothing to give back")
    assert during == 1
