"""Figure cards show their whole value at a laptop's and a small screen's width, in both languages."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import ARTIFACTS

# An element is cut when its content is wider than its box (the metric ellipsis "1.126,9…").
CUT_VALUES = """() => {
  const cut = [];
  for (const value of document.querySelectorAll('[data-testid="stMetricValue"]')) {
    for (const el of [value, ...value.querySelectorAll('*')]) {
      if (el.scrollWidth > el.clientWidth + 1) { cut.push(value.innerText); break; }
    }
  }
  return cut;
}"""
LABEL_CUT = """() => [...document.querySelectorAll('[data-testid="stMetricLabel"]')]
  .filter(l => [l, ...l.querySelectorAll('*')].some(el => el.scrollWidth > el.clientWidth + 1))
  .map(l => l.innerText)"""


@pytest.mark.parametrize("width", [1440, 1024])
@pytest.mark.parametrize("lang", ["Italiano", "English"])
def test_no_card_value_is_cut(browser: Browser, app_url: str, width: int, lang: str) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    for address in ("panoramica", "valore", "marketing", "ciclo-di-vita", "opportunita"):
        page.goto(f"{app_url}/{address}?lang={lang}&period=Tutto+lo+storico")
        page.wait_for_timeout(500)
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=90_000)
        values = page.locator('[data-testid="stMetricValue"]')
        expect(values.first).to_be_visible(timeout=30_000)
        # the cards of a row arrive one by one (the page's run may not show as running yet)
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=\"stMetricValue\"]').length >= 3", timeout=30_000
        )
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=90_000)
        assert values.count() >= 3, address
        assert page.evaluate(CUT_VALUES) == [], (address, width, lang)
        assert page.evaluate(LABEL_CUT) == [], (address, width, lang)
        if address == "panoramica":
            page.screenshot(path=str(ARTIFACTS / f"cards-{width}-{lang}.png"), full_page=True)
    page.close()
