"""The figures read from the source, as every visitor is served them: read once, read again in the
background when they are old, read ahead at the server's start and after each midnight.

The facts of a source (``data.facts``) are kept in ``SHARED`` per source and day. When
``renew_after`` seconds old (``[server] refresh_minutes``) they are still served at once, while a
thread reads the source again, lets the ``PREPARE`` steps make what the first pages show from the
new read, and only then serves it in place of the old one, with everything made from the old one
(``SharedCache.renewed``). Each read has a key of its own (``served_key``), so every result a page
run asks for comes from one read. Short of memory for two reads at once, the old one goes instead
and the next visitor reads the source while waiting, as at the start.

Plain Python: the Streamlit pages (``ui.loaders``) and ``serve.py`` share it; ``service.shared`` adds
its ``PREPARE`` step (the overview's figures and what the other pages share) when it is imported.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import gc
import hashlib
import importlib
import itertools
import math
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from data import facts as fx
from data.demo import DEMO_PATH, demo_ready
from data.facts import Facts
from data.memory import available_bytes, resident_bytes
from data.settings import ServerLimits, Settings, load_settings
from data.source import Source
from render.charts import load_plotly
from service import compute
from service.memo import SharedCache, default_cache_bytes

__all__ = [
    "AFTER_READ",
    "AHEAD",
    "PREPARE",
    "SHARED",
    "TTL",
    "apply_limits",
    "clear",
    "current",
    "facts",
    "read_ahead_once",
    "read_already",
    "read_at",
    "renewal_failed",
    "renewing",
    "served_key",
    "source_key",
    "warm_up",
]

TTL = 600  # seconds: figures read again when ten minutes old (``[server] refresh_minutes``)
#: results made from a read live as long as it is served (a newer read, or the next day's, clears
#: them); a day at most
_DAY = 86_400.0

#: Large per-customer results (a row per customer) are shared, not copied: ``st.cache_data`` would
#: keep a pickled copy and unpickle a new one on every hit — seconds and gigabytes at a million
#: customers. Callers treat them as read-only (pandas copy-on-write keeps derived frames apart).
#: They share one memory budget (``[server] cache_mb``): the results used longest ago go first.
SHARED = SharedCache(budget=default_cache_bytes(), ttl=_DAY, renew_after=TTL)
#: one thread that reads and makes ahead what the next pages need
AHEAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cruscotto-read-ahead")
#: what to make from a new read before anybody is served it: (source, served key, day, settings)
PREPARE: list[Callable[[Source, str, date, Settings], None]] = []
#: what to make in the background once what the next pages read besides the facts is read: (source,
#: served key, day)
AFTER_READ: list[Callable[[Source, str, date], None]] = []

#: the facts of each read by its served key (``served_key``): a rerun keeps the facts it started with
_SERVED: weakref.WeakValueDictionary[str, Facts] = weakref.WeakValueDictionary()
_SERVED_LOCK = threading.Lock()
_SERVED_MARK = "~"
_READS = itertools.count(1)
_FAILED: dict[str, float] = {}  # source key → when reading it again last failed


def source_key(url: str, settings: Settings) -> str:
    """A fingerprint of the source and its mapping, for cache keys (no secret in clear)."""
    return hashlib.sha256(f"{url}|{settings!r}".encode()).hexdigest()[:16]


def apply_limits(limits: ServerLimits) -> None:
    """The server's ``[server]`` settings for the shared results: their memory budget, and how old
    the figures read from the source may get before they are read again (``refresh_minutes``; 0:
    once a day, at the server's start and after midnight)."""
    SHARED.resize(limits.cache_mb << 20 if limits.cache_mb else default_cache_bytes())
    SHARED.renew_after = limits.refresh_minutes * 60.0 if limits.refresh_minutes else math.inf


def clear() -> None:
    """Forget every read and everything made from them."""
    SHARED.clear()
    with _SERVED_LOCK:
        _SERVED.clear()
    _FAILED.clear()


def _read_facts(source: Source, key: str, today: date) -> Facts:
    """The source read and cleaned (``data.facts``), given a served key of their own
    (``served_key``); what the next pages read besides starts being read in the background."""
    made = fx.extract(source, today, lines_ahead=True)  # the order lines are read right after
    served = f"{key}{_SERVED_MARK}{next(_READS)}"
    made._cache[_SERVED_MARK] = (served, time.time())
    with _SERVED_LOCK:
        _SERVED[served] = made
    compute.memo(made, ("read_ahead",), lambda: AHEAD.submit(_ahead, source, served, made))
    return made


def _ahead(source: Source, key: str, made: Facts) -> None:
    """What the next pages read from the source (``compute.read_ahead``), then the ``AFTER_READ``
    steps for the read ``key`` names; a step that fails is left to the page that needs it. Between
    the two the source lets its memory go (``Source.between_reads``): every read of the day is done."""
    compute.read_ahead(source, made)
    source.between_reads()
    for step in AFTER_READ:
        with contextlib.suppress(Exception):
            step(source, key, made.today)


def _prepare(source: Source, key: str, today: date) -> bool:
    """The ``PREPARE`` steps for the read ``key`` names; a figure that cannot be made is left to the
    page, which says why. Whether there were steps and every one made its figures."""
    made = bool(PREPARE)
    for step in PREPARE:
        try:
            step(source, key, today, source.settings)
        except Exception:
            made = False
    return made


def _renew(_source: Source, key: str, today: date) -> None:
    """Read the source again in the background (``facts``)."""
    threading.Thread(target=_renewal, args=(_source, key, today), name="cruscotto-renew", daemon=True).start()


def _room_to_renew() -> bool:
    """Whether the machine can hold a second read beside the one served: as much memory free as
    the server holds now (a read and its overview take about as much as what they replace; at a
    million customers the peak was 8.4 GB with both, 5.6 GB reading while the visitor waits)."""
    free, held = available_bytes(), resident_bytes()
    return free is None or held is None or free >= held


def _renewal(source: Source, key: str, today: date) -> None:
    old = _day_facts.made(source, key, today)  # type: ignore[attr-defined]
    if old is not None and not _room_to_renew():
        # short of memory for two reads at once: the old one and all made from it go, and the next
        # visitor reads the source while waiting, as at the start (the page says so meanwhile)
        gone, day = served_key(old), _day_facts.name  # type: ignore[attr-defined]
        SHARED.clear_where(lambda k: ("key", gone) in k or (k[0] == day and ("key", key) in k))
        return
    try:
        made = _read_facts(source, key, today)
    except Exception:  # the figures in hand stay; the next visit after a minute tries again
        _FAILED[key] = time.time()
        _day_facts.failed(source, key, today)  # type: ignore[attr-defined]
        return
    _FAILED.pop(key, None)
    _prepare(source, served_key(made), today)
    old = _day_facts.made(source, key, today)  # type: ignore[attr-defined]
    if _day_facts.put(made, source, key, today) and old is not None:  # type: ignore[attr-defined]
        gone = served_key(old)
        SHARED.clear_where(lambda k: ("key", gone) in k)


@SHARED.renewed(_renew)
def _day_facts(_source: Source, key: str, today: date) -> Facts:
    # a new day: what the past days' reads made is never asked for again
    SHARED.clear_where(functools.partial(_of_another_day, today))
    return _read_facts(_source, key, today)


def _of_another_day(today: date, key: tuple[Any, ...]) -> bool:
    return any(pair[0] == "today" and pair[1] != today for pair in key[1:])


def facts(source: Source, key: str, today: date) -> Facts:
    """The source read and cleaned once (``data.facts``), shared by every session: the facts
    ``key`` was served (``served_key``), or those of the source ``key`` names.

    They are read again when ``renew_after`` seconds old, without anybody waiting: the visitor who
    finds them old is served them, and a thread reads the source again, makes what the first pages
    show from it (``PREPARE``) and only then serves the new facts; a rerun started before keeps the
    facts it began with (its key names them). What the next pages read from the source besides
    (the referrals and engagements, the order lines: ``compute.read_ahead``) starts reading at
    once, in the background: the database works on the second core while the overview's models
    take the first (at a million customers a visit of every page is 5–6 s shorter)."""
    with _SERVED_LOCK:
        found = _SERVED.get(key)
    if found is not None and found.today == today:
        return found
    return _day_facts(source, _source_part(key), today)


def read_already(source: Source, key: str, today: date) -> Facts | None:
    """The facts ``key`` names if they are read already (None: not read, or forgotten since)."""
    with _SERVED_LOCK:
        found = _SERVED.get(key)
    if found is not None and found.today == today:
        return found
    return _day_facts.made(source, _source_part(key), today)  # type: ignore[attr-defined]


def current(source: Source, key: str, today: date) -> Facts | None:
    """The facts served now for the source ``key`` names (whichever read ``key`` itself names)."""
    return _day_facts.made(source, _source_part(key), today)  # type: ignore[attr-defined]


def _source_part(key: str) -> str:
    """The source's own key in ``key``, whether ``key`` names a read (``served_key``) or not."""
    return key.split(_SERVED_MARK)[0]


def served_key(made: Facts) -> str:
    """The key every result made from ``made`` is kept under: the source's, and which read."""
    return str(made._cache[_SERVED_MARK][0])


def read_at(made: Facts) -> float:
    """When ``made`` was read (seconds since the epoch)."""
    return float(made._cache[_SERVED_MARK][1])


def renewal_failed(key: str) -> float | None:
    """When reading the source ``key`` names again last failed (None: it did not since it worked)."""
    return _FAILED.get(_source_part(key))


def renewing(source: Source, key: str, today: date) -> bool:
    """Whether newer facts than those ``key`` was served are being read or are served already."""
    base = _source_part(key)
    current = _day_facts.made(source, base, today)  # type: ignore[attr-defined]
    if current is None:
        return False
    return served_key(current) != key or bool(_day_facts.renewing(source, base, today))  # type: ignore[attr-defined]


def warm_up(log: Callable[[str], None], ready: Callable[[], bool], first: Callable[[], None] | None = None) -> None:
    """``python3 serve.py``'s reading ahead (``[server] read_at_start``): once the server is up
    (``ready``), ``first`` (its imports), then ``read_ahead_once``, then again after each midnight,
    so that the day's first visitor does not wait either."""
    limit = time.monotonic() + 120
    while not ready() and time.monotonic() < limit:
        time.sleep(0.1)
    if first is not None:
        first()
    while read_ahead_once(log):
        today = date.today()
        tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time())
        time.sleep(max((tomorrow - datetime.now()).total_seconds(), 0) + 5)


