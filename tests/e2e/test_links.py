"""Shareable links: every page's address, with filters and language, as the first request after a
server start and as a later one, lands on that page with its filters — no dialog, no error."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import StreamlitServer, server_env

# address → the page's title in Italian and English
PAGES = {
    "panoramica": ("Panoramica", "Overview"),
    "valore": ("Valore clienti", "Customer value"),
    "marketing": ("Marketing", "Marketing"),
    "ciclo-di-vita": ("Ciclo di vita", "Lifecycle"),
    "opportunita": ("Opportunità", "Opportunities"),
    "coinvolgimento": ("Coinvolgimento: il valore oltre gli acquisti", "Engagement: value beyond purchases"),
    "simulatore": ("Simulatore: e se…?", "What-if: what would it be worth?"),
    "dati": ("Qualità dei dati", "Data health"),
}
SEGMENT = "HoReCa"


def _open(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_timeout(500)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=90_000)
    page.wait_for_timeout(500)


def _check_landed(page: Page, address: str, lang: str) -> None:
    title = PAGES[address][0 if lang == "it" else 1]
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=30_000)
    assert urlparse(page.url).path == f"/{address}", page.url
    assert parse_qs(urlparse(page.url).query).get("segment") == [SEGMENT]
    segment = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    # on a busy machine the sidebar's filters may come a little after the heading
    expect(segment.get_by_role("button", name=f"Remove {SEGMENT}")).to_have_count(1, timeout=30_000)
    # the navigation shows the app's page names, not the raw file names
    nav = page.locator('[data-testid="stSidebarNav"]')
    expect(nav.get_by_role("link", name=PAGES["valore"][0 if lang == "it" else 1])).to_be_visible()
    assert nav.get_by_text("opportunita", exact=True).count() == 0
    assert page.get_by_role("dialog").count() == 0, page.get_by_role("dialog").all_inner_texts()
    body = page.locator("body").inner_text()
    assert "Page not found" not in body
    assert "app.py" not in body
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize("address", list(PAGES))
def test_page_link_first_after_restart(browser: Browser, tmp_path: Path, address: str) -> None:
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    server = StreamlitServer(server_env(config), tmp_path / "streamlit.log")
    try:
        lang = "en" if address in ("valore", "dati") else "it"
        query = f"segment={SEGMENT}" + ("&lang=English" if lang == "en" else "")
        first = browser.new_page()
        _open(first, f"{server.url}/{address}?{query}")
        _check_landed(first, address, lang)
        first.close()
        # A reload and a later visitor land the same way.
        later = browser.new_page()
        _open(later, f"{server.url}/{address}?{query}")
        _check_landed(later, address, lang)
        later.reload()
        expect(later.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=90_000)
        _check_landed(later, address, lang)
        later.close()
        assert "Traceback" not in server.output()
    finally:
        server.stop()


def test_bare_address_opens_the_overview_with_the_links_filters(page: Page, app_url: str) -> None:
    _open(page, f"{app_url}/?segment={SEGMENT}&lang=English")
    _check_landed(page, "panoramica", "en")


def test_switching_language_changes_every_widget_on_the_same_rerun(page: Page, app_url: str) -> None:
    _open(page, f"{app_url}/ciclo-di-vita?segment={SEGMENT}&period=Ultimi+6+mesi")
    sidebar = page.locator('[data-testid="stSidebar"]')
    period = sidebar.locator('[data-testid="stSelectbox"]').first.locator("input")
    expect(period).to_have_value("Ultimi 6 mesi", timeout=30_000)
    sidebar.get_by_text("English", exact=True).click()
    page.wait_for_timeout(500)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=90_000)
    expect(period).to_have_value("Last 6 months")
    expect(page.get_by_role("heading", name="Lifecycle", exact=True)).to_be_visible()
    expect(sidebar.get_by_role("link", name="Overview")).to_be_visible()
    assert "Tutti" not in sidebar.inner_text()
    assert parse_qs(urlparse(page.url).query).get("segment") == [SEGMENT]
