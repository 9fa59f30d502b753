"""Figures of the marketing page: the campaign table in, ``go.Figure`` out (no Streamlit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from render.charts import GREY, INK, TEMPLATE, campaign_colors, percent_ticks
from render.format import fmt_money, fmt_percent, plotly_separators
from render.text import chart_text, t, tn

__all__ = ["VERDICT_COLORS", "cac_vs_clv_figure", "channel_roi_figure", "payback_figure", "roi_steps_figure"]

#: One fixed colour per verdict on every chart (Okabe–Ito: safe for colour-blind readers).
VERDICT_COLORS = {"pays_first": "#009E73", "pays_lifetime": "#0072B2", "does_not_pay": "#D55E00", "no_spend": GREY}


def _layout(fig: go.Figure, lang: str, title: str) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title={"text": title}, separators=plotly_separators(lang))
    return fig


def cac_vs_clv_figure(roi: pd.DataFrame, lang: str, currency: str) -> go.Figure:
    """Each campaign at (CAC, CLV before acquisition cost per customer); bubble area = spend;
    above the diagonal the customers are worth more than they cost."""
    fig = go.Figure()
    data = roi[(roi["customers"] > 0) & (roi["spend"] > 0)].copy()
    if data.empty:
        return _layout(fig, lang, t("marketing.no_campaign_customers", lang))
    data["clv_per_customer"] = data["clv_before_cac"] / data["customers"]
    positive = data[(data["cac"] > 0) & (data["clv_per_customer"] > 0)]
    low = float(min(positive["cac"].min(), positive["clv_per_customer"].min())) / 1.6 if len(positive) else 1.0
    high = float(max(data["cac"].max(), data["clv_per_customer"].max())) * 1.6
    fig.add_scatter(
        x=[low, high],
        y=[low, high],
        mode="lines",
        line={"color": INK, "dash": "dash", "width": 1},
        name=t("marketing.break_even", lang),
        hoverinfo="skip",
    )
    size_ref = 2.0 * float(data["spend"].max()) / (60.0**2)
    colors = campaign_colors(roi["name"])
    # One trace per campaign, named in the legend and on hover: names written next to the bubbles
    # overlap where campaigns cost and earn alike, and get cut at the plot's edges.
    for _, row in data.sort_values("name").iterrows():
        name = str(row["name"])
        fig.add_scatter(
            x=[row["cac"]],
            y=[row["clv_per_customer"]],
            mode="markers",
            name=chart_text(name),
            marker={
                "size": [row["spend"]],
                "sizemode": "area",
                "sizeref": size_ref,
                "sizemin": 6,
                "color": colors.get(name, GREY),
                "opacity": 0.85,
                "line": {"color": "white", "width": 1},
            },
            customdata=[
                [
                    fmt_money(row["cac"], lang, currency, 0),
                    fmt_money(row["clv_per_customer"], lang, currency, 0),
                    fmt_money(row["spend"], lang, currency, 0),
                    t(f"verdict.{row['verdict']}", lang),
                ]
            ],
            hovertemplate=(
                f"<b>{chart_text(name)}</b><br>%{{customdata[3]}}<br>CAC %{{customdata[0]}}<br>"
                f"{t('marketing.clv_per_customer', lang)} %{{customdata[1]}}<br>"
                f"{t('marketing.spend', lang)} %{{customdata[2]}}<extra></extra>"
            ),
        )
    worth = int((data["clv_per_customer"] >= data["cac"]).sum())
    _layout(fig, lang, t("marketing.scatter_title", lang, n=worth, total=len(data)))
    # Log scales: a €15 newsletter and a €650 sales agent on one chart; the diagonal stays straight.
    fig.update_xaxes(title_text=f"CAC ({currency}, log)", type="log", tickformat=",.0f")
    fig.update_yaxes(
        title_text=f"{t('marketing.clv_per_customer', lang)} ({currency}, log)", type="log", tickformat=",.0f"
    )
    # ticks at 1, 2 and 5 of each power of ten: over less than two decades Plotly labels every
    # digit, and the labels run into each other
    fig.update_xaxes(range=[np.log10(low), np.log10(high)], dtick="D2")
    fig.update_yaxes(range=[np.log10(low), np.log10(high)], dtick="D2")
    fig.update_layout(
        legend_title_text="",
        height=500 + 22 * ((len(data) + 1) // 2),
        legend={"orientation": "h", "y": -0.18, "yanchor": "top", "x": 0, "xanchor": "left"},
    )
    return fig


def roi_steps_figure(roi: pd.DataFrame, lang: str) -> go.Figure:
    """Per campaign, ROI on the first purchase → to date → over the customers' life."""
    fig = go.Figure()
    data = roi[roi["spend"] > 0].sort_values("roi_lifetime")
    if data.empty:
        return _layout(fig, lang, t("marketing.no_spend", lang))
    steps = (
        ("roi_first", "marketing.roi_first", "#E69F00"),
        ("roi_to_date", "marketing.roi_to_date", "#56B4E9"),
        ("roi_lifetime", "marketing.roi_lifetime", "#0072B2"),
    )
    for _, row in data.iterrows():
        fig.add_scatter(
            x=[row[c] for c, _, _ in steps],
            y=[chart_text(row["name"])] * 3,
            mode="lines",
            line={"color": "#CBD2D9", "width": 3},
            showlegend=False,
            hoverinfo="skip",
        )
    for column, key, color in steps:
        fig.add_scatter(
            x=data[column],
            y=[chart_text(n) for n in data["name"]],
            mode="markers",
            name=t(key, lang),
            marker={"color": color, "size": 12, "line": {"color": "white", "width": 1}},
            customdata=[fmt_percent(v, lang, 0) for v in data[column]],
            hovertemplate=f"<b>%{{y}}</b><br>{t(key, lang)}: %{{customdata}}<extra></extra>",
        )
    fig.add_vline(x=0, line={"color": INK, "width": 1})
    colors = campaign_colors(roi["name"])
    names = [str(n) for n in data["name"]]
    fig.update_yaxes(
        tickmode="array",
        tickvals=[chart_text(n) for n in names],
        ticktext=[f"<span style='color:{colors.get(n, GREY)}'>●</span> {chart_text(n)}" for n in names],
    )
    turned = int(((data["roi_first"] < 0) & (data["roi_lifetime"] >= 0)).sum())
    _layout(fig, lang, tn("marketing.steps_title", turned, lang))
    values = data[[c for c, _, _ in steps]].to_numpy(dtype=float)
    # No axis title: the legend under the chart names the three ROIs (a title would sit on it).
    fig.update_xaxes(title_text="", **percent_ticks(float(np.nanmin(values)), float(np.nanmax(values)), lang))
    fig.update_layout(
        legend_title_text="",
        height=max(340, 150 + 45 * len(data)),
        legend={"orientation": "h", "y": -0.15, "yanchor": "top"},
    )
    return fig


