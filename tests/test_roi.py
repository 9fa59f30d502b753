"""Marketing ROI: hand-computed fixtures, the seed's three cases, zero denominators, the demo."""

from __future__ import annotations

import contextlib
import io
import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import cli
from data import facts as fx
from data.filters import Filters
from data.settings import load_settings
from data.source import Source
from kpi.customer_value import select_customers
from kpi.roi import campaign_roi, channel_roi, marketing_summary, payback, unknown_conversions, verdict
from render.text import t
from service import compute
from service.compute import roi_table
from service.report import Section, build_report
from tests.conftest import APP
from tests.test_optional_columns import settings_without


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


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(segments=("HoReCa",)),
        Filters(segments=("Uffici", "Privati"), regions=("Nord-Ovest", "Centro")),
        Filters(channels=("Fiere",)),
        Filters(segments=("nessuno",)),
    ],
)
def test_the_roi_of_the_cells_is_the_roi_of_the_customers(demo_source: Source, filters: Filters) -> None:
    """``roi_table`` sums the customers per cell of the facts once and picks cells per filter: the
    same table as ``campaign_roi`` over the chosen customers."""
    as_of = date(2026, 10, 31)
    facts = compute.facts_for(demo_source, date.today())
    result = compute.clv_at(demo_source, as_of, date.today(), facts=facts)
    customers = result.table.merge(fx.customer_acquisition(facts), on="customer_id", how="left")
    chosen = select_customers(customers, filters.segments, filters.regions, filters.channels).index
    monthly = fx.campaign_monthly_margin(facts, filters, as_of)
    want = campaign_roi(
        facts.campaigns, customers, pd.Series(customers.index.isin(chosen), index=customers.index), monthly
    )
    got = roi_table(demo_source, filters, as_of, date.today(), result, monthly, facts=facts)
    assert len(want) > 0 or filters.segments == ("nessuno",)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-6)
    assert roi_table(demo_source, filters, as_of, date.today(), result, monthly, facts=facts).equals(got)


# --- Leads that do not say which customer they became: conversion unknown, not 0 % -----------------


def test_an_unknown_conversion_is_not_a_zero_one() -> None:
    roi = campaign_roi(_campaigns(), _customers())
    known = roi.set_index("campaign_id")
    assert known.loc["E", "conversion_rate"] == 0.0  # 5 leads, none converted: a real 0 %
    assert marketing_summary(roi)["conversion_rate"] == pytest.approx(5 / 85)  # (2+2+0+1+0) / (50+20+0+10+5)
    assert marketing_summary(roi)["leads"] == 85
    unknown = unknown_conversions(roi)
    assert unknown["conversion_rate"].isna().all() and unknown["converted_leads"].isna().all()
    assert known.loc["E", "conversion_rate"] == 0.0  # the input is not changed
    assert unknown.set_index("campaign_id").loc["A", "leads"] == 50  # the leads are still counted
    assert unknown.set_index("campaign_id").loc["A", "cost_per_lead"] == pytest.approx(20.0)
    assert channel_roi(unknown)["conversion_rate"].isna().all()  # channels and totals stay unknown
    assert math.isnan(marketing_summary(unknown)["conversion_rate"])
    assert marketing_summary(unknown)["leads"] == 85
    assert unknown["verdict"].tolist() == roi["verdict"].tolist()  # nothing else changes


LEADS_WITHOUT_CUSTOMER = '[entities.leads]\nsql = "SELECT lead_id, campaign_id, created_at FROM leads"\n'


@pytest.fixture
def configs(tmp_path: Path) -> dict[str, Path]:
    """Settings files: the default mapping, and leads mapped without their customer_id (built as
    ``tests/test_optional_columns.settings_without`` builds it)."""
    assert settings_without([("leads", "customer_id")]).strip() == LEADS_WITHOUT_CUSTOMER.strip()
    full, partial = tmp_path / "full.toml", tmp_path / "no_customer.toml"
    full.write_text("")
    partial.write_text(LEADS_WITHOUT_CUSTOMER)
    return {"full": full, "no_customer": partial}


def _roi_json(config: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["roi", "--json", "--config", str(config)]) == 0
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def test_cli_says_the_conversion_is_unknown(
    configs: dict[str, Path], demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = _roi_json(configs["full"], demo_url, monkeypatch)
    assert 0 < full["summary"]["conversion_rate"] < 1
    assert all(c["conversion_rate"] is not None for c in full["campaigns"] if c["leads"])
    partial = _roi_json(configs["no_customer"], demo_url, monkeypatch)
    assert partial["summary"]["conversion_rate"] is None  # null in JSON ("n/d"), not 0
    assert partial["summary"]["leads"] == full["summary"]["leads"] > 0  # the leads themselves are known
    assert [c["conversion_rate"] for c in partial["campaigns"]] == [None] * len(partial["campaigns"])
    assert [c["converted_leads"] for c in partial["campaigns"]] == [None] * len(partial["campaigns"])
    assert [c["conversion_rate"] for c in partial["channels"]] == [None] * len(partial["channels"])


@pytest.mark.parametrize("lang", ["it", "en"])
def test_report_says_the_conversion_is_unknown(configs: dict[str, Path], demo_url: str, lang: str) -> None:
    period = Filters(start=date(2025, 11, 1), end=date(2026, 10, 31))

    def marketing(config: Path) -> Section:
        source = Source(settings=load_settings(config, env={}, secrets_path="/nonexistent"), url=demo_url)
        return next(s for s in build_report(source, period, lang, date(2026, 11, 23)) if s.title == "Marketing")

    label = t("report.lead_conversion", lang)
    known = dict(marketing(configs["full"]).cards)[label]
    assert any(ch.isdigit() for ch in known) and "%" in known
    section = marketing(configs["no_customer"])
    assert dict(section.cards)[label] == "n/d"
    assert t("marketing.conversion_unknown", lang).replace("`", "") in section.comment  # plain text on paper
    assert "`" not in section.comment
    assert "customer_id" in t("marketing.conversion_unknown", lang)  # what to map


def test_marketing_page_says_the_conversion_is_unknown(
    configs: dict[str, Path], demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRUSCOTTO_DB_URL", demo_url)
    shown = {}
    for name, config in configs.items():
        monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
        at = AppTest.from_file(APP, default_timeout=90)
        at.run()
        at.switch_page("pages/marketing.py").run()
        assert not at.exception, [e.value for e in at.exception]
        leads = at.dataframe[1].value.set_index("Campagna")
        shown[name] = (leads, [c.value for c in at.caption])
    full, partial = shown["full"], shown["no_customer"]
    assert (full[0]["Conversione"] != "n/d").any() and t("marketing.conversion_unknown", "it") not in full[1]
    assert (partial[0]["Conversione"] == "n/d").all()
    assert (partial[0]["Contatti"] == full[0]["Contatti"]).all()  # the leads are still counted
    assert t("marketing.conversion_unknown", "it") in partial[1]
