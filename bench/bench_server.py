"""Benchmark: every page cold as the server serves it — ``python3 serve.py``, one visitor's session.

    python bench/bench_server.py --url duckdb:////tmp/bench/d1000000.duckdb [--read-ahead]

``bench_pages.py`` runs the pages in its own process through Streamlit's AppTest; this starts the
dashboard as the README does (its memory settings, its threads) and visits every page in turn in one
session, over Streamlit's own websocket protocol (no browser: nothing else on the machine's two
cores). It reports each page's seconds from the request to the end of its run, the server's CPU
seconds over the visit and the server's peak memory (the kernel's high-water mark of its resident
memory, ``VmHWM``).

Without ``--read-ahead`` the server is told not to read the source when it starts (``[server]
read_at_start = false``): the first page reads it, as in ``bench_pages.py``. With it, the visit
starts once the server has read the source and made the overview (``serve.py``'s default), and the
seconds that took are reported too.

AppTest keeps, for its own queries, every widget's format function, and with it the variables of
the page that drew the widget, page after page; the server keeps none of them. At a million
customers that held some 0.5 GB more at the end of a visit (bench/RESULTS.md): what a server needs
is this benchmark's figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402

from tests.e2e.conftest import StreamlitServer, server_env  # noqa: E402

#: the pages in the order of ``bench_pages.PAGES``, by their address
PAGES = {
    "overview": "panoramica",
    "customer_value": "valore",
    "marketing": "marketing",
    "lifecycle": "ciclo-di-vita",
    "upsell": "opportunita",
    "engagement": "coinvolgimento",
    "data_health": "dati",
}
_STATUS = ForwardMsg.ScriptFinishedStatus
_FINISHED = (_STATUS.FINISHED_SUCCESSFULLY, _STATUS.FINISHED_WITH_COMPILE_ERROR)  # not a rerun's, a fragment's


def _status(pid: int) -> dict[str, float]:
    """The server's resident memory now and at its highest (MB), from the kernel."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            found[name] = int(value.split()[0]) / 1024
    return found


def _settled(server: StreamlitServer, limit: float = 120) -> None:
    """Wait until the server has been idle for a second (its CPU time steady)."""
    deadline = time.perf_counter() + limit
    before = server.cpu_seconds()
    while time.perf_counter() < deadline:
        time.sleep(1.0)
        now = server.cpu_seconds()
        if now - before < 0.05:
            return
        before = now


async def _visit(url: str, timeout: float) -> dict[str, float]:
    """Every page in turn in one session: the seconds of each run. A page that shows an exception
    stops the benchmark."""
    seconds: dict[str, float] = {}
    uri = url.replace("http://", "ws://", 1) + "/_stcore/stream"
    streamlit = [Subprotocol("streamlit")]
    async with connect(uri, subprotocols=streamlit, max_size=None, proxy=None, open_timeout=timeout) as ws:
        for name, page in PAGES.items():
            request = BackMsg()
            request.rerun_script.query_string = ""
            request.rerun_script.page_name = page
            started = time.perf_counter()
            await ws.send(request.SerializeToString())
            while True:
                msg = ForwardMsg()
                msg.ParseFromString(await asyncio.wait_for(ws.recv(), timeout))
                kind = msg.WhichOneof("type")
                if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    element = msg.delta.new_element
                    if element.WhichOneof("type") == "exception":
                        raise RuntimeError(f"{name}: {element.exception.type}: {element.exception.message}")
                if kind == "script_finished" and msg.script_finished in _FINISHED:
                    break
            seconds[name] = time.perf_counter() - started
    return seconds


def run(url: str, timeout: float, read_ahead: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "cruscotto.toml"
        settings = (ROOT / "bench" / "bench.toml").read_text()
        config.write_text(f"{settings}\n[server]\nread_at_start = {'true' if read_ahead else 'false'}\n")
        server = StreamlitServer(server_env(config, CRUSCOTTO_DB_URL=url), Path(tmp) / "server.log")
        try:
            started, cpu = time.perf_counter(), server.cpu_seconds()  # the server answers
            out: dict[str, Any] = {"url": url, "read_ahead": read_ahead, "load_at_start": os.getloadavg()[0]}
            if not read_ahead:
                _settled(server)  # the server's start loads its modules (``serve.py``): done before the visit
            else:  # from the server answering to the source read and the overview made
                while "are ready" not in server.output():
                    if time.perf_counter() - started > timeout or server.proc.poll() is not None:
                        raise RuntimeError(f"the server did not read the source ahead:\n{server.output()[-2000:]}")
                    time.sleep(0.1)
                out["read_ahead_s"] = time.perf_counter() - started
                out["read_ahead_cpu_s"] = server.cpu_seconds() - cpu
                ahead, ahead_cpu = out["read_ahead_s"], out["read_ahead_cpu_s"]
                print(f"read ahead at the start: {ahead:.2f} s (server CPU {ahead_cpu:.2f} s)", flush=True)
            cpu = server.cpu_seconds()
            out["pages"] = asyncio.run(_visit(server.url, timeout))
            out["cpu_s"] = server.cpu_seconds() - cpu
            memory = _status(server.proc.pid)
            out["peak_rss_mb"], out["rss_after_mb"] = memory["VmHWM"], memory["VmRSS"]
        finally:
            server.stop()
    for name, seconds in out["pages"].items():
        print(f"{name:<15} cold {seconds:6.2f} s", flush=True)
    total = sum(out["pages"].values())
    out["total_s"] = total
    print(
        f"all pages cold in a row, served: {total:.2f} s (server CPU {out['cpu_s']:.2f} s) · peak memory "
        f"{out['peak_rss_mb']:.0f} MB (after the visit {out['rss_after_mb']:.0f} MB) · load at start "
        f"{out['load_at_start']:.2f}",
        flush=True,
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--read-ahead", action="store_true", help="the visit after serve.py read the source at its start (its default)"
    )
    args = parser.parse_args()
    result = run(args.url, args.timeout, args.read_ahead)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
