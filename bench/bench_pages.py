"""Benchmark: every page of the dashboard, as the server runs it, on one database.

    python bench/bench_pages.py --url duckdb:////tmp/bench/100k.duckdb --json out.json

Runs the pages in-process through Streamlit's AppTest (the same script run the server does, without
the browser) and reports, per page and in total:

- cold: one visitor from empty caches visiting every page in turn (the sum is "all KPIs cold");
  with ``--think S``, reading each page S seconds before opening the next (the server reads ahead
  meanwhile: ``service.shared.read_ahead``);
- query / transfer: seconds inside the database and moving rows into pandas (data.queries.STATS);
- kpi + drawing: the rest of the cold run (models, KPI functions, figures, Streamlit);
- warm switch: coming back to the page, caches full (what a page switch costs the server);
- filter change: one segment chosen on the page (new queries; shared model fits stay cached);
- peak memory of the process (ru_maxrss), and the process's CPU seconds (every thread, user and
  system) during the cold visit: the machines are shared, so wall seconds alone say little.

With ``--read-ahead`` the source is first read as ``serve.py`` reads it when it starts and after
each midnight (the facts, the order lines and the engagements, then the overview's figures and what
the other pages share: ``service.served.read_ahead_once`` with ``service.shared.prepare``; timed
apart), then the same visit: what the first visitor after a start waits for.

It runs with the memory settings ``serve.py`` starts the server with (``data.memory``);
``--plain-allocator`` measures with the C library's defaults, as ``streamlit run app.py`` runs.

What the pages import and the source's driver are imported before anything is timed, as
``serve.py`` imports them when it starts (``service.served.preload``). Every session shares one registry
of Streamlit components, built before anything is timed, as a server builds it when it starts:
AppTest otherwise scans every installed package for each new session (0.1–0.3 s that no visitor of
a real server waits for).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.memory import tuned, tuned_environment  # noqa: E402

if __name__ == "__main__" and "--plain-allocator" not in sys.argv and not tuned():
    # measured as ``serve.py`` runs the server: with its memory settings, which the C library reads
    # when a process starts
    os.execve(sys.executable, [sys.executable, *sys.argv], tuned_environment(os.environ))

import streamlit as st  # noqa: E402
from streamlit.components.v2.component_manager import BidiComponentManager  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from data.queries import STATS  # noqa: E402
from service import served  # noqa: E402
from service.served import preload  # noqa: E402
from ui import loaders  # noqa: E402

PAGES = {
    "overview": "pages/panoramica.py",
    "customer_value": "pages/valore.py",
    "marketing": "pages/marketing.py",
    "lifecycle": "pages/ciclo-di-vita.py",
    "upsell": "pages/opportunita.py",
    "engagement": "pages/coinvolgimento.py",
    "data_health": "pages/dati.py",
}


def _clear() -> None:
    """The per-filter results only: the facts and shared results stay (a warm server)."""
    st.cache_data.clear()


def _timed(at: AppTest, page: str | None = None) -> dict[str, float]:
    STATS.reset()
    started = time.perf_counter()
    (at.switch_page(page) if page else at).run()
    total = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    errors = [e.value for e in at.error]
    if errors:
        raise RuntimeError(f"{page}: {errors}")
    return {
        "total_s": total,
        "query_s": STATS.query_s,
        "transfer_s": STATS.transfer_s,
        "kpi_s": max(total - STATS.query_s - STATS.transfer_s, 0.0),
        "queries": STATS.queries,
        "rows": STATS.rows,
    }


def _components() -> BidiComponentManager:
    """Streamlit's registry of installed components, as a server builds it when it starts."""
    registry = BidiComponentManager()
    registry.discover_and_register_components(start_file_watching=False)
    return registry


_REGISTRY = _components()


