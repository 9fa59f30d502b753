"""The forecast: each piece against a hand computation or the model's own formulas on small
fixtures, then on the demo company (the segments add up to the whole, the backtest is made and its
error reported) and from the command line."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cli
from data.filters import Filters
from data.settings import ConfigError, ForecastParams, Settings, load_settings
from data.source import Source
from kpi.clv import BGNBD, GammaGamma
from kpi.forecast import (
    NEWCOMER_WINDOW,
    Z_80,
    CellForecast,
    backtest_errors,
    backtest_table,
    band,
    cohort_curves,
    existing_customers,
    forecast_months,
    newcomers,
    per_purchase,
)
from kpi.periods import add_months
from service import compute
from service.forecast import forecast_for

# the CDNOW fit of Fader, Hardie & Lee (2005), time in weeks
MODEL = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0.0, customers=2357, repeat_customers=1000)


def test_months_and_month_arithmetic() -> None:
    assert forecast_months(date(2026, 10, 31), 3) == [
        (date(2026, 11, 1), date(2026, 11, 30)),
        (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 1, 31)),
    ]
    # from the middle of a month: that month's rest comes first, then the whole months asked for
    assert forecast_months(date(2026, 10, 15), 1) == [
        (date(2026, 10, 1), date(2026, 10, 31)),
        (date(2026, 11, 1), date(2026, 11, 30)),
    ]
    assert len(forecast_months(date(2026, 10, 30), 12)) == 13
    assert add_months(date(2026, 10, 31), -1) == date(2026, 9, 30)  # a month's end stays one
    assert add_months(date(2026, 2, 28), 1) == date(2026, 3, 31)
    assert add_months(date(2026, 3, 30), -1) == date(2026, 2, 28)  # clipped to February
    assert add_months(date(2026, 1, 15), -12) == date(2025, 1, 15)


def test_known_customers_follow_the_model_month_by_month() -> None:
    """Each month's purchases are the model's E[Y(t)] at the month's end minus at its start (equation
    (10)); revenue and margin are those purchases × the amount per purchase; the months add up to
    the whole span."""
    x, t_x, T = np.array([0.0, 2.0, 5.0]), np.array([0.0, 30.0, 10.0]), np.array([38.0, 38.0, 38.0])  # noqa: N806
    amounts = {"revenue": np.array([50.0, 80.0, 20.0]), "margin": np.array([10.0, 30.0, 5.0]), "orders": np.ones(3)}
    cell = np.array([0, 1, 1])
    forecast, left_out = existing_customers(MODEL, x, t_x, T, amounts, cell, 2, date(2026, 10, 31), 3, 7.0)
    assert left_out == 0
    ends = np.array([30, 61, 92]) / 7.0  # days from 31 October to the end of November, December, January
    cumulative = np.array([MODEL.expected_purchases(t, x, t_x, T) for t in ends])
    monthly = np.diff(np.vstack([np.zeros(3), cumulative]), axis=0)
    assert forecast.mean["orders"][:, 0] == pytest.approx(monthly[:, 0], rel=1e-6)
    assert forecast.mean["orders"][:, 1] == pytest.approx(monthly[:, 1] + monthly[:, 2], rel=1e-6)
    assert forecast.mean["revenue"][:, 1] == pytest.approx(80 * monthly[:, 1] + 20 * monthly[:, 2], rel=1e-6)
    assert forecast.mean["margin"].sum() == pytest.approx((cumulative[-1] * amounts["margin"]).sum(), rel=1e-6)
    # purchases as Poisson counts: the variance of a sum of purchases × amount is Σ E × amount²
    assert forecast.variance["revenue"][0, 0] == pytest.approx(monthly[0, 0] * 50**2, rel=1e-6)
    # active: at most the purchases expected, and at most one per customer
    assert np.all(forecast.mean["active_customers"] <= forecast.mean["orders"] + 1e-12)
    assert np.all(forecast.mean["active_customers"][:, 1] <= 2)
    # the customer who bought five times in their first ten weeks and never since is likely gone
    assert monthly[0, 2] < monthly[0, 0]
    assert forecast.months == [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)]


def test_a_large_base_is_forecast_on_curves_as_exactly_as_the_formula() -> None:
    """Above a few thousand distinct histories the months come from one spline per purchase count
    through all twelve months: they must match equation (10) month by month."""
    import kpi.clv as clv_module

    rng = np.random.default_rng(3)
    n = 20_000
    age = rng.uniform(0.1, 160, n).round(3)
    x = rng.poisson(2, n).astype(float)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * age, 0.0)
    assert len(np.unique(np.c_[x, age], axis=0)) > clv_module._EXACT_PAIRS  # the curves are used
    ones = {k: np.ones(n) for k in ("revenue", "margin", "orders")}
    forecast, _ = existing_customers(MODEL, x, t_x, age, ones, np.arange(n), n, date(2026, 10, 31), 12, 7.0)
    ends = np.array([(last - date(2026, 10, 31)).days for _, last in forecast_months(date(2026, 10, 31), 12)]) / 7.0
    exact = np.diff(np.vstack([np.zeros(n), *(MODEL.expected_purchases(t, x, t_x, age) for t in ends)]), axis=0)
    assert np.max(np.abs(forecast.mean["orders"] - exact) / exact) < 1e-6


def test_active_is_the_chance_of_at_least_one_purchase() -> None:
    """A customer alive for sure (no repeat yet) is active in the first month with probability
    1 − ((α + T) / (α + T + Δ))^(r + x): the Gamma posterior of their rate."""
    x, t_x, T = np.array([0.0]), np.array([0.0]), np.array([10.0])  # noqa: N806
    forecast, _ = existing_customers(
        MODEL,
        x,
        t_x,
        T,
        {k: np.ones(1) for k in ("revenue", "margin", "orders")},
        np.array([0]),
        1,
        date(2026, 10, 31),
        1,
        7.0,
    )
    month = 30 / 7.0
    some = 1 - ((MODEL.alpha + 10) / (MODEL.alpha + 10 + month)) ** MODEL.r
    expected = MODEL.expected_purchases(month, x, t_x, T)[0]
    rate = MODEL.r / (MODEL.alpha + 10) * month
    assert forecast.mean["active_customers"][0, 0] == pytest.approx(expected * some / rate, rel=1e-6)
    assert forecast.mean["active_customers"][0, 0] < expected


def test_amount_per_purchase_is_weighed_against_the_segment() -> None:
    """Weight p·n / (p·n + q − 1): with p = 2, q = 3, two purchase days weigh 4 / 6."""
    model = GammaGamma(p=2.0, q=3.0, gamma=1.0, log_likelihood=0.0, customers=3)
    days = np.array([2.0, 1.0, 1.0, 0.0])
    revenue = np.array([200.0, 50.0, 1000.0, 0.0])
    group = np.array([0, 0, 1, 0])
    got = per_purchase(model, days, revenue, group)
    segment0 = 250.0 / 3  # 250 over 3 purchase days
    assert got[0] == pytest.approx(4 / 6 * 100 + 2 / 6 * segment0)
    assert got[1] == pytest.approx(2 / 4 * 50 + 2 / 4 * segment0)
    assert got[2] == pytest.approx(1000.0)  # alone in its segment: its own mean either way
    assert got[3] == pytest.approx(segment0)  # no purchase: the segment's


def test_cohort_curves_and_newcomers_by_hand() -> None:
    """Two newcomers of group 0 (months 10 and 11; the last whole month is 11) and none of group 1:
    age 0 is the mean of both, age 1 only the first one's, later ages repeat the last seen."""
    first_month = np.array([10, 11])
    group = np.array([0, 0])
    month_code = np.array([0, 0, 1])
    month = np.array([10, 11, 11])
    values = {
        "revenue": np.array([100.0, 40.0, 60.0]),
        "margin": np.array([30.0, 10.0, 20.0]),
        "orders": np.array([2.0, 1.0, 1.0]),
        "active_customers": np.array([1.0, 1.0, 1.0]),
    }
    curves = cohort_curves(first_month, group, 2, month_code, month, values, last_month=11, ages=3)
    assert curves.mean["revenue"][0].tolist() == pytest.approx([80.0, 40.0, 40.0])
    assert curves.square["revenue"][0, 0] == pytest.approx((100**2 + 60**2) / 2)
    assert curves.mean["active_customers"][0].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert curves.mean["revenue"][1].tolist() == [0.0, 0.0, 0.0]
    # three newcomers a month in a cell of group 0: month m brings 3 × Σ_{a ≤ m} curve[a]
    ahead = newcomers(np.array([3.0]), np.array([0]), curves, date(2026, 10, 31), 3)
    assert ahead.mean["revenue"][:, 0].tolist() == pytest.approx([240.0, 360.0, 480.0])
    assert ahead.variance["revenue"][0, 0] == pytest.approx(3 * (100**2 + 60**2) / 2)


