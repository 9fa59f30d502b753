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
    comment = next(s for s in sections if s.title == "Overview").comment
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


def test_numbers_as_a_spreadsheet_writes_them() -> None:
    from data.targets import parse_number

    assert parse_number("1200000") == 1_200_000
    assert parse_number("1.200.000,50") == pytest.approx(1_200_000.5)
    assert parse_number("1,200,000.50") == pytest.approx(1_200_000.5)
    assert parse_number("€ 450.000", decimal_comma=True) == 450_000
    assert parse_number("1,5", decimal_comma=True) == 1.5
    assert parse_number("1,500") == 1500  # a comma file's thousands
    assert parse_number("31 %") == pytest.approx(0.31) and parse_number("31,5%") == pytest.approx(0.315)
    assert parse_number("-0,2", decimal_comma=True) == pytest.approx(-0.2)
    assert parse_number("tanti") == "tanti" and parse_number(7) == 7  # not a number: left for the check


def test_the_targets_file_is_read_row_by_row(tmp_path: Path) -> None:
    """An Italian spreadsheet's file (semicolons, decimal commas, a percentage): the good rows are
    used, each bad one is named by row and column and left out, a repeated target is named."""
    from data.targets import read_targets_file

    path = tmp_path / "cruscotto-targets.csv"
    path.write_text(
        "KPI;Period;Segment;Value\n"
        "revenue;2026;;1.200.000\n"  # 1
        "margin_pct;2026;;31 %\n"  # 2
        "revenue;2026;HoReCa;€ 400.000,50\n"  # 3
        "orders;2026;;molti\n"  # 4: not a number
        "fatturato;2026;;100\n"  # 5: not a KPI
        "revenue;26;;100\n"  # 6: not a year
        "revenue;2026;;900000\n"  # 7: the same as row 1
        "new_customers;2026;;-5\n"  # 8: a count below zero
        ";;;\n",  # an empty line from the spreadsheet: skipped without a word
        encoding="utf-8-sig",
    )
    found = read_targets_file(path)
    assert [(x.kpi, x.period, x.segment, x.value) for x in found.targets] == [
        ("revenue", "2026", None, 1_200_000.0),
        ("margin_pct", "2026", None, pytest.approx(0.31)),
        ("revenue", "2026", "HoReCa", pytest.approx(400_000.5)),
    ]
    assert found.targets[0].origin == "cruscotto-targets.csv[1]"
    keys = [p.key for p in found.problems]
    assert keys == [
        "cruscotto-targets.csv[4].value",
        "cruscotto-targets.csv[5].kpi",
        "cruscotto-targets.csv[6].period",
        "cruscotto-targets.csv[7]",
        "cruscotto-targets.csv[8].value",
    ]
    assert "revenue" in found.problems[1].localized("en")  # the KPIs there are, named
    # a file without the columns is one problem naming what is missing
    path.write_text("what,when\nrevenue,2026\n")
    (problem,) = read_targets_file(path).problems
    assert problem.key == "cruscotto-targets.csv" and "kpi, period, value" in problem.localized("en")
    assert read_targets_file(tmp_path / "absent.csv").targets == ()


