"""Panoramica: the period's figures against the previous period, by month and by segment."""

from __future__ import annotations

import math

import streamlit as st

from kpi.customer_value import clv_overview, select_customers
from kpi.lifecycle import StageRules, stage_counts
from kpi.overview import overview_kpis, safe_ratio, segment_shares
from kpi.registry import KPIS
from kpi.roi import marketing_summary
from ui import loaders
from ui.charts import monthly_revenue_figure, segment_colors, segment_figure
from ui.format import fmt_change, fmt_count, fmt_money, fmt_percent, fmt_value
from ui.i18n import t
from ui.shell import shown_errors, start_page
from ui.widgets import chart

PAGE = "page.overview"
ctx = start_page("overview.title")
assert ctx.source and ctx.filters.start and ctx.filters.end and ctx.first_date  # start_page stopped otherwise
lang = ctx.lang

with shown_errors(ctx):
    args = (ctx.source, ctx.source_key, ctx.filters, ctx.today)
    measures = loaders.period_measures(*args)
    monthly = loaders.monthly_by_segment(*args)
    totals = loaders.segment_totals(*args)

table = overview_kpis(measures)
if monthly.empty:
    st.info(t("empty.orders", lang), icon=":material/filter_alt_off:")
    st.stop()

cards = table.set_index("kpi")
for row_names in (
    ("revenue", "margin", "margin_pct", "orders"),
    ("aov", "active_customers", "new_customers", "repeat_customers"),
):
    for column, name in zip(st.columns(len(row_names)), row_names, strict=True):
        spec, values = KPIS[name], cards.loc[name]
        delta = fmt_change(values["change"], values["change_kind"], lang)
        column.metric(
            spec.label(lang),
            fmt_value(values["value"], spec.format, lang, ctx.currency),
            delta=None if delta == "n/d" else delta,
            delta_color="normal" if spec.higher_is_better else "inverse",
            help=f"{spec.help(lang)}  \n{t('overview.prev_value', lang)}: "
            f"{fmt_value(values['previous'], spec.format, lang, ctx.currency)}",
            border=True,
        )

# Customer value and marketing at the end of this period and of the previous one.
with shown_errors(ctx):
    prev_end = measures.set_index("period").loc["previous", "end"]
    assert ctx.filters.end is not None
    f = ctx.filters
    rules = ctx.settings.lifecycle if ctx.settings else StageRules()
    ends = {"now": ctx.filters.end, "before": prev_end}
    value: dict[str, dict[str, float]] = {}
    # The previous period's end is judged by the model fitted at this period's end, on the history
    # up to then: a change between the two dates is a change in the customers, not in the model.
    anchor = ctx.filters.end
    for when, end in ends.items():
        result = loaders.clv_before(ctx.source, ctx.source_key, end, anchor, ctx.today)
        value[when] = clv_overview(select_customers(result.table, f.segments, f.regions, f.channels))
        roi = loaders.marketing_roi(ctx.source, ctx.source_key, f, end, ctx.today, anchor if end < anchor else None)
        value[when]["marketing_roi"] = (
            marketing_summary(roi)["roi_lifetime"] if roi is not None and len(roi) else math.nan
        )
        stages = loaders.stages_before(ctx.source, ctx.source_key, end, anchor, rules, ctx.today)
        counts = stage_counts(select_customers(stages, f.segments, f.regions, f.channels))
        value[when]["at_risk_customers"] = float(counts["at_risk"])
        value[when]["lapsed_customers"] = float(counts["lapsed"])
names = ["avg_clv", "clv_cac"] + (["marketing_roi"] if ctx.source.available("campaigns") else [])
names += ["at_risk_customers", "lapsed_customers"]
for column, name in zip(st.columns(5), names, strict=False):
    spec = KPIS[name]
    now, before = value["now"][name], value["before"][name]
    if spec.format == "percent":
        delta = fmt_change(now - before, "points", lang)
    else:
        delta = fmt_change(safe_ratio(now - before, abs(before)), "relative", lang)
    column.metric(
        spec.label(lang),
        fmt_value(now, spec.format, lang, ctx.currency),
        delta=None if delta == "n/d" else delta,
        delta_color="normal" if spec.higher_is_better else "inverse",
        help=f"{spec.help(lang)}  \n{t('overview.prev_value', lang)}: "
        f"{fmt_value(before, spec.format, lang, ctx.currency)}",
        border=True,
    )

colors = segment_colors(ctx.options.get("segment", []) or list(monthly["segment"].unique()))
chart(monthly_revenue_figure(monthly, colors, lang, ctx.currency), monthly, key="overview_monthly", ctx=ctx, page=PAGE)

shares = segment_shares(totals)
left, right = st.columns(2)
with left:
    chart(segment_figure(shares, colors, lang, ctx.currency), shares, key="overview_segments", ctx=ctx, page=PAGE)
with right:
    st.subheader(t("overview.table", lang))
    view = shares.assign(
        revenue=shares["revenue"].map(lambda v: fmt_money(v, lang, ctx.currency, 0)),
        margin_pct=shares["margin_pct"].map(lambda v: fmt_percent(v, lang)),
        revenue_share=shares["revenue_share"].map(lambda v: fmt_percent(v, lang)),
        customers=shares["customers"].map(lambda v: fmt_count(v, lang)),
    )[["segment", "revenue", "revenue_share", "margin_pct", "customers"]]
    view.columns = [t(f"col.{c}", lang) for c in ("segment", "revenue", "share", "margin_pct", "customers")]
    st.table(view, hide_index=True)