def test_band_and_backtest_by_hand() -> None:
    low, high = band(np.array([100.0, 10.0]), np.array([0.0, 0.0]), 0.1)
    assert low[0] == pytest.approx(100 - Z_80 * 10) and high[0] == pytest.approx(100 + Z_80 * 10)
    low, _ = band(np.array([10.0]), np.array([400.0]), 0.0)
    assert low[0] == 0.0  # never below nothing
    said = {k: np.array([[110.0, 0.0], [90.0, 5.0]]) for k in ("revenue", "margin", "orders", "active_customers")}
    was = {k: np.array([[100.0, 7.0], [100.0, 3.0]]) for k in ("revenue", "margin", "orders", "active_customers")}
    backtest = CellForecast([date(2025, 11, 1), date(2025, 12, 1)], said, {k: v * 0 for k, v in said.items()})
    table = backtest_table(backtest, was, np.array([True, False]))
    assert table["revenue_error"].tolist() == pytest.approx([0.1, -0.1])
    errors = backtest_errors(table)
    assert errors["revenue"]["monthly"] == pytest.approx(0.1)
    assert errors["revenue"]["total"] == pytest.approx(0.0)


def test_forecast_settings_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "cruscotto.toml"
    for body, key in (
        ("[forecast]\nmonths = 0\n", "forecast.months"),
        ('[forecast]\nmonths = "twelve"\n', "forecast.months"),
        ("[forecast]\ntrailing_months = 48\n", "forecast.trailing_months"),
        ("[forecast]\nhorizon = 12\n", "forecast.horizon"),
    ):
        config.write_text(body)
        with pytest.raises(ConfigError) as caught:
            load_settings(config, env={}, secrets_path="/nonexistent")
        assert key in str(caught.value)
    config.write_text("[forecast]\nmonths = 6\nbacktest_months = 3\n")
    params = load_settings(config, env={}, secrets_path="/nonexistent").forecast
    assert params == ForecastParams(months=6, trailing_months=6, backtest_months=3)


