"""The executive report: every format opens, with the sections, charts and words it should have."""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pypdf import PdfReader

import cli
from data.filters import Filters
from data.source import Source
from render.export import figure_bytes
from render.text import alert_text, t
from service.alerts import alerts_for
from service.report import (
    PAGE_HEIGHT,
    PAGE_WIDTH,
    Section,
    _excluded_sentence,
    _page,
    _wrap,
    build_report,
    render,
    report_caption,
)
from tests.test_export import _svg_texts

PERIOD = Filters(start=date(2025, 11, 1), end=date(2026, 10, 31))
TODAY = date(2026, 11, 23)
TINY_TODAY = date(2025, 1, 15)


@pytest.fixture(scope="module")
def sections(demo_source: Source) -> list[Section]:
    return build_report(demo_source, PERIOD, "it", TODAY)


def _titled(sections: list[Section], title: str) -> Section:
    return next(s for s in sections if s.title == title)


def test_sections_say_what_matters(sections: list[Section], demo_source: Source) -> None:
    titles = [s.title for s in sections]
    assert titles == [
        "Avvisi",
        "Panoramica",
        "Valore clienti",
        "Marketing",
        "Ciclo di vita",
        "Coinvolgimento",
        "Opportunità",
        "Qualità dei dati",
    ]
    marketing = _titled(sections, "Marketing").comment
    # one campaign does not pay, in the singular; it is named
    assert "e 1 non ripaga." in marketing and "Black Friday Social 2024" in marketing
    overview = _titled(sections, "Panoramica")
    assert overview.cards[0][0] == "Ricavi" and overview.cards[0][1].startswith("€ ")
    # the period reaches the last data: the coming year's revenue, its band and its backtest
    assert "Ricavi dei prossimi 12 mesi: € " in overview.comment and "8 casi su 10 tra € " in overview.comment
    assert re.search(r"Fatta 12 mesi fa, la stessa previsione ha sbagliato (del |dell')\d", overview.comment)
    assert overview.cards[-1][0] == "Ricavi dei prossimi 12 mesi" and overview.cards[-1][1].endswith("Mln")
    assert overview.figure is not None
    assert [tr.name for tr in overview.figure.data][-1] == "Ricavi previsti"
    # first, the period's alerts, as the overview and the command line list them, one per row
    alerts = sections[0]
    assert alerts.listing and alerts.figure is None and alerts.cards_title == ""
    want = alerts_for(demo_source, PERIOD, TODAY)
    assert len(want) >= 2  # the demo's: the value at risk rising, the Black Friday campaign
    assert alerts.comment == f"{len(want)} avvisi del periodo: ciò che merita un'occhiata per primo."
    assert alerts.cards == [(t(f"alerts.kind.{a.kind}", "it"), alert_text(a, "it")) for a in want]
    assert any(k == "Campagne" and "Black Friday Social 2024" in v for k, v in alerts.cards)


def test_pdf_pptx_html(sections: list[Section]) -> None:
    caption = report_caption(PERIOD, "it", TODAY)
    pdf = render(sections, "pdf", "Cruscotto", caption)
    reader = PdfReader(io.BytesIO(pdf))
    with_charts = sum(1 for s in sections if s.figure is not None)
    assert len(reader.pages) == 1 + len(sections)  # the cover, then one page per section
    assert "01/11/2025" in reader.pages[0].extract_text()
    # every dashboard page has its chart, lifecycle included; the alerts' page is their list
    assert with_charts == len(sections) - 1 and [s.listing for s in sections] == [True] + [False] * with_charts
    for page, s in zip(reader.pages[1:], sections, strict=True):  # one layout: title, finding, chart, key figures
        text = "".join(unicodedata.normalize("NFKC", page.extract_text()).split())  # no ligatures, no spaces

        def found(words: str, text: str = text) -> bool:
            return "".join(words.split()) in text

        assert found(s.title) and s.cards and all(found(k) and found(v) for k, v in s.cards)
        assert "—)" not in text and "(n/d)" not in text and found("Dati chiave") != s.listing
    # Chart labels stay text in the PDF: the charts are vector graphics.
    assert any("Black Friday Social 2024" in p.extract_text() for p in reader.pages[1:])
    deck = Presentation(io.BytesIO(render(sections, "pptx", "Cruscotto", caption)))
    assert [slide.shapes.title.text for slide in deck.slides] == ["Cruscotto", *[s.title for s in sections]]
    assert (
        sum(1 for slide in deck.slides for shape in slide.shapes if shape.shape_type == 13) == with_charts
    )  # pictures
    _slides_have_the_page_layout(deck, sections)
    page = render(sections, "html", "Cruscotto", caption).decode()
    assert page.count("plotly.js") >= 1 and page.count('class="plotly-graph-div"') == with_charts
    assert "Opportunità" in page


