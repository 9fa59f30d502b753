"""Fair turns at the server's work: queues that every session of the server shares, so that one
visitor (or one client with many sessions) cannot take the whole machine from the others.

``PAGES`` admits a few page runs at a time and serves waiting visitors in turn, one run per client
address in rotation: a client with eight sessions open waits behind itself, not in front of the
others. ``REPORTS`` builds one executive report at a time (each is a whole tour of the pages)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

__all__ = ["PAGES", "REPORTS", "Turns"]


class _Ticket:
    __slots__ = ("owner", "thread")

    def __init__(self, owner: Hashable) -> None:
        self.owner = owner
        self.thread = threading.get_ident()


class Turns:
    """At most ``slots`` holders at a time; the others wait.

    Each turn has an ``owner`` (a client address; ``None`` for all alike). A free slot goes to the
    owner served longest ago, and within an owner to its earliest waiter: one owner alone is served
    first come, first served, and an owner who arrives while another keeps many turns waiting is
    next. ``turn`` is a context manager; while waiting it calls ``waiting(ahead)`` with the number
    of turns ahead, when that number changes and, with ``every_poll``, every ``poll`` seconds (a
    page uses that call to notice that its visitor left or changed a filter)."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self._condition = threading.Condition()
        self._holders: list[_Ticket] = []
        self._queue: list[_Ticket] = []
        self._served: dict[Hashable, int] = {}
        self._count = 0

    @property
    def busy(self) -> int:
        """Holders and waiters now."""
        with self._condition:
            return len(self._holders) + len(self._queue)

    def resize(self, slots: int) -> None:
        """Change the number of slots (a setting read on every page run)."""
        with self._condition:
            self.slots = max(int(slots), 1)
            self._condition.notify_all()

    def _rank(self, ticket: _Ticket) -> tuple[int, int]:
        return (self._served.get(ticket.owner, -1), self._queue.index(ticket))

    def _ahead(self, ticket: _Ticket) -> int:
        mine = self._rank(ticket)
        before = sum(1 for other in self._queue if self._rank(other) < mine)
        return max(len(self._holders) - self.slots + 1, 0) + before

    def _admissible(self, ticket: _Ticket) -> bool:
        return len(self._holders) < self.slots and min(self._queue, key=self._rank) is ticket

    def holds(self) -> bool:
        """Whether the calling thread holds a turn."""
        me = threading.get_ident()
        with self._condition:
            return any(t.thread == me for t in self._holders)

    @contextmanager
    def turn(
        self,
        waiting: Callable[[int], None] | None = None,
        poll: float = 1.0,
        owner: Hashable = None,
        *,
        every_poll: bool = False,
    ) -> Iterator[None]:
        ticket = _Ticket(owner)
        self._enter(ticket, waiting, poll, every_poll)
        try:
            yield
        finally:
            self._leave(ticket)

    @contextmanager
    def aside(self) -> Iterator[None]:
        """Give up the calling thread's turn for the block and queue for it again after (a page
        that waits for a report build, which has a queue of its own, holds no page slot)."""
        me = threading.get_ident()
        with self._condition:
            held = next((t for t in self._holders if t.thread == me), None)
        if held is None:
            yield
            return
        self._leave(held)
        try:
            yield
        finally:
            self._enter(held, None, 1.0, False)  # the same ticket: the turn ends as it began

    def _enter(self, ticket: _Ticket, waiting: Callable[[int], None] | None, poll: float, every_poll: bool) -> None:
        with self._condition:
            self._queue.append(ticket)
            try:
                told = -1
                while not self._admissible(ticket):
                    ahead = max(self._ahead(ticket), 1)
                    if waiting is not None and (every_poll or ahead != told):
                        told = ahead
                        self._condition.release()
                        try:
                            waiting(ahead)
                        finally:
                            self._condition.acquire()
                        if self._admissible(ticket):
                            break
                    self._condition.wait(poll)
            except BaseException:
                self._queue.remove(ticket)  # a visitor who left (or a rerun) leaves the queue
                self._condition.notify_all()
                raise
            self._queue.remove(ticket)
            self._holders.append(ticket)
            self._count += 1
            self._served[ticket.owner] = self._count
            if len(self._served) > 10_000:  # forget owners long gone, keep the recent ones
                recent = sorted(self._served.items(), key=lambda kv: kv[1])[-1000:]
                self._served = dict(recent)

    def _leave(self, ticket: _Ticket) -> None:
        with self._condition:
            self._holders.remove(ticket)
            self._condition.notify_all()


#: the page runs of every session: as many at a time as the machine has cores (at least two)
PAGES = Turns(slots=max(os.cpu_count() or 2, 2))
#: the executive reports of every session: one built at a time (each is a whole tour of the pages)
REPORTS = Turns(slots=1)
