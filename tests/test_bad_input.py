"""The bad-input matrix on every engine: correct figures from the good rows, the right counts for
the rest, and odd segment names that filter like any other."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from data import queries
from data.demo import write_frames
from data.filters import Filters
from data.settings import load_settings
from data.source import Source
from tests.conftest import ENGINES, _url_for
from tests.fixtures import MATRIX_EXCLUDED, MATRIX_REVENUE, MATRIX_TODAY, matrix_frames

TODAY = date.fromisoformat(MATRIX_TODAY)
YEAR = Filters(start=date(2024, 1, 1), end=date(2024, 12, 31))


@pytest.fixture(scope="module", params=ENGINES)
def matrix_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = _url_for(request.param, tmp_path_factory.mktemp(f"matrix_{request.param}"), request, "matrix")
    write_frames(url, matrix_frames())
    return url


def _source(url: str, tmp_path: Path, order: str = "DMY") -> Source:
    config = tmp_path / "cruscotto.toml"
    config.write_text(f'[source]\ndate_order = "{order}"\n')
    return Source(settings=load_settings(config, env={}, secrets_path="/nonexistent"), url=url)


def test_every_bad_row_is_counted_under_its_reason(matrix_url: str, tmp_path: Path) -> None:
    health = queries.entity_health(_source(matrix_url, tmp_path), "orders", TODAY)
    assert health["excluded"] == MATRIX_EXCLUDED
    assert health["rows_used"] == 12 and health["rows_read"] == 27
    assert health["first_date"] == date(2024, 3, 1) and health["last_date"] == date(2024, 11, 20)
    customers = queries.entity_health(_source(matrix_url, tmp_path), "customers", TODAY)
    assert customers["excluded"] == {"missing_id": 1, "duplicate_id": 1} and customers["rows_used"] == 10


def test_rows_kept_but_worth_a_look(matrix_url: str, tmp_path: Path) -> None:
    warnings = queries.data_warnings(_source(matrix_url, tmp_path), TODAY)
    assert warnings == {
        "refunds": 1,
        "refund_amount": 30.0,
        "orders_unknown_customer": 1,
        "revenue_unknown_customer": 55.0,
        "customers_without_orders": 1,
    }


def test_good_rows_give_the_hand_computed_figures(matrix_url: str, tmp_path: Path) -> None:
    source = _source(matrix_url, tmp_path)
    totals = queries.segment_totals(source, YEAR, TODAY).set_index("segment")["revenue"].to_dict()
    assert totals == pytest.approx(MATRIX_REVENUE)
    options = queries.filter_options(source, TODAY)["segment"]
    assert options == [*sorted(s for s in MATRIX_REVENUE if s != "n/d"), "n/d"]


@pytest.mark.parametrize("segment", sorted(MATRIX_REVENUE))
def test_odd_segment_names_filter_like_any_other(matrix_url: str, tmp_path: Path, segment: str) -> None:
    measures = queries.period_measures(
        _source(matrix_url, tmp_path), Filters(segments=(segment,), start=YEAR.start, end=YEAR.end), TODAY
    )
    assert measures.iloc[0]["revenue"] == pytest.approx(MATRIX_REVENUE[segment])


def test_month_first_dates_are_a_setting(matrix_url: str, tmp_path: Path) -> None:
    health = queries.entity_health(_source(matrix_url, tmp_path, "MDY"), "orders", TODAY)
    # month first: 15/03, 20.04 (both rows of order 2 and order 3) are no dates; 6/7 is 7 June
    assert health["excluded"]["bad_date"] == 6 and "duplicate_id" not in health["excluded"]
    assert health["rows_used"] == 10
