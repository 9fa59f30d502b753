"""Every page through Streamlit's AppTest: figures present, filters applied, errors readable."""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from data import queries
from data.filters import Filters
from data.settings import Settings
from data.source import Source
from render.format import fmt_money
from service import cores, shared

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, demo_url: str) -> Path:
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", demo_url)
    return config


def _run(query: dict[str, str | list[str]] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _array(value: object) -> np.ndarray:
    """A Plotly array from the figure JSON: a list, or a typed array ({"dtype", "bdata", "shape"})."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(value, dtype=float)


def _metric(at: AppTest, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r} in {[m.label for m in at.metric]}")


def _expected_revenue(source: Source, filters: Filters) -> str:
    cur = queries.period_measures(source, filters, date.today()).iloc[0]
    return fmt_money(cur["revenue"], "it", decimals=0)


def compute_last_day(source: Source) -> date:
    from service import compute

    last = compute.facts_for(source, date.today()).date_range()[1]
    assert last is not None
    return last


def test_overview_shows_cards_and_charts(app_env: Path, demo_source: Source) -> None:
    at = _run()
    assert at.title[0].value == "Panoramica"
    # eight period figures, CLV, CEV, value from engagement, CLV : CAC, marketing ROI to date and
    # lifetime, at risk, lapsed, the next 12 months' revenue
    assert len(at.metric) == 17
    labels = [m.label for m in at.metric]
    assert labels[8:11] == ["CLV medio", "CEV medio", "Valore dal coinvolgimento"]
    assert labels[-1] == "Ricavi dei prossimi 12 mesi" and _metric(at, labels[-1]).endswith("Mln")
    assert _metric(at, "Ricavi") == _expected_revenue(
        demo_source, Filters(start=date(2025, 11, 1), end=date(2026, 10, 31))
    )
    charts = _charts(at)
    assert len(charts) == 2
    monthly = charts[0]
    segments = {trace["name"] for trace in monthly["data"] if trace["type"] == "bar"}
    assert segments == {"Privati", "Uffici", "HoReCa", "Rivenditori"}
    assert len(monthly["data"][0]["x"]) == 12
    assert monthly["layout"]["separators"] == ",."
    # the chart goes on into the next 12 months: the expected revenue inside its band
    ahead = [trace for trace in monthly["data"] if trace.get("legendgroup") == monthly["data"][-1].get("name")]
    # the demo's last order is on 30 October: October's last day, then 12 whole months
    assert len(ahead) == 3 and all(len(trace["x"]) == 13 for trace in ahead)
    high, low, expected = (trace["y"] for trace in ahead)
    assert all(lo <= e <= hi for lo, e, hi in zip(low, expected, high, strict=True))
    # from the day after the last data: this demo's last order is on 30 October, so October's
    # last day comes first (its point is the whole month)
    last = compute_last_day(demo_source)
    following = last + timedelta(days=1)
    assert str(ahead[0]["x"][0]).startswith(date(following.year, following.month, 1).isoformat())
    assert any("Periodo" in c.value and "01/11/2025" in c.value for c in at.caption)
    # one PNG per chart, the export menu's (with filters and date): Plotly's camera is taken off
    for element in at.get("plotly_chart"):
        assert json.loads(element.proto.config)["modeBarButtonsToRemove"] == ["toImage"]


def test_segment_filter_changes_figures(app_env: Path, demo_source: Source) -> None:
    at = _run()
    at.multiselect(key="segment").set_value(["HoReCa"]).run()
    assert not at.exception
    expected = _expected_revenue(
        demo_source, Filters(segments=("HoReCa",), start=date(2025, 11, 1), end=date(2026, 10, 31))
    )
    assert _metric(at, "Ricavi") == expected
    bars = [t["name"] for t in _charts(at)[0]["data"] if t["type"] == "bar"]
    assert bars == ["HoReCa"]
    # The URL is written by the browser for bound widgets: tests/e2e checks it.


def test_filters_come_from_the_url(app_env: Path, demo_source: Source) -> None:
    # Options show in the URL as they read on screen, in the link's language.
    at = _run({"segment": ["Uffici", "Privati"], "region": "Centro", "period": "Last 6 months", "lang": "English"})
    assert at.title[0].value == "Overview"
    assert sorted(at.multiselect(key="segment").value) == ["Privati", "Uffici"]
    f = Filters(segments=("Privati", "Uffici"), regions=("Centro",), start=date(2026, 5, 1), end=date(2026, 10, 31))
    cur = queries.period_measures(demo_source, f, date.today()).iloc[0]
    assert _metric(at, "Revenue") == fmt_money(cur["revenue"], "en", decimals=0)
    assert len(_charts(at)[0]["data"][0]["x"]) == 6


@pytest.mark.parametrize(
    "query",
    [
        {"period": "Last 6 months", "lang": "Italiano"},  # a link made in English, opened in Italian
        {"period": "Ultimi 6 mesi", "lang": "en"},  # the language by its code (the e-mail's link)
        {"period": "6m"},  # the period by its code
    ],
)
def test_a_link_holds_across_languages(app_env: Path, query: dict[str, str]) -> None:
    """The period of a link is understood whatever language it was written in, and a language or
    a period given by its code is too: the view is the link's, not the default one."""
    at = _run(query)
    assert at.selectbox(key="period").value == "6m"
    assert len(_charts(at)[0]["data"][0]["x"]) == 6
    english = query.get("lang") == "en"
    assert at.title[0].value == ("Overview" if english else "Panoramica")
    assert at.selectbox(key="period").format_func("6m") == ("Last 6 months" if english else "Ultimi 6 mesi")


def test_custom_period(app_env: Path) -> None:
    at = _run({"period": "Personalizzato", "from": "2025-01-01", "to": "2025-03-31"})
    assert len(_charts(at)[0]["data"][0]["x"]) == 3
    assert any("01/01/2025 – 31/03/2025" in c.value for c in at.caption)


def test_filter_holds_when_switching_page(app_env: Path) -> None:
    at = _run()
    at.multiselect(key="segment").set_value(["Rivenditori"]).run()
    at.switch_page("pages/dati.py").run()
    assert not at.exception
    assert at.title[0].value == "Qualità dei dati"
    assert at.multiselect(key="segment").value == ["Rivenditori"]


def test_data_health_page(app_env: Path, demo_source: Source) -> None:
    at = _run()
    at.switch_page("pages/dati.py").run()
    assert not at.exception
    tables = [tb.value for tb in at.table]
    entities = tables[0]
    assert "Ordini" in set(entities.iloc[:, 0])
    orders = entities.set_index(entities.columns[0]).loc["Ordini"]
    health = queries.entity_health(demo_source, "orders", date.today())
    assert orders["Righe lette"] == f"{health['rows_read']:,}".replace(",", ".")
    reasons = tables[1]
    assert set(reasons.iloc[:, 1]) == {
        "Cliente mancante",
        "Importo mancante o non numerico",
        "Data nel futuro",
        "Identificativo ripetuto",
    }
    assert any("duckdb" in md.value for md in at.markdown)


def test_bad_mapping_shows_the_key_not_a_traceback(app_env: Path) -> None:
    app_env.write_text('[entities.orders]\ntable = "vendite"\n')
    at = _run()
    assert at.error, "expected an error box"
    text = at.error[0].value
    assert "entities.orders.table" in text and "vendite" in text
    at.switch_page("pages/dati.py").run()
    assert not at.exception
    assert any("entities.orders.table" in e.value for e in at.error)


def test_bad_settings_file(app_env: Path) -> None:
    app_env.write_text("[business]\ndefault_margin = 40\n")
    at = _run()
    assert "business.default_margin" in at.error[0].value


def test_unreachable_database_is_explained(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRUSCOTTO_DB_URL", "postgresql+psycopg://reader:topsecret@127.0.0.1:1/erp")
    at = _run()
    text = at.error[0].value
    assert "Il database non è raggiungibile" in text
    assert "topsecret" not in text and "***" in text
    assert all("topsecret" not in m.value for m in at.markdown)


def test_customer_value_page(app_env: Path) -> None:
    at = _run()
    at.switch_page("pages/valore.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Valore clienti"
    assert [m.label for m in at.metric][:5] == [
        "CLV medio, per cliente",
        "Già guadagnato, per cliente",
        "Margine futuro, totale",
        "Ancora acquirenti (stima)",
        "CLV : CAC",
    ]
    charts = _charts(at)
    assert len(charts) >= 6  # distribution, segments, CLV:CAC, P(alive) map, model check, customer timeline
    heatmap = next(c for c in charts if c["data"][0]["type"] == "heatmap")
    z = _array(heatmap["data"][0]["z"])
    assert z.size > 100 and z.min() >= 0 and z.max() <= 1
    assert any("il modello prevedeva" in md.value for md in at.markdown)
    top = at.dataframe[0].value
    assert len(top) == 50 and "CLV" in top.columns

    for pool in (cores._HELPER, shared.AHEAD):  # the offers, if the card did not wait for them
        pool.submit(lambda: None).result(timeout=120)
    at.run()
    ladder = next(md.value for md in at.markdown if md.value.startswith("**Scala prodotti:**"))
    assert "Passo" in ladder or "Non ancora sulla scala" in ladder


def test_the_customer_card_draws_its_offers_when_they_are_ready(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The card does not hold its page while every customer's offers are made: it says they are on
    their way and they are made in the background, once; a failure is met by the page itself."""
    from ui import loaders
    from ui.shell import _CONTEXT_KEY

    loaders.clear_all()
    at = _run()
    shared.AHEAD.submit(lambda: None).result(timeout=120)  # the reading ahead, then nothing queued
    ctx = at.session_state[_CONTEXT_KEY]
    args = (ctx.source, ctx.source_key, ctx.filters.end, ctx.stage_rules, ctx.today)
    loaders.upsell.clear()
    started = threading.Event()
    release = threading.Event()
    upsell = loaders.upsell

    def slow(*a: object) -> object:
        started.set()
        assert release.wait(timeout=120)
        return upsell(*a)

    monkeypatch.setattr(loaders, "upsell", slow)
    monkeypatch.setattr(loaders.upsell, "made", upsell.made, raising=False)
    monkeypatch.setattr(loaders, "_SOON_JOBS", {})  # none of the earlier tests' jobs
    soon = ThreadPoolExecutor(max_workers=1)  # the background's thread, none of the earlier tests' work
    monkeypatch.setattr(loaders, "beside", soon.submit)
    at.switch_page("pages/valore.py").run()
    assert not at.exception, [e.value for e in at.exception]
    ladder = [md.value for md in at.markdown if md.value.startswith("**Scala prodotti:**")]
    assert ladder == ["**Scala prodotti:** proposte in calcolo: compaiono qui tra pochi secondi"]
    assert started.wait(timeout=60)  # being made in the background
    assert not loaders.upsell_ready(*args)  # asked again: still the one job
    assert list(loaders._SOON_JOBS) == [args[1:]]
    release.set()
    soon.submit(lambda: None).result(timeout=120)
    assert loaders.upsell_ready(*args)
    at.run()
    ladder = [md.value for md in at.markdown if md.value.startswith("**Scala prodotti:**")]
    assert len(ladder) == 1 and ("Passo" in ladder[0] or "Non ancora sulla scala" in ladder[0])

    # a failure in the background: the page asks itself, and shows why
    upsell.clear()
    monkeypatch.setattr(loaders, "upsell", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    monkeypatch.setattr(loaders.upsell, "made", lambda *a: None, raising=False)
    loaders._SOON_JOBS.clear()
    assert not loaders.upsell_ready(*args)
    soon.submit(lambda: None).result(timeout=120)
    assert loaders.upsell_ready(*args) and not loaders._SOON_JOBS

    # a finished job nobody asks about again is dropped when another is asked for
    finished: Future[None] = Future()
    finished.set_result(None)
    loaders._SOON_JOBS[("another page",)] = finished
    loaders.upsell_ready(*args)
    assert ("another page",) not in loaders._SOON_JOBS


def test_customer_value_follows_the_segment_filter(app_env: Path) -> None:
    at = _run({"segment": "Privati"})
    at.switch_page("pages/valore.py").run()
    assert not at.exception
    segments = {t["name"] for t in _charts(at)[0]["data"]}
    assert segments == {"Privati"}
    assert set(at.dataframe[0].value["Segmento"]) == {"Privati"}


def test_overview_has_value_cards(app_env: Path, demo_source: Source) -> None:
    at = _run()
    labels = [m.label for m in at.metric]
    assert "CLV medio" in labels and "CLV : CAC" in labels
    assert _metric(at, "CLV medio").startswith("€ ")
    # the previous period's end is judged by the model fitted at this period's end
    from kpi.customer_value import clv_overview
    from kpi.registry import KPIS
    from render.format import fmt_value
    from service import compute

    end, before = date(2026, 10, 31), date(2025, 10, 31)
    now = compute.clv_at(demo_source, end, date.today())
    then = compute.clv_from_history(demo_source, compute.history(demo_source, end, date.today()), before, now)
    card = next(m for m in at.metric if m.label == "CLV medio")
    assert card.value == fmt_value(clv_overview(now.table)["avg_clv"], KPIS["avg_clv"].format, "it", "EUR")
    assert fmt_value(clv_overview(then.table)["avg_clv"], KPIS["avg_clv"].format, "it", "EUR") in card.help


@pytest.mark.parametrize(
    "query",
    [
        {"region": "Sud"},
        {"channel": ["Fiere", "Social"]},
        {"period": "Da inizio anno"},
        {"period": "Personalizzato", "from": "2024-06-01", "to": "2025-05-31"},
        {"segment": "Rivenditori", "region": "Isole", "lang": "English"},
    ],
)
def test_customer_value_page_with_every_filter(app_env: Path, query: dict[str, str | list[str]]) -> None:
    at = _run(query)
    at.switch_page("pages/valore.py").run()
    assert not at.exception, [e.value for e in at.exception]
    top = at.dataframe[0].value
    assert 0 < len(top) <= 50
    assert len(_charts(at)) >= 5


@pytest.fixture(scope="module")
def tiny_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from data.demo import write_frames
    from tests.fixtures import tiny_frames

    url = f"sqlite:///{tmp_path_factory.mktemp('tiny_page') / 'tiny.sqlite'}"
    write_frames(url, tiny_frames())
    return url


def test_customer_value_without_enough_history(
    app_env: Path, monkeypatch: pytest.MonkeyPatch, tiny_sqlite_url: str
) -> None:
    """Five customers, three of whom bought twice: a notice, and the historical value only."""
    monkeypatch.setenv("CRUSCOTTO_DB_URL", tiny_sqlite_url)
    at = _run({"period": "Tutto lo storico"})
    at.switch_page("pages/valore.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("solo 3 clienti hanno comprato più di una volta (ne servono almeno 50)" in w.value for w in at.warning)
    assert at.dataframe[0].value["Futuro atteso"].eq("€ 0").all()


def test_marketing_page(app_env: Path, demo_source: Source) -> None:
    at = _run()
    at.switch_page("pages/marketing.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Marketing"
    table = at.dataframe[0].value
    verdicts = dict(zip(table["Campagna"], table["Giudizio"], strict=True))
    assert verdicts["Google Ads Uffici 2024"] == "Ripaga al primo acquisto"
    assert verdicts["Fiera HoReCa Rimini 2024"] == "Ripaga nella vita del cliente"
    assert verdicts["Black Friday Social 2024"] == "Non ripaga: fermare o ripensare"
    charts = _charts(at)
    assert len(charts) == 4  # CAC vs CLV, ROI steps, payback, channels
    scatter = charts[0]
    assert scatter["layout"]["xaxis"]["type"] == "log"
    assert any("campagne ripagano al primo acquisto" in md.value for md in at.markdown)
    assert [m.label for m in at.metric][:2] == ["Spesa marketing", "Clienti acquisiti"]


def test_marketing_page_with_a_segment(app_env: Path) -> None:
    at = _run({"segment": "Privati"})
    at.switch_page("pages/marketing.py").run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("Campagna")
    assert "Fiera HoReCa Rimini 2024" not in table.index  # no Privati customer: it says nothing of them
    leads = at.dataframe[1].value.set_index("Campagna")  # the lead funnel, under the campaigns table
    assert "Fiera HoReCa Rimini 2024" not in leads.index
    assert leads.loc["Black Friday Social 2024", "Contatti"] == "n/d"  # leads belong to no segment


def test_marketing_without_campaigns_says_what_to_map(app_env: Path) -> None:
    app_env.write_text('[entities.campaigns]\ntable = "campagne_inesistenti"\n')
    at = _run()
    at.switch_page("pages/marketing.py").run()
    assert not at.exception
    assert any("entities.campaigns" in w.value for w in at.warning)
    channels = at.table[0].value
    assert "Passaparola" in set(channels.iloc[:, 0])


def test_lifecycle_page(app_env: Path) -> None:
    at = _run()
    at.switch_page("pages/ciclo-di-vita.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Ciclo di vita"
    labels = [m.label for m in at.metric]
    assert labels[:6] == ["Nuovi", "Riattivati", "Fedeli", "Attivi", "A rischio", "Persi"]
    charts = _charts(at)
    kinds = [c["data"][0]["type"] for c in charts]
    assert kinds.count("sankey") == 1 and kinds.count("heatmap") == 2
    area = charts[0]
    assert len(area["data"]) == 6 and area["data"][0]["stackgroup"] == "one"
    sankey = next(c for c in charts if c["data"][0]["type"] == "sankey")
    assert sum(_array(sankey["data"][0]["link"]["value"])) > 0
    risky = at.dataframe[0].value
    assert len(risky) > 0 and "Valore in gioco" in risky.columns
    assert "Codice cliente" in risky.columns and "customer_id" not in risky.columns  # no raw column name
    labels = [b.label for b in at.get("download_button")]
    assert {"Scarica CSV (Excel, ;)", "Scarica Excel"} <= set(labels)  # Italian CSV: ; and decimal comma
    assert len(labels) == 6 * len(charts) + 2  # PNG, SVG, PDF, HTML, CSV, Excel under every chart


def test_lifecycle_page_with_filters(app_env: Path) -> None:
    at = _run({"segment": "HoReCa", "period": "Last 6 months", "lang": "English"})
    at.switch_page("pages/ciclo-di-vita.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Lifecycle"
    assert set(at.dataframe[0].value["Segment"]) <= {"HoReCa"}
    assert len(_array(_charts(at)[0]["data"][0]["y"])) == 7  # where the period starts, six month ends


def test_upsell_page(app_env: Path) -> None:
    at = _run()
    at.switch_page("pages/opportunita.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Opportunità"
    table = at.dataframe[0].value
    assert len(table) > 0
    # one customer per row: the stage in the singular
    assert set(table["Stato"]) <= {"Nuovo", "Riattivato", "Fedele", "Attivo"}
    assert table["Perché"].str.contains("dei clienti").all()
    labels = [b.label for b in at.get("download_button")]
    assert {"Scarica CSV (Excel, ;)", "Scarica Excel"} <= set(labels)  # Italian CSV: ; and decimal comma
    assert len(_charts(at)) == 2  # ladder funnel, value by offer
    at.multiselect(key="upsell_offer").set_value(["Corso barista"]).run()
    assert set(at.dataframe[0].value["Offerta"]) == {"Corso barista"}


def test_upsell_page_without_products(app_env: Path) -> None:
    app_env.write_text('[entities.products]\ntable = "catalogo"\n')
    at = _run()
    at.switch_page("pages/opportunita.py").run()
    assert not at.exception
    assert any("entities.products" in w.value for w in at.warning)


def test_report_is_built_with_progress_and_downloads(app_env: Path) -> None:
    at = _run()
    at.segmented_control(key="report_format").set_value("html").run()
    at.button(key="report_make").click().run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [b.label for b in at.get("download_button")]
    assert "Scarica il report" in labels


def test_excel_export_equals_the_page_table(app_env: Path, demo_source: Source) -> None:
    """The data behind the segment chart, as exported to Excel, is the table the page shows."""
    import io

    from kpi.overview import segment_shares
    from render.export import table_bytes

    at = _run()
    shown = at.table[0].value.set_index("Segmento")
    f = Filters(start=date(2025, 11, 1), end=date(2026, 10, 31))
    exported = pd.read_excel(
        io.BytesIO(table_bytes(segment_shares(queries.segment_totals(demo_source, f, date.today())), "xlsx"))
    )
    assert set(exported["segment"]) == set(shown.index)
    for _, row in exported.iterrows():
        assert shown.loc[row["segment"], "Ricavi"] == fmt_money(row["revenue"], "it", decimals=0)
        assert shown.loc[row["segment"], "Clienti"] == f"{int(row['customers']):,}".replace(",", ".")


def test_password_gate(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.passwords import hash_password

    monkeypatch.setenv("CRUSCOTTO_PASSWORD_HASH", hash_password("cruscotto-2026"))
    at = _run()
    assert at.title[0].value == "Cruscotto — accesso riservato"
    assert len(at.metric) == 0  # nothing of the business before the password
    at.text_input[0].input("sbagliata")
    at.button[0].click().run()
    assert "Password errata" in at.error[0].value and len(at.metric) == 0
    at.text_input[0].input("cruscotto-2026")
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Panoramica" and len(at.metric) > 0


def test_password_helpers() -> None:
    from ui.access import check_password, hash_password, password_hash

    stored = hash_password("segreto-lungo")
    assert stored.startswith("$argon2id$") and "segreto" not in stored
    assert check_password(stored, "segreto-lungo") and not check_password(stored, "segreto")
    assert not check_password("not a hash", "x")
    assert password_hash(env={"CRUSCOTTO_PASSWORD_HASH": stored}, secrets={}) == stored
    assert password_hash(env={}, secrets={"cruscotto": {"password_hash": stored}}) == stored
    assert password_hash(env={}, secrets={}) is None


def test_engagement_page(app_env: Path, demo_source: Source) -> None:
    at = _run()
    at.switch_page("pages/coinvolgimento.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Coinvolgimento: il valore oltre gli acquisti"
    # the figures are those of the service, for the same customers and date
    from kpi.periods import resolve_period
    from service import compute

    facts = compute.facts_for(demo_source, date.today())
    first, last = facts.date_range()
    assert first is not None and last is not None
    _start, end = resolve_period("12m", first, last)  # the page's default period
    table, _detail, _found = compute.engagement_tables(
        demo_source, facts, compute.clv_at(demo_source, end, date.today(), facts=facts), end
    )
    assert _metric(at, "CEV medio, per cliente") == fmt_money(table["cev"].mean(), "it", decimals=0)
    assert _metric(at, "Clienti che hanno segnalato") == f"{int((table['referrals'] > 0).sum()):,}".replace(",", ".")
    charts = _charts(at)
    assert len(charts) == 3  # CEV by segment, the value matrix, who brought whom
    matrix = charts[1]
    names = {trace["name"].split(" (")[0] for trace in matrix["data"]}
    assert names <= {"Campioni", "Facoltosi", "Promotori", "Tiepidi"} and len(names) == 4
    quadrants = at.table[0].value
    assert list(quadrants["Gruppo"]) == ["Campioni", "Facoltosi", "Promotori", "Tiepidi"]
    assert quadrants["Cosa fare"].str.len().min() > 20  # the action in words
    labels = [b.label for b in at.get("download_button")]
    assert {"Scarica CSV (Excel, ;)", "Scarica Excel"} <= set(labels)
    at.multiselect(key="segment").set_value(["HoReCa"]).run()
    assert not at.exception
    assert list(_charts(at)[0]["data"][0]["y"]) == ["HoReCa"]


def test_engagement_page_in_english(app_env: Path) -> None:
    at = _run({"lang": "English"})
    at.switch_page("pages/coinvolgimento.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Engagement: value beyond purchases"
    assert "Average CEV, per customer" in [m.label for m in at.metric]
    assert list(at.table[0].value["Group"]) == ["Champions", "Affluents", "Advocates", "Misers"]


def test_engagement_page_without_the_tables_says_what_to_map(app_env: Path) -> None:
    app_env.write_text('[entities.referrals]\ntable = "nessuna"\n[entities.engagements]\ntable = "nessuna"\n')
    at = _run()
    at.switch_page("pages/coinvolgimento.py").run()
    assert not at.exception
    assert any("[entities.referrals]" in i.value and "[entities.engagements]" in i.value for i in at.info)
    assert not at.metric


def test_upsell_page_favours_advocates_and_lists_affluents_to_ask(app_env: Path, demo_source: Source) -> None:
    at = _run()
    at.switch_page("pages/opportunita.py").run()
    assert not at.exception, [e.value for e in at.exception]
    groups = at.get("dataframe")
    assert at.toggle(key="upsell_advocates").value is True
    listed = at.dataframe[0].value["Cliente"].tolist()
    asks = at.dataframe[1].value
    assert len(groups) == 2 and len(asks) > 0
    values = [float(v.replace("€", "").replace(".", "").replace(",", ".").strip()) for v in asks["Valore atteso"]]
    assert values == sorted(values, reverse=True)
    assert asks["Perché"].str.contains("hanno portato qualcuno").all()
    assert "Chiedi una segnalazione" in [h.value for h in at.subheader]
    # the advocates' proposals come first, then the others, each by expected value
    from kpi.periods import resolve_period
    from service import compute

    facts = compute.facts_for(demo_source, date.today())
    first, last = facts.date_range()
    assert first is not None and last is not None
    end = resolve_period("12m", first, last)[1]
    value = compute.clv_at(demo_source, end, date.today(), facts=facts)
    table = compute.engagement_tables(demo_source, facts, value, end)[0]
    advocates = set(table.loc[table["quadrant"] == "advocates", "customer_id"])
    flags = [c in advocates for c in at.dataframe[0].value["customer_id"]]
    assert any(flags) and flags == sorted(flags, reverse=True)
    at.toggle(key="upsell_advocates").set_value(False).run()
    assert not at.exception
    plain = at.dataframe[0].value
    money = [float(v.replace("€", "").replace(".", "").replace(",", ".").strip()) for v in plain["Valore atteso"]]
    assert money == sorted(money, reverse=True) and plain["Cliente"].tolist() != listed


def test_overview_shows_the_targets(app_env: Path, demo_source: Source) -> None:
    """With [[targets]] in the settings: a card per yearly target with its status in words and
    colour, the legend, the monthly targets on the chart, a warning naming a target whose segment
    is not in the data; a region filter leaves the company's targets out, and says why."""
    from streamlit.proto.Metric_pb2 import Metric

    from data.settings import Target
    from kpi.customer_value import clv_overview
    from service import compute
    from service.forecast import forecast_for
    from service.targets import target_rows

    # the figures the targets are set against: a revenue met, a margin % just missed, a CLV far off
    today, as_of = date.today(), date(2026, 10, 31)
    facts = compute.facts_for(demo_source, today)
    view = forecast_for(
        facts,
        Filters(),
        demo_source.settings.forecast,
        as_of,
        lambda d: compute.clv_at(demo_source, d, today, facts=facts),
    )
    probe = (Target("revenue", "2026", 1.0), Target("margin_pct", "2026", 1.0))
    found = target_rows(facts, Filters(), probe, as_of, view, {}).set_index("kpi")["value"]
    avg_clv = clv_overview(compute.clv_at(demo_source, as_of, today, facts=facts).table)["avg_clv"]
    app_env.write_text(
        f"""
[[targets]]
kpi = "revenue"
period = 2026
value = {round(found["revenue"] * 0.99)}
[[targets]]
kpi = "margin_pct"
period = 2026
value = {round(found["margin_pct"] * 1.02, 4)}
[[targets]]
kpi = "avg_clv"
period = 2026
value = {round(avg_clv * 2)}
[[targets]]
kpi = "revenue"
period = "2026-09"
value = 450000
[[targets]]
kpi = "revenue"
period = "2026-12"
value = 440000
[[targets]]
kpi = "orders"
period = 2026
segment = "Horeca"
value = 1
"""
    )
    at = _run()
    assert [s.value for s in at.subheader][:1] == ["Obiettivi 2026"]
    cards = {m.label: m for m in at.metric if "· 2026" in m.label}
    assert list(cards) == ["Ricavi · 2026", "Margine % · 2026", "CLV medio · 2026"]
    assert cards["Ricavi · 2026"].delta.startswith("In linea: obiettivo € ")
    assert cards["Ricavi · 2026"].proto.color == Metric.MetricColor.GREEN
    assert cards["Margine % · 2026"].delta.startswith("A rischio: obiettivo ")
    assert cards["Margine % · 2026"].proto.color == Metric.MetricColor.ORANGE
    assert cards["CLV medio · 2026"].delta.startswith("Fuori strada: obiettivo € ")
    assert cards["CLV medio · 2026"].proto.color == Metric.MetricColor.RED
    assert any("Verde: in linea" in c.value for c in at.caption)
    assert any('targets[6].segment: "Horeca"' in w.value for w in at.warning)
    marks = [trace for trace in _charts(at)[0]["data"] if trace.get("name") == "Obiettivo del mese"]
    assert len(marks) == 1 and [c[1] for c in marks[0]["customdata"]] == ["€ 450.000", "€ 440.000"]
    at.multiselect(key="region").set_value(["Centro"]).run()
    assert not [s.value for s in at.subheader if s.value.startswith("Obiettivi")]
    assert any("togli i filtri di regione e canale" in c.value for c in at.caption)


def test_overview_targets_from_the_forms_file(app_env: Path) -> None:
    """Targets in the form's file beside the settings: their cards, a warning naming a bad row, the
    form listing the file's rows (the settings' own targets are said to be set there)."""
    (app_env.parent / "cruscotto-targets.csv").write_text(
        "kpi,period,segment,value\nrevenue,2026,,1\norders,2026,,lots\n", encoding="utf-8"
    )
    app_env.write_text('[[targets]]\nkpi = "avg_clv"\nperiod = 2026\nvalue = 1\n')
    at = _run()
    cards = [m.label for m in at.metric if "· 2026" in m.label]
    assert cards == ["Ricavi · 2026", "CLV medio · 2026"]
    assert any("cruscotto-targets.csv[2].value" in w.value for w in at.warning)
    (form,) = [e for e in at.expander if e.label == "Imposta gli obiettivi"]
    assert any("1 obiettivo è impostato in cruscotto.toml" in c.value for c in form.caption)
    # the file's bad row would be lost by saving: the form asks to fix it in the file first
    assert any("1 riga del file cruscotto-targets.csv non è un obiettivo valido" in w.value for w in form.warning)
    assert not form.button
    at.run()  # a rerun reads the targets back from the cache, problems and all
    assert not at.exception, [e.value for e in at.exception]
    assert any("cruscotto-targets.csv[2].value" in w.value for w in at.warning)
    # with the row fixed, the form offers to save
    (app_env.parent / "cruscotto-targets.csv").write_text("kpi,period,segment,value\nrevenue,2026,,1\n")
    at = _run()
    (form,) = [e for e in at.expander if e.label == "Imposta gli obiettivi"]
    assert [b.label for b in form.button] == ["Salva gli obiettivi"]
    # the form is off when the settings say so
    app_env.write_text('[budget]\nfile = ""\n')
    at = _run()
    (form,) = [e for e in at.expander if e.label == "Imposta gli obiettivi"]
    assert any("Il modulo è spento" in i.value for i in form.info)
    assert not [m for m in at.metric if "· 2026" in m.label]


def test_whatif_page_from_a_shared_link(app_env: Path) -> None:
    """The scenario comes from the address: its name, the levers; the cards give the scenario's
    figures with the change against today, the waterfalls add the levers moved, the channels'
    ROI today and in the scenario; no lever moved says so."""
    at = _run()
    at.switch_page("pages/simulatore.py").run()
    assert not at.exception and at.title[0].value == "Simulatore: e se…?"
    assert any("Sposta una leva" in i.value for i in at.info)
    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in {"wi_churn": "-20", "wi_margin_pp": "1", "scenario": "Programma fedeltà"}.items():
        at.query_params[key] = value
    at.run()
    at.switch_page("pages/simulatore.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="wi_churn").value == -20 and at.text_input(key="scenario").value == "Programma fedeltà"
    assert "Programma fedeltà rispetto a oggi" in [s.value for s in at.subheader]
    cards = {m.label: m for m in at.metric}
    assert cards["Valore totale dei clienti (CLV)"].delta.startswith("+€ ")
    leaving = cards["Abbandoni attesi (12 mesi)"]
    assert leaving.delta.startswith("-")  # fewer leave: the arrow points down
    assert cards["Margine dei prossimi 12 mesi"].help.startswith("Oggi: € ")
    waterfalls = [c for c in _charts(at) if c["data"][0]["type"] == "waterfall"]
    assert len(waterfalls) == 2
    assert waterfalls[0]["data"][0]["x"] == ["Oggi", "Clienti che se ne vanno", "Margine per ordine", "Scenario"]
    assert not any("Sposta una leva" in i.value for i in at.info)


def test_overview_lists_the_alerts_and_a_click_opens_their_view(app_env: Path, demo_source: Source) -> None:
    """With a rule that surely fires for Uffici: one button per alert of the period (as many as the
    command line's), the rule's first; clicking it filters the dashboard by Uffici. A rule naming a
    segment the data lack is said, with its key; a campaign's alert opens the marketing page."""
    from data.settings import load_settings
    from kpi.periods import resolve_period
    from render.text import alert_text, md
    from service import compute
    from service.alerts import alerts_for

    app_env.write_text(
        '[[alerts]]\nkpi = "revenue"\nbelow = 1_000_000_000\nsegment = "Uffici"\nname = "Ricavi degli uffici"\n\n'
        '[[alerts]]\nkpi = "orders"\nabove = 0\nsegment = "Horeca"\n'
    )
    today = date.today()
    source = Source(settings=load_settings(app_env, env={}, secrets_path="/nonexistent"), url=demo_source.url)
    first, last = compute.facts_for(source, today).date_range()
    assert first is not None and last is not None
    start, end = resolve_period("12m", first, last)
    want = alerts_for(source, Filters(start=start, end=end), today)
    assert want[0].origin == "alerts[1]" and want[0].filters.segments == ("Uffici",)
    assert "campaign" in [a.kind for a in want]

    at = _run()
    buttons = [b for b in at.button if (b.key or "").startswith("cruscotto_alert_")]
    assert len(buttons) == len(want)
    assert [b.key for b in buttons] == [f"cruscotto_alert_{i}" for i in range(len(want))]
    assert [b.label for b in buttons] == [md(alert_text(a, "it")) for a in want]
    assert buttons[0].label.startswith("Ricavi degli uffici: € ")
    assert buttons[0].help == "Impostato da alerts[1] in cruscotto.toml."  # where to change or mute it
    assert any("alerts[2]" in w.value and "Horeca" in w.value for w in at.warning)
    assert not at.multiselect(key="segment").value
    # the rule's alert: the sidebar's filter set to its segment, on the same page
    at.button(key="cruscotto_alert_0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["segment"] == ["Uffici"]
    assert at.multiselect(key="segment").value == ["Uffici"]
    assert at.title[0].value == "Panoramica"
    # a campaign's alert opens the marketing page with the filters it was found for (the whole company)
    at = _run()
    campaign = next(i for i, a in enumerate(want) if a.kind == "campaign")
    at.button(key=f"cruscotto_alert_{campaign}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Marketing"
    assert at.session_state["segment"] == []
    # the campaign's detail opens there (the alert names one campaign)
    assert at.session_state["cruscotto_campaign"] == next(a for a in want if a.kind == "campaign").opens[1]
    assert any("Black Friday Social 2024" in h.value for h in at.subheader)


def test_an_alert_opens_its_own_page_whatever_the_list_becomes(app_env: Path, demo_source: Source) -> None:
    """Two rules for two segments, then the built-in alerts. Clicking the second rule filters by its
    segment, which takes the first rule out of the list: what stands second then (a built-in alert
    with a page of its own) must not be the page opened — the clicked alert's page is."""
    app_env.write_text(
        '[[alerts]]\nkpi = "revenue"\nbelow = 1_000_000_000\nsegment = "Uffici"\n\n'
        '[[alerts]]\nkpi = "revenue"\nbelow = 1_000_000_000\nsegment = "HoReCa"\n\n'
        "[builtin_alerts]\nexcluded_rows = 0.0001\n"  # the demo's rows left out: an alert on every view
    )
    at = _run()
    buttons = [b for b in at.button if (b.key or "").startswith("cruscotto_alert_")]
    assert buttons[0].label.startswith("Ricavi (Uffici)") and buttons[1].label.startswith("Ricavi (HoReCa)")
    assert len(buttons) >= 3  # a built-in alert follows, on another page
    at.button(key="cruscotto_alert_1").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["segment"] == ["HoReCa"]
    assert at.title[0].value == "Panoramica"  # the rule's page, not the one now second in the list
    after = [b for b in at.button if (b.key or "").startswith("cruscotto_alert_")]
    assert after[0].label.startswith("Ricavi (HoReCa)") and not after[1].label.startswith("Ricavi")
    assert "escluse" in after[1].label or "esclusa" in after[1].label  # the data's alert: another page


def test_the_next_pages_reads_are_made_while_the_overview_is_read(
    app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the overview is drawn, the server reads the order lines and the engagements in the
    background, then makes the upsell candidates and the lifecycle's stages at each month end: the
    customer value page (its customer card) then sends no statement for them, and the lifecycle
    page judges no customer again."""
    from data.filters import previous_period
    from service import compute
    from service.lifecycle import MOVES_FROM, month_ends, moves_from
    from ui import loaders
    from ui.shell import _CONTEXT_KEY

    loaders.clear_all()
    at = _run()
    for _ in range(2):  # the reading, then the making ahead (each queued behind the one before)
        shared.AHEAD.submit(lambda: None).result(timeout=120)
    ctx = at.session_state[_CONTEXT_KEY]
    facts = loaders.facts(ctx.source, ctx.source_key, ctx.today)
    assert ("holdings",) in facts._cache and ("engagement",) in facts._cache
    made = [key[0] for key in loaders.SHARED._entries if ("key", ctx.source_key) in key]
    assert shared.upsell.name in made
    ends = month_ends(ctx.filters.start, ctx.filters.end)
    assert made.count(shared.stage_tally.name) == len(ends)  # the stages over time: counted
    # customer by customer only at the dates whose customers a page lists: the period's end and the
    # dates the lifecycle page compares with (3, 6 and 12 months before; the last is the previous
    # period's end, which the overview compares with too)
    listed = {
        dict(key[1:])["as_of"]
        for key in loaders.SHARED._entries
        if key[0] == shared.stages_before.name and ("key", ctx.source_key) in key
    }
    compared = {moves_from(ctx.filters.end, months) for months in MOVES_FROM}
    assert previous_period(ctx.filters.start, ctx.filters.end)[1] in compared
    assert listed == {ctx.filters.end} | compared
    queries.STATS.reset()
    at.switch_page("pages/valore.py").run()
    assert not at.exception and at.title[0].value == "Valore clienti"
    assert queries.STATS.rows < 1000  # one customer's orders for the card; no order lines
    judged: list[date] = []
    past_stages = compute.past_stages
    monkeypatch.setattr(compute, "past_stages", lambda *a, **k: judged.append(a[2]) or past_stages(*a, **k))
    at.switch_page("pages/ciclo-di-vita.py").run()
    assert not at.exception and at.title[0].value == "Ciclo di vita"
    assert judged == []


def test_reading_ahead_never_reads_the_source_itself_and_takes_a_period_again(
    app_env: Path, demo_url: str, default_settings: Settings
) -> None:
    """Without facts kept (a problem, or forgotten since) nothing is read ahead: the next page reads.
    A period dropped for a newer one before its turn is made ahead when it is shown again."""
    from service.turns import PAGES
    from ui import loaders

    loaders.clear_all()
    source = loaders.get_source(demo_url, default_settings)
    key = loaders.source_key(demo_url, default_settings)
    today = date.today()
    queries.STATS.reset()
    first = Filters(start=date(2026, 1, 1), end=date(2026, 6, 30))
    loaders.read_ahead(source, key, today, first, default_settings.lifecycle)
    shared.AHEAD.submit(lambda: None).result(timeout=60)
    assert queries.STATS.queries == 0 and len(loaders.SHARED) == 0

    made = loaders.facts(source, key, today)
    other = Filters(start=date(2025, 7, 1), end=date(2025, 12, 31))
    with PAGES.turn():  # a page runs: what is queued waits
        loaders.read_ahead(source, key, today, first, default_settings.lifecycle)
        loaders.read_ahead(source, key, today, other, default_settings.lifecycle)
        assert made._cache[("compute_ahead", first.start, first.end, default_settings.lifecycle)].cancelled()
        loaders.read_ahead(source, key, today, first, default_settings.lifecycle)
        again = made._cache[("compute_ahead", first.start, first.end, default_settings.lifecycle)]
        assert not again.cancelled()
    again.result(timeout=120)
    assert loaders.upsell.made(source, key, first.end, default_settings.lifecycle, today) is not None
