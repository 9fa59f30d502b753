"""Results shared by every visitor of the server, bounded in memory and in age.

``SharedCache.memo`` keeps one result per arguments (parameters whose name starts with ``_`` are
not part of the key, as with Streamlit's caches), computes each at most once at a time (a second
visitor asking for the same result waits for the first computation instead of starting its own),
forgets a result ``ttl`` seconds after it was made, and evicts the results used longest ago while
the total estimated size is above the budget. The newest result is always kept, whatever its size:
a page must get what it asked for. Results are shared, not copied: callers treat them as read-only.

What is read from the source (``SharedCache.kept``: the facts) stays for its ``ttl`` whatever the
budget, and counts outside it: every other result is made from it, so forgetting it first — it is
the largest and the one used longest ago — made each page read the source again while the results
made from the first read still held it (at a million customers with a 1.5 GB budget: every page
cold in 148 s instead of 62, and 7.7 GB at the peak instead of 5). The budget bounds what is made
from it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

import numpy as np
import pandas as pd

__all__ = ["SharedCache", "default_cache_bytes", "size_of"]

P = ParamSpec("P")
R = TypeVar("R")

#: bytes counted for each Python object in an object column (a short string or a date)
_OBJECT_CELL = 56


def default_cache_bytes() -> int:
    """A quarter of the machine's memory, at least 512 MB (``[server] cache_mb = 0``)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 4 << 30
    return max(memory // 4, 512 << 20)


def size_of(value: Any, _seen: set[int] | None = None, _depth: int = 0) -> int:
    """An estimate of the memory ``value`` holds, in bytes: exact for arrays and frames of numbers,
    a fixed cost per cell of Python objects, shared parts counted once."""
    seen = set() if _seen is None else _seen
    if id(value) in seen or _depth > 6:
        return 0
    seen.add(id(value))
    if isinstance(value, pd.DataFrame):
        total = int(value.memory_usage(index=True, deep=False).sum())
        objects = sum(1 for dtype in value.dtypes if dtype is np.dtype(object))
        return total + objects * len(value) * _OBJECT_CELL
    if isinstance(value, (pd.Series, pd.Index)):
        total = int(value.memory_usage(deep=False)) if isinstance(value, pd.Series) else int(value.memory_usage())
        return total + (len(value) * _OBJECT_CELL if value.dtype is np.dtype(object) else 0)
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + (value.size * _OBJECT_CELL if value.dtype is np.dtype(object) else 0)
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return sys.getsizeof(value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(
            size_of(k, seen, _depth + 1) + size_of(v, seen, _depth + 1) for k, v in value.items()
        )
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if len(items) > 2000:  # a long list of like things: measure a sample
            sample = items[:: len(items) // 1000]
            return sys.getsizeof(value) + sum(size_of(v, seen, _depth + 1) for v in sample) * len(items) // len(sample)
        return sys.getsizeof(value) + sum(size_of(v, seen, _depth + 1) for v in items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [f.name for f in dataclasses.fields(value)]
        parts = [getattr(value, n, None) for n in names]
        parts += [v for k, v in getattr(value, "__dict__", {}).items() if k not in names]
        return sys.getsizeof(value) + sum(size_of(v, seen, _depth + 1) for v in parts)
    if hasattr(value, "__dict__"):
        return sys.getsizeof(value) + sum(size_of(v, seen, _depth + 1) for v in vars(value).values())
    return sys.getsizeof(value)


@dataclasses.dataclass
class _Entry:
    value: Any
    size: int
    made: float
    kept: bool = False  # read from the source: outside the budget, forgotten only with age


class SharedCache:
    """One memory budget (bytes) and one age limit (seconds) for every function it memoises."""

    def __init__(self, budget: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = int(budget)
        self.ttl = float(ttl)
        self.clock = clock
        self._entries: OrderedDict[tuple[Hashable, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[tuple[Hashable, ...], threading.Lock] = {}
        #: counts the ``clear`` calls, of all and per function: a result being made when one of
        #: them came is not kept
        self._cleared = 0
        self._cleared_of: dict[str, int] = {}

    @property
    def size(self) -> int:
        """Estimated bytes held now."""
        with self._lock:
            return sum(e.size for e in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def resize(self, budget: int) -> None:
        with self._lock:
            self.budget = int(budget)
            self._evict()

    def clear(self, name: str | None = None) -> None:
        """Forget every result (of the function ``name`` only, when given)."""
        with self._lock:
            for key in [k for k in self._entries if name is None or k[0] == name]:
                del self._entries[key]
            if name is None:
                self._cleared += 1
            else:
                self._cleared_of[name] = self._cleared_of.get(name, 0) + 1

    def _evict(self) -> None:
        """Forget the results used longest ago while those in the budget are over it, never the
        newest, nor one that is ``kept``."""
        total = sum(e.size for e in self._entries.values() if not e.kept)
        if total <= self.budget:
            return
        newest = next(reversed(self._entries))
        for key in [k for k, e in self._entries.items() if not e.kept and k != newest]:
            if total <= self.budget:
                break
            total -= self._entries.pop(key).size

    def _fresh(self, key: tuple[Hashable, ...]) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() - entry.made > self.ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def memo(self, fn: Callable[P, R]) -> Callable[P, R]:
        """``fn`` memoised in this cache, within its budget."""
        return self._memo(fn, kept=False)

    def kept(self, fn: Callable[P, R]) -> Callable[P, R]:
        """``fn`` memoised in this cache outside its budget (what is read from the source): its
        results are forgotten only when they are ``ttl`` seconds old, or by ``clear``."""
        return self._memo(fn, kept=True)

    def _memo(self, fn: Callable[P, R], kept: bool) -> Callable[P, R]:
        signature = inspect.signature(fn)
        name = f"{fn.__module__}.{fn.__qualname__}"

        def key_of(*args: Any, **kwargs: Any) -> tuple[Hashable, ...]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return (name, *((k, v) for k, v in bound.arguments.items() if not k.startswith("_")))

        def made(*args: Any, **kwargs: Any) -> Any:
            """The result for these arguments if it is kept, else None: never made here."""
            with self._lock:
                entry = self._fresh(key_of(*args, **kwargs))
                return None if entry is None else entry.value

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = key_of(*args, **kwargs)
            with self._lock:
                entry = self._fresh(key)
                if entry is not None:
                    return entry.value
                making = self._making.setdefault(key, threading.Lock())
            with making:  # one computation per key at a time; the others wait for its result
                with self._lock:
                    entry = self._fresh(key)
                    if entry is not None:
                        return entry.value
                try:
                    with self._lock:
                        cleared = (self._cleared, self._cleared_of.get(name, 0))
                    value = fn(*args, **kwargs)
                    size = size_of(value)
                    with self._lock:
                        # else made from what was forgotten meanwhile: handed over, not kept
                        if (self._cleared, self._cleared_of.get(name, 0)) == cleared:
                            self._entries[key] = _Entry(value, size, self.clock(), kept)
                            self._entries.move_to_end(key)
                            self._evict()
                    return value
                finally:
                    with self._lock:
                        if self._making.get(key) is making:
                            del self._making[key]

        wrapper.clear = lambda: self.clear(name)  # type: ignore[attr-defined]
        wrapper.made = made  # type: ignore[attr-defined]
        return wrapper
