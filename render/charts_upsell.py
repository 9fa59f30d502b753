"""Figures of the opportunities page (no Streamlit)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from render.charts import GREY, TEMPLATE, percent_ticks
from render.format import fmt_count, fmt_money, fmt_percent, plotly_separators
from render.text import chart_text, t

__all__ = ["funnel_figure", "offer_value_figure"]


def _layout(fig: go.Figure, lang: str, title: str) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title={"text": title}, separators=plotly_separators(lang))
    return fig


def funnel_figure(funnel: pd.DataFrame, colors: dict[str, str], lang: str) -> go.Figure:
    """Share of each segment's customers who reached each ladder step."""
    fig = go.Figure()
    if funnel.empty:
        return _layout(fig, lang, t("upsell.no_ladder", lang))
    for segment, part in funnel.groupby("segment"):
        fig.add_scatter(
            x=part["step"],
            y=part["share"],
            mode="lines+markers",
            name=chart_text(segment),
            line={"color": colors.get(str(segment), GREY), "width": 2},
            marker={"size": 8},
            customdata=[
                [fmt_percent(s, lang, 0), fmt_count(n, lang)]
                for s, n in zip(part["share"], part["customers"], strict=True)
            ],
            hovertemplate=(
                f"<b>{chart_text(segment)}</b><br>{t('upsell.step', lang)} %{{x}}: "
                "%{customdata[0]} (%{customdata[1]})<extra></extra>"
            ),
        )
    top_step = int(funnel["step"].max())
    last = funnel[funnel["step"] == top_step].sort_values("share", ascending=False).iloc[0]
    _layout(
        fig,
        lang,
        t(
            "upsell.funnel_title",
            lang,
            step=top_step,
            share=fmt_percent(last["share"], lang, 0),
            segment=chart_text(last["segment"]),
        ),
    )
    fig.update_xaxes(title_text=t("upsell.step", lang), dtick=1)
    fig.update_yaxes(
        title_text=t("col.share_customers", lang),
        rangemode="tozero",
        **percent_ticks(0.0, float(funnel["share"].max()), lang),
    )
    fig.update_layout(legend_title_text="", height=380)
    return fig


def offer_value_figure(candidates: pd.DataFrame, lang: str, currency: str) -> go.Figure:
    """Expected value at stake per offer, summed over the proposals shown."""
    fig = go.Figure()
    if candidates.empty:
        return _layout(fig, lang, t("upsell.none", lang))
    by_offer = candidates.groupby("offer_name")["expected_value"].sum().sort_values()
    fig.add_bar(
        y=[chart_text(v) for v in by_offer.index],
        x=by_offer.to_numpy(),
        orientation="h",
        marker_color="#009E73",
        text=[fmt_money(v, lang, currency, 0) for v in by_offer],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="<b>%{y}</b><br>%{text}<extra></extra>",
    )
    _layout(
        fig,
        lang,
        t(
            "upsell.by_offer_title",
            lang,
            offer=chart_text(by_offer.index[-1]),
            value=fmt_money(float(by_offer.iloc[-1]), lang, currency, 0),
        ),
    )
    fig.update_xaxes(
        title_text=f"{t('col.expected_value', lang)} ({currency})",
        tickformat=",.0f",
        range=[0, float(by_offer.max()) * 1.25],
    )
    fig.update_layout(showlegend=False, height=max(260, 90 + 45 * len(by_offer)))
    return fig