def read_ahead_once(log: Callable[[str], None]) -> bool:
    """Read the configured source before the first visitor comes — the facts, the order lines and
    the engagements — and let the ``PREPARE`` steps make what the first pages show (the overview's
    figures and what the other pages share: ``service.shared``); False when ``[server]
    read_at_start`` is off. Never raises: what fails here, the page meets again and says, in the
    visitor's language. The embedded demo is read only once it is built (its first visitor builds
    it, with a progress bar)."""
    started, today = time.perf_counter(), date.today()
    try:
        settings = load_settings()
        if not settings.server.read_at_start:
            return False
        apply_limits(settings.server)
        url = settings.url or (f"duckdb:///{DEMO_PATH}" if demo_ready() else None)
        if url is not None:
            source = Source(settings=settings, url=url)
            if "orders" not in source.errors():
                made = facts(source, source_key(url, settings), today)
                made._cache[("read_ahead",)].result()
                pages = _prepare(source, served_key(made), today)
                took = time.perf_counter() - started
                what = "the first pages' figures made too" if pages else "the first pages make their figures"
                log(f"Cruscotto: the figures of {today.isoformat()} are ready ({took:.1f} s; {what}).")
    except Exception as exc:  # the first visit meets it again and says it to the visitor
        log(f"Cruscotto: the figures could not be read ahead ({type(exc).__name__}); the first visit reads them.")
    return True


