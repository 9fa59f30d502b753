"""End to end in headless Chromium: open, filter by segment, switch page, the filter holds."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import ARTIFACTS

CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'


def _settle(page: Page) -> None:
    page.wait_for_timeout(300)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=60_000)


def test_filter_survives_page_switch(page: Page, app_url: str) -> None:
    started = time.perf_counter()
    page.goto(app_url)
    page.locator(CHART).first.wait_for(timeout=90_000)
    first_chart = time.perf_counter() - started
    print(f"time to first chart: {first_chart:.2f} s")
    _settle(page)
    expect(page.get_by_role("heading", name="Panoramica")).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(17)  # ... CEV, engagement, the next 12 months

    # Choose the HoReCa segment in the sidebar.
    segment = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    segment.click()
    page.get_by_role("option", name="HoReCa").click()
    page.keyboard.press("Escape")
    _settle(page)
    expect(segment.get_by_role("button", name="Remove HoReCa")).to_have_count(1)
    assert parse_qs(urlparse(page.url).query).get("segment") == ["HoReCa"]
    legend = page.locator(CHART).first.locator(".legendtext")
    forecast = "Ricavi previsti"
    expect(legend).to_have_text(["HoReCa", "Margine lordo (totale)", forecast])

    # Another page: the filter and the URL hold.
    page.get_by_role("link", name="Qualità dei dati").click()
    _settle(page)
    expect(page.get_by_role("heading", name="Qualità dei dati")).to_be_visible()
    expect(segment.get_by_role("button", name="Remove HoReCa")).to_have_count(1)
    assert parse_qs(urlparse(page.url).query).get("segment") == ["HoReCa"]

    # And back: still HoReCa, and the chart is drawn.
    page.get_by_role("link", name="Panoramica").click()
    _settle(page)
    page.locator(CHART).first.wait_for()
    expect(page.locator(CHART).first.locator(".legendtext")).to_have_text(
        ["HoReCa", "Margine lordo (totale)", forecast]
    )
    expect(page.locator(CHART)).to_have_count(2)
    assert page.locator(".traceback, [data-testid='stException']").count() == 0
    page.screenshot(path=str(ARTIFACTS / "overview-horeca.png"), full_page=True)

    # The customer-value page shows the same segment only.
    page.get_by_role("link", name="Valore clienti").click()
    _settle(page)
    expect(page.get_by_role("heading", name="Valore clienti")).to_be_visible()
    page.locator(CHART).first.wait_for()
    expect(page.locator(CHART).first.locator(".gtitle")).to_contain_text("Metà dei clienti vale meno di")
    expect(page.locator(CHART).nth(1).locator(".gtitle")).to_contain_text("HoReCa")  # the only segment shown
    expect(page.get_by_text("il modello prevedeva")).to_be_visible()
    assert parse_qs(urlparse(page.url).query).get("segment") == ["HoReCa"]
    page.screenshot(path=str(ARTIFACTS / "customer-value-horeca.png"), full_page=True)


def test_shared_link_opens_the_same_view(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/dati?segment=Uffici&lang=English&period=Last+6+months")
    _settle(page)
    expect(page.get_by_role("heading", name="Data health")).to_be_visible()
    sidebar = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    expect(sidebar.get_by_role("button", name="Remove Uffici")).to_have_count(1)
    expect(page.get_by_text("Rows excluded by reason")).to_be_visible()
    # when the figures were read, in the link's language
    read = page.locator('[data-testid="stSidebar"]').get_by_text(re.compile(r"^Figures updated at \d\d:\d\d\.$"))
    expect(read).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "data-health-en.png"), full_page=True)


def test_marketing_page_in_the_browser(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/marketing?segment=HoReCa")
    _settle(page)
    expect(page.get_by_role("heading", name="Marketing", exact=True)).to_be_visible()
    page.locator(CHART).first.wait_for(timeout=60_000)
    expect(page.locator(CHART)).to_have_count(4)
    expect(page.locator(CHART).first.locator(".gtitle")).to_contain_text("clienti che valgono più di quanto costano")
    expect(page.get_by_text("campagne ripagano al primo acquisto")).to_be_visible()
    sidebar = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    expect(sidebar.get_by_role("button", name="Remove HoReCa")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "marketing-horeca.png"), full_page=True)


def test_lifecycle_page_in_the_browser(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/ciclo-di-vita?region=Centro")
    _settle(page)
    expect(page.get_by_role("heading", name="Ciclo di vita", exact=True)).to_be_visible()
    page.locator(CHART).first.wait_for(timeout=90_000)
    expect(page.locator(".sankey")).to_have_count(1)
    expect(page.get_by_role("button", name="Scarica CSV")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Scarica CSV").click()
    path = download.value.path()
    assert path is not None
    raw = Path(path).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Italian Excel reads the file as UTF-8
    text = raw.decode("utf-8-sig")
    # Italian Excel's separator; the customer, then the code, then the segment (headers in Italian)
    assert text.splitlines()[0].startswith("Cliente;Codice cliente;Segmento")
    assert len(text.splitlines()) > 1
    page.screenshot(path=str(ARTIFACTS / "lifecycle-centro.png"), full_page=True)


def test_upsell_list_downloads(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/opportunita?segment=Uffici&lang=English")
    _settle(page)
    expect(page.get_by_role("heading", name="Opportunities", exact=True)).to_be_visible()
    page.locator(CHART).first.wait_for(timeout=90_000)
    buttons = page.get_by_role("button", name="Download Excel")
    expect(buttons).to_have_count(2)  # the proposals, then the customers to ask for a referral
    with page.expect_download() as download:
        buttons.first.click()
    assert download.value.suggested_filename.endswith(".xlsx")
    path = download.value.path()
    assert path is not None
    table = pd.read_excel(path)
    assert len(table) > 0 and set(table["Segment"]) == {"Uffici"}
    assert set(table["Group (engagement)"]) <= {"Champions", "Affluents", "Advocates", "Misers"}
    with page.expect_download() as download:
        buttons.nth(1).click()
    assert download.value.suggested_filename.startswith("ask-for-referral")
    path = download.value.path()
    assert path is not None
    asks = pd.read_excel(path)
    assert len(asks) > 0 and set(asks["Segment"]) == {"Uffici"}
    assert asks["Why"].str.contains("brought someone").all()
    page.screenshot(path=str(ARTIFACTS / "opportunities-uffici.png"), full_page=True)


def test_engagement_page_in_the_browser(page: Page, app_url: str) -> None:
    """The engagement page for one segment: its cards and charts, the value matrix on money ticks,
    the matrix's data and the contact list downloaded and read."""
    page.goto(f"{app_url}/coinvolgimento?segment=HoReCa&lang=English")
    page.locator(CHART).first.wait_for(timeout=90_000)
    _settle(page)
    expect(page.get_by_role("heading", name="Engagement: value beyond purchases")).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(5)
    expect(page.locator(CHART)).to_have_count(3)  # by segment, the value matrix, the referral chains
    matrix = page.locator(CHART).nth(1)
    expect(matrix.locator(".gtitle")).to_contain_text("Purchases and referrals")
    ticks = matrix.locator(".xtick text").all_text_contents()
    assert "€0" in ticks and "€1,000" in ticks, ticks  # powers of ten, read as money
    expect(matrix.locator(".legendtext").first).to_contain_text("Champions")
    expect(page.get_by_text("Whom would we have undervalued?")).to_be_visible()

    # the matrix's data, from its export menu: the segment chosen, the amounts in full
    page.get_by_role("button", name="Export").nth(1).click()
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="CSV", exact=True).click()
    path = download.value.path()
    assert path is not None
    points = pd.read_csv(path)
    assert len(points) > 10 and set(points["Segment"]) == {"HoReCa"}
    assert set(points["Group"]) <= {"Champions", "Affluents", "Advocates", "Misers"}
    assert {"Purchases (CLV)", "Referrals (CRV)", "CEV"} <= set(points.columns)
    page.keyboard.press("Escape")

    # the contact list: the customers to look after, each with the action and the parts of CEV
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download Excel").click()
    path = download.value.path()
    assert path is not None
    people = pd.read_excel(path)
    assert len(people) > 0 and set(people["Segment"]) == {"HoReCa"}
    assert set(people["Group"]) <= {"Champions", "Affluents", "Advocates"}
    parts = people[
        ["CLV", "Referrals (CRV)", "Influence (CIV)", "Influence estimated from reach", "Ideas and feedback (CKV)"]
    ]
    assert (parts.sum(axis=1) - people["CEV"]).abs().max() < 0.05
    assert page.locator(".traceback, [data-testid='stException']").count() == 0
    page.screenshot(path=str(ARTIFACTS / "engagement-horeca-en.png"), full_page=True)