def test_a_legend_on_two_rows_leaves_the_chart_title_readable(sections: list[Section]) -> None:
    """The marketing page's legend (six campaigns and the break-even line) takes two rows above the
    chart: the page keeps room for both instead of printing the second over the chart's title."""
    section = _titled(sections, "Marketing")
    assert section.figure is not None
    page = _page(section, section.title, _wrap(section.comment, 125), "·", section.cards)
    _w, _h, items = _svg_texts(figure_bytes(page, "svg", width=PAGE_WIDTH, height=PAGE_HEIGHT))
    names = {str(trace.name) for trace in section.figure.data}
    legend = [i for i in items if i["text"] in names]
    chart_title = next(i for i in items if i["text"] == section.figure.layout.title.text)
    assert len({round(i["y"]) for i in legend}) == 2  # two rows
    assert min(i["y"] - 0.8 * i["size"] for i in legend) > chart_title["y"] + 0.3 * chart_title["size"]


def _slides_have_the_page_layout(deck: Any, sections: list[Section]) -> None:
    """Each slide as each PDF page: the title, the finding under it, the chart on the left and the
    table of key figures on the right, side by side inside the slide; the cover lists the findings."""
    cover, *slides = list(deck.slides)
    summary = [shape.table for shape in cover.shapes if shape.has_table]
    assert len(summary) == 1 and [row.cells[0].text for row in summary[0].rows] == [s.title for s in sections]
    assert len(slides) == len(sections)
    width, height = deck.slide_width, deck.slide_height
    for slide, section in zip(slides, sections, strict=True):
        pictures = [shape for shape in slide.shapes if shape.shape_type == MSO_SHAPE_TYPE.PICTURE]
        tables = [shape for shape in slide.shapes if shape.has_table]
        if section.listing:  # the alerts: their list across the slide, no chart
            assert not pictures and len(tables) == 1
            rows = [[cell.text for cell in row.cells] for row in tables[0].table.rows]
            assert rows == [list(card) for card in section.cards]  # no heading row, as on the cover
            assert tables[0].left + tables[0].width <= width and tables[0].width > width * 0.8
            continue
        assert len(pictures) == 1 and len(tables) == 1, section.title  # the chart AND the key figures
        picture, table = pictures[0], tables[0]
        rows = [[cell.text for cell in row.cells] for row in table.table.rows]
        assert rows[0][0] == section.cards_title == "Dati chiave"
        assert rows[1:] == [list(card) for card in section.cards], section.title
        texts = [shape.text_frame.text for shape in slide.shapes if shape.has_text_frame]
        assert section.comment in texts
        finding = next(
            shape for shape in slide.shapes if shape.has_text_frame and shape.text_frame.text == section.comment
        )
        assert slide.shapes.title.top < finding.top < picture.top
        assert picture.left + picture.width <= table.left  # side by side, not over each other
        assert abs(picture.top - table.top) < 10_000  # the same top line (EMU: 10,000 ≈ 0.01 in)
        for shape in (picture, table, finding):
            assert shape.left >= 0 and shape.top >= 0
            assert shape.left + shape.width <= width and shape.top + shape.height <= height, section.title


