"""Benchmark: the forecast and its backtest on one database, step by step.

    python bench/bench_forecast.py --url duckdb:////tmp/bench/d100000.duckdb

Reads the facts (shared by every page, reported apart), fits the model at the end of the data (the
fit the customer-value and overview pages share), then times what the forecast adds: the forecast
of every cell, the backtest (one more fit, months earlier, and its forecast and actuals), and a
filter change (the chosen cells summed and the band drawn) — what the overview pays per visitor;
then the what-if simulator: today's figures, a lever moved, three levers moved.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.filters import Filters  # noqa: E402
from data.settings import load_settings  # noqa: E402
from data.source import Source  # noqa: E402
from kpi.periods import resolve_period  # noqa: E402
from service import compute  # noqa: E402
from service import forecast as fc  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = load_settings(ROOT / "bench" / "empty.toml", env={}, secrets_path="/nonexistent")
    source = Source(settings=settings, url=args.url)
    today = date.today()
    times: dict[str, float] = {}

    def timed(name: str, work):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        result = work()
        times[name] = time.perf_counter() - started
        return result

    facts = timed("facts (shared by every page)", lambda: compute.facts_for(source, today))
    first, last = facts.date_range()
    assert first is not None and last is not None
    _start, as_of = resolve_period("12m", first, last)
    params = settings.forecast
    fits: dict[date, object] = {}

    def fitted(day: date):  # type: ignore[no-untyped-def]
        if day not in fits:
            fits[day] = compute.clv_at(source, day, today, facts=facts)
        return fits[day]

    timed("model fit at the period's end (shared with other pages)", lambda: fitted(as_of))
    ahead = timed(
        "forecast, every cell",
        lambda: fc.forecast_cells(facts, fitted(as_of), as_of, params.months, params.trailing_months),
    )
    behind, actual = timed(
        "backtest, every cell (fit included)", lambda: fc.backtest_cells(facts, params, as_of, fitted)
    )
    segments = list(facts.labels["segment"])
    regions = list(facts.labels["region"])
    for label, filters in (
        ("filter: everyone", Filters()),
        (f"filter: segment {segments[0]}", Filters(segments=(segments[0],))),
        (f"filter: region {regions[0]}", Filters(regions=(regions[0],))),
    ):
        view = timed(label, lambda f=filters: fc.forecast_view(facts, f, ahead, behind, actual))
        assert view is not None
    # the simulator: today's figures once per filter (the app keeps them), then a slider moved:
    # the scenario and, for the waterfall, each lever moved added in turn
    from kpi.whatif import Scenario
    from service.whatif import figures, whatif

    known = timed(
        "what-if: today's figures (once per filter)",
        lambda: figures(source, facts, fitted(as_of), Filters(), as_of, today, Scenario()),
    )
    for label, scenario in (
        ("what-if: one lever moved (customers who leave -20 %)", Scenario(churn=-0.2)),
        ("what-if: the same lever moved again (-25 %)", Scenario(churn=-0.25)),
        ("what-if: margin per order +1 point", Scenario(margin_pp=0.01)),
        ("what-if: three levers (three steps of the waterfall)", Scenario(churn=-0.1, frequency=0.05, margin_pp=0.01)),
        ("what-if: referrals +50 %", Scenario(referral=0.5)),
        (
            "what-if: all six levers (six steps)",
            Scenario(churn=-0.1, frequency=0.05, margin_pp=0.01, spend=0.2, cac=0.1, referral=0.3),
        ),
    ):
        timed(label, lambda s=scenario: whatif(source, facts, fitted(as_of), Filters(), as_of, today, s, known))
    whole = fc.forecast_view(facts, Filters(), ahead, behind, actual)
    assert whole is not None and whole.errors is not None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "customers": facts.customers,
        "seconds": {k: round(v, 3) for k, v in times.items()},
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_mb": round(usage.ru_maxrss / 1024),
        "revenue_next_12m": round(whole.totals["revenue"]["value"]),
        "backtest_error": {k: {n: round(v, 3) for n, v in e.items()} for k, e in whole.errors.items()},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