def test_the_form_saves_only_usable_targets(tmp_path: Path) -> None:
    """What the form saves is read back the same; a form with a bad row writes nothing and names
    the row; the file is replaced whole."""
    from data.targets import read_targets_file, save_targets

    path = tmp_path / "cruscotto-targets.csv"
    rows = [
        {"kpi": "revenue", "period": "2026", "segment": None, "value": "1.200.000"},
        {"kpi": "margin_pct", "period": "2026-11", "segment": "HoReCa", "value": "31,5 %"},
        {"kpi": "avg_clv", "period": 2027, "segment": None, "value": 2500},
    ]
    assert save_targets(path, rows, decimal_comma=True) == ()
    back = read_targets_file(path)
    assert back.problems == ()
    assert [(x.kpi, x.period, x.segment, x.value) for x in back.targets] == [
        ("revenue", "2026", None, 1_200_000.0),
        ("margin_pct", "2026-11", "HoReCa", pytest.approx(0.315)),
        ("avg_clv", "2027", None, 2500.0),
    ]
    before = path.read_text()
    problems = save_targets(path, [*rows, {"kpi": "orders", "period": "2026", "segment": None, "value": "-3"}])
    assert [p.key for p in problems] == ["cruscotto-targets.csv[4].value"] and path.read_text() == before
    assert list(tmp_path.iterdir()) == [path]  # no half-written file left beside it
    # a target the settings already set is refused, naming where it is set
    problems = save_targets(path, rows, elsewhere={("avg_clv", "2027", None): "targets[2]"})
    assert [p.key for p in problems] == ["cruscotto-targets.csv[3]"] and "targets[2]" in problems[0].localized("en")
    assert path.read_text() == before


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql", "mariadb"])
def test_targets_from_a_table_of_the_source(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget table mapped as the targets entity, on every engine: its rows join the settings'
    targets; a bad row is named and counted on the data-health page; a target already in
    cruscotto.toml keeps the settings' value; the command line judges them all."""
    import sqlalchemy as sa

    from data.demo import write_demo
    from service.targets import targets_for
    from tests.conftest import _url_for

    url = _url_for(kind, tmp_path, request, "budget")
    write_demo(url, customers=120, seed=5)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS budget"))
        conn.execute(sa.text("CREATE TABLE budget (indicatore VARCHAR(40), anno VARCHAR(10), valore DECIMAL(14,2))"))
        conn.execute(
            sa.text(
                "INSERT INTO budget VALUES ('revenue', '2026', 100.00), ('orders', '2026', -4), ('avg_clv', '2026', 7)"
            )
        )
    engine.dispose()
    config = tmp_path / "cruscotto.toml"
    config.write_text(
        '[[targets]]\nkpi = "avg_clv"\nperiod = 2026\nvalue = 1000000\n\n'
        '[entities.targets]\ntable = "budget"\n'
        '[entities.targets.columns]\nkpi = "indicatore"\nperiod = "anno"\nvalue = "valore"\n'
    )
    source = Source(settings=load_settings(config, env={}, secrets_path="/nonexistent"), url=url)
    found = targets_for(source)
    assert [(x.kpi, x.value, x.origin) for x in found.targets] == [  # in the dashboard's order of KPIs
        ("revenue", 100.0, "entities.targets[1]"),
        ("avg_clv", 1_000_000.0, "targets[1]"),
    ]
    assert [p.key for p in found.problems] == ["entities.targets[2].value", "entities.targets[3]"]
    assert "targets[1]" in found.problems[1].localized("en")  # where the kept one was set
    # the form's file gives way to the table, and the form would refuse to save the same target
    (tmp_path / "cruscotto-targets.csv").write_text("kpi,period,segment,value\nrevenue,2026,,5\n")
    found = targets_for(source)
    assert [x.value for x in found.targets if x.kpi == "revenue"] == [100.0]
    assert found.problems[-1].key == "cruscotto-targets.csv[1]"
    assert "entities.targets[1]" in found.problems[-1].localized("en")
    assert found.elsewhere[("revenue", "2026", None)] == "entities.targets[1]"
    (tmp_path / "cruscotto-targets.csv").unlink()
    health = compute.entity_health(source, compute.facts_for(source, TODAY), "targets")
    # the table's own checks: the row the settings override is a usable row of the table
    assert (health["rows_read"], health["rows_used"], health["excluded"]) == (3, 2, {"bad_target": 1})
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    code = cli.main(["targets", "--config", str(config), "--json", "--as-of", "2026-10-31"])
    assert code == 1  # the average CLV of a million is off track; the revenue of 100 is met


def test_the_form_shows_values_as_they_are_read_back() -> None:
    """What the form shows in a cell is read back as the same target, in either language."""
    from data.targets import parse_number
    from ui.targets_form import _shown_value

    for target in (
        Target("revenue", "2026", 1_200_000.0),
        Target("margin_pct", "2026", 0.315),
        Target("aov", "2026", 42.5),
    ):
        for lang in ("it", "en"):
            shown = _shown_value(target, lang)
            assert parse_number(shown, decimal_comma=lang == "it") == pytest.approx(target.value), (shown, lang)
    assert _shown_value(Target("revenue", "2026", 1_200_000.0), "it") == "1.200.000"


def test_what_a_spreadsheet_saves_is_read(tmp_path: Path) -> None:
    """Windows-1252 (a spreadsheet's CSV on Windows), a column of notes beside the four, an empty
    file: read, not refused."""
    from data.targets import read_targets_file

    path = tmp_path / "cruscotto-targets.csv"
    path.write_bytes("kpi;period;segment;value;note\nrevenue;2026;Caffè;€ 1.000;più del 2025\n".encode("cp1252"))
    found = read_targets_file(path)
    assert found.problems == () and [(x.segment, x.value) for x in found.targets] == [("Caffè", 1000.0)]
    path.write_text("")
    assert read_targets_file(path) == read_targets_file(tmp_path / "absent.csv")
    path.write_text("kpi,period,segment,value\n,,,\nrevenue,2026,,1\n,,,\n")
    assert read_targets_file(path).rows_read == 1  # blank lines are not rows


def test_saving_keeps_the_files_permissions(tmp_path: Path) -> None:
    from data.targets import save_targets

    path = tmp_path / "cruscotto-targets.csv"
    path.write_text("kpi,period,segment,value\n")
    path.chmod(0o644)
    assert save_targets(path, [{"kpi": "revenue", "period": "2026", "value": "1"}]) == ()
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_targets_set_with_problems_survives_the_cache(tmp_path: Path, demo_url: str) -> None:
    """The app caches the targets by pickling them: the problems come back whole (key and message)."""
    import pickle

    from service.targets import targets_for

    (tmp_path / "cruscotto-targets.csv").write_text("kpi,period,segment,value\nrevenue,2026,,molti\n")
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    source = Source(settings=load_settings(config, env={}, secrets_path="/nonexistent"), url=demo_url)
    found = targets_for(source)
    back = pickle.loads(pickle.dumps(found))
    assert [p.key for p in back.problems] == ["cruscotto-targets.csv[1].value"]
    assert back.problems[0].localized("it") == found.problems[0].localized("it") == "deve essere un numero."
    assert back.file_problems == back.problems


def test_a_targets_table_that_cannot_be_read_is_named(tmp_path: Path, demo_url: str) -> None:
    """A budget table named in the settings but absent: said with the key to fix, the other targets
    kept (the cached set survives pickling with it)."""
    import pickle

    from service.targets import targets_for

    config = tmp_path / "cruscotto.toml"
    config.write_text(
        '[[targets]]\nkpi = "revenue"\nperiod = 2026\nvalue = 1\n\n[entities.targets]\ntable = "budget_2026"\n'
    )
    source = Source(settings=load_settings(config, env={}, secrets_path="/nonexistent"), url=demo_url)
    found = pickle.loads(pickle.dumps(targets_for(source)))
    assert [p.key for p in found.problems] == ["entities.targets.table"]
    assert "budget_2026" in found.problems[0].localized("en")
    assert [x.kpi for x in found.targets] == ["revenue"]