def payback_figure(curves: pd.DataFrame, roi: pd.DataFrame, lang: str) -> go.Figure:
    """Share of each campaign's spend recovered by its customers' cumulative margin, month by month."""
    fig = go.Figure()
    if curves.empty:
        return _layout(fig, lang, t("marketing.no_spend", lang))
    colors = campaign_colors(roi["name"])
    for _, part in curves.groupby("campaign_id", sort=False):
        fig.add_scatter(
            x=part["months"],
            y=part["recovered"],
            mode="lines",
            name=chart_text(part["name"].iloc[0]),
            line={"color": colors.get(str(part["name"].iloc[0]), GREY), "width": 2},
            customdata=[fmt_percent(v, lang, 0) for v in part["recovered"]],
            hovertemplate=(
                f"<b>{chart_text(part['name'].iloc[0])}</b><br>"
                f"{t('marketing.month', lang)} %{{x}}: %{{customdata}}<extra></extra>"
            ),
        )
    fig.add_hline(
        y=1, line={"color": INK, "dash": "dash", "width": 1}, annotation_text=t("marketing.spend_recovered", lang)
    )
    paid = roi.dropna(subset=["payback_months"])
    if paid.empty:
        title = t("marketing.payback_none", lang)
    else:
        fastest = paid.sort_values("payback_months").iloc[0]
        title = tn("marketing.payback_title", int(fastest["payback_months"]), lang, name=chart_text(fastest["name"]))
    _layout(fig, lang, title)
    fig.update_xaxes(title_text=t("marketing.months_since_start", lang))
    recovered = curves["recovered"].astype(float)
    fig.update_yaxes(
        title_text=t("marketing.recovered", lang),
        **percent_ticks(min(0.0, float(recovered.min())), max(1.0, float(recovered.max())), lang),
    )
    fig.update_layout(
        legend_title_text="", height=440, legend={"orientation": "v", "x": 1.02, "y": 1, "yanchor": "top"}
    )
    return fig


def channel_roi_figure(channels: pd.DataFrame, lang: str) -> go.Figure:
    """Lifetime ROI per acquisition channel, coloured by verdict."""
    fig = go.Figure()
    data = channels.dropna(subset=["roi_lifetime"]).sort_values("roi_lifetime")
    if data.empty:
        return _layout(fig, lang, t("marketing.no_spend", lang))
    fig.add_bar(
        y=[chart_text(c) for c in data["channel"]],
        x=data["roi_lifetime"],
        orientation="h",
        marker_color=[VERDICT_COLORS.get(v, GREY) for v in data["verdict"]],
        customdata=[fmt_percent(v, lang, 0) for v in data["roi_lifetime"]],
        hovertemplate=f"<b>%{{y}}</b><br>{t('marketing.roi_lifetime', lang)}: %{{customdata}}<extra></extra>",
    )
    # Each figure right of its bar, or right of the zero line for a loss: never over the channel names.
    for channel, value in zip(data["channel"], data["roi_lifetime"], strict=True):
        fig.add_annotation(
            x=max(float(value), 0.0),
            y=chart_text(channel),
            text=fmt_percent(value, lang, 0),
            showarrow=False,
            xanchor="left",
            xshift=4,
            font={"color": INK},
        )
    best = data.iloc[-1]
    _layout(
        fig,
        lang,
        t(
            "marketing.channel_title",
            lang,
            channel=chart_text(best["channel"]),
            roi=fmt_percent(best["roi_lifetime"], lang, 0),
        ),
    )
    high = float(np.nanmax(data["roi_lifetime"])) if len(data) else 1.0
    low = min(0.0, float(data["roi_lifetime"].min()) * 1.1)
    upper = max(high, 0.0) * 1.3 or 1.0
    fig.update_xaxes(
        title_text=t("marketing.roi_lifetime", lang), range=[low, upper], **percent_ticks(low, upper, lang)
    )
    fig.update_layout(showlegend=False, height=max(260, 90 + 45 * len(data)))
    return fig
