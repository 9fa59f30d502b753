"""Figures of the engagement page: tidy tables in, ``go.Figure`` out (no Streamlit)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kpi.engagement import QUADRANTS
from render.charts import INK, TEMPLATE
from render.format import fmt_count, fmt_money, plotly_separators
from render.text import chart_text, t, tn

__all__ = ["PARTS", "QUADRANT_COLORS", "cev_segment_figure", "referral_chains_figure", "value_matrix_figure"]

#: the parts of the engagement value, each with its colour (Okabe–Ito; the estimate paler)
PARTS: tuple[tuple[str, str], ...] = (
    ("clv", "#0072B2"),
    ("crv", "#E69F00"),
    ("civ", "#009E73"),
    ("civ_estimated", "#A6DBC9"),
    ("ckv", "#CC79A7"),
)
QUADRANT_COLORS = {"champions": "#009E73", "affluents": "#0072B2", "advocates": "#E69F00", "misers": "#9AA0A6"}


def _layout(fig: go.Figure, lang: str, title: str) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title={"text": title}, separators=plotly_separators(lang))
    return fig


def cev_segment_figure(by_segment: pd.DataFrame, lang: str, currency: str) -> go.Figure:
    """Average engagement value per customer by segment, its parts stacked: the customer's own
    lifetime value, then referrals, influence (tracked, then estimated) and ideas and feedback."""
    fig = go.Figure()
    if by_segment.empty:
        return _layout(fig, lang, t("empty.customers", lang))
    ordered = by_segment.sort_values("cev")
    names = [chart_text(s) for s in ordered["segment"]]
    for part, color in PARTS:
        values = ordered[part].to_numpy(dtype=float)
        if part != "clv" and not np.any(values):
            continue
        money = [fmt_money(v, lang, currency, 0) for v in values]
        fig.add_bar(
            y=names,
            x=values,
            orientation="h",
            name=t(f"engagement.part.{part}", lang),
            marker_color=color,
            customdata=money,
            hovertemplate=f"<b>%{{y}}</b><br>{t(f'engagement.part.{part}', lang)}: %{{customdata}}<extra></extra>",
        )
    totals = [fmt_money(v, lang, currency, 0) for v in ordered["cev"]]
    fig.add_scatter(
        y=names,
        x=ordered["cev"],
        mode="text",
        text=totals,
        textposition="middle right",
        showlegend=False,
        hoverinfo="skip",
        textfont={"color": INK},
    )
    _layout(fig, lang, t("engagement.segments_title", lang))
    fig.update_layout(
        barmode="relative",
        legend={"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0},
        legend_title_text="",
        margin={"r": 10, "t": 50},
    )
    fig.update_xaxes(range=[0, float(ordered["cev"].max()) * 1.22] if float(ordered["cev"].max()) > 0 else None)
    fig.update_xaxes(title_text=f"{t('engagement.per_customer', lang)} ({currency})", tickformat=",.0f")
    return fig


def value_matrix_figure(
    points: pd.DataFrame, clv_median: float, crv_median: float, lang: str, currency: str, shown_of: int
) -> go.Figure:
    """Customers by CLV (across) and referral value (up), coloured by quadrant, with the medians that
    split them; the hover names the customer and the action. ``points``: ``name``, ``clv``, ``crv``,
    ``cev``, ``quadrant``; ``shown_of``: how many customers the points are taken from."""
    fig = go.Figure()
    if points.empty:
        return _layout(fig, lang, t("empty.customers", lang))
    for quadrant in QUADRANTS:
        part = points[points["quadrant"] == quadrant]
        if part.empty:
            continue
        label = t(f"engagement.quadrant.{quadrant}", lang)
        custom: list[list[Any]] = [
            [
                chart_text(str(n)),
                fmt_money(a, lang, currency, 0),
                fmt_money(b, lang, currency, 0),
                fmt_money(c, lang, currency, 0),
            ]
            for n, a, b, c in zip(part["name"], part["clv"], part["crv"], part["cev"], strict=True)
        ]
        fig.add_scattergl(
            x=part["clv"],
            y=part["crv"],
            mode="markers",
            name=f"{label} ({len(part):,})".replace(",", "." if lang == "it" else ","),
            marker={"color": QUADRANT_COLORS[quadrant], "size": 7, "opacity": 0.7, "line": {"width": 0}},
            customdata=custom,
            hovertemplate=(
                "<b>%{customdata[0]}</b><br>CLV %{customdata[1]} · CRV %{customdata[2]}<br>"
                f"CEV %{{customdata[3]}}<br><i>{t(f'engagement.action_short.{quadrant}', lang)}</i><extra></extra>"
            ),
        )
    fig.add_vline(x=clv_median, line={"color": INK, "dash": "dot", "width": 1})
    fig.add_hline(y=crv_median, line={"color": INK, "dash": "dot", "width": 1})
    title = t("engagement.matrix_title", lang)
    if shown_of > len(points):
        n, total = fmt_count(len(points), lang), fmt_count(shown_of, lang)
        title += f"<br><sup>{tn('engagement.matrix_sample', len(points), lang, n=n, total=total)}</sup>"
    _layout(fig, lang, title)
    fig.update_xaxes(title_text=f"CLV ({currency})", tickformat=",.0f")
    fig.update_yaxes(title_text=f"{t('engagement.part.crv', lang)} ({currency})", tickformat=",.0f")
    fig.update_layout(legend_title_text="")
    return fig


def referral_chains_figure(
    detail: pd.DataFrame, names: dict[Any, str], lang: str, currency: str, top: int = 12
) -> go.Figure:
    """Who brought whom: the ``top`` referrers by the value their referrals brought (before rewards),
    split into the customers they referred themselves and those their referred customers referred
    in turn (the chain one step on); the hover names the customers each brought."""
    fig = go.Figure()
    if detail.empty:
        return _layout(fig, lang, t("engagement.no_referrals", lang))
    gained = detail.assign(gain=(detail["value"] + detail["rewards"]).clip(lower=0.0))
    direct = gained.groupby("referrer_id")["gain"].sum()
    # a referred customer's own referrals, credited one step up the chain
    onward = gained.assign(up=gained["referrer_id"].map(gained.set_index("referred_id")["referrer_id"]))
    chained = onward.dropna(subset=["up"]).groupby("up")["gain"].sum()
    totals = direct.add(chained, fill_value=0.0).nlargest(top).sort_values()
    who = [chart_text(str(names.get(c, c)))[:32] for c in totals.index]
    brought = gained.groupby("referrer_id")["referred_id"].agg(list)

    def listing(customer: Any) -> str:
        people = [chart_text(str(names.get(c, c))) for c in brought.get(customer, [])]
        more = f" +{len(people) - 6}" if len(people) > 6 else ""
        return ", ".join(people[:6]) + more

    hover = [listing(c) for c in totals.index]
    for label, values, color in (
        (t("engagement.chain_direct", lang), direct.reindex(totals.index).fillna(0.0), "#E69F00"),
        (t("engagement.chain_onward", lang), chained.reindex(totals.index).fillna(0.0), "#F5C26B"),
    ):
        money = [fmt_money(v, lang, currency, 0) for v in values]
        fig.add_bar(
            y=who,
            x=values.to_numpy(),
            orientation="h",
            name=label,
            marker_color=color,
            customdata=list(zip(money, hover, strict=True)),
            hovertemplate=f"<b>%{{y}}</b><br>{label}: %{{customdata[0]}}<br>%{{customdata[1]}}<extra></extra>",
        )
    _layout(fig, lang, tn("engagement.chains_title", len(totals), lang, n=len(totals)))
    fig.update_layout(
        barmode="stack",
        legend={"orientation": "h", "y": -0.15, "yanchor": "top", "x": 0},
        legend_title_text="",
        height=max(360, 36 * len(totals) + 160),
    )
    fig.update_xaxes(title_text=f"{t('engagement.value_brought', lang)} ({currency})", tickformat=",.0f")
    return fig
