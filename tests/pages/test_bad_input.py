"""The bad-input matrix in the pages: the data-health page counts every bad row and every row worth a
look; odd segment names travel through the URL and give their own figures; no traceback anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data.demo import write_frames
from render.format import fmt_money
from tests.conftest import ALL_PAGES, APP
from tests.fixtures import MATRIX_EXCLUDED, MATRIX_REVENUE, matrix_frames


@pytest.fixture
def matrix_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = f"duckdb:///{tmp_path / 'matrix.duckdb'}"
    write_frames(url, matrix_frames())
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    return config


def test_the_health_page_counts_the_matrix(matrix_app: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    for page in ALL_PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    tables = [tb.value for tb in at.table]
    reasons = tables[1]
    orders = reasons[reasons.iloc[:, 0] == "Ordini"]
    assert sum(int(n) for n in orders.iloc[:, 2]) == sum(MATRIX_EXCLUDED.values())
    assert dict(zip(orders.iloc[:, 1], orders.iloc[:, 2].astype(int), strict=True))["Data non leggibile"] == 3
    looks = tables[2].set_index(tables[2].columns[0])
    unknown = looks.loc[next(i for i in looks.index if "assenti dall'anagrafica" in i)]
    assert unknown.iloc[0] == "1" and unknown.iloc[1] == fmt_money(55, "it", decimals=0)
    refunds = looks.loc[next(i for i in looks.index if i.startswith("Resi"))]
    assert refunds.iloc[0] == "1" and refunds.iloc[1] == fmt_money(-30, "it", decimals=0)
    idle = looks.loc[next(i for i in looks.index if "senza ordini" in i)]
    assert idle.iloc[0] == "1"


@pytest.mark.parametrize("segment", ["Bar & Caffè", "Ristoranti, hotel", "100% bio", "O'Hara", "☕ Specialty"])
def test_an_odd_segment_in_the_url(matrix_app: Path, segment: str) -> None:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["segment"] = [segment]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="segment").value == [segment]
    revenue = next(m.value for m in at.metric if m.label == "Ricavi")
    assert revenue == fmt_money(MATRIX_REVENUE[segment], "it", decimals=0)