@pytest.fixture(scope="module")
def demo_forecast(demo_source: Source) -> tuple[Source, object]:
    today = date(2026, 11, 25)
    facts = compute.facts_for(demo_source, today)
    fits: dict[date, object] = {}

    def fitted(day: date) -> compute.CLVResult:  # type: ignore[name-defined]
        if day not in fits:
            fits[day] = compute.clv_at(demo_source, day, today, facts=facts)
        return fits[day]  # type: ignore[return-value]

    return demo_source, (facts, fitted)


def test_demo_forecast_adds_up_and_is_backtested(demo_forecast: tuple[Source, object]) -> None:
    source, (facts, fitted) = demo_forecast  # type: ignore[misc]
    as_of = date(2026, 10, 31)
    whole = forecast_for(facts, Filters(), ForecastParams(), as_of, fitted)
    assert whole is not None and len(whole.table) == 12 and whole.table["month"].iloc[0] == pd.Timestamp("2026-11-01")
    parts = [
        forecast_for(facts, Filters(segments=(s,)), ForecastParams(), as_of, fitted) for s in facts.labels["segment"]
    ]
    for measure in ("revenue", "margin", "orders", "active_customers"):
        summed = sum(p.table[measure].to_numpy() for p in parts if p is not None)
        assert summed == pytest.approx(whole.table[measure].to_numpy(), rel=1e-9)
    assert (whole.table["revenue_low"] < whole.table["revenue"]).all()
    assert (whole.table["revenue"] < whole.table["revenue_high"]).all()
    # the backtest: made twelve months earlier, against what happened; the error is reported
    assert whole.backtest is not None and len(whole.backtest) == 12
    assert whole.backtest["month"].iloc[0] == pd.Timestamp("2025-11-01")
    actual = compute.facts_for(source, date(2026, 11, 25))
    assert whole.backtest["revenue"].sum() == pytest.approx(
        float(
            actual.d_revenue[
                (actual.d_day >= (date(2025, 11, 1) - date(1970, 1, 1)).days)
                & (actual.d_day <= (as_of - date(1970, 1, 1)).days)
            ].sum()
        )
    )
    assert whole.errors is not None and abs(whole.errors["revenue"]["total"]) < 0.25
    assert 0 < whole.errors["revenue"]["monthly"] < 0.3
    # a three-month forecast is the first three months of the twelve
    short = forecast_for(facts, Filters(), ForecastParams(months=3), as_of, fitted)
    assert short is not None
    assert short.table["revenue"].to_numpy() == pytest.approx(whole.table["revenue"].to_numpy()[:3], rel=1e-9)


