"""The aggregate queries on SQLite, DuckDB and PostgreSQL against hand-computed figures and a
pandas oracle on the same rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from data import queries
from data.demo import write_frames
from data.filters import Filters
from data.settings import Settings
from data.source import Source
from tests.fixtures import usable_orders

TODAY = date(2025, 1, 15)
H2 = Filters(start=date(2024, 7, 1), end=date(2024, 12, 31))


def _measures(source: Source, filters: Filters) -> dict[str, dict[str, object]]:
    df = queries.period_measures(source, filters, TODAY)
    return {row["period"]: row for row in df.to_dict(orient="records")}


def test_period_measures_by_hand(tiny_source: Source) -> None:
    m = _measures(tiny_source, H2)
    cur, prev = m["current"], m["previous"]
    assert (cur["start"], cur["end"]) == (date(2024, 7, 1), date(2024, 12, 31))
    assert (prev["start"], prev["end"]) == (date(2024, 1, 1), date(2024, 6, 30))
    assert cur["revenue"] == pytest.approx(840.0)
    assert cur["margin"] == pytest.approx(425.0)
    assert cur["orders"] == 7
    assert cur["active_customers"] == 5
    assert cur["new_customers"] == 3
    assert cur["repeat_customers"] == 3
    assert prev["revenue"] == pytest.approx(180.0)
    assert prev["margin"] == pytest.approx(70.0)
    assert (prev["orders"], prev["active_customers"], prev["new_customers"], prev["repeat_customers"]) == (2, 2, 2, 0)


@pytest.mark.parametrize(
    ("filters", "revenue", "margin", "orders", "active", "new", "repeat"),
    [
        (Filters(segments=("HoReCa",)), 500.0, 270.0, 3, 2, 1, 1),
        (Filters(regions=("Sud",)), 430.0, 250.0, 3, 2, 2, 1),
        (Filters(channels=("Social",)), 250.0, 170.0, 1, 1, 1, 0),
        (Filters(segments=("n/d",)), 160.0, 75.0, 2, 2, 1, 1),
        (Filters(segments=("HoReCa", "Privati")), 680.0, 350.0, 5, 3, 2, 2),
        (Filters(segments=("Nessuno",)), 0.0, 0.0, 0, 0, 0, 0),
    ],
)
def test_each_filter_by_hand(
    tiny_source: Source,
    filters: Filters,
    revenue: float,
    margin: float,
    orders: int,
    active: int,
    new: int,
    repeat: int,
) -> None:
    cur = _measures(tiny_source, filters.with_period(H2.start, H2.end))["current"]
    assert cur["revenue"] == pytest.approx(revenue)
    assert cur["margin"] == pytest.approx(margin)
    assert (cur["orders"], cur["active_customers"], cur["new_customers"], cur["repeat_customers"]) == (
        orders,
        active,
        new,
        repeat,
    )


def test_monthly_by_segment_matches_pandas(tiny_source: Source) -> None:
    got = queries.monthly_by_segment(tiny_source, H2, TODAY)
    o = usable_orders()
    o = o[(o["order_date"] >= "2024-07-01") & (o["order_date"] <= "2024-12-31")]
    o = o.assign(month=o["order_date"].dt.to_period("M").dt.to_timestamp(), purchase=(o["revenue"] > 0).astype(int))
    want = (
        o.groupby(["month", "segment"])
        .agg(
            revenue=("revenue", "sum"),
            margin=("margin", "sum"),
            orders=("purchase", "sum"),
            customers=("customer_id", "nunique"),
        )
        .reset_index()
    )
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.astype({"orders": int, "customers": int}), check_dtype=False, check_exact=False
    )
    assert list(got["segment"][:2]) == ["n/d", "HoReCa"]  # July: customer 99, unassigned


def test_segment_totals_matches_pandas(tiny_source: Source) -> None:
    got = queries.segment_totals(tiny_source, H2, TODAY).set_index("segment")
    o = usable_orders()
    o = o[(o["order_date"] >= "2024-07-01") & (o["order_date"] <= "2024-12-31")]
    want = o.groupby("segment").agg(
        revenue=("revenue", "sum"), margin=("margin", "sum"), customers=("customer_id", "nunique")
    )
    assert set(got.index) == {"HoReCa", "Privati", "n/d"}
    for seg in want.index:
        assert got.loc[seg, "revenue"] == pytest.approx(want.loc[seg, "revenue"])
        assert got.loc[seg, "margin"] == pytest.approx(want.loc[seg, "margin"])
        assert got.loc[seg, "customers"] == want.loc[seg, "customers"]
    assert next(iter(got.index)) == "HoReCa"  # largest revenue first


def test_customer_summary_matches_pandas(tiny_source: Source) -> None:
    got = queries.customer_summary(tiny_source, Filters(end=date(2024, 12, 31)), as_of=date(2024, 12, 31))
    o = usable_orders()
    buys = o[o["revenue"] > 0]
    want = buys.groupby("customer_id").agg(
        first_purchase=("order_date", "min"),
        last_purchase=("order_date", "max"),
        orders=("order_id", "count"),
        purchase_days=("order_date", "nunique"),
    )
    money = o.groupby("customer_id").agg(revenue=("revenue", "sum"), margin=("margin", "sum"))
    want = want.join(money)
    got = got.set_index(got["customer_id"].astype(int))
    assert sorted(got.index) == [1, 2, 3, 4, 5, 99]
    for cid in want.index:
        for col in ("orders", "purchase_days"):
            assert got.loc[cid, col] == want.loc[cid, col], (cid, col)
        for col in ("revenue", "margin"):
            assert got.loc[cid, col] == pytest.approx(want.loc[cid, col]), (cid, col)
        assert got.loc[cid, "first_purchase"] == want.loc[cid, "first_purchase"]
        assert got.loc[cid, "last_purchase"] == want.loc[cid, "last_purchase"]
    assert got.loc[2, "revenue"] == pytest.approx(250.0)  # the refund is netted
    assert got.loc[4, "segment"] == "Privati"  # the duplicate customer row is not used


def test_customer_summary_ignores_later_orders(tiny_source: Source) -> None:
    got = queries.customer_summary(tiny_source, Filters(), as_of=date(2024, 6, 30))
    assert sorted(got["customer_id"].astype(int)) == [1, 3, 5]
    assert got.set_index(got["customer_id"].astype(int)).loc[1, "orders"] == 1


def test_acquisition_from_customers_then_leads(tiny_source: Source) -> None:
    got = queries.customer_acquisition(tiny_source, TODAY)
    attributed = dict(zip(got["customer_id"].astype(int), got["campaign_id"], strict=True))
    assert attributed == {1: "C1", 2: "C2", 3: "C2", 4: "C1"}  # customer 4 through their converted lead


def test_campaigns_with_leads(tiny_source: Source) -> None:
    got = queries.campaigns(tiny_source, TODAY).set_index("campaign_id")
    assert list(got.index) == ["C1", "C2", "C3"]
    assert got.loc["C1", ["leads", "converted_leads"]].tolist() == [3, 2]
    assert got.loc["C2", ["leads", "converted_leads"]].tolist() == [3, 2]
    assert got.loc["C3", ["leads", "converted_leads"]].tolist() == [0, 0]
    assert got.loc["C1", "spend"] == pytest.approx(1000.0)


def test_campaign_monthly_margin_by_hand(tiny_source: Source) -> None:
    got = queries.campaign_monthly_margin(tiny_source, Filters(), date(2024, 12, 31), TODAY)
    table = {
        (c, m.strftime("%Y-%m")): v for c, m, v in zip(got["campaign_id"], got["month"], got["margin"], strict=True)
    }
    assert table == pytest.approx(
        {
            ("C1", "2024-02"): 40.0,
            ("C1", "2024-08"): 100.0,
            ("C1", "2024-11"): 50.0,
            ("C1", "2024-12"): 30.0,
            ("C2", "2024-03"): 30.0,
            ("C2", "2024-09"): 170.0,
        }
    )
    privati = queries.campaign_monthly_margin(tiny_source, Filters(segments=("Privati",)), date(2024, 12, 31), TODAY)
    assert set(privati["campaign_id"]) == {"C1", "C2"}  # customers 4 (C1) and 3 (C2)
    assert privati["margin"].sum() == pytest.approx(50.0 + 30.0 + 30.0)


def test_filter_options_and_range(tiny_source: Source) -> None:
    options = queries.filter_options(tiny_source, TODAY)
    assert options["segment"] == ["HoReCa", "Privati", "n/d"]
    assert options["region"] == ["Centro", "Nord", "Sud"]
    assert options["channel"] == ["Fiere", "Social", "n/d"]
    assert queries.order_date_range(tiny_source, TODAY) == (date(2023, 12, 20), date(2024, 12, 1))


def test_period_measures_needs_a_period(tiny_source: Source) -> None:
    with pytest.raises(ValueError, match="needs a period"):
        queries.period_measures(tiny_source, Filters(), TODAY)


def test_one_customers_orders_by_hand(tiny_source: Source) -> None:
    """A customer card's orders: the usable ones up to the date, in date order, with their margin
    (order 3 has no cost: 40 % of its revenue); the repeated order 2 and the broken rows are out."""
    one = queries.customer_orders(tiny_source, 1, date(2024, 12, 31), TODAY)
    assert list(one["order_id"]) == [1, 2, 3]
    assert list(one["revenue"]) == [100.0, 200.0, 50.0]
    assert list(one["margin"]) == pytest.approx([40.0, 80.0, 20.0])
    two = queries.customer_orders(tiny_source, 2, date(2024, 12, 31), TODAY)
    assert list(two["order_id"]) == [4, 5] and list(two["revenue"]) == [300.0, -50.0]  # order 15: bad amount
    assert list(queries.customer_orders(tiny_source, 2, date(2024, 9, 10), TODAY)["order_id"]) == [4]


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_one_customers_orders_see_the_ids_other_customers_repeat(
    kind: str, tmp_path: Path, default_settings: Settings
) -> None:
    """An order id that two customers share is kept for the one whose usable row comes first, as
    on the data-health page: the card reads only the customer's ids, but all rows of those ids."""
    orders = pd.DataFrame(
        [
            (10, 1, "2024-01-01", 100.0, 60.0),
            (10, 2, "2024-01-05", 50.0, 20.0),  # a repeat of 10: customer 1's row came first
            (11, 2, "2024-02-01", None, 1.0),  # unusable (no amount): does not make 1's 11 a repeat
            (11, 1, "2024-03-01", 30.0, 10.0),
            (12, 2, "2024-01-01", 20.0, 5.0),
            (12, 1, "2024-02-01", 20.0, 5.0),  # a repeat of 12: customer 2's row came first
            (13, 3, "2024-01-01", 70.0, 7.0),
        ],
        columns=["order_id", "customer_id", "order_date", "revenue", "cost"],
    )
    customers = pd.DataFrame({"customer_id": [1, 2, 3], "name": ["A", "B", "C"]})
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}" if kind == "sqlite" else f"duckdb:///{tmp_path / 'shared.duckdb'}"
    write_frames(url, {"orders": orders, "customers": customers})
    source = Source(settings=default_settings, url=url)
    end = date(2024, 12, 31)
    assert list(queries.customer_orders(source, 1, end, TODAY)["order_id"]) == [10, 11]
    assert list(queries.customer_orders(source, 2, end, TODAY)["order_id"]) == [12]
    # the same orders as the whole order log cleaned at once
    health = queries.entity_health(source, "orders", TODAY)
    assert health["excluded"] == {"bad_amount": 1, "duplicate_id": 2}