def test_targets_form_saves_a_target(page: Page, app_url: str, app_config: Path) -> None:
    """The overview's targets form: the file beside the settings listed in its table, a value
    edited there; a bad value is named and nothing is saved; a good one is saved to the file (never
    the database) and read back as the target card."""
    saved = app_config.parent / "cruscotto-targets.csv"
    saved.write_text("kpi,period,segment,value\nrevenue,2026,,5\n")
    page.set_viewport_size({"width": 1440, "height": 1600})
    try:
        page.goto(app_url)
        page.locator(CHART).first.wait_for(timeout=90_000)
        _settle(page)
        expect(page.locator('[data-testid="stMetric"]', has_text="Ricavi · 2026")).to_have_count(1)
        form = page.locator('[data-testid="stExpander"]', has_text="Imposta gli obiettivi")
        form.locator("summary").click()
        grid = form.locator('[data-testid="stDataFrame"]')
        grid.scroll_into_view_if_needed()
        page.wait_for_timeout(500)

        def value(text: str) -> None:
            """Type ``text`` into the first row's value, where the table is now (on a busy machine
            the expander may still be opening at the first double click, or the page still growing
            above the table: again, from where the table is then, the cell chosen and edited by
            the grid's own key)."""
            editor = page.locator("#portal textarea, #portal input").first
            for attempt in range(3):
                grid.scroll_into_view_if_needed()  # the page may have grown above it meanwhile
                box = grid.bounding_box()
                assert box is not None
                x, y = box["x"] + box["width"] * 0.9, box["y"] + 52  # the first row, under the header
                if attempt == 0:
                    page.mouse.dblclick(x, y)
                else:  # the cell chosen, then the grid's own key for editing it
                    page.mouse.click(x, y)
                    page.wait_for_timeout(300)
                    page.keyboard.press("Enter")
                try:
                    editor.wait_for(timeout=5_000)
                    break
                except PlaywrightTimeout:
                    if attempt == 2:
                        page.screenshot(path=str(ARTIFACTS / "overview-targets-form-failed.png"), full_page=True)
                        raise
                    page.wait_for_timeout(1_000)
            editor.fill(text)
            editor.press("Tab")  # kept, and the row stays the only one
            page.wait_for_timeout(500)

        value("molti")
        form.get_by_role("button", name="Salva gli obiettivi").click()
        _settle(page)
        expect(form.get_by_text("cruscotto-targets.csv[1].value")).to_be_visible()
        assert saved.read_text() == "kpi,period,segment,value\nrevenue,2026,,5\n"  # nothing saved
        value("1.000.000")
        form.get_by_role("button", name="Salva gli obiettivi").click()
        _settle(page)
        expect(page.get_by_text("Salvato 1 obiettivo.")).to_be_visible()
        assert saved.read_text() == "kpi,period,segment,value\nrevenue,2026,,1000000\n"
        card = page.locator('[data-testid="stMetric"]', has_text="Ricavi · 2026")
        expect(card).to_contain_text("obiettivo € 1,0 Mln")
        page.screenshot(path=str(ARTIFACTS / "overview-targets-form.png"), full_page=True)
    finally:
        saved.unlink(missing_ok=True)


def test_chart_export_downloads_a_png(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/?segment=Privati")
    _settle(page)
    page.locator(CHART).first.wait_for(timeout=90_000)
    page.get_by_role("button", name="Esporta").first.click()
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="PNG").first.click()
    assert download.value.suggested_filename.startswith("panoramica-overview_monthly-privati-")
    path = download.value.path()
    assert path is not None
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_exported_html_renders_offline(page: Page, tmp_path: Path) -> None:
    """The standalone HTML export draws its Plotly chart in Chromium with no network."""
    import plotly.graph_objects as go

    from render.export import figure_bytes

    fig = go.Figure(go.Bar(x=["HoReCa", "Uffici"], y=[3, 2]), layout={"title": {"text": "Esportato"}})
    target = tmp_path / "chart.html"
    target.write_bytes(figure_bytes(fig, "html", "Cruscotto · test"))
    page.route("http*://**", lambda route: route.abort())  # offline: plotly.js must be inside the file
    page.goto(target.as_uri())
    expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=20_000)
    expect(page.locator(".gtitle")).to_have_text("Esportato")
