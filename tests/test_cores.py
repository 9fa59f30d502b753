"""service.cores: a page's independent steps on its own thread and a helper."""

from __future__ import annotations

import threading

import pytest

from service import cores


def test_two_steps_run_at_once_and_come_back_in_order() -> None:
    """With the helper free, the first two steps run at the same time (each waits for the other at
    a barrier: one thread alone would never pass it); the results keep the steps' order."""
    meet = threading.Barrier(2, timeout=10)
    threads: dict[int, int] = {}

    def step(i: int) -> int:
        threads[i] = threading.get_ident()
        if i < 2:
            meet.wait()
        return i * 10

    assert cores.on_two_cores([lambda i=i: step(i) for i in range(6)]) == [0, 10, 20, 30, 40, 50]
    assert len(set(threads.values())) == 2


def test_a_busy_helper_is_not_waited_for() -> None:
    """The helper is busy (another page's steps): the page's thread does every step itself and
    returns without waiting for the helper to be free."""
    free = threading.Event()
    busy = cores._HELPER.submit(free.wait, 30)
    try:
        here = threading.get_ident()
        ran: list[int] = []
        got = cores.on_two_cores([lambda i=i: ran.append(threading.get_ident()) or i for i in range(3)])
        assert got == [0, 1, 2] and ran == [here] * 3
        assert not busy.done()  # it returned while the helper was still busy
    finally:
        free.set()
        busy.result(timeout=30)


def test_an_error_in_a_step_reaches_the_page() -> None:
    def broken() -> int:
        raise ValueError("no such month")

    with pytest.raises(ValueError, match="no such month"):
        cores.on_two_cores([lambda: 1, broken, lambda: 3])
    assert cores.on_two_cores([lambda: 7]) == [7]
