"""Exported charts and tables are real files: signatures, sizes, pages, captions."""

from __future__ import annotations

import codecs
import io
import itertools
import re
import xml.etree.ElementTree as ET
from datetime import date
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import plotly.graph_objects as go
import pytest
from pypdf import PdfReader

from render import export
from render.charts import monthly_revenue_figure, segment_colors
from render.charts_engagement import cev_segment_figure, value_matrix_figure
from render.charts_marketing import cac_vs_clv_figure
from render.export import column_kind, figure_bytes, file_stem, table_bytes

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


# --- Exported images are not clipped: every text lies inside the SVG's width × height ---------------

_SVG = "{http://www.w3.org/2000/svg}"


def _translate(transform: str | None) -> tuple[float, float]:
    dx = dy = 0.0
    for a, b in re.findall(r"translate\(\s*([-\d.e]+)(?:[ ,]+([-\d.e]+))?\s*\)", transform or ""):
        dx, dy = dx + float(a), dy + float(b or 0)
    return dx, dy


def _svg_texts(svg: bytes) -> tuple[float, float, list[dict[str, Any]]]:
    """Width, height and every line of text with its anchor point in image coordinates (the
    ``translate`` of its ancestors and its own ``x``/``y``) and font size."""
    root = ET.fromstring(svg)
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))
    assert root.get("viewBox") == f"0 0 {width:g} {height:g}"
    texts: list[dict[str, Any]] = []

    def walk(node: ET.Element, ox: float, oy: float) -> None:
        dx, dy = _translate(node.get("transform"))
        ox, oy = ox + dx, oy + dy
        if node.tag == _SVG + "text":
            found = re.search(r"font-size:\s*([\d.]+)px", node.get("style", ""))
            size = float(found.group(1)) if found else 12.0
            lines = ["".join(s.itertext()) for s in node.findall(_SVG + "tspan")] or ["".join(node.itertext())]
            x, y = ox + float(node.get("x") or 0), oy + float(node.get("y") or 0)
            rotated = bool(re.search(r"rotate\(\s*-?[1-9]", node.get("transform") or ""))
            for i, line in enumerate(lines):
                if line.strip():
                    texts.append(
                        {"text": line, "x": x, "y": y + i * 1.3 * size, "size": size, "rotated": rotated}
                        | {"anchor": node.get("text-anchor", "start")}
                    )
            return
        for child in node:
            walk(child, ox, oy)

    walk(root, 0.0, 0.0)
    return width, height, texts


def _clipped(svg: bytes) -> tuple[list[str], list[str]]:
    """Texts that reach outside the image (width estimated as 0.6 × font size × characters), and all texts."""
    width, height, texts = _svg_texts(svg)
    out = []
    for item in texts:
        w = 0.0 if item["rotated"] else 0.6 * item["size"] * len(item["text"])
        left = item["x"] - {"start": 0.0, "middle": w / 2, "end": w}[item["anchor"]]
        top, bottom = item["y"] - 0.8 * item["size"], item["y"] + 0.25 * item["size"]
        if left < 0 or left + w > width or top < 0 or bottom > height:
            out.append(item["text"])
    return out, [item["text"] for item in texts]


def _big_monthly() -> pd.DataFrame:
    months = pd.date_range("2025-11-01", periods=12, freq="MS")
    rows = [
        {"month": m, "segment": s, "revenue": v * (1 + 0.1 * (m.month % 3)), "margin": v * 0.3}
        for m in months
        for s, v in (("HoReCa", 600_000.0), ("Rivenditori", 550_000.0), ("Uffici", 90_000.0))
    ]
    return pd.DataFrame(rows)


def _roi() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["Newsletter primavera 2025", "Fiera HoReCa Rimini 2024", "Agenti rivenditori 2025", "Social"],
            "customers": [40, 30, 25, 60],
            "spend": [600.0, 12_600.0, 16_250.0, 9_000.0],
            "cac": [15.0, 420.0, 650.0, 150.0],
            "clv_before_cac": [20_000.0, 36_000_000.0, 30_000_000.0, 7_800.0],
            "verdict": ["pays_first", "pays_lifetime", "pays_lifetime", "does_not_pay"],
        }
    )


LONG_CAPTION = (
    "Cruscotto · Panoramica · Periodo 01/11/2025 – 31/10/2026 · Segmento: HoReCa, Rivenditori, Uffici · "
    "Regione: Nord-Ovest, Nord-Est, Centro · Canale: Agenti, Fiere, E-commerce · 23/11/2026"
)