def test_the_newcomers_curves_are_made_from_the_newcomers_rows_alone(demo_forecast: tuple[Source, object]) -> None:
    """The curves look at the customers who joined in the last two years: made from those customers'
    rows alone (at a million customers 2.9 million customer months instead of 5.6), they are the same to
    the last bit as from every customer's, at a month's end and in the middle of a month."""
    from service import forecast as fc

    _source, (facts, _fitted) = demo_forecast  # type: ignore[misc]
    for as_of in (date(2026, 10, 31), date(2026, 6, 17), date(2025, 1, 31)):
        last = fc._last_whole_month(as_of)
        everyone = fc._monthly(facts, as_of)
        newcomers_only = fc._monthly(facts, as_of, joined_after=last - NEWCOMER_WINDOW)
        assert 0 < len(newcomers_only[3]) <= len(everyone[3])
        if as_of.year == 2026:  # two years after the first customers: fewer customer months
            assert len(newcomers_only[3]) < len(everyone[3])
        want = cohort_curves(*everyone, last, len(forecast_months(as_of, 12)))
        got = fc.newcomer_curves(facts, as_of, 12)
        for k in want.mean:
            assert got.mean[k].tolist() == want.mean[k].tolist()
            assert got.square[k].tolist() == want.square[k].tolist()
        assert want.mean["revenue"].sum() > 0


