"""HalSemaphore: timeline values, failure, waits across threads, timeouts, callbacks (4.10)."""

import logging
import threading
import time

import pytest

from pyree.modules.hal import HalSemaphore, SemaphoreFlags
from pyree.modules.hal.semaphore import FAILURE_STATUS_BIT, MAX_VALUE
from pyree.status import (AbortedError, DeadlineExceededError, InternalError,
                          InvalidArgumentError, PyreeError, StatusCode)
from pyree.vm.ref import lookup_ref_type, ref_type_of

from .halhelpers import raises


def later(delay, fn, *args):
    thread = threading.Thread(target=lambda: (time.sleep(delay), fn(*args)))
    thread.start()
    return thread


def test_initial_state():
    sem = HalSemaphore()
    assert sem.query() == 0 and sem.failure is None and sem.status_code() == 0
    assert sem.flags == SemaphoreFlags.DEFAULT
    assert HalSemaphore(5).query() == 5
    assert ref_type_of(sem) is lookup_ref_type("hal.semaphore")
    with raises(InvalidArgumentError):
        HalSemaphore(MAX_VALUE + 1)


def test_signal_strictly_increasing():
    sem = HalSemaphore()
    sem.signal(3)
    assert sem.query() == 3
    with raises(InvalidArgumentError, "semaphore already signaled past 3",
                code=StatusCode.INVALID_ARGUMENT):
        sem.signal(3)
    with raises(InvalidArgumentError, "semaphore already signaled past 3"):
        sem.signal(2)
    sem.signal(MAX_VALUE)
    with raises(InvalidArgumentError, f"semaphore already signaled past {MAX_VALUE}"):
        sem.signal(MAX_VALUE)


def test_signal_above_max_value():
    sem = HalSemaphore()
    with raises(InvalidArgumentError,
                f"semaphore value {MAX_VALUE + 1} exceeds the maximum {MAX_VALUE}"):
        sem.signal(MAX_VALUE + 1)
    with raises(InvalidArgumentError):
        sem.signal(-1)                                     # u64: 2**64 - 1


def test_wait_already_reached_and_poll():
    sem = HalSemaphore(4)
    sem.wait(4)
    sem.wait(0, timeout=0)
    with raises(DeadlineExceededError, "timed out waiting for semaphore value 5 "
                                       "(current value 4)",
                code=StatusCode.DEADLINE_EXCEEDED):
        sem.wait(5, timeout=0)


def test_wait_timeout():
    sem = HalSemaphore()
    start = time.monotonic()
    with raises(DeadlineExceededError):
        sem.wait(1, timeout=0.05)
    assert time.monotonic() - start >= 0.045


def test_wait_across_threads():
    sem = HalSemaphore()
    thread = later(0.02, sem.signal, 2)
    sem.wait(2, timeout=5)
    assert sem.query() == 2
    thread.join()


def test_many_waiters_on_different_values():
    sem = HalSemaphore()
    reached = []
    lock = threading.Lock()

    def waiter(value):
        sem.wait(value, timeout=5)
        with lock:
            reached.append(value)

    threads = [threading.Thread(target=waiter, args=(v,)) for v in (1, 2, 3, 3)]
    for t in threads:
        t.start()
    for value in (1, 2, 3):
        time.sleep(0.01)
        sem.signal(value)
    for t in threads:
        t.join(5)
    assert sorted(reached) == [1, 2, 3, 3]


def test_failure_propagates_to_waiters():
    sem = HalSemaphore()
    errors = []

    def waiter():
        try:
            sem.wait(1, timeout=5)
        except PyreeError as e:
            errors.append(e)

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.02)
    original = AbortedError("device lost")
    sem.fail(original)
    for t in threads:
        t.join(5)
    assert len(errors) == 3
    assert all(type(e) is AbortedError and e.message == "device lost" for e in errors)
    assert len({id(e) for e in errors}) == 3               # a fresh copy per waiter
    assert all(e.__cause__ is original for e in errors)
    assert sem.failure is original
    assert sem.query() == FAILURE_STATUS_BIT | int(StatusCode.ABORTED)
    assert sem.status_code() == int(StatusCode.ABORTED)


def test_failed_semaphore():
    sem = HalSemaphore()
    sem.signal(1)
    sem.fail(13)                                           # a status code
    with raises(InternalError, "semaphore failed with status INTERNAL"):
        sem.wait(1)                                        # even a reached value
    with raises(InternalError):
        sem.signal(2)
    sem.fail(AbortedError("second"))                       # the first failure wins
    assert sem.status_code() == int(StatusCode.INTERNAL)
    other = HalSemaphore()
    other.fail(0x20 | 4)                                   # masked to 5 bits
    assert other.status_code() == 4


def test_fail_with_ok_status():
    with raises(InvalidArgumentError, "cannot fail a semaphore with an OK status"):
        HalSemaphore().fail(0)


def test_callbacks():
    sem = HalSemaphore()
    calls = []
    sem.on_reached(2, lambda e: calls.append(("two", e)))
    sem.on_reached(1, lambda e: calls.append(("one", e)))
    cancelled = sem.on_reached(1, lambda e: calls.append(("cancelled", e)))
    assert cancelled.cancel() is True and cancelled.cancel() is False
    sem.signal(1)
    assert calls == [("one", None)]
    sem.signal(5)
    assert calls == [("one", None), ("two", None)]
    done = sem.on_reached(5, lambda e: calls.append(("now", e)))   # already reached
    assert calls[-1] == ("now", None) and done.done and done.cancel() is False


def test_callbacks_on_failure():
    sem = HalSemaphore()
    seen = []
    sem.on_reached(3, seen.append)
    error = AbortedError("boom")
    sem.fail(error)
    assert seen == [error]
    sem.on_reached(1, seen.append)                         # after failure: immediately
    assert seen == [error, error]


def test_callback_exceptions_are_logged_not_raised(caplog):
    sem = HalSemaphore()

    def bad(error):
        raise RuntimeError("callback bug")

    sem.on_reached(1, bad)
    with caplog.at_level(logging.ERROR, logger="pyree.hal"):
        sem.signal(1)
    assert sem.query() == 1
    assert "callback" in caplog.text


def test_callback_from_signalling_thread():
    sem = HalSemaphore()
    threads = []
    event = threading.Event()
    sem.on_reached(1, lambda e: (threads.append(threading.current_thread()), event.set()))
    worker = later(0.01, sem.signal, 1)
    assert event.wait(5)
    worker.join()
    assert threads == [worker]


@pytest.mark.parametrize("n", [50])
def test_stress_signal_wait(n):
    sem = HalSemaphore()

    def producer():
        for v in range(1, n + 1):
            sem.signal(v)

    thread = threading.Thread(target=producer)
    thread.start()
    for v in range(1, n + 1):
        sem.wait(v, timeout=5)
    thread.join()
    assert sem.query() == n


def test_fresh_sets_every_field_as_init_does():
    # fence.create's constructor skips attrs' __init__: a field added later must be set too.
    import attrs as _attrs

    made, fresh = HalSemaphore(), HalSemaphore.fresh()
    for field in _attrs.fields(HalSemaphore):
        a, b = getattr(made, field.name), getattr(fresh, field.name)
        assert type(a) is type(b), field.name
        if field.name != "_cond":
            assert a == b, field.name
    assert fresh._cond is not made._cond
    fresh.signal(3)
    fresh.wait(3, timeout=0)
    assert fresh.query() == 3
