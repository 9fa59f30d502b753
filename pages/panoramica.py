"""Panoramica: the period's figures against the previous period, by month and by segment."""

from __future__ import annotations

import math

import streamlit as st

from kpi.overview import headline, overview_kpis, safe_ratio, segment_shares
from kpi.registry import KPIS
from render.charts import monthly_revenue_figure, segment_colors, segment_figure
from render.format import fmt_change, fmt_count, fmt_money, fmt_money_short, fmt_percent, fmt_value
from render.text import headline_text, t, tn
from service.alerts import unknown_rule_segments, unmeasured_rules
from service.targets import CURRENT, month_targets, target_rows, unknown_segments
from ui import loaders
from ui.cards import Card, cards, target_card
from ui.shell import shown_errors, start_page
from ui.targets_form import targets_form
from ui.widgets import alerts_list, chart, markdown_safe

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

# Customer value and marketing at the end of this period and of the previous one; the alerts.
with shown_errors(ctx):
    prev_end = measures.set_index("period").loc["previous", "end"]
    f = ctx.filters
    anchor = ctx.filters.end
    engaged = ctx.source.available("referrals") or ctx.source.available("engagements")
    figures = loaders.value_figures(ctx.source, ctx.source_key, f, prev_end, ctx.today)
    value = {"now": figures.now, "before": figures.before}
    to_stop = list(figures.to_stop)
    stamp = loaders.targets_stamp(ctx.settings)
    found_alerts = loaders.alerts(ctx.source, ctx.source_key, f, ctx.today, stamp)

# One sentence on how the business is going, then the figures.
news = headline(table, int(value["now"]["at_risk_customers"]), int(value["before"]["at_risk_customers"]), to_stop)
st.markdown(headline_text(news, lang, ctx.currency))
alerts_list(ctx, found_alerts, here="panoramica")
for rule in unknown_rule_segments(ctx.source.settings.alerts, ctx.options.get("segment", [])):
    listed = ", ".join(sorted(ctx.options.get("segment", [])))
    st.warning(
        t("alerts.unknown_segment", lang, where=rule.origin, name=rule.segment, names=listed),
        icon=":material/notifications_off:",
    )
for rule, needed in unmeasured_rules(ctx.source):
    st.warning(
        t("alerts.unmeasured", lang, where=f"{rule.origin}.kpi", kpi=KPIS[rule.kpi].label(lang), table=needed),
        icon=":material/notifications_off:",
    )


def _card(name: str, now: float, before: float, change: float, kind: str) -> Card:
    spec = KPIS[name]
    delta = fmt_change(change, kind, lang)
    return Card(
        spec.label(lang),
        fmt_value(now, spec.format, lang, ctx.currency),
        delta=None if delta == "n/d" else delta,
        delta_color="normal" if spec.higher_is_better else "inverse",
        help=f"{spec.help(lang)}  \n{t('overview.prev_value', lang)}: "
        f"{fmt_value(before, spec.format, lang, ctx.currency)}",
    )


by_kpi = table.set_index("kpi")
period_cards = [
    _card(name, row["value"], row["previous"], row["change"], row["change_kind"]) for name, row in by_kpi.iterrows()
]
names = ["avg_clv", "clv_cac"]
if engaged:
    names[1:1] = ["avg_cev", "engagement_share"]
if ctx.source.available("campaigns"):
    names += ["marketing_roi_to_date", "marketing_roi"]
names += ["at_risk_customers", "lapsed_customers"]
value_cards = []
for name in names:
    now, before = value["now"][name], value["before"][name]
    if KPIS[name].format == "percent":
        value_cards.append(_card(name, now, before, now - before, "points"))
    else:
        value_cards.append(_card(name, now, before, safe_ratio(now - before, abs(before)), "relative"))
# The coming months, when the period reaches the last data: the forecast from its end, judged by
# its backtest. A period that ends earlier has its "coming months" in the history already.
ahead = None
data_end = min(anchor, ctx.last_date) if ctx.last_date else anchor  # the forecast starts where the data ends
if ctx.last_date is not None and anchor >= ctx.last_date:
    with shown_errors(ctx):
        ahead = loaders.forecast(ctx.source, ctx.source_key, f, data_end, ctx.today)
