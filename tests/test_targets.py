"""Targets: the settings checked key by key, the judgement by hand, the demo's targets judged on
what happened plus the forecast, the overview's cards and the command line's exit status."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

import cli
from data.filters import Filters
from data.settings import ConfigError, Target, load_settings
from data.source import Source
from kpi.forecast import Z_80
from kpi.targets import judge, pro_rata
from service import compute
from service.forecast import forecast_for
from service.targets import applies, month_targets, target_rows

AS_OF = date(2026, 10, 31)
TODAY = date(2026, 11, 25)

TARGETS_TOML = """
[[targets]]
kpi = "revenue"
period = 2026
value = 5_000_000

[[targets]]
kpi = "margin_pct"
period = 2026
value = 0.31

[[targets]]
kpi = "new_customers"
period = 2026
value = 600

[[targets]]
kpi = "avg_clv"
period = 2026
value = 2500

[[targets]]
kpi = "revenue"
period = "2026-09"
value = 450_000

[[targets]]
kpi = "revenue"
period = "2026-12"
value = 440_000

[[targets]]
kpi = "revenue"
period = 2026
segment = "HoReCa"
value = 1_900_000
"""


def test_target_settings_name_the_key(tmp_path: Path) -> None:
    config = tmp_path / "cruscotto.toml"
    for body, key, words in (
        ('[[targets]]\nkpi = "turnover"\nperiod = 2026\nvalue = 1\n', "targets[1].kpi", "revenue, margin"),
        ('[[targets]]\nkpi = "revenue"\nperiod = "2026-13"\nvalue = 1\n', "targets[1].period", "2026-11"),
        ('[[targets]]\nkpi = "revenue"\nperiod = 2026\nvalue = "a lot"\n', "targets[1].value", "number"),
        ('[[targets]]\nkpi = "revenue"\nperiod = 2026\nvalue = -5\n', "targets[1].value", "negative"),
        ('[[targets]]\nkpi = "margin_pct"\nperiod = 2026\nvalue = 31\n', "targets[1].value", "0.31"),
        ('[[targets]]\nkpi = "revenue"\nperiod = 2026\nvalue = 1\nsegmnt = "HoReCa"\n', "targets[1].segmnt", ""),
        ("[targets]\nrevenue = 5\n", "targets", "[[targets]]"),
        (
            '[[targets]]\nkpi = "orders"\nperiod = 2026\nvalue = 1\n'
            '[[targets]]\nkpi = "orders"\nperiod = "2026"\nvalue = 2\n',
            "targets[2]",
            "repeats",
        ),
    ):
        config.write_text(body)
        with pytest.raises(ConfigError) as caught:
            load_settings(config, env={}, secrets_path="/nonexistent")
        assert str(caught.value).startswith(key) and words in str(caught.value), (body, str(caught.value))
    config.write_text(TARGETS_TOML)
    targets = load_settings(config, env={}, secrets_path="/nonexistent").targets
    assert targets[0] == Target("revenue", "2026", 5_000_000.0)
    assert targets[5].month == 12 and targets[6].segment == "HoReCa"


def test_judgement_by_hand() -> None:
    # a projection that meets its target; one whose band still reaches it; one that cannot
    assert judge(100, 101, low=90, high=110, basis="projection").status == "on_track"
    assert judge(100, 95, low=85, high=104).status == "at_risk"
    assert judge(100, 90, low=85, high=99).status == "off_track"
    # without a band: within 5 % is at risk
    assert judge(0.31, 0.30).status == "at_risk" and judge(0.31, 0.29).status == "off_track"
    # a ceiling: lower is better
    assert judge(50, 40, higher_is_better=False).status == "on_track"
    assert judge(50, 52, higher_is_better=False).status == "at_risk"
    # a count before its period is over: against the share due by now (a quarter of the year: 25)
    assert pro_rata(100, 26, 0.25).status == "on_track"
    assert pro_rata(100, 24, 0.25).status == "at_risk" and pro_rata(100, 20, 0.25).status == "off_track"


def test_which_targets_apply() -> None:
    whole, horeca = Target("revenue", "2026", 1.0), Target("revenue", "2026", 1.0, "HoReCa")
    assert applies(whole, Filters()) and not applies(horeca, Filters())
    assert applies(horeca, Filters(segments=("HoReCa",))) and not applies(whole, Filters(segments=("HoReCa",)))
    assert not applies(horeca, Filters(segments=("HoReCa", "Uffici")))
    assert not applies(whole, Filters(regions=("Nord",)))  # a region's figures against the company's target
    months = month_targets((whole, Target("revenue", "2026-12", 9.0), Target("revenue", "2026-03", 3.0)), Filters())
    assert months["target"].tolist() == [3.0, 9.0]


@pytest.fixture(scope="module")
def judged(demo_source: Source) -> tuple[object, object, object]:
    facts = compute.facts_for(demo_source, TODAY)
    fits: dict[date, compute.CLVResult] = {}  # type: ignore[name-defined]

    def fitted(day: date):  # type: ignore[no-untyped-def]
        if day not in fits:
            fits[day] = compute.clv_at(demo_source, day, TODAY, facts=facts)
        return fits[day]

    return facts, fitted, demo_source


def test_demo_targets_by_hand(judged: tuple[object, object, object], tmp_path: Path) -> None:
    facts, fitted, source = judged  # type: ignore[misc]
    config = tmp_path / "cruscotto.toml"
    config.write_text(TARGETS_TOML)
    targets = load_settings(config, env={}, secrets_path="/nonexistent").targets
    view = forecast_for(facts, Filters(), source.settings.forecast, AS_OF, fitted)
    assert view is not None
    rows = target_rows(facts, Filters(), targets, AS_OF, view, {"avg_clv": 2033.0, "clv_cac": 12.0}).set_index(
        ["kpi", "period"]
    )
    assert len(rows) == 6  # the HoReCa target is not the whole company's
    # revenue 2026: January to October as it happened, plus November and December forecast
    days = facts.d_day
    in_year = (days >= (date(2026, 1, 1) - date(1970, 1, 1)).days) & (days <= (AS_OF - date(1970, 1, 1)).days)
    to_date = float(facts.d_revenue[in_year].sum())
    revenue = rows.loc[("revenue", "2026")]
    assert revenue["actual"] == pytest.approx(to_date)
    assert revenue["value"] == pytest.approx(to_date + view.table["revenue"].iloc[:2].sum())
    # the band of the two months together: chance adds up, the model's error is the backtest's total
    rest, spread = view.detail["revenue"].iloc[:2].sum(), view.detail["revenue_variance"].iloc[:2].sum()
    error = abs(view.errors["revenue"]["total"]) if view.errors else 0.0
    sd = np.sqrt(spread + (error * rest) ** 2)
    assert revenue["low"] == pytest.approx(to_date + rest - Z_80 * sd)
    assert revenue["high"] == pytest.approx(to_date + rest + Z_80 * sd)
    assert (
        revenue["high"] - revenue["low"]
        < view.table["revenue_high"].iloc[:2].sum() - view.table["revenue_low"].iloc[:2].sum()
    )  # narrower than the months' bands laid end to end
    assert revenue["basis"] == "projection"
    # this small demo's revenue is far below 5 million, and so is the top of its band
    assert revenue["value"] < 5e6 and revenue["high"] < 5e6 and revenue["status"] == "off_track"
    # a month already over is judged as it went; December on its forecast
    september = rows.loc[("revenue", "2026-09")]
    assert september["basis"] == "final" and september["value"] == pytest.approx(september["actual"])
    assert rows.loc[("revenue", "2026-12"), "value"] == pytest.approx(view.table["revenue"].iloc[1])
    # new customers: to date plus the pace of new customers for the two months left
    new = rows.loc[("new_customers", "2026")]
    assert new["value"] == pytest.approx(new["actual"] + 2 * view.new_per_month)
    # the average CLV is today's value: 2,033 against 2,500 is more than 5 % short
    assert rows.loc[("avg_clv", "2026"), "status"] == "off_track"
    margin = rows.loc[("margin_pct", "2026")]
    assert 0.2 < margin["value"] < 0.4 and np.isnan(margin["low"])
    # HoReCa's own target, when HoReCa is chosen
    horeca = forecast_for(facts, Filters(segments=("HoReCa",)), source.settings.forecast, AS_OF, fitted)
    mine = target_rows(facts, Filters(segments=("HoReCa",)), targets, AS_OF, horeca, {})
    assert mine["segment"].tolist() == ["HoReCa"] and mine["basis"].tolist() == ["projection"]
    # no forecast (the period ends before the data does): the count is judged on the share due
    past = target_rows(facts, Filters(), targets, AS_OF, None, {})
    assert past.set_index(["kpi", "period"]).loc[("revenue", "2026"), "basis"] == "to_date"


def test_targets_from_the_command_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, demo_url: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRUSCOTTO_DB_URL", demo_url)
    config = tmp_path / "cruscotto.toml"
    config.write_text(TARGETS_TOML)
    code = cli.main(["targets", "--config", str(config), "--json"])
    out, _ = capsys.readouterr()
    payload = json.loads(out)
    assert code == 1 and payload["off_track"] >= 1  # the average CLV is off track
    assert {t["kpi"] for t in payload["targets"]} == {"revenue", "margin_pct", "new_customers", "avg_clv"}
    # a script can rely on the exit status: a target that is met exits 0
    config.write_text('[[targets]]\nkpi = "revenue"\nperiod = "2026-09"\nvalue = 100000\n')
    assert cli.main(["targets", "--config", str(config)]) == 0
    capsys.readouterr()
    config.write_text('[[targets]]\nkpi = "revenue"\nperiod = 2026\nsegment = "Horeca"\nvalue = 1\n')
    assert cli.main(["targets", "--config", str(config)]) == 2
    assert "targets[1].segment" in capsys.readouterr().err


def test_the_report_says_how_the_targets_stand(demo_url: str, tmp_path: Path) -> None:
    from service.report import build_report

    config = tmp_path / "cruscotto.toml"
    config.write_text(
        '[[targets]]\nkpi = "revenue"\nperiod = "2026-09"\nvalue = 1\n'
        '[[targets]]\nkpi = "avg_clv"\nperiod = 2026\nvalue = 1000000\n'
        '[[targets]]\nkpi = "revenue"\nperiod = 2026\nsegment = "HoReCa"\nvalue = 1\n'
    )
    source = Source(settings=load_settings(config, env={}, secrets_path="/nonexistent"), url=demo_url)
    sections = build_report(source, Filters(start=date(2025, 11, 1), end=AS_OF), "en", TODAY)
    comment = sections[0].comment
    # the whole company's two targets (not HoReCa's): September's met, the average CLV far off
    assert "Targets 2026: 2 targets, 1 on track, 0 at risk, 1 off track. Off track: Average CLV" in comment


def test_distinct_customers_are_due_as_they_came_a_year_before(judged: tuple[object, object, object]) -> None:
    """Customers who bought in 2025, judged on 30 June 2025 without a forecast: due is the share
    that 2024 had reached by 30 June 2024 (distinct customers do not add up day by day), not the
    share of the days."""
    facts, _fitted, _source = judged  # type: ignore[misc]
    from service.targets import _due_share, _to_date

    due = _due_share(facts, Filters(), "active_customers", date(2025, 1, 1), date(2025, 12, 31), date(2025, 6, 30))
    half_2024 = _to_date(facts, Filters(), date(2024, 1, 1), date(2024, 6, 30))["active_customers"]
    year_2024 = _to_date(facts, Filters(), date(2024, 1, 1), date(2024, 12, 31))["active_customers"]
    assert due == pytest.approx(half_2024 / year_2024) and abs(due - 181 / 365) > 0.01
    assert _due_share(facts, Filters(), "orders", date(2025, 1, 1), date(2025, 12, 31), date(2025, 6, 30)) == (
        pytest.approx(181 / 365)
    )
