"""Cruscotto: the entry point. Page config, language, navigation, the shared sidebar filters."""

from __future__ import annotations

import streamlit as st

from render.text import t
from ui.access import gate, is_open
from ui.loaders import read_ahead
from ui.shell import build_context, choose_language, page_turn, requested_language
from ui.widgets import report_controls

st.set_page_config(page_title="Cruscotto", page_icon=":material/speed:", layout="wide")

# The language before any widget exists: the switch's state, else the link's ``lang``.
lang = requested_language()

# (file, title key, Material icon, address) per section of the navigation. Each file is named
# after its address: see ui.shell._hand_over_to_app for why.
SECTIONS = {
    "nav.dashboard": [
        ("pages/panoramica.py", "page.overview", "dashboard", "panoramica"),
        ("pages/valore.py", "page.value", "diamond", "valore"),
        ("pages/marketing.py", "page.marketing", "campaign", "marketing"),
        ("pages/ciclo-di-vita.py", "page.lifecycle", "cycle", "ciclo-di-vita"),
        ("pages/opportunita.py", "page.upsell", "trending_up", "opportunita"),
        ("pages/coinvolgimento.py", "page.engagement", "volunteer_activism", "coinvolgimento"),
        ("pages/simulatore.py", "page.whatif", "tune", "simulatore"),
    ],
    "nav.data": [("pages/dati.py", "page.health", "fact_check", "dati")],
}
pages = {
    t(section, lang): [
        st.Page(file, title=t(title, lang), icon=f":material/{icon}:", url_path=url)
        for file, title, icon, url in entries
    ]
    for section, entries in SECTIONS.items()
}
overview = pages[t("nav.dashboard", lang)][0]


def _home() -> None:
    """The bare address opens the overview at its own address, keeping the filters of the link."""
    st.switch_page(overview, query_params={key: st.query_params.get_all(key) for key in st.query_params})


# The overview has its own address (/panoramica), like every page; the bare address is a hidden
# default page that leads there. Pages are registered before any query runs: a cold first load
# may take seconds, and the browser must already know the page its address names.
home = st.Page(_home, title=t("page.overview", lang), url_path="inizio", default=True, visibility="hidden")
page = st.navigation({"": [home], **pages}, position="sidebar" if is_open() else "hidden")
if page is home:
    page.run()  # before any widget is bound to the address: the redirect keeps every parameter
lang = choose_language()
gate(lang)  # a password or OIDC login when configured; open for the local demo
with page_turn(lang):  # a fair share of the server: a few page runs at a time, in turn by visitor
    context = build_context(lang)
    report_controls(context)
    try:
        page.run()
    finally:
        if context.source is not None and context.problem is None:
            rules = context.stage_rules
            read_ahead(context.source, context.source_key, context.today, context.filters, rules)