if ahead is not None:
    total = ahead.totals["revenue"]
    months_ahead = ctx.source.settings.forecast.months  # whole months, after the current month's rest
    if ahead.errors is not None:
        judged = tn(
            "overview.forecast_backtest",
            len(ahead.backtest) if ahead.backtest is not None else 0,
            lang,
            n=len(ahead.backtest) if ahead.backtest is not None else 0,
            total=fmt_percent(abs(ahead.errors["revenue"]["total"]), lang, 0),
            monthly=fmt_percent(ahead.errors["revenue"]["monthly"], lang, 0),
        )
    else:
        judged = t("overview.forecast_no_backtest", lang)
    value_cards.append(
        Card(
            tn("overview.forecast_card", months_ahead, lang, n=months_ahead),
            fmt_money_short(total["value"], lang, ctx.currency),
            help=t(
                "overview.forecast_card_help",
                lang,
                low=fmt_money_short(total["low"], lang, ctx.currency),
                high=fmt_money_short(total["high"], lang, ctx.currency),
            )
            + "  \n"
            + judged,
        )
    )
cards(period_cards + value_cards)

# The owner's targets for the year of the period's end ([[targets]] in the settings).
found = loaders.targets(ctx.source, ctx.source_key, ctx.today, stamp)
targets = found.targets
for problem in found.problems:  # a row of the form's file or the source's table that is left out
    st.warning(f"{t('error.fix_key', lang)}: `{problem.key}`  \n{problem.localized(lang)}", icon=":material/flag:")
for where, target in unknown_segments(targets, ctx.options.get("segment", [])):
    listed = ", ".join(sorted(ctx.options.get("segment", [])))
    st.warning(
        t("targets.unknown_segment", lang, where=where, name=target.segment, names=listed), icon=":material/flag:"
    )
if targets:
    today_values = {k: value["now"].get(k, math.nan) for k in CURRENT}
    facts_now = loaders.facts(ctx.source, ctx.source_key, ctx.today)
    rows = target_rows(facts_now, f, targets, data_end, ahead, today_values)
    yearly = rows[rows["period"].str.len() == 4]
    if len(yearly):
        st.subheader(t("targets.title", lang, year=data_end.year))
        cards([target_card(row, lang, ctx.currency) for row in yearly.itertuples()])
        st.caption(t("targets.legend", lang))
    elif f.regions or f.channels:
        st.caption(t("targets.not_for_filters", lang))
targets_form(found, ctx.options.get("segment", []), lang)

colors = segment_colors(ctx.options.get("segment", []) or list(monthly["segment"].unique()))
chart(
    monthly_revenue_figure(
        monthly,
        colors,
        lang,
        ctx.currency,
        ahead.table if ahead is not None else None,
        month_targets(targets, f) if targets else None,
    ),
    monthly,
    key="overview_monthly",
    pick=("trace", "segment"),
    ctx=ctx,
    page=PAGE,
)

shares = segment_shares(totals)
left, right = st.columns(2)
with left:
    chart(
        segment_figure(shares, colors, lang, ctx.currency),
        shares,
        key="overview_segments",
        ctx=ctx,
        page=PAGE,
        pick=("y", "segment"),
    )
with right:
    st.subheader(t("overview.table", lang))
    view = shares.assign(
        revenue=shares["revenue"].map(lambda v: fmt_money(v, lang, ctx.currency, 0)),
        margin_pct=shares["margin_pct"].map(lambda v: fmt_percent(v, lang)),
        revenue_share=shares["revenue_share"].map(lambda v: fmt_percent(v, lang)),
        customers=shares["customers"].map(lambda v: fmt_count(v, lang)),
    )[["segment", "revenue", "revenue_share", "margin_pct", "customers"]]
    view.columns = [t(f"col.{c}", lang) for c in ("segment", "revenue", "share", "margin_pct", "customers")]
    st.table(markdown_safe(view), hide_index=True)
