"""A key the database declares unique (a primary key, a unique constraint or a unique index of that
one column): found on every engine, and the cleaning then skips the repeated-id rule — the rule
cannot find a repeat there — with the same figures, rows and exclusions as when it looks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from data import facts as fx
from data.demo import DATE_COLUMNS, build_demo_frames, demo_keys, write_frames
from data.entities import ENTITIES
from data.filters import Filters
from data.queries import cleaned
from data.settings import Settings, load_settings
from data.source import Source
from data.staging import LocalCopy
from service import compute
from tests.conftest import ENGINES, _url_for

#: Spark SQL declares no unique key (the demo writes none there)
KINDS = tuple(kind for kind in ENGINES if kind != "spark")
TODAY = date(2026, 11, 23)
KEYED = {"order_lines", "leads", "tickets", "referrals", "engagements"}


@pytest.fixture(scope="module")
def pairs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, default_settings: Settings
) -> dict[str, tuple[Source, Source]]:
    """The demo company on each engine twice: with the keys the demo declares, and without any."""
    frames = build_demo_frames(customers=250, seed=13)
    out = {}
    for kind in KINDS:
        keyed = _url_for(kind, tmp_path_factory.mktemp(f"keyed_{kind}"), request, "keyed")
        plain = _url_for(kind, tmp_path_factory.mktemp(f"plain_{kind}"), request, "plain")
        write_frames(keyed, frames, DATE_COLUMNS, keys=demo_keys(frames))
        write_frames(plain, frames, DATE_COLUMNS)
        out[kind] = (Source(settings=default_settings, url=keyed), Source(settings=default_settings, url=plain))
    return out


def test_the_demo_declares_the_keys_whose_ids_never_repeat() -> None:
    frames = build_demo_frames(customers=250, seed=13)
    assert demo_keys(frames) == {name: ENTITIES[name].key for name in KEYED}
    # the orders and customers repeat a few ids on purpose: the data health page shows them
    for name in ("orders", "customers"):
        assert not frames[name][ENTITIES[name].key].is_unique


@pytest.mark.parametrize("kind", KINDS)
def test_declared_keys_are_found_on_every_engine(pairs: dict[str, tuple[Source, Source]], kind: str) -> None:
    keyed, plain = pairs[kind]
    for name in ENTITIES:
        if not keyed.available(name):
            continue
        assert keyed.entity(name).unique_key is (name in KEYED), (kind, name)
        assert plain.entity(name).unique_key is False, (kind, name)


@pytest.mark.parametrize("kind", KINDS)
def test_the_rule_is_not_sent_for_a_declared_key(pairs: dict[str, tuple[Source, Source]], kind: str) -> None:
    keyed, plain = pairs[kind]

    def sql(source: Source, name: str) -> str:
        return str(cleaned(source.entity(name), TODAY).compile(source.engine)).lower()

    assert "row_number" not in sql(keyed, "order_lines")
    assert "row_number" in sql(plain, "order_lines")
    assert "row_number" in sql(keyed, "orders")  # not declared: its repeated ids are found


@pytest.mark.parametrize("kind", KINDS)
def test_the_figures_are_the_same_with_and_without_the_rule(pairs: dict[str, tuple[Source, Source]], kind: str) -> None:
    keyed, plain = pairs[kind]
    got = {}
    for label, source in (("keyed", keyed), ("plain", plain)):
        facts = fx.extract(source, TODAY)
        held = compute.holdings_for(source, facts)
        engaged = compute.engagement_facts(source, facts)
        got[label] = {
            "measures": fx.period_measures(facts, Filters(start=date(2025, 11, 1), end=date(2026, 10, 31))),
            "owned": fx.customer_products(held, date(2026, 6, 30)),
            "health": {name: compute.entity_health(source, facts, name) for name in ENTITIES if source.available(name)},
            "engagement": engaged.health,
            "days": (facts.d_code, facts.d_day, facts.d_revenue, facts.t_code, facts.t_day),
        }
    keyed_got, plain_got = got["keyed"], got["plain"]
    pd.testing.assert_frame_equal(keyed_got["measures"], plain_got["measures"])
    pd.testing.assert_frame_equal(keyed_got["owned"], plain_got["owned"])
    assert keyed_got["health"] == plain_got["health"]
    assert keyed_got["engagement"] == plain_got["engagement"]
    for mine, theirs in zip(keyed_got["days"], plain_got["days"], strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert plain_got["health"]["order_lines"]["rows_used"] > 0
    assert plain_got["health"]["orders"]["excluded"].get("duplicate_id", 0) > 0  # the rule still finds them


def test_a_local_copy_keeps_what_the_origin_declares(pairs: dict[str, tuple[Source, Source]]) -> None:
    keyed, plain = pairs["sqlite"]
    assert LocalCopy(keyed, ["order_lines", "orders"]).entity("order_lines").unique_key is True
    assert LocalCopy(keyed, ["orders"]).entity("orders").unique_key is False
    assert LocalCopy(plain, ["order_lines"]).entity("order_lines").unique_key is False


@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_a_key_in_a_two_column_index_or_a_query_is_not_declared(tmp_path: Path, kind: str) -> None:
    url = f"duckdb:///{tmp_path / 'k.duckdb'}" if kind == "duckdb" else f"sqlite:///{tmp_path / 'k.sqlite'}"
    frames = build_demo_frames(customers=120, seed=2)
    write_frames(url, frames, DATE_COLUMNS)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # unique as a pair only: an id alone may repeat
        conn.execute(sa.text("CREATE UNIQUE INDEX ux_pair ON order_lines (line_id, order_id)"))
        conn.execute(sa.text("CREATE INDEX ix_plain ON tickets (ticket_id)"))  # an index, not unique
    engine.dispose()
    config = tmp_path / "cruscotto.toml"
    config.write_text('[entities.leads]\nsql = "SELECT * FROM leads"\n')
    settings = load_settings(config, env={"CRUSCOTTO_DB_URL": url}, secrets_path="/nonexistent")
    source = Source(settings=settings, url=url)
    assert source.entity("order_lines").unique_key is False
    assert source.entity("tickets").unique_key is False
    assert source.entity("leads").unique_key is False


def test_a_catalog_that_cannot_be_read_declares_nothing_and_is_asked_once(
    tmp_path: Path, default_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'closed.sqlite'}"
    frames = build_demo_frames(customers=120, seed=2)
    write_frames(url, frames, DATE_COLUMNS, keys=demo_keys(frames))
    asked: list[object] = []

    def refused(*args: object) -> object:
        asked.append(args)
        raise sa.exc.OperationalError("PRAGMA", {}, Exception("not authorized"))

    monkeypatch.setattr(sa, "inspect", refused)
    source = Source(settings=default_settings, url=url)
    assert all(source.entity(name).unique_key is False for name in KEYED)
    assert len(asked) == 1
