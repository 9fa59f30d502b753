"""Cruscotto: the entry point. Page config, shared sidebar filters, navigation."""

from __future__ import annotations

import streamlit as st

from ui.i18n import t
from ui.shell import build_context

st.set_page_config(page_title="Cruscotto", page_icon=":material/speed:", layout="wide")

ctx = build_context()
lang = ctx.lang

pages = {
    t("nav.dashboard", lang): [
        st.Page(
            "pages/overview.py",
            title=t("page.overview", lang),
            icon=":material/dashboard:",
            url_path="panoramica",
            default=True,
        ),
        st.Page("pages/customer_value.py", title=t("page.value", lang), icon=":material/diamond:", url_path="valore"),
    ],
    t("nav.data", lang): [
        st.Page("pages/data_health.py", title=t("page.health", lang), icon=":material/fact_check:", url_path="dati"),
    ],
}
st.navigation(pages).run()
