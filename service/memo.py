"""Results shared by every visitor of the server, bounded in memory and in age.

``SharedCache.memo`` keeps one result per arguments (parameters whose name starts with ``_`` are
not part of the key, as with Streamlit's caches), computes each at most once at a time (a second
visitor asking for the same result waits for the first computation instead of starting its own),
forgets a result ``ttl`` seconds after it was made, and evicts the results used longest ago while
the total estimated size is above the budget. The newest result is always kept, whatever its size:
a page must get what it asked for. Results are shared, not copied: callers treat them as read-only.
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


class SharedCache:
    """One memory budget (bytes) and one age limit (seconds) for every function it memoises."""

    def __init__(self, budget: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = int(budget)
        self.ttl = float(ttl)
        self.clock = clock
        self._entries: OrderedDict[tuple[Hashable, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[tuple[Hashable, ...], threading.Lock] = {}

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

    def _evict(self) -> None:
        total = sum(e.size for e in self._entries.values())
        while total > self.budget and len(self._entries) > 1:
            _, entry = self._entries.popitem(last=False)
            total -= entry.size

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
        signature = inspect.signature(fn)
        name = f"{fn.__module__}.{fn.__qualname__}"

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            key: tuple[Hashable, ...] = (name, *((k, v) for k, v in bound.arguments.items() if not k.startswith("_")))
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
                    value = fn(*args, **kwargs)
                    size = size_of(value)
                    with self._lock:
                        self._entries[key] = _Entry(value, size, self.clock())
                        self._entries.move_to_end(key)
                        self._evict()
                    return value
                finally:
                    with self._lock:
                        if self._making.get(key) is making:
                            del self._making[key]

        wrapper.clear = lambda: self.clear(name)  # type: ignore[attr-defined]
        return wrapper