def _matrix_points() -> pd.DataFrame:
    """Customers of the engagement page's value matrix (WebGL points), some of them below zero."""
    clv = np.array([-150.0, -80.0, 40.0, 120.0, 900.0, 12_000.0, 1_000_000.0])
    crv = np.array([0.0, 500.0, 0.0, 2_000.0, 0.0, 15_000.0, 300.0])
    return pd.DataFrame(
        {
            "name": [f"Cliente {i}" for i in range(len(clv))],
            "customer_id": range(len(clv)),
            "clv": clv,
            "crv": crv,
            "cev": clv + crv,
            "quadrant": ["misers", "advocates", "misers", "champions", "affluents", "champions", "affluents"],
            "segment": "Privati",
        }
    )


@pytest.mark.parametrize("which", ["monthly", "scatter", "matrix"])
def test_exported_svg_text_is_inside_the_image(which: str) -> None:
    if which == "monthly":
        fig = monthly_revenue_figure(_big_monthly(), segment_colors(["HoReCa", "Rivenditori", "Uffici"]), "it")
        long_tick = "1.200.000"
    elif which == "scatter":
        fig = cac_vs_clv_figure(_roi(), "it", "EUR")
        long_tick = "1.000.000"
    else:  # points drawn with WebGL: the caption under the axis all the same
        fig = value_matrix_figure(_matrix_points(), 120.0, 300.0, "it", "EUR", shown_of=7)
        long_tick = "€ 100.000"
    svg = figure_bytes(fig, "svg", LONG_CAPTION)
    clipped, texts = _clipped(svg)
    assert long_tick in texts  # the full money tick label, not its tail ("00")
    assert any("23/11/2026" in x for x in texts) and any("Segmento: HoReCa" in x for x in texts)  # the caption
    assert clipped == []
    _w, height, items = _svg_texts(svg)
    caption_y = max(i["y"] for i in items if "23/11/2026" in i["text"])
    assert caption_y == max(i["y"] for i in items)  # the caption is under everything else
    assert (_w, height) == (1200, 675) or height > 675  # a fixed size


def test_a_bar_total_stays_beside_its_bar_and_names_are_whole() -> None:
    """The engagement value per segment: each bar's total is written right of the bar's end in the
    file as on screen (not moved over the bar), and the longest segment name and legend entry are whole."""
    parts = {"clv": [6980.0, 5380.0, 1620.0, 170.0], "crv": [250.0, 380.0, 350.0, 330.0]}
    by_segment = pd.DataFrame({"segment": ["Rivenditori", "HoReCa", "Uffici", "Privati"], **parts})
    by_segment["civ"], by_segment["civ_estimated"], by_segment["ckv"] = 30.0, 80.0, 10.0
    by_segment["cev"] = by_segment[["clv", "crv", "civ", "civ_estimated", "ckv"]].sum(axis=1)
    fig = cev_segment_figure(by_segment, "it", "EUR")
    svg = figure_bytes(fig, "svg", LONG_CAPTION)
    clipped, texts = _clipped(svg)
    assert clipped == []
    assert "Rivenditori" in texts and "Influenza stimata dalla portata" in texts
    _w, _h, items = _svg_texts(svg)
    totals = sorted((i for i in items if i["text"].startswith("€")), key=lambda i: i["y"])
    assert [i["text"] for i in totals] == ["€ 7.350", "€ 5.880", "€ 2.090", "€ 620"]
    assert {i["anchor"] for i in totals} == {"start"}  # "middle right": starting at the bar's end
    ticks = {i["text"]: i["x"] for i in items if i["text"] in ("0", "2.000")}
    per_euro = (ticks["2.000"] - ticks["0"]) / 2000
    for item, total in zip(totals, sorted(by_segment["cev"], reverse=True), strict=True):
        assert item["x"] >= ticks["0"] + per_euro * total - 1  # not over its own bar


def test_a_legend_that_wraps_stays_under_the_title() -> None:
    """Many campaigns on a narrow image: the legend takes several rows, which grow upwards; the top
    margin makes room for them instead of printing them over the chart's title."""
    names = [f"Campagna con un nome lungo {i}" for i in range(8)]
    roi = pd.DataFrame(
        {
            "name": names,
            "customers": [10 + i for i in range(8)],
            "spend": [1000.0 * (i + 1) for i in range(8)],
            "cac": [100.0 * (i + 1) for i in range(8)],
            "clv_before_cac": [5000.0 * (i + 1) for i in range(8)],
            "verdict": ["pays_lifetime"] * 8,
        }
    )
    fig = cac_vs_clv_figure(roi, "it", "EUR")
    svg = figure_bytes(fig, "svg", CAPTION, width=800)
    _w, _h, items = _svg_texts(svg)
    title = next(i for i in items if i["text"] == re.sub("<[^>]+>", "", str(fig.layout.title.text)))
    legend = [i for i in items if i["text"] in names]
    assert len(legend) == len(names)
    assert len({round(i["y"]) for i in legend}) >= 3  # it does wrap
    title_bottom = title["y"] + (0.7 + 0.25) * title["size"]  # a title anchored at its top is drawn 0.7 em lower
    assert min(i["y"] - 0.8 * i["size"] for i in legend) > title_bottom
    assert _clipped(svg)[0] == []


