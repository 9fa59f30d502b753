"""Cruscotto: the entry point. Page config, language, navigation, the shared sidebar filters."""

from __future__ import annotations

import streamlit as st

from ui.access import gate, is_open
from ui.i18n import t
from ui.shell import build_context, choose_language
from ui.widgets import report_controls

st.set_page_config(page_title="Cruscotto", page_icon=":material/speed:", layout="wide")

lang = choose_language()

# (file, title key, Material icon, address) per section of the navigation.
SECTIONS = {
    "nav.dashboard": [
        ("pages/overview.py", "page.overview", "dashboard", "panoramica"),
        ("pages/customer_value.py", "page.value", "diamond", "valore"),
        ("pages/marketing.py", "page.marketing", "campaign", "marketing"),
        ("pages/lifecycle.py", "page.lifecycle", "cycle", "ciclo-di-vita"),
        ("pages/upsell.py", "page.upsell", "trending_up", "opportunita"),
    ],
    "nav.data": [("pages/data_health.py", "page.health", "fact_check", "dati")],
}
pages = {
    t(section, lang): [
        st.Page(file, title=t(title, lang), icon=f":material/{icon}:", url_path=url, default=url == "panoramica")
        for file, title, icon, url in entries
    ]
    for section, entries in SECTIONS.items()
}
# Register the pages before any query runs: a cold first load may take seconds, and the browser
# must already know the page its address names.
page = st.navigation(pages, position="sidebar" if is_open() else "hidden")
gate(lang)  # a password or OIDC login when configured; open for the local demo
context = build_context(lang)
report_controls(context)
page.run()
