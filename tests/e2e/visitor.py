"""A scripted visitor: Streamlit's own websocket protocol without a browser, light enough to run many
sessions at once from any loopback address (127.0.0.2 is another client to the server)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

from render.text import t

__all__ = ["PageRun", "hammered", "open_page"]


@dataclass
class PageRun:
    """What one page run sent back: seconds from the request to the end of the run, the kinds of
    elements drawn (``metric``, ``plotly_chart`` …), the texts of alerts, and any exception."""

    seconds: float = 0.0
    elements: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)


async def open_page(
    base_url: str, page: str, query: str = "", *, address: str = "127.0.0.1", timeout: float = 180
) -> PageRun:
    """Open ``page`` (its address, e.g. "panoramica") with ``query`` in a new session from ``address``
    and wait for the run to finish."""
    uri = base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
    run = PageRun()
    async with connect(
        uri, subprotocols=["streamlit"], local_addr=(address, 0), max_size=None, proxy=None, open_timeout=timeout
    ) as ws:
        request = BackMsg()
        request.rerun_script.query_string = query
        request.rerun_script.page_name = page
        started = time.perf_counter()
        await ws.send(request.SerializeToString())
        while True:
            raw = await ws.recv()
            msg = ForwardMsg()
            msg.ParseFromString(raw if isinstance(raw, bytes) else raw.encode())
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                name = element.WhichOneof("type") or ""
                run.elements.append(name)
                if name == "alert":
                    run.alerts.append(element.alert.body)
                if name == "exception":
                    run.exceptions.append(f"{element.exception.type}: {element.exception.message}")
            # a run cut short by a rerun (the page's own redirect) is followed by the real one
            early = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
            if kind == "script_finished" and msg.script_finished != early:
                run.seconds = time.perf_counter() - started
                return run
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{page} did not finish within {timeout} s")


async def hammered(
    url: str, first: date, last: date, sessions: int = 8, rounds: int = 4, samples: int = 3
) -> dict[str, Any]:
    """A visitor's overview (a new session each time, default view) ``samples`` times alone, then
    ``samples`` times while ``sessions`` sessions from 127.0.0.2 each open the overview ``rounds`` times with a
    custom period of their own (each a new model fit): the seconds of each, the notices the visitor
    saw, and whether the hammer was still on when the visitor was done."""
    custom = t("period.custom", "it")
    cold = await open_page(url, "panoramica")  # the facts read, the model fitted: a warm server
    assert not cold.exceptions and cold.elements.count("metric") > 0, cold
    solo = [(await open_page(url, "panoramica")).seconds for _ in range(samples)]

    async def hammer(i: int) -> list[float]:
        times = []
        for r in range(rounds):
            end = last - timedelta(days=3 * (i * rounds + r) + 1)
            query = f"period={custom}&from={first.isoformat()}&to={end.isoformat()}"
            run = await open_page(url, "panoramica", query, address="127.0.0.2")
            assert not run.exceptions, run.exceptions
            times.append(run.seconds)
        return times

    hammering = [asyncio.create_task(hammer(i)) for i in range(sessions)]
    await asyncio.sleep(1.5)  # every hammer session has asked for its first page
    shared, notices = [], []
    for _ in range(samples):
        run = await open_page(url, "panoramica")
        assert not run.exceptions and run.elements.count("metric") > 0, run
        shared.append(run.seconds)
        notices += run.alerts
    hammer_on = not all(task.done() for task in hammering)
    hammer_times = [s for times in await asyncio.gather(*hammering) for s in times]
    return {
        "solo_s": solo,
        "shared_s": shared,
        "hammer_s": hammer_times,
        "hammer_on": hammer_on,
        "notices": notices,
    }
