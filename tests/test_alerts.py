"""Alerts: the settings checked key by key; the value of the customers at risk by hand; the owner's
rules and the built-in alerts on the demo, each against figures computed here (the orders read with
pandas, the stages of the CLV tables, the campaigns' ROI table); their sentences in both languages;
the command line's exit status, JSON and links; the mailed report's alerts."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import replace
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

import cli
from data.demo import write_frames
from data.filters import Filters
from data.settings import (
    ALERT_KPIS,
    ALERT_SHARES,
    AlertRule,
    BuiltinAlerts,
    ConfigError,
    Settings,
    Target,
    load_settings,
)
from data.source import Source
from kpi.forecast import Z_80
from kpi.lifecycle import at_risk_value
from kpi.overview import OVERVIEW_KPIS
from kpi.registry import KPIS
from render.text import alert_text, t
from service import compute
from service.alerts import (
    ALERT_PAGES,
    Alert,
    _at_risk,
    _campaigns,
    _data_health,
    _forecast,
    alerts_for,
    find_alerts,
    rule_filters,
    unknown_rule_segments,
)
from service.forecast import forecast_for
from service.mail import report_message
from service.overview import DirectInputs, ValueFigures, value_figures
from tests.fixtures import tiny_frames

AS_OF = date(2026, 10, 31)
TODAY = date(2026, 11, 25)
START = date(2025, 11, 1)  # the demo's last 12 months: November 2025 to October 2026
PREV_START, PREV_END = date(2024, 11, 1), date(2025, 10, 31)  # the 12 months before
YEAR = Filters(start=START, end=AS_OF)
PRIVATI = replace(YEAR, segments=("Privati",))
#: every built-in alert off: each test turns on the one it is about
OFF = BuiltinAlerts(campaigns=False, at_risk_value=None, targets=False, forecast=False, excluded_rows=None)


# --- helpers ---------------------------------------------------------------------------------------


def _load(tmp_path: Path, body: str) -> Settings:
    config = tmp_path / "cruscotto.toml"
    config.write_text(body)
    return load_settings(config, env={}, secrets_path="/nonexistent")


def _variant(
    source: Source, *rules: AlertRule, builtin: BuiltinAlerts = OFF, targets: tuple[Target, ...] = ()
) -> Source:
    """The same database with other alert settings."""
    settings = replace(source.settings, alerts=tuple(rules), builtin_alerts=builtin, targets=targets)
    return Source(settings=settings, url=source.url)


def _find(
    source: Source, inputs: DirectInputs, filters: Filters, *rules: AlertRule, builtin: BuiltinAlerts = OFF, **kw: Any
) -> list[Alert]:
    return find_alerts(_variant(source, *rules, builtin=builtin), inputs.facts, filters, inputs, **kw)


def _rule(kpi: str, when: str, threshold: float, **kw: Any) -> AlertRule:
    return AlertRule(kpi, when, float(threshold), origin="alerts[1]", **kw)


def _it(value: float) -> str:
    """A whole number as Italian writes it (1.234.567), written here without Babel."""
    return f"{round(value):,}".replace(",", ".")


def _en(value: float) -> str:
    return f"{round(value):,}"


def _sum(orders: pd.DataFrame, start: date, end: date, column: str = "revenue", privati: bool = False) -> float:
    chosen = orders[(orders["order_date"] >= pd.Timestamp(start)) & (orders["order_date"] <= pd.Timestamp(end))]
    if privati:
        chosen = chosen[chosen["privati"]]
    return float(chosen[column].sum())


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(demo_source: Source) -> DirectInputs:
    return DirectInputs(demo_source, TODAY)


@pytest.fixture(scope="module")
def orders(demo_source: Source) -> pd.DataFrame:
    """The demo's usable orders, read here with pandas and cleaned by the rules of the data-health
    page (no customer, no amount, a date after today, an id seen before): the planted 7 rows."""
    raw = pd.read_sql("SELECT order_id, customer_id, order_date, revenue, cost FROM orders", demo_source.engine)
    raw["order_date"] = pd.to_datetime(raw["order_date"])
    usable = raw.dropna(subset=["order_id", "customer_id", "order_date", "revenue"])
    usable = usable[usable["order_date"] <= pd.Timestamp(TODAY)].drop_duplicates("order_id")
    assert len(raw) - len(usable) == 7 and usable["cost"].notna().all()
    customers = pd.read_sql("SELECT customer_id, segment FROM customers", demo_source.engine)
    privati = customers.loc[customers["segment"] == "Privati", "customer_id"]
    # customer 6 is written twice (HoReCa, Uffici): Privati's customers are not in doubt
    assert not customers.loc[customers["customer_id"].duplicated(keep=False), "segment"].eq("Privati").any()
    return usable.assign(margin=usable["revenue"] - usable["cost"], privati=usable["customer_id"].isin(privati))


@pytest.fixture(scope="module")
def by_hand(orders: pd.DataFrame) -> dict[str, float]:
    """The period's figures and the previous period's, summed here."""
    out = {
        "revenue": _sum(orders, START, AS_OF),
        "revenue_before": _sum(orders, PREV_START, PREV_END),
        "privati": _sum(orders, START, AS_OF, privati=True),
        "privati_before": _sum(orders, PREV_START, PREV_END, privati=True),
    }
    for privati, name in ((False, "margin_pct"), (True, "privati_margin_pct")):
        for start, end, key in ((START, AS_OF, name), (PREV_START, PREV_END, f"{name}_before")):
            out[key] = _sum(orders, start, end, "margin", privati) / _sum(orders, start, end, privati=privati)
    return out


@pytest.fixture(scope="module")
def figures(demo_source: Source, inputs: DirectInputs) -> ValueFigures:
    return value_figures(demo_source, inputs, YEAR, PREV_END)


# --- 1. the settings ---------------------------------------------------------------------------------


def test_alert_settings_name_the_key(tmp_path: Path) -> None:
    rule = '[[alerts]]\nkpi = "revenue"\nbelow = 1\n'
    for body, key, words in (
        ('[[alerts]]\nkpi = "fatturato"\nbelow = 1\n', "alerts[1].kpi", "revenue, margin, margin_pct"),
        ("[[alerts]]\nbelow = 1\n", "alerts[1].kpi", "at_risk_value"),
        ('[[alerts]]\nkpi = "revenue"\nbelow = 1\nabove = 2\n', "alerts[1]", "below and above"),
        ('[[alerts]]\nkpi = "revenue"\n', "alerts[1]", "below and above"),
        ('[[alerts]]\nkpi = "revenue"\nbelow = "tanto"\n', "alerts[1].below", "number"),
        ('[[alerts]]\nkpi = "revenue"\nabove = true\n', "alerts[1].above", "number"),
        ('[[alerts]]\nkpi = "revenue"\nabove = nan\n', "alerts[1].above", "number"),
        ('[[alerts]]\nkpi = "margin_pct"\nbelow = 30\n', "alerts[1].below", "0.3"),
        ('[[alerts]]\nkpi = "engagement_share"\nchange = true\nbelow = -5\n', "alerts[1].below", "-0.05"),
        ('[[alerts]]\nkpi = "revenue"\nchange = true\nbelow = -20\n', "alerts[1].below", "-0.2"),
        (rule + 'change = "yes"\n', "alerts[1].change", "true or false"),
        (rule + 'segment = ""\n', "alerts[1].segment", "segment"),
        (rule + "segment = 3\n", "alerts[1].segment", "segment"),
        (rule + 'name = """due\nrighe"""\n', "alerts[1].name", "one line"),
        (rule + 'name = "   "\n', "alerts[1].name", "one line"),
        (rule + 'segmento = "HoReCa"\n', "alerts[1].segmento", "kpi, name, segment"),
        ('[alerts]\nkpi = "revenue"\nbelow = 1\n', "alerts", "[[alerts]]"),
        (rule + '[[alerts]]\nkpi = "ricavi"\nabove = 1\n', "alerts[2].kpi", "revenue"),
        ('[builtin_alerts]\ncampaigns = "no"\n', "builtin_alerts.campaigns", "true or false"),
        ("[builtin_alerts]\ntargets = 1\n", "builtin_alerts.targets", "true or false"),
        ("[builtin_alerts]\nat_risk_value = 11\n", "builtin_alerts.at_risk_value", "between 0 and 10"),
        ("[builtin_alerts]\nexcluded_rows = -0.01\n", "builtin_alerts.excluded_rows", "between 0 and 10"),
        ('[builtin_alerts]\nexcluded_rows = "2%"\n', "builtin_alerts.excluded_rows", "or false"),
        ("[builtin_alerts]\ncampaign = false\n", "builtin_alerts.campaign", "campaigns, at_risk_value"),
        ("builtin_alerts = false\n", "builtin_alerts", "table"),
    ):
        with pytest.raises(ConfigError) as caught:
            _load(tmp_path, body)
        assert caught.value.key == key, (body, caught.value.key)
        assert str(caught.value).startswith(f"{key}: ") and words in str(caught.value), (body, str(caught.value))


def test_good_alert_settings(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        """
[[alerts]]
kpi = "revenue"
below = 900_000

