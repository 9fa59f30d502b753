"""The facts read once give exactly what the direct SQL statements give, on every engine, for any
filters and dates; a filter change sends no statement; money is summed exactly."""

from __future__ import annotations

import ast
import dataclasses
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data import facts as fx
from data import queries, staging
from data.demo import write_demo, write_frames
from data.engine import QueryTimeout
from data.filters import Filters
from data.settings import ConfigError, Settings, load_settings
from data.source import MappingError, Source
from data.staging import LocalCopy, clean_locally
from service import compute
from tests.conftest import ENGINES, _url_for
from tests.fixtures import MATRIX_EXCLUDED, MATRIX_REVENUE, MATRIX_TODAY, matrix_frames

ROOT = Path(__file__).resolve().parent.parent
TINY_TODAY = date(2025, 1, 15)
DEMO_TODAY = date(2026, 11, 23)


def _same(got: pd.DataFrame, want: pd.DataFrame, sort: list[str] | None = None) -> None:
    got, want = got.copy(), want.copy()
    if sort:
        got, want = got.sort_values(sort), want.sort_values(sort)
    for frame in (got, want):  # drivers differ in the unit of their timestamps
        for col in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                frame[col] = frame[col].astype("datetime64[ns]")
            elif isinstance(frame[col].dtype, pd.CategoricalDtype):  # a text as a code: its text
                frame[col] = frame[col].astype(object)
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False, rtol=1e-9, atol=1e-6
    )


def _agree(source: Source, facts: fx.Facts, filters: Filters, as_of: date, today: date) -> None:
    """Every function of the facts against the statement of the same name."""
    _same(fx.period_measures(facts, filters), queries.period_measures(source, filters, today))
    _same(fx.monthly_by_segment(facts, filters), queries.monthly_by_segment(source, filters, today))
    _same(fx.segment_totals(facts, filters), queries.segment_totals(source, filters, today))
    _same(
        fx.cohort_activity(facts, filters, as_of),
        queries.cohort_activity(source, filters, as_of, today),
        ["cohort", "month"],
    )
    _same(
        fx.campaign_monthly_margin(facts, filters, as_of),
        queries.campaign_monthly_margin(source, filters, as_of, today),
        ["campaign_id", "month"],
    )
    assert fx.prospects(facts, filters, as_of) == queries.prospects(source, filters, as_of, today)


def test_the_tiny_company_agrees_on_every_engine(tiny_source: Source) -> None:
    facts = fx.extract(tiny_source, TINY_TODAY)
    assert facts.date_range() == queries.order_date_range(tiny_source, TINY_TODAY)
    assert facts.options == queries.filter_options(tiny_source, TINY_TODAY)
    for name in ("orders", "customers", "campaigns", "leads", "tickets", "order_lines", "products"):
        if tiny_source.available(name):
            assert compute.entity_health(tiny_source, facts, name) == queries.entity_health(
                tiny_source, name, TINY_TODAY
            ), name
    assert fx.data_warnings(facts) == pytest.approx(queries.data_warnings(tiny_source, TINY_TODAY))
    assert fx.data_warnings(facts)["orders_unknown_customer"] == 1  # order 11, customer 99
    if facts.campaigns is not None:
        _same(facts.campaigns, queries.campaigns(tiny_source, TINY_TODAY))
    _same(
        fx.customer_acquisition(facts),
        queries.customer_acquisition(tiny_source, TINY_TODAY),
        ["customer_id"],
    )
    ids = list(facts.ids)
    assert fx.customer_names(facts, ids) == queries.customer_names(tiny_source, ids, TINY_TODAY)
    for filters in (
        Filters(start=date(2024, 1, 1), end=date(2024, 12, 31)),
        Filters(segments=("HoReCa",), start=date(2024, 8, 1), end=date(2024, 9, 30)),
        Filters(regions=("Nord",), channels=("n/d", "Fiere"), start=date(2023, 12, 1), end=date(2025, 1, 15)),
        Filters(segments=("nessuno",), start=date(2024, 1, 1), end=date(2024, 12, 31)),
    ):
        _agree(tiny_source, facts, filters, filters.end or TINY_TODAY, TINY_TODAY)


def test_the_day_history_gives_what_the_statements_give(tiny_source: Source) -> None:
    facts = fx.extract(tiny_source, TINY_TODAY)
    for when in (date(2024, 6, 30), date(2024, 12, 31)):
        rfm, margins, costs = compute.day_history(facts).at(when)
        want = queries.customer_rfm(tiny_source, Filters(), when)
        _same(
            rfm.drop(columns=["segment", "region", "channel"]),
            want.drop(columns=["segment", "region", "channel"]),
            ["customer_id"],
        )
        assert list(rfm.sort_values("customer_id")["segment"]) == list(want.sort_values("customer_id")["segment"])
        summary = queries.customer_summary(tiny_source, Filters(), when).set_index("customer_id")["margin"]
        assert margins.set_index("customer_id")["margin"].sort_index().to_numpy() == pytest.approx(
            summary.sort_index().to_numpy()
        )
        want_costs = queries.customer_costs(tiny_source, when, TINY_TODAY).set_index("customer_id")
        got_costs = costs.set_index("customer_id")
        for customer in got_costs.index.intersection(want_costs.index):
            for col in ("tickets", "service_cost", "acquisition_cost"):
                assert got_costs.loc[customer, col] == pytest.approx(want_costs.loc[customer, col]), (customer, col)
            assert got_costs.loc[customer, "campaign_id"] == want_costs.loc[customer, "campaign_id"]


@pytest.fixture(scope="module")
def demo_sources(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, default_settings: Settings
) -> dict[str, tuple[Source, fx.Facts]]:
    out = {}
    for kind in ENGINES:
        url = _url_for(kind, tmp_path_factory.mktemp(f"facts_{kind}"), request, "facts")
        write_demo(url, customers=300, seed=5)
        source = Source(settings=default_settings, url=url)
        out[kind] = (source, fx.extract(source, DEMO_TODAY))
    return out


SEGMENTS = ("HoReCa", "Uffici", "Privati", "Rivenditori", "n/d")
REGIONS = ("Nord-Ovest", "Nord-Est", "Centro", "Sud", "Isole")
CHANNELS = ("Fiere", "Social", "Email", "Passaparola", "Agenti", "Sito web", "Google Ads")


@st.composite
def _filters(draw: st.DrawFn) -> tuple[Filters, date]:
    start = draw(st.dates(min_value=date(2023, 6, 1), max_value=date(2026, 11, 1)))
    end = start + timedelta(days=draw(st.integers(min_value=0, max_value=500)))
    subset = lambda values: tuple(draw(st.lists(st.sampled_from(values), max_size=2, unique=True)))  # noqa: E731
    filters = Filters(subset(SEGMENTS), subset(REGIONS), subset(CHANNELS), start, min(end, DEMO_TODAY))
    as_of = draw(st.dates(min_value=date(2023, 6, 1), max_value=DEMO_TODAY))
    return filters, as_of


