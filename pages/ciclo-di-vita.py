"""Ciclo di vita: where each customer is, how they move, how cohorts hold, whom to call."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from data.filters import previous_period
from kpi.cohorts import cohort_matrices
from kpi.lifecycle import STAGES
from kpi.overview import safe_ratio
from kpi.registry import KPIS
from render.charts_lifecycle import cohort_figure, stage_flow_figure, stages_over_time_figure
from render.format import fmt_change, fmt_count, fmt_date, fmt_money, fmt_percent
from render.text import t, tn
from service.lifecycle import MOVES_FROM, Moves, Standing, month_ends, moves_from
from ui import loaders
from ui.cards import Card, cards
from ui.customer_card import follow_card, opens_card
from ui.shell import shown_errors, start_page
from ui.widgets import chart, table_downloads, visible_text

PAGE = "page.lifecycle"
ctx = start_page("lifecycle.title")
assert ctx.source and ctx.filters.start and ctx.filters.end and ctx.first_date  # start_page stopped otherwise
lang, cur = ctx.lang, ctx.currency
f = ctx.filters
as_of = f.end
assert as_of is not None and f.start is not None
source = ctx.source
rules = ctx.stage_rules
st.caption(
    t(
        "lifecycle.intro",
        lang,
        as_of=fmt_date(as_of, lang),
        new_days=rules.new_days,
        top=fmt_percent(rules.loyal_top_share, lang, 0),
        active=fmt_percent(rules.active_min, lang, 0),
        lapsed=fmt_percent(rules.lapsed_below, lang, 0),
    )
)


with shown_errors(ctx):
    prospects = loaders.prospects(ctx.source, ctx.source_key, f, as_of, ctx.today)
    previous_end = previous_period(f.start, as_of)[1]
    standing = loaders.lifecycle_view(source, ctx.source_key, f, as_of, previous_end, rules, ctx.today, "standing")
    assert isinstance(standing, Standing)
risk_now, risk_before = standing.at_risk_now, standing.at_risk_before
counts = standing.counts
risk = KPIS["at_risk_value"]
change = fmt_change(safe_ratio(risk_now - risk_before, abs(risk_before)), "relative", lang)
cards(
    [Card(t(f"stage.{stage}", lang), fmt_count(int(counts[stage]), lang)) for stage in STAGES]
    + [Card(t("lifecycle.prospects", lang), fmt_count(prospects, lang), help=t("lifecycle.prospects_help", lang))]
    + [
        Card(
            risk.label(lang),
            fmt_money(risk_now, lang, cur, 0),
            delta=None if change == "n/d" else change,
            delta_color="inverse",
            help=f"{risk.help(lang)}  \n{t('overview.prev_value', lang)}: {fmt_money(risk_before, lang, cur, 0)}",
        )
    ]
)

# Month by month over the selected period, from its start (at most the last 12 month ends).
with shown_errors(ctx):
    history = loaders.stage_history(source, ctx.source_key, month_ends(f.start, as_of), as_of, rules, f, ctx.today)
st.subheader(t("lifecycle.over_time", lang))
chart(
    stages_over_time_figure(history, lang),
    history.rename_axis("month").reset_index(),
    key="lifecycle_over_time",
    ctx=ctx,
    page=PAGE,
    empty="empty.customers",
)

st.subheader(t("lifecycle.flow", lang))
months_back = st.segmented_control(
    t("lifecycle.flow_from", lang),
    list(MOVES_FROM),
    default=MOVES_FROM[0],
    required=True,
    key="lifecycle_months",
    format_func=lambda n: tn("lifecycle.months_ago", n, lang),
)
before_date = moves_from(as_of, int(months_back or MOVES_FROM[0]))
with shown_errors(ctx):
    moved = loaders.lifecycle_view(source, ctx.source_key, f, as_of, before_date, rules, ctx.today, "moves")
    assert isinstance(moved, Moves)
moves = moved.moves
chart(
    stage_flow_figure(moves, lang, fmt_date(before_date, lang), fmt_date(as_of, lang)),
    moves,
    key="lifecycle_flow",
    ctx=ctx,
    page=PAGE,
    empty="empty.flow",
)

st.subheader(t("lifecycle.cohorts", lang))
with shown_errors(ctx):
    activity = loaders.cohort_activity(ctx.source, ctx.source_key, f, as_of, ctx.today)
retention, margin, _sizes = cohort_matrices(activity, max_months=12)
tab_retention, tab_margin = st.tabs([t("lifecycle.retention_tab", lang), t("lifecycle.margin_tab", lang)])
with tab_retention:
    chart(
        cohort_figure(retention.tail(18), lang, "retention", cur),
        retention.reset_index(),
        key="lifecycle_retention",
        ctx=ctx,
        page=PAGE,
        empty="empty.cohorts",
    )
with tab_margin:
    chart(
        cohort_figure(margin.tail(18), lang, "margin", cur),
        margin.reset_index(),
        key="lifecycle_margin",
        ctx=ctx,
        page=PAGE,
        empty="empty.cohorts",
    )

st.subheader(t("lifecycle.at_risk_title", lang))
st.caption(t("lifecycle.at_risk_intro", lang, before=fmt_date(before_date, lang)))
risky = moved.at_risk  # the most at stake first
if risky.empty:
    st.info(t("lifecycle.none_at_risk", lang))
else:
    with shown_errors(ctx):
        names = loaders.customer_names(ctx.source, ctx.source_key, tuple(risky["customer_id"].head(500)), ctx.today)
    export = pd.DataFrame(
        {
            t("col.customer", lang): [names.get(c, c) for c in risky["customer_id"]],
            t("col.customer_id", lang): risky["customer_id"],
            t("col.segment", lang): risky["segment"],
            t("col.last_purchase", lang): risky["last_purchase"].dt.date,
            t("col.p_before", lang): risky["p_before"].round(3),
            t("col.p_alive", lang): risky["p_alive"].round(3),
            t("col.total_clv", lang): risky["total_clv"].round(2),
            t("col.at_stake", lang): risky["at_stake"].round(2),
        }
    )
    view = export.head(100).assign(
        **{
            t("col.last_purchase", lang): [fmt_date(d, lang) for d in export[t("col.last_purchase", lang)].head(100)],
            t("col.p_before", lang): [fmt_percent(v, lang, 0) for v in export[t("col.p_before", lang)].head(100)],
            t("col.p_alive", lang): [fmt_percent(v, lang, 0) for v in export[t("col.p_alive", lang)].head(100)],
            t("col.total_clv", lang): [fmt_money(v, lang, cur, 0) for v in export[t("col.total_clv", lang)].head(100)],
            t("col.at_stake", lang): [fmt_money(v, lang, cur, 0) for v in export[t("col.at_stake", lang)].head(100)],
        }
    )
    shown_ids = risky["customer_id"].head(100).tolist()
    st.dataframe(visible_text(view), hide_index=True, **opens_card("lifecycle_at_risk", shown_ids))
    follow_card(ctx, PAGE)
    st.caption(f":material/ads_click: {t('table.card_hint', lang)}")
    stem = f"clienti-a-rischio-{as_of.isoformat()}" if lang == "it" else f"customers-at-risk-{as_of.isoformat()}"
    table_downloads(export, stem, lang, key="lifecycle")
