"""The naive baseline: read the raw orders and customers into pandas and compute there.

    python bench/bench_naive.py --url duckdb:////tmp/bench/d100000.duckdb

What a quick script would do instead of pushing the work into the database: read every order and
customer (through pandas.read_sql, the usual way), clean, then compute the overview's period figures
and every customer's purchase summary. Prints seconds for the read and the compute, and peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.engine import make_readonly_engine  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    engine = make_readonly_engine(args.url, 3600)
    started = time.perf_counter()
    with engine.connect() as conn:
        orders = pd.read_sql(sa.text("SELECT * FROM orders"), conn)
        customers = pd.read_sql(sa.text("SELECT customer_id, segment FROM customers"), conn)
    read = time.perf_counter() - started
    started = time.perf_counter()
    orders["order_date"] = pd.to_datetime(orders["order_date"], errors="coerce")
    orders["revenue"] = pd.to_numeric(orders["revenue"], errors="coerce")
    orders = orders.dropna(subset=["customer_id", "order_date", "revenue"]).drop_duplicates("order_id")
    orders = orders.merge(customers.drop_duplicates("customer_id"), on="customer_id", how="left")
    orders["margin"] = orders["revenue"] - orders["cost"].fillna(orders["revenue"] * 0.6)
    period = orders[(orders["order_date"] >= "2025-11-01") & (orders["order_date"] <= "2026-10-31")]
    _ = period.groupby([period["order_date"].dt.to_period("M"), "segment"])[["revenue", "margin"]].sum()
    buys = orders[orders["revenue"] >= 0]
    _ = buys.groupby("customer_id").agg(
        first=("order_date", "min"), last=("order_date", "max"), days=("order_date", "nunique"), value=("margin", "sum")
    )
    compute = time.perf_counter() - started
    result = {
        "read_s": read,
        "compute_s": compute,
        "rows": len(orders),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