def test_forecast_from_the_command_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_DB_URL", demo_url)
    out_file = tmp_path / "forecast.csv"
    code = cli.main(
        ["forecast", "--config", str(config), "--months", "3", "--segment", "HoReCa", "--json", "--out", str(out_file)]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    payload = json.loads(out)
    # the forecast starts the day after the last data: the rest of that month first, if any
    source = Source(settings=load_settings(config, env={}, secrets_path="/nonexistent"), url=demo_url)
    last = compute.facts_for(source, date.today()).date_range()[1]
    assert last is not None and payload["as_of"] == last.isoformat()
    next_day = last + timedelta(days=1)
    first = next_day if next_day.day == 1 else date(last.year, last.month, 1)
    months = [m["month"] for m in payload["months"]]
    # three whole months after a month partly gone
    assert len(months) == 3 + (next_day.day != 1) and months[0] == first.isoformat()
    first = payload["months"][0]
    assert {"revenue", "revenue_low", "revenue_high", "margin", "orders", "active_customers_high"} <= set(first)
    assert first["revenue_low"] < first["revenue"] < first["revenue_high"]
    assert payload["backtest"]["months"] == 3 and payload["backtest"]["error_total"]["revenue"] is not None
    assert len(pd.read_csv(out_file)) == len(months)
    code = cli.main(["forecast", "--config", str(config), "--months", "40"])
    _, err = capsys.readouterr()
    assert code == 2 and "--months" in err


def test_a_forecast_from_the_middle_of_a_month() -> None:
    """Data to 20 November: November's last 10 of 30 days are forecast; the newcomers of November
    are a third of a month's; the chart's November point is the whole month (what happened so far
    plus the rest), not the rest alone."""
    from kpi.forecast import Curves, month_shares
    from render.charts import monthly_revenue_figure

    assert month_shares(date(2026, 11, 20), 2).tolist() == pytest.approx([10 / 30, 1, 1])
    assert month_shares(date(2026, 11, 30), 2).tolist() == [1, 1]
    curves = Curves(
        {k: np.array([[60.0, 30.0]]) for k in ("revenue", "margin", "orders", "active_customers")},
        {k: np.array([[3600.0, 900.0]]) for k in ("revenue", "margin", "orders", "active_customers")},
    )
    ahead = newcomers(np.array([3.0]), np.array([0]), curves, date(2026, 11, 20), 1)
    assert ahead.mean["revenue"][:, 0].tolist() == pytest.approx([3 / 3 * 60, 3 / 3 * 30 + 3 * 60])
    # two whole months after November's rest; ages past the curves' last repeat it
    ahead = newcomers(np.array([3.0]), np.array([0]), curves, date(2026, 11, 20), 2)
    assert ahead.mean["revenue"][:, 0].tolist() == pytest.approx([60, 30 + 3 * 60, 30 + 3 * 30 + 3 * 60])
    monthly = pd.DataFrame(
        {
            "month": pd.to_datetime(["2026-10-01", "2026-11-01"]),
            "segment": "HoReCa",
            "revenue": [1000.0, 600.0],
            "margin": [300.0, 180.0],
            "orders": [10, 6],
            "customers": [8, 5],
        }
    )
    table = pd.DataFrame(
        {
            "month": pd.to_datetime(["2026-11-01", "2026-12-01"]),
            "revenue": [350.0, 1000.0],
            "revenue_low": [300.0, 900.0],
            "revenue_high": [400.0, 1100.0],
        }
    )
    fig = monthly_revenue_figure(monthly, {"HoReCa": "#000"}, "it", "EUR", table)
    line = fig.data[-1]
    assert list(line.y) == [950.0, 1000.0]  # November: 600 so far + 350 to come
    assert list(fig.data[-3].y) == [1000.0, 1100.0] and list(fig.data[-2].y) == [900.0, 900.0]


def test_the_next_twelve_months_to_the_day() -> None:
    """Data to 30 October: the forecast lists 31 October and 12 whole months; "the next 12 months"
    count October's last day and 30 of October 2027's 31 days; from a month's end, all 12."""
    from kpi.forecast import span_weights

    weights = span_weights(date(2026, 10, 30), 12)
    assert len(weights) == 13 and weights[0] == 1 and weights[-1] == pytest.approx(30 / 31)
    assert weights[1:-1].tolist() == [1.0] * 11
    assert span_weights(date(2026, 10, 31), 12).tolist() == [1.0] * 12


def test_the_backtest_is_made_in_the_background_once_the_source_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_settings: Settings
) -> None:
    """The overview's forecast is judged by a backtest with a model fit of its own: once the facts
    are read it is made on the read-ahead thread (``served.AFTER_READ``), while the overview's page
    fits the model at the period's end; the page then finds it made. The forecast itself is the
    page's (made there only for the backtest's own earlier date)."""
    from data import facts as fx
    from data.demo import write_demo
    from service import forecast as service_forecast
    from service import served, shared

    url = f"duckdb:///{tmp_path / 'ahead.duckdb'}"
    write_demo(url, customers=300, seed=5)
    settings = default_settings
    source = Source(settings=settings, url=url)
    made_on: list[str] = []
    real = service_forecast.backtest_cells

    def counted(*args: object, **kwargs: object) -> object:
        made_on.append(threading.current_thread().name)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service_forecast, "backtest_cells", counted)
    forecast_on: list[tuple[str, object]] = []  # (thread, as of): the backtest makes one too, earlier
    real_cells = service_forecast.forecast_cells

    def cells_counted(*args: object, **kwargs: object) -> object:
        forecast_on.append((threading.current_thread().name, args[2]))
        return real_cells(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service_forecast, "forecast_cells", cells_counted)
    lines_read_with_the_facts: list[object] = []
    real_lines = fx._lines_ahead
    monkeypatch.setattr(fx, "_lines_ahead", lambda *args: lines_read_with_the_facts.append(real_lines(*args)))
    served.clear()
    try:
        today = date(2026, 11, 23)
        key = served.source_key(url, settings)
        facts = served.facts(source, key, today)
        facts._cache[("read_ahead",)].result(timeout=120)  # the read-ahead thread is done
        served_as = served.served_key(facts)
        last = facts.date_range()[1]
        assert shared.forecast_backtest.made(source, served_as, last, today) is not None  # type: ignore[attr-defined]
        assert made_on == ["cruscotto-read-ahead_0"]
        assert len(lines_read_with_the_facts) == 1  # the server reads the order lines with the facts
        shared.forecast_backtest(source, served_as, last, today)  # the page's call: found made
        assert len(made_on) == 1
        assert [on for on, as_of in forecast_on if as_of == last] == []
    finally:
        served.clear()


