"""The same demo company on SQLite, DuckDB, PostgreSQL and MariaDB (typed columns this time) gives the
same figures on every engine."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from data import queries
from data.demo import write_demo
from data.filters import Filters
from data.settings import Settings
from data.source import Source
from service import compute
from tests.conftest import ENGINES, _url_for

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


NARROW = Filters(segments=("HoReCa", "Uffici"), regions=("Centro", "Sud"), start=PERIOD.start, end=PERIOD.end)


@pytest.mark.parametrize("filters", [PERIOD, NARROW])
def test_period_measures_agree(sources: dict[str, Source], filters: Filters) -> None:
    frames = {k: queries.period_measures(s, filters, TODAY) for k, s in sources.items()}
    assert frames["duckdb"].iloc[0]["revenue"] > 0
    for kind in ("sqlite", "postgresql", "mariadb"):
        pd.testing.assert_frame_equal(frames[kind], frames["duckdb"], check_dtype=False)


def test_monthly_and_health_agree(sources: dict[str, Source]) -> None:
    monthly = {k: queries.monthly_by_segment(s, PERIOD, TODAY) for k, s in sources.items()}
    health = {k: queries.entity_health(s, "orders", TODAY) for k, s in sources.items()}
    for kind in ("sqlite", "postgresql", "mariadb"):
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
    for kind in ("sqlite", "postgresql", "mariadb"):
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
    for kind in ("sqlite", "postgresql", "mariadb"):
        pd.testing.assert_frame_equal(views[kind].table, base.table, rtol=1e-6)
        assert base.backtest is not None and views[kind].backtest is not None  # three years of history
        pd.testing.assert_frame_equal(views[kind].backtest, base.backtest, rtol=1e-6)
