"""Figures of the customer-value page: tidy tables in, ``go.Figure`` out (no Streamlit)."""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kpi.clv import BGNBD
from kpi.customer_value import CLVHistogram
from render.charts import GREY, INK, TEMPLATE, percent_ticks
from render.format import fmt_count, fmt_date, fmt_money, fmt_month, fmt_percent, plotly_separators
from render.text import chart_text, t, tn

__all__ = [
    "clv_cac_figure",
    "clv_distribution_figure",
    "clv_segment_figure",
    "customer_timeline_figure",
    "holdout_figure",
    "month_ticks",
    "p_alive_map_figure",
]

RED, AMBER, GREEN = "#D55E00", "#E69F00", "#009E73"


def _layout(fig: go.Figure, lang: str, title: str) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title={"text": title}, separators=plotly_separators(lang))
    return fig


def clv_distribution_figure(
    histogram: CLVHistogram | None, colors: dict[str, str], lang: str, currency: str
) -> go.Figure:
    """Histogram of total CLV per customer (``kpi.customer_value.clv_histogram``), stacked by
    segment; the top 5 % is folded into the last bar. None: no customer."""
    fig = go.Figure()
    if histogram is None:
        return _layout(fig, lang, t("empty.customers", lang))
    edges = histogram.edges
    centres = (edges[:-1] + edges[1:]) / 2
    ranges = [f"{fmt_money(a, lang, currency, 0)} – {fmt_money(b, lang, currency, 0)}" for a, b in pairwise(edges)]
    for segment, counts in zip(histogram.segments, histogram.counts, strict=True):
        fig.add_bar(
            x=centres,
            y=counts,
            width=float(edges[1] - edges[0]),
            name=chart_text(segment),
            marker_color=colors.get(segment, GREY),
            customdata=ranges,
            hovertemplate=(
                f"<b>{chart_text(segment)}</b><br>CLV %{{customdata}}<br>"
                f"{t('col.customers', lang)}: %{{y:,d}}<extra></extra>"
            ),
        )
    median = histogram.median
    fig.add_vline(x=median, line={"color": INK, "dash": "dot"})
    _layout(fig, lang, t("value.dist_title", lang, median=fmt_money(median, lang, currency, 0)))
    fig.update_layout(barmode="stack", bargap=0, legend_title_text="")
    fig.update_xaxes(title_text=f"{t('value.total_clv', lang)} ({currency})", tickformat=",.0f")
    fig.update_yaxes(title_text=t("col.customers", lang), tickformat=",d")  # 3.000 / 3,000, not 3000
    return fig


def clv_segment_figure(by_segment: pd.DataFrame, colors: dict[str, str], lang: str, currency: str) -> go.Figure:
    """Mean CLV per customer by segment: margin earned so far (net of costs) and expected future margin."""
    fig = go.Figure()
    if by_segment.empty:
        return _layout(fig, lang, t("empty.customers", lang))
    ordered = by_segment.sort_values("total_clv")
    hist = [fmt_money(v, lang, currency, 0) for v in ordered["historical_clv"]]
    resid = [fmt_money(v, lang, currency, 0) for v in ordered["residual_clv"]]
    fig.add_bar(
        y=[chart_text(v) for v in ordered["segment"]],
        x=ordered["historical_clv"],
        orientation="h",
        name=t("value.historical", lang),
        marker_color=[colors.get(s, GREY) for s in ordered["segment"]],
        customdata=hist,
        hovertemplate=f"<b>%{{y}}</b><br>{t('value.historical', lang)}: %{{customdata}}<extra></extra>",
    )
    fig.add_bar(
        y=[chart_text(v) for v in ordered["segment"]],
        x=ordered["residual_clv"],
        orientation="h",
        name=t("value.residual", lang),
        marker={"color": [colors.get(s, GREY) for s in ordered["segment"]], "opacity": 0.45},
        customdata=resid,
        text=[fmt_money(v, lang, currency, 0) for v in ordered["total_clv"]],
        textposition="outside",
        hovertemplate=f"<b>%{{y}}</b><br>{t('value.residual', lang)}: %{{customdata}}<extra></extra>",
    )
    top = ordered.iloc[-1]
    key = "value.segment_title" if len(ordered) > 1 else "value.segment_title_one"
    title = t(
        key, lang, segment=chart_text(top["segment"]), value=fmt_money(float(top["total_clv"]), lang, currency, 0)
    )
    _layout(fig, lang, title)
    fig.update_layout(barmode="relative", height=max(280, 90 + 50 * len(ordered)), showlegend=False)
    fig.update_traces(cliponaxis=False)
    # The axis title explains the two shades; in half a page it is wider than the plot and was cut
    # at the right: the explanation after the colon goes on a second line.
    name, colon, legend = t("value.mean_clv", lang).partition(": ")
    fig.update_xaxes(
        title_text=f"{name} ({currency})<br>{legend}" if colon else f"{name} ({currency})",
        tickformat=",.0f",
        range=[min(0.0, float(ordered["historical_clv"].min())), float(ordered["total_clv"].max()) * 1.2],
    )
    return fig


