"""Figures of the engagement page: tidy tables in, ``go.Figure`` out (no Streamlit)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kpi.engagement import QUADRANTS
from render.charts import INK, TEMPLATE
from render.format import fmt_count, fmt_money, fmt_money_short, plotly_separators
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


def _unit(values: pd.Series) -> float:
    """Where the compressed scale turns from even to powers of ten: the power of ten below the
    lower quartile of the amounts that are not 0 (at least 1)."""
    v = np.abs(values.to_numpy(dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    return float(10 ** np.floor(np.log10(np.quantile(v, 0.25)))) if len(v) else 1.0


def _compressed(values: Any, unit: float) -> np.ndarray:
    """Money on a compressed scale: sign × log10(1 + |value| / unit), even below ``unit`` and by
    powers of ten above it. A few customers worth forty times the median would otherwise squeeze
    everyone else into a corner; zeros and losses stay drawn."""
    v = np.asarray(values, dtype=float)
    return np.sign(v) * np.log10(1.0 + np.abs(v) / unit)


def _compressed_axis(values: pd.Series, unit: float, lang: str, currency: str) -> dict[str, Any]:
    """Ticks at 0 and at the powers of ten from ``unit`` that the values reach, labelled in money."""
    low, high = float(values.min()), float(values.max())
    ticks = [0.0]
    step = max(unit, 1.0)
    while step <= max(high, -low):
        if step <= high:
            ticks.append(step)
        if -step >= low:
            ticks.insert(0, -step)
        step *= 10
    return {
        "tickvals": _compressed(ticks, unit).tolist(),
        "ticktext": [fmt_money_short(v, lang, currency) for v in ticks],
    }


def _points_data(part: pd.DataFrame) -> np.ndarray:
    """Each point's name, CLV, CRV, CEV and customer id, as the rows of one array."""
    data = np.empty((len(part), 5), dtype=object)
    data[:, 0] = [chart_text(str(n)) for n in part["name"]]
    for column, name in enumerate(("clv", "crv", "cev"), start=1):
        data[:, column] = part[name].to_numpy(dtype=float)
    ids = part["customer_id"] if "customer_id" in part else pd.Series([""] * len(part), index=part.index)
    data[:, 4] = [str(i) for i in ids]
    return data


def value_matrix_figure(
    points: pd.DataFrame, clv_median: float, crv_median: float, lang: str, currency: str, shown_of: int
) -> go.Figure:
    """Customers by CLV (across) and referral value (up), coloured by quadrant, with the medians that
    split them; the hover names the customer and the action. Both axes are compressed (powers of
    ten), the hover gives the amounts. ``points``: ``name``, ``clv``, ``crv``, ``cev``,
    ``quadrant``; ``shown_of``: how many customers the points are taken from."""
    fig = go.Figure()
    if points.empty:
        return _layout(fig, lang, t("empty.customers", lang))
    prefix, _, suffix = fmt_money(0, lang, currency, 0).partition("0")
    clv, crv, cev = (f"{prefix}%{{customdata[{i}]:,.0f}}{suffix}" for i in (1, 2, 3))
    x_unit, y_unit = _unit(points["clv"]), _unit(points["crv"])
    for quadrant in QUADRANTS:
        part = points[points["quadrant"] == quadrant]
        if part.empty:
            continue
        label = t(f"engagement.quadrant.{quadrant}", lang)
        fig.add_scattergl(
            x=_compressed(part["clv"], x_unit),
            y=_compressed(part["crv"], y_unit),
            mode="markers",
            name=f"{label} ({fmt_count(len(part), lang)})",
            marker={"color": QUADRANT_COLORS[quadrant], "size": 7, "opacity": 0.7, "line": {"width": 0}},
            # numbers formatted by Plotly (the layout's separators): no Python string per point
            # the customer's id last: a click on the point opens their card
            # one array, not a list per point: Plotly checks a list of lists value by value
            customdata=_points_data(part),
            hovertemplate=(
                f"<b>%{{customdata[0]}}</b><br>CLV {clv} · CRV {crv}<br>"
                f"CEV {cev}<br><i>{t(f'engagement.action_short.{quadrant}', lang)}</i><extra></extra>"
            ),
        )
    fig.add_vline(x=float(_compressed(clv_median, x_unit)), line={"color": INK, "dash": "dot", "width": 1})
    fig.add_hline(y=float(_compressed(crv_median, y_unit)), line={"color": INK, "dash": "dot", "width": 1})
    title = t("engagement.matrix_title", lang)
    if shown_of > len(points):
        n, total = fmt_count(len(points), lang), fmt_count(shown_of, lang)
        title += f"<br><sup>{tn('engagement.matrix_sample', len(points), lang, n=n, total=total)}</sup>"
    _layout(fig, lang, title)
    scale = t("engagement.matrix_scale", lang)
    fig.update_xaxes(title_text=f"CLV ({currency}, {scale})", **_compressed_axis(points["clv"], x_unit, lang, currency))
    fig.update_yaxes(
        title_text=f"{t('engagement.part.crv', lang)} ({currency}, {scale})",
        **_compressed_axis(points["crv"], y_unit, lang, currency),
    )
    fig.update_layout(legend_title_text="")
    return fig


def referral_chains_figure(chains: pd.DataFrame, names: dict[Any, str], lang: str, currency: str) -> go.Figure:
    """Who brought whom (``kpi.engagement.referral_chains``): each top referrer's value brought,
    split into the customers they referred and those their referred customers referred in turn; the
    hover names the customers each brought."""
    fig = go.Figure()
    if chains.empty:
        return _layout(fig, lang, t("engagement.no_referrals", lang))
    ordered = chains.sort_values("total")
    who = [chart_text(str(names.get(c, c)))[:32] for c in ordered["referrer_id"]]

    def listing(people: list[Any]) -> str:
        shown = [chart_text(str(names.get(c, c))) for c in people[:6]]
        return ", ".join(shown) + (f" +{len(people) - 6}" if len(people) > 6 else "")

    hover = [listing(p) for p in ordered["referred"]]
    for label, column, color in (
        (t("engagement.chain_direct", lang), "direct", "#E69F00"),
        (t("engagement.chain_onward", lang), "onward", "#F5C26B"),
    ):
        money = [fmt_money(v, lang, currency, 0) for v in ordered[column]]
        fig.add_bar(
            y=who,
            x=ordered[column].to_numpy(dtype=float),
            orientation="h",
            name=label,
            marker_color=color,
            customdata=list(zip(money, hover, strict=True)),
            hovertemplate=f"<b>%{{y}}</b><br>{label}: %{{customdata[0]}}<br>%{{customdata[1]}}<extra></extra>",
        )
    _layout(fig, lang, tn("engagement.chains_title", len(ordered), lang, n=len(ordered)))
    fig.update_layout(
        barmode="stack",
        legend={"orientation": "h", "y": -0.15, "yanchor": "top", "x": 0},
        legend_title_text="",
        height=max(360, 36 * len(ordered) + 160),
    )
    fig.update_xaxes(title_text=f"{t('engagement.value_brought', lang)} ({currency})", tickformat=",.0f")
    return fig
