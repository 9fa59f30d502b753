"""The dashboard never changes the source: files byte-identical after every page, export and
report; hostile filter values do nothing."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

import cli
from data import queries
from data.demo import write_demo
from data.filters import Filters
from data.settings import Settings
from data.source import Source
from service.report import build_report, render
from tests.conftest import ALL_PAGES, APP

HOSTILE = "x'); DROP TABLE orders; --"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_source_file_is_byte_identical_after_everything(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_settings: Settings
) -> None:
    path = tmp_path / f"source.{kind}"
    url = f"{kind}:///{path}"
    write_demo(url, customers=300, seed=5)
    before = _digest(path)
    config = tmp_path / "cruscotto.toml"
    config.write_text("")
    monkeypatch.setenv("CRUSCOTTO_CONFIG", str(config))
    monkeypatch.setenv("CRUSCOTTO_DB_URL", url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["segment"] = HOSTILE  # not an option: ignored
    at.run()
    assert not at.exception
    for page in ALL_PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    source = Source(settings=default_settings, url=url)
    sections = build_report(source, Filters(start=date(2025, 11, 1), end=date(2026, 10, 31)), "it", date.today())
    assert render(sections, "html", "r", "c")
    for argv in (["check"], ["overview"], ["roi"], ["lifecycle"], ["upsell"]):
        assert cli.main([*argv, "--config", str(config)]) == 0
    source.engine.dispose()
    assert _digest(path) == before


def test_hostile_filter_values_are_just_values(tiny_source: Source) -> None:
    f = Filters(segments=(HOSTILE,), regions=(HOSTILE,), start=date(2024, 7, 1), end=date(2024, 12, 31))
    assert queries.period_measures(tiny_source, f, date(2025, 1, 15)).iloc[0]["revenue"] == 0
    assert queries.monthly_by_segment(tiny_source, f, date(2025, 1, 15)).empty
    with tiny_source.engine.connect() as conn:  # the table is still there
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar() == 18
