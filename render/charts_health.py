"""Figures of the data-health page: rows per table in, ``go.Figure`` out (no Streamlit)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from data.entities import EXCLUSION_REASONS
from render.charts import GREY, TEMPLATE
from render.format import fmt_count, plotly_separators
from render.text import t

__all__ = ["REASON_COLORS", "excluded_rows_figure"]

#: One fixed colour per reason a row is left out (Okabe–Ito, then grey).
REASON_COLORS = {
    "missing_id": "#D55E00",
    "missing_customer": "#E69F00",
    "missing_date": "#CC79A7",
    "bad_date": "#56B4E9",
    "implausible_date": "#88CCEE",
    "bad_amount": "#0072B2",
    "implausible_amount": "#332288",
    "future_date": "#009E73",
    "duplicate_id": "#882255",
    "unknown_customer": "#999933",
    "self_referral": "#44AA99",
    "before_first_order": "#AA4499",
    "referred_twice": "#661100",
    "unknown_kind": "#777777",
}


def excluded_rows_figure(rows: pd.DataFrame, lang: str) -> go.Figure:
    """Rows left out of the figures per table, stacked by reason, each bar labelled "excluded of
    read". ``rows``: one row per table and kind with ``entity`` (canonical name), ``reason`` ("used"
    or an exclusion reason) and ``rows``; a table with nothing excluded still gets its label at 0."""
    read = rows.groupby("entity", sort=False)["rows"].sum()
    excluded = rows[rows["reason"] != "used"].pivot_table(
        index="entity", columns="reason", values="rows", aggfunc="sum", fill_value=0
    )
    excluded = excluded.reindex(read.index, fill_value=0)
    order = list(read.index[::-1])  # the first table on top
    labels = [t(f"entity.{e}", lang) for e in order]
    fig = go.Figure()
    for reason in (r for r in EXCLUSION_REASONS if r in excluded.columns):
        fig.add_trace(
            go.Bar(
                x=[int(excluded.at[e, reason]) for e in order],
                y=labels,
                orientation="h",
                name=t(f"reason.{reason}", lang),
                marker_color=REASON_COLORS.get(reason, GREY),
                hovertemplate="%{y}: %{x:,.0f}<extra>%{fullData.name}</extra>",
            )
        )
    totals = excluded.sum(axis=1)
    # An empty bar stacked last carries each table's label just right of its excluded rows.
    fig.add_trace(
        go.Bar(
            x=[0] * len(order),
            y=labels,
            orientation="h",
            showlegend=False,
            hoverinfo="skip",
            marker_color="rgba(0,0,0,0)",
            text=[
                t(
                    "report.health_bar",
                    lang,
                    excluded=fmt_count(int(totals[e]), lang),
                    read=fmt_count(int(read[e]), lang),
                )
                for e in order
            ],
            textposition="outside",
            cliponaxis=False,
        )
    )
    top = float(totals.max()) if len(totals) else 0.0
    fig.update_layout(
        template=TEMPLATE,
        barmode="stack",
        title={"text": t("report.health_chart_title", lang)},
        separators=plotly_separators(lang),
        height=max(300, 90 + 50 * len(order)),
        legend={"traceorder": "normal"},  # the reasons in the order they are stacked
    )
    fig.update_yaxes(ticksuffix="  ")  # the table names clear of the axis line
    # Room on the right for the labels; a whole-number axis even for a handful of rows.
    fig.update_xaxes(
        title_text=t("col.rows_excluded", lang),
        range=[0, max(top * 1.45, 4.0)],
        tickformat=",d",
        dtick=1 if top < 8 else None,
    )
    return fig