def _session(timeout: float, first: AppTest | None = None) -> AppTest:
    """A new visitor's session, with the first one's component registry (or the server's)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at._bidi_component_manager = first._bidi_component_manager if first is not None else _REGISTRY
    return at


def run(url: str, timeout: float, think: float = 0.0, read_ahead: bool = False) -> dict[str, Any]:
    os.environ["CRUSCOTTO_DB_URL"] = url
    os.environ["CRUSCOTTO_CONFIG"] = str(ROOT / "bench" / "bench.toml")
    preload(url)  # as ``serve.py`` does when it starts
    out: dict[str, Any] = {
        "url": url,
        "think_s": think,
        "allocator": "tuned" if tuned() else "plain",
        "load_at_start": os.getloadavg()[0],
        "pages": {},
    }
    loaders.clear_all()
    if read_ahead:  # as ``serve.py`` does when it starts, before anybody visits
        started, cpu = time.perf_counter(), time.process_time()
        said: list[str] = []
        served.read_ahead_once(said.append)
        if not any("are ready" in line for line in said):
            raise RuntimeError(f"the source was not read ahead: {said}")
        out["read_ahead"] = {"total_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}
        ahead = out["read_ahead"]
        print(f"read ahead at the start: {ahead['total_s']:.2f} s (process CPU {ahead['cpu_s']:.2f} s)", flush=True)
    at = _session(timeout)
    cpu_started = time.process_time()
    # One visitor opens the dashboard and visits every page in turn, from empty caches: each page
    # pays for what it is first to need (the overview also opens the source and fits the model).
    cold = {"overview": _timed(at)}
    segment = at.multiselect(key="segment").options[0] if at.multiselect else None
    for name, path in list(PAGES.items())[1:]:
        time.sleep(think)  # the visitor reads the page before opening the next (not counted)
        cold[name] = _timed(at, path)
    cold_cpu = time.process_time() - cpu_started  # every thread of the process, user + system
    for name, path in PAGES.items():
        warm = _timed(at, path)
        changed: dict[str, float] = {}
        if segment is not None:
            # The same page with one segment chosen, in a session opened on a link with the filter:
            # the source, the filter options and the model fits shared by every view are warm.
            filtered = _session(timeout, first=at)
            filtered.query_params["segment"] = [segment]
            if name == "overview":
                changed = _timed(filtered)
            else:
                filtered.run()
                changed = _timed(filtered, path)
        out["pages"][name] = {"cold": cold[name], "warm_switch_s": warm["total_s"], "filter_change": changed}
        c = cold[name]
        print(
            f"{name:<15} cold {c['total_s']:6.2f} s (query {c['query_s']:.2f}, transfer {c['transfer_s']:.2f}, "
            f"kpi+draw {c['kpi_s']:.2f}) · warm {warm['total_s']:.2f} s · "
            f"filter change {changed.get('total_s', float('nan')):.2f} s",
            flush=True,
        )
    out["all_pages_cold"] = {k: sum(c[k] for c in cold.values()) for k in ("total_s", "query_s", "transfer_s", "kpi_s")}
    out["all_pages_cold"]["cpu_s"] = cold_cpu
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = out["all_pages_cold"]["total_s"]
    print(
        f"all pages cold in a row: {total:.2f} s (process CPU {cold_cpu:.2f} s) · peak memory "
        f"{out['peak_rss_mb']:.0f} MB · allocator {out['allocator']} · load at start {out['load_at_start']:.2f}",
        flush=True,
    )
    return out


def parser_for(doc: str) -> argparse.ArgumentParser:
    """The options every in-process page benchmark takes: the database, the JSON out, the timeout."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--timeout", type=float, default=900)
    return parser


def main() -> int:
    parser = parser_for(__doc__ or "")
    parser.add_argument(
        "--think", type=float, default=0.0, help="seconds a visitor reads each cold page before the next (not counted)"
    )
    parser.add_argument(
        "--plain-allocator", action="store_true", help="the C library's memory defaults (streamlit run app.py)"
    )
    parser.add_argument(
        "--read-ahead",
        action="store_true",
        help="the visit after serve.py read the source, at its start or after a midnight",
    )
    args = parser.parse_args()
    result = run(args.url, args.timeout, args.think, args.read_ahead)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
