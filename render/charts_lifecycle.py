"""Figures of the lifecycle page: stage tables in, ``go.Figure`` out (no Streamlit)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from kpi.lifecycle import STAGES
from render.charts import GREY, TEMPLATE
from render.format import fmt_count, fmt_money, fmt_month, fmt_percent, plotly_separators
from render.text import t

__all__ = ["STAGE_COLORS", "cohort_figure", "stage_flow_figure", "stages_over_time_figure"]

#: One fixed colour per stage on every chart (Okabe–Ito).
STAGE_COLORS = {
    "new": "#56B4E9",
    "reactivated": "#CC79A7",
    "loyal": "#009E73",
    "active": "#0072B2",
    "at_risk": "#E69F00",
    "lapsed": "#D55E00",
    "not_yet": GREY,
}


def _tint(hex_color: str, alpha: float = 0.35) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, lang: str, title: str) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title={"text": title}, separators=plotly_separators(lang))
    return fig


def stages_over_time_figure(counts: pd.DataFrame, lang: str) -> go.Figure:
    """Stacked areas: customers per stage at each month end. ``counts``: one row per month end
    (index, Timestamp), one column per stage."""
    fig = go.Figure()
    if counts.empty:
        return _layout(fig, lang, t("empty.customers", lang))
    labels = [fmt_month(m, lang) for m in counts.index]
    for stage in STAGES:
        if stage not in counts:
            continue
        fig.add_scatter(
            x=list(counts.index),
            y=counts[stage],
            name=t(f"stage.{stage}", lang),
            mode="lines",
            stackgroup="one",
            line={"width": 0.5, "color": STAGE_COLORS[stage]},
            fillcolor=STAGE_COLORS[stage],
            customdata=labels,
            hovertemplate=f"%{{customdata}}<br>{t(f'stage.{stage}', lang)}: %{{y:,}}<extra></extra>",
        )
    first, last = counts.iloc[0], counts.iloc[-1]
    risk_now, risk_then = int(last.get("at_risk", 0)), int(first.get("at_risk", 0))
    key = "lifecycle.trend_up" if risk_now > risk_then else "lifecycle.trend_down"
    _layout(fig, lang, t(key, lang, now=fmt_count(risk_now, lang), then=fmt_count(risk_then, lang)))
    fig.update_xaxes(tickvals=list(counts.index), ticktext=labels)
    # counts with the language's thousands separator (3.000 / 3,000, not 3000)
    fig.update_yaxes(title_text=t("col.customers", lang), tickformat=",d")
    # room on the right for the last month's label, centred on the plot's edge (it was dropped)
    fig.update_layout(legend_title_text="", hovermode="x unified", height=420, margin={"r": 40})
    return fig


#: the Sankey's labels: near-black text outlined in white, readable on any band under it
LABEL_INK = "#111827"
LABEL_HALO = "0 0 3px #ffffff, 0 0 3px #ffffff, 0 0 2px #ffffff"


def stage_flow_figure(moves: pd.DataFrame, lang: str, before_label: str, after_label: str) -> go.Figure:
    """Sankey of the moves between stages from one date to another."""
    order = ["not_yet", *STAGES]
    sources = [s for s in order if s in set(moves["source"])]
    targets = [s for s in STAGES if s in set(moves["target"])]
    labels = [f"{t(f'stage.{s}', lang)} ({before_label})" for s in sources] + [
        f"{t(f'stage.{s}', lang)} ({after_label})" for s in targets
    ]
    colors = [STAGE_COLORS[s] for s in sources] + [STAGE_COLORS[s] for s in targets]
    index_source = {s: i for i, s in enumerate(sources)}
    index_target = {s: len(sources) + i for i, s in enumerate(targets)}
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={"label": labels, "color": colors, "pad": 14, "thickness": 16},
            # the labels sit on the pale bands of the moves: dark text with a white halo, else the
            # template's grey text was unreadable on them
            textfont={"color": LABEL_INK, "size": 13, "shadow": LABEL_HALO},
            link={
                "source": [index_source[s] for s in moves["source"]],
                "target": [index_target[s] for s in moves["target"]],
                "value": moves["customers"].tolist(),
                "color": [_tint(STAGE_COLORS[s]) for s in moves["source"]],
                "hovertemplate": "%{source.label} → %{target.label}: %{value:,}<extra></extra>",
            },
        )
    )
    active = moves[moves["source"].isin(["active", "loyal"])]
    kept = int(active[active["target"].isin(["active", "loyal", "reactivated"])]["customers"].sum())
    total = int(active["customers"].sum())
    share = fmt_percent(kept / total, lang, 0) if total else "n/d"
    _layout(fig, lang, t("lifecycle.flow_title", lang, share=share, before=before_label))
    fig.update_layout(height=520)
    return fig


def cohort_figure(matrix: pd.DataFrame, lang: str, kind: str, currency: str) -> go.Figure:
    """Heatmap of a cohort matrix: acquisition month (rows) × months since (columns).
    ``kind`` is "retention" (shares) or "margin" (money per acquired customer)."""
    fig = go.Figure()
    if matrix.empty:
        return _layout(fig, lang, t("empty.customers", lang))
    rows = [fmt_month(c, lang) for c in matrix.index]
    if kind == "retention":
        text = [[fmt_percent(v, lang, 0) if pd.notna(v) else "" for v in row] for row in matrix.to_numpy()]
        colorscale, title = "Blues", t("lifecycle.retention_title", lang)
        shown = matrix.drop(columns=[0], errors="ignore")
        zmax = float(shown.max().max()) if not shown.empty else 1.0
    else:
        text = [[fmt_money(v, lang, currency, 0) if pd.notna(v) else "" for v in row] for row in matrix.to_numpy()]
        colorscale, title = "Greens", t("lifecycle.margin_title", lang)
        zmax = float(matrix.max().max())
    fig.add_heatmap(
        z=matrix.to_numpy(),
        x=[str(c) for c in matrix.columns],
        y=rows,
        colorscale=colorscale,
        zmin=0,
        zmax=zmax,
        text=text,
        texttemplate="%{text}" if matrix.shape[1] <= 13 else None,
        showscale=False,
        hovertemplate=f"%{{y}} · {t('lifecycle.months_since', lang)} %{{x}}: %{{text}}<extra></extra>",
    )
    _layout(fig, lang, title)
    fig.update_yaxes(autorange="reversed", title_text=t("lifecycle.cohort", lang), type="category")
    fig.update_xaxes(title_text=t("lifecycle.months_since", lang), type="category")
    fig.update_layout(height=max(360, 80 + 22 * len(rows)))
    return fig
