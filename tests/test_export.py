"""Exported charts and tables are real files: signatures, sizes, pages, captions."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import pytest
from pypdf import PdfReader

from ui import export
from ui.export import figure_bytes, file_stem, table_bytes

FIG = go.Figure(go.Bar(x=["HoReCa", "Uffici"], y=[1200.5, 800.25]), layout={"title": {"text": "Ricavi per segmento"}})
CAPTION = "Cruscotto · Panoramica · Segmento: HoReCa · 23/11/2026"


def test_png_svg_pdf_html() -> None:
    png = figure_bytes(FIG, "png", CAPTION)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    svg = figure_bytes(FIG, "svg", CAPTION)
    assert svg.lstrip().startswith(b"<svg") and b"Ricavi per segmento" in svg and b"Segmento: HoReCa" in svg
    pdf = figure_bytes(FIG, "pdf", CAPTION)
    assert pdf[:5] == b"%PDF-"
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    assert "HoReCa" in reader.pages[0].extract_text()  # vector text, not a bitmap
    html = figure_bytes(FIG, "html", CAPTION).decode()
    assert "<html>" in html and "plotly" in html.lower() and len(html) > 1_000_000  # plotly.js inside: offline


def test_tables() -> None:
    table = pd.DataFrame({"Segmento": ["HoReCa", "Uffici"], "Ricavi": [1200.5, 800.25]})
    assert table_bytes(table, "csv").decode().splitlines() == ["Segmento,Ricavi", "HoReCa,1200.5", "Uffici,800.25"]
    back = pd.read_excel(io.BytesIO(table_bytes(table, "xlsx")))
    pd.testing.assert_frame_equal(back, table)
    with pytest.raises(ValueError, match="Unknown table format"):
        table_bytes(table, "ods")


def test_file_names_carry_page_filters_and_date() -> None:
    assert file_stem("Panoramica-overview_monthly", "HoReCa-Uffici", date(2026, 11, 23)) == (
        "panoramica-overview_monthly-horeca-uffici-2026-11-23"
    )
    assert "/" not in file_stem("Valore clienti", "a/b", date(2026, 1, 1))


def test_without_chromium_images_say_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setattr(export.shutil, "which", lambda _name: None)
    assert not export.images_available()
    with pytest.raises(RuntimeError, match="apt-get install chromium"):
        figure_bytes(FIG, "png")
    assert b"<html>" in figure_bytes(FIG, "html")  # the other formats still work
