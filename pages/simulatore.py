"""Simulatore: what a decision would be worth before taking it — the levers moved on the customers'
own fitted model, today's figures beside the scenario's, and where the difference comes from."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from kpi.clv import MIN_REPEAT_CUSTOMERS
from kpi.whatif import LEVERS, Scenario
from render.charts_whatif import figure_text, whatif_waterfall_figure
from render.format import NA, fmt_change, fmt_count, fmt_money, fmt_percent
from render.text import md, t, tn
from service.whatif import FIGURES, PAYBACK_AGES
from ui import loaders
from ui.cards import Card, cards
from ui.shell import shown_errors, start_page
from ui.widgets import chart, static_table

PAGE = "page.whatif"
#: each lever's slider: (smallest, largest, step), in percent (points for the margin)
RANGES = {
    "churn": (-50, 50, 5),
    "frequency": (-30, 50, 5),
    "margin_pp": (-5, 5, 1),
    "spend": (-50, 100, 10),
    "cac": (-30, 50, 5),
    "referral": (-50, 100, 10),
}

ctx = start_page("whatif.title")
assert ctx.source and ctx.filters.start and ctx.filters.end  # start_page stopped otherwise
lang, cur = ctx.lang, ctx.currency
as_of = ctx.filters.end
st.caption(t("whatif.intro", lang))
with shown_errors(ctx):
    fitted = loaders.clv(ctx.source, ctx.source_key, as_of, "week", ctx.today)
if not fitted.predicted:  # the levers move the model: without one there is nothing to move
    if fitted.reason == "few_repeat":
        repeat = int((fitted.table["x"] > 0).sum())
        st.warning(
            tn("value.no_model", repeat, lang, n=fmt_count(repeat, lang), needed=MIN_REPEAT_CUSTOMERS),
            icon=":material/warning:",
        )
    else:
        st.warning(t(f"value.model_{fitted.reason or 'no_fit'}", lang), icon=":material/warning:")
    st.stop()

with st.container(border=True):
    name = st.text_input(
        t("whatif.name", lang),
        key="scenario",
        bind="query-params",
        max_chars=60,
        placeholder=t("whatif.name_placeholder", lang),
    )
    moved: dict[str, float] = {}
    # the referral lever where there are referrals to scale; three levers a row
    levers = [lever for lever in LEVERS if lever != "referral" or ctx.source.available("referrals")]
    columns = st.columns(3)
    for i, lever in enumerate(levers):
        column = columns[i % 3]
        low, high, step = RANGES[lever]
        value = column.slider(
            t(f"whatif.lever.{lever}", lang),
            min_value=low,
            max_value=high,
            value=0,
            step=step,
            format=t("whatif.points_format", lang) if lever == "margin_pp" else "%+d%%",
            key=f"wi_{lever}",
            bind="query-params",
            help=t(f"whatif.lever_help.{lever}", lang),
        )
        moved[lever] = (value or 0) / 100
    st.caption(t("whatif.share_hint", lang))

scenario = Scenario(**moved, name=(name or "").strip())
with shown_errors(ctx):
    result = loaders.whatif(ctx.source, ctx.source_key, ctx.filters, as_of, ctx.today, scenario)

title = md(scenario.name) if scenario.name else t("whatif.scenario", lang)
if scenario.is_today:
    st.info(t("whatif.move_a_lever", lang), icon=":material/tune:")


def _shown(figure: str, value: float) -> str:
    return figure_text(figure, value, lang, cur)


def _change(figure: str, now: float, then: float) -> str | None:
    if not (math.isfinite(now) and math.isfinite(then)) or now == then:
        return None
    if figure == "marketing_roi":
        return fmt_change(then - now, "points", lang)
    sign = "+" if then >= now else "-"  # a hyphen: Streamlit reads the arrow's direction from it
    if figure == "leaving_12m":
        return f"{sign}{fmt_count(abs(then - now), lang)}"
    return f"{sign}{fmt_money(abs(then - now), lang, cur, 0)}"


st.subheader(t("whatif.cards_title", lang, name=title))
cards(
    [
        Card(
            t(f"whatif.figure.{figure}", lang),
            _shown(figure, result.scenario[figure]),
            delta=_change(figure, result.today[figure], result.scenario[figure]),
            delta_color="inverse" if figure in ("leaving_12m", "acquisition_spend_12m") else "normal",
            help=t("whatif.today_was", lang, value=_shown(figure, result.today[figure]))
            + (f"  \n{t(f'whatif.help.{figure}', lang)}" if figure in ("leaving_12m", "acquisition_spend_12m") else ""),
        )
        for figure in FIGURES
        if math.isfinite(result.today[figure])
    ]
)

if not result.steps.empty:
    left, right = st.columns(2)
    for column, measure in ((left, "total_clv"), (right, "margin_12m")):
        with column:
            chart(
                whatif_waterfall_figure(
                    result.steps, result.today[measure], result.scenario[measure], measure, lang, cur
                ),
                result.steps.assign(lever=[t(f"whatif.lever.{lever}", lang) for lever in result.steps["lever"]]),
                key=f"whatif_{measure}",
                ctx=ctx,
                page=PAGE,
            )


def payback(months: float) -> str:
    """A new customer's payback in words: "7 mesi", "oltre 24 mesi", — without new customers."""
    if pd.isna(months):
        return NA
    if math.isinf(months):
        return tn("whatif.payback_beyond", PAYBACK_AGES, lang, n=PAYBACK_AGES)
    return tn("whatif.payback", int(months), lang, n=int(months))


if len(result.channels):
    st.subheader(t("whatif.channels_title", lang))
    static_table(
        pd.DataFrame(
            {
                t("col.channel", lang): result.channels["channel"],
                t("whatif.col_roi_today", lang): [fmt_percent(v, lang, 0) for v in result.channels["roi_today"]],
                t("whatif.col_roi_scenario", lang): [fmt_percent(v, lang, 0) for v in result.channels["roi_scenario"]],
                t("whatif.col_payback_today", lang): [payback(v) for v in result.channels["payback_today"]],
                t("whatif.col_payback_scenario", lang): [payback(v) for v in result.channels["payback_scenario"]],
            }
        ),
        lang,
    )
    if result.channels[["payback_today", "payback_scenario"]].isna().any(axis=None):
        st.caption(t("whatif.payback_none", lang))
st.caption(t("whatif.assumptions", lang))
