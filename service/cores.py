"""Independent steps of one page shared between its own thread and a helper thread.

Most of what a page computes is numpy over a million customers, which lets go of the interpreter
while it runs: two month ends of the lifecycle page take two cores at once. The page's thread and
the helper take steps in turn from one list; when the helper is busy with another page, the page's
thread simply does every step itself, so a page never waits for a helper."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["beside", "on_two_cores"]

R = TypeVar("R")

_HELPER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cruscotto-helper")


def beside(work: Callable[..., R], *args: object) -> Future[R]:
    """``work(*args)`` on the helper thread, while the pages go on (what a page shows when it is
    ready instead of holding the page): the machine's second core. Meanwhile a page's steps
    (``on_two_cores``) take the page's own thread only, instead of a third thread sharing two
    cores — at a million customers the lifecycle page's month ends beside the opportunities, whose
    working memory added up at the server's highest."""
    return _HELPER.submit(work, *args)


def on_two_cores(steps: Sequence[Callable[[], R]]) -> list[R]:
    """Each step's result, in the order of ``steps``; the first error met is raised (the steps
    not started yet are then left undone)."""
    pending = list(enumerate(steps))
    lock = threading.Lock()
    results: dict[int, R] = {}
    errors: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                if not pending or errors:
                    return
                i, step = pending.pop(0)
            try:
                results[i] = step()
            except BaseException as error:  # raised again on the page's thread
                with lock:
                    errors.append(error)
                return

    helper = _HELPER.submit(work) if len(steps) > 1 else None
    work()
    if helper is not None and not helper.cancel():  # started: it may be doing a step; else dropped
        helper.result()
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(steps))]
