"""A small, messy company whose figures are computed by hand in the tests.

Dates and amounts of orders are stored as text, so the tolerant parsing runs on every engine;
rows 12-18 are broken on purpose, one per exclusion rule.
"""

from __future__ import annotations

import pandas as pd

# order_id, customer_id, order_date, revenue, cost
_ORDERS = [
    (1, 1, "2024-02-10", "100", 60.0),
    (2, 1, "2024-08-05", "200", 120.0),
    (3, 1, "2024-08-05", "50", None),  # no cost: margin = 40 % of revenue = 20
    (4, 2, "2024-09-01", "300", 100.0),
    (5, 2, "2024-09-15", "-50", -20.0),  # a refund
    (6, 3, "2024-03-03", "80", 50.0),
    (7, 4, "2024-11-11", "120", 70.0),
    (8, 4, "2024-12-01", "60", 30.0),
    (9, 5, "2023-12-20", "40", 10.0),
    (10, 5, "2024-10-10", "70", 40.0),
    (11, 99, "2024-07-07", "90", 45.0),  # customer 99 is not in the customers table
    (12, None, "2024-08-01", "100", 50.0),  # missing_customer
    (13, 1, None, "100", 50.0),  # missing_date
    (14, 1, "2024-13-45", "100", 50.0),  # bad_date
    (15, 2, "2024-09-09", "abc", 50.0),  # bad_amount
    (16, 3, "2099-01-01", "10", 5.0),  # future_date
    (2, 1, "2024-08-05", "200", 120.0),  # duplicate_id (same as order 2)
    (None, 1, "2024-08-08", "10", 5.0),  # missing_id
]

_CUSTOMERS = [
    (1, "Alfa", "HoReCa", "Nord", "Fiere", "C1"),
    (2, "Beta", "HoReCa", "Sud", "Social", "C2"),
    (3, "Gamma", "Privati", "Nord", "Social", "C2"),
    (4, "Delta", "Privati", "Sud", "Fiere", None),
    (4, "Delta bis", "Uffici", "Nord", "Fiere", None),  # duplicate_id: the first by name is kept
    (None, "Senza codice", "Uffici", "Nord", "Fiere", None),  # missing_id
    (5, "Epsilon", None, "Centro", None, None),  # no segment, no channel
]

TODAY = "2025-01-15"


def tiny_frames() -> dict[str, pd.DataFrame]:
    orders = pd.DataFrame(_ORDERS, columns=["order_id", "customer_id", "order_date", "revenue", "cost"])
    orders["order_id"] = orders["order_id"].astype("Int64")
    orders["customer_id"] = orders["customer_id"].astype("Int64")
    orders["order_date"] = orders["order_date"].astype("string")
    orders["revenue"] = orders["revenue"].astype("string")
    customers = pd.DataFrame(_CUSTOMERS, columns=["customer_id", "name", "segment", "region", "channel", "campaign_id"])
    customers["customer_id"] = customers["customer_id"].astype("Int64")
    campaigns = pd.DataFrame(
        {
            "campaign_id": ["C1", "C2", "C3"],
            "name": ["Fiera", "Social", "Vuota"],
            "channel": ["Fiere", "Social", "Email"],
            "spend": [1000.0, 500.0, 0.0],
        }
    )
    leads = pd.DataFrame(
        {
            "lead_id": [1, 2, 3, 4, 5, 6],
            "campaign_id": ["C1", "C1", "C2", "C2", "C2", "C1"],
            "created_at": ["2024-01-05", "2024-01-06", "2024-08-20", "2024-02-20", "2024-02-21", "2024-11-01"],
            # customer 4 has no campaign in the customers table: their converted lead attributes them to C1
            "customer_id": pd.array([1, None, 2, 3, None, 4], dtype="Int64"),
        }
    )
    return {"orders": orders, "customers": customers, "campaigns": campaigns, "leads": leads}


def usable_orders() -> pd.DataFrame:
    """The pandas oracle's view of the usable orders: rows 1-11, typed, with margin and segment."""
    frames = tiny_frames()
    orders = frames["orders"].iloc[:11].copy()
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    orders["revenue"] = orders["revenue"].astype(float)
    orders["margin"] = (orders["revenue"] - orders["cost"]).fillna(orders["revenue"] * 0.40)
    customers = frames["customers"].iloc[[0, 1, 2, 3, 6]]
    merged = orders.merge(customers, on="customer_id", how="left")
    for col in ("segment", "region", "channel"):
        merged[col] = merged[col].fillna("n/d")
    return merged


