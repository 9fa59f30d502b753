"""A fault in a real browser: behind the password gate, the PostgreSQL server unreachable at start,
back, gone mid-session and back again. Every step a message in the page, never a traceback; the
database password, the dashboard password and its hash appear neither in the page nor in the
server's log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from data.demo import write_frames
from render.format import fmt_money
from service.passwords import hash_password
from tests.conftest import _url_for
from tests.e2e.conftest import ARTIFACTS, StreamlitServer, server_env
from tests.e2e.test_browser import _settle
from tests.fixtures import MATRIX_REVENUE, matrix_frames
from tests.proxy import CuttableProxy

DB_PASSWORD = "Db-S3cret-7731"
APP_PASSWORD = "apriti-sesamo-42"


@pytest.fixture
def guarded_pg_app(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[StreamlitServer, CuttableProxy, str]]:
    base = sa.engine.make_url(_url_for("postgresql", tmp_path, request, "browser_fault"))
    write_frames(base.render_as_string(hide_password=False), matrix_frames())
    proxy = CuttableProxy(base.host or "127.0.0.1", base.port or 5432)
    # The test cluster trusts local users, so any password is accepted; it is what the app must hide.
    url = base.set(host="127.0.0.1", port=proxy.port, password=DB_PASSWORD).render_as_string(hide_password=False)
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    pw_hash = hash_password(APP_PASSWORD)
    env = server_env(config, CRUSCOTTO_DB_URL=url, CRUSCOTTO_PASSWORD_HASH=pw_hash)
    server = StreamlitServer(env, tmp_path / "streamlit.log")
    try:
        yield server, proxy, pw_hash
    finally:
        proxy.cut()
        server.stop()


def _enter(page: Page) -> None:
    """Pass the password gate."""
    _settle(page)
    field = page.get_by_label("Password", exact=True).and_(page.locator("input"))
    field.fill(APP_PASSWORD)
    expect(field).to_have_value(APP_PASSWORD)
    page.get_by_role("button", name="Entra").click()
    expect(page.get_by_role("heading", name="Cruscotto — accesso riservato")).to_have_count(0, timeout=30_000)
    _settle(page)


def _no_traceback(page: Page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0


def test_database_away_and_back_in_the_browser(
    page: Page, guarded_pg_app: tuple[StreamlitServer, CuttableProxy, str]
) -> None:
    server, proxy, pw_hash = guarded_pg_app
    page.goto(server.url)
    _enter(page)

    # unreachable at start: a message, a retry button, no password
    expect(page.get_by_text("Il database non è raggiungibile")).to_be_visible(timeout=30_000)
    _no_traceback(page)
    page.screenshot(path=str(ARTIFACTS / "fault-unreachable.png"), full_page=True)

    # back: one click
    proxy.restore()
    page.get_by_role("button", name="Riprova").click()
    _settle(page)
    expect(page.get_by_role("heading", name="Panoramica")).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]').first).to_be_visible()
    _no_traceback(page)

    # gone mid-session: a new visitor's link with a segment (with a comma) is served from the
    # figures read before, held in memory — no statement, so no error, and the segment's own figures
    proxy.cut()
    segment = "Ristoranti, hotel"
    page.goto(f"{server.url}/?segment={quote(segment)}")
    _settle(page)
    _enter(page)  # a new browser session passes the gate again
    revenue = page.locator('[data-testid="stMetric"]').filter(has_text="Ricavi").first
    expect(revenue).to_contain_text(fmt_money(MATRIX_REVENUE[segment], "it", decimals=0))
    sidebar = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    expect(sidebar.get_by_role("button", name=f"Remove {segment}")).to_have_count(1)
    expect(page.get_by_text("Il database non è raggiungibile")).to_have_count(0)
    _no_traceback(page)
    proxy.restore()

    html = page.content()
    log = server.output()
    for secret in (DB_PASSWORD, APP_PASSWORD, pw_hash):
        assert secret not in html
        assert secret not in log
    assert "Traceback" not in log, log[-3000:]
