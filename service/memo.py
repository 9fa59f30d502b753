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

``SharedCache.renewed`` is ``kept`` for a result nobody should wait for once it exists: when it is
``renew_after`` seconds old, the next caller still gets it at once and ``on_stale`` is told, once,
to make a newer one in the background and hand it over with ``put`` (``failed`` when that did not
work: asked again ``retry_s`` later). It is never forgotten for its age, only replaced or cleared.
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
import pyarrow as pa

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
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return int(value.nbytes)
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return sys.getsizeof(value)
    # A dict is read through a copy of its items, made at once: another thread may add to it
    # meanwhile (the facts' own cache, while the read-ahead thread makes what the next pages need).
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(
            size_of(k, seen, _depth + 1) + size_of(v, seen, _depth + 1) for k, v in list(value.items())
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
        parts += [v for k, v in list(getattr(value, "__dict__", {}).items()) if k not in names]
        return sys.getsizeof(value) + sum(size_of(v, seen, _depth + 1) for v in parts)
    if hasattr(value, "__dict__"):
        return sys.getsizeof(value) + sum(size_of(v, seen, _depth + 1) for v in list(vars(value).values()))
    return sys.getsizeof(value)


@dataclasses.dataclass
class _Entry:
    value: Any
    size: int
    made: float
    kept: bool = False  # read from the source: outside the budget, forgotten only with age
    renewed: bool = False  # renewed when ``renew_after`` old, never forgotten for its age
    renewing: bool = False  # a newer one is being made


class SharedCache:
    """One memory budget (bytes) and one age limit (seconds) for every function it memoises."""

    def __init__(
        self,
        budget: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        renew_after: float | None = None,
    ) -> None:
        self.budget = int(budget)
        self.ttl = float(ttl)
        #: age at which a ``renewed`` result is made anew (``ttl`` unless given)
        self.renew_after = float(ttl if renew_after is None else renew_after)
        self.clock = clock
        self._entries: OrderedDict[tuple[Hashable, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[tuple[Hashable, ...], threading.Lock] = {}
        #: counts the ``clear`` calls, of all and per function: a result being made when one of
        #: them came is not kept
        self._cleared = 0
        self._cleared_of: dict[str, int] = {}
        #: the last ``clear_where`` calls, numbered: a result being made when one matching it came
        #: is not kept either
        self._cleared_where: list[tuple[int, Callable[[tuple[Hashable, ...]], bool]]] = []
        self._wheres = 0

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

    def clear_where(self, matches: Callable[[tuple[Hashable, ...]], bool]) -> None:
        """Forget the results whose key ``matches`` (a key is the function's name, then its
        arguments as (name, value) pairs), kept or not."""
        with self._lock:
            for key in [k for k in self._entries if matches(k)]:
                del self._entries[key]
            self._wheres += 1
            self._cleared_where = [*self._cleared_where[-15:], (self._wheres, matches)]

    def _forgotten_since(self, key: tuple[Hashable, ...], since: int) -> bool:
        """Whether a ``clear_where`` after the ``since``-th matched ``key`` (under the lock)."""
        if since < self._wheres - len(self._cleared_where):  # older than those remembered: say so
            return True
        return any(n > since and matches(key) for n, matches in self._cleared_where)

    def _evict(self) -> None:
        """Forget the results older than ``ttl`` (a ``renewed`` one is renewed instead), then the
        results used longest ago while those in the budget are over it, never the newest, nor one
        that is ``kept``."""
        now = self.clock()
        for key in [k for k, e in self._entries.items() if not e.renewed and now - e.made > self.ttl]:
            del self._entries[key]
        if not self._entries:
            return
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

    def renewed(
        self, on_stale: Callable[..., None], retry_s: float = 60.0
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """``kept``, but a result older than ``renew_after`` is still returned at once, and
        ``on_stale`` is called with the same arguments, once, to make a newer one without anybody
        waiting for it: it hands it over with ``wrapper.put(value, *args)`` or, when it could not
        be made, ``wrapper.failed(*args)``, and the old one is renewed again ``retry_s`` later.
        Only a caller that finds none waits for it to be made."""

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            return self._memo(fn, kept=True, on_stale=on_stale, retry_s=retry_s)

        return decorate

    def _memo(
        self,
        fn: Callable[P, R],
        kept: bool,
        on_stale: Callable[..., None] | None = None,
        retry_s: float = 60.0,
    ) -> Callable[P, R]:
        signature = inspect.signature(fn)
        name = f"{fn.__module__}.{fn.__qualname__}"

        def key_of(*args: Any, **kwargs: Any) -> tuple[Hashable, ...]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return (name, *((k, v) for k, v in bound.arguments.items() if not k.startswith("_")))

        def made(*args: Any, **kwargs: Any) -> Any:
            """The result for these arguments if it is kept (old or not, for ``renewed``), else
            None: never made here."""
            with self._lock:
                key = key_of(*args, **kwargs)
                entry = self._entries.get(key) if on_stale is not None else self._fresh(key)
                return None if entry is None else entry.value

        def stale(key: tuple[Hashable, ...]) -> tuple[_Entry | None, bool]:
            """(The entry to hand out even though it is old, whether to renew it now); under the lock."""
            entry = self._entries.get(key)
            if on_stale is None or entry is None:
                return None, False
            self._entries.move_to_end(key)
            starts = not entry.renewing
            entry.renewing = True
            return entry, starts

        def put(value: R, *args: Any, **kwargs: Any) -> bool:
            """Hand over a newer result (``renewed``); False when there is no entry to renew any
            more (cleared meanwhile): then it is not kept."""
            key = key_of(*args, **kwargs)
            with self._lock:
                if key not in self._entries:
                    return False
                self._entries[key] = _Entry(value, size_of(value), self.clock(), kept, renewed=True)
                self._entries.move_to_end(key)
                self._evict()
                return True

        def failed(*args: Any, **kwargs: Any) -> None:
            """The newer result could not be made: keep the one in hand, try again ``retry_s`` later."""
            with self._lock:
                entry = self._entries.get(key_of(*args, **kwargs))
                if entry is not None:
                    entry.renewing = False
                    entry.made = self.clock() - self.renew_after + retry_s

        def renewing(*args: Any, **kwargs: Any) -> bool:
            """Whether a newer result is being made (``renewed``)."""
            with self._lock:
                entry = self._entries.get(key_of(*args, **kwargs))
                return entry is not None and entry.renewing

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = key_of(*args, **kwargs)
            with self._lock:
                entry = self._entries.get(key)
                limit = self.renew_after if on_stale is not None else self.ttl
                if entry is not None and self.clock() - entry.made <= limit:
                    self._entries.move_to_end(key)
                    return entry.value
                old, renew = stale(key)
                if old is None:
                    self._fresh(key)  # forgets it when old
                    making = self._making.setdefault(key, threading.Lock())
            if old is not None:
                if renew and on_stale is not None:
                    try:
                        on_stale(*args, **kwargs)
                    except Exception:  # not even started: the old one serves, renewed later
                        failed(*args, **kwargs)
                return old.value
            with making:  # one computation per key at a time; the others wait for its result
                with self._lock:
                    entry = self._fresh(key)
                    if entry is not None:
                        return entry.value
                try:
                    with self._lock:
                        cleared = (self._cleared, self._cleared_of.get(name, 0))
                        wheres = self._wheres
                    value = fn(*args, **kwargs)
                    size = size_of(value)
                    with self._lock:
                        # else made from what was forgotten meanwhile: handed over, not kept
                        if (self._cleared, self._cleared_of.get(name, 0)) == cleared and not self._forgotten_since(
                            key, wheres
                        ):
                            renewed = on_stale is not None
                            self._entries[key] = _Entry(value, size, self.clock(), kept, renewed=renewed)
                            self._entries.move_to_end(key)
                            self._evict()
                    return value
                finally:
                    with self._lock:
                        if self._making.get(key) is making:
                            del self._making[key]

        wrapper.clear = lambda: self.clear(name)  # type: ignore[attr-defined]
        wrapper.name = name  # type: ignore[attr-defined]
        wrapper.made = made  # type: ignore[attr-defined]
        wrapper.put = put  # type: ignore[attr-defined]
        wrapper.failed = failed  # type: ignore[attr-defined]
        wrapper.renewing = renewing  # type: ignore[attr-defined]
        return wrapper