def clv_cac_figure(by_group: pd.DataFrame, lang: str) -> go.Figure:
    """CLV : CAC per acquisition channel or segment (the table's first column), with the
    break-even (1) and the healthy mark (3)."""
    fig = go.Figure()
    label = by_group.columns[0]
    data = by_group.dropna(subset=["clv_cac"]).sort_values("clv_cac").rename(columns={label: "group"})
    if data.empty:
        return _layout(fig, lang, t("value.no_cac", lang))
    colors = [RED if v < 1 else AMBER if v < 3 else GREEN for v in data["clv_cac"]]
    fig.add_bar(
        y=[chart_text(g) for g in data["group"]],
        x=data["clv_cac"],
        orientation="h",
        marker_color=colors,
        text=[f"{v:.1f}".replace(".", ",") if lang == "it" else f"{v:.1f}" for v in data["clv_cac"]],
        textposition="outside",
        customdata=[fmt_count(n, lang) for n in data["customers"]],
        hovertemplate=(
            f"<b>%{{y}}</b><br>CLV : CAC %{{x:.2f}}<br>{t('col.customers', lang)}: %{{customdata}}<extra></extra>"
        ),
    )
    # Both marks labelled just above the plot, break-even to the left of its line and 3× to the right
    # of its own: at the bottom they fell on each other (2 units apart) and on the last bar's value.
    fig.add_vline(
        x=1,
        line={"color": RED, "dash": "dash"},
        annotation_text=t("value.break_even", lang),
        annotation_position="top left",
        annotation_yanchor="bottom",
    )
    fig.add_vline(
        x=3,
        line={"color": GREEN, "dash": "dot"},
        annotation_text="3×",
        annotation_position="top right",
        annotation_yanchor="bottom",
    )
    worst = data.iloc[0]
    key = "value.cac_title_bad" if worst["clv_cac"] < 3 else "value.cac_title_good"
    ratio = f"{worst['clv_cac']:.1f}".replace(".", ",") if lang == "it" else f"{worst['clv_cac']:.1f}"
    _layout(fig, lang, t(key, lang, channel=worst["group"], ratio=ratio))
    fig.update_layout(showlegend=False, height=max(280, 100 + 45 * len(data)))
    fig.update_traces(cliponaxis=False)
    fig.update_xaxes(title_text=t("value.clv_cac_axis", lang), range=[0, max(3.5, float(data["clv_cac"].max()) * 1.15)])
    return fig


def p_alive_map_figure(model: BGNBD, max_x: int, max_t: float, unit_label: str, lang: str) -> go.Figure:
    """Probability of still buying (P(alive)) on a grid of repeat purchases × time of the last
    purchase, for a customer whose first purchase was ``max_t`` units ago: each customer is judged
    against their own rhythm."""
    xs = np.arange(0, max_x + 1, dtype=float)
    ts = np.linspace(0, max_t, 40)
    grid_x, grid_t = np.meshgrid(xs, ts)
    alive = model.p_alive(grid_x.ravel(), grid_t.ravel(), np.full(grid_x.size, max_t)).reshape(grid_x.shape)
    fig = go.Figure(
        go.Heatmap(
            x=xs,
            y=ts,
            z=alive,
            zmin=0,
            zmax=1,
            colorscale="Viridis",
            colorbar={"title": {"text": t("value.alive_colorbar", lang), "side": "right"}, **percent_ticks(0, 1, lang)},
            customdata=[[fmt_percent(v, lang, 0) for v in row] for row in alive],
            hovertemplate=f"{t('value.repeat_axis', lang)}: %{{x}}<br>"
            f"{t('value.last_purchase_axis', lang, unit=unit_label)}: %{{y:.0f}}"
            f"<br>{t('value.alive_colorbar', lang)}: %{{customdata}}<extra></extra>",
        )
    )
    _layout(fig, lang, t("value.alive_title", lang))
    fig.update_xaxes(title_text=t("value.repeat_axis", lang))
    fig.update_yaxes(title_text=t("value.last_purchase_axis", lang, unit=unit_label))
    return fig


