"""``hal`` exports of fences (``hal-abi.md`` 3.8): create, join, query, signal, fail, await."""

from __future__ import annotations

import threading
import time

import pytest

from pyree import status
from pyree.modules.hal.fence import HalFence

from .modhelpers import fails, hal, ref_is_null, ref_mismatch, sync_hal  # noqa: F401

OK, DEADLINE_EXCEEDED, DEFERRED = 0, 4, 17


def test_create_is_semaphore_at_0_waiting_for_1(hal):
    fence = hal("fence.create", hal.device, 0)
    assert type(fence) is HalFence
    ((semaphore, value),) = fence.timepoints
    assert semaphore.query() == 0 and value == 1
    assert hal("fence.query", fence) == DEFERRED
    hal("fence.signal", fence)
    assert hal("fence.query", fence) == OK


def test_create_makes_what_halfence_create_makes(sync_hal):
    """The export builds the fence itself (HalFence.create inlined): every slot set, to
    what HalFence.create sets."""
    made, expected = sync_hal("fence.create", sync_hal.device, 0), HalFence.create()
    for slot in (s for cls in HalFence.__mro__ for s in getattr(cls, "__slots__", ())
                 if s != "__weakref__"):
        assert getattr(made, slot) == getattr(expected, slot), slot


def test_create_ignores_flags_and_checks_the_device(sync_hal):
    assert sync_hal("fence.create", sync_hal.device, 0x7) is not None
    with ref_is_null():
        sync_hal("fence.create", None, 0)
    with ref_mismatch("hal.device"):
        sync_hal("fence.create", sync_hal.buffer(4), 0)


def test_signal_twice_fails(sync_hal):
    fence = sync_hal("fence.create", sync_hal.device, 0)
    sync_hal("fence.signal", fence)
    with fails(status.InvalidArgumentError, "semaphore already signaled past 1"):
        sync_hal("fence.signal", fence)


def test_join(sync_hal):
    a = sync_hal("fence.create", sync_hal.device, 0)
    b = sync_hal("fence.create", sync_hal.device, 0)
    joined = sync_hal("fence.join", 0, [a, None, b, a])
    assert len(joined) == 2
    sync_hal("fence.signal", a)
    assert sync_hal("fence.query", joined) == DEFERRED
    sync_hal("fence.signal", b)
    assert sync_hal("fence.query", joined) == OK


def test_join_of_nothing_is_null(sync_hal):
    assert sync_hal("fence.join", 0, []) is None
    assert sync_hal("fence.join", 0, [None, None]) is None
    empty = sync_hal("fence.join", 0, [HalFence(0)])
    assert empty is None


def test_join_keeps_the_larger_value(sync_hal):
    a = sync_hal("fence.create", sync_hal.device, 0)
    ((semaphore, _),) = a.timepoints
    later = HalFence.at(semaphore, 5)
    joined = sync_hal("fence.join", 0, [a, later])
    assert joined.timepoints == ((semaphore, 5),)


def test_fail(sync_hal):
    fence = sync_hal("fence.create", sync_hal.device, 0)
    sync_hal("fence.fail", fence, 11 | 0x40)     # status & 0x1F: OUT_OF_RANGE
    assert sync_hal("fence.query", fence) == 11
    with fails(status.OutOfRangeError):
        sync_hal("fence.await", -1, 0, [fence])


def test_await_reached_null_and_empty(hal):
    fence = hal("fence.create", hal.device, 0)
    hal("fence.signal", fence)
    assert hal("fence.await", -1, 0, [fence, None]) == OK
    assert hal("fence.await", 0, 0, []) == OK
    assert hal("fence.await", 0, 0, [None]) == OK


def test_await_timeout_is_a_value(hal):
    fence = hal("fence.create", hal.device, 0)
    assert hal("fence.await", 0, 0, [fence]) == DEADLINE_EXCEEDED      # poll
    start = time.monotonic()
    assert hal("fence.await", 30, 0, [fence]) == DEADLINE_EXCEEDED
    assert time.monotonic() - start >= 0.025


def test_await_blocks_until_signalled(hal):
    a = hal("fence.create", hal.device, 0)
    b = hal("fence.create", hal.device, 0)
    timer = threading.Timer(0.05, lambda: (a.signal(), b.signal()))
    timer.start()
    try:
        assert hal("fence.await", -1, 0, [a, b]) == OK     # -1 waits forever
    finally:
        timer.join()


def test_await_failure_from_another_thread(hal):
    fence = hal("fence.create", hal.device, 0)
    timer = threading.Timer(0.05, lambda: fence.fail(status.AbortedError("boom")))
    timer.start()
    try:
        with fails(status.AbortedError, "boom"):
            hal("fence.await", 10_000, 0, [fence])
    finally:
        timer.join()


def test_refs(sync_hal):
    buffer = sync_hal.buffer(4)
    for name in ("fence.query", "fence.signal"):
        with ref_is_null():
            sync_hal(name, None)
        with ref_mismatch("hal.fence"):
            sync_hal(name, buffer)
    with ref_is_null():
        sync_hal("fence.fail", None, 1)
    with ref_mismatch("hal.fence"):
        sync_hal("fence.join", 0, [buffer])
    with ref_mismatch("hal.fence"):
        sync_hal("fence.await", 0, 0, [buffer])


@pytest.mark.parametrize("timeout", [0, 1])
def test_await_of_many_fences(hal, timeout):
    fences = [hal("fence.create", hal.device, 0) for _ in range(20)]
    for fence in fences[:-1]:
        hal("fence.signal", fence)
    assert hal("fence.await", timeout, 0, fences) == DEADLINE_EXCEEDED
    hal("fence.signal", fences[-1])
    assert hal("fence.await", timeout, 0, fences) == OK
