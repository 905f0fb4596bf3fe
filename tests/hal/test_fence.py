"""HalFence: timepoints, join, query, signal/fail and fence.await semantics (3.8, 4.10)."""

import threading
import time

from pyree.modules.hal import HalFence, HalSemaphore
from pyree.status import (AbortedError, DataLossError, DeadlineExceededError,
                          InvalidArgumentError, ResourceExhaustedError, StatusCode)
from pyree.vm.ref import lookup_ref_type, ref_type_of

from .halhelpers import raises


def later(delay, fn, *args):
    thread = threading.Thread(target=lambda: (time.sleep(delay), fn(*args)))
    thread.start()
    return thread


def test_create():
    fence = HalFence.create()
    assert fence.capacity == 1 and len(fence) == 1
    (sem, value), = fence.timepoints
    assert type(sem) is HalSemaphore and sem.query() == 0 and value == 1
    assert fence.query() == StatusCode.DEFERRED
    fence.signal()
    assert fence.query() == 0 and fence.is_reached()
    assert ref_type_of(fence) is lookup_ref_type("hal.fence")


def test_insert_keeps_max_and_capacity():
    a, b, c = HalSemaphore(), HalSemaphore(), HalSemaphore()
    fence = HalFence(2)
    fence.insert(a, 5)
    fence.insert(a, 3)
    fence.insert(b, 1)
    fence.insert(a, 7)
    assert fence.timepoints == ((a, 7), (b, 1))
    fence.insert(b, 2)                                     # existing: no capacity needed
    with raises(ResourceExhaustedError,
                "fence unable to insert a new timepoint; capacity of 2 exhausted"):
        fence.insert(c, 1)
    with raises(ResourceExhaustedError):
        HalFence.create().insert(c, 1)


def test_empty_fence_is_reached():
    fence = HalFence()
    assert fence.query() == 0 and bool(fence)
    fence.wait(timeout=0)
    fence.signal()


def test_join():
    a, b, c = HalSemaphore(), HalSemaphore(), HalSemaphore()
    f1 = HalFence.at(a, 2)
    f2 = HalFence(4)
    f2.insert(a, 5)
    f2.insert(b, 1)
    f3 = HalFence.at(c, 3)
    joined = HalFence.join([f1, None, f2, HalFence(), f3])
    assert joined.timepoints == ((a, 5), (b, 1), (c, 3))
    assert joined.capacity == 4                            # the joined count
    assert HalFence.join([]) is None
    assert HalFence.join([None, HalFence(), None]) is None
    assert f1.timepoints == ((a, 2),)                      # inputs untouched


def test_query_order_and_failure_codes():
    a, b = HalSemaphore(), HalSemaphore()
    fence = HalFence()
    fence.insert(a, 1)
    fence.insert(b, 1)
    b.fail(DataLossError("bad"))
    assert fence.query() == StatusCode.DEFERRED            # the first pending one decides
    a.signal(1)
    assert fence.query() == int(StatusCode.DATA_LOSS)
    a.fail(AbortedError("x"))
    assert fence.query() == int(StatusCode.ABORTED)


def test_signal_twice_fails():
    fence = HalFence.create()
    fence.signal()
    with raises(InvalidArgumentError, "semaphore already signaled past 1"):
        fence.signal()


def test_fail():
    fence = HalFence.join([HalFence.create(), HalFence.create()])
    fence.fail(StatusCode.ABORTED | 0x40)                  # status & 0x1F
    assert fence.query() == int(StatusCode.ABORTED)
    for sem, _ in fence.timepoints:
        assert sem.status_code() == int(StatusCode.ABORTED)
    with raises(AbortedError):
        fence.wait()


def test_await_all_reached_and_nulls():
    fence = HalFence.create()
    fence.signal()
    assert HalFence.await_all([fence, None, HalFence()], 0) == 0
    assert HalFence.await_all([], -1) == 0
    assert HalFence.await_all([None], 0) == 0


def test_await_all_timeout_is_a_value():
    fence = HalFence.create()
    assert HalFence.await_all([fence], 0) == int(StatusCode.DEADLINE_EXCEEDED)   # poll
    start = time.monotonic()
    assert HalFence.await_all([fence], 30) == int(StatusCode.DEADLINE_EXCEEDED)
    assert time.monotonic() - start >= 0.025
    two = HalFence.join([HalFence.create(), HalFence.create()])
    assert HalFence.await_all([two], 10) == int(StatusCode.DEADLINE_EXCEEDED)
    with raises(DeadlineExceededError):
        two.wait(timeout=0.01)


def test_await_all_infinite_across_threads():
    f1, f2 = HalFence.create(), HalFence.create()
    t1 = later(0.01, f1.signal)
    t2 = later(0.03, f2.signal)
    assert HalFence.await_all([f1, f2], -1) == 0           # -1 = 0xFFFFFFFF = forever
    assert HalFence.await_all([f1, f2], 0xFFFFFFFF) == 0
    t1.join()
    t2.join()


def test_await_all_failure_raises():
    fence = HalFence.create()
    fence.fail(AbortedError("queue failed"))
    with raises(AbortedError, "queue failed"):
        HalFence.await_all([fence], 0)


