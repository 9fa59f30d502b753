"""Cruscotto: the entry point. Page config, language, navigation, the shared sidebar filters."""

from __future__ import annotations

import streamlit as st

from ui.i18n import t
from ui.shell import build_context, choose_language

st.set_page_config(page_title="Cruscotto", page_icon=":material/speed:", layout="wide")

lang = choose_language()

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
        st.Page(
            "pages/marketing.py", title=t("page.marketing", lang), icon=":material/campaign:", url_path="marketing"
        ),
    ],
    t("nav.data", lang): [
        st.Page("pages/data_health.py", title=t("page.health", lang), icon=":material/fact_check:", url_path="dati"),
    ],
}
# Register the pages before any query runs: a cold first load may take seconds, and the browser
# must already know the page its address names.
page = st.navigation(pages)
build_context(lang)
page.run()
