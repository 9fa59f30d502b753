"""Figures of the what-if simulator: tidy tables in, ``go.Figure`` out (no Streamlit)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from render.charts import INK, TEMPLATE
from render.format import fmt_count, fmt_money, fmt_money_short, fmt_percent, plotly_separators
from render.text import t

__all__ = ["figure_text", "whatif_waterfall_figure"]


def figure_text(figure: str, value: float, lang: str, currency: str, *, short: bool = False) -> str:
    """One of the simulator's figures (``service.whatif.FIGURES``) in words: customers as a count,
    the ROI as a percent, the rest as money (``short``: € 3,2 Mln for a report's card)."""
    if figure == "leaving_12m":
        return fmt_count(value, lang)
    if figure == "marketing_roi":
        return fmt_percent(value, lang, 1 if not short else 0)
    return fmt_money_short(value, lang, currency) if short else fmt_money(value, lang, currency, 0)


_UP, _DOWN, _TOTAL = "#009E73", "#D55E00", "#0072B2"


def whatif_waterfall_figure(
    steps: pd.DataFrame, today: float, scenario: float, measure: str, lang: str, currency: str
) -> go.Figure:
    """From today's ``measure`` (``total_clv`` or ``margin_12m``) to the scenario's, one bar per lever
    moved (``steps``: ``lever`` and the change it adds, in the order the levers were added)."""
    labels = [t("whatif.today", lang), *(t(f"whatif.lever.{lever}", lang) for lever in steps["lever"])]
    labels.append(t("whatif.scenario", lang))
    values = [today, *steps[measure].astype(float), scenario]
    fig = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=["absolute", *(["relative"] * len(steps)), "total"],
            text=[fmt_money(v, lang, currency, 0) for v in values],
            textposition="outside",
            increasing={"marker": {"color": _UP}},
            decreasing={"marker": {"color": _DOWN}},
            totals={"marker": {"color": _TOTAL}},
            connector={"line": {"color": INK, "width": 1, "dash": "dot"}},
            hovertemplate="%{x}: %{text}<extra></extra>",
        )
    )
    title = t(f"whatif.waterfall_title.{measure}", lang)
    fig.update_layout(template=TEMPLATE, title={"text": title}, separators=plotly_separators(lang), showlegend=False)
    low = min(today, scenario, *(today + steps[measure].cumsum()))
    high = max(today, scenario, *(today + steps[measure].cumsum()))
    pad = (high - low) * 0.6 or abs(high) * 0.05 or 1.0
    fig.update_yaxes(range=[max(low - pad, 0.0) if low >= 0 else low - pad, high + pad], tickformat=",.0f")
    fig.update_yaxes(title_text=f"{t('whatif.figure.' + measure, lang)} ({currency})")
    return fig