def test_the_log_axes_of_cac_and_clv_keep_their_labels_apart() -> None:
    """One campaign (a segment chosen): less than two decades on each log axis, where Plotly would
    label every digit (300, 400, … 5.000, 6.000 ran into each other); ticks at 1, 2 and 5 only,
    every label clear of the next."""
    roi = pd.DataFrame(
        {
            "campaign_id": [1],
            "name": ["Fiera HoReCa Rimini 2024"],
            "channel": ["Fiere"],
            "customers": [105],
            "spend": [44100.0],
            "cac": [420.0],
            "clv_before_cac": [105 * 9300.0],
            "verdict": ["pays_lifetime"],
        }
    )
    svg = figure_bytes(cac_vs_clv_figure(roi, "it", "EUR"), "svg", CAPTION, width=800)
    _w, _h, items = _svg_texts(svg)
    numbers = [i for i in items if re.fullmatch(r"[\d.]+", i["text"]) and not i["rotated"]]
    rows: dict[int, list[dict[str, Any]]] = {}
    for item in numbers:
        rows.setdefault(round(item["y"]), []).append(item)
    ticks = max(rows.values(), key=len)  # the x axis: the row with the most numbers
    assert {i["text"] for i in ticks} >= {"500", "1.000", "2.000", "5.000"}
    assert not {i["text"] for i in ticks} & {"600", "700", "3.000", "4.000"}
    ticks.sort(key=lambda i: i["x"])
    for left, right in itertools.pairwise(ticks):  # centred labels, 0.6 em per digit at most
        assert right["x"] - left["x"] > 0.3 * right["size"] * (len(left["text"]) + len(right["text"]))
    assert _clipped(svg)[0] == []


def test_csv_in_italian_opens_in_italian_excel() -> None:
    table = pd.DataFrame(
        {
            "segment": ["HoReCa", "Uffici"],
            "revenue": [1200.456, 800.251],
            "margin_pct": [0.305123, 0.2],
            "orders": [3, 4],
        }
    )
    raw = table_bytes(table, "csv", "it")
    assert raw.startswith(codecs.BOM_UTF8)
    assert raw.decode("utf-8-sig").splitlines()[0] == "Segmento;Ricavi;Margine %;Ordini"
    assert "1200,46" in raw.decode("utf-8-sig")
    back = pd.read_csv(io.BytesIO(raw), sep=";", decimal=",", encoding="utf-8-sig")
    assert list(back["Ricavi"]) == [1200.46, 800.25]
    assert list(back["Margine %"]) == pytest.approx([0.3051, 0.2])
    assert list(back["Ordini"]) == [3, 4]
    english = table_bytes(table, "csv", "en").decode()
    assert english.splitlines()[0] == "Segment,Revenue,Margin %,Orders" or english.splitlines()[0].count(",") == 3


def test_xlsx_keeps_numbers_with_a_display_format() -> None:
    table = pd.DataFrame({"segment": ["HoReCa"], "revenue": [1200.456], "roi_lifetime": [1.23456], "unknown_col": [7]})
    sheet = openpyxl.load_workbook(io.BytesIO(table_bytes(table, "xlsx", "it"))).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == ["Segmento", "Ricavi", "ROI vita", "unknown_col"]
    segment, revenue, roi, other = sheet[2]
    assert revenue.value == 1200.46 and revenue.number_format.startswith("#,##0.00")
    assert "€" in revenue.number_format
    assert roi.value == pytest.approx(1.2346) and roi.number_format == "0.0%"
    assert other.value == 7 and segment.value == "HoReCa"
    assert [column_kind(c) for c in ("cac", "total_clv", "margin_pct", "conversion_rate", "orders", "value")] == [
        "money",
        "money",
        "percent",
        "percent",
        "other",
        "other",
    ]


def test_engagement_columns_have_headers_and_are_money() -> None:
    """The engagement page's data exports name every part in the reader's language, as money."""
    table = pd.DataFrame({c: [1234.5] for c in ("clv", "crv", "civ", "civ_estimated", "ckv", "cev")})
    table["engagement_share"] = 0.25
    assert [column_kind(c) for c in table.columns] == ["money"] * 6 + ["percent"]
    text = table_bytes(table, "csv", "en").decode()
    assert text.splitlines()[0] == (
        "Purchases (CLV),Referrals (CRV),Influence (CIV),Influence estimated from reach,"
        "Ideas and feedback (CKV),CEV,Share from engagement"
    )
    assert table_bytes(table, "csv", "it").decode("utf-8-sig").splitlines()[0].startswith("Acquisti (CLV);Passaparola")
