"""Benchmark: figures read again when they are ten minutes old, without anybody waiting.

    python bench/bench_renewal.py --url duckdb:////tmp/bench/100k.duckdb

In-process (Streamlit's AppTest, as ``bench_pages.py``), with the memory settings ``serve.py``
starts the server with: a visitor opens the overview (from empty caches: the source is read), the
clock of the shared results is moved ten minutes on, and the visitor opens the overview again. It
is served the figures in hand while a thread reads the source again and makes the overview's
figures from it (``service.served.facts``); the visitor opens the overview once more after the new
figures are served. Reports each visit's seconds, how long the renewal took, the process's CPU
seconds meanwhile (every thread), and the peak memory before and after it. With
``--short-of-memory``, as on a machine with less memory free than the server holds: what was made
from the old read is let go before the new read starts.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.memory import tuned, tuned_environment  # noqa: E402

if __name__ == "__main__" and not tuned():
    os.execve(sys.executable, [sys.executable, *sys.argv], tuned_environment(os.environ))

from bench.bench_pages import _session, _timed, parser_for  # noqa: E402
from data.settings import load_settings  # noqa: E402
from service import served, shared  # noqa: E402
from ui import loaders  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(url: str, timeout: float, short_of_memory: bool = False) -> dict[str, Any]:
    os.environ["CRUSCOTTO_DB_URL"] = url
    os.environ["CRUSCOTTO_CONFIG"] = str(ROOT / "bench" / "bench.toml")
    loaders.clear_all()
    if short_of_memory:  # as on a machine with less memory free than the server holds
        served._room_to_renew = lambda: False
    offset = [0.0]
    loaders.SHARED.clock = lambda: time.monotonic() + offset[0]
    at = _session(timeout)
    out: dict[str, Any] = {"url": url, "load_at_start": os.getloadavg()[0], "short_of_memory": short_of_memory}
    out["first_visit_s"] = _timed(at)["total_s"]
    out["peak_before_mb"] = _peak_mb()
    forecasts = [k for k in loaders.SHARED._entries if k[0] == shared.forecast_cells.name]
    first_key = str(forecasts[0][1][1])
    offset[0] += loaders.TTL + 1
    started, cpu = time.perf_counter(), time.process_time()
    during = _timed(at)
    out["visit_while_renewing_s"] = during["total_s"]
    out["statements_while_renewing"] = during["queries"]
    base = first_key.split("~")[0]
    source = loaders.get_source(url, load_settings())
    # the facts the source's key serves: the old ones until the new are read and made ready
    while loaders.served_key(loaders.facts(source, base, date.today())) == first_key:
        if time.perf_counter() - started > timeout:
            raise RuntimeError("the renewal did not finish")
        time.sleep(0.05)
    out["renewal_s"] = time.perf_counter() - started
    out["renewal_cpu_s"] = time.process_time() - cpu
    after = _timed(at)
    out["visit_after_s"] = after["total_s"]
    out["statements_after"] = after["queries"]
    out["peak_after_mb"] = _peak_mb()
    print(
        f"first visit {out['first_visit_s']:.2f} s · ten minutes later: served in "
        f"{out['visit_while_renewing_s']:.2f} s "
        f"({out['statements_while_renewing']} statements) while the source was read again in {out['renewal_s']:.2f} s "
        f"(process CPU {out['renewal_cpu_s']:.2f} s) · the new figures served in {out['visit_after_s']:.2f} s "
        f"({out['statements_after']} statements) · peak {out['peak_before_mb']:.0f} → {out['peak_after_mb']:.0f} MB "
        f"· load at start {out['load_at_start']:.2f}",
        flush=True,
    )
    return out


def main() -> int:
    parser = parser_for(__doc__ or "")
    parser.add_argument("--short-of-memory", action="store_true", help="as with less memory free than the server holds")
    args = parser.parse_args()
    result = run(args.url, args.timeout, args.short_of_memory)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