@pytest.mark.parametrize("lang", ["it", "en"])
def test_the_data_health_page_counts_what_the_data_page_counts(tiny_source: Source, lang: str) -> None:
    """The tiny messy company, by hand: orders 18 rows read, 7 left out (one per reason); customers 7
    read, 2 left out (a repeated and a missing id); campaigns 3 and leads 6, all used; one refund of
    50; one order (90) of customer 99, who is not in the customers table; five tables not mapped."""
    sections = build_report(tiny_source, Filters(start=date(2024, 1, 1), end=date(2024, 12, 31)), lang, TINY_TODAY)
    health = sections[-1]
    cards = dict(health.cards)
    if lang == "it":
        assert health.title == "Qualità dei dati"
        assert health.comment.startswith("9 righe su 34 escluse dai calcoli (26,5 %), 7 nella tabella Ordini.")
        assert "1 reso o nota di credito per € 50" in health.comment
        assert "1 ordine di un cliente assente dall'anagrafica (€ 90)" in health.comment
        assert (
            "Tabelle non collegate: Righe d'ordine, Prodotti, Ticket di assistenza, Segnalazioni (passaparola), "
            "Coinvolgimento (recensioni, condivisioni, idee) e Obiettivi (budget)." in health.comment
        )
        assert cards["Righe lette"] == "34" and cards["Righe usate"] == "25" and cards["Righe escluse"] == "9 (26,5 %)"
        assert cards["Resi e note di credito"] == "1 (€ 50)" and cards["Ordini di clienti sconosciuti"] == "1 (€ 90)"
        assert cards["Tabelle non collegate"] == "6"
        # nine "table: reason" pairs: five shown, the other four in one row
        assert cards["Ordini: identificativo mancante"] == "1" and cards["Altre tabelle e motivi"] == "4"
        assert "Clienti senza ordini" not in cards  # every customer bought: nothing to say
    else:
        assert health.title == "Data health"
        assert health.comment.startswith("9 rows of 34 left out of the figures (26.5%), 7 of them in the Orders table.")
        assert "1 refund or credit note for €50" in health.comment
        assert cards["Rows read"] == "34" and cards["Rows excluded"] == "9 (26.5%)"
    assert len(health.cards) == 3 + 6 + 3  # rows; reasons (5 + the rest); refunds, unknown customers, missing
    # The chart: rows left out per table, stacked by reason, labelled "left out of read".
    assert health.figure is not None
    bars = [trace for trace in health.figure.data if trace.showlegend is not False]
    per_table: dict[str, int] = {}
    for trace in bars:
        for table, n in zip(trace.y, trace.x, strict=True):
            per_table[table] = per_table.get(table, 0) + n
    orders, customers = ("Ordini", "Clienti") if lang == "it" else ("Orders", "Customers")
    assert per_table[orders] == 7 and per_table[customers] == 2 and sum(per_table.values()) == 9
    assert len(bars) == 7  # one trace per reason, each reason once
    labels = dict(zip(health.figure.data[-1].y, health.figure.data[-1].text, strict=True))
    assert labels[orders] == ("7 su 18" if lang == "it" else "7 of 18")
    assert set(labels) == {t(f"entity.{e}", lang) for e in ("orders", "customers", "campaigns", "leads")}


def test_a_table_is_named_only_when_it_has_the_most_rows_left_out() -> None:
    tie = pd.DataFrame({"entity": ["orders", "customers"], "reason": ["bad_date", "missing_id"], "rows": [2, 2]})
    assert _excluded_sentence(tie, 100, "it") == "4 righe su 100 escluse dai calcoli (4,0 %)."
    one = pd.DataFrame({"entity": ["orders", "orders"], "reason": ["bad_date", "missing_id"], "rows": [1, 2]})
    assert (
        _excluded_sentence(one, 100, "en") == "3 rows of 100 left out of the figures (3.0%), all in the Orders table."
    )
    single = pd.DataFrame({"entity": ["orders"], "reason": ["bad_date"], "rows": [1]})
    assert (
        _excluded_sentence(single, 40_000, "it")
        == "1 riga su 40.000 esclusa dai calcoli (< 0,1 %), nella tabella Ordini."
    )


def test_cli_report(
    monkeypatch: pytest.MonkeyPatch, demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_DB_URL", demo_url)
    out = tmp_path / "report.pdf"
    assert (
        cli.main(["report", "--config", str(config), "--format", "pdf", "--out", str(out), "--segment", "HoReCa"]) == 0
    )
    assert out.read_bytes()[:5] == b"%PDF-"
    assert "Segmento: HoReCa" in PdfReader(out).pages[0].extract_text()
    assert cli.main(["report", "--config", str(config), "--format", "pptx", "--out", str(tmp_path / "r.pdf")]) == 2
    assert "--out:" in capsys.readouterr().err

    # without --out: the app's file name, dated (the html report: no browser needed), where it runs
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report", "--config", str(config), "--format", "html", "--lang", "en"]) == 0
    written = f"cruscotto-report-{date.today().isoformat()}.html"
    assert (tmp_path / written).read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert f"report written to {written}" in capsys.readouterr().out