#: what the pages load on first use rather than when imported: pandas' table styles (the marketing
#: page's verdicts), Arrow's group-by (the facts' exclusion counts), the report's builder (the sidebar)
_LOADED_ON_USE = ("pandas.io.formats.style", "pyarrow.acero", "service.report")


def preload(url: str | None) -> None:
    """Import every module the pages import (found by reading their import statements: nothing
    here names the interface's modules) and the driver of the source at ``url``, and let Plotly
    load what it loads on first use (``render.charts.load_plotly``), now instead of during the
    first visit: what a server does as it starts (``serve.py``). At a hundred thousand customers
    the first visit of every page spent 0.4 s on them. Then what the imports made is left out of
    later garbage collections (``gc.freeze``): Streamlit collects in full after every page run. Never
    raises: what cannot be imported, the page that needs it meets and says."""
    names = set(_LOADED_ON_USE)
    for script in sorted((Path(__file__).resolve().parent.parent / "pages").glob("*.py")):
        with contextlib.suppress(OSError, SyntaxError, ValueError):
            for node in ast.parse(script.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module)
    for name in sorted(names - {"__future__"}):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        load_plotly()
    if url:
        with contextlib.suppress(Exception):
            sa.engine.make_url(url).get_dialect()  # the driver's module, found through its entry point
    # What the imports made lives as long as the server: left out of every later garbage collection,
    # which Streamlit runs in full after each page run while the visitor waits for the page's end
    # (some 220,000 objects: 0.12–0.2 s a page, before the page's last message is sent; 0.01 s now).
    # What is garbage already is collected first, not kept for good.
    gc.collect()
    gc.freeze()
