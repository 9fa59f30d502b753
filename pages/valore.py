"""Valore clienti: what each customer has earned us and is expected to, and how far to trust it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from kpi.clv import MIN_REPEAT_CUSTOMERS
from kpi.customer_value import select_customers
from kpi.summary import TIME_UNITS
from render.charts import segment_colors
from render.charts_value import (
    clv_cac_figure,
    clv_distribution_figure,
    clv_segment_figure,
    holdout_figure,
    p_alive_map_figure,
)
from render.format import fmt_change, fmt_count, fmt_date, fmt_money, fmt_money_short, fmt_percent, fmt_value
from render.text import t, tn
from ui import loaders
from ui.cards import Card, cards
from ui.customer_card import customer_card, opens_card
from ui.shell import shown_errors, start_page
from ui.widgets import OPENED, chart, visible_text

PAGE = "page.value"
ctx = start_page("value.title")
assert ctx.source and ctx.filters.start and ctx.filters.end and ctx.first_date  # start_page stopped otherwise
lang, cur = ctx.lang, ctx.currency
business = ctx.settings.business if ctx.settings else None
as_of = ctx.filters.end
unit = st.session_state.get("clv_unit", "week")

with shown_errors(ctx):
    result = loaders.clv(ctx.source, ctx.source_key, as_of, unit, ctx.today)
    check = loaders.clv_holdout(ctx.source, ctx.source_key, ctx.first_date, as_of, unit, ctx.today)

st.caption(
    t(
        "value.intro",
        lang,
        months=business.clv_horizon_months if business else 36,
        rate=fmt_percent(business.annual_discount_rate if business else 0.1, lang, 0),
        as_of=fmt_date(as_of, lang),
    )
)
if result.notice and result.reason == "few_repeat":
    repeat = int((result.table["x"] > 0).sum())
    st.warning(
        tn("value.no_model", repeat, lang, n=fmt_count(repeat, lang), needed=MIN_REPEAT_CUSTOMERS),
        icon=":material/warning:",
    )
elif result.notice:
    st.warning(t(f"value.model_{result.reason or 'no_fit'}", lang), icon=":material/warning:")
if result.unvalued:
    st.info(tn("value.unvalued", result.unvalued, lang, n=fmt_count(result.unvalued, lang)), icon=":material/info:")

f = ctx.filters
with shown_errors(ctx):
    chosen = loaders.value_view(ctx.source, ctx.source_key, f, as_of, unit, ctx.today)
if chosen is None:
    st.info(t("empty.customers", lang), icon=":material/filter_alt_off:")
    st.stop()
table = select_customers(result.table, f.segments, f.regions, f.channels)  # for the exports
head = chosen.head
figures = (
    ("value.card_avg_clv", fmt_money(head["avg_clv"], lang, cur, 0)),
    ("value.card_hist", fmt_money(head["avg_historical"], lang, cur, 0)),
    ("value.card_future", fmt_money_short(head["future_margin"], lang, cur)),
    ("value.card_alive", fmt_count(head["alive"], lang)),
    ("value.card_clv_cac", fmt_value(head["clv_cac"], "ratio", lang)),
)
customers = int(head["customers"])
cards(
    [
        Card(t(key, lang), value, help=tn(key + "_help", customers, lang, n=fmt_count(customers, lang)))
        if key == "value.card_alive"
        else Card(t(key, lang), value, help=t(key + "_help", lang))
        for key, value in figures
    ]
)

colors = segment_colors(ctx.options.get("segment", []) or chosen.segments)
left, right = st.columns(2)
with left:
    histogram = clv_distribution_figure(chosen.histogram, colors, lang, cur)
    chart(histogram, table, key="value_distribution", ctx=ctx, page=PAGE)
with right:
    by_segment = chosen.by_segment
    chart(
        clv_segment_figure(by_segment, colors, lang, cur),
        by_segment,
        key="value_segments",
        pick=("y", "segment"),
        ctx=ctx,
        page=PAGE,
    )

left, right = st.columns(2)
with left:
    group = st.segmented_control(
        t("value.group_by", lang),
        ["channel", "segment"],
        format_func=lambda g: t(f"value.by_{g}", lang),
        default="channel",
        required=True,
        key="value_cac_by",
    )
    by_group = by_segment if group == "segment" else chosen.by_channel
    chart(clv_cac_figure(by_group, lang), by_group, key="value_clv_cac", ctx=ctx, page=PAGE, empty="value.no_cac")
with right:
    if result.bgnbd is not None:
        max_x = int(min(max(chosen.repeat_95, 5), 40))
        max_t = chosen.longest
        alive_map = p_alive_map_figure(result.bgnbd, max_x, max_t, t(f"unit.{unit}", lang), lang)
        chart(alive_map, table[["customer_id", "x", "t_x", "T", "p_alive"]], key="value_alive", ctx=ctx, page=PAGE)

st.subheader(t("value.check", lang))
if isinstance(check, str):
    st.info(t("value.holdout_none", lang) if check == "history" else t("value.holdout_failed", lang, reason=check))
else:
    start = (
        pd.Timestamp(as_of) - pd.Timedelta(days=round(check.holdout_length * TIME_UNITS[unit])) + pd.Timedelta(days=1)
    )
    diff = (check.predicted - check.actual) / check.actual if check.actual else float("nan")
    st.markdown(
        t(
            "value.holdout_sentence",
            lang,
            cal=fmt_date((start - pd.Timedelta(days=1)).date(), lang),
            start=fmt_date(start.date(), lang),
            end=fmt_date(as_of, lang),
            predicted=fmt_count(check.predicted, lang),
            actual=fmt_count(check.actual, lang),
            diff=fmt_change(diff, "relative", lang),
            mae=f"{check.mean_absolute_error:.2f}".replace(".", "," if lang == "it" else "."),
        )
    )
    left, right = st.columns([3, 2])
    with left:
        chart(holdout_figure(check.by_frequency, lang), check.by_frequency, key="value_holdout", ctx=ctx, page=PAGE)

st.subheader(t("value.top_title", lang))
top = chosen.top
# a customer chosen in a table here or on another page: their card opens below
opened = st.session_state.pop(OPENED["customer"], None)
if opened is not None and bool((table["customer_id"] == opened).any()):
    st.session_state["value_customer"] = opened
choices = top["customer_id"].tolist()
current = st.session_state.get("value_customer")
if current is not None and current not in choices and bool((table["customer_id"] == current).any()):
    choices = [current, *choices]  # kept while their card is open, though not among the top 50
with shown_errors(ctx):
    names = loaders.customer_names(ctx.source, ctx.source_key, tuple(choices), ctx.today)


view = pd.DataFrame(
    {
        t("col.customer", lang): [f"{names.get(c, c)}" for c in top["customer_id"]],
        t("col.segment", lang): top["segment"],
        t("col.margin_to_date", lang): [fmt_money(v, lang, cur, 0) for v in top["margin_to_date"]],
        t("col.service_cost", lang): [fmt_money(v, lang, cur, 0) for v in top["service_cost"]],
        t("col.acquisition_cost", lang): [fmt_money(v, lang, cur, 0) for v in top["acquisition_cost"]],
        t("col.p_alive", lang): [fmt_percent(v, lang, 0) for v in top["p_alive"]],
        t("col.expected_12m", lang): [fmt_value(v, "ratio", lang) for v in top["expected_purchases_12m"]],
        t("col.residual", lang): [fmt_money(v, lang, cur, 0) for v in top["residual_clv"]],
        t("col.total_clv", lang): [fmt_money(v, lang, cur, 0) for v in top["total_clv"]],
    }
)
st.dataframe(
    visible_text(view),
    hide_index=True,
    height=320,
    **opens_card("value_top", top["customer_id"].tolist()),
)
st.caption(f":material/ads_click: {t('table.card_hint_here', lang)}")

st.subheader(t("value.card_title", lang))
picked = st.selectbox(
    t("value.pick_customer", lang), choices, format_func=lambda c: f"{names.get(c, c)} ({c})", key="value_customer"
)
if picked is not None:
    customer_card(ctx, table[table["customer_id"] == picked].iloc[0], as_of, PAGE, key="value_timeline")

with st.expander(t("value.model", lang)):
    st.selectbox(
        t("value.unit", lang),
        list(TIME_UNITS),
        format_func=lambda u: t(f"unit.{u}", lang),
        key="clv_unit",
        index=list(TIME_UNITS).index(unit),
    )
    if result.bgnbd is not None and result.gamma_gamma is not None:
        m, g = result.bgnbd, result.gamma_gamma
        st.caption(
            t(
                "value.model_params",
                lang,
                r=f"{m.r:.4f}",
                alpha=f"{m.alpha:.4f}",
                a=f"{m.a:.4f}",
                b=f"{m.b:.4f}",
                ll=f"{m.log_likelihood:,.2f}",
                p=f"{g.p:.3f}",
                q=f"{g.q:.3f}",
                gamma=f"{g.gamma:.2f}",
                customers=fmt_count(m.customers, lang),
                repeat=fmt_count(m.repeat_customers, lang),
            )
        )
