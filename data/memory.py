"""How the process takes memory from the system, at two moments.

**When the process starts** (``serve.py`` starts the server so; ``bench/bench_pages.py`` measures
so): three settings of glibc's allocator, which it reads only then (``GLIBC_TUNABLES``,
``tuned_environment``). By default glibc hands every array larger than 32 MB back to the kernel
when it is freed, and every thread but the first takes from a heap of its own, from which a large
array is always a fresh mapping. At a million customers a column is 40–80 MB and a visit of every
page makes and frees some ten gigabytes of them, each one new memory to the kernel, zeroed page by
page at its first touch. On a virtual machine whose host takes freed memory back (a balloon with
free page reporting, as on the machines the benchmarks run on) that first touch is slow: 1 GB
took 1.7–2.9 s there, against 0.1 s for memory the process had just freed. With the settings:

- ``arena_max=1``: one heap for every thread (a page's, the read-ahead's, the helpers');
- ``mmap_max=0``: large arrays come from that heap instead of a mapping of their own;
- ``trim_threshold``: up to 512 MB freed at the heap's top stay for the next array.

So what is freed serves the next array. Measured (bench/RESULTS.md): at a million customers every
page cold in 41–44 s instead of 48–49 s, the peak 4.8–4.9 GB instead of 5.2–5.3 GB. The price:
the process keeps what it freed (up to what its peak held anyway) for the next read, instead of
handing it back.

And one setting of numpy's (``ENVIRONMENT``): its large arrays on the kernel's ordinary 4 KB pages
instead of asking for 2 MB ones (``NUMPY_MADVISE_HUGEPAGE=0``). Where the kernel gives huge pages on
request only, it first gathers each one from scattered free memory: 1 GB touched for the first time
took 0.6–2.9 s on 2 MB pages against 0.42–0.46 s on 4 KB pages (memory the process had freed: 0.14
and 0.17 s). At a million customers the process first touches some 3.5 GB: every page cold in
31.6–32.2 s instead of 34.0–34.3 s (four pairs, 0.5–2.4 s less each), the same peak.

**Before the first source is read** (``tune_allocators``, from ``data.facts.extract``, the one way
every page, command and report reads a source), two settings a running process can still change:

- Arrow's columns come from the C library's allocator, as numpy's arrays do, instead of Arrow's
  own (mimalloc), which kept its freed pages apart from numpy's;
- the C library keeps at most two arenas instead of up to eight per core, unless the process
  started with a number of its own (above): memory freed by one thread is reused by the next
  instead of lying in another arena.

Measured together on a whole visit of every page (bench/RESULTS.md): at a hundred thousand
customers 0.87–0.89 GB at the peak instead of 0.91–0.94 GB, at a million 4.8–4.9 GB instead of
5.1–5.2 GB and the visit 40–41 s instead of 42.5 s.

None changes a result. Each is skipped where the platform lacks it."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform
import sys
import threading
from collections.abc import Mapping

__all__ = [
    "ENVIRONMENT",
    "TUNABLES",
    "available_bytes",
    "resident_bytes",
    "tune_allocators",
    "tuned",
    "tuned_environment",
]

#: glibc's tunables (``GLIBC_TUNABLES``) the server starts with
TUNABLES: dict[str, str] = {
    "glibc.malloc.arena_max": "1",
    "glibc.malloc.mmap_max": "0",
    "glibc.malloc.trim_threshold": str(512 << 20),
}

#: other environment variables the server starts with (one set already keeps its value)
ENVIRONMENT: dict[str, str] = {"NUMPY_MADVISE_HUGEPAGE": "0"}

_M_ARENA_MAX = -8  # glibc's mallopt parameter
_ARENAS = 2
_done = threading.Event()
_lock = threading.Lock()


def _uses_glibc() -> bool:
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _given(env: Mapping[str, str]) -> list[str]:
    return [item for item in env.get("GLIBC_TUNABLES", "").split(":") if item]


def tuned_environment(env: Mapping[str, str], glibc: bool | None = None) -> dict[str, str]:
    """``env`` with ``TUNABLES`` added to ``GLIBC_TUNABLES`` and ``ENVIRONMENT`` added, for a process
    to start with: one already set keeps its value (the operator's choice wins). Unchanged where
    the C library is not glibc (not Linux, where huge pages are asked for)."""
    out = dict(env)
    if not (_uses_glibc() if glibc is None else glibc):
        return out
    for name, value in ENVIRONMENT.items():
        out.setdefault(name, value)
    given = _given(out)
    named = {item.split("=", 1)[0] for item in given}
    added = [f"{name}={value}" for name, value in TUNABLES.items() if name not in named]
    if added:
        out["GLIBC_TUNABLES"] = ":".join([*given, *added])
    return out


def tuned() -> bool:
    """Whether this process started with every one of ``TUNABLES`` (or another value the operator
    chose for it); True where the C library is not glibc."""
    return tuned_environment(os.environ) == dict(os.environ)


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
            started_with = any(item.startswith("glibc.malloc.arena_max=") for item in _given(os.environ))
            if mallopt is not None and not started_with:
                mallopt(_M_ARENA_MAX, _ARENAS)
        _done.set()


def available_bytes(meminfo: str = "/proc/meminfo") -> int | None:
    """The memory the machine can still give without swapping (Linux's ``MemAvailable``); None
    where it does not say."""
    try:
        with open(meminfo) as lines:
            for line in lines:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def resident_bytes() -> int | None:
    """The memory this process holds now (its resident set); None where the system does not say."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
