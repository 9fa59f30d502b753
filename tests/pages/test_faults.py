"""Faults in the pages: an empty source, one month of data, a runaway query, the database unreachable
at start and going away mid-session — each a clear word and no traceback, and back when the cause is
gone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from data.demo import DATE_COLUMNS, build_demo_frames, write_frames
from data.settings import load_settings
from tests.conftest import ALL_PAGES, APP, _url_for
from tests.fixtures import tiny_frames
from tests.proxy import CuttableProxy
from tests.test_faults import SLOW_ORDERS
from ui import loaders


def _frames(kind: str) -> dict:  # type: ignore[type-arg]
    frames = build_demo_frames(300, seed=3)
    if kind == "empty":
        return {name: table.iloc[0:0] for name, table in frames.items()}
    orders = frames["orders"]
    frames["orders"] = orders[(orders["order_date"] >= "2026-10-01") & (orders["order_date"] <= "2026-10-31")]
    return frames


@pytest.mark.parametrize("kind", ["empty", "one_month"])
def test_every_page_says_what_it_can(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    write_frames(url, _frames(kind), DATE_COLUMNS)
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    notices = []
    for page in ALL_PAGES:
        at.switch_page(page).run()
        assert not at.exception, (kind, page, [e.value for e in at.exception])
        notices += [n.value for n in (*at.info, *at.warning)]
    if kind == "empty":
        assert any("Nessun ordine" in n for n in notices)
    else:
        assert any("almeno sei mesi di storico" in n for n in notices)  # the model check needs history
        assert any("Il modello predittivo non è stimabile" in n for n in notices)


def _error_text(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def test_a_runaway_query_is_stopped_and_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    write_frames(url, tiny_frames())
    config = tmp_path / "cruscotto.toml"
    slow = SLOW_ORDERS["sqlite"]
    config.write_text(f'[source]\nstatement_timeout_s = 0.5\n[entities.orders]\nsql = "{slow}"\n')
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = _error_text(at)
    assert "La query è stata fermata" in text and "0.5 s" in text and "statement_timeout_s" in text
    # the cause goes away (the mapping is fixed): the retry button shows the figures
    config.write_text("")
    at.button(key="cruscotto_retry").click().run()
    assert not at.exception and not at.error
    assert len(at.metric) >= 4


def test_the_database_going_away_and_coming_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    base = sa.engine.make_url(_url_for("postgresql", tmp_path, request, "away"))
    write_frames(base.render_as_string(hide_password=False), tiny_frames())
    proxy = CuttableProxy(base.host or "127.0.0.1", base.port or 5432)
    url = base.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    at = AppTest.from_file(APP, default_timeout=60)
    try:
        # unreachable at start
        at.run()
        assert not at.exception
        assert "Il database non è raggiungibile" in _error_text(at)
        # back: one click on the retry button and the page is there
        proxy.restore()
        at.button(key="cruscotto_retry").click().run()
        assert not at.exception and not at.error
        revenue = [m.value for m in at.metric]
        assert revenue
        # gone mid-session: a filter change is served from the facts in memory, with no statement
        proxy.cut()
        at.multiselect(key="segment").select(at.multiselect(key="segment").options[0]).run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, _error_text(at)
        filtered = [m.value for m in at.metric]
        assert filtered and filtered != revenue  # the segment's own figures
        # the figures grow old while the database is away: the pages go on with those in hand, and
        # the sidebar says that reading them again failed
        offset = loaders.TTL + 1
        monkeypatch.setattr(loaders.SHARED, "clock", lambda: time.monotonic() + offset)
        at.run()
        assert not at.exception and not at.error, _error_text(at)
        assert [m.value for m in at.metric] == filtered
        key = loaders.source_key(url, load_settings())
        deadline = time.monotonic() + 60
        while loaders.renewal_failed(key) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        at.run()
        assert not at.exception and not at.error and [m.value for m in at.metric] == filtered
        assert any("non è riuscita" in w.value for w in at.sidebar.warning)
        # the day's figures are gone (a new day, a restart) while the database is away: the next
        # read says so
        loaders.SHARED.clear()
        st.cache_data.clear()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert "Il database non è raggiungibile" in _error_text(at)
        # back again
        proxy.restore()
        at.button(key="cruscotto_retry").click().run()
        assert not at.exception and not at.error
        assert [m.value for m in at.metric] == filtered
    finally:
        proxy.cut()
