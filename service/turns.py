"""Heavy work one at a time: a queue that every session of the server shares, so that one visitor
building reports (or many at once) cannot take the whole machine from the others."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["REPORTS", "Turns"]


class Turns:
    """At most ``slots`` holders at a time; the others wait in the order they came.

    ``turn`` is a context manager; while waiting it calls ``waiting(ahead)`` with the number of
    holders and waiters ahead, every ``poll`` seconds and whenever that number changes."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self._condition = threading.Condition()
        self._holding = 0
        self._queue: list[object] = []

    @property
    def busy(self) -> int:
        """Holders and waiters now."""
        with self._condition:
            return self._holding + len(self._queue)

    @contextmanager
    def turn(self, waiting: Callable[[int], None] | None = None, poll: float = 1.0) -> Iterator[None]:
        ticket = object()
        with self._condition:
            self._queue.append(ticket)
            told = -1
            while not (self._holding < self.slots and self._queue[0] is ticket):
                ahead = self._holding + self._queue.index(ticket) - (self.slots - 1)
                if waiting is not None and ahead != told:
                    told = ahead
                    self._condition.release()
                    try:
                        waiting(max(ahead, 1))
                    finally:
                        self._condition.acquire()
                self._condition.wait(poll)
            self._queue.pop(0)
            self._holding += 1
        try:
            yield
        finally:
            with self._condition:
                self._holding -= 1
                self._condition.notify_all()


#: the executive reports of every session: one built at a time (each is a whole tour of the pages)
REPORTS = Turns(slots=1)
