"""Plotly figure builders: a tidy table in, a ``go.Figure`` out. No Streamlit here.

One template for the whole app, one fixed colour per segment on every chart (Okabe–Ito, safe for
colour-blind readers), hovers with money and dates formatted by Babel for the UI language.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from data.filters import UNASSIGNED
from render.format import fmt_money, fmt_month, fmt_percent, plotly_separators
from render.text import chart_text, t

__all__ = [
    "TEMPLATE",
    "campaign_colors",
    "load_plotly",
    "monthly_revenue_figure",
    "percent_ticks",
    "segment_colors",
    "segment_figure",
]

TEMPLATE = "cruscotto"
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
GREY = "#9AA0A6"
INK = "#1F2933"
#: Many distinct colours for things that can be many (campaigns): Okabe–Ito first, then Paul Tol's
#: "muted" scheme, both readable by colour-blind readers; 16 before a colour repeats.
MANY = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442",
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
)  # fmt: skip

pio.templates[TEMPLATE] = go.layout.Template(
    layout=go.Layout(
        font={"family": "Inter, 'Source Sans Pro', Arial, sans-serif", "size": 13, "color": INK},
        title={"font": {"size": 16}, "x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top"},
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(OKABE_ITO),
        xaxis={"showgrid": False, "linecolor": "#CBD2D9", "ticks": "outside", "tickcolor": "#CBD2D9"},
        yaxis={"gridcolor": "#EEF1F4", "zeroline": False},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        margin={"l": 10, "r": 10, "t": 90, "b": 10},
        hoverlabel={"bgcolor": "white", "font": {"size": 13}},
    )
)


def load_plotly() -> None:
    """Make and throw away a figure with every kind of trace and shape the charts draw: Plotly loads
    each kind's classes, and the table that checks every property, on first use, and the module
    that reads a column of a frame the first time one is given (0.1–0.2 s and 0.13 s of the first
    page otherwise). A server does it as it starts (``service.served.preload``)."""
    fig = go.Figure()
    fig.add_bar(x=[0], y=[0])
    fig.add_bar(x=pd.Series([0]), y=pd.Series([0.0]))  # columns of a frame: read through narwhals
    fig.add_scatter(x=[0], y=[0])
    fig.add_scattergl(x=[0], y=[0])
    fig.add_heatmap(z=[[0]])
    fig.add_trace(go.Sankey(node={"label": ["a"]}, link={"source": [0], "target": [0], "value": [1]}))
    fig.add_trace(go.Waterfall(x=["a"], y=[0]))
    fig.add_vline(x=0)
    fig.add_hline(y=0)
    fig.add_annotation(text="a", x=0, y=0)
    fig.update_layout(title="a", separators=",.")
    fig.to_plotly_json()


def segment_colors(all_segments: Sequence[str]) -> dict[str, str]:
    """A fixed colour per segment: chosen from the full list of segments (not the filtered one),
    so a segment keeps its colour whatever else is selected. Unassigned is grey."""
    named = sorted(s for s in set(all_segments) if s != UNASSIGNED)
    colors = {s: OKABE_ITO[i % len(OKABE_ITO)] for i, s in enumerate(named)}
    colors[UNASSIGNED] = GREY
    return colors


def campaign_colors(names: Iterable[str]) -> dict[str, str]:
    """One colour per campaign, the same on every marketing chart: given by the campaign's place in
    the sorted list of all the campaigns on the page."""
    return {name: MANY[i % len(MANY)] for i, name in enumerate(sorted({str(n) for n in names}))}


def percent_ticks(low: float, high: float, lang: str, count: int = 6) -> dict[str, Any]:
    """Tick values and labels for a percent axis over ``[low, high]`` (fractions), written as in the
    rest of the page: ``1.000 %`` in Italian, ``1,000%`` in English. Plotly's own ``%`` format has no
    space before the sign and no way to add one, so the labels are given with the values."""
    from render.format import fmt_percent

    low, high = min(low, high, 0.0), max(low, high, 0.0)
    span = (high - low) or 1.0
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    values = [round(first + i * step, 10) for i in range(math.ceil((high - first) / step) + 2)]
    decimals = 0 if abs(step * 100 - round(step * 100)) < 1e-9 else 1
    return {"tickmode": "array", "tickvals": values, "ticktext": [fmt_percent(v, lang, decimals) for v in values]}


def _base_layout(fig: go.Figure, lang: str, title: str) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title={"text": title}, separators=plotly_separators(lang))
    return fig


#: the owner's targets, wherever they are drawn (a dark orange, apart from the segments' colours)
TARGET_COLOR = "#B45309"


def monthly_revenue_figure(
    monthly: pd.DataFrame,
    colors: dict[str, str],
    lang: str = "it",
    currency: str = "EUR",
    forecast: pd.DataFrame | None = None,
    targets: pd.DataFrame | None = None,
) -> go.Figure:
    """Stacked monthly revenue by segment, with the total gross margin as a line; with ``targets``
    (``month``, ``target``: monthly revenue targets) a mark at each month's target; with ``forecast``
    (``kpi.forecast.forecast_table``: ``month``, ``revenue``, ``revenue_low``, ``revenue_high``) the
    chart goes on into the coming months: the expected revenue dashed, in its 80 % band (a month
    partly gone shows the whole month: what happened so far plus the forecast of the rest).

    ``monthly`` has the columns of ``data.queries.monthly_by_segment``."""
    fig = go.Figure()
    if monthly.empty:
        return _base_layout(fig, lang, t("empty.orders", lang))
    months = sorted(monthly["month"].unique())
    labels = [fmt_month(pd.Timestamp(m), lang) for m in months]
    segments = sorted(monthly["segment"].unique(), key=lambda s: (s == UNASSIGNED, s))
    for segment in segments:
        rows = monthly[monthly["segment"] == segment].set_index("month").reindex(months)
        revenue = rows["revenue"].fillna(0.0)
        fig.add_bar(
            x=months,
            y=revenue,
            name=chart_text(segment),
            marker_color=colors.get(segment, GREY),
            customdata=[[lab, fmt_money(v, lang, currency, 0)] for lab, v in zip(labels, revenue, strict=True)],
            hovertemplate=(
                f"<b>{chart_text(segment)}</b><br>%{{customdata[0]}}<br>"
                f"{t('hover.revenue', lang)}: %{{customdata[1]}}<extra></extra>"
            ),
        )
    totals = monthly.groupby("month")[["revenue", "margin"]].sum().reindex(months)
    fig.add_scatter(
        x=months,
        y=totals["margin"],
        name=t("overview.margin_line", lang),
        mode="lines+markers",
        line={"color": INK, "width": 2},
        marker={"size": 5},
        customdata=[[lab, fmt_money(v, lang, currency, 0)] for lab, v in zip(labels, totals["margin"], strict=True)],
        hovertemplate=f"%{{customdata[0]}}<br>{t('hover.margin', lang)}: %{{customdata[1]}}<extra></extra>",
    )
    if forecast is not None and len(forecast):
        ahead = [pd.Timestamp(m) for m in forecast["month"]]
        forecast = forecast[["month", "revenue", "revenue_low", "revenue_high"]].copy()
        if ahead[0] in set(pd.to_datetime(totals.index)):  # a month partly gone: the whole month's point
            so_far = float(totals.loc[totals.index[pd.to_datetime(totals.index) == ahead[0]][0], "revenue"])
            forecast.iloc[0, 1:] = forecast.iloc[0, 1:].astype(float) + so_far
        ahead_labels = [fmt_month(m, lang) for m in ahead]
        group = t("overview.forecast_line", lang)
        band_color = "rgba(31, 41, 55, 0.12)"
        for edge in ("revenue_high", "revenue_low"):
            fig.add_scatter(
                x=ahead,
                y=forecast[edge],
                mode="lines",
                line={"width": 0},
                fill="tonexty" if edge == "revenue_low" else None,
                fillcolor=band_color,
                legendgroup=group,
                showlegend=False,
                hoverinfo="skip",
            )
        fig.add_scatter(
            x=ahead,
            y=forecast["revenue"],
            name=group,
            legendgroup=group,
            mode="lines+markers",
            line={"color": INK, "width": 2, "dash": "dash"},
            marker={"size": 5, "symbol": "circle-open"},
            customdata=[
                [lab, *(fmt_money(v, lang, currency, 0) for v in values)]
                for lab, *values in zip(
                    ahead_labels, forecast["revenue"], forecast["revenue_low"], forecast["revenue_high"], strict=True
                )
            ],
            hovertemplate=(
                f"%{{customdata[0]}}<br>{t('hover.forecast', lang)}: %{{customdata[1]}}<br>"
                f"{t('hover.forecast_band', lang)}: %{{customdata[2]}} – %{{customdata[3]}}<extra></extra>"
            ),
        )
        months = months + ahead
        labels = labels + ahead_labels
    if targets is not None and len(targets):
        fig.add_scatter(
            x=list(targets["month"]),
            y=targets["target"],
            name=t("overview.target_marks", lang),
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 22, "color": TARGET_COLOR, "line": {"width": 3}},
            customdata=[
                [fmt_month(pd.Timestamp(m), lang), fmt_money(v, lang, currency, 0)]
                for m, v in zip(targets["month"], targets["target"], strict=True)
            ],
            hovertemplate=f"%{{customdata[0]}}<br>{t('hover.target', lang)}: %{{customdata[1]}}<extra></extra>",
        )
    best = totals["revenue"].idxmax()
    title = t(
        "overview.monthly_title",
        lang,
        best=fmt_month(pd.Timestamp(best), lang),
        value=fmt_money(float(totals.loc[best, "revenue"]), lang, currency, 0),
    )
    _base_layout(fig, lang, title)
    fig.update_layout(barmode="stack", hovermode="closest", legend_title_text="", legend_traceorder="normal")
    step = 1 if len(months) <= 13 else 3
    fig.update_xaxes(title_text=t("axis.month", lang), tickvals=months[::step], ticktext=labels[::step])
    fig.update_yaxes(title_text=f"{t('axis.revenue', lang)} ({currency})", tickformat=",.0f")
    return fig


def segment_figure(shares: pd.DataFrame, colors: dict[str, str], lang: str = "it", currency: str = "EUR") -> go.Figure:
    """Horizontal bars of revenue per segment, largest on top, labelled with share and margin %.

    ``shares`` has the columns of ``kpi.overview.segment_shares``."""
    fig = go.Figure()
    if shares.empty:
        return _base_layout(fig, lang, t("empty.orders", lang))
    ordered = shares.iloc[::-1]
    text = [
        f"{fmt_percent(s, lang, 0)} · {t('col.margin_pct', lang)} {fmt_percent(m, lang, 0)}"
        for s, m in zip(ordered["revenue_share"], ordered["margin_pct"], strict=True)
    ]
    fig.add_bar(
        x=ordered["revenue"],
        y=[chart_text(s) for s in ordered["segment"]],
        orientation="h",
        marker_color=[colors.get(s, GREY) for s in ordered["segment"]],
        text=text,
        textposition="auto",
        customdata=[
            [fmt_money(r, lang, currency, 0), fmt_money(m, lang, currency, 0), fmt_percent(s, lang)]
            for r, m, s in zip(ordered["revenue"], ordered["margin"], ordered["revenue_share"], strict=True)
        ],
        hovertemplate=(
            f"<b>%{{y}}</b><br>{t('hover.revenue', lang)}: %{{customdata[0]}}"
            f"<br>{t('hover.margin', lang)}: %{{customdata[1]}}"
            f"<br>{t('hover.share', lang)}: %{{customdata[2]}}<extra></extra>"
        ),
    )
    top = shares.iloc[0]
    title = t(
        "overview.segments_title",
        lang,
        segment=chart_text(top["segment"]),
        share=fmt_percent(top["revenue_share"], lang, 0),
    )
    _base_layout(fig, lang, title)
    fig.update_layout(showlegend=False, height=max(260, 70 + 48 * len(shares)))
    fig.update_xaxes(title_text=f"{t('axis.revenue', lang)} ({currency})", tickformat=",.0f")
    fig.update_yaxes(title_text="")
    return fig
