"""A customer's card: value to date and to come, whether they still buy, tickets, their step on the
product ladder with the next offer, and their orders over time. On Customer value under its top
table; on the other pages in a window over the page, opened by choosing a row of a customer table."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from render.charts_value import customer_timeline_figure
from render.format import fmt_count, fmt_money, fmt_percent
from render.text import md, t
from ui import loaders
from ui.cards import Card, cards
from ui.shell import AppContext, shown_errors
from ui.widgets import OPENED, chart, choose_view, picked_key

__all__ = ["customer_card", "follow_card", "opens_card"]


def _status(p: float, lang: str) -> str:
    return t("status.active" if p >= 0.7 else "status.at_risk" if p >= 0.3 else "status.lapsed", lang)


def customer_card(ctx: AppContext, row: pd.Series, as_of: date, page: str, key: str, wait: bool = False) -> None:
    """The card of the customer of ``row`` (a row of the CLV table) as of ``as_of``. The ladder line
    needs the offers of every customer: unless ``wait`` (in a window, which a rerun would close),
    the card says they are being made and draws them when they are ready."""
    lang, cur = ctx.lang, ctx.currency
    assert ctx.source is not None
    picked = row["customer_id"]
    cards(
        [
            Card(t("col.total_clv", lang), fmt_money(row["total_clv"], lang, cur, 0)),
            Card(t("value.historical", lang), fmt_money(row["historical_clv"], lang, cur, 0)),
            Card(t("value.residual", lang), fmt_money(row["residual_clv"], lang, cur, 0)),
            Card(
                t("value.status", lang),
                _status(float(row["p_alive"]), lang),
                help=t("value.status_help", lang, p=fmt_percent(row["p_alive"], lang, 0)),
            ),
            Card(t("col.tickets", lang), fmt_count(row["tickets"], lang)),
        ]
    )
    with shown_errors(ctx):
        orders = loaders.customer_orders(ctx.source, ctx.source_key, picked, as_of, ctx.today)
    ready = (ctx.source, ctx.source_key, as_of, ctx.stage_rules, ctx.today)
    if wait or loaders.upsell_ready(*ready):
        _ladder(ctx, picked, as_of)
    else:

        @st.fragment(run_every=2)
        def later() -> None:
            if loaders.upsell_ready(*ready):
                st.rerun()  # the whole page: the card draws the line itself now
            st.markdown(f"**{t('value.ladder', lang)}:** {t('value.offers_pending', lang)}")

        later()
    chart(customer_timeline_figure(orders, lang, cur), orders, key=key, ctx=ctx, page=page)


def _ladder(ctx: AppContext, picked: Any, as_of: date) -> None:
    """The customer's step on the product ladder and their best offer."""
    lang, cur = ctx.lang, ctx.currency
    assert ctx.source is not None
    with shown_errors(ctx):
        offers = loaders.upsell(ctx.source, ctx.source_key, as_of, ctx.stage_rules, ctx.today)
    if offers is not None:
        candidates, funnel = offers
        step, name = loaders.ladder_position(ctx.source, ctx.source_key, picked, as_of, ctx.today)
        top = int(funnel["step"].max()) if not funnel.empty else 0
        ladder = (
            t("value.ladder_position", lang, step=int(step), top=top, name=md(name))
            if step
            else t("value.ladder_none", lang)
        )
        mine = candidates[candidates["customer_id"] == picked]
        if not mine.empty:
            best = mine.iloc[0]
            ladder += " · " + t(
                "value.next_offer",
                lang,
                offer=md(best["offer_name"]),
                value=fmt_money(best["expected_value"], lang, cur, 0),
            )
        st.markdown(f"**{t('value.ladder', lang)}:** {ladder}")


def opens_card(key: str, ids: list[Any]) -> dict[str, Any]:
    """``st.dataframe``'s key and arguments that make a chosen row open that customer's card: in a
    window over the page (``follow_card``, called after the table), or on Customer value under the
    table. ``ids``: the customers, row by row; ``key``: the table's own name. Once opened the row is
    no longer ticked (a new key), so choosing it again opens the card again."""
    table = picked_key(key, "customer")

    def chosen() -> None:
        rows = st.session_state[table]["selection"]["rows"]
        if rows and rows[0] < len(ids):
            choose_view({}, ("customer", ids[rows[0]]))

    return {"key": table, "on_select": chosen, "selection_mode": "single-row"}


def follow_card(ctx: AppContext, page: str) -> None:
    """The card of the customer just chosen in a table made by ``opens_card``, in a window."""
    chosen = st.session_state.pop(OPENED["customer"], None)
    if chosen is None or ctx.source is None or ctx.filters.end is None:
        return
    as_of = ctx.filters.end

    @st.dialog(t("value.card_title", ctx.lang), width="large")
    def window() -> None:
        assert ctx.source is not None
        with shown_errors(ctx):
            table = loaders.clv(ctx.source, ctx.source_key, as_of, "week", ctx.today).table
            names = loaders.customer_names(ctx.source, ctx.source_key, (chosen,), ctx.today)
        row = table[table["customer_id"] == chosen]
        if row.empty:
            st.info(t("value.card_missing", ctx.lang))
            return
        st.markdown(f"**{md(names.get(chosen, chosen))}** ({md(chosen)}) · {md(row.iloc[0]['segment'])}")
        customer_card(ctx, row.iloc[0], as_of, page, key="card_window_timeline", wait=True)

    window()
