"""Data health: every broken row is counted under its reason, on every engine."""

from __future__ import annotations

from datetime import date

from data import queries
from data.source import Source

TODAY = date(2025, 1, 15)


def test_orders_health_counts_each_reason(tiny_source: Source) -> None:
    health = queries.entity_health(tiny_source, "orders", TODAY)
    assert health["rows_read"] == 18
    assert health["rows_used"] == 11
    assert health["excluded"] == {
        "missing_id": 1,
        "missing_customer": 1,
        "missing_date": 1,
        "bad_date": 1,
        "bad_amount": 1,
        "future_date": 1,
        "duplicate_id": 1,
    }
    assert (health["first_date"], health["last_date"]) == (date(2023, 12, 20), date(2024, 12, 1))


def test_customers_health(tiny_source: Source) -> None:
    health = queries.entity_health(tiny_source, "customers", TODAY)
    assert (health["rows_read"], health["rows_used"]) == (7, 5)
    assert health["excluded"] == {"missing_id": 1, "duplicate_id": 1}


def test_future_is_relative_to_today(tiny_source: Source) -> None:
    later = queries.entity_health(tiny_source, "orders", date(2100, 1, 1))
    assert "future_date" not in later["excluded"]
    assert later["rows_used"] == 12


def test_leads_and_campaigns_health(tiny_source: Source) -> None:
    assert queries.entity_health(tiny_source, "leads", TODAY)["rows_used"] == 6
    campaigns = queries.entity_health(tiny_source, "campaigns", TODAY)
    assert (campaigns["rows_read"], campaigns["excluded"]) == (3, {})


def test_demo_health_shows_the_planted_rows(demo_source: Source) -> None:
    health = queries.entity_health(demo_source, "orders", date(2026, 11, 23))
    assert health["excluded"] == {"missing_customer": 2, "bad_amount": 1, "future_date": 2, "duplicate_id": 2}
    assert queries.entity_health(demo_source, "customers", date(2026, 11, 23))["excluded"] == {"duplicate_id": 1}