def test_the_backtest_keeps_no_customer_table_of_its_own(tmp_path: Path, default_settings: Settings) -> None:
    """The backtest's forecast from an earlier date needs every customer's CLV then, but keeps only
    its sums per cell: the table is not kept for the server's visitors (at a million customers it
    and what hangs on it held about 0.2 GB), and the backtest is the one made from a kept table."""
    from data.demo import write_demo
    from service import forecast as service_forecast
    from service import served, shared

    url = f"duckdb:///{tmp_path / 'backtest.duckdb'}"
    write_demo(url, customers=300, seed=7)
    source = Source(settings=default_settings, url=url)
    served.clear()
    try:
        today = date(2026, 11, 23)
        facts = served.facts(source, served.source_key(url, default_settings), today)
        facts._cache[("read_ahead",)].result(timeout=120)
        key = served.served_key(facts)
        first, last = facts.date_range()
        start = service_forecast.backtest_start(last, default_settings.forecast, first)
        assert start is not None
        behind, actual = shared.forecast_backtest(source, key, last, today)
        assert behind is not None and behind.forecast is not None and actual is not None
        assert shared.clv.made(source, key, start, "week", today) is None  # type: ignore[attr-defined]

        kept = shared.clv(source, key, start, "week", today)  # a page asks for it: made and kept
        assert shared.clv.made(source, key, start, "week", today) is kept  # type: ignore[attr-defined]
        again, _ = service_forecast.backtest_cells(facts, default_settings.forecast, last, lambda _d: kept)
        assert again is not None and again.forecast is not None
        assert again.forecast.months == behind.forecast.months
        for measure, values in behind.forecast.mean.items():
            assert np.array_equal(values, again.forecast.mean[measure])
            assert np.array_equal(behind.forecast.variance[measure], again.forecast.variance[measure])
    finally:
        served.clear()
