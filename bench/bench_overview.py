"""Benchmark: the overview's queries at growing scales, against a naive pandas baseline.

    python bench/bench_overview.py --customers 100000            # DuckDB file under bench/.cache
    python bench/bench_overview.py --customers 10000 --url sqlite:////tmp/b.sqlite
    python bench/bench_overview.py --url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Prints one line per measurement (median of --repeat runs) and a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data import queries  # noqa: E402
from data.demo import DEMO_END, write_demo  # noqa: E402
from data.engine import make_readonly_engine  # noqa: E402
from data.filters import Filters  # noqa: E402
from data.settings import load_settings  # noqa: E402
from data.source import Source  # noqa: E402

TODAY = date(2026, 11, 23)
PERIOD = Filters(start=date(2025, 11, 1), end=DEMO_END)


def _median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _naive(url: str) -> pd.DataFrame:
    """The baseline: read every order into pandas, then compute the same period figures."""
    engine = make_readonly_engine(url)
    with engine.connect() as conn:
        orders = pd.read_sql(sa.text("SELECT * FROM orders"), conn)
        customers = pd.read_sql(sa.text("SELECT customer_id, segment FROM customers"), conn)
    engine.dispose()
    orders["order_date"] = pd.to_datetime(orders["order_date"], errors="coerce")
    orders = orders.dropna(subset=["customer_id", "order_date", "revenue"]).drop_duplicates("order_id")
    orders = orders.merge(customers.drop_duplicates("customer_id"), on="customer_id", how="left")
    cur = orders[(orders["order_date"] >= "2025-11-01") & (orders["order_date"] <= "2026-10-31")]
    return cur.groupby([cur["order_date"].dt.to_period("M"), "segment"])["revenue"].sum().reset_index()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--url", help="database to use (written with the demo first if --write)")
    parser.add_argument("--write", action="store_true", help="(re)write the demo at --url")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    url = args.url
    if url is None:
        cache = ROOT / "bench" / ".cache"
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / f"demo_{args.customers}.duckdb"
        url = f"duckdb:///{path}"
        if not path.exists():
            args.write = True
    if args.write:
        start = time.perf_counter()
        counts = write_demo(url, customers=args.customers)
        print(f"wrote demo ({counts['orders']:,} orders) in {time.perf_counter() - start:.1f} s")

    settings = load_settings(ROOT / "bench" / "empty.toml", env={}, secrets_path="/nonexistent")
    rows: list[tuple[str, float]] = []

    start = time.perf_counter()
    source = Source(settings=settings, url=url)
    source.ping()
    _ = source.resolution
    rows.append(("open source + validate mapping (7 entities)", time.perf_counter() - start))
    first_query, _ = _median_time(lambda: queries.period_measures(source, PERIOD, TODAY), 1)
    rows.append(("period measures, cold (first query)", first_query))

    checks: dict[str, Callable[[], Any]] = {
        "filter options": lambda: queries.filter_options(source, TODAY),
        "order date range": lambda: queries.order_date_range(source, TODAY),
        "period measures (current + previous)": lambda: queries.period_measures(source, PERIOD, TODAY),
        "monthly by segment": lambda: queries.monthly_by_segment(source, PERIOD, TODAY),
        "segment totals": lambda: queries.segment_totals(source, PERIOD, TODAY),
        "period measures, one segment": lambda: queries.period_measures(
            source, Filters(segments=("HoReCa",), start=PERIOD.start, end=PERIOD.end), TODAY
        ),
        "orders health (all exclusion rules)": lambda: queries.entity_health(source, "orders", TODAY),
        "customer summary (per customer)": lambda: queries.customer_summary(source, PERIOD, DEMO_END),
    }
    overview_total = 0.0
    for label, fn in checks.items():
        seconds, _ = _median_time(fn, args.repeat)
        rows.append((label, seconds))
        if label in (
            "filter options",
            "order date range",
            "period measures (current + previous)",
            "monthly by segment",
            "segment totals",
        ):
            overview_total += seconds
    rows.append(("**overview page, all its queries**", overview_total))
    naive, _ = _median_time(lambda: _naive(url), max(1, args.repeat // 2))
    rows.append(("naive baseline: raw orders into pandas + monthly by segment", naive))

    dialect = sa.engine.make_url(url).get_backend_name()
    with source.engine.connect() as conn:
        n_orders = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar()
    print(f"\n{dialect}, {args.customers:,} customers, {n_orders:,} order rows, median of {args.repeat}\n")
    print("| measurement | seconds |\n|---|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
