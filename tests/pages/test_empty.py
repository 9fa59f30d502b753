"""Pages with nothing to show say why and what to change, in the UI language: no empty chart, no
empty table, no export menu for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from render.text import t

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, demo_url: str) -> Path:
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", demo_url)
    return config


def _page(page: str, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_marketing_with_no_campaign_customers_explains_in_italian(app_env: Path) -> None:
    # Word of mouth: customers who came from no campaign.
    at = _page("pages/marketing.py", {"channel": "Passaparola"})
    infos = [i.value for i in at.info]
    assert t("empty.marketing", "it") in infos
    assert "togli il filtro" in t("empty.marketing", "it")  # what to change, not only what is missing
    assert at.get("plotly_chart") == []
    assert at.get("popover") == []  # no export menu
    assert at.dataframe == []  # no empty table


def test_marketing_with_no_campaign_customers_in_english(app_env: Path) -> None:
    at = _page("pages/marketing.py", {"channel": "Passaparola", "lang": "English"})
    assert t("empty.marketing", "en") in [i.value for i in at.info]
    assert at.get("plotly_chart") == [] and at.get("popover") == []


def test_opportunities_with_no_proposal_explain(app_env: Path) -> None:
    at = _page("pages/opportunita.py", {})
    at.number_input(key="upsell_min").set_value(10_000_000.0).run()
    assert not at.exception, [e.value for e in at.exception]
    infos = [i.value for i in at.info]
    assert t("upsell.none", "it") in infos
    assert at.dataframe == []
    charts = at.get("plotly_chart")
    assert len(charts) == 1  # the ladder funnel does not depend on the list's filters; the offers chart is gone
    assert len(at.get("popover")) == len(charts)


def test_chart_without_data_says_why_without_export(app_env: Path) -> None:
    """``ui.widgets.chart`` itself: an empty table or a figure with no trace gives the message, no chart."""
    script = """
from datetime import date
from types import SimpleNamespace

import pandas as pd
import plotly.graph_objects as go
from data.filters import Filters
from ui.widgets import chart

ctx = SimpleNamespace(lang="it", filters=Filters(), today=date(2026, 11, 23), currency="EUR")
chart(go.Figure(), pd.DataFrame({"a": [1]}), key="no_trace", ctx=ctx, page="page.marketing")
chart(go.Figure(go.Bar(x=[1], y=[1])), pd.DataFrame(), key="no_rows", ctx=ctx, page="page.marketing",
      empty="empty.marketing_spend")
chart(go.Figure(go.Bar(x=[1], y=[1])), pd.DataFrame({"a": [1]}), key="full", ctx=ctx, page="page.marketing")
"""
    at = AppTest.from_string(script, default_timeout=90).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [i.value for i in at.info] == [t("empty.chart", "it"), t("empty.marketing_spend", "it")]
    assert len(at.get("plotly_chart")) == 1
    assert len(at.get("popover")) == 1


def test_a_customer_without_a_name_keeps_the_list_warning_free(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids with no name are written as text in the customer column (pandas warned on every render;
    pyproject's filterwarnings turns a warning from the page into an error)."""
    from ui import loaders

    monkeypatch.setattr(loaders, "customer_names", lambda *args, **kwargs: {})
    at = _page("pages/opportunita.py", {})
    table = at.dataframe[0].value
    assert len(table) > 0
    assert table["Cliente"].map(type).eq(str).all()


def test_static_table_without_rows_says_why(app_env: Path) -> None:
    """``ui.widgets.static_table``: no row gives the message (why, and what to change), no empty grid."""
    script = """
import pandas as pd
from ui.widgets import static_table

static_table(pd.DataFrame({"a": []}), "it")
static_table(pd.DataFrame({"a": []}), "en", empty="empty.marketing_channels")
static_table(pd.DataFrame({"a": [1]}), "it")
"""
    at = AppTest.from_string(script, default_timeout=90).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [i.value for i in at.info] == [t("empty.table", "it"), t("empty.marketing_channels", "en")]
    assert len(at.table) == 1


@pytest.mark.parametrize("lang", ["it", "en"])
def test_marketing_without_campaigns_and_no_customer_selected_explains(app_env: Path, lang: str) -> None:
    """No campaigns table: the page shows customer value by channel instead; when the filters leave
    no customer (no reseller came from social ads) it says why and what to change, not an empty table."""
    app_env.write_text('[entities.campaigns]\ntable = "campagne_inesistenti"\n')
    query = {"segment": "Rivenditori", "channel": "Social"} | ({"lang": "English"} if lang == "en" else {})
    at = _page("pages/marketing.py", query)
    assert at.multiselect(key="segment").value == ["Rivenditori"] and at.multiselect(key="channel").value == ["Social"]
    assert any("entities.campaigns" in w.value for w in at.warning)  # what to map for the campaigns
    infos = [i.value for i in at.info]
    assert t("empty.marketing_channels", lang) in infos
    assert ("togli il filtro" if lang == "it" else "remove the") in t("empty.marketing_channels", lang)
    assert at.table == [] and at.dataframe == [] and at.get("plotly_chart") == []


def test_marketing_without_campaigns_still_lists_the_channels(app_env: Path) -> None:
    app_env.write_text('[entities.campaigns]\ntable = "campagne_inesistenti"\n')
    at = _page("pages/marketing.py", {"segment": "Rivenditori"})
    assert t("empty.marketing_channels", "it") not in [i.value for i in at.info]
    channels = at.table[0].value
    assert len(channels) > 0 and "Social" not in set(channels.iloc[:, 0])


def test_data_health_with_nothing_to_check_says_so(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No refund, no order of an unknown customer, no customer without orders: one sentence instead
    of a table of zeros; the other tables of the page are still there."""
    from ui import loaders

    nothing = {
        "refunds": 0,
        "refund_amount": 0.0,
        "orders_unknown_customer": 0,
        "revenue_unknown_customer": 0.0,
        "customers_without_orders": 0,
    }
    monkeypatch.setattr(loaders, "data_warnings", lambda *args, **kwargs: nothing)
    at = _page("pages/dati.py", {})
    assert not at.error, [e.value for e in at.error]
    assert t("health.no_warnings", "it") in [s.value for s in at.success]
    checks = t("col.check", "it")
    assert all(checks not in table.value.columns for table in at.table)
    assert "Ordini" in set(at.table[0].value.iloc[:, 0])  # the tables read are still listed


def test_data_health_lists_only_the_checks_with_rows(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui import loaders

    some = {"refunds": 3, "refund_amount": 120.0, "orders_unknown_customer": 0, "revenue_unknown_customer": 0.0}
    monkeypatch.setattr(loaders, "data_warnings", lambda *args, **kwargs: some)
    at = _page("pages/dati.py", {"lang": "English"})
    looks = next(tb.value for tb in at.table if t("col.check", "en") in tb.value.columns)
    assert list(looks.iloc[:, 0]) == [t("warn.refunds", "en")]
    assert list(looks.iloc[:, 1]) == ["3"]
    assert t("health.no_warnings", "en") not in [s.value for s in at.success]
