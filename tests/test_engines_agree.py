"""The same demo company on SQLite, DuckDB, PostgreSQL, MariaDB and (when a server is given) Spark SQL
(typed columns this time) gives the same figures on every engine."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from data import queries
from data.demo import write_demo
from data.filters import Filters
from data.settings import Settings, Target
from data.source import Source
from kpi.whatif import Scenario
from service import compute
from tests.conftest import ENGINES, _url_for

#: every engine but DuckDB, whose figures are the reference
OTHERS = tuple(kind for kind in ENGINES if kind != "duckdb")
TODAY = date(2026, 11, 23)
PERIOD = Filters(start=date(2025, 11, 1), end=date(2026, 10, 31))


@pytest.fixture(scope="module")
def sources(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, default_settings: Settings
) -> dict[str, Source]:
    out = {}
    for kind in ENGINES:
        url = _url_for(kind, tmp_path_factory.mktemp(f"agree_{kind}"), request, "agree")
        write_demo(url, customers=300, seed=11)
        out[kind] = Source(settings=default_settings, url=url)
    return out


def test_column_types_are_detected_where_the_driver_says(sources: dict[str, Source]) -> None:
    assert sources["duckdb"].entity("orders").native_kind("order_date") == "date"
    assert sources["postgresql"].entity("orders").native_kind("revenue") == "number"
    assert sources["sqlite"].entity("orders").native_kind("order_date") is None
    if "spark" in sources:
        assert sources["spark"].entity("orders").native_kind("order_date") == "date"
        assert sources["spark"].entity("orders").native_kind("revenue") == "number"


NARROW = Filters(segments=("HoReCa", "Uffici"), regions=("Centro", "Sud"), start=PERIOD.start, end=PERIOD.end)


@pytest.mark.parametrize("filters", [PERIOD, NARROW])
def test_period_measures_agree(sources: dict[str, Source], filters: Filters) -> None:
    frames = {k: queries.period_measures(s, filters, TODAY) for k, s in sources.items()}
    assert frames["duckdb"].iloc[0]["revenue"] > 0
    for kind in OTHERS:
        pd.testing.assert_frame_equal(frames[kind], frames["duckdb"], check_dtype=False)


def test_monthly_and_health_agree(sources: dict[str, Source]) -> None:
    monthly = {k: queries.monthly_by_segment(s, PERIOD, TODAY) for k, s in sources.items()}
    health = {k: queries.entity_health(s, "orders", TODAY) for k, s in sources.items()}
    for kind in OTHERS:
        pd.testing.assert_frame_equal(monthly[kind], monthly["duckdb"], check_dtype=False)
        assert health[kind] == health["duckdb"]
    assert health["duckdb"]["excluded"] == {"missing_customer": 2, "bad_amount": 1, "future_date": 2, "duplicate_id": 2}


def test_engagement_values_agree(sources: dict[str, Source]) -> None:
    """The referrals and engagements of the demo, read and valued on every engine: the same
    customers with the same CEV and parts, the same referrals, the same rows excluded."""
    tables, details, health = {}, {}, {}
    for kind, source in sources.items():
        facts = compute.facts_for(source, TODAY)
        as_of = PERIOD.end
        assert as_of is not None
        clv = compute.clv_at(source, as_of, TODAY, facts=facts)
        table, detail, found = compute.engagement_tables(source, facts, clv, as_of)
        tables[kind] = table.sort_values("customer_id").reset_index(drop=True)
        details[kind] = detail.sort_values(["referred_id"]).reset_index(drop=True)[["referrer_id", "referred_id"]]
        health[kind] = {name: (h["rows_read"], h["rows_used"], h["excluded"]) for name, h in found.health.items()}
    base = tables["duckdb"]
    assert set(health["duckdb"]) == {"referrals", "engagements"}
    assert (base["crv"] > 0).sum() > 5 and (base["civ"] > 0).sum() > 0 and (base["ckv"] > 0).sum() > 0
    for kind in OTHERS:
        assert health[kind] == health["duckdb"], kind
        pd.testing.assert_frame_equal(details[kind], details["duckdb"], check_dtype=False)
        numbers = ["clv", "crv", "civ", "civ_estimated", "ckv", "cev"]
        pd.testing.assert_frame_equal(tables[kind][numbers], base[numbers], check_dtype=False, rtol=1e-6)
        assert tables[kind]["quadrant"].tolist() == base["quadrant"].tolist(), kind
        assert tables[kind]["customer_id"].astype(str).tolist() == base["customer_id"].astype(str).tolist()


def test_forecast_agrees(sources: dict[str, Source]) -> None:
    """The forecast and its backtest: the same months and figures on every engine."""
    from data.settings import ForecastParams
    from service.forecast import forecast_for

    views = {}
    for kind, source in sources.items():
        facts = compute.facts_for(source, TODAY)
        as_of = PERIOD.end
        assert as_of is not None
        view = forecast_for(
            facts,
            NARROW,
            ForecastParams(months=6),
            as_of,
            lambda d, s=source, f=facts: compute.clv_at(s, d, TODAY, facts=f),
        )
        assert view is not None, kind
        views[kind] = view
    base = views["duckdb"]
    assert len(base.table) == 6 and base.table["revenue"].sum() > 0
    for kind in OTHERS:
        pd.testing.assert_frame_equal(views[kind].table, base.table, rtol=1e-6)
        assert base.backtest is not None and views[kind].backtest is not None  # three years of history
        pd.testing.assert_frame_equal(views[kind].backtest, base.backtest, rtol=1e-6)


SEGMENT = "HoReCa"


def _target_rows(source: Source, targets: tuple[Target, ...]) -> pd.DataFrame:
    """The targets judged as the overview judges them at ``PERIOD.end``: the company's with no
    filter, then ``SEGMENT``'s with that segment chosen."""
    from data.settings import ForecastParams
    from service.forecast import forecast_for
    from service.targets import current_values, target_rows

    facts = compute.facts_for(source, TODAY)
    assert SEGMENT in set(facts.labels["segment"])
    as_of = PERIOD.end
    assert as_of is not None
    fitted = compute.fits(source, TODAY, facts=facts)
    frames = []
    for filters in (Filters(), Filters(segments=(SEGMENT,))):
        view = forecast_for(facts, filters, ForecastParams(months=12), as_of, fitted)
        assert view is not None
        current = current_values(source, filters, as_of, TODAY, fitted(as_of))
        frames.append(target_rows(facts, filters, targets, as_of, view, current))
    return pd.concat(frames, ignore_index=True)


