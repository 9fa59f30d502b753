"""The executive report: every format opens, with the sections, charts and words it should have."""

from __future__ import annotations

import io
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from pptx import Presentation
from pypdf import PdfReader

import cli
from data.filters import Filters
from data.source import Source
from ui.report import build_report, render, report_caption

PERIOD = Filters(start=date(2025, 11, 1), end=date(2026, 10, 31))
TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def sections(demo_source: Source) -> list:  # type: ignore[type-arg]
    return build_report(demo_source, PERIOD, "it", TODAY)


def test_sections_say_what_matters(sections: list) -> None:  # type: ignore[type-arg]
    titles = [s.title for s in sections]
    assert titles == ["Panoramica", "Valore clienti", "Marketing", "Ciclo di vita", "Opportunità"]
    marketing = sections[2].comment
    # one campaign does not pay, in the singular; it is named
    assert "e 1 non ripaga." in marketing and "Black Friday Social 2024" in marketing
    assert sections[0].cards[0][0] == "Ricavi" and sections[0].cards[0][1].startswith("€ ")


def test_pdf_pptx_html(sections: list) -> None:  # type: ignore[type-arg]
    caption = report_caption(PERIOD, "it", TODAY)
    pdf = render(sections, "pdf", "Cruscotto", caption)
    reader = PdfReader(io.BytesIO(pdf))
    with_charts = sum(1 for s in sections if s.figure is not None)
    assert len(reader.pages) == 1 + len(sections)  # the cover, then one page per section
    assert "01/11/2025" in reader.pages[0].extract_text()
    assert with_charts == len(sections)  # every dashboard page has its chart, lifecycle included
    for page, s in zip(reader.pages[1:], sections, strict=True):  # one layout: title, finding, chart, key figures
        text = "".join(unicodedata.normalize("NFKC", page.extract_text()).split())  # no ligatures, no spaces

        def found(words: str, text: str = text) -> bool:
            return "".join(words.split()) in text

        assert found(s.title) and s.cards and all(found(k) and found(v) for k, v in s.cards)
        assert "—)" not in text and "(n/d)" not in text and found("Dati chiave")
    # Chart labels stay text in the PDF: the charts are vector graphics.
    assert any("Black Friday Social 2024" in p.extract_text() for p in reader.pages[1:])
    deck = Presentation(io.BytesIO(render(sections, "pptx", "Cruscotto", caption)))
    assert [slide.shapes.title.text for slide in deck.slides] == ["Cruscotto", *[s.title for s in sections]]
    assert (
        sum(1 for slide in deck.slides for shape in slide.shapes if shape.shape_type == 13) == with_charts
    )  # pictures
    page = render(sections, "html", "Cruscotto", caption).decode()
    assert page.count("plotly.js") >= 1 and page.count('class="plotly-graph-div"') == with_charts
    assert "Opportunità" in page


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
