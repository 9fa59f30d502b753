"""Benchmark: time to the first chart in headless Chromium, the dashboard against the floor.

    python bench/bench_first_chart.py --rounds 7

Starts two servers — the dashboard on the embedded demo database and ``bench/floor_app.py`` (one
Plotly chart, nothing else) — and, alternating between them, opens each in a new browser with an
empty cache and times navigation start → the first chart drawn. Reports the first visit after the
server starts (cold caches) and the median of the later visits, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser, sync_playwright  # noqa: E402

from data.demo import ensure_demo_database  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, server_env  # noqa: E402

CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'


def _visit(browser: Browser, url: str) -> float:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url)
    page.locator(CHART).first.wait_for(timeout=120_000)
    elapsed = time.perf_counter() - started
    context.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    ensure_demo_database()
    config = Path("/tmp/cruscotto-bench-empty.toml")
    config.write_text("")
    app = StreamlitServer(server_env(config), Path("/tmp/cruscotto-bench-app.log"))
    floor = StreamlitServer(server_env(config), Path("/tmp/cruscotto-bench-floor.log"), script="bench/floor_app.py")
    times: dict[str, list[float]] = {"app": [], "floor": []}
    try:
        with sync_playwright() as pw:
            for _ in range(args.rounds):
                for name, server in (("floor", floor), ("app", app)):
                    browser = pw.chromium.launch(
                        executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)
                    )  # a cold browser each time
                    times[name].append(_visit(browser, server.url))
                    browser.close()
    finally:
        app.stop()
        floor.stop()
    for name, values in times.items():
        later = statistics.median(values[1:])
        print(
            f"{name:<6} first visit after start {values[0]:.2f} s · later visits median {later:.2f} s "
            f"(min {min(values[1:]):.2f}, max {max(values[1:]):.2f})"
        )
    ratio = statistics.median(times["app"][1:]) / statistics.median(times["floor"][1:])
    print(f"ratio (later visits, medians): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