def test_targets_agree(sources: dict[str, Source]) -> None:
    """The targets against actual — a year's revenue, margin %, new and active customers, average
    CLV, a month's revenue, a segment's revenue — judged alike on every engine: the same values,
    bands, bases and statuses."""
    kinds = [
        ("revenue", "2026", None),
        ("margin_pct", "2026", None),
        ("new_customers", "2026", None),
        ("active_customers", "2026", None),
        ("avg_clv", "2026", None),
        ("revenue", "2026-09", None),
        ("revenue", "2026", SEGMENT),
        ("orders", "2026", SEGMENT),
    ]
    # the figures found on DuckDB, then targets at half (met) and twice (missed) of them
    probe = _target_rows(sources["duckdb"], tuple(Target(k, p, 1.0, s) for k, p, s in kinds))
    assert len(probe) == len(kinds) and probe["value"].notna().all()
    found = probe.set_index(["kpi", "period", "segment"], drop=False)["value"]
    targets = tuple(
        Target(k, p, float(found[(k, p, s)]) * (0.5 if n % 2 == 0 else 2.0), s) for n, (k, p, s) in enumerate(kinds)
    )
    rows = {kind: _target_rows(source, targets) for kind, source in sources.items()}
    base = rows["duckdb"]
    assert len(base) == len(kinds) and base["status"].notna().all()
    assert {"on_track", "off_track"} <= set(base["status"]), base[["kpi", "period", "segment", "status"]]
    assert set(base["basis"]) >= {"projection", "final", "current"}
    for kind in OTHERS:
        assert rows[kind]["status"].tolist() == base["status"].tolist(), kind
        pd.testing.assert_frame_equal(rows[kind], base, rtol=1e-6, obj=kind)


#: retention, frequency and margin per order moved together
SCENARIO = Scenario(churn=-0.2, frequency=0.1, margin_pp=0.02)