# The bad-input matrix: an ERP export as it comes — text customer codes, dates in several written
# forms, amounts as text, odd segment names. Usable orders are 1-12; the rest break one rule each.
_MATRIX_ORDERS = [
    (1, "C1", "2024-03-01", "100", 60.0),
    (2, "C1", "15/03/2024", "200", 100.0),
    (3, "C2", "20.04.2024", "150", 50.0),
    (4, "C3", "2024-05-05 10:30:00", "80", 30.0),
    (5, "C4", "6/7/2024", "300", 120.0),  # 6 July (day first)
    (6, "C5", "2024/08/09", "60", 20.0),
    (7, "C6", "2024-09-10", "40", 10.0),
    (8, "C7", "2024-10-11", "70", 30.0),
    (9, "C8", "12/11/2024", "90", 40.0),  # 12 November
    (10, "C9", "2024-11-20", "110", 50.0),
    (11, "C1", "2024-06-01", "-30", -10.0),  # a refund
    (12, "C999", "2024-07-07", "55", 25.0),  # customer not in the customers table
    (13, "C1", "31/02/2024", "10", 5.0),  # bad_date
    (14, "C1", "ieri", "10", 5.0),  # bad_date
    (15, "C2", "2024-13-01", "10", 5.0),  # bad_date
    (16, "C2", "2024-04-04", "abc", 5.0),  # bad_amount
    (17, "C3", "2024-04-05", "12,50 €", 5.0),  # bad_amount
    (18, "C3", "2099-12-31", "10", 5.0),  # future_date
    (19, "C4", "01/01/2099", "10", 5.0),  # future_date
    (20, None, "2024-04-06", "10", 5.0),  # missing_customer
    (22, "", "2024-04-08", "10", 5.0),  # missing_customer (blank)
    (21, "C4", None, "10", 5.0),  # missing_date
    (None, "C4", "2024-04-07", "10", 5.0),  # missing_id
    (2, "C1", "15/03/2024", "200", 100.0),  # duplicate_id
    (23, "C2", "0001-01-01", "10", 5.0),  # implausible_date
    (24, "C3", "1899-12-31", "10", 5.0),  # implausible_date
    (25, "C2", "2024-04-09", "1000000000000000", 5.0),  # implausible_amount (10^15)
]

_MATRIX_CUSTOMERS = [
    ("C1", "Bar Roma", "Bar & Caffè", "Nord", "Fiere"),
    ("C2", "Pub O'Hara", "O'Hara", "Sud", "Social"),
    ("C3", "Rossi", "Privati/Famiglie", "Nord", "Social"),
    ("C4", "Bio srl", "100% bio", "Centro", "Web"),
    ("C5", "Studio A", "  Uffici  ", "Nord", "Web"),  # the same segment as C6 once trimmed
    ("C6", "Studio B", "Uffici", "Nord", "Web"),
    ("C7", "Senza segmento", "", "Sud", "Fiere"),  # blank segment: n/d
    ("C8", "Specialty", "☕ Specialty", "Nord", "Web"),
    ("C9", "Hotel Lago", "Ristoranti, hotel", "Nord", "Fiere"),
    ("C10", "Mai comprato", "Uffici", "Sud", "Web"),  # a customer without orders
    (None, "Senza codice", "Uffici", "Nord", "Web"),  # missing_id
    ("C9", "Hotel Lago doppio", "Altro", "Sud", "Web"),  # duplicate_id
]

MATRIX_TODAY = "2025-01-15"

#: revenue of 2024 per segment, by hand (refund included; unknown customer under n/d)
MATRIX_REVENUE = {
    "Bar & Caffè": 270.0,
    "O'Hara": 150.0,
    "Privati/Famiglie": 80.0,
    "100% bio": 300.0,
    "Uffici": 100.0,
    "☕ Specialty": 90.0,
    "Ristoranti, hotel": 110.0,
    "n/d": 125.0,
}
MATRIX_EXCLUDED = {
    "missing_id": 1,
    "missing_customer": 2,
    "missing_date": 1,
    "bad_date": 3,
    "implausible_date": 2,
    "bad_amount": 2,
    "implausible_amount": 1,
    "future_date": 2,
    "duplicate_id": 1,
}


def matrix_frames() -> dict[str, pd.DataFrame]:
    orders = pd.DataFrame(_MATRIX_ORDERS, columns=["order_id", "customer_id", "order_date", "revenue", "cost"])
    orders["order_id"] = orders["order_id"].astype("Int64")
    customers = pd.DataFrame(_MATRIX_CUSTOMERS, columns=["customer_id", "name", "segment", "region", "channel"])
    return {"orders": orders, "customers": customers}
