"""Marketing: is each campaign paying back, on the first purchase or over the customers' life?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from kpi.customer_value import segment_clv, select_customers
from kpi.engagement import roi_on_engagement
from kpi.registry import KPIS
from kpi.roi import channel_roi, marketing_summary, payback_curves, unknown_conversions
from render.charts_marketing import cac_vs_clv_figure, channel_roi_figure, payback_figure, roi_steps_figure
from render.format import fmt_count, fmt_date, fmt_money, fmt_money_short, fmt_percent, fmt_value
from render.text import chart_text, md, t, tn, verdicts_sentence
from service.report import lead_conversions_unknown
from ui import loaders
from ui.cards import Card, cards
from ui.shell import shown_errors, start_page
from ui.widgets import OPENED, chart, choose_view, picked_key, static_table, visible_text

#: Light tints of the verdict colours, for the table's badge column.
TINTS = {"pays_first": "#D5F0E6", "pays_lifetime": "#D4E6F4", "does_not_pay": "#F8DCCC", "no_spend": "#ECEEF0"}

PAGE = "page.marketing"
ctx = start_page("marketing.title")
assert ctx.source and ctx.filters.start and ctx.filters.end and ctx.first_date  # start_page stopped otherwise
lang, cur = ctx.lang, ctx.currency
f, as_of = ctx.filters, ctx.filters.end
st.caption(t("marketing.intro", lang, as_of=fmt_date(as_of, lang)))

with shown_errors(ctx):
    roi = loaders.marketing_roi(ctx.source, ctx.source_key, f, as_of, ctx.today)

if roi is None:
    # No campaigns: say what to map, and show what the customers table can tell by channel.
    st.warning(t("marketing.no_campaigns", lang), icon=":material/campaign:")
    with shown_errors(ctx):
        value = loaders.clv(ctx.source, ctx.source_key, as_of, "week", ctx.today).table
    by_channel = segment_clv(select_customers(value, f.segments, f.regions, f.channels), by="channel")
    static_table(
        pd.DataFrame(
            {
                t("col.channel", lang): by_channel["channel"],
                t("col.customers", lang): [fmt_count(v, lang) for v in by_channel["customers"]],
                t("col.avg_clv", lang): [fmt_money(v, lang, cur, 0) for v in by_channel["total_clv"]],
            }
        ),
        lang,
        empty="empty.marketing_channels",
    )
    st.stop()

conversions_unknown = lead_conversions_unknown(ctx.source)
if conversions_unknown:  # leads without customer_id: their conversion is unknown, not 0 %
    roi = unknown_conversions(roi)
total = marketing_summary(roi)
roi_to_date, roi_lifetime = KPIS["marketing_roi_to_date"], KPIS["marketing_roi"]
cards(
    [
        Card(t("marketing.card_spend", lang), fmt_money_short(total["spend"], lang, cur)),
        Card(t("marketing.card_customers", lang), fmt_count(total["customers"], lang)),
        Card(t("marketing.card_cac", lang), fmt_money(total["cac"], lang, cur, 0)),
        Card(roi_to_date.label(lang), fmt_percent(total["roi_to_date"], lang, 0), help=roi_to_date.help(lang)),
        Card(roi_lifetime.label(lang), fmt_percent(total["roi_lifetime"], lang, 0), help=roi_lifetime.help(lang)),
    ]
)
st.markdown(verdicts_sentence(int(total["pays_first"]), int(total["pays_lifetime"]), int(total["does_not_pay"]), lang))

st.subheader(t("marketing.table", lang))
if roi.empty:
    # A filter whose customers came from no campaign: one clear sentence instead of an empty table
    # and four empty charts.
    st.info(t("empty.marketing", lang), icon=":material/filter_alt_off:")
    st.stop()

# What decides (verdict, spend, customers, CAC, ROI, payback) fits a 1440 px screen without scrolling;
# the lead funnel and CLV : CAC go to a second table under it.
columns = {  # column key → (values, width in pixels)
    "col.campaign": (roi["name"], 170),
    "col.verdict": ([t(f"verdict.{v}", lang) for v in roi["verdict"]], 196),
    "col.spend": ([fmt_money(v, lang, cur, 0) for v in roi["spend"]], 72),
    "col.customers": ([fmt_count(v, lang) for v in roi["customers"]], 70),
    "col.cac": ([fmt_money(v, lang, cur, 0) for v in roi["cac"]], 52),
    "col.roi_first": ([fmt_percent(v, lang, 0) for v in roi["roi_first"]], 108),
    "col.roi_to_date": ([fmt_percent(v, lang, 0) for v in roi["roi_to_date"]], 80),
    "col.roi_lifetime": ([fmt_percent(v, lang, 0) for v in roi["roi_lifetime"]], 80),
    "col.payback": ([fmt_count(v, lang) for v in roi["payback_months"]], 116),
}
view = visible_text(pd.DataFrame({t(key, lang): values for key, (values, _) in columns.items()}))
tint = {t(f"verdict.{v}", lang): c for v, c in TINTS.items()}
styled = view.style.map(lambda v: f"background-color: {tint.get(v, 'white')}", subset=[t("col.verdict", lang)])
ids = roi["campaign_id"].tolist()


table_key = picked_key("marketing_table", "campaign")  # a new table once a campaign is opened


def _open_campaign() -> None:
    """A row chosen in the table opens its campaign below it."""
    rows = st.session_state[table_key]["selection"]["rows"]
    if rows and rows[0] < len(ids):
        choose_view({}, ("campaign", ids[rows[0]]))


def _close_campaign() -> None:
    st.session_state[OPENED["campaign"]] = None


st.dataframe(
    styled,
    hide_index=True,
    key=table_key,
    width="stretch",
    column_config={t(key, lang): st.column_config.TextColumn(width=width) for key, (_, width) in columns.items()},
    on_select=_open_campaign,
    selection_mode="single-row",
)
st.caption(f":material/ads_click: {t('marketing.pick_hint', lang)}")
with shown_errors(ctx):
    monthly = loaders.campaign_monthly_margin(ctx.source, ctx.source_key, f, as_of, ctx.today)
    starts = loaders.campaigns(ctx.source, ctx.source_key, ctx.today)[["campaign_id", "start_date"]]
curves = payback_curves(roi.merge(starts, on="campaign_id", how="left"), monthly)

opened = st.session_state.get(OPENED["campaign"])
if opened is not None and opened in ids:
    one = roi[roi["campaign_id"] == opened]
    row = one.iloc[0]
    with st.container(border=True, key="marketing_detail"):
        head, close = st.columns([6, 1], vertical_alignment="center")
        head.subheader(t("marketing.detail_title", lang, name=md(row["name"])))
        close.button(
            t("marketing.detail_close", lang),
            icon=":material/close:",
            key="marketing_detail_close",
            on_click=_close_campaign,
        )
        payback, verdict = row["payback_months"], t(f"verdict.{row['verdict']}", lang)
        line = f"**{verdict}** · {t('col.channel', lang)}: {md(row['channel'])}"
        if pd.notna(payback):
            line += " · " + tn("marketing.detail_payback", int(payback), lang, n=int(payback))
        st.markdown(line)
        cards(
            [
                Card(t("col.spend", lang), fmt_money(row["spend"], lang, cur, 0)),
                Card(t("col.customers", lang), fmt_count(row["customers"], lang)),
                Card(t("col.cac", lang), fmt_money(row["cac"], lang, cur, 0)),
                Card(t("col.roi_first", lang), fmt_percent(row["roi_first"], lang, 0)),
                Card(t("col.roi_to_date", lang), fmt_percent(row["roi_to_date"], lang, 0)),
                Card(t("col.roi_lifetime", lang), fmt_percent(row["roi_lifetime"], lang, 0)),
            ]
        )
        mine = curves[curves["campaign_id"] == opened]
        chart(
            payback_figure(mine, one, lang),
            mine,
            key="marketing_detail_payback",
            ctx=ctx,
            page=PAGE,
            empty="empty.marketing_spend",
        )
engaged = ctx.source.available("referrals") or ctx.source.available("engagements")
if engaged:  # the customers' engagement value counts too (Coinvolgimento)
    with shown_errors(ctx):
        engaged_sums = loaders.engagement_by_campaign(ctx.source, ctx.source_key, f, as_of, ctx.today)
    roi = roi.assign(roi_cev=roi_on_engagement(roi, engaged_sums).to_numpy())
with st.expander(t("marketing.leads_details", lang), icon=":material/contact_page:"):
    st.dataframe(
        visible_text(
            pd.DataFrame(
                {
                    t("col.campaign", lang): roi["name"],
                    t("col.channel", lang): roi["channel"],
                    t("col.leads", lang): [fmt_count(v, lang) for v in roi["leads"]],
                    t("col.cost_per_lead", lang): [fmt_money(v, lang, cur, 2) for v in roi["cost_per_lead"]],
                    t("col.conversion_rate", lang): [fmt_percent(v, lang) for v in roi["conversion_rate"]],
                    t("col.clv_cac", lang): [fmt_value(v, "ratio", lang) for v in roi["clv_cac"]],
                }
                | ({t("col.roi_cev", lang): [fmt_percent(v, lang, 0) for v in roi["roi_cev"]]} if engaged else {})
            )
        ),
        hide_index=True,
        key="marketing_leads_table",
        width="stretch",
    )
    if conversions_unknown:
        st.caption(t("marketing.conversion_unknown", lang))

left, right = st.columns(2)
with left:
    chart(
        cac_vs_clv_figure(roi, lang, cur),
        roi,
        key="marketing_scatter",
        ctx=ctx,
        page=PAGE,
        empty="empty.marketing_customers",
        pick=("trace", "campaign"),
        choices={chart_text(name): cid for name, cid in zip(roi["name"], roi["campaign_id"], strict=True)},
    )
with right:
    chart(roi_steps_figure(roi, lang), roi, key="marketing_steps", ctx=ctx, page=PAGE, empty="empty.marketing_spend")

chart(
    payback_figure(curves, roi, lang),
    curves,
    key="marketing_payback",
    ctx=ctx,
    page=PAGE,
    empty="empty.marketing_spend",
)

st.subheader(t("marketing.channels", lang))
channels = channel_roi(roi)
chart(
    channel_roi_figure(channels, lang),
    channels,
    key="marketing_channels",
    pick=("y", "channel"),
    ctx=ctx,
    page=PAGE,
    empty="empty.marketing_spend",
)
