"""Benchmark: a visitor's overview while another client hammers the server.

    python bench/bench_fair_share.py --url duckdb:////tmp/bench/d100000.duckdb --runs 2

Starts the server as ``serve.py`` does on the database and, through Streamlit's own websocket protocol
(``tests/e2e/visitor.py``, no browser), measures a visitor's overview in a new session three times
alone, then three times while eight sessions from another loopback address (127.0.0.2) each open
the overview four times with a custom period of their own (each a new model fit). Once with the
fair share as shipped, once with it off (``[server] pages_at_once = 100``). Prints, per run, the
visitor's seconds alone and hammered, the hammer's pages, the server's CPU seconds and the load
average at the start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from tests.e2e.conftest import StreamlitServer, server_env  # noqa: E402
from tests.e2e.visitor import hammered  # noqa: E402


def _range(url: str) -> tuple[date, date]:
    engine = sa.create_engine(url)
    with engine.connect() as con:
        first, last = con.execute(sa.text("SELECT min(order_date), max(order_date) FROM orders")).one()
    engine.dispose()
    return _as_date(first), _as_date(last)


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def run(url: str, config_text: str, sessions: int, rounds: int) -> dict[str, object]:
    first, last = _range(url)
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "cruscotto.toml"
        config.write_text(config_text)
        load = os.getloadavg()[0]
        server = StreamlitServer(server_env(config, CRUSCOTTO_DB_URL=url), Path(folder) / "streamlit.log")
        try:
            result = asyncio.run(hammered(server.url, first, last, sessions, rounds))
            cpu = server.cpu_seconds()
        finally:
            server.stop()
    return {
        "config": config_text.strip() or "(as shipped)",
        "load_at_start": round(load, 2),
        "solo_median_s": round(statistics.median(result["solo_s"]), 2),  # type: ignore[arg-type]
        "hammered_median_s": round(statistics.median(result["shared_s"]), 2),  # type: ignore[arg-type]
        "hammered_s": [round(s, 2) for s in result["shared_s"]],  # type: ignore[attr-defined]
        "hammer_median_s": round(statistics.median(result["hammer_s"]), 2),  # type: ignore[arg-type]
        "hammer_on": result["hammer_on"],
        "server_cpu_s": round(cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json")
    args = parser.parse_args()
    out = []
    for _ in range(args.runs):
        for config in ("", "[server]\npages_at_once = 100\n"):
            out.append(run(args.url, config, args.sessions, args.rounds))
            print(json.dumps(out[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
