"""Opportunità: whom to offer what next, ranked by expected value, as a list sales can take."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from kpi.customer_value import select_customers
from kpi.lifecycle import STAGES
from render.charts import segment_colors
from render.charts_upsell import funnel_figure, offer_value_figure
from render.format import fmt_count, fmt_date, fmt_money, fmt_money_short, fmt_percent
from render.text import t, tn
from service.upsell import UpsellChoice, shown_offers
from ui import loaders
from ui.cards import Card, cards
from ui.customer_card import follow_card, opens_card
from ui.shell import shown_errors, start_page
from ui.widgets import chart, table_downloads, visible_text

PAGE = "page.upsell"
ctx = start_page("upsell.title")
assert ctx.source and ctx.filters.start and ctx.filters.end and ctx.first_date  # start_page stopped otherwise
lang, cur = ctx.lang, ctx.currency
f, as_of, source = ctx.filters, ctx.filters.end, ctx.source
assert as_of is not None
rules = ctx.stage_rules
st.caption(t("upsell.intro", lang, as_of=fmt_date(as_of, lang)))

with shown_errors(ctx):
    options = loaders.upsell_options(source, ctx.source_key, f, as_of, rules, ctx.today)
if options is None:
    st.warning(t("upsell.missing", lang), icon=":material/inventory_2:")
    st.stop()
with shown_errors(ctx):
    result = loaders.upsell(source, ctx.source_key, as_of, rules, ctx.today)
assert result is not None
candidates, funnel = result

left, middle, right = st.columns(3)
stages = left.multiselect(
    t("upsell.filter_stage", lang),
    options[0],
    format_func=lambda s: t(f"stage.{s}", lang),
    key="upsell_stage",
    placeholder=t("filter.placeholder", lang),
)
offers = middle.multiselect(
    t("upsell.filter_offer", lang),
    options[1],
    key="upsell_offer",
    placeholder=t("filter.placeholder", lang),
)
# whole euros: no decimal point to read against the page's decimal comma ("0.00" in Italian)
minimum = right.number_input(
    t("upsell.filter_min", lang), min_value=0.0, value=0.0, step=10.0, format="%.0f", key="upsell_min"
)
engaged = source.available("referrals") or source.available("engagements")
group: pd.Series | None = None
advocates_first = False
if engaged:  # the customers who bring customers (Coinvolgimento) come first when asked
    with shown_errors(ctx):
        group = loaders.engagement_groups(source, ctx.source_key, as_of, ctx.today)
    advocates_first = st.toggle(
        t("upsell.advocates_first", lang),
        value=True,
        key="upsell_advocates",
        help=t("upsell.advocates_first_help", lang),
    )
choice = UpsellChoice(tuple(stages), tuple(offers), float(minimum), bool(advocates_first))
with shown_errors(ctx):
    picked = loaders.upsell_view(source, ctx.source_key, f, as_of, rules, ctx.today, choice)
assert picked is not None
shown = picked.first  # the first offers, in order (the whole list is made when downloaded)

cards(
    [
        Card(t("upsell.card_candidates", lang), fmt_count(picked.offers, lang)),
        Card(t("upsell.card_customers", lang), fmt_count(picked.customers, lang)),
        Card(t("upsell.card_value", lang), fmt_money_short(picked.value, lang, cur)),
    ]
)


def _reason(row: pd.Series) -> str:
    share = fmt_percent(row["adoption"], lang, 0)
    if row["source"] == "ladder":
        if not row["because"]:
            return t("upsell.reason_ladder_start", lang, share=share, segment=row["segment"], offer=row["offer_name"])
        return t(
            "upsell.reason_ladder",
            lang,
            share=share,
            segment=row["segment"],
            current=row["because"],
            offer=row["offer_name"],
        )
    lift = f"{row['lift']:.1f}".replace(".", ",") if lang == "it" else f"{row['lift']:.1f}"
    return t(
        "upsell.reason_affinity",
        lang,
        share=share,
        segment=row["segment"],
        current=row["because"],
        offer=row["offer_category"],
        lift=lift,
    )


def _reasons(table: pd.DataFrame) -> np.ndarray:
    """One sentence per row, written once per distinct reason (a few hundred for any size) and
    spread to the rows by index lookup, not by a Python loop over the rows."""
    keys = ["source", "segment", "because", "offer_name", "offer_category", "adoption", "lift"]
    plain = table[keys].astype(object).where(table[keys].notna(), None)  # NaN never equals itself: use None
    distinct = plain.drop_duplicates()
    text = np.array([_reason(pd.Series(row, index=keys)) for row in distinct.itertuples(index=False)], dtype=object)
    marker = "\x00"  # None-safe labels for the index lookup
    where = pd.MultiIndex.from_frame(distinct.fillna(marker)).get_indexer(
        pd.MultiIndex.from_frame(plain.fillna(marker))
    )
    return text[where]


st.subheader(t("upsell.list", lang))
if shown.empty:
    st.info(t("upsell.none", lang))
else:
    with shown_errors(ctx):
        names = loaders.customer_names(source, ctx.source_key, tuple(shown["customer_id"].head(2000)), ctx.today)

    def _export(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                # Names are text: an id without a name is written as text too (filling a text column
                # with numbers, or a column of no names with text, makes pandas warn).
                t("col.customer", lang): np.array([names.get(c, str(c)) for c in rows["customer_id"]], dtype=object),
                t("col.segment", lang): rows["segment"].to_numpy(),
                # one customer per row: the stage in the singular ("Fedele"), not the group's name
                t("col.stage", lang): rows["stage"].map({s: t(f"stage_one.{s}", lang) for s in STAGES}).to_numpy(),
                t("col.offer", lang): rows["offer_name"].to_numpy(),
                t("col.expected_value", lang): rows["expected_value"].round(2).to_numpy(),
                t("col.p_alive", lang): rows["p_alive"].round(3).to_numpy(),
                t("col.why", lang): _reasons(rows),
                t("col.source", lang): rows["source"]
                .map({s: t(f"upsell.source_{s}", lang) for s in ("ladder", "affinity")})
                .to_numpy(),
                "customer_id": rows["customer_id"].to_numpy(),
            }
            | (
                {
                    t("col.engagement_group", lang): rows["customer_id"]
                    .map(group)
                    .map(lambda q: t(f"engagement.quadrant.{q}", lang) if isinstance(q, str) else "")
                    .to_numpy()
                }
                if group is not None
                else {}
            )
        )

    # the page shows the first 200; the whole list is written only when it is downloaded
    export = _export(shown.head(200))
    view = export.head(200).assign(
        **{
            t("col.p_alive", lang): [fmt_percent(v, lang, 0) for v in export[t("col.p_alive", lang)].head(200)],
            t("col.expected_value", lang): [
                fmt_money(v, lang, cur, 0) for v in export[t("col.expected_value", lang)].head(200)
            ],
        }
    )
    # What sales need fits 1440 px without scrolling sideways; the reason wraps on up to three lines
    # (Streamlit wraps text when a row is taller than 4rem). The source and the id stay in the files.
    widths: dict[str, int] = {
        "col.customer": 160,
        "col.segment": 90,
        "col.stage": 100,  # "Reactivated" on one line
        "col.offer": 140,
        "col.expected_value": 95,
        "col.p_alive": 100,
        "col.why": 250,  # and the row-choosing column
    }
    st.dataframe(
        visible_text(view),
        hide_index=True,
        **opens_card("upsell_table", shown["customer_id"].head(200).tolist()),
        width="stretch",
        height=520,
        row_height=72,
        column_order=[t(key, lang) for key in widths],
        column_config={
            **{t(key, lang): st.column_config.TextColumn(width=w) for key, w in widths.items()},
            t("col.p_alive", lang): st.column_config.TextColumn(
                t("col.still_buying", lang), width=100, help=t("col.p_alive", lang)
            ),
            t("col.expected_value", lang): st.column_config.TextColumn(
                width=95, help=t("upsell.expected_value_help", lang)
            ),
        },
    )
    follow_card(ctx, PAGE)
    st.caption(f":material/ads_click: {t('table.card_hint', lang)}")
    stem = f"{'opportunita' if lang == 'it' else 'opportunities'}-{as_of.isoformat()}"
    table_downloads(
        lambda: _export(
            shown_offers(candidates, f, choice, loaders.advocates(source, ctx.source_key, as_of, ctx.today))
        ),
        stem,
        lang,
        key="upsell",
    )

left, right = st.columns(2)
with left:
    st.subheader(t("upsell.funnel", lang))
    segments = set(f.segments) if f.segments else None
    shown_funnel = funnel[funnel["segment"].isin(segments)] if segments else funnel
    colors = segment_colors(ctx.options.get("segment", []) or list(funnel["segment"].unique()))
    chart(
        funnel_figure(shown_funnel, colors, lang),
        shown_funnel,
        key="upsell_funnel",
        ctx=ctx,
        page=PAGE,
        empty="upsell.no_ladder" if funnel.empty else "empty.customers",
    )
with right:
    st.subheader(t("upsell.by_offer", lang))
    by_offer = picked.by_offer  # what the chart draws: the expected value per offer
    chart(
        offer_value_figure(by_offer, lang, cur), by_offer, key="upsell_offers", ctx=ctx, page=PAGE, empty="upsell.none"
    )

if engaged:
    st.subheader(t("upsell.asks_title", lang))
    st.caption(t("upsell.asks_intro", lang))
    with shown_errors(ctx):
        ranked = loaders.referral_asks(source, ctx.source_key, as_of, ctx.today)
    asks = select_customers(ranked, f.segments, f.regions, f.channels)
    asks = asks[(asks["expected_value"] > 0) & (asks["expected_value"] >= minimum)]  # the same threshold
    if asks.empty:
        st.info(t("upsell.none", lang))
    else:
        st.markdown(
            tn(
                "upsell.asks_count",
                len(asks),
                lang,
                n=fmt_count(len(asks), lang),
                value=fmt_money(float(asks["expected_value"].sum()), lang, cur, 0),
            )
        )
        with shown_errors(ctx):
            ask_names = loaders.customer_names(source, ctx.source_key, tuple(asks["customer_id"].head(2000)), ctx.today)

        def _why(row: pd.Series) -> str:
            key = "upsell.asks_why" if row["peers"] == "segment" else "upsell.asks_why_all"
            return t(
                key,
                lang,
                rate=fmt_percent(row["referral_rate"], lang, 0),
                segment=str(row["segment"]),
                value=fmt_money(row["value_per_referrer"], lang, cur, 0),
            )

        def _asks(rows: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame(
                {
                    t("col.customer", lang): np.array(
                        [ask_names.get(c, str(c)) for c in rows["customer_id"]], dtype=object
                    ),
                    t("col.segment", lang): rows["segment"].to_numpy(),
                    "CLV": rows["clv"].round(2).to_numpy(),
                    t("col.p_alive", lang): rows["p_alive"].round(3).to_numpy(),
                    t("col.expected_value", lang): rows["expected_value"].round(2).to_numpy(),
                    t("col.why", lang): np.array([_why(r) for _, r in rows.iterrows()], dtype=object),
                    "customer_id": rows["customer_id"].to_numpy(),
                }
            )

        top = _asks(asks.head(100))
        view = top.assign(
            CLV=[fmt_money(v, lang, cur, 0) for v in top["CLV"]],
            **{
                t("col.p_alive", lang): [fmt_percent(v, lang, 0) for v in top[t("col.p_alive", lang)]],
                t("col.expected_value", lang): [fmt_money(v, lang, cur, 0) for v in top[t("col.expected_value", lang)]],
            },
        ).drop(columns=["customer_id"])
        st.dataframe(
            visible_text(view),
            hide_index=True,
            key="upsell_asks",
            width="stretch",
            height=400,
            row_height=72,  # the reason wraps (Streamlit wraps text in rows taller than 4rem), as above
            column_config={
                t("col.customer", lang): st.column_config.TextColumn(width=160),
                t("col.segment", lang): st.column_config.TextColumn(width=90),
                "CLV": st.column_config.TextColumn(width=80),
                t("col.p_alive", lang): st.column_config.TextColumn(
                    t("col.still_buying", lang), width=100, help=t("col.p_alive", lang)
                ),
                t("col.expected_value", lang): st.column_config.TextColumn(width=95),
                t("col.why", lang): st.column_config.TextColumn(width=380),
            },
        )
        table_downloads(
            lambda: _asks(asks), f"{t('upsell.asks_file', lang)}-{as_of.isoformat()}", lang, key="upsell_asks"
        )