def test_failure_ends_a_multi_wait_at_once():
    pending, failing = HalFence.create(), HalFence.create()
    thread = later(0.02, failing.fail, DataLossError("late failure"))
    start = time.monotonic()
    with raises(DataLossError, "late failure"):
        HalFence.await_all([pending, failing], 5000)       # pending first, never signalled
    assert time.monotonic() - start < 2
    thread.join()


def test_wait_cancels_its_callbacks():
    a, b = HalFence.create(), HalFence.create()
    assert HalFence.await_all([a, b], 1) == int(StatusCode.DEADLINE_EXCEEDED)
    (sem, _), = a.timepoints
    assert all(tp.done for _, _, tp in sem._callbacks)     # cancelled, dropped on signal
    a.signal()
    assert sem._callbacks == []


def test_repeated_timed_out_waits_do_not_accumulate_callbacks():
    a, b = HalFence.create(), HalFence.create()
    for _ in range(200):
        assert HalFence.await_all([a, b], 0 if _ % 2 else 1) == int(StatusCode.DEADLINE_EXCEEDED)
    (sem, _), = a.timepoints
    assert len(sem._callbacks) <= 40


def test_create_sets_every_field_as_init_does():
    import attrs as _attrs

    from pyree.modules.hal.fence import HalFence as _Fence

    fence = _Fence.create()
    assert [f.name for f in _attrs.fields(_Fence)] == ["capacity", "_points", "_state"]
    assert fence.capacity == 1 and len(fence) == 1
    assert fence._points is None and fence._state is None     # no semaphore made yet
    assert fence.query() == 17      # DEFERRED until signalled
    (semaphore, value), = fence._timepoints.items()          # made now
    assert fence._points is not None and len(fence._timepoints) == 1
    assert value == 1 and semaphore.query() == 0
    made = HalSemaphore()           # its semaphore is built without __init__ too
    for field in _attrs.fields(HalSemaphore):
        a, b = getattr(made, field.name), getattr(semaphore, field.name)
        assert type(a) is type(b), field.name
        if field.name != "_cond":
            assert a == b, field.name
    assert semaphore._cond is not made._cond
    fence.signal()
    assert fence.query() == 0 and semaphore.query() == 1


# A create()d fence keeps its semaphore's state until the semaphore is needed: every
# sequence of operations behaves as on a fence over a real semaphore made up front.

def _outcome(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 - compared below
        return (type(e).__name__, int(e.code), str(e))


_STEPS = {
    "signal": lambda f: f.signal(),
    "fail": lambda f: f.fail(StatusCode.ABORTED),
    "fail_ok": lambda f: f.fail(0),
    "query": lambda f: f.query(),
    "reached": lambda f: f.reached(),
    "poll": lambda f: HalFence.await_all([f], 0),
    "wait0": lambda f: f.wait(0),
    "len": lambda f: len(f),
    "points": lambda f: [(s.query(), s.status_code(), v) for s, v in f.timepoints],
}


def test_created_fence_behaves_as_one_over_a_made_semaphore():
    import itertools

    for steps in itertools.product(_STEPS, repeat=3):
        lazy, eager = HalFence.create(), HalFence.at(HalSemaphore(), 1)
        for step in steps:
            assert _outcome(lambda: _STEPS[step](lazy)) == \
                _outcome(lambda: _STEPS[step](eager)), steps


def test_lazy_failure_is_raised_as_a_fresh_copy_chained_to_it():
    fence = HalFence.create()
    error = AbortedError("boom")
    fence.fail(error)
    fence.fail(DataLossError("later"))         # the first failure wins
    assert fence.query() == StatusCode.ABORTED and fence._points is None
    for call in (fence.wait, fence.signal, lambda: HalFence.await_all([fence])):
        with raises(AbortedError, "boom") as info:
            call()
        assert info.value is not error and info.value.__cause__ is error
    (semaphore, _), = fence.timepoints          # made with that failure
    assert semaphore.failure is error


def test_signal_of_a_created_fence_wakes_a_blocked_waiter():
    fence = HalFence.create()
    thread = later(0.05, fence.signal)          # the wait made the semaphore first
    fence.wait(5)
    thread.join()
    assert fence.query() == 0 and fence._points is not None
    with raises(InvalidArgumentError, "semaphore already signaled past 1"):
        fence.signal()


def test_join_of_created_fences_shares_their_semaphores():
    a, b = HalFence.create(), HalFence.create()
    b.signal()
    joined = HalFence.join([a, b])
    assert len(joined) == 2 and joined.query() == StatusCode.DEFERRED
    a.signal()
    assert joined.query() == 0 and joined.reached()
    assert {s for s, _ in joined.timepoints} == {s for f in (a, b) for s, _ in f.timepoints}


def test_concurrent_signals_of_a_created_fence_succeed_once():
    for _ in range(50):
        fence = HalFence.create()
        outcomes = []
        barrier = threading.Barrier(4)

        def signal():
            barrier.wait()
            outcomes.append(_outcome(fence.signal)[0])
        threads = [threading.Thread(target=signal) for _ in range(3)]
        for thread in threads:
            thread.start()
        barrier.wait()
        fence.timepoints                        # materialise while they race
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["InvalidArgumentError"] * 2 + ["ok"]
        assert fence.query() == 0