@pytest.mark.parametrize("kind", [kind for kind in ENGINES if kind != "spark"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_filters())
def test_random_filters_and_dates_agree(
    demo_sources: dict[str, tuple[Source, fx.Facts]], kind: str, case: tuple[Filters, date]
) -> None:
    source, facts = demo_sources[kind]
    filters, as_of = case
    _agree(source, facts, filters, as_of, DEMO_TODAY)


def test_the_campaigns_monthly_margin_is_the_cubes_to_the_last_bit(
    demo_sources: dict[str, tuple[Source, fx.Facts]],
) -> None:
    """The campaigns' curves take the margin and the rows per month and cell from whole months
    summed once and the last month up to its day: exactly what the cube of everything up to that
    day holds, on a month's last day, within a month, before the first order and after the last."""
    facts = demo_sources["duckdb"][1]
    first, last = facts.date_range()
    assert first is not None and last is not None
    days = [first - timedelta(days=1), first, date(2024, 2, 29), date(2024, 3, 1), date(2025, 6, 15)]
    days += [date(2025, 12, 31), last - timedelta(days=1), last, last + timedelta(days=40)]
    for day in days:
        c = fx.cube(facts, None, day)
        first_month, months, margin, rows = fx._margin_months(facts, day)
        assert months == c.months, day
        if months:
            assert first_month == c.first_month, day
        assert np.array_equal(margin, c.margin) and np.array_equal(rows, c.rows), day


@pytest.mark.skipif("spark" not in ENGINES, reason="no Spark SQL server for this run")
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_filters())
def test_random_filters_and_dates_agree_on_spark(
    demo_sources: dict[str, tuple[Source, fx.Facts]], case: tuple[Filters, date]
) -> None:
    """As above, on Spark SQL with fewer draws: each sends six statements of a second or more."""
    source, facts = demo_sources["spark"]
    filters, as_of = case
    _agree(source, facts, filters, as_of, DEMO_TODAY)


def test_the_demo_has_what_the_random_filters_draw(demo_sources: dict[str, tuple[Source, fx.Facts]]) -> None:
    _source, facts = demo_sources["duckdb"]
    assert set(facts.options["segment"]) <= set(SEGMENTS)
    assert set(facts.options["region"]) <= set(REGIONS)
    assert set(facts.options["channel"]) <= set(CHANNELS)
    assert facts.customers >= 300 and len(facts.d_code) > 1000


def test_holdings_agree(demo_sources: dict[str, tuple[Source, fx.Facts]]) -> None:
    for kind, (source, facts) in demo_sources.items():
        held = compute.holdings_for(source, facts)
        for when in (date(2025, 3, 31), DEMO_TODAY):
            _same(
                fx.customer_products(held, when),
                queries.customer_products(source, when, DEMO_TODAY),
                ["customer_id", "product_id"],
            )
        for name in ("order_lines", "products"):
            assert compute.entity_health(source, facts, name) == queries.entity_health(source, name, DEMO_TODAY), kind


