"""Every page on an empty source and on a source with one month of data: a clear word, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data.demo import DATE_COLUMNS, build_demo_frames, write_frames
from tests.conftest import ALL_PAGES, APP


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
