"""Overview KPIs computed by hand on literal tables."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from data.filters import Filters, previous_period
from kpi.overview import OVERVIEW_KPIS, overview_kpis, safe_ratio, segment_shares
from kpi.periods import resolve_period
from kpi.registry import KPIS, kpi


def _measures(cur: dict[str, float], prev: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"period": "current", **cur}, {"period": "previous", **prev}])


BASE = {
    "revenue": 1000.0,
    "margin": 400.0,
    "orders": 10,
    "active_customers": 8,
    "new_customers": 2,
    "repeat_customers": 5,
}


def test_overview_kpis_by_hand() -> None:
    prev = {
        "revenue": 800.0,
        "margin": 240.0,
        "orders": 8,
        "active_customers": 8,
        "new_customers": 4,
        "repeat_customers": 4,
    }
    table = overview_kpis(_measures(BASE, prev)).set_index("kpi")
    assert list(table.index) == list(OVERVIEW_KPIS)
    assert table.loc["revenue", "change"] == pytest.approx(0.25)
    assert table.loc["margin_pct", "value"] == pytest.approx(0.40)
    assert table.loc["margin_pct", "previous"] == pytest.approx(0.30)
    assert table.loc["margin_pct", "change"] == pytest.approx(0.10)  # ten points
    assert table.loc["margin_pct", "change_kind"] == "points"
    assert table.loc["aov", "value"] == pytest.approx(100.0)
    assert table.loc["aov", "change"] == pytest.approx(0.0)
    assert table.loc["active_customers", "change"] == pytest.approx(0.0)
    assert table.loc["new_customers", "change"] == pytest.approx(-0.5)
    assert table.loc["repeat_customers", "change"] == pytest.approx(0.25)


def test_zero_previous_gives_nd_not_an_error() -> None:
    zero = dict.fromkeys(BASE, 0)
    table = overview_kpis(_measures(BASE, zero)).set_index("kpi")
    assert math.isnan(table.loc["revenue", "change"])
    assert math.isnan(table.loc["margin_pct", "previous"])
    assert math.isnan(table.loc["aov", "previous"])
    empty = overview_kpis(_measures(zero, zero)).set_index("kpi")
    assert math.isnan(empty.loc["margin_pct", "value"])
    assert empty.loc["revenue", "value"] == 0


def test_negative_previous_uses_its_size() -> None:
    table = overview_kpis(_measures({**BASE, "margin": 100.0}, {**BASE, "margin": -100.0})).set_index("kpi")
    assert table.loc["margin", "change"] == pytest.approx(2.0)


def test_overview_kpis_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="lack the columns margin"):
        overview_kpis(pd.DataFrame([{"period": "current", "revenue": 1}]))
    with pytest.raises(ValueError, match="exactly one 'current' and one 'previous'"):
        overview_kpis(pd.DataFrame([{"period": "current", **BASE}]))


def test_segment_shares() -> None:
    totals = pd.DataFrame({"segment": ["B", "A"], "revenue": [250.0, 750.0], "margin": [50.0, 300.0]})
    out = segment_shares(totals)
    assert list(out["segment"]) == ["A", "B"]
    assert out["revenue_share"].tolist() == pytest.approx([0.75, 0.25])
    assert out["margin_pct"].tolist() == pytest.approx([0.40, 0.20])
    zero = segment_shares(pd.DataFrame({"segment": ["A"], "revenue": [0.0], "margin": [0.0]}))
    assert math.isnan(zero.loc[0, "revenue_share"]) and math.isnan(zero.loc[0, "margin_pct"])


def test_safe_ratio() -> None:
    assert safe_ratio(1, 4) == 0.25
    assert math.isnan(safe_ratio(1, 0))
    assert math.isnan(safe_ratio(1, math.nan))


def test_registry_declares_every_overview_kpi() -> None:
    for name in OVERVIEW_KPIS:
        spec = kpi(name)
        assert spec.label("it") and spec.label("en") and spec.help("it") and spec.help("en")
    assert KPIS["margin_pct"].format == "percent"
    with pytest.raises(ValueError, match="Unknown KPI"):
        kpi("ebitda")


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("12m", (date(2025, 11, 1), date(2026, 10, 31))),
        ("6m", (date(2026, 5, 1), date(2026, 10, 31))),
        ("3m", (date(2026, 8, 1), date(2026, 10, 31))),
        ("ytd", (date(2026, 1, 1), date(2026, 10, 30))),
        ("all", (date(2023, 11, 4), date(2026, 10, 30))),
    ],
)
def test_period_presets_anchor_on_the_last_data_day(preset: str, expected: tuple[date, date]) -> None:
    assert resolve_period(preset, date(2023, 11, 4), date(2026, 10, 30)) == expected


def test_custom_period_and_errors() -> None:
    first, last = date(2024, 1, 1), date(2024, 12, 31)
    assert resolve_period("custom", first, last, date(2024, 3, 1), date(2024, 3, 31)) == (
        date(2024, 3, 1),
        date(2024, 3, 31),
    )
    with pytest.raises(ValueError, match="starts after it ends"):
        resolve_period("custom", first, last, date(2024, 4, 1), date(2024, 3, 1))
    with pytest.raises(ValueError, match="Unknown period"):
        resolve_period("forever", first, last)


def test_previous_period() -> None:
    # Whole months: the same number of months before.
    assert previous_period(date(2025, 11, 1), date(2026, 10, 31)) == (date(2024, 11, 1), date(2025, 10, 31))
    assert previous_period(date(2026, 3, 1), date(2026, 3, 31)) == (date(2026, 2, 1), date(2026, 2, 28))
    # Any other span: the same number of days before.
    assert previous_period(date(2024, 3, 10), date(2024, 3, 19)) == (date(2024, 2, 29), date(2024, 3, 9))
    with pytest.raises(ValueError, match="starts after it ends"):
        Filters(start=date(2024, 2, 1), end=date(2024, 1, 1))