def test_whatif_agrees(sources: dict[str, Source]) -> None:
    """The what-if simulator, today and with three levers moved: the same figures, waterfall and
    channel ROI on every engine."""
    from service.whatif import FIGURES, whatif

    found = {}
    for kind, source in sources.items():
        facts = compute.facts_for(source, TODAY)
        as_of = PERIOD.end
        assert as_of is not None
        clv = compute.clv_at(source, as_of, TODAY, facts=facts)
        found[kind] = whatif(source, facts, clv, Filters(), as_of, TODAY, SCENARIO)
    base = found["duckdb"]
    assert set(base.today) == set(FIGURES) and set(base.scenario) == set(FIGURES)
    assert base.today["total_clv"] > 0 and base.today["revenue_12m"] > 0
    # the scenario moves the figures (the test can fail): more value, fewer leaving
    assert base.scenario["total_clv"] > base.today["total_clv"] * 1.01
    assert base.scenario["margin_12m"] > base.today["margin_12m"] * 1.01
    assert base.scenario["leaving_12m"] < base.today["leaving_12m"] * 0.99
    assert base.steps["lever"].tolist() == ["churn", "frequency", "margin_pp"]
    assert len(base.channels) > 1 and (base.channels["roi_scenario"] != base.channels["roi_today"]).any()
    for kind in OTHERS:
        for when in ("today", "scenario"):
            figures, expected = getattr(found[kind], when), getattr(base, when)
            assert figures == pytest.approx(expected, rel=1e-6, nan_ok=True), (kind, when)
        pd.testing.assert_frame_equal(found[kind].steps, base.steps, rtol=1e-6, obj=kind)
        pd.testing.assert_frame_equal(found[kind].channels, base.channels, rtol=1e-6, obj=kind)


AS_OF = date(2026, 10, 31)


def test_every_pages_customer_figures_agree(sources: dict[str, Source]) -> None:
    """Customer value, lifecycle, marketing, opportunities and data health from every engine: the
    model's parameters to 1e-9, every customer's CLV to the cent, the same stage for every customer,
    the same campaign ROI, cohorts and upsell list, the same data-health counts."""
    from data import facts as fx

    found = {}
    for kind, source in sources.items():
        facts = compute.facts_for(source, TODAY)
        clv = compute.clv_at(source, AS_OF, TODAY, facts=facts)
        stages = compute.stages_at(source, AS_OF, TODAY, clv)
        found[kind] = {
            "clv": clv,
            "stages": stages,
            "roi": compute.roi_table(source, PERIOD, AS_OF, TODAY, clv, facts=facts),
            "cohorts": fx.cohort_activity(facts, NARROW, AS_OF),
            "upsell": compute.upsell_tables(source, AS_OF, TODAY, stages, facts=facts),
            "health": {
                name: compute.entity_health(source, facts, name)
                for name in ("orders", "customers", "campaigns", "leads", "tickets", "order_lines", "products")
            },
        }
    base = found["duckdb"]
    assert base["clv"].predicted and len(base["clv"].table) > 200
    assert base["stages"]["stage"].nunique() >= 4 and len(base["upsell"][0]) > 0 and len(base["roi"]) >= 3
    money = ["historical_clv", "residual_clv", "total_clv", "margin_to_date", "acquisition_cost", "service_cost"]
    for kind in OTHERS:
        got = found[kind]
        for model in ("bgnbd", "gamma_gamma"):
            mine, theirs = vars(getattr(got["clv"], model)), vars(getattr(base["clv"], model))
            assert mine == pytest.approx(theirs, rel=1e-9), (kind, model)
        table, reference = got["clv"].table, base["clv"].table
        assert table["customer_id"].astype(str).tolist() == reference["customer_id"].astype(str).tolist(), kind
        for column in money:
            assert (table[column] - reference[column]).abs().max() < 0.005, (kind, column)
        assert got["stages"]["stage"].tolist() == base["stages"]["stage"].tolist(), kind
        pd.testing.assert_frame_equal(got["roi"], base["roi"], check_dtype=False, rtol=1e-9, obj=kind)
        pd.testing.assert_frame_equal(got["cohorts"], base["cohorts"], check_dtype=False, rtol=1e-9, obj=kind)
        for mine, theirs in zip(got["upsell"], base["upsell"], strict=True):
            pd.testing.assert_frame_equal(
                mine.astype({"customer_id": str}) if "customer_id" in mine else mine,
                theirs.astype({"customer_id": str}) if "customer_id" in theirs else theirs,
                check_dtype=False,
                rtol=1e-9,
                obj=kind,
            )
        assert got["health"] == base["health"], kind
