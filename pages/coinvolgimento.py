"""Coinvolgimento: what each customer is worth beyond their own purchases — referrals, reviews and
shares that brought new customers, ideas and feedback (customer engagement value, Kumar et al.)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from data.settings import EngagementParams
from render.charts_engagement import cev_segment_figure, referral_chains_figure, value_matrix_figure
from render.export import file_stem
from render.format import fmt_count, fmt_date, fmt_money, fmt_money_short, fmt_percent
from render.text import md, t, tn
from ui import loaders
from ui.cards import Card, cards
from ui.customer_card import follow_card, opens_card
from ui.shell import shown_errors, start_page
from ui.widgets import chart, static_table, table_downloads, visible_text

PAGE = "page.engagement"

ctx = start_page("engagement.title")
assert ctx.source and ctx.filters.start and ctx.filters.end  # start_page stopped otherwise
lang, cur = ctx.lang, ctx.currency
as_of = ctx.filters.end
params = ctx.settings.engagement if ctx.settings else EngagementParams()
mapped = [n for n in ("referrals", "engagements") if ctx.source.available(n)]

st.caption(t("engagement.intro", lang, as_of=fmt_date(as_of, lang)))
if not mapped:
    st.info(t("engagement.unmapped", lang), icon=":material/link_off:")
    st.stop()
for name in ("referrals", "engagements"):
    if name not in mapped:
        st.caption(f":material/link_off: {t(f'engagement.missing_{name}', lang)}")

f = ctx.filters
with shown_errors(ctx):
    found = loaders.engagement(ctx.source, ctx.source_key, as_of, ctx.today)[2]
    chosen = loaders.engagement_view(ctx.source, ctx.source_key, f, as_of, ctx.today)
if chosen is None:
    st.info(t("empty.customers", lang), icon=":material/filter_alt_off:")
    st.stop()
programme, head, referrers = chosen.programme, chosen.head, chosen.referrers
cards(
    [
        Card(
            t("engagement.card_avg_cev", lang),
            fmt_money(head["avg_cev"], lang, cur, 0),
            help=t("engagement.card_avg_cev_help", lang, clv=fmt_money(chosen.avg_clv, lang, cur, 0)),
        ),
        Card(
            t("engagement.card_share", lang),
            fmt_percent(head["engagement_share"], lang, 0),
            help=t("engagement.card_share_help", lang),
        ),
        Card(
            t("engagement.card_referrers", lang),
            fmt_count(referrers, lang),
            help=tn(
                "engagement.card_referrers_help",
                int(programme["referred_customers"]),
                lang,
                n=fmt_count(programme["referred_customers"], lang),
            ),
        ),
        Card(
            t("engagement.card_programme_roi", lang),
            fmt_percent(programme["roi"], lang, 0),
            help=t(
                "engagement.card_programme_roi_help",
                lang,
                rewards=fmt_money(programme["rewards"], lang, cur, 0),
                crv=fmt_money_short(programme["crv"], lang, cur),
            ),
        ),
        Card(
            t("engagement.card_ckv", lang),
            fmt_money_short(chosen.total_ckv, lang, cur),
            help=t("engagement.card_ckv_help", lang),
        ),
    ]
)

by_segment = chosen.by_segment
left, right = st.columns(2)
with left:
    chart(
        cev_segment_figure(by_segment, lang, cur),
        by_segment,
        key="engagement_segments",
        ctx=ctx,
        page=PAGE,
        pick=("y", "segment"),
    )
with right:
    # every customer would be a million points at a large company: the most valuable, then a sample
    points = chosen.points
    with shown_errors(ctx):
        names = loaders.customer_names(ctx.source, ctx.source_key, tuple(points["customer_id"].tolist()), ctx.today)
    points = points.assign(name=[names.get(c, c) for c in points["customer_id"]])
    chart(
        value_matrix_figure(points, *chosen.medians, lang, cur, shown_of=chosen.customers),
        points[["customer_id", "name", "segment", "clv", "crv", "civ", "civ_estimated", "ckv", "cev"]].assign(
            quadrant=[t(f"engagement.quadrant.{q}", lang) for q in points["quadrant"]]
        ),
        key="engagement_matrix",
        ctx=ctx,
        page=PAGE,
        pick=("customdata", "customer"),
        choices={str(c): c for c in points["customer_id"]},
    )
    follow_card(ctx, PAGE)

quadrants = chosen.quadrants
static_table(
    pd.DataFrame(
        {
            t("engagement.col_quadrant", lang): [t(f"engagement.quadrant.{q}", lang) for q in quadrants.index],
            t("col.customers", lang): [fmt_count(v, lang) for v in quadrants["customers"]],
            t("engagement.col_avg_clv", lang): [fmt_money(v, lang, cur, 0) for v in quadrants["clv"]],
            t("engagement.col_avg_crv", lang): [fmt_money(v, lang, cur, 0) for v in quadrants["crv"]],
            t("engagement.col_action", lang): [t(f"engagement.action.{q}", lang) for q in quadrants.index],
        }
    ),
    lang,
)

st.subheader(t("engagement.undervalued_title", lang))
st.caption(t("engagement.undervalued_intro", lang))
by_cev, by_clv = chosen.by_cev, chosen.by_clv
with shown_errors(ctx):
    names = loaders.customer_names(
        ctx.source, ctx.source_key, tuple(pd.concat([by_cev, by_clv])["customer_id"].unique().tolist()), ctx.today
    )
# Side by side, each table fits half the page at 1440 px without scrolling sideways: the amounts,
# the rank and the group get the width they need, the names the rest (a long one is cut, whole in
# the customer's card).
_TOP_CEV_WIDTHS = (150, 66, 66, 70, 86)  # customer, CEV, CLV, rank by CLV, group
_TOP_CLV_WIDTHS = (190, 70, 70, 90)  # customer, CLV, CEV, group


def _fitted(view: pd.DataFrame, widths: tuple[int, ...]) -> dict[str, Any]:
    return {name: st.column_config.TextColumn(width=w) for name, w in zip(view.columns, widths, strict=True)}


left, right = st.columns(2)
with left:
    st.markdown(f"**{t('engagement.top_cev', lang)}**")
    view = pd.DataFrame(
        {
            t("col.customer", lang): [str(names.get(c, c)) for c in by_cev["customer_id"]],
            "CEV": [fmt_money(v, lang, cur, 0) for v in by_cev["cev"]],
            "CLV": [fmt_money(v, lang, cur, 0) for v in by_cev["clv"]],
            t("engagement.col_clv_rank", lang): [fmt_count(v, lang) for v in by_cev["clv_rank"]],
            t("engagement.col_quadrant", lang): [t(f"engagement.quadrant.{q}", lang) for q in by_cev["quadrant"]],
        }
    )
    st.dataframe(
        visible_text(view),
        hide_index=True,
        column_config=_fitted(view, _TOP_CEV_WIDTHS),
        **opens_card("engagement_top_cev", by_cev["customer_id"].tolist()),
    )
    follow_card(ctx, PAGE)
with right:
    st.markdown(f"**{t('engagement.top_clv', lang)}**")
    view = pd.DataFrame(
        {
            t("col.customer", lang): [str(names.get(c, c)) for c in by_clv["customer_id"]],
            "CLV": [fmt_money(v, lang, cur, 0) for v in by_clv["clv"]],
            "CEV": [fmt_money(v, lang, cur, 0) for v in by_clv["cev"]],
            t("engagement.col_quadrant", lang): [t(f"engagement.quadrant.{q}", lang) for q in by_clv["quadrant"]],
        }
    )
    st.dataframe(
        visible_text(view),
        hide_index=True,
        column_config=_fitted(view, _TOP_CLV_WIDTHS),
        **opens_card("engagement_top_clv", by_clv["customer_id"].tolist()),
    )
    follow_card(ctx, PAGE)
st.caption(f":material/ads_click: {t('table.card_hint', lang)}")
newcomers = by_cev[by_cev["clv_rank"] > chosen.customers // 2]
if len(newcomers):
    st.markdown(
        tn(
            "engagement.undervalued_sentence",
            len(newcomers),
            lang,
            n=fmt_count(len(newcomers), lang),
            name=md(str(names.get(newcomers.iloc[0]["customer_id"], newcomers.iloc[0]["customer_id"]))),
            cev=fmt_money(newcomers.iloc[0]["cev"], lang, cur, 0),
            clv=fmt_money(newcomers.iloc[0]["clv"], lang, cur, 0),
        )
    )

st.subheader(t("engagement.programme_title", lang))
if "referrals" not in mapped or not chosen.referrals:
    st.info(t("engagement.no_referrals", lang), icon=":material/info:")
else:
    st.markdown(
        t(
            "engagement.programme_sentence",
            lang,
            referrals=fmt_count(programme["referrals"], lang),
            bought=fmt_count(programme["referred_customers"], lang),
            window=params.referral_window_months,
            rewards=fmt_money(programme["rewards"], lang, cur, 0),
            created=fmt_money(programme["value_before_rewards"], lang, cur, 0),
            crv=fmt_money(programme["crv"], lang, cur, 0),
            roi=fmt_percent(programme["roi"], lang, 0),
            share=fmt_percent(params.incremental_share, lang, 0),
        )
    )
    chains = chosen.chains
    involved = [*chains["referrer_id"], *(c for people in chains["referred"] for c in people)]
    with shown_errors(ctx):
        chain_names = loaders.customer_names(ctx.source, ctx.source_key, tuple(involved), ctx.today)
    chart(
        referral_chains_figure(chains, chain_names, lang, cur),
        pd.DataFrame(
            {
                "referrer_id": chains["referrer_id"],
                "referrer": [chain_names.get(c, c) for c in chains["referrer_id"]],
                "direct_value": chains["direct"],
                "onward_value": chains["onward"],
                "total_value": chains["total"],
                "referred": [", ".join(str(chain_names.get(c, c)) for c in people) for people in chains["referred"]],
            }
        ),
        key="engagement_chains",
        ctx=ctx,
        page=PAGE,
    )

st.subheader(t("engagement.list_title", lang))
st.caption(t("engagement.list_intro", lang))


source = ctx.source


contacts = chosen.contacts


def _contact_list() -> pd.DataFrame:
    wanted = contacts
    who = loaders.customer_names(source, ctx.source_key, tuple(wanted["customer_id"].tolist()), ctx.today)
    return pd.DataFrame(
        {
            t("col.customer", lang): [who.get(c, c) for c in wanted["customer_id"]],
            "ID": wanted["customer_id"].to_numpy(),
            t("col.segment", lang): wanted["segment"].to_numpy(),
            t("engagement.col_quadrant", lang): [t(f"engagement.quadrant.{q}", lang) for q in wanted["quadrant"]],
            t("engagement.col_action", lang): [t(f"engagement.action.{q}", lang) for q in wanted["quadrant"]],
            "CLV": wanted["clv"].round(2).to_numpy(),
            t("engagement.part.crv", lang): wanted["crv"].round(2).to_numpy(),
            t("engagement.part.civ", lang): wanted["civ"].round(2).to_numpy(),
            t("engagement.part.civ_estimated", lang): wanted["civ_estimated"].round(2).to_numpy(),
            t("engagement.part.ckv", lang): wanted["ckv"].round(2).to_numpy(),
            "CEV": wanted["cev"].round(2).to_numpy(),
        }
    )


table_downloads(
    _contact_list,
    file_stem(t("engagement.list_file", lang), "-".join(f.segments), ctx.today),
    lang,
    key="engagement_list",
)
if found.health:
    excluded = sum(sum(h["excluded"].values()) for h in found.health.values())
    if excluded:
        st.caption(tn("engagement.excluded_rows", excluded, lang, n=fmt_count(excluded, lang)))
