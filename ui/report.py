"""The executive report: the headline figures, the key chart of each page and a comment in words,
as HTML, PDF (vector charts) or PowerPoint. No Streamlit: the app and ``cli.py report`` share it."""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import plotly.graph_objects as go

from data import queries
from data.filters import Filters
from data.source import Source
from kpi.customer_value import clv_overview, segment_clv, select_customers
from kpi.lifecycle import stage_counts
from kpi.overview import OVERVIEW_KPIS, overview_kpis
from kpi.registry import KPIS
from kpi.roi import marketing_summary
from ui.charts import monthly_revenue_figure, segment_colors
from ui.charts_marketing import cac_vs_clv_figure
from ui.charts_upsell import offer_value_figure
from ui.charts_value import clv_segment_figure
from ui.compute import clv_at, roi_table, stages_at, upsell_tables
from ui.export import figure_bytes
from ui.format import fmt_change, fmt_count, fmt_date, fmt_money, fmt_percent, fmt_value
from ui.i18n import join_phrases, t, tn, verdicts_sentence

__all__ = ["Section", "build_report", "render", "report_caption"]

Progress = Callable[[float, str], None]


@dataclass
class Section:
    title: str
    comment: str
    figure: go.Figure | None = None
    cards: list[tuple[str, str]] = field(default_factory=list)


def build_report(
    source: Source, filters: Filters, lang: str, today: date, progress: Progress | None = None
) -> list[Section]:
    """The sections of the report for ``filters`` (which must carry a period)."""
    report = progress or (lambda _f, _m: None)
    assert filters.start is not None and filters.end is not None
    cur = source.settings.business.currency
    f, as_of = filters, filters.end
    sections: list[Section] = []

    report(0.1, t("page.overview", lang))
    table = overview_kpis(queries.period_measures(source, f, today)).set_index("kpi")
    cards = []
    for name in OVERVIEW_KPIS:
        spec, row = KPIS[name], table.loc[name]
        cards.append(
            (
                spec.label(lang),
                f"{fmt_value(row['value'], spec.format, lang, cur)} "
                f"({fmt_change(row['change'], row['change_kind'], lang)})",
            )
        )
    monthly = queries.monthly_by_segment(source, f, today)
    colors = segment_colors(list(monthly["segment"].unique()))
    revenue = table.loc["revenue"]
    sections.append(
        Section(
            t("page.overview", lang),
            t(
                "report.overview_comment",
                lang,
                revenue=fmt_money(revenue["value"], lang, cur, 0),
                change=fmt_change(revenue["change"], "relative", lang),
            ),
            monthly_revenue_figure(monthly, colors, lang, cur),
            cards,
        )
    )

    report(0.3, t("page.value", lang))
    clv = clv_at(source, as_of, today)
    chosen = select_customers(clv.table, f.segments, f.regions, f.channels)
    head = clv_overview(chosen)
    sections.append(
        Section(
            t("page.value", lang),
            t(
                "report.value_comment",
                lang,
                clv=fmt_money(head["avg_clv"], lang, cur, 0),
                future=fmt_money(head["future_margin"], lang, cur, 0),
                ratio=fmt_value(head["clv_cac"], "ratio", lang),
            ),
            clv_segment_figure(segment_clv(chosen), colors, lang, cur),
        )
    )

    if source.available("campaigns"):
        report(0.5, t("page.marketing", lang))
        roi = roi_table(source, f, as_of, today, clv)
        total = marketing_summary(roi)
        stop = list(roi.loc[roi["verdict"] == "does_not_pay", "name"])
        comment = verdicts_sentence(
            int(total["pays_first"]), int(total["pays_lifetime"]), int(total["does_not_pay"]), lang
        )
        if stop:
            comment += " " + t("report.marketing_stop", lang, names=join_phrases(stop, lang))
        comment += " " + t(
            "report.marketing_roi",
            lang,
            to_date=fmt_percent(total["roi_to_date"], lang, 0),
            lifetime=fmt_percent(total["roi_lifetime"], lang, 0),
        )
        sections.append(
            Section(
                t("page.marketing", lang),
                comment,
                cac_vs_clv_figure(roi, lang, cur),
            )
        )

    report(0.7, t("page.lifecycle", lang))
    stages = select_customers(stages_at(source, as_of, today, clv), f.segments, f.regions, f.channels)
    counts = stage_counts(stages)
    sections.append(
        Section(
            t("page.lifecycle", lang),
            join_phrases(
                [
                    tn("report.lifecycle_active", n, lang, n=fmt_count(n, lang))
                    for n in [int(counts["active"] + counts["loyal"])]
                ]
                + [tn("report.lifecycle_risk", int(counts["at_risk"]), lang, n=fmt_count(counts["at_risk"], lang))]
                + [tn("report.lifecycle_lapsed", int(counts["lapsed"]), lang, n=fmt_count(counts["lapsed"], lang))],
                lang,
            )
            + ".",
            None,
            [(t(f"stage.{s}", lang), fmt_count(int(n), lang)) for s, n in counts.items()],
        )
    )

    if source.available("order_lines") and source.available("products"):
        report(0.85, t("page.upsell", lang))
        candidates, _funnel = upsell_tables(source, as_of, today, stages_at(source, as_of, today, clv))
        candidates = select_customers(candidates, f.segments, f.regions, f.channels)
        sections.append(
            Section(
                t("page.upsell", lang),
                tn(
                    "report.upsell_comment",
                    len(candidates),
                    lang,
                    n=fmt_count(len(candidates), lang),
                    value=fmt_money(float(candidates["expected_value"].sum()), lang, cur, 0),
                ),
                offer_value_figure(candidates, lang, cur),
            )
        )
    report(1.0, "")
    return sections