def holdout_figure(by_frequency: pd.DataFrame, lang: str) -> go.Figure:
    """Mean purchases per customer in the held-out months: expected by the model and actual."""
    labels = [str(int(b)) if b < 7 else "7+" for b in by_frequency["x_bucket"]]
    fig = go.Figure()
    fig.add_bar(x=labels, y=by_frequency["actual"], name=t("value.actual", lang), marker_color=INK)
    fig.add_bar(x=labels, y=by_frequency["predicted"], name=t("value.predicted", lang), marker_color="#56B4E9")
    _layout(fig, lang, t("value.holdout_chart", lang))
    fig.update_layout(barmode="group", legend_title_text="")
    fig.update_xaxes(title_text=t("value.calibration_x", lang), type="category")
    fig.update_yaxes(title_text=t("value.holdout_mean", lang))
    return fig


def customer_timeline_figure(orders: pd.DataFrame, lang: str, currency: str) -> go.Figure:
    """One customer's orders over time (bars, refunds below zero) and cumulative margin (line)."""
    fig = go.Figure()
    if orders.empty:
        return _layout(fig, lang, t("empty.customers", lang))
    labels = [fmt_date(d, lang) for d in orders["order_date"]]
    first, last = pd.Timestamp(orders["order_date"].min()), pd.Timestamp(orders["order_date"].max())
    # a few weeks of orders (a new customer): a window of three months around them, bars a few days
    # wide, the margin as points (else one bar fills the chart, without a date, and one point draws
    # no line)
    short = last - first < pd.Timedelta(days=60)
    if short:
        first, last = first - pd.Timedelta(days=45), last + pd.Timedelta(days=45)
    fig.add_bar(
        x=orders["order_date"],
        y=orders["revenue"],
        width=3 * 86_400_000 if short else None,  # milliseconds on a date axis
        name=t("col.revenue", lang),
        marker_color=[GREY if v < 0 else "#0072B2" for v in orders["revenue"]],
        customdata=[[lab, fmt_money(v, lang, currency)] for lab, v in zip(labels, orders["revenue"], strict=True)],
        hovertemplate=f"%{{customdata[0]}}<br>{t('col.revenue', lang)}: %{{customdata[1]}}<extra></extra>",
    )
    cumulative = orders["margin"].cumsum()
    fig.add_scatter(
        x=orders["order_date"],
        y=cumulative,
        name=t("value.cumulative_margin", lang),
        mode="lines+markers" if short else "lines",
        line={"color": INK, "shape": "hv"},
        yaxis="y2",
        customdata=[fmt_money(v, lang, currency, 0) for v in cumulative],
        hovertemplate=f"{t('value.cumulative_margin', lang)}: %{{customdata}}<extra></extra>",
    )
    _layout(
        fig,
        lang,
        tn(
            "value.timeline_title",
            int((orders["revenue"] >= 0).sum()),
            lang,
            n=fmt_count(int((orders["revenue"] >= 0).sum()), lang),
            share=fmt_percent(
                float(orders["margin"].sum() / orders["revenue"].sum()) if orders["revenue"].sum() else float("nan"),
                lang,
                0,
            ),
        ),
    )
    fig.update_layout(
        yaxis={"title": {"text": f"{t('col.revenue', lang)} ({currency})"}, "tickformat": ",.0f"},
        yaxis2={
            "title": {"text": t("value.cumulative_margin", lang)},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            # round ticks of its own, not ticks synced to the revenue axis (22.029, 14.266, −1.259)
            "tickmode": "auto",
            "rangemode": "tozero",
            "tickformat": ",.0f",
        },
        legend_title_text="",
        height=340,
    )
    # month names in the page's language (Plotly's date axis writes "Jan", "Jul" in English)
    fig.update_xaxes(**month_ticks(first, last, lang), range=[first, last] if short else None)
    return fig


def month_ticks(first: object, last: object, lang: str, most: int = 8) -> dict[str, Any]:
    """Tick values and labels for a date axis from ``first`` to ``last``: month starts every 1, 2,
    3, 6 or 12 months (at most ``most`` ticks), labelled ``gen 2025`` / ``Jan 2025``."""
    start, end = pd.Timestamp(first), pd.Timestamp(last)
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    step = next((s for s in (1, 2, 3, 6, 12) if months / s <= most), 12 * max(1, math.ceil(months / (12 * most))))
    ticks = [m for m in pd.date_range(start.to_period("M").to_timestamp(), end, freq="MS") if (m.month - 1) % step == 0]
    return {"tickmode": "array", "tickvals": ticks, "ticktext": [fmt_month(m, lang) for m in ticks]}
