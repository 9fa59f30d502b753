"""The demo database tells the designed story and is the same every time."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from data import queries
from data.demo import DEMO_END, DEMO_START, build_demo_frames
from data.filters import Filters
from data.source import Source


def test_demo_is_deterministic() -> None:
    a, b = build_demo_frames(400, seed=3), build_demo_frames(400, seed=3)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not build_demo_frames(400, seed=4)["orders"].equals(a["orders"])


def test_no_two_customers_of_the_demo_share_a_name() -> None:
    """A table lists customers by name: the demo's are all different (a reader could not tell two
    "Bar Giulia Esposito" apart). The one customer listed twice on purpose keeps its name."""
    customers = build_demo_frames(customers=3000)["customers"].drop_duplicates("customer_id")
    assert customers["name"].is_unique
    assert customers["name"].str.len().max() <= 40


def test_demo_shape() -> None:
    frames = build_demo_frames(3000)
    customers, orders = frames["customers"], frames["orders"]
    assert customers["customer_id"].nunique() == 3000
    assert set(customers["segment"]) == {"Privati", "Uffici", "HoReCa", "Rivenditori"}
    assert customers["region"].nunique() == 5
    good = orders.dropna(subset=["customer_id", "revenue"])
    good = good[good["order_date"] <= pd.Timestamp(DEMO_END)]
    assert good["order_date"].min() >= pd.Timestamp(DEMO_START)
    per_customer = good[good["revenue"] > 0].groupby("customer_id").size()
    assert 3 <= per_customer.mean() <= 15
    # Heterogeneous customers: many buy once, some buy dozens of times (BG/NBD-like).
    assert (per_customer == 1).mean() > 0.2
    assert per_customer.max() >= 40
    assert (orders["revenue"] < 0).sum() > 50  # refunds
    assert frames["products"]["ladder_step"].notna().sum() == 5
    assert len(frames["campaigns"]) == 6
    assert frames["leads"]["customer_id"].notna().sum() == customers["campaign_id"].notna().sum()
    assert len(frames["tickets"]) > 500


@pytest.mark.parametrize("segment", ["Privati", "Uffici", "HoReCa", "Rivenditori"])
def test_every_segment_has_recent_figures(demo_source: Source, segment: str) -> None:
    f = Filters(segments=(segment,), start=date(2025, 11, 1), end=date(2026, 10, 31))
    cur = queries.period_measures(demo_source, f, date(2026, 11, 23)).iloc[0]
    assert cur["revenue"] > 0 and cur["active_customers"] > 0


def test_the_spark_inserts_keep_every_value_as_its_literal() -> None:
    """The Spark demo's INSERTs, built with SQLAlchemy Core for the Hive dialect, send each value as
    its Spark literal once the driver has read the text (``%%`` → ``%`` with no values to bind):
    dots, colons, quotes, backslashes, percent signs and empty text unchanged."""
    import sqlalchemy as sa

    from data.demo import _spark_inserts

    dialect = sa.create_engine("hive://127.0.0.1:1/default", connect_args={"auth": "NONE"}).dialect
    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "when": ["20.04.2024", "2024-05-05 10:30:00"],
            "note": ["50% off: it's a :bind", "a\\b"],
            "empty": ["", "x.y.z"],
        }
    )
    sent = [text % {} for text in _spark_inserts("t", frame, ["BIGINT", "STRING", "STRING", "STRING"], dialect, rows=1)]
    assert sent == [
        "INSERT INTO TABLE `t` VALUES (1, '20.04.2024', '50% off: it\\'s a :bind', '')",
        "INSERT INTO TABLE `t` VALUES (2, '2024-05-05 10:30:00', 'a\\\\b', 'x.y.z')",
    ]
