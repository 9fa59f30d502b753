"""Twenty people at once: one server, twenty headless sessions, each with its own filters from its
own link. Each must see its own revenue, computed here from the database, and no traceback.

The timings are printed and written to ``test-artifacts/load.json``; the test asserts correctness,
not speed (speed lives in bench/)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from playwright.async_api import Browser, async_playwright

from data import queries
from data.demo import DEMO_PATH, ensure_demo_database
from data.filters import Filters
from data.settings import load_settings
from data.source import Source
from kpi.periods import resolve_period
from render.format import fmt_money
from render.text import t
from tests.e2e.conftest import ARTIFACTS, StreamlitServer, server_env

SESSIONS = 20
PERIODS = ("12m", "6m", "3m", "ytd", "all")


def _views(source: Source) -> list[dict[str, Any]]:
    """Twenty different views: segment × period × region × language."""
    options = queries.filter_options(source, date.today())
    segments, regions = options["segment"], options["region"]
    views = []
    for i in range(SESSIONS):
        lang = "en" if i % 2 else "it"
        view: dict[str, Any] = {
            "lang": lang,
            "period": PERIODS[i % len(PERIODS)],
            "segments": [segments[i % len(segments)]],
        }
        view["regions"] = [regions[i % len(regions)]] if i % 3 == 0 else []
        if i % 7 == 6:
            view["segments"] = segments[:2]
        views.append(view)
    return views


def _link(base: str, view: dict[str, Any]) -> str:
    query: list[tuple[str, str]] = [("lang", "English" if view["lang"] == "en" else "Italiano")]
    query += [("segment", s) for s in view["segments"]]
    query += [("region", r) for r in view["regions"]]
    query.append(("period", t(f"period.{view['period']}", view["lang"])))
    return f"{base}/?{urlencode(query)}"


def _expected(source: Source, view: dict[str, Any], first: date, last: date) -> str:
    start, end = resolve_period(view["period"], first, last)
    f = Filters(segments=tuple(view["segments"]), regions=tuple(view["regions"]), start=start, end=end)
    revenue = queries.period_measures(source, f, date.today()).iloc[0]["revenue"]
    return fmt_money(revenue, view["lang"], decimals=0)


async def _session(browser: Browser, url: str, label: str) -> dict[str, Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    started = time.perf_counter()
    await page.goto(url, timeout=180_000)
    name = page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{re.escape(label)}$"))
    metric = page.locator('[data-testid="stMetric"]').filter(has=name).first
    await metric.wait_for(timeout=180_000)
    await page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=180_000)
    value = (await metric.locator('[data-testid="stMetricValue"]').inner_text()).strip()
    elapsed = time.perf_counter() - started
    tracebacks = await page.locator("[data-testid='stException']").count()
    await context.close()
    return {"value": value, "seconds": elapsed, "tracebacks": tracebacks}


async def _drive(launch: dict[str, Any], links: list[str], labels: list[str]) -> tuple[list[dict[str, Any]], float]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**launch)
        started = time.perf_counter()
        results = await asyncio.gather(*(_session(browser, u, lab) for u, lab in zip(links, labels, strict=True)))
        total = time.perf_counter() - started
        await browser.close()
    return list(results), total


def _in_thread(launch: dict[str, Any], links: list[str], labels: list[str]) -> tuple[list[dict[str, Any]], float]:
    """Run the async sessions on a thread of their own: pytest-playwright's sync API already holds
    an event loop on the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _drive(launch, links, labels)).result()


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_twenty_sessions_each_see_their_own_figures(tmp_path: Path, browser_type_launch_args: dict[str, Any]) -> None:
    ensure_demo_database()
    empty = tmp_path / "cruscotto.toml"
    empty.write_text("")
    source = Source(settings=load_settings(empty, env={}, secrets_path="/nonexistent"), url=f"duckdb:///{DEMO_PATH}")
    first, last = queries.order_date_range(source, date.today())
    assert first and last
    views = _views(source)
    assert len({json.dumps(v, sort_keys=True) for v in views}) == SESSIONS  # twenty different views
    expected = [_expected(source, v, first, last) for v in views]
    source.engine.dispose()

    server = StreamlitServer(server_env(empty), tmp_path / "streamlit.log")
    try:
        links = [_link(server.url, v) for v in views]
        labels = [t("col.revenue", v["lang"]) for v in views]
        # one session alone first: the reference, and the shared model fits warm
        cpu_start = server.cpu_seconds()
        alone, alone_total = _in_thread(browser_type_launch_args, links[:1], labels[:1])
        cpu_alone = server.cpu_seconds() - cpu_start
        results, total = _in_thread(browser_type_launch_args, links, labels)
        cpu_all = server.cpu_seconds() - cpu_start - cpu_alone
        peak = _peak_rss_mb(server.proc.pid)
    finally:
        server.stop()

    seconds = sorted(r["seconds"] for r in results)
    figures = {
        "sessions": SESSIONS,
        "one_session_alone_seconds": round(alone_total, 2),
        "server_cpu_one_session_s": round(cpu_alone, 2),
        "server_cpu_twenty_sessions_s": round(cpu_all, 2),
        "wall_seconds": round(total, 2),
        "median_seconds": round(seconds[len(seconds) // 2], 2),
        "p95_seconds": round(seconds[int(0.95 * (len(seconds) - 1))], 2),
        "max_seconds": round(seconds[-1], 2),
        "server_peak_rss_mb": round(peak, 1),
    }
    print("load:", figures)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(figures, indent=2))
    assert alone[0]["value"] == expected[0]
    for view, result, want in zip(views, results, expected, strict=True):
        assert result["tracebacks"] == 0, view
        assert result["value"] == want, (view, result["value"], want)
    assert "Traceback" not in server.output()
