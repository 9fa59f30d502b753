"""Marketing ROI: hand-computed fixtures, the seed's three cases, zero denominators, the demo."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from data.filters import Filters
from data.source import Source
from kpi.roi import campaign_roi, channel_roi, marketing_summary, payback, verdict
from service.compute import roi_table


def _campaigns() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign_id": ["A", "B", "C", "D", "E"],
            "name": ["Subito", "Nel tempo", "Mai", "Gratis", "Vuota"],
            "channel": ["Web", "Fiere", "Web", "Email", "Fiere"],
            "spend": [1000.0, 1000.0, 1000.0, 0.0, 500.0],
            "leads": [50, 20, 0, 10, 5],
            "converted_leads": [2, 2, 0, 1, 0],
            "start_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-01", "2024-01-01"]),
        }
    )


def _customers() -> pd.DataFrame:
    # CLV before acquisition cost = margin to date − service cost + residual.
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6, 7],
            "campaign_id": ["A", "A", "B", "B", "C", "D", None],
            "segment": ["X", "Y", "X", "X", "Y", "X", "X"],
            "first_purchase_margin": [600.0, 500.0, 500.0, 300.0, 300.0, 50.0, 80.0],
            "margin_to_date": [700.0, 600.0, 1200.0, 800.0, 400.0, 50.0, 80.0],
            "service_cost": [50.0, 50.0, 100.0, 100.0, 0.0, 0.0, 0.0],
            "residual_clv": [100.0, 100.0, 700.0, 500.0, 300.0, 20.0, 10.0],
        }
    )


def test_the_seeds_three_cases() -> None:
    roi = campaign_roi(_campaigns(), _customers()).set_index("campaign_id")
    # Spend 1,000, first-purchase margin 1,100: pays at first purchase.
    assert roi.loc["A", "first_margin"] == pytest.approx(1100.0)
    assert roi.loc["A", "roi_first"] == pytest.approx(0.10)
    assert roi.loc["A", "verdict"] == "pays_first"
    # Spend 1,000, first-purchase margin 800, lifetime 3,000: pays over the customers' life.
    assert roi.loc["B", "roi_first"] == pytest.approx(-0.20)
    assert roi.loc["B", "clv_before_cac"] == pytest.approx(3000.0)
    assert roi.loc["B", "roi_lifetime"] == pytest.approx(2.0)
    assert roi.loc["B", "clv_cac"] == pytest.approx(3.0)
    assert roi.loc["B", "verdict"] == "pays_lifetime"
    # Spend 1,000, lifetime 700: does not pay.
    assert roi.loc["C", "clv_before_cac"] == pytest.approx(700.0)
    assert roi.loc["C", "roi_lifetime"] == pytest.approx(-0.30)
    assert roi.loc["C", "verdict"] == "does_not_pay"


def test_other_figures_by_hand() -> None:
    roi = campaign_roi(_campaigns(), _customers()).set_index("campaign_id")
    assert roi.loc["A", "cost_per_lead"] == pytest.approx(20.0)
    assert roi.loc["A", "conversion_rate"] == pytest.approx(0.04)
    assert roi.loc["A", "cac"] == pytest.approx(500.0)
    assert roi.loc["A", "roi_to_date"] == pytest.approx((1300 - 100 - 1000) / 1000)
    assert roi.loc["B", "roi_to_date"] == pytest.approx((2000 - 200 - 1000) / 1000)


def test_zero_denominators_are_nd() -> None:
    roi = campaign_roi(_campaigns(), _customers()).set_index("campaign_id")
    # Zero spend: no ratio on spend, a verdict of its own.
    assert roi.loc["D", "verdict"] == "no_spend"
    assert all(math.isnan(roi.loc["D", k]) for k in ("roi_first", "roi_to_date", "roi_lifetime", "clv_cac"))
    assert roi.loc["D", "cac"] == 0.0
    # Zero leads: no cost per lead, no conversion rate.
    assert math.isnan(roi.loc["C", "cost_per_lead"]) and math.isnan(roi.loc["C", "conversion_rate"])
    # No customers: no CAC; the spend is lost.
    assert roi.loc["E", "customers"] == 0
    assert math.isnan(roi.loc["E", "cac"])
    assert roi.loc["E", "roi_first"] == pytest.approx(-1.0)
    assert roi.loc["E", "verdict"] == "does_not_pay"


def test_verdict_rules() -> None:
    assert verdict(1000, 0.0, -0.5) == "pays_first"  # break-even counts as paying
    assert verdict(1000, -0.1, 0.0) == "pays_lifetime"
    assert verdict(1000, float("nan"), float("nan")) == "does_not_pay"
    assert verdict(0, float("nan"), float("nan")) == "no_spend"


def test_a_segment_gets_its_share_of_the_spend() -> None:
    customers = _customers()
    roi = campaign_roi(_campaigns(), customers, selected=customers["segment"] == "X").set_index("campaign_id")
    # A: one of its two customers is in X, so half the spend and half the customers: the CAC holds.
    assert roi.loc["A", "spend"] == pytest.approx(500.0)
    assert roi.loc["A", "cac"] == pytest.approx(500.0)
    assert roi.loc["A", "roi_first"] == pytest.approx((600 - 500) / 500)
    assert "C" not in roi.index  # its only customer is in Y: it says nothing about X
    assert roi.loc["E", "spend"] == pytest.approx(500.0)  # no customer at all: the whole spend
    assert math.isnan(roi.loc["A", "cost_per_lead"])  # leads belong to no segment


def test_channels_and_totals() -> None:
    roi = campaign_roi(_campaigns(), _customers())
    channels = channel_roi(roi).set_index("channel")
    assert channels.loc["Web", "spend"] == pytest.approx(2000.0)
    assert channels.loc["Web", "roi_lifetime"] == pytest.approx((1400 + 700 - 2000) / 2000)
    assert channels.loc["Fiere", "customers"] == 2
    total = marketing_summary(roi)
    assert total["spend"] == pytest.approx(3500.0)
    assert total["customers"] == 6
    assert (total["pays_first"], total["pays_lifetime"], total["does_not_pay"], total["no_spend"]) == (1, 1, 2, 1)


def test_payback_months() -> None:
    campaigns = _campaigns().iloc[[1, 2]].reset_index(drop=True)
    monthly = pd.DataFrame(
        {
            "campaign_id": ["B", "B", "B", "C"],
            "month": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-05-01"]),
            "margin": [400.0, 300.0, 400.0, 200.0],
        }
    )
    got = payback(campaigns, monthly)
    assert got[0] == 3  # 400, 700, 1,100 ≥ 1,000 in the third month
    assert np.isnan(got[1])  # not yet


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="lacks the columns spend"):
        campaign_roi(_campaigns().drop(columns=["spend"]), _customers())
    with pytest.raises(ValueError, match="lacks the columns residual_clv"):
        campaign_roi(_campaigns(), _customers().drop(columns=["residual_clv"]))


def test_the_demo_campaigns_land_on_the_three_verdicts(demo_source: Source) -> None:
    roi = roi_table(demo_source, Filters(), date(2026, 10, 31), date.today()).set_index("name")
    assert roi.loc["Google Ads Uffici 2024", "verdict"] == "pays_first"
    assert roi.loc["Fiera HoReCa Rimini 2024", "verdict"] == "pays_lifetime"
    assert roi.loc["Fiera HoReCa Rimini 2024", "roi_first"] < 0
    assert roi.loc["Black Friday Social 2024", "verdict"] == "does_not_pay"
    assert roi.loc["Google Ads Uffici 2024", "payback_months"] <= 3
    assert np.isnan(roi.loc["Black Friday Social 2024", "payback_months"])
