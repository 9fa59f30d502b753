"""The tables an owner reads at 1440 × 1000 show what matters without scrolling sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ARTIFACTS

GRID = '[data-testid="stDataFrame"]'

#: The data grid is drawn on a canvas; its scroll container (glide-data-grid's ``.dvn-scroller``)
#: says whether the columns are wider than the space they have.
OVERFLOW = """(grid) => {
    const scroller = grid.querySelector('.dvn-scroller');
    return {scroll: scroller.scrollWidth, client: scroller.clientWidth,
            grid: grid.getBoundingClientRect().width};
}"""

#: The grid's accessible copy (a hidden ``table``) names the columns in order.
HEADERS = """(grid) => Array.from(grid.querySelectorAll('table thead th')).map(th => th.textContent.trim())"""


def _settle(page: Page) -> None:
    page.wait_for_timeout(300)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=90_000)


def _grid_fits(page: Page) -> list[str]:
    """The page's first data grid: no horizontal scroll; its column headers."""
    grid = page.locator(GRID).first
    expect(grid).to_be_visible(timeout=90_000)
    grid.locator(".dvn-scroller").wait_for(timeout=30_000)
    _headers_drawn(grid)
    page.wait_for_timeout(500)  # column widths settle after the first paint
    sizes = grid.evaluate(OVERFLOW)
    assert sizes["scroll"] <= sizes["client"] + 1, sizes  # no horizontal scroll
    return list(grid.evaluate(HEADERS))


def _headers_drawn(grid: Locator) -> None:
    """Wait for the grid's accessible copy to name its columns: on a busy machine it comes after
    the canvas (a check right after the first paint once found no header at all)."""
    expect(grid.locator("table thead th").first).to_be_attached(timeout=30_000)


@pytest.mark.parametrize("lang", ["Italiano", "English"])
def test_campaign_table_shows_roi_and_payback_without_scrolling(page: Page, app_url: str, lang: str) -> None:
    page.goto(f"{app_url}/marketing?lang={lang}")
    _settle(page)
    headers = _grid_fits(page)
    if lang == "Italiano":
        assert {"Campagna", "Giudizio", "ROI 1° acquisto", "ROI a oggi", "ROI vita", "Rientro (mesi)"} <= set(headers)
    else:
        assert {"Campaign", "ROI 1st purchase", "ROI to date", "Lifetime ROI", "Payback (months)"} <= set(headers)
    page.screenshot(path=str(ARTIFACTS / f"marketing-table-{lang}.png"), full_page=True)


def test_sales_list_fits_and_the_reason_is_whole(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/opportunita")
    _settle(page)
    headers = _grid_fits(page)
    assert headers[:2] == ["Cliente", "Segmento"]
    assert {"Offerta", "Valore atteso", "Compra ancora", "Perché"} <= set(headers)
    # The reason wraps inside its cell (rows taller than 4rem) instead of being cut.
    assert page.locator(GRID).first.evaluate("(g) => g.getBoundingClientRect().height") > 300
    page.screenshot(path=str(ARTIFACTS / "opportunita-table.png"), full_page=True)


@pytest.mark.parametrize("lang", ["Italiano", "English"])
def test_most_valuable_tables_fit_side_by_side(page: Page, app_url: str, lang: str) -> None:
    """Engagement's two "most valuable" tables, side by side at 1440 px: neither scrolls sideways,
    so the group and the rank are never cut (the CEV table was 508–515 px in 480)."""
    page.goto(f"{app_url}/coinvolgimento?lang={lang}")
    _settle(page)
    group = "Gruppo" if lang == "Italiano" else "Group"
    for key in ("engagement_top_cev", "engagement_top_clv"):
        grid = page.locator(f'[class*="st-key-{key}"] {GRID}').first
        expect(grid).to_be_visible(timeout=90_000)
        grid.locator(".dvn-scroller").wait_for(timeout=30_000)
        _headers_drawn(grid)
        page.wait_for_timeout(500)  # column widths settle after the first paint
        sizes = grid.evaluate(OVERFLOW)
        assert sizes["scroll"] <= sizes["client"] + 1, (key, sizes)
        assert grid.evaluate(HEADERS)[-1] == group
    page.screenshot(path=str(ARTIFACTS / f"engagement-top-{lang}.png"), full_page=True)
