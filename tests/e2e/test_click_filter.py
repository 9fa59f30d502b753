"""Click to filter and the alerts, in headless Chromium: a click on a chart's bar filters the whole
dashboard (sidebar, address, every page) and the chip takes it off; an alert opens the page that
explains it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

from tests.e2e.test_browser import CHART, _settle

SEGMENTS = '[class*="st-key-overview_segments_pick"] .js-plotly-plot'


def _card(page: Page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True)).first
    return card.locator('[data-testid="stMetricValue"]').inner_text()


def _table_revenue(page: Page, segment: str) -> str:
    """The revenue of ``segment`` in the overview's table beside the chart."""
    row = page.locator('[data-testid="stTable"] tr').filter(has=page.get_by_text(segment, exact=True)).first
    return row.locator("td").nth(1).inner_text()


def test_a_click_on_a_bar_filters_every_page_and_the_chip_takes_it_off(page: Page, app_url: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 2400})
    page.goto(app_url)
    page.locator(CHART).first.wait_for(timeout=90_000)
    _settle(page)
    total = _card(page, "Ricavi")
    horeca = _table_revenue(page, "HoReCa")
    assert total != horeca

    chart = page.locator(SEGMENTS)
    chart.scroll_into_view_if_needed()
    labels = chart.locator(".yaxislayer-above .ytick text").all_text_contents()  # bottom to top, as the bars
    bars = chart.locator(".bars .point path")
    assert bars.count() == len(labels) == 4
    box = bars.nth(labels.index("HoReCa")).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    _settle(page)

    # the sidebar's own filter, so the address and the figures follow
    expect(page.locator(".st-key-cruscotto_chips").get_by_role("button", name="HoReCa")).to_be_visible()
    assert parse_qs(urlparse(page.url).query).get("segment") == ["HoReCa"]
    segment = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    expect(segment.get_by_role("button", name="Remove HoReCa")).to_have_count(1)
    expect(
        page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text("Ricavi", exact=True)).first
    ).to_contain_text(horeca)

    # another page keeps it
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Valore clienti").click()
    _settle(page)
    expect(page.get_by_role("heading", name="Valore clienti")).to_be_visible()
    chip = page.locator(".st-key-cruscotto_chips").get_by_role("button", name="HoReCa")
    expect(chip).to_be_visible()
    assert parse_qs(urlparse(page.url).query).get("segment") == ["HoReCa"]

    # the chip takes it off, there and everywhere
    chip.click()
    _settle(page)
    expect(page.locator(".st-key-cruscotto_chips")).to_have_count(0)
    assert "segment" not in parse_qs(urlparse(page.url).query)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Panoramica").click()
    _settle(page)
    expect(
        page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text("Ricavi", exact=True)).first
    ).to_contain_text(total)


def test_an_alert_opens_the_page_that_explains_it(page: Page, app_url: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 1600})
    page.goto(app_url + "/panoramica?segment=HoReCa")
    page.locator(CHART).first.wait_for(timeout=90_000)
    _settle(page)
    alerts = page.locator(".st-key-cruscotto_alerts")
    expect(alerts).to_contain_text("Avvisi")
    risk = alerts.get_by_role("button").filter(has_text="valore dei clienti a rischio")
    expect(risk).to_have_count(1)
    risk.click()
    page.wait_for_url("**/ciclo-di-vita?**", timeout=60_000)
    _settle(page)
    expect(page.get_by_role("heading", name="Ciclo di vita")).to_be_visible()
    # the view's filter goes along
    assert parse_qs(urlparse(page.url).query).get("segment") == ["HoReCa"]
    expect(page.locator(".st-key-cruscotto_chips").get_by_role("button", name="HoReCa")).to_be_visible()


#: the cells of a data grid's accessible copy (a hidden ``table``), row by row
ROWS = """(grid) => Array.from(grid.querySelectorAll('table tbody tr')).map(
    tr => Array.from(tr.querySelectorAll('td')).map(td => td.textContent.trim()))"""