def render(sections: list[Section], fmt: str, title: str, caption: str) -> bytes:
    """The report as ``html``, ``pdf`` or ``pptx``."""
    if fmt == "html":
        return _html(sections, title, caption)
    if fmt == "pdf":
        return _pdf(sections, title, caption)
    if fmt == "pptx":
        return _pptx(sections, title, caption)
    raise ValueError(f"Unknown report format {fmt!r}: use pdf, pptx or html.")


def _html(sections: list[Section], title: str, caption: str) -> bytes:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:Arial,sans-serif;max-width:1100px;margin:2em auto;color:#1F2933}"
        "table{border-collapse:collapse}td{padding:4px 12px;border-bottom:1px solid #eee}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(caption)}</p>",
    ]
    first = True
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2><p>{html.escape(s.comment)}</p>")
        if s.cards:
            rows = "".join(f"<tr><td>{html.escape(k)}</td><td><b>{html.escape(v)}</b></td></tr>" for k, v in s.cards)
            parts.append(f"<table>{rows}</table>")
        if s.figure is not None:
            parts.append(s.figure.to_html(include_plotlyjs=first, full_html=False))
            first = False
    parts.append("</body></html>")
    return "".join(parts).encode()


def _text_page(title: str, lines: list[str], width: int = 1200, height: int = 800) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        width=width,
        height=height,
        paper_bgcolor="white",
        plot_bgcolor="white",
        xaxis={"visible": False},
        yaxis={"visible": False},
        margin={"l": 40, "r": 40, "t": 40, "b": 40},
    )
    fig.add_annotation(
        text=f"<b>{html.escape(title)}</b>",
        x=0,
        y=1,
        xref="paper",
        yref="paper",
        xanchor="left",
        yanchor="top",
        showarrow=False,
        font={"size": 26},
    )
    for i, line in enumerate(lines):
        fig.add_annotation(
            text=html.escape(line),
            x=0,
            y=0.9 - i * 0.055,
            xref="paper",
            yref="paper",
            xanchor="left",
            yanchor="top",
            showarrow=False,
            font={"size": 16},
        )
    return fig


def _pdf(sections: list[Section], title: str, caption: str) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    pages = [_text_page(title, [caption])]
    for s in sections:
        pages.append(_text_page(s.title, [*_wrap(s.comment), "", *[f"{k}: {v}" for k, v in s.cards]]))
        if s.figure is not None:
            pages.append(s.figure)
    for fig in pages:
        writer.append(io.BytesIO(figure_bytes(fig, "pdf", width=1200, height=800)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _wrap(text: str, width: int = 110) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def _pptx(sections: list[Section], title: str, caption: str) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches, Pt

    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    cover = deck.slides.add_slide(deck.slide_layouts[0])
    cover.shapes.title.text = title
    cover.placeholders[1].text = caption
    for s in sections:
        slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only: the title stays editable
        slide.shapes.title.text = s.title
        box = slide.shapes.add_textbox(Inches(0.5), Inches(1.3), Inches(12.3), Inches(1.0)).text_frame
        box.word_wrap = True
        box.text = s.comment
        box.paragraphs[0].font.size = Pt(16)
        if s.figure is not None:
            image = figure_bytes(s.figure, "png", width=1200, height=560)
            slide.shapes.add_picture(io.BytesIO(image), Inches(0.6), Inches(2.3), width=Inches(12.0))
        elif s.cards:
            rows = slide.shapes.add_table(
                len(s.cards), 2, Inches(0.6), Inches(2.4), Inches(8), Inches(0.4 * len(s.cards))
            )
            for i, (k, v) in enumerate(s.cards):
                rows.table.cell(i, 0).text, rows.table.cell(i, 1).text = k, v
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def report_caption(filters: Filters, lang: str, today: date) -> str:
    """Period, filters and date, for the report's cover."""
    parts = [f"{t('active.period', lang)} {fmt_date(filters.start, lang)} – {fmt_date(filters.end, lang)}"]
    for dim, chosen in (("segment", filters.segments), ("region", filters.regions), ("channel", filters.channels)):
        parts.append(f"{t(f'filter.{dim}', lang)}: {', '.join(chosen) if chosen else t('filter.all', lang)}")
    return " · ".join(parts) + f" · {fmt_date(today, lang)}"