[[alerts]]
kpi = "margin_pct"
change = true
below = -0.02
segment = "HoReCa"
name = "  Margine HoReCa  "

[[alerts]]
kpi = "at_risk_customers"
above = 50

[builtin_alerts]
campaigns = false
at_risk_value = 0.25
excluded_rows = false
""",
    )
    assert settings.alerts == (
        AlertRule("revenue", "below", 900_000.0),
        AlertRule("margin_pct", "below", -0.02, change=True, segment="HoReCa", name="Margine HoReCa"),
        AlertRule("at_risk_customers", "above", 50.0),
    )
    assert [rule.origin for rule in settings.alerts] == ["alerts[1]", "alerts[2]", "alerts[3]"]
    assert settings.builtin_alerts == BuiltinAlerts(
        campaigns=False, at_risk_value=0.25, targets=True, forecast=True, excluded_rows=None
    )
    # nothing written: no rule and every built-in alert on, with its default threshold
    assert (_load(tmp_path, "").alerts, _load(tmp_path, "").builtin_alerts) == ((), BuiltinAlerts())
    assert BuiltinAlerts() == BuiltinAlerts(True, 0.10, True, True, 0.02)
    # true keeps the default threshold; false turns each one off; 0 is a threshold, not "off"
    assert _load(tmp_path, "[builtin_alerts]\nat_risk_value = true\nexcluded_rows = 0\n").builtin_alerts == (
        BuiltinAlerts(at_risk_value=0.10, excluded_rows=0.0)
    )
    off = _load(
        tmp_path,
        "[builtin_alerts]\ncampaigns = false\nat_risk_value = false\ntargets = false\n"
        "forecast = false\nexcluded_rows = false\n",
    ).builtin_alerts
    assert off == OFF


def test_every_alert_kpi_is_declared_and_computed(figures: ValueFigures) -> None:
    """A rule's KPI is one the dashboard knows; the shares (a change in points) are exactly the
    KPIs shown as percentages; every KPI that is not a period figure is among the value figures
    (else a rule on it could never fire)."""
    assert set(ALERT_KPIS) <= set(KPIS)
    assert set(ALERT_SHARES) == {k for k in ALERT_KPIS if KPIS[k].format == "percent"}
    value_kpis = [k for k in ALERT_KPIS if k not in OVERVIEW_KPIS]
    assert set(OVERVIEW_KPIS) <= set(ALERT_KPIS)
    for k in value_kpis:  # the demo has campaigns, referrals and engagements: every one is a number
        assert math.isfinite(figures.now[k]) and math.isfinite(figures.before[k]), k
    assert set(ALERT_PAGES.values()) <= {p.stem for p in (Path(__file__).parents[1] / "pages").glob("*.py")}


# --- 2. the value of the customers at risk -------------------------------------------------------------


def test_at_risk_value_by_hand() -> None:
    stages = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6],
            "stage": ["at_risk", "at_risk", "active", "at_risk", "lapsed", "new"],
            # customer 4 is worth less than nothing: counted as nothing; 3, 5 and 6 are not at risk
            "total_clv": [100.5, 250.0, 9_999.0, -400.0, 5_000.0, 77.0],
        }
    )
    assert at_risk_value(stages) == pytest.approx(350.5)
    assert at_risk_value(stages[stages["stage"] != "at_risk"]) == 0.0
    assert at_risk_value(stages.iloc[:0]) == 0.0
    assert isinstance(at_risk_value(stages), float)


# --- 3. the owner's rules on the demo ------------------------------------------------------------------


def test_period_figures_by_hand_are_the_dashboards(inputs: DirectInputs, by_hand: dict[str, float]) -> None:
    """What this file sums by hand is what the dashboard shows: the rules below are judged on it."""
    from data import facts as fx
    from kpi.overview import overview_kpis

    table = overview_kpis(fx.period_measures(inputs.facts, YEAR)).set_index("kpi")
    assert table.loc["revenue", "value"] == pytest.approx(by_hand["revenue"])
    assert table.loc["revenue", "previous"] == pytest.approx(by_hand["revenue_before"])
    assert table.loc["margin_pct", "value"] == pytest.approx(by_hand["margin_pct"])


def test_a_rule_fires_on_its_side_of_the_threshold_only(
    demo_source: Source, inputs: DirectInputs, by_hand: dict[str, float]
) -> None:
    revenue = by_hand["revenue"]
    (alert,) = _find(demo_source, inputs, YEAR, _rule("revenue", "below", revenue * 1.001))
    assert (alert.kind, alert.variant, alert.origin, alert.page) == ("rule", "below", "alerts[1]", "panoramica")
    assert alert.values["value"] == pytest.approx(revenue)
    assert alert.values["before"] == pytest.approx(by_hand["revenue_before"])
    assert alert.values["threshold"] == pytest.approx(revenue * 1.001)
    assert alert.filters == YEAR and alert.count == 1
    assert _find(demo_source, inputs, YEAR, _rule("revenue", "below", revenue * 0.999)) == []
    (above,) = _find(demo_source, inputs, YEAR, _rule("revenue", "above", revenue * 0.999))
    assert above.variant == "above" and above.values["value"] == pytest.approx(revenue)
    assert _find(demo_source, inputs, YEAR, _rule("revenue", "above", revenue * 1.001)) == []
    # the comparison is strict: a value equal to the threshold is neither below nor above it
    exact = alert.values["value"]
    assert _find(demo_source, inputs, YEAR, _rule("revenue", "below", exact), _rule("revenue", "above", exact)) == []
    # two rules that fire: both, in the settings' order
    both = _find(
        demo_source,
        inputs,
        YEAR,
        AlertRule("orders", "above", 0.0, origin="alerts[1]"),
        AlertRule("revenue", "below", revenue * 2, origin="alerts[2]"),
    )
    assert [(a.values["kpi"], a.origin) for a in both] == [("orders", "alerts[1]"), ("revenue", "alerts[2]")]


def test_a_change_rule_judges_the_change(demo_source: Source, inputs: DirectInputs, by_hand: dict[str, float]) -> None:
    change = by_hand["revenue"] / by_hand["revenue_before"] - 1
    (alert,) = _find(demo_source, inputs, YEAR, _rule("revenue", "below", change + 0.001, change=True))
    assert alert.variant == "change_below" and alert.values["change"] == pytest.approx(change)
    assert alert.values["value"] == pytest.approx(by_hand["revenue"])
    assert _find(demo_source, inputs, YEAR, _rule("revenue", "below", change - 0.001, change=True)) == []
    (up,) = _find(demo_source, inputs, YEAR, _rule("revenue", "above", change - 0.001, change=True))
    assert up.variant == "change_above"
    # the revenue itself is far above such a small threshold: the rule is on the change alone
    assert _find(demo_source, inputs, YEAR, _rule("revenue", "above", change + 0.001, change=True)) == []
    # a share's change is in points: the difference of the two margins, not their ratio
    points = by_hand["margin_pct"] - by_hand["margin_pct_before"]
    relative = by_hand["margin_pct"] / by_hand["margin_pct_before"] - 1
    assert abs(points - relative) > 0.002  # the two readings tell apart
    (share,) = _find(demo_source, inputs, YEAR, _rule("margin_pct", "below", points + 0.0005, change=True))
    assert share.values["change"] == pytest.approx(points) and share.formats["change"] == "points"
    assert _find(demo_source, inputs, YEAR, _rule("margin_pct", "below", points - 0.0005, change=True)) == []


def test_a_rule_for_a_segment_judges_that_segment(
    demo_source: Source, inputs: DirectInputs, by_hand: dict[str, float]
) -> None:
    privati = by_hand["privati"]
    assert privati < by_hand["revenue"] / 10  # a segment's figure, not the company's
    rule = _rule("revenue", "below", privati * 1.001, segment="Privati")
    (alert,) = _find(demo_source, inputs, YEAR, rule)
    assert alert.values["value"] == pytest.approx(privati) and alert.values["segment"] == "Privati"
    assert alert.values["before"] == pytest.approx(by_hand["privati_before"])
    assert alert.filters == PRIVATI
    assert _find(demo_source, inputs, YEAR, replace(rule, threshold=privati * 0.999)) == []
    # the filters choose another segment: the rule does not apply, though that segment's revenue
    # is below the threshold too
    assert _find(demo_source, inputs, replace(YEAR, segments=("HoReCa",)), replace(rule, threshold=1e12)) == []
    # the filters include it among others: judged on it alone
    (among,) = _find(demo_source, inputs, replace(YEAR, segments=("Privati", "Uffici")), rule)
    assert among.filters == PRIVATI and among.values["value"] == pytest.approx(privati)
    # a rule for the whole company follows the filters' segment
    (whole,) = _find(demo_source, inputs, PRIVATI, _rule("revenue", "below", 1e12))
    assert whole.values["value"] == pytest.approx(privati) and whole.filters == PRIVATI
    # the rules' filters, and the rules naming a segment the data lack
    assert rule_filters(None, YEAR) == YEAR and rule_filters("Privati", YEAR) == PRIVATI
    assert rule_filters("Privati", replace(YEAR, segments=("HoReCa",))) is None
    assert rule_filters("Privati", replace(YEAR, regions=("Nord",))) == replace(PRIVATI, regions=("Nord",))
    odd = _rule("revenue", "below", 1, segment="Horeca")
    assert unknown_rule_segments((rule, odd, _rule("orders", "above", 1)), ["HoReCa", "Privati"]) == [odd]
    # the share change of a segment is the segment's
    points = by_hand["privati_margin_pct"] - by_hand["privati_margin_pct_before"]
    (share,) = _find(
        demo_source, inputs, YEAR, _rule("margin_pct", "below", points + 0.0005, change=True, segment="Privati")
    )
    assert share.values["change"] == pytest.approx(points)


def test_rules_on_value_kpis(
    demo_source: Source, inputs: DirectInputs, figures: ValueFigures, by_hand: dict[str, float]
) -> None:
    # the customers at risk, counted here from the stages at the period's end
    stages = compute.stages_at(demo_source, AS_OF, TODAY, inputs.fitted(AS_OF))
    at_risk = int((stages["stage"] == "at_risk").sum())
    assert at_risk > 0 and figures.now["at_risk_customers"] == at_risk
    (alert,) = _find(demo_source, inputs, YEAR, _rule("at_risk_customers", "above", at_risk - 1))
    assert alert.values["value"] == at_risk and alert.values["before"] == figures.before["at_risk_customers"]
    assert _find(demo_source, inputs, YEAR, _rule("at_risk_customers", "above", at_risk)) == []
    # a relative change for a money KPI
    now, before = figures.now["avg_clv"], figures.before["avg_clv"]
    change = (now - before) / before
    (clv,) = _find(demo_source, inputs, YEAR, _rule("avg_clv", "above", change - 1e-6, change=True))
    assert clv.values["change"] == pytest.approx(change) and clv.values["value"] == pytest.approx(now)
    assert _find(demo_source, inputs, YEAR, _rule("avg_clv", "above", change + 1e-6, change=True)) == []
    # in points for a share: the marketing ROI's difference
    now, before = figures.now["marketing_roi"], figures.before["marketing_roi"]
    (roi,) = _find(demo_source, inputs, YEAR, _rule("marketing_roi", "below", now - before + 1e-6, change=True))
    assert roi.values["change"] == pytest.approx(now - before)
    # the value of the customers at risk, for one segment: that segment's
    privati = value_figures(demo_source, inputs, PRIVATI, PREV_END).now["at_risk_value"]
    assert privati < figures.now["at_risk_value"]
    (value,) = _find(demo_source, inputs, YEAR, _rule("at_risk_value", "above", 0, segment="Privati"))
    assert value.values["value"] == pytest.approx(privati)


def test_rules_on_given_figures(demo_source: Source, inputs: DirectInputs) -> None:
    """The value figures come from ``figures`` (the app's caches): asked once per filters, at the
    previous period's end; a figure that is not a number does not fire."""
    asked: list[tuple[Filters, date]] = []
    nan = math.nan

    def given(filters: Filters, end: date) -> ValueFigures:
        asked.append((filters, end))
        now = {"at_risk_customers": 5.0, "marketing_roi": nan, "avg_clv": 100.0}
        return ValueFigures(now, {"at_risk_customers": 3.0, "marketing_roi": 0.5, "avg_clv": 0.0}, (), ())

    source = _variant(
        demo_source,
        _rule("at_risk_customers", "above", 4),
        _rule("at_risk_customers", "above", 0.5, change=True),
        _rule("marketing_roi", "below", 100),
        _rule("avg_clv", "above", -10, change=True),  # from nothing: no change to judge
        _rule("avg_cev", "above", -1),  # not among the figures
    )
    found = find_alerts(source, inputs.facts, YEAR, inputs, figures=given)
    assert asked == [(YEAR, PREV_END)]
    assert [(a.values["value"], a.values["before"], a.variant) for a in found] == [
        (5.0, 3.0, "above"),
        (5.0, 3.0, "change_above"),
    ]
    assert found[1].values["change"] == pytest.approx(2 / 3)


# --- 4. the built-in alerts on the demo ------------------------------------------------------------------


def test_the_campaign_alert_names_the_campaigns_that_do_not_pay(demo_source: Source, inputs: DirectInputs) -> None:
    on = replace(OFF, campaigns=True)
    for filters in (YEAR, PRIVATI, replace(YEAR, segments=("HoReCa",))):
        roi = compute.roi_table(demo_source, filters, AS_OF, TODAY, inputs.fitted(AS_OF), facts=inputs.facts)
        losing = sorted(roi.loc[roi["verdict"] == "does_not_pay", "name"])
        found = _find(demo_source, inputs, filters, builtin=on)
        assert sorted(n for a in found for n in a.values["names"]) == losing, filters
        for alert in found:
            assert (alert.kind, alert.page, alert.origin) == ("campaign", "marketing", "builtin_alerts.campaigns")
            assert alert.count == len(alert.values["names"]) and alert.filters == filters
            if alert.count == 1:
                lifetime = roi.set_index("name").loc[alert.values["names"][0], "roi_lifetime"]
                assert alert.values["roi"] == pytest.approx(lifetime) and lifetime < 0
                assert alert.opens == ("campaign", roi.set_index("name").loc[alert.values["names"][0], "campaign_id"])
        if filters == YEAR:
            assert losing  # the demo's Black Friday campaign
        if filters.segments == ("HoReCa",):
            assert not losing and found == []
    assert _find(demo_source, inputs, YEAR, builtin=OFF) == []
    # 2025: the Black Friday campaign paid back at the end of 2024 and no longer does
    end_2024, end_2025 = date(2024, 12, 31), date(2025, 12, 31)
    year_2025 = Filters(start=date(2025, 1, 1), end=end_2025)
    # the previous period's end judged by the model fitted at this period's end
    then = compute.roi_table(
        demo_source, year_2025, end_2024, TODAY, inputs.clv(end_2024, end_2025), facts=inputs.facts
    )
    now = compute.roi_table(demo_source, year_2025, end_2025, TODAY, inputs.fitted(end_2025), facts=inputs.facts)
    # "no longer": not paying back now, and paying back then (not merely absent then)
    stopped = sorted(
        set(now.loc[now["verdict"] == "does_not_pay", "name"])
        & set(then.loc[then["verdict"].isin(["pays_first", "pays_lifetime"]), "name"])
    )
    assert stopped == ["Black Friday Social 2024"]
    found = _find(demo_source, inputs, year_2025, builtin=on)
    assert [(a.variant, a.values["names"]) for a in found if a.variant == "stopped"] == [("stopped", stopped)]


def test_the_campaign_alert_leaves_out_campaigns_not_started(demo_source: Source, inputs: DirectInputs) -> None:
    campaigns = pd.read_sql("SELECT name, start_date FROM campaigns", demo_source.engine)
    late_2024 = Filters(start=date(2024, 11, 1), end=date(2024, 12, 31))
    later = set(campaigns.loc[pd.to_datetime(campaigns["start_date"]) > pd.Timestamp(late_2024.end), "name"])
    assert later == {"Newsletter primavera 2025", "Agenti rivenditori 2025", "Google Ads Privati 2025"}
    found = _find(demo_source, inputs, late_2024, builtin=replace(OFF, campaigns=True))
    named = {n for a in found for n in a.values["names"]}
    assert not named & later, named


def test_campaigns_that_stopped_paying_are_said_apart() -> None:
    roi = pd.DataFrame({"name": ["A", "B", "C"], "roi_lifetime": [-0.5, -0.2, -0.9], "campaign_id": ["C1", "C2", "C3"]})
    inputs = SimpleNamespace(roi=lambda filters, as_of, anchor: roi)
    found = ValueFigures(
        {}, {}, to_stop=("A", "B", "C"), stopped=("B",), to_stop_ids=("C1", "C2", "C3"), stopped_ids=("C2",)
    )
    stopped, never = _campaigns(YEAR, found, inputs)
    assert (stopped.variant, stopped.values["names"], stopped.count) == ("stopped", ["B"], 1)
    assert stopped.values["roi"] == -0.2 and stopped.opens == ("campaign", "C2")  # its page opens its detail
    assert (never.variant, never.values["names"], never.count) == ("", ["A", "C"], 2)
    assert math.isnan(never.values["roi"]) and never.opens is None  # two campaigns: no one ROI, no one detail
    assert _campaigns(YEAR, ValueFigures({}, {}, (), ()), inputs) == []
    # two campaigns of the same name stay two campaigns, each with its own figures
    twins = pd.DataFrame({"name": ["News", "News"], "roi_lifetime": [-0.5, 0.4], "campaign_id": ["N24", "N25"]})
    (alert,) = _campaigns(
        YEAR, ValueFigures({}, {}, ("News",), (), ("N24",), ()), SimpleNamespace(roi=lambda *_: twins)
    )
    assert alert.values["roi"] == -0.5 and alert.opens == ("campaign", "N24")


def _at_risk_by_hand(source: Source, inputs: DirectInputs, segments: tuple[str, ...]) -> tuple[float, float, int]:
    """The value of the customers at risk at the period's end and at the previous one, from the
    stages of the CLV tables (the earlier one judged by the model fitted at the period's end)."""
    anchor = inputs.fitted(AS_OF)
    past = compute.history(source, AS_OF, TODAY, inputs.facts)
    tables = (
        compute.stages_at(source, AS_OF, TODAY, anchor),
        compute.stages_at(source, PREV_END, AS_OF, compute.clv_from_history(source, past, PREV_END, anchor)),
    )
    values, counts = [], []
    for stages in tables:
        chosen = stages[stages["segment"].isin(segments)] if segments else stages
        risky = chosen[chosen["stage"] == "at_risk"]
        values.append(float(np.clip(risky["total_clv"].to_numpy(dtype=float), 0, None).sum()))
        counts.append(len(risky))
    return values[0], values[1], counts[0]


@pytest.mark.parametrize("segments", [(), ("Privati",)])
def test_the_at_risk_alert_fires_on_a_rise_above_its_threshold(
    demo_source: Source, inputs: DirectInputs, segments: tuple[str, ...]
) -> None:
    now, before, customers = _at_risk_by_hand(demo_source, inputs, segments)
    rise = (now - before) / before
    assert rise > 0.1  # the demo's value at risk grew: both sides of the threshold are tested below
    filters = replace(YEAR, segments=segments)
    (alert,) = _find(demo_source, inputs, filters, builtin=replace(OFF, at_risk_value=rise - 1e-4))
    assert (alert.kind, alert.page, alert.origin) == ("at_risk_value", "ciclo-di-vita", "builtin_alerts.at_risk_value")
    assert alert.values["value"] == pytest.approx(now) and alert.values["before"] == pytest.approx(before)
    assert alert.values["change"] == pytest.approx(rise)
    assert alert.values["customers"] == customers == alert.count and alert.filters == filters
    assert _find(demo_source, inputs, filters, builtin=replace(OFF, at_risk_value=rise + 1e-4)) == []


def test_the_at_risk_alert_by_hand() -> None:
    def figures(now: float, before: float) -> ValueFigures:
        return ValueFigures({"at_risk_value": now, "at_risk_customers": 4.0}, {"at_risk_value": before}, (), ())

    (alert,) = _at_risk(YEAR, figures(1150.0, 1000.0), 0.10)
    assert alert.values["change"] == pytest.approx(0.15) and alert.count == 4
    assert _at_risk(YEAR, figures(1100.0, 1000.0), 0.10) == []  # a rise of exactly 10 %: not more
    assert _at_risk(YEAR, figures(900.0, 1000.0), 0.0) == []  # a fall
    assert _at_risk(YEAR, figures(500.0, 0.0), 0.10) == []  # from nothing: no rise to measure


def test_the_data_health_alert(demo_source: Source, inputs: DirectInputs, orders: pd.DataFrame) -> None:
    assert len(orders)  # the planted rows checked there
    # the demo leaves out 7 of the orders' rows (counted in the orders fixture) and 1 of its 601
    # customers' rows (customer 6, written twice)
    read = len(pd.read_sql("SELECT order_id FROM orders", demo_source.engine))
    customers = len(pd.read_sql("SELECT customer_id FROM customers", demo_source.engine))
    orders_share, customers_share = 7 / read, 1 / customers
    assert customers == 601 and orders_share < customers_share < 0.02  # none at the default threshold

    def found(threshold: float | None) -> list[tuple[str, int, int]]:
        alerts = _find(demo_source, inputs, YEAR, builtin=replace(OFF, excluded_rows=threshold))
        assert all(
            (a.kind, a.page, a.origin) == ("data_health", "dati", "builtin_alerts.excluded_rows") for a in alerts
        )
        assert all(
            a.count == a.values["rows"] and a.values["share"] == a.values["rows"] / a.values["read"] for a in alerts
        )
        return sorted((a.values["entity"], a.values["rows"], a.values["read"]) for a in alerts)

    assert found(orders_share - 1e-6) == [("customers", 1, 601), ("orders", 7, read)]
    assert found((orders_share + customers_share) / 2) == [("customers", 1, 601)]
    assert found(customers_share + 1e-6) == []
    assert found(0.02) == [] and found(None) == []


def test_the_data_health_alert_on_a_messy_source(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """The tiny company (7 of its 18 orders and 2 of its 7 customers' rows unusable), through
    ``alerts_for`` with the defaults' threshold (2 %), and with a threshold between the two."""
    url = f"sqlite:///{tmp_path_factory.mktemp('alerts_tiny') / 'tiny.sqlite'}"
    write_frames(url, tiny_frames())
    only = "[builtin_alerts]\ncampaigns = false\nat_risk_value = false\ntargets = false\nforecast = false\n"
    source = Source(settings=_load(tmp_path, only), url=url)
    period = Filters(start=date(2024, 1, 1), end=date(2024, 12, 31))
    found = alerts_for(source, period, date(2025, 1, 15))
    assert sorted((a.values["entity"], a.values["rows"], a.values["read"]) for a in found) == [
        ("customers", 2, 7),
        ("orders", 7, 18),
    ]
    source = Source(settings=_load(tmp_path, only + "excluded_rows = 0.3\n"), url=url)  # 2/7 = 0.29; 7/18 = 0.39
    assert [a.values["entity"] for a in alerts_for(source, period, date(2025, 1, 15))] == ["orders"]


def test_the_data_health_alert_covers_the_engagements(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from data.demo import build_demo_frames

    frames = build_demo_frames(customers=120, seed=5)
    engagements = frames["engagements"]
    engagements.loc[engagements.index[: len(engagements) // 2], "kind"] = "boh"  # half of them unusable
    url = f"duckdb:///{tmp_path_factory.mktemp('alerts_engagements') / 'demo.duckdb'}"
    write_frames(url, frames)
    source = _variant(Source(settings=_load(tmp_path, ""), url=url), builtin=replace(OFF, excluded_rows=0.02))
    facts = compute.facts_for(source, TODAY)
    health = compute.entity_health(source, facts, "engagements")
    assert health["excluded"] == {"unknown_kind": len(engagements) // 2}  # the data-health page counts them
    found = alerts_for(source, YEAR, TODAY)
    assert [a.values["entity"] for a in found] == ["engagements"]


def _backtest(last_revenue: float, earlier: float = 100.0) -> SimpleNamespace:
    table = pd.DataFrame(
        {
            "month": pd.to_datetime(["2026-08-01", "2026-09-01"]),
            "revenue": [earlier, last_revenue],
            "revenue_forecast": [100.0, 100.0],
            "revenue_forecast_low": [80.0, 80.0],
            "revenue_forecast_high": [120.0, 120.0],
        }
    )
    return SimpleNamespace(backtest=table)


def test_the_forecast_alert_by_hand() -> None:
    (alert,) = _forecast(YEAR, _backtest(79.0))  # type: ignore[arg-type]
    assert (alert.kind, alert.page, alert.origin) == ("forecast", "panoramica", "builtin_alerts.forecast")
    assert alert.values == {"month": date(2026, 9, 1), "value": 79.0, "low": 80.0, "high": 120.0}
    assert alert.filters == YEAR
    for last in (80.0, 100.0, 120.0, 150.0):  # at the band's edge, inside, above: no alert
        assert _forecast(YEAR, _backtest(last)) == [], last  # type: ignore[arg-type]
    assert _forecast(YEAR, _backtest(100.0, earlier=10.0)) == []  # type: ignore[arg-type]  # the last month only
    assert _forecast(YEAR, SimpleNamespace(backtest=None)) == []  # type: ignore[arg-type]
    no_band = _backtest(10.0).backtest.drop(columns=["revenue_forecast_low", "revenue_forecast_high"])
    assert _forecast(YEAR, SimpleNamespace(backtest=no_band)) == []  # type: ignore[arg-type]
    assert _forecast(YEAR, SimpleNamespace(backtest=_backtest(10.0).backtest.iloc[:0])) == []  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def view(demo_source: Source, inputs: DirectInputs) -> Any:
    _first, last = inputs.facts.date_range()
    assert last == date(2026, 10, 30)
    found = forecast_for(inputs.facts, YEAR, demo_source.settings.forecast, last, inputs.fitted)
    assert found is not None and found.backtest is not None
    return found


def test_the_backtest_band_and_the_forecast_alert_on_the_demo(
    demo_source: Source, inputs: DirectInputs, view: Any
) -> None:
    table = view.backtest
    for k in ("revenue", "margin", "orders", "active_customers"):
        low, said, high = (table[f"{k}_forecast{s}"].to_numpy() for s in ("_low", "", "_high"))
        assert (low <= said).all() and (said <= high).all() and (low >= 0).all(), k
        inside = low > 0  # an 80 % band around what the forecast said: symmetric unless cut at 0
        assert np.allclose((high - said)[inside], (said - low)[inside]), k
        # chance and the backtest's typical monthly error joined: never narrower than the error alone
        error = view.errors[k]["monthly"]
        assert ((high - said) / Z_80 >= error * said * (1 - 1e-9)).all(), k
    # the last month of the backtest is the last whole month of data (September: data end 30 October)
    last = table.iloc[-1]
    assert pd.Timestamp(last["month"]).date() == date(2026, 9, 1)
    assert last["revenue_forecast_low"] <= last["revenue"] <= last["revenue_forecast_high"]
    on = replace(OFF, forecast=True)
    assert _find(demo_source, inputs, YEAR, builtin=on, forecast=view) == []
    # the range the alert judges September on: chance, and the typical error of the other months
    # (a large miss must not widen its own range), by hand
    said = last["revenue_forecast"]
    errors = table["revenue_error"].to_numpy(dtype=float)[:-1]
    others = np.sqrt(np.mean(errors[np.isfinite(errors)] ** 2))
    chance = ((last["revenue_forecast_high"] - said) / Z_80) ** 2 - (view.errors["revenue"]["monthly"] * said) ** 2
    low = said - Z_80 * np.sqrt(chance + (others * said) ** 2)
    for revenue, fires in ((low - 1, True), (low + 1, False)):
        below = table.copy()
        below.loc[below.index[-1], "revenue"] = revenue
        found = _find(demo_source, inputs, YEAR, builtin=on, forecast=replace(view, backtest=below))
        assert bool(found) == fires, revenue
        if fires:
            (alert,) = found
            assert alert.kind == "forecast" and alert.values["month"] == date(2026, 9, 1)
            assert alert.values["value"] == pytest.approx(low - 1)
            assert alert.values["low"] == pytest.approx(low)
        assert _find(demo_source, inputs, YEAR, builtin=OFF, forecast=replace(view, backtest=below)) == []


def test_the_target_alerts(demo_source: Source, inputs: DirectInputs, figures: ValueFigures, view: Any) -> None:
    targets = (
        Target("revenue", "2026", 1.0),  # met
        Target("avg_clv", "2026", 1e7),  # far off
        Target("revenue", "2026-08", 1e9),  # missed, but a month long gone: not an alert
        Target("revenue", "2026-09", 1e9),  # missed: the last whole month of data
        Target("revenue", "2026-10", 1e9),  # off, the month the data end in
        Target("revenue", "2026", 1e9, "Privati"),  # a segment's: judged on that segment
        Target("revenue", "2026", 1.0, "Uffici"),  # a segment's, met
    )
    current = {"avg_clv": figures.now["avg_clv"]}
    on = replace(OFF, targets=True)
    found = _find(demo_source, inputs, YEAR, builtin=on, targets=targets, forecast=view, current=current)
    assert sorted((a.values["kpi"], a.values["period"], a.values["segment"]) for a in found) == [
        ("avg_clv", "2026", ""),
        ("revenue", "2026", "Privati"),
        ("revenue", "2026-09", ""),
        ("revenue", "2026-10", ""),
    ]
    assert all((a.kind, a.page, a.origin) == ("target", "panoramica", "builtin_alerts.targets") for a in found)
    (september,) = [a for a in found if a.values["period"] == "2026-09"]
    assert september.variant == "final"  # a month over: missed, not off track
    assert alert_text(september, "en").startswith("Target “Revenue” September 2026 missed: ")
    (privati,) = [a for a in found if a.values["segment"] == "Privati"]
    assert privati.filters == PRIVATI  # its button opens the segment's view
    (clv,) = [a for a in found if a.values["kpi"] == "avg_clv"]
    assert clv.variant == "current" and clv.values["value"] == pytest.approx(figures.now["avg_clv"])
    assert clv.values["target"] == 1e7 and clv.filters == YEAR
    assert _find(demo_source, inputs, YEAR, builtin=OFF, targets=targets, forecast=view, current=current) == []
    # the segment's own target when that segment is chosen
    mine = forecast_for(inputs.facts, PRIVATI, demo_source.settings.forecast, date(2026, 10, 30), inputs.fitted)
    found = _find(demo_source, inputs, PRIVATI, builtin=on, targets=targets, forecast=mine, current={})
    assert [(a.values["kpi"], a.values["period"], a.values["segment"]) for a in found] == [
        ("revenue", "2026", "Privati")
    ]
    assert found[0].filters == PRIVATI


def test_alerts_for_puts_the_rules_first(demo_source: Source) -> None:
    """Every alert of the period, the owner's first: a rule, a target, the value at risk, the campaign."""
    source = _variant(
        demo_source,
        _rule("orders", "above", 0),
        builtin=BuiltinAlerts(),
        targets=(Target("avg_clv", "2026", 1e7),),
    )
    found = alerts_for(source, YEAR, TODAY)
    assert [a.kind for a in found] == ["rule", "target", "at_risk_value", "campaign"]
    assert [a.origin for a in found][:2] == ["alerts[1]", "builtin_alerts.targets"]


# --- 5. the sentences ----------------------------------------------------------------------------------


def test_rule_sentences(demo_source: Source, inputs: DirectInputs, by_hand: dict[str, float]) -> None:
    revenue = by_hand["revenue"]
    (alert,) = _find(demo_source, inputs, YEAR, _rule("revenue", "below", 2_000_000))
    assert alert_text(alert, "it") == f"Ricavi: € {_it(revenue)}, sotto € 2.000.000."
    assert alert_text(alert, "en") == f"Revenue: €{_en(revenue)}, below €2,000,000."
    change = revenue / by_hand["revenue_before"] - 1
    assert 0.5 < change < 1
    rule = _rule("revenue", "above", 0.5, change=True, name="Fatturato in corsa")
    (alert,) = _find(demo_source, inputs, YEAR, rule)
    pct = f"{change * 100:.1f}"
    assert alert_text(alert, "it") == (
        f"Fatturato in corsa: +{pct.replace('.', ',')} % sul periodo precedente (€ {_it(revenue)}), sopra +50,0 %."
    )
    assert alert_text(alert, "en") == (
        f"Fatturato in corsa: +{pct}% on the previous period (€{_en(revenue)}), above +50.0%."
    )
    # a share's change in points, for a segment without a name of its own
    points = by_hand["privati_margin_pct"] - by_hand["privati_margin_pct_before"]
    assert -0.01 < points < -0.001
    share = by_hand["privati_margin_pct"] * 100
    (alert,) = _find(demo_source, inputs, YEAR, _rule("margin_pct", "below", -0.001, change=True, segment="Privati"))
    pp, now = f"{abs(points) * 100:.1f}", f"{share:.1f}"
    assert alert_text(alert, "it") == (
        f"Margine % (Privati): -{pp.replace('.', ',')} pp sul periodo precedente ({now.replace('.', ',')} %), "
        "sotto -0,1 pp."
    )
    assert alert_text(alert, "en") == (f"Margin % (Privati): -{pp} pp on the previous period ({now}%), below -0.1 pp.")


def test_value_at_risk_sentences() -> None:
    def alert(now: float, before: float, customers: float) -> Alert:
        found = ValueFigures({"at_risk_value": now, "at_risk_customers": customers}, {"at_risk_value": before}, (), ())
        (made,) = _at_risk(YEAR, found, 0.0)
        return made

    one = alert(1234.4, 1000.0, 1)
    assert alert_text(one, "it") == (
        "Il valore dei clienti a rischio è salito del 23 % sul periodo precedente, a € 1.234 (1 cliente)."
    )
    assert alert_text(one, "en") == (
        "The value of customers at risk rose 23% on the previous period, to €1,234 (1 customer)."
    )
    many = alert(12_345.6, 11_000.0, 1500)
    assert alert_text(many, "it") == (
        "Il valore dei clienti a rischio è salito del 12 % sul periodo precedente, a € 12.346 (1.500 clienti)."
    )
    assert alert_text(many, "en") == (
        "The value of customers at risk rose 12% on the previous period, to €12,346 (1,500 customers)."
    )
    # Italian elides before a number read with a vowel: "dell'8 %"
    assert "è salito dell'8 % sul periodo precedente" in alert_text(alert(1080.0, 1000.0, 2), "it")
    dollars = alert_text(many, "en", "USD")  # the settings' currency
    assert "€" not in dollars and "$12,346 (1,500 customers)." in dollars


def test_campaign_sentences() -> None:
    roi = pd.DataFrame(
        {"name": ["Fiera", "Social", "Black Friday"], "roi_lifetime": [-0.66, -0.2, -0.1], "campaign_id": [1, 2, 3]}
    )
    inputs = SimpleNamespace(roi=lambda filters, as_of, anchor: roi)

    ids = dict(zip(roi["name"], roi["campaign_id"], strict=True))

    def made(to_stop: tuple[str, ...], stopped: tuple[str, ...] = ()) -> list[str]:
        by_id = (tuple(ids[n] for n in to_stop), tuple(ids[n] for n in stopped))
        alerts = _campaigns(YEAR, ValueFigures({}, {}, to_stop, stopped, *by_id), inputs)
        return [f"{alert_text(a, 'it')} | {alert_text(a, 'en')}" for a in alerts]

    assert made(("Fiera",)) == [
        "La campagna «Fiera» non si ripaga, nemmeno sull'intera vita dei suoi clienti: ROI -66 %. | "
        "Campaign “Fiera” does not pay back, even over its customers' whole life: ROI -66%."
    ]
    assert made(("Fiera", "Social")) == [
        "Le campagne «Fiera» e «Social» non si ripagano, nemmeno sull'intera vita dei loro clienti. | "
        "Campaigns “Fiera” and “Social” do not pay back, even over their customers' whole life."
    ]
    assert made(("Fiera", "Social", "Black Friday"), stopped=("Social",)) == [
        "La campagna «Social» non si ripaga più sull'intera vita dei suoi clienti (ROI -20 %); "
        "a fine periodo precedente si ripagava. | "
        "Campaign “Social” no longer pays back over its customers' whole life (ROI -20%); "
        "at the end of the previous period it did.",
        "Le campagne «Fiera» e «Black Friday» non si ripagano, nemmeno sull'intera vita dei loro clienti. | "
        "Campaigns “Fiera” and “Black Friday” do not pay back, even over their customers' whole life.",
    ]
    assert made(("Fiera", "Social", "Black Friday"), stopped=("Fiera", "Social", "Black Friday")) == [
        "Le campagne «Fiera», «Social» e «Black Friday» non si ripagano più sull'intera vita dei loro clienti; "
        "a fine periodo precedente si ripagavano. | "
        "Campaigns “Fiera”, “Social” and “Black Friday” no longer pay back over their customers' whole life; "
        "at the end of the previous period they did."
    ]


def test_data_health_and_forecast_sentences() -> None:
    facts = SimpleNamespace(
        health={
            "orders": {"rows_read": 30, "excluded": {"bad_date": 1}},
            "customers": {"rows_read": 5000, "excluded": {"missing_id": 1000, "duplicate_id": 234}},
            "tickets": {"rows_read": 0, "excluded": {}},  # nothing read: nothing to say
        }
    )
    unmapped = SimpleNamespace(available=lambda _entity: False)  # no engagement or targets table
    one, many = _data_health(unmapped, facts, YEAR, 0.02)  # type: ignore[arg-type]
    assert alert_text(one, "it") == "Ordini: 1 riga su 30 (3 %) esclusa perché inutilizzabile."
    assert alert_text(one, "en") == "Orders: 1 row of 30 (3%) left out as unusable."
    assert alert_text(many, "it") == "Clienti: 1.234 righe su 5.000 (25 %) escluse perché inutilizzabili."
    assert alert_text(many, "en") == "Customers: 1,234 rows of 5,000 (25%) left out as unusable."
    assert [a.values["entity"] for a in _data_health(unmapped, facts, YEAR, 0.1)] == ["customers"]  # type: ignore[arg-type]
    assert _data_health(unmapped, facts, YEAR, 0.25) == []  # type: ignore[arg-type]
    table = _backtest(50_000.4).backtest.assign(revenue_forecast_low=76_327.6, revenue_forecast_high=122_826.6)
    (alert,) = _forecast(YEAR, SimpleNamespace(backtest=table))  # type: ignore[arg-type]
    assert alert_text(alert, "it") == (
        "I ricavi di settembre 2026 sono stati € 50.000, sotto l'intervallo della previsione (€ 76.328 – € 122.827)."
    )
    assert alert_text(alert, "en") == (
        "Revenue in September 2026 was €50,000, below the range its forecast gave (€76,328 – €122,827)."
    )


def test_target_sentences(demo_source: Source, inputs: DirectInputs, figures: ValueFigures, view: Any) -> None:
    on = replace(OFF, targets=True)
    targets = (Target("avg_clv", "2026", 1e7),)
    current = {"avg_clv": figures.now["avg_clv"]}
    (alert,) = _find(demo_source, inputs, YEAR, builtin=on, targets=targets, forecast=view, current=current)
    clv = figures.now["avg_clv"]
    assert (
        alert_text(alert, "it") == f"Obiettivo «CLV medio» 2026 fuori strada: oggi € {_it(clv)}, contro € 10.000.000."
    )
    assert alert_text(alert, "en") == f"Target “Average CLV” 2026 off track: €{_en(clv)} today, against €10,000,000."
    mine = forecast_for(inputs.facts, PRIVATI, demo_source.settings.forecast, date(2026, 10, 30), inputs.fitted)
    (alert,) = _find(
        demo_source, inputs, PRIVATI, builtin=on, targets=(Target("revenue", "2026", 1e9, "Privati"),), forecast=mine
    )
    assert alert.variant == "projection"
    assert alert_text(alert, "it").startswith(
        "Obiettivo «Ricavi» 2026 (Privati) fuori strada: a fine periodo si prevede € "
    )
    assert alert_text(alert, "en").startswith("Target “Revenue” 2026 (Privati) off track: €")
    assert alert_text(alert, "en").endswith(" expected by the period's end, against €1,000,000,000.")


def test_every_alert_message_is_in_both_catalogues() -> None:
    keys = [
        *(f"alert.rule.{v}" for v in ("below", "above", "change_below", "change_above")),
        *(f"alert.target.{v}" for v in ("projection", "final", "to_date", "current")),
        "alert.forecast",
        "alerts.title",
        "alerts.none",
        "alerts.origin",
        "mail.alerts",
        "kpi.at_risk_value",
    ]
    for key in keys:
        for lang in ("it", "en"):
            assert t(key, lang) != key, (key, lang)
    assert t("alerts.title", "it") == "Avvisi" and t("alerts.title", "en") == "Alerts"


# --- 6. the command line -------------------------------------------------------------------------------


def _cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str, *argv: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    monkeypatch.delenv("CRUSCOTTO_CONFIG", raising=False)
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_alerts_json_and_links(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    demo_url: str,
    orders: pd.DataFrame,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("CRUSCOTTO_DASHBOARD_URL", raising=False)
    config = tmp_path / "cruscotto.toml"
    config.write_text(
        '[[alerts]]\nkpi = "revenue"\nbelow = 1_000_000_000\nsegment = "Privati"\nname = "Ricavi privati"\n\n'
        '[mail]\ndashboard_url = "https://x.example/"\n'
    )
    code, out, err = _cli(
        capsys, monkeypatch, demo_url, "alerts", "--config", str(config), "--json", "--lang", "en", "--period", "6m"
    )
    assert code == 1, err
    payload = json.loads(out)
    assert (payload["from"], payload["to"]) == ("2026-05-01", "2026-10-31")
    rows = payload["alerts"]
    # the same alerts as the service gives for the same settings and period
    source = Source(settings=load_settings(config, env={}, secrets_path="/nonexistent"), url=demo_url)
    want = alerts_for(source, Filters(start=date(2026, 5, 1), end=AS_OF), date.today())
    assert [r["kind"] for r in rows] == [a.kind for a in want] and len(rows) >= 2
    assert [r["text"] for r in rows] == [alert_text(a, "en") for a in want]
    assert [r["page"] for r in rows] == [a.page for a in want]
    assert [r["setting"] for r in rows] == [a.origin for a in want]
    assert [sorted(r["values"]) for r in rows] == [sorted(a.values) for a in want]
    assert set(rows[0]) == {"kind", "text", "page", "link", "setting", "segments", "values"}
    rule = rows[0]
    privati = _sum(orders, date(2026, 5, 1), AS_OF, privati=True)
    assert (rule["kind"], rule["setting"], rule["segments"]) == ("rule", "alerts[1]", ["Privati"])
    assert rule["values"]["kpi"] == "revenue" and rule["values"]["value"] == pytest.approx(privati)
    assert rule["values"]["threshold"] == 1e9 and rule["values"]["name"] == "Ricavi privati"
    assert rule["text"] == f"Ricavi privati: €{_en(privati)}, below €1,000,000,000."
    for row in rows:
        link = urlparse(row["link"])
        assert (link.scheme, link.netloc, link.path) == ("https", "x.example", f"/{row['page']}")
        query = parse_qs(link.query)
        assert query["lang"] == ["en"] and query["period"] == ["Last 6 months"]
        assert query.get("segment", []) == row["segments"]
    campaign = next(r for r in rows if r["kind"] == "campaign")
    assert campaign["values"]["names"] == ["Black Friday Social 2024"] and campaign["segments"] == []
    assert urlparse(campaign["link"]).path == "/marketing"


def test_cli_alerts_text_exit_status_and_errors(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    demo_url: str,
    by_hand: dict[str, float],
    orders: pd.DataFrame,
    tmp_path: Path,
) -> None:
    quiet = (
        "[builtin_alerts]\ncampaigns = false\nat_risk_value = false\ntargets = false\n"
        "forecast = false\nexcluded_rows = false\n"
    )
    config = tmp_path / "cruscotto.toml"
    # nothing fires: exit 0, said so
    config.write_text(quiet + '[[alerts]]\nkpi = "revenue"\nbelow = 1\n')
    monkeypatch.delenv("CRUSCOTTO_DASHBOARD_URL", raising=False)
    code, out, err = _cli(capsys, monkeypatch, demo_url, "alerts", "--config", str(config))
    assert code == 0, err
    assert out.splitlines() == ["Avvisi (01/11/2025 – 31/10/2026): 0", t("alerts.none", "it")]
    # one rule fires: exit 1, in English, with the link from the environment
    config.write_text(quiet + '[[alerts]]\nkpi = "revenue"\nbelow = 1e12\n')
    monkeypatch.setenv("CRUSCOTTO_DASHBOARD_URL", "https://y.example")
    code, out, err = _cli(capsys, monkeypatch, demo_url, "alerts", "--config", str(config), "--lang", "en")
    assert code == 1, err
    assert out.splitlines() == [
        "Alerts (1 Nov 2025 – 31 Oct 2026): 1",
        f"- Revenue: €{_en(by_hand['revenue'])}, below €1,000,000,000,000.  [alerts[1]]",
        "  https://y.example/panoramica?lang=en&period=Last%2012%20months",
    ]
    # a period of its own: the link carries its dates
    code, out, err = _cli(
        capsys, monkeypatch, demo_url, "alerts", "--config", str(config), "--json", "--from", "2026-01-01",
        "--to", "2026-03-31", "--segment", "Privati",
    )  # fmt: skip
    assert code == 1, err
    (row,) = json.loads(out)["alerts"]
    assert row["segments"] == ["Privati"] and row["values"]["value"] == pytest.approx(
        _sum(orders, date(2026, 1, 1), date(2026, 3, 31), privati=True)
    )
    assert parse_qs(urlparse(row["link"]).query) == {
        "lang": ["it"],
        "segment": ["Privati"],
        "period": [t("period.custom", "it")],
        "from": ["2026-01-01"],
        "to": ["2026-03-31"],
    }
    # a rule naming a segment the data lack: an input error naming the key
    config.write_text(
        '[[alerts]]\nkpi = "revenue"\nbelow = 1\n[[alerts]]\nkpi = "orders"\nabove = 1\nsegment = "Horeca"\n'
    )
    code, out, err = _cli(capsys, monkeypatch, demo_url, "alerts", "--config", str(config))
    assert code == 2 and not out
    assert err.strip().startswith("alerts[2].segment: 'Horeca' is not a segment in the data")
    assert "HoReCa, Privati, Rivenditori, Uffici" in err and "Traceback" not in err
    # a bad rule: the settings' error, with the key
    config.write_text('[[alerts]]\nkpi = "fatturato"\nbelow = 1\n')
    code, _out, err = _cli(capsys, monkeypatch, demo_url, "alerts", "--config", str(config))
    assert code == 2 and err.startswith("alerts[1].kpi: ")


# --- the mailed report ------------------------------------------------------------------------------------


def _message(alerts: list[tuple[str, str | None]]) -> EmailMessage:
    return report_message(
        title="Cruscotto",
        caption="01/11/2025 – 31/10/2026",
        comment="Tutto bene.",
        figures=[("Ricavi", "€ 1")],
        pdf=b"%PDF-1.4",
        chart_png=None,
        sender="cruscotto@torrefazione.it",
        recipients=["titolare@torrefazione.it"],
        subject="Report",
        lang="it",
        filename="report.pdf",
        link=None,
        alerts=alerts,
    )


def test_the_mail_lists_the_alerts() -> None:
    message = _message(
        [
            ("Ricavi <HoReCa> & co: € 1, sotto € 2.", "https://x.example/panoramica?lang=it&segment=HoReCa"),
            ("Dati.", None),
        ]
    )
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    text = plain.get_content()
    assert (
        "Avvisi:\n- Ricavi <HoReCa> & co: € 1, sotto € 2. (https://x.example/panoramica?lang=it&segment=HoReCa)\n"
        "- Dati.\n\nTutto bene."
    ) in text
    body = html.get_content()
    assert "<strong>Avvisi</strong>" in body
    assert "Ricavi &lt;HoReCa&gt; &amp; co: € 1, sotto € 2." in body and "<HoReCa>" not in body
    assert '<a href="https://x.example/panoramica?lang=it&amp;segment=HoReCa"' in body
    assert body.index("Avvisi") < body.index("Tutto bene.")  # the alerts open the message
    assert body.count("<li") == 2 and "Dati.</li>" in body  # no link: no arrow
    # no alert: no section
    quiet = _message([])
    plain = quiet.get_body(("plain",))
    html = quiet.get_body(("html",))
    assert plain is not None and html is not None
    assert "Avvisi" not in plain.get_content() and "Avvisi" not in html.get_content()


def test_the_mailed_report_carries_the_periods_alerts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], demo_url: str, tmp_path: Path
) -> None:
    """``cli.py report --mail-to``: the alerts of the report's period in the message, each with the
    link to its view (the report itself and the sending stubbed: tests/test_mail.py sends one)."""
    sent: list[EmailMessage] = []
    monkeypatch.setattr(cli, "images_available", lambda: True)
    monkeypatch.setattr(
        cli,
        "build_report",
        lambda *a, **k: [
            SimpleNamespace(title="Overview", comment="Comment.", cards=[("Revenue", "€ 1")], figure=None)
        ],
    )
    monkeypatch.setattr(cli, "render", lambda *a, **k: b"%PDF-1.4 stub")

    def send(message: EmailMessage, mail: object) -> list[str]:
        sent.append(message)
        return []  # no recipient refused

    monkeypatch.setattr(cli, "send_message", send)
    monkeypatch.delenv("CRUSCOTTO_DASHBOARD_URL", raising=False)
    config = tmp_path / "cruscotto.toml"
    config.write_text(
        '[[alerts]]\nkpi = "orders"\nabove = 0\nsegment = "Uffici"\n\n'
        '[mail]\nhost = "127.0.0.1"\nsender = "cruscotto@torrefazione.it"\ndashboard_url = "https://x.example"\n'
    )
    code, out, err = _cli(
        capsys, monkeypatch, demo_url, "report", "--config", str(config), "--mail-to", "a@torrefazione.it",
        "--lang", "en", "--out", str(tmp_path / "r.pdf"),
    )  # fmt: skip
    assert code == 0, err
    assert "report sent to a@torrefazione.it through 127.0.0.1" in out
    (message,) = sent
    source = Source(settings=load_settings(config, env={}, secrets_path="/nonexistent"), url=demo_url)
    want = alerts_for(source, YEAR, date.today())
    assert [a.kind for a in want][:1] == ["rule"] and len(want) >= 2
    plain = message.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "Alerts:" in text
    for alert in want:
        assert f"- {alert_text(alert, 'en')} (https://x.example/{alert.page}?lang=en" in text
    assert "https://x.example/panoramica?lang=en&segment=Uffici&period=Last%2012%20months" in text


def test_the_two_dates_are_made_on_two_threads_with_one_fit(demo_source: Source) -> None:
    """The overview's figures at the period's end and at the previous period's end are made at once
    on two threads (``service.cores``); the earlier date waits for the model fitted at the end
    instead of fitting it again, and the figures are those made one after the other."""
    import service.overview as overview_module
    from service import compute

    threads: dict[date, set[str]] = {}
    fits: list[date] = []
    real_clv_at = compute.clv_at

    def counted_fit(source: Source, day: date, *args: Any, **kwargs: Any) -> Any:
        fits.append(day)
        return real_clv_at(source, day, *args, **kwargs)

    class Watched(DirectInputs):
        def clv(self, as_of: date, anchor: date) -> Any:
            threads.setdefault(as_of, set()).add(threading.current_thread().name)
            return super().clv(as_of, anchor)

    serial = value_figures(demo_source, DirectInputs(demo_source, TODAY), YEAR, PREV_END)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compute, "clv_at", counted_fit)
        both = overview_module.value_figures(demo_source, Watched(demo_source, TODAY), YEAR, PREV_END)
    assert fits == [YEAR.end]  # one fit, at the period's end, for both dates
    assert len(threads[YEAR.end] | threads[PREV_END]) == 2, threads
    assert both.now == pytest.approx(serial.now, nan_ok=True)
    assert both.before == pytest.approx(serial.before, nan_ok=True)
    assert (both.to_stop, both.stopped, both.to_stop_ids) == (serial.to_stop, serial.stopped, serial.to_stop_ids)