def _choose_row(page: Page, grid_key: str, row: int) -> list[str]:
    """Tick the choosing box of ``row`` (0: the first) of the grid with key ``grid_key``; its cells."""
    grid = page.locator(f'[class*="st-key-{grid_key}"] [data-testid="stDataFrame"]')
    grid.scroll_into_view_if_needed()
    grid.locator(".dvn-scroller").wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    cells = grid.evaluate(ROWS)[row]
    box = grid.bounding_box()
    assert box is not None
    header = grid.locator("table thead tr").first.evaluate("(tr) => tr.getBoundingClientRect().height") or 35
    rows = grid.locator("table tbody tr")
    height = rows.nth(0).evaluate("(tr) => tr.getBoundingClientRect().height") or 35
    page.mouse.click(box["x"] + 17, box["y"] + header + height * row + height / 2)
    return [c for c in cells if c]


def test_a_row_of_customers_opens_the_customers_card(page: Page, app_url: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 1600})
    page.goto(app_url + "/ciclo-di-vita")
    page.locator(CHART).first.wait_for(timeout=90_000)
    _settle(page)
    cells = _choose_row(page, "lifecycle_at_risk", 0)
    _settle(page)
    window = page.get_by_role("dialog")
    expect(window).to_contain_text("Scheda cliente", timeout=30_000)
    name, code, segment = cells[:3]  # as in the row: name, code, segment
    expect(window).to_contain_text(f"{name} ({code}) · {segment}")
    expect(window.locator('[data-testid="stMetric"]')).to_have_count(5)
    expect(window.locator(CHART)).to_have_count(1)  # their orders over time


def test_a_campaign_row_opens_its_detail(page: Page, app_url: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 1600})
    page.goto(app_url + "/marketing")
    page.locator(CHART).first.wait_for(timeout=90_000)
    _settle(page)
    grid = page.locator('[class*="st-key-marketing_table"] [data-testid="stDataFrame"]')
    grid.locator(".dvn-scroller").wait_for(timeout=30_000)
    names: list[str] = []
    for _ in range(40):  # the grid's accessible copy fills in after its first paint
        names = [" ".join(cells) for cells in grid.evaluate(ROWS)]
        if any("Black Friday" in n for n in names):
            break
        page.wait_for_timeout(250)
    row = next(i for i, n in enumerate(names) if "Black Friday" in n)
    _choose_row(page, "marketing_table", row)
    _settle(page)
    detail = page.locator(".st-key-marketing_detail")
    expect(detail).to_contain_text("Campagna «Black Friday Social 2024»")
    expect(detail).to_contain_text("Non ripaga")
    expect(detail.locator(CHART)).to_have_count(1)  # its payback curve
    detail.get_by_role("button", name="Chiudi").click()
    _settle(page)
    expect(page.locator(".st-key-marketing_detail")).to_have_count(0)
    # the row is no longer ticked once its campaign is open: choosing it again opens it again
    _choose_row(page, "marketing_table", row)
    _settle(page)
    expect(page.locator(".st-key-marketing_detail")).to_contain_text("Black Friday Social 2024")


#: where the first point of a chart's first trace is on the page, and the name it carries (Plotly's
#: own axes: a WebGL scatter has no element per point)
FIRST_POINT = """(gd) => { const fl = gd._fullLayout; const tr = gd._fullData[0];
    const r = gd.getBoundingClientRect();
    return {x: r.left + fl._size.l + fl.xaxis.l2p(tr.x[0]), y: r.top + fl._size.t + fl.yaxis.l2p(tr.y[0]),
            name: tr.customdata[0][0]}; }"""


def test_a_customers_point_opens_their_card(page: Page, app_url: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 1400})
    page.goto(app_url + "/coinvolgimento")
    page.locator(CHART).first.wait_for(timeout=90_000)
    _settle(page)
    matrix = page.locator('[class*="st-key-engagement_matrix_pick"] .js-plotly-plot')
    matrix.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    point = matrix.evaluate(FIRST_POINT)
    page.mouse.click(point["x"], point["y"])
    _settle(page)
    window = page.get_by_role("dialog")
    expect(window).to_contain_text("Scheda cliente", timeout=30_000)
    expect(window).to_contain_text(point["name"])
