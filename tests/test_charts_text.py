"""What a reader sees in the figures' text: month names in the page's language, counts with the
thousands separator, labels that are not cut or laid on each other, export headers in words."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest

from render.charts_lifecycle import stage_flow_figure, stages_over_time_figure
from render.charts_value import clv_cac_figure, clv_segment_figure, customer_timeline_figure, month_ticks
from render.export import table_bytes


def _orders() -> pd.DataFrame:
    days = pd.to_datetime(["2024-05-03", "2024-09-20", "2025-01-15", "2025-07-01", "2026-03-30"])
    return pd.DataFrame({"order_date": days, "revenue": [300.0, 450.0, -50.0, 800.0, 120.0]}).assign(
        margin=lambda d: d["revenue"] * 0.4
    )


@pytest.mark.parametrize(("lang", "january"), [("it", "gen"), ("en", "Jan")])
def test_customer_timeline_months_in_the_page_language(lang: str, january: str) -> None:
    fig = customer_timeline_figure(_orders(), lang, "EUR")
    labels = list(fig.layout.xaxis.ticktext)
    assert labels and all(label.endswith(("2024", "2025", "2026")) for label in labels)
    assert any(label.startswith(january) for label in labels)
    if lang == "it":
        assert not any(label.startswith(("Jan", "Jul")) for label in labels)
    # the cumulative margin has round ticks of its own, from zero
    assert fig.layout.yaxis2.tickmode == "auto" and fig.layout.yaxis2.rangemode == "tozero"


def test_a_single_order_shows_its_date_a_narrow_bar_and_its_margin() -> None:
    """A new customer's one order: a window of months around it with a dated tick, a bar a few days
    wide (not the whole chart) and the cumulative margin as a point."""
    one = _orders().iloc[[2]].assign(revenue=300.0, margin=120.0)
    fig = customer_timeline_figure(one, "it", "EUR")
    low, high = (pd.Timestamp(v) for v in fig.layout.xaxis.range)
    assert low < pd.Timestamp("2025-01-15") < high and (high - low).days >= 90
    assert fig.layout.xaxis.ticktext and "gen 2025" in fig.layout.xaxis.ticktext
    assert fig.data[0].width == 3 * 86_400_000
    assert "markers" in fig.data[1].mode
    many = customer_timeline_figure(_orders(), "it", "EUR")
    assert many.layout.xaxis.range is None and many.data[0].width is None and many.data[1].mode == "lines"


def test_month_ticks_are_few_and_on_month_starts() -> None:
    ticks = month_ticks(pd.Timestamp("2023-11-04"), pd.Timestamp("2026-10-30"), "it")
    assert 2 <= len(ticks["tickvals"]) <= 8
    assert all(t.day == 1 for t in ticks["tickvals"])
    assert ticks["ticktext"][0].endswith("2024") or ticks["ticktext"][0].endswith("2023")
    short = month_ticks(pd.Timestamp("2026-01-10"), pd.Timestamp("2026-03-05"), "en")
    assert short["ticktext"] == ["Jan 2026", "Feb 2026", "Mar 2026"]


def test_clv_segment_axis_title_wraps_its_explanation() -> None:
    by_segment = pd.DataFrame(
        {"segment": ["HoReCa", "Privati"], "historical_clv": [2500.0, 50.0], "residual_clv": [2300.0, 400.0]}
    ).assign(total_clv=lambda d: d["historical_clv"] + d["residual_clv"])
    title = clv_segment_figure(by_segment, {}, "it", "EUR").layout.xaxis.title.text
    first, second = title.split("<br>")
    assert first.endswith("(EUR)") and "pieno" in second


def test_clv_cac_marks_are_labelled_apart_above_the_plot() -> None:
    data = pd.DataFrame({"channel": ["Email", "Social"], "clv_cac": [33.2, 0.9], "customers": [90, 240]})
    notes = clv_cac_figure(data, "it").layout.annotations
    assert len(notes) == 2
    assert {n.xanchor for n in notes} == {"left", "right"}  # break-even left of its line, 3× right of its own
    assert all(n.yanchor == "bottom" and n.y == 1 for n in notes)  # above the bars, not on the last one


def test_stage_counts_have_a_thousands_separator() -> None:
    months = pd.date_range("2025-11-30", periods=3, freq="ME")
    counts = pd.DataFrame({"active": [1200, 1500, 3000], "at_risk": [200, 250, 372]}, index=months)
    assert stages_over_time_figure(counts, "it").layout.yaxis.tickformat == ",d"


def _rgb(color: str) -> tuple[float, float, float]:
    """A "#rrggbb" or "rgba(r, g, b, a)" colour as drawn on white."""
    if color.startswith("#"):
        return tuple(int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]
    r, g, b, a = (float(v) for v in color[color.index("(") + 1 : -1].split(","))
    return tuple((c / 255) * a + (1 - a) for c in (r, g, b))  # type: ignore[return-value]


def _contrast(one: str, other: str) -> float:
    def luminance(color: str) -> float:
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in _rgb(color)]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_moves_labels_are_readable_on_every_band() -> None:
    """The Sankey's labels lie on the pale bands of the moves: dark enough on each of them (WCAG's
    4.5:1 for text), with a white halo where a band's edge or another band passes under a word."""
    moves = pd.DataFrame(
        {
            "source": ["active", "loyal", "at_risk", "lapsed", "new", "not_yet", "reactivated"],
            "target": ["at_risk", "loyal", "lapsed", "lapsed", "active", "new", "active"],
            "customers": [120, 300, 80, 900, 40, 60, 10],
        }
    )
    sankey = stage_flow_figure(moves, "it", "31/07/2026", "31/10/2026").data[0]
    ink = sankey.textfont.color
    for band in set(sankey.link.color):
        assert _contrast(ink, band) >= 4.5, band
    assert "#ffffff" in sankey.textfont.shadow


def test_the_clv_histogram_counts_have_a_thousands_separator() -> None:
    from kpi.customer_value import clv_histogram
    from render.charts_value import clv_distribution_figure

    table = pd.DataFrame({"segment": ["Privati"] * 3000 + ["HoReCa"] * 10, "total_clv": [100.0] * 3000 + [9000.0] * 10})
    fig = clv_distribution_figure(clv_histogram(table), {}, "it", "EUR")
    assert fig.layout.yaxis.tickformat == ",d"
    assert all(":,d}" in trace.hovertemplate for trace in fig.data)  # 3.000 clienti in the hover too


def test_export_headers_and_days_in_words() -> None:
    table = pd.DataFrame(
        {
            "month": pd.to_datetime(["2025-11-01", "2025-12-01"]),
            "customer_id": [6, 7],
            "historical_clv": [10.0, 20.0],
            "residual_clv": [1.0, 2.0],
        }
    )
    header = table_bytes(table, "csv", "it").decode("utf-8-sig").splitlines()[0]
    assert header == "Mese;Codice cliente;Già guadagnato;Futuro atteso"
    sheet = openpyxl.load_workbook(io.BytesIO(table_bytes(table, "xlsx", "en"))).active
    assert [c.value for c in sheet[1]] == ["Month", "Customer code", "Earned so far", "Expected future"]
    assert sheet["A2"].number_format == "yyyy-mm-dd"