def test_the_order_lines_read_in_parts_are_the_lines_read_at_once(
    demo_sources: dict[str, tuple[Source, fx.Facts]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many orders are read a share of the order ids at a time (the database cleans and joins a
    part at a time): every line comes once, with the reason, customer, product, day and margin it
    has in one statement — the orders' repeated ids (here two) judged within their part as in the
    whole table."""
    source, facts = demo_sources["duckdb"]
    assert facts.health["orders"]["excluded"].get("duplicate_id", 0) > 0
    orders = int(facts.health["orders"]["rows_read"])
    assert fx._line_parts(source, orders) == 1  # a few thousand orders: one statement
    whole = fx._read_lines(source, DEMO_TODAY, orders).to_pandas()
    monkeypatch.setattr(fx, "_ORDERS_A_PART", orders // 4)
    assert fx._line_parts(source, orders) == 5
    parts = fx._read_lines(source, DEMO_TODAY, orders).to_pandas()
    assert len(parts) == len(whole) > 1000
    columns = ["_reason", "customer_id", "product_id", "order_date", "margin", "holds"]
    _same(parts, whole, columns)


def test_a_duckdb_file_is_let_go_between_reads(tmp_path: Path, default_settings: Settings) -> None:
    """Once the day's reads are done (the facts, then the order lines and engagements read ahead),
    the file's connections are closed — DuckDB lets go of the table blocks it kept — and the next
    read opens it again."""
    from service import served

    path = tmp_path / "shop.duckdb"
    write_demo(f"duckdb:///{path}", customers=120, seed=4)
    url = f"duckdb:///{path}"
    source = Source(settings=default_settings, url=url)
    try:
        made = served.facts(source, served.source_key(url, default_settings), DEMO_TODAY)
        made._cache[("read_ahead",)].result()
        import duckdb

        duckdb.connect(str(path)).close()  # read-write: refused while this process holds it read-only
        again = queries.entity_health(source, "orders", DEMO_TODAY)
        assert again["rows_read"] == made.health["orders"]["rows_read"] > 0
    finally:
        served.clear()


def test_the_whole_months_are_summed_once_when_two_periods_ask_at_once(
    demo_sources: dict[str, tuple[Source, fx.Facts]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's two periods ask for the campaigns' months at the same moment: one of them sums every
    day row by month and cell, the other waits for it (both summed them, twice the memory at once)."""
    _source, made = demo_sources["duckdb"]
    made._cache.pop("margin_months", None)
    calls: list[int] = []
    whole = fx._whole_months

    def slow(*args: Any) -> Any:
        calls.append(1)
        time.sleep(0.3)
        return whole(*args)

    monkeypatch.setattr(fx, "_whole_months", slow)
    filters = Filters(start=date(2025, 11, 1), end=date(2026, 10, 31))
    got: list[pd.DataFrame] = []
    threads = [
        threading.Thread(target=lambda d=d: got.append(fx.campaign_monthly_margin(made, filters, d)))
        for d in (date(2025, 10, 31), date(2026, 10, 31))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 2 and all(len(g) for g in got)


def test_the_names_are_held_by_code_as_text() -> None:
    """Each customer's name by code: the listed customers' in their order, none for a customer not
    listed or without a name; a name the source holds as a number is its text, as shown."""
    read = pd.Series(["Rossi", None, "Bianchi"], dtype="str")
    assert fx._names_by_code(read, np.array([3, 0, 1]), 5).to_pylist() == [None, "Bianchi", None, "Rossi", None]
    numbers = pd.Series([7, None], dtype=object)
    assert fx._names_by_code(numbers, np.array([1, 0]), 2).to_pylist() == [None, "7"]
    assert fx._names_by_code(None, np.array([0]), 2).to_pylist() == [None, None]


def test_what_each_customer_holds_does_not_depend_on_the_order_of_the_lines(
    demo_sources: dict[str, tuple[Source, fx.Facts]],
) -> None:
    """The order lines come in the order the database sends them, which changes from one read to the
    next: the margin per customer and product is the same to the last digit in any order (it
    differed in the last digits from one read to the next), and within 2^-29 per line of the sum
    in floating point."""
    source, facts = demo_sources["duckdb"]
    held = compute.holdings_for(source, facts)
    want = fx.customer_products(held, DEMO_TODAY)
    rng = np.random.default_rng(3)
    for _ in range(3):
        order = rng.permutation(len(held.day))
        shuffled = fx.Holdings(
            product=held.product[order],
            day=held.day[order],
            lines=None if held.lines is None else held.lines[order],
            margin=held.margin[order],
            catalogue=held.catalogue,
            health=held.health,
            rank=held.rank[order],
            ranked_ids=held.ranked_ids,
        )
        pd.testing.assert_frame_equal(fx.customer_products(shuffled, DEMO_TODAY), want, check_exact=True)
    plain = pd.DataFrame({"rank": held.rank, "product": held.product, "margin": held.margin})
    plain = plain[(held.day <= fx._day(DEMO_TODAY)) & (held.product >= 0)]
    summed = plain.groupby(["rank", "product"])["margin"].agg(["sum", "size"]).reset_index()
    assert len(summed) == len(want)
    error = np.abs(summed["sum"].to_numpy() - want["margin"].to_numpy())
    assert (error <= summed["size"].to_numpy() * 2.0**-29 + 1e-9 * np.abs(summed["sum"].to_numpy())).all()


def test_what_each_customer_holds_is_the_same_counted_by_cells_or_by_pairs(
    demo_sources: dict[str, tuple[Source, fx.Facts]],
) -> None:
    """Customers times products are counted as cells of their own when they are few beside the
    lines; with many more customers than lines the pairs held are numbered instead: the same table."""
    source, facts = demo_sources["duckdb"]
    held = compute.holdings_for(source, facts)
    want = fx.customer_products(held, DEMO_TODAY)
    width = len(held.catalogue)
    unseen = (1 << 20) // width + 1  # customers without lines, enough for too many cells
    assert (len(held.ranked_ids) + unseen) * width > max(2 * len(held.day), 1 << 20)
    many = dataclasses.replace(
        held, ranked_ids=np.concatenate([held.ranked_ids, np.array([f"~{k}" for k in range(unseen)], dtype=object)])
    )
    pd.testing.assert_frame_equal(fx.customer_products(many, DEMO_TODAY), want, check_exact=True)
    kept = (held.day <= fx._day(DEMO_TODAY)) & (held.product >= 0)
    assert len(want) and want["lines"].sum() == (kept.sum() if held.lines is None else held.lines[kept].sum())


def _hand_holdings(margin: list[float], rank: list[int], product: list[int]) -> fx.Holdings:
    catalogue = pd.DataFrame(
        {"product_id": ["P1", "P2"], "name": ["Uno", "Due"], "category": ["A", "B"], "ladder_step": [1.0, np.nan]}
    )
    n = len(margin)
    return fx.Holdings(
        product=np.array(product, dtype=np.int32),
        day=np.zeros(n, dtype=np.int32),
        lines=None,
        margin=np.array(margin),
        catalogue=catalogue,
        health={},
        rank=np.array(rank, dtype=np.int32),
        ranked_ids=np.array([10, 11], dtype=np.int64),
    )


@pytest.mark.parametrize("part", [1 << 21, 2])
def test_a_group_too_large_for_steps_is_summed_as_it_comes(monkeypatch: pytest.MonkeyPatch, part: int) -> None:
    """Beyond 2^52 steps a group is summed in floating point (still right, not exact in steps); the
    others in steps, whatever the parts the lines are counted in."""
    monkeypatch.setattr(fx, "_HOLDINGS_ROWS", part)
    step = 2.0**-28
    held = _hand_holdings([1.5, 2.25, 0.4 * step, 0.4 * step, 2.0**24], rank=[0, 0, 1, 1, 1], product=[0, 0, 1, 1, 1])
    got = fx.customer_products(held, date(1970, 1, 1))
    assert got["customer_id"].tolist() == [10, 11] and got["product_id"].astype(str).tolist() == ["P1", "P2"]
    # the second: 2^52 steps, summed as the lines come (whole steps alone would lose the two fractions)
    assert got["margin"].tolist() == [3.75, 2.0**24 + step] and got["lines"].tolist() == [2, 3]
    nothing = fx.customer_products(_hand_holdings([], rank=[], product=[]), date(1970, 1, 1))
    assert nothing.empty and nothing["margin"].dtype == np.float64  # no lines: amounts, not counts


def test_what_each_customer_holds_is_the_same_counted_a_part_at_a_time(
    demo_sources: dict[str, tuple[Source, fx.Facts]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lines are counted a part at a time (at a million customers two million lines, not eleven):
    parts of a few lines give the very table of one part, counted by cells or by pairs."""
    source, facts = demo_sources["duckdb"]
    held = compute.holdings_for(source, facts)
    assert held.product.dtype == np.int8 and len(held.catalogue) == 7  # a code into seven products: a byte
    width = len(held.catalogue)
    unseen = (1 << 20) // width + 1  # customers without lines, enough for too many cells
    many = dataclasses.replace(
        held, ranked_ids=np.concatenate([held.ranked_ids, np.array([f"~{k}" for k in range(unseen)], dtype=object)])
    )
    for holdings in (held, many):
        for as_of in (DEMO_TODAY, date(2025, 3, 15)):
            monkeypatch.setattr(fx, "_HOLDINGS_ROWS", len(held.day) + 1)
            whole = fx.customer_products(holdings, as_of)
            assert len(whole) > 100
            monkeypatch.setattr(fx, "_HOLDINGS_ROWS", 997)
            pd.testing.assert_frame_equal(fx.customer_products(holdings, as_of), whole, check_exact=True)


def test_a_filter_change_sends_no_statement(demo_sources: dict[str, tuple[Source, fx.Facts]]) -> None:
    _source, facts = demo_sources["duckdb"]
    queries.STATS.reset()
    for segment in SEGMENTS:
        filters = Filters(segments=(segment,), start=date(2025, 11, 1), end=date(2026, 10, 31))
        fx.period_measures(facts, filters)
        fx.monthly_by_segment(facts, filters)
        fx.cohort_activity(facts, filters, date(2026, 10, 31))
        fx.prospects(facts, filters, date(2026, 10, 31))
    compute.day_history(facts).at(date(2026, 10, 31))
    assert queries.STATS.queries == 0


def test_a_filter_change_picks_cells_of_the_periods_cube(demo_sources: dict[str, tuple[Source, fx.Facts]]) -> None:
    """The day rows of a period are grouped once (month × segment × region × channel × campaign);
    another segment, region or channel reuses that cube; the cubes kept are bounded."""
    _source, facts = demo_sources["duckdb"]
    period = (date(2025, 11, 1), date(2026, 10, 31))
    first = fx.cube(facts, *period)
    for segment in SEGMENTS:
        filters = Filters(segments=(segment,), start=period[0], end=period[1])
        fx.segment_totals(facts, filters)
        assert fx.cube(facts, *period) is first
    every = fx.cells(facts)
    assert first.p_customers.sum() == len(
        np.unique(facts.d_code[(facts.d_day >= fx._day(period[0])) & (facts.d_day <= fx._day(period[1]))])
    )
    assert np.bincount(every.of_customer).min() >= 1 and len(every) < facts.customers
    for months in range(1, 30):
        fx.cube(facts, date(2024, 1, 1), date(2024, 1, months))
    assert sum(1 for key in facts._cache if isinstance(key, tuple) and key[0] == "cube") <= fx._CUBES_KEPT


def test_a_filter_change_picks_cells_of_the_cohorts(demo_sources: dict[str, tuple[Source, fx.Facts]]) -> None:
    """The cohorts up to a date are summed once per (cohort, month, segment × region × channel);
    another filter only picks cells of them, and gives what the rows give; the dates kept are bounded."""
    _source, facts = demo_sources["duckdb"]
    as_of = date(2026, 10, 31)
    fx.cohort_activity(facts, Filters(), as_of)
    made = fx._cohorts(facts, as_of)
    for segment in SEGMENTS[:4]:  # the last has no customer
        filters = Filters(segments=(segment,), regions=REGIONS[:2])
        got = fx.cohort_activity(facts, filters, as_of)
        assert fx._cohorts(facts, as_of) is made
        # by hand from the rows: the chosen customers' rows up to the date, by cohort and month
        first = facts.first_purchase_day()
        chosen = fx.customer_mask(facts, filters) & (first >= 0) & (first <= fx._day(as_of))
        rows = chosen[facts.d_code] & (facts.d_day <= fx._day(as_of))
        frame = pd.DataFrame(
            {
                "cohort": first[facts.d_code[rows]].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64),
                "month": facts.months(rows),
                "code": facts.d_code[rows],
                "bought": facts.d_purchases[rows] > 0,
                "margin": facts.d_margin[rows],
            }
        )
        buyers = frame[frame["bought"]].groupby(["cohort", "month"])["code"].nunique()
        want = frame.groupby(["cohort", "month"]).agg(margin=("margin", "sum"))
        want["customers"] = buyers.reindex(want.index, fill_value=0)
        assert len(got) == len(want) > 0
        assert got["customers"].tolist() == want["customers"].tolist()
        assert np.allclose(got["margin"], want["margin"], rtol=1e-12, atol=1e-6)
    for day in range(1, 30):
        fx.cohort_activity(facts, Filters(), date(2024, 1, day))
    assert sum(1 for key in facts._cache if isinstance(key, tuple) and key[0] == "cohorts") <= fx._CUBES_KEPT


def test_the_cohorts_are_the_same_summed_a_few_customers_at_a_time(
    demo_sources: dict[str, tuple[Source, fx.Facts]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The day rows go into the cohorts a share of the customers at a time (at a million customers,
    a few arrays of two million rows instead of ten), into a sum per possible entry or, where the
    entries are many, by the entries met: parts of a few rows, either way, give what one pass gives."""
    _source, facts = demo_sources["duckdb"]
    as_of = date(2026, 10, 31)
    filters = Filters(segments=tuple(SEGMENTS[:2]), regions=tuple(REGIONS[:3]))

    def made(rows: int, dense: int) -> tuple[fx._Cohorts, pd.DataFrame]:
        monkeypatch.setattr(fx, "_COHORT_ROWS", rows)
        monkeypatch.setattr(fx, "_COHORT_DENSE", dense)
        for key in [k for k in facts._cache if isinstance(k, tuple) and k[0] == "cohorts"]:
            del facts._cache[key]
        return fx._cohorts(facts, as_of), fx.cohort_activity(facts, filters, as_of)

    whole, shown = made(len(facts.d_code) + 1, 1 << 30)
    assert whole is not None and len(shown) > 20
    for rows, dense in ((997, 1 << 30), (997, 0), (len(facts.d_code) + 1, 0), (1, 1 << 30)):
        parts, got = made(rows, dense)
        assert parts is not None
        assert parts.pair.tolist() == whole.pair.tolist() and parts.cell.tolist() == whole.cell.tolist()
        assert parts.buyers.tolist() == whole.buyers.tolist()
        assert np.allclose(parts.margin, whole.margin, rtol=1e-12, atol=1e-6)
        pd.testing.assert_frame_equal(got, shown, check_exact=False, rtol=1e-12)


def test_money_is_summed_to_the_cent(tmp_path: Path, default_settings: Settings) -> None:
    """Amounts are read as double precision: a four-byte float would round 140,566.79 to
    140,566.7901611328 and drift by euros over a million orders."""
    url = f"duckdb:///{tmp_path / 'cents.duckdb'}"
    amounts = [Decimal("140566.79"), Decimal("0.01"), Decimal("99999.99"), Decimal("12345.67")] * 250
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, order_date DATE, revenue DOUBLE)")
        )
        conn.execute(
            sa.text("INSERT INTO orders VALUES (:i, :c, :d, :r)"),
            [
                {"i": i, "c": i % 7, "d": date(2026, 1, 1) + timedelta(days=i % 300), "r": float(a)}
                for i, a in enumerate(amounts)
            ],
        )
    engine.dispose()
    source = Source(settings=default_settings, url=url)
    exact = sum(amounts)
    facts = fx.extract(source, date(2026, 11, 1))
    measured = fx.period_measures(facts, Filters(start=date(2026, 1, 1), end=date(2026, 10, 31)))
    assert round(Decimal(measured.iloc[0]["revenue"]), 2) == exact
    direct = queries.period_measures(source, Filters(start=date(2026, 1, 1), end=date(2026, 10, 31)), date(2026, 11, 1))
    assert round(Decimal(direct.iloc[0]["revenue"]), 2) == exact
    assert facts.d_revenue.max() == pytest.approx(140566.79 * 2, abs=0.005) or facts.d_revenue.max() < 1e6


# ---------------------------------------------------------------------------------------------
# Cleaned in a local copy or by the database: the same facts


def _settings(tmp_path: Path, clean: str, timeout: float = 60.0) -> Settings:
    config = tmp_path / f"{clean}_{timeout:g}.toml"
    config.write_text(f'[source]\nclean = "{clean}"\nstatement_timeout_s = {timeout}\n')
    return load_settings(config, env={}, secrets_path="/nonexistent")


def _canonical(facts: fx.Facts) -> dict[str, object]:
    """The facts without the customers' numbering (which follows the order rows arrive in)."""
    ids = facts.ids
    people = pd.DataFrame(
        {
            "id": ids.astype(str),
            **{d: facts.labels[d][facts.dims[d]] for d in fx.DIMENSIONS},
            "listed": facts.listed,
            "name": facts.names,
            "campaign": facts.campaign,
            "cac": facts.acquisition_cost,
        }
    ).sort_values("id")
    measures = [k for k in vars(facts) if k.startswith("d_") and k not in ("d_code", "d_day")]
    days = pd.DataFrame(
        {"id": ids[facts.d_code].astype(str), "day": facts.d_day, **{k: getattr(facts, k) for k in measures}}
    ).sort_values(["id", "day"])
    tickets = pd.DataFrame(
        {"id": ids[facts.t_code].astype(str), "day": facts.t_day, "n": facts.t_tickets, "cost": facts.t_cost}
    ).sort_values(["id", "day"])
    return {
        "people": people.reset_index(drop=True),
        "days": days.reset_index(drop=True),
        "tickets": tickets.reset_index(drop=True),
        "health": facts.health,
        "options": facts.options,
        "dates": facts.date_range(),
        "open_leads": list(facts.open_lead_days),
        "campaigns": facts.campaigns,
    }


def _same_facts(got: fx.Facts, want: fx.Facts) -> None:
    a, b = _canonical(got), _canonical(want)
    for key in ("people", "days", "tickets"):
        _same(a[key], b[key])  # type: ignore[arg-type]
    for key in ("health", "options", "dates", "open_leads"):
        assert a[key] == b[key], key
    if a["campaigns"] is None or b["campaigns"] is None:
        assert a["campaigns"] is None and b["campaigns"] is None
    else:
        _same(a["campaigns"], b["campaigns"])  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ENGINES)
def test_the_bad_input_matrix_through_the_facts(
    kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The hand-counted reasons and the hand-computed revenue, cleaned in a local copy and by the
    database alike, on every engine."""
    tmp = tmp_path_factory.mktemp(f"matrix_facts_{kind}")
    url = _url_for(kind, tmp, request, "matrixfacts")
    write_frames(url, matrix_frames())
    today = date.fromisoformat(MATRIX_TODAY)
    year = Filters(start=date(2024, 1, 1), end=date(2024, 12, 31))
    made = {}
    for clean in ("in_memory", "in_database"):
        source = Source(settings=_settings(tmp, clean), url=url)
        facts = made[clean] = fx.extract(source, today)
        assert isinstance(facts._cache.get("local_copy"), LocalCopy) == (clean == "in_memory")
        assert facts.health["orders"]["excluded"] == MATRIX_EXCLUDED, clean
        assert facts.health["orders"]["rows_used"] == 12 and facts.health["orders"]["rows_read"] == 27
        assert facts.health["customers"]["excluded"] == {"missing_id": 1, "duplicate_id": 1}
        totals = fx.segment_totals(facts, year).set_index("segment")["revenue"].to_dict()
        assert totals == pytest.approx(MATRIX_REVENUE), clean
        assert fx.data_warnings(facts) == {
            "refunds": 1,
            "refund_amount": 30.0,
            "orders_unknown_customer": 1,
            "revenue_unknown_customer": 55.0,
            "customers_without_orders": 1,
        }
    _same_facts(made["in_memory"], made["in_database"])


def test_postgresql_is_copied_through_adbc_read_only(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL tables come into the copy as Arrow columns through ADBC, in a read-only session
    under the statement timeout; without ADBC (not installed, or failing) the same facts come
    through SQLAlchemy."""
    from data import staging

    url = _url_for("postgresql", tmp_path, request, "adbc")
    write_frames(url, matrix_frames())
    source = Source(settings=_settings(tmp_path, "in_memory"), url=url)
    with staging.adbc_session(source) as cursor:
        cursor.execute("SELECT current_setting('transaction_read_only')")
        assert cursor.fetchone()[0] == "on"
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone()[0] == "1min"
        with pytest.raises(Exception, match="read-only"):
            cursor.execute("CREATE TABLE intruder (a integer)")
    used = []
    through_adbc = staging._read_postgresql
    monkeypatch.setattr(staging, "_read_postgresql", lambda *a: used.append(a[2]) or through_adbc(*a))
    today = date.fromisoformat(MATRIX_TODAY)
    fast = fx.extract(source, today)
    assert {"orders", "customers"} <= {"orders" if "order_date" in names else "customers" for names in used}
    monkeypatch.setattr(staging, "_read_postgresql", lambda *a: None)
    slow = fx.extract(Source(settings=_settings(tmp_path, "in_memory"), url=url), today)
    _same_facts(fast, slow)
    assert fast.health["orders"]["excluded"] == MATRIX_EXCLUDED


def test_mariadb_is_copied_through_connectorx_read_only(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MariaDB tables come into the copy as Arrow columns through ConnectorX, each statement
    read-only and under the statement timeout by itself (``SET STATEMENT … FOR``); where that read
    fails, the same facts come through SQLAlchemy."""
    from data import staging

    url = _url_for("mariadb", tmp_path, request, "cx")
    write_frames(url, matrix_frames())
    source = Source(settings=_settings(tmp_path, "in_memory"), url=url)
    source.ping()
    writer = sa.create_engine(url)  # the dashboard's sessions are read-only: set up apart
    with writer.begin() as conn:
        conn.execute(sa.text("CREATE TABLE scratch (x integer)"))
        conn.execute(
            sa.text(
                "CREATE FUNCTION writes() RETURNS INT MODIFIES SQL DATA "
                "BEGIN INSERT INTO scratch VALUES (1); RETURN 1; END"
            )
        )
    writing = sa.select(sa.literal_column("writes()").label("w")).subquery("w")
    assert staging._read_mariadb(source, writing, ["w"], {}) is None
    slow_query = sa.select(sa.literal_column("BENCHMARK(50000000000, MD5('x'))").label("b")).subquery("b")
    quick = Source(settings=_settings(tmp_path, "in_memory", timeout=1), url=url)
    quick.ping()
    started = time.perf_counter()
    assert staging._read_mariadb(quick, slow_query, ["b"], {}) is None
    assert time.perf_counter() - started < 10
    with writer.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM scratch")).scalar() == 0
    # the same read without the guard does write: the guard is what stops it
    import connectorx

    address = sa.engine.make_url(url).set(drivername="mysql", query={}).render_as_string(hide_password=False)
    connectorx.read_sql(address, "SELECT writes() AS w", return_type="arrow")
    with writer.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM scratch")).scalar() == 1
    writer.dispose()

    used = []
    through_connectorx = staging._read_mariadb
    monkeypatch.setattr(staging, "_read_mariadb", lambda *a: used.append(a[2]) or through_connectorx(*a))
    today = date.fromisoformat(MATRIX_TODAY)
    fast = fx.extract(source, today)
    assert {"order_date", "customer_id"} <= {c for names in used for c in names}
    entity = source.resolution["orders"]
    assert not isinstance(entity, MappingError)
    names = [c for c in entity.spec.columns if entity.has(c)]
    assert through_connectorx(source, entity.selectable, names, {}) is not None  # read, not fallen back
    monkeypatch.setattr(staging, "_read_mariadb", lambda *a: None)
    slow = fx.extract(Source(settings=_settings(tmp_path, "in_memory"), url=url), today)
    _same_facts(fast, slow)
    assert fast.health["orders"]["excluded"] == MATRIX_EXCLUDED


def test_which_sources_are_copied(tmp_path: Path, default_settings: Settings) -> None:
    auto = {
        "sqlite": True,
        "postgresql": True,
        "mysql": True,
        "mariadb": True,
        "duckdb": False,  # in process already, and vectorised
        "trino": False,  # a warehouse: the cleaning goes to the data, only grouped rows travel
        "mssql": False,
    }
    for dialect, copied in auto.items():
        source = SimpleNamespace(settings=default_settings, dialect=dialect)
        assert clean_locally(source) is copied, dialect  # type: ignore[arg-type]
        forced = SimpleNamespace(settings=_settings(tmp_path, "in_database"), dialect=dialect)
        assert clean_locally(forced) is False  # type: ignore[arg-type]
        anyway = SimpleNamespace(settings=_settings(tmp_path, "in_memory"), dialect=dialect)
        assert clean_locally(anyway) is True  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path, "sometimes")
    assert err.value.key == "source.clean"


def test_a_value_of_the_facts_is_made_once_for_callers_asking_together() -> None:
    """A page asking for the order lines while the read-ahead reads them waits for that read."""
    facts: Any = SimpleNamespace(_cache={})
    calls: list[int] = []

    def make() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(compute.memo(facts, ("slow",), make))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert got == [42] * 4 and calls == [1]
    assert compute.memo(facts, ("slow",), lambda: 0) == 42  # kept


_KNOWN_IDS: dict[str, list[Any]] = {
    "whole numbers": [7, 3, 42, 10**12, -5, 1],
    "texts": ["C7", "C3", "42", " x"],
    "numbers and texts": [7, "7", 3, "C3"],
    "fractions": [1.5, 2.0, 3],
    "huge numbers": [2**63 + 5, 1],
}
_ASKED: list[Any] = [
    np.array([42, 7, 8, -5, 10**12], dtype=np.int64),
    np.array([42.0, 7.0, 1.5, np.nan, 3.0]),
    np.array([42.0, 7.0, 1.5, 3.0]),
    np.array([42, "7", None, 3, True, 2**63 + 5], dtype=object),
    np.array([7, 3, 42], dtype=np.uint64),
    pd.Series(["C3", "42", "nobody"]),
    pd.Series([3, 42, 7], dtype=object),
    pd.Index([2.0, 3, 1.5], dtype=object),
    np.array([], dtype=object),
]


@pytest.mark.parametrize("kind", sorted(_KNOWN_IDS))
def test_positions_are_those_of_an_index_of_the_ids(kind: str) -> None:
    """``positions`` (ids indexed once, whole numbers matched as numbers) finds every id where a
    new index of the ids as Python objects finds it, whatever kinds of ids the two sides hold."""
    facts: Any = SimpleNamespace(ids=np.array(_KNOWN_IDS[kind], dtype=object), _cache={})
    plain = pd.Index(facts.ids)
    for asked in _ASKED:
        values = asked.to_numpy() if isinstance(asked, (pd.Series, pd.Index)) else asked
        want = plain.get_indexer(pd.Index(np.asarray(values).astype(object), dtype=object))
        got = fx.positions(facts, asked)
        assert got.dtype == np.int64 and got.tolist() == want.tolist(), (kind, asked)
    assert (fx.positions(facts, facts.ids) == np.arange(len(facts.ids))).all()  # the index is kept


@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_reading_ahead_reads_what_the_next_pages_read(tmp_path: Path, default_settings: Settings, kind: str) -> None:
    """After ``read_ahead`` the order lines and the engagements are there: the customer card and
    the engagement figures send no statement, and they are what a page reads by itself."""
    url = f"{kind}:///{tmp_path / ('ahead.' + kind)}"
    write_demo(url, customers=300, seed=5)
    source = Source(settings=default_settings, url=url)
    ahead = fx.extract(source, DEMO_TODAY)
    compute.read_ahead(source, ahead)
    queries.STATS.reset()
    held, engaged = compute.holdings_for(source, ahead), compute.engagement_facts(source, ahead)
    assert queries.STATS.queries == 0
    again = Source(settings=default_settings, url=url)
    alone = fx.extract(again, DEMO_TODAY)
    _same(_lines(held), _lines(compute.holdings_for(again, alone)))
    assert engaged.health == compute.engagement_facts(again, alone).health


def test_the_order_lines_read_with_the_facts_are_those_read_after(tmp_path: Path, default_settings: Settings) -> None:
    """A server reads the facts with ``lines_ahead``: from a DuckDB file the order lines' statement
    starts once the orders' rows are in, and the holdings take its rows (only the products are
    read then), the same as reading them after. Elsewhere nothing is read ahead."""
    url = f"duckdb:///{tmp_path / 'lines.duckdb'}"
    write_demo(url, customers=300, seed=5)
    source = Source(settings=default_settings, url=url)
    ahead = fx.extract(source, DEMO_TODAY, lines_ahead=True)
    assert fx._LINES_AHEAD in ahead._cache
    queries.STATS.reset()
    held = compute.holdings_for(source, ahead)
    assert queries.STATS.queries == 1  # the products
    assert fx._LINES_AHEAD not in ahead._cache  # taken: not held twice
    alone = fx.extract(Source(settings=default_settings, url=url), DEMO_TODAY)
    queries.STATS.reset()
    held_alone = compute.holdings_for(source, alone)
    assert queries.STATS.queries == 2  # the order lines, then the products
    _same(_lines(held), _lines(held_alone))
    assert held.health == held_alone.health
    sqlite = f"sqlite:///{tmp_path / 'lines.sqlite'}"
    write_demo(sqlite, customers=300, seed=5)
    copied = fx.extract(Source(settings=default_settings, url=sqlite), DEMO_TODAY, lines_ahead=True)
    assert fx._LINES_AHEAD not in copied._cache  # read from the copy when needed, as before


def test_order_lines_read_ahead_that_fail_are_left_to_the_page(
    tmp_path: Path, default_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The facts are made whatever happens to the order lines read beside them; the holdings meet
    the failure, and the page's next try reads them again."""
    url = f"duckdb:///{tmp_path / 'failing_lines.duckdb'}"
    write_demo(url, customers=300, seed=5)
    source = Source(settings=default_settings, url=url)
    real = fx._line_rows

    def broken(*_args: object) -> sa.Subquery:
        raise sa.exc.OperationalError("SELECT", {}, Exception("the server went away"))

    monkeypatch.setattr(fx, "_line_rows", broken)
    facts = fx.extract(source, DEMO_TODAY, lines_ahead=True)
    assert facts.customers > 0
    with pytest.raises(sa.exc.OperationalError):
        compute.holdings_for(source, facts)
    monkeypatch.setattr(fx, "_line_rows", real)
    assert len(compute.holdings_for(source, facts).day) > 0


def test_a_failed_read_ahead_is_left_to_the_page(
    tmp_path: Path, default_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read-ahead says nothing of a failure: the page's own read meets it and reports it."""
    url = f"duckdb:///{tmp_path / 'failing.duckdb'}"
    write_demo(url, customers=300, seed=5)
    source = Source(settings=default_settings, url=url)
    facts = fx.extract(source, DEMO_TODAY)

    def broken(*_args: object) -> fx.Holdings:
        raise sa.exc.OperationalError("SELECT", {}, Exception("the server went away"))

    monkeypatch.setattr(fx, "extract_holdings", broken)
    compute.read_ahead(source, facts)  # no exception
    assert compute.engagement_facts(source, facts).referrals is not None  # read before the failure
    with pytest.raises(sa.exc.OperationalError):
        compute.holdings_for(source, facts)


def _lines(held: fx.Holdings) -> pd.DataFrame:
    lines = pd.DataFrame(
        {
            "customer_id": held.customer_id,
            "product": held.product,
            "day": held.day,
            "lines": np.ones(len(held.day), dtype=np.int32) if held.lines is None else held.lines,
        }
    ).assign(margin=held.margin)
    return lines.sort_values(list(lines.columns)).reset_index(drop=True)


def test_two_pages_read_the_local_copy_at_once(tmp_path: Path, default_settings: Settings) -> None:
    """Two visitors open pages that read the local copy at the same moment (one the order lines, the
    other the referrals and engagements): both get what they get one after the other. The copy is
    one DuckDB connection, which refused the second statement ("connection is busy") or lost a
    table being copied while the other read."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    write_demo(url, customers=300, seed=5)

    def read_at_once() -> dict[str, object]:
        source = Source(settings=default_settings, url=url)
        facts = fx.extract(source, DEMO_TODAY)
        assert isinstance(facts._cache.get("local_copy"), LocalCopy)
        start = threading.Barrier(2)
        got: dict[str, object] = {}

        def read(name: str, make: Callable[[], object]) -> None:
            start.wait()
            try:
                got[name] = make()
            except Exception as error:  # what a page would have shown
                got[name] = error

        threads = [
            threading.Thread(target=read, args=("holdings", lambda: compute.holdings_for(source, facts))),
            threading.Thread(target=read, args=("engagement", lambda: compute.engagement_facts(source, facts))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        return got

    source = Source(settings=default_settings, url=url)
    alone = fx.extract(source, DEMO_TODAY)
    held, engaged = compute.holdings_for(source, alone), compute.engagement_facts(source, alone)
    for _ in range(3):
        got = read_at_once()
        assert not [v for v in got.values() if isinstance(v, Exception)], got
        at_once, with_others = got["holdings"], got["engagement"]
        assert isinstance(at_once, fx.Holdings) and isinstance(with_others, type(engaged))
        _same(_lines(at_once), _lines(held))  # the lines come in no particular order
        _same(fx.customer_products(at_once, DEMO_TODAY), fx.customer_products(held, DEMO_TODAY))
        assert at_once.health == held.health
        for name in ("referrals", "engagements"):
            got_rows, want_rows = getattr(with_others, name), getattr(engaged, name)
            assert want_rows is not None and len(want_rows) > 0 and got_rows is not None
            _same(got_rows, want_rows, list(want_rows.columns))  # in no particular order either
        assert with_others.health == engaged.health


def test_a_local_copy_reads_each_entity_once_and_cleans_as_the_database(tmp_path: Path) -> None:
    """SQLite keeps any value in any column: whole numbers, decimals and text in one amount column,
    dates as text in both orders and as a number. The copy keeps each value's kind, so the tolerant
    casts read it as they do at the source; the source sees one plain read per entity, nothing else.
    Where one id column mixes numbers and text, the copy reads it as text: customer 8 is one
    customer whether a row says 8 or "8" (SQLite alone would see two)."""
    path = tmp_path / "mixed.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (order_id, customer_id, order_date, revenue, cost)"))
        conn.execute(sa.text("CREATE TABLE customers (customer_id, name, segment, region, channel)"))
        rows = [
            (1, 7, "2024-03-01", 100, 40),
            (2, 7, "2024-03-01", 20.5, None),
            (3, 8, "15/03/2024", " 12.5 ", "2"),
            (4, 8, "2024/04/01", "1e2", 10),
            (5, 9, 20240401, 10, 1),  # a date as a number: not a date
            (6, 9, "2024-04-02", "abc", 1),  # not a number
            (7, 9, "2024-04-03", "", 1),  # blank amount
            (8, 9, "2024-02-30", 10, 1),  # impossible day
            (9, 9, "2024-04-04", -15, -5),  # a refund
            (10, 9, "2024-04-05", 30, 10),
        ]
        for row in rows:
            conn.execute(
                sa.text("INSERT INTO orders VALUES (:a, :b, :c, :d, :e)"), dict(zip("abcde", row, strict=True))
            )
        for row in [
            (7, "Sette", "Bar", "Nord", "Web"),
            (8, "Otto", " Bar ", "Sud", None),
            (9, "Nove", None, "", "Fiere"),
        ]:
            conn.execute(
                sa.text("INSERT INTO customers VALUES (:a, :b, :c, :d, :e)"), dict(zip("abcde", row, strict=True))
            )
    engine.dispose()
    url = f"sqlite:///{path}"
    today = date(2025, 1, 1)
    copied = Source(settings=_settings(tmp_path, "in_memory"), url=url)
    statements: list[str] = []
    sa.event.listen(copied.engine, "before_cursor_execute", lambda *args: statements.append(str(args[2]).strip()))
    local_facts = fx.extract(copied, today)
    at_source = fx.extract(Source(settings=_settings(tmp_path, "in_database"), url=url), today)
    _same_facts(local_facts, at_source)
    assert local_facts.health["orders"]["excluded"] == {"bad_date": 2, "bad_amount": 2}
    assert local_facts.health["orders"]["rows_used"] == 6
    # probes of the mapping (LIMIT 0), the catalog's declared keys, then one read per entity present:
    # orders and customers
    catalog = re.compile(r"PRAGMA (main|temp)\.(index_list|index_info|table_info|table_xinfo)\(")
    assert all(s.upper().startswith("SELECT") or catalog.match(s) for s in statements), statements
    local = local_facts._cache["local_copy"]
    assert local.rows == len(rows) + 3
    local.add(("orders", "customers", "order_lines"))  # copied already, or absent: nothing read
    assert local.rows == len(rows) + 3 and not local.available("order_lines")

    with sa.create_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(sa.text("INSERT INTO orders VALUES ('11', '8', '2024-05-01', 50, 20)"))
        conn.execute(sa.text("INSERT INTO orders VALUES (11, 8, '2024-05-02', 60, 20)"))
    mixed = fx.extract(Source(settings=_settings(tmp_path, "in_memory"), url=url), today)
    assert sorted(mixed.ids.astype(str)) == ["7", "8", "9"]
    assert mixed.health["orders"]["excluded"] == {"bad_date": 2, "bad_amount": 2, "duplicate_id": 1}


def test_the_copy_is_held_as_compressed_tables(tmp_path: Path) -> None:
    """The copied entities are DuckDB tables, compressed, not the Arrow arrays they were read into:
    a hundred thousand orders of a few repeated values take a fraction of their Arrow size, and the
    facts are those of cleaning at the source. A table with a column that holds no value at all
    (Arrow's null type, which no table column can have) stays a view over its arrays."""
    path = tmp_path / "many.sqlite"
    n = 100_000
    dates = [f"2024-0{1 + i % 9}-1{i % 10}" for i in range(n)]
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, order_date TEXT, revenue REAL)")
        )
        conn.execute(
            sa.text("INSERT INTO orders VALUES (:a, :b, :c, :d)"),
            [{"a": i, "b": i % 500, "c": dates[i], "d": float(i % 50)} for i in range(n)],
        )
    today = date(2025, 1, 1)
    copied = Source(settings=_settings(tmp_path, "in_memory"), url=f"sqlite:///{path}")
    local_facts = fx.extract(copied, today)
    _same_facts(local_facts, fx.extract(Source(settings=_settings(tmp_path, "in_database"), url=copied.url), today))
    local = local_facts._cache["local_copy"]

    def ask(sql: str) -> list[tuple[Any, ...]]:
        raw = local.engine.raw_connection()  # the copy's one connection: given back before the next use
        try:
            return list(raw.driver_connection.sql(sql).fetchall())
        finally:
            raw.close()

    def probed() -> tuple[bool, list[tuple[Any, ...]]]:
        tables = {row[0] for row in ask("SELECT table_name FROM duckdb_tables()")}
        return "copy_probe" in tables, ask("SELECT count(*), sum(number) FROM copy_probe")

    held = ask("SELECT sum(memory_usage_bytes) FROM duckdb_memory()")[0][0]
    assert "copy_orders" in {row[0] for row in ask("SELECT table_name FROM duckdb_tables()")}
    # an entity registered again (the ids' one-type rule) may go from a view to a table and back
    local._register("probe", pa.table({"nothing": pa.nulls(3), "number": [1, 2, 3]}))
    assert probed() == (False, [(3, 6)]) and isinstance(local._tables["probe"], pa.Table)
    local._register("probe", pa.table({"nothing": ["a", None], "number": [4, 5]}))
    assert probed() == (True, [(2, 9)]) and isinstance(local._tables["probe"], pa.Schema)
    local._register("probe", pa.table({"nothing": pa.nulls(1), "number": [7]}))
    assert probed() == (False, [(1, 7)])
    assert isinstance(local._tables["orders"], pa.Schema)  # the arrays let go
    arrow_bytes = n * (8 + 8 + 8) + sum(len(d) + 4 for d in dates)
    assert held < arrow_bytes / 3, (held, arrow_bytes)


def _sqlite_table(path: Path, rows: list[tuple[Any, ...]]) -> Source:
    """A SQLite file with one table ``orders`` (four columns of no declared type) holding ``rows``."""
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (order_id, customer_id, order_date, revenue)"))
        for row in rows:
            conn.execute(sa.text("INSERT INTO orders VALUES (:a, :b, :c, :d)"), dict(zip("abcd", row, strict=True)))
    return Source(settings=_settings(path.parent, "in_memory"), url=f"sqlite:///{path}")


def _both_reads(source: Source) -> tuple[pa.Table | None, pa.Table]:
    """The orders as the SQLite driver into Arrow reads them (None: it gave way) and as Python's."""
    entity = source.resolution["orders"]
    assert not isinstance(entity, MappingError)
    names = [c for c in entity.spec.columns if entity.has(c)]
    return staging._read_sqlite(source, entity.selectable, names), staging._read(source, entity.selectable, names, {})


def test_a_sqlite_copy_is_read_straight_into_arrow_with_the_same_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite tables come into the local copy through ADBC, a step of rows at a time, and give the
    very table Python's driver gives: whole numbers, fractions, text, NULLs, whole numbers mixed
    with text (as text: "8"). Where ADBC would give another table it gives way to Python's driver:
    a column whose values change type from one step to the next, text mixed with fractions (ADBC
    writes 2.5 as 2.500000e+00), bytes, text that is not UTF-8. The source file is not written."""
    monkeypatch.setattr(staging, "_SQLITE_BATCH", 2)
    clean = [(1, 7, "2024-03-01", 100.5), (2, "7", None, 20.0), (3, 8, "2024-03-02", None), (4, "8", "x", -3.25)]
    source = _sqlite_table(tmp_path / "clean.sqlite", clean)
    before = (tmp_path / "clean.sqlite").read_bytes()
    arrow, python = _both_reads(source)
    assert arrow is not None and arrow.equals(python), (arrow, python)
    assert arrow.column("customer_id").to_pylist() == ["7", "7", "8", "8"]
    assert arrow.column("revenue").to_pylist() == [100.5, 20.0, None, -3.25]
    assert (tmp_path / "clean.sqlite").read_bytes() == before

    gives_way = {
        "a type changes between steps": [(1, 7, "2024-03-01", 1), (2, 7, "2024-03-01", 2), (3, 7, "d", 2.5)],
        "text with fractions": [(1, 7, "2024-03-01", "12"), (2, 7, "2024-03-01", 2.5)],
        "bytes": [(1, 7, "2024-03-01", b"\x00\x01"), (2, 7, "2024-03-01", 2.0)],
        "not UTF-8": [(1, 7, "2024-03-01", 1.0), (2, 7, b"\x41\xff", 2.0)],
    }
    for case, rows in gives_way.items():
        path = tmp_path / f"{case.replace(' ', '_')}.sqlite"
        source = _sqlite_table(path, rows)
        if case == "not UTF-8":
            with sqlite3.connect(path) as conn:
                conn.execute("UPDATE orders SET order_date = CAST(order_date AS TEXT)")
        arrow, python = _both_reads(source)
        assert arrow is None, case
        entity = source.resolution["orders"]
        names = [c for c in entity.spec.columns if entity.has(c)]
        assert staging._read(source, entity.selectable, names, {}, plain=True).equals(python), case


def test_a_sqlite_copy_stops_at_the_statement_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ADBC's SQLite driver cannot interrupt a statement: the copy checks the time between steps of
    rows and stops with the statement timeout's error, as an interrupted statement does."""
    monkeypatch.setattr(staging, "_SQLITE_BATCH", 2)
    source = _sqlite_table(tmp_path / "slow.sqlite", [(i, 7, "2024-03-01", 1.0) for i in range(10)])
    clock = iter(range(0, 10_000, 30))  # each look at the clock 30 s after the one before
    monkeypatch.setattr(staging.time, "monotonic", lambda: float(next(clock)))
    entity = source.resolution["orders"]
    names = [c for c in entity.spec.columns if entity.has(c)]
    with pytest.raises(QueryTimeout):
        staging._read(source, entity.selectable, names, {}, plain=True)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_layers_hold() -> None:
    """Nothing outside ui/ and pages/ imports ui/; data/ imports nothing from kpi/ or service/;
    kpi/ imports no Streamlit, SQL or Plotly."""
    for path in ROOT.glob("**/*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".git", "tests", "bench", ".venv") or rel.parts[0].startswith("."):
            continue
        imports = _imports(path)
        if rel.parts[0] not in ("ui", "pages") and rel.name != "app.py":
            assert not {m for m in imports if m == "ui" or m.startswith("ui.")}, rel
        if rel.parts[0] == "data":
            assert not {m for m in imports if m.split(".")[0] in ("kpi", "service", "ui")}, rel
        if rel.parts[0] == "kpi":
            assert not {m for m in imports if m.split(".")[0] in ("streamlit", "sqlalchemy", "plotly", "ui")}, rel


def _order_rows(rows: list[tuple[str | None, int | None, str | None, float | None]]) -> pa.Table:
    """Rows as ``_order_days`` hands them to ``_summed_per_day``: reason, customer, day, revenue,
    margin (40 % of revenue here), known."""
    return pa.table(
        {
            "_reason": pa.array([r[0] for r in rows], pa.string()),
            "customer_id": pa.array([r[1] for r in rows], pa.int64()),
            "order_date": pa.array([date.fromisoformat(r[2]) if r[2] else None for r in rows], pa.date32()),
            "revenue": pa.array([r[3] for r in rows], pa.float64()),
            "margin": pa.array([None if r[3] is None else r[3] * 0.4 for r in rows], pa.float64()),
            "known": pa.array([1 if r[0] is None else 0 for r in rows], pa.int32()),
        }
    )


def test_a_days_orders_are_added_in_the_order_of_their_amounts() -> None:
    """However the database hands a day's orders over, they are added smallest first: 1e16 + 1 + 1
    and 1 + 1 + 1e16 differ in floating point, so the same day must give the same sum every run.
    An excluded row handed over among the usable ones is still counted apart."""
    usable = [(None, 7, "2025-01-02", 1e16), (None, 7, "2025-01-02", 1.0), (None, 7, "2025-01-02", 1.0)]
    usable += [(None, 7, "2025-01-03", 5.0), (None, 9, "2025-01-02", 2.0)]
    excluded = ("bad_amount", None, None, None)
    want = 1.0 + 1.0 + 1e16  # the order of amounts: a different float from 1e16 + 1 + 1
    assert want != 1e16 + 1.0 + 1.0
    for order in ([0, 1, 2, 3, 4], [1, 0, 2, 3, 4], [2, 1, 0, 3, 4]):
        for where in (5, 1):  # the excluded row last, as asked, or among the usable
            rows = [usable[i] for i in order]
            rows.insert(where, excluded)
            got = fx._summed_per_day(_order_rows(rows)).table.to_pandas()
            days = got[got["_reason"].isna()]
            assert days["customer_id"].tolist() == [7, 7, 9] and days["n"].tolist() == [3, 1, 1]
            assert days["revenue"].tolist() == [want, 5.0, 2.0]  # exactly, on every order
            assert days["purchases"].tolist() == [3, 1, 1]
            assert got.loc[got["_reason"] == "bad_amount", "n"].tolist() == [1]
