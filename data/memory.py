"""How the process takes memory from the system: set once, before the first source is read
(``data.facts.extract``, the one way every page, command and report reads a source).

Two settings:

- Arrow's columns come from the C library's allocator, as numpy's arrays do, instead of Arrow's
  own (mimalloc), which kept its freed pages apart from numpy's;
- the C library keeps at most two arenas (one per core of a small server) instead of up to eight
  per core: memory freed by one thread is reused by the next instead of lying in another arena.

Measured together on a whole visit of every page (bench/RESULTS.md): at a hundred thousand
customers 0.87–0.89 GB at the peak instead of 0.91–0.94 GB, at a million 4.8–4.9 GB instead of
5.1–5.2 GB and the visit 40–41 s instead of 42.5 s (fewer fresh pages touched, each costing a few
microseconds of system time on a virtual machine).

Neither changes a result. Both are skipped where the platform lacks them."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading

__all__ = ["tune_allocators"]

_M_ARENA_MAX = -8  # glibc's mallopt parameter
_ARENAS = 2
_done = threading.Event()
_lock = threading.Lock()


def tune_allocators() -> None:
    """Apply the settings above once per process (later calls do nothing)."""
    if _done.is_set():
        return
    with _lock:
        if _done.is_set():
            return
        # a pool chosen by the user (Arrow's own variable) stays
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
        with contextlib.suppress(Exception):
            import pyarrow as pa

            if os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system":
                pa.set_memory_pool(pa.system_memory_pool())
        with contextlib.suppress(Exception):
            name = ctypes.util.find_library("c")
            libc = ctypes.CDLL(name) if name else None
            mallopt = getattr(libc, "mallopt", None)
            if mallopt is not None:
                mallopt(_M_ARENA_MAX, _ARENAS)
        _done.set()
