"""HalSemaphore (``hal.semaphore``): a 64-bit timeline (``hal-abi.md`` 4.10).

The value only grows. :meth:`signal` moves it to a strictly larger value (else
INVALID_ARGUMENT "semaphore already signaled past N"; valid values are 0..2**31-2).
:meth:`fail` moves the semaphore to the failed state for good: its value becomes
``2**63 | code`` (bit 63 set, the status code below) and every current and later waiter
gets the failure as a pyree error of that code (a fresh copy per waiter, chained to the
original through ``__cause__``). The first failure wins; later ones are ignored.

:meth:`wait` blocks the calling thread on a ``threading.Condition`` (over the semaphore's lock,
created by the first thread that blocks) until the value is
reached (returns), the semaphore fails (raises the failure) or ``timeout`` seconds pass
(DEADLINE_EXCEEDED; ``None`` waits forever, 0 polls).

:meth:`on_reached` lets an asynchronous queue schedule work without a thread per wait:
``fn(error)`` runs once, with ``None`` when the value is reached or the failure error, on the
thread that signals/fails (or immediately, on the caller's thread, if that already
happened). Callbacks run outside the semaphore's lock and must not block; an exception a
callback raises is logged and swallowed (the signaller must not fail because of it). The
returned :class:`Timepoint` can be cancelled.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time

import attrs

from pyree.status import (DeadlineExceededError, InvalidArgumentError, PyreeError,
                          StatusCode, make_error)
from pyree.vm.ref import register_ref_type

from .buffer_validation import device_size
from .enums import SemaphoreFlags

MAX_VALUE = (1 << 31) - 2
#: Values at or above this mean failure.
FAILURE_VALUE = (1 << 31) - 1
FAILURE_STATUS_BIT = 1 << 63

_DEFAULT_FLAGS = int(SemaphoreFlags.DEFAULT)
_new = object.__new__

_log = logging.getLogger("pyree.hal")
_sequence = itertools.count()


def clone_error(error: PyreeError) -> PyreeError:
    """A fresh copy of ``error`` (same class, code, message, annotations) to raise in
    another thread, chained to the original."""
    copy = type(error)(error.message, code=int(error.code), annotations=error.annotations)
    copy.__cause__ = error
    return copy


def as_failure(status, default_message: str = "") -> PyreeError:
    """A PyreeError from a status: an error is used as is; an int is a status code (masked
    to 5 bits, 0 is INVALID_ARGUMENT: a failure needs a non-OK status)."""
    if isinstance(status, PyreeError):
        return status
    if isinstance(status, BaseException):
        return make_error(int(StatusCode.UNKNOWN), f"{type(status).__name__}: {status}")
    code = int(status) & 0x1F
    if code == 0:
        raise InvalidArgumentError("cannot fail a semaphore with an OK status")
    name = StatusCode(code).name if code in StatusCode._value2member_map_ else f"CODE_{code}"
    return make_error(code, default_message or f"semaphore failed with status {name}")


@attrs.define(eq=False, repr=False)
class Timepoint:
    """A pending :meth:`HalSemaphore.on_reached` callback."""

    semaphore: HalSemaphore
    value: int
    fn: object
    done: bool = False

    def cancel(self) -> bool:
        """Drops the callback if it has not run; True if it was cancelled."""
        semaphore = self.semaphore
        with semaphore._cond:
            if self.done:
                return False
            self.done = True
            semaphore._cancelled += 1
            if semaphore._cancelled > 16 and semaphore._cancelled * 2 > len(semaphore._callbacks):
                semaphore._compact()
            return True


@attrs.define(eq=False, repr=False)
class HalSemaphore:
    initial_value: int = 0
    flags: int = int(SemaphoreFlags.DEFAULT)
    # The mutex of every field below. The Condition over it exists only once a thread has
    # blocked (``_block``, lock held): most semaphores are signalled before anyone waits.
    _cond: object = attrs.field(init=False, factory=threading.Lock)
    _waiters: threading.Condition | None = attrs.field(init=False, default=None)
    _value: int = attrs.field(init=False, default=0)
    _failure: PyreeError | None = attrs.field(init=False, default=None)
    _callbacks: list = attrs.field(init=False, factory=list)  # heap of (value, seq, tp)
    _cancelled: int = attrs.field(init=False, default=0)      # cancelled entries in the heap
    _waiting: int = attrs.field(init=False, default=0)        # threads in wait() (notify)
    # Set by an asynchronous queue that will signal this semaphore: ``helper()`` runs one
    # ready submission on the calling thread (False if none), see :meth:`wait`.
    helper: object = attrs.field(init=False, default=None)

    @classmethod
    def fresh(cls) -> HalSemaphore:
        """``HalSemaphore()`` (value 0, default flags: what ``fence.create`` makes per
        call) without the generated ``__init__``'s argument handling and the value check
        that 0 passes; every field is set as ``__init__`` sets it."""
        sem = _new(cls)
        sem.initial_value = 0
        sem.flags = _DEFAULT_FLAGS
        sem._cond = threading.Lock()
        sem._waiters = sem._failure = sem.helper = None
        sem._value = sem._cancelled = sem._waiting = 0
        sem._callbacks = []
        return sem

    def __attrs_post_init__(self):
        value = self.initial_value
        if value.__class__ is not int or not 0 <= value <= MAX_VALUE:
            value = device_size(value)
        if value > MAX_VALUE:
            raise InvalidArgumentError(
                f"semaphore initial value {value} exceeds the maximum {MAX_VALUE}")
        self._value = value

    @property
    def failure(self) -> PyreeError | None:
        """The failure error, or None."""
        return self._failure

    def query(self) -> int:
        """The current value (``2**63 | code`` once failed)."""
        return self._value

    def status_code(self) -> int:
        """0 if not failed, else the failure's status code."""
        failure = self._failure
        return 0 if failure is None else int(failure.code) & 0x1F

    def signal(self, value) -> None:
        if value.__class__ is not int or not 0 <= value <= MAX_VALUE:
            value = device_size(value)
        cond = self._cond
        cond.acquire()      # not ``with``: its special-method lookups cost more than this
        try:
            if self._failure is not None:
                raise clone_error(self._failure)
            if value <= self._value:
                raise InvalidArgumentError(f"semaphore already signaled past {self._value}")
            if value > MAX_VALUE:
                raise InvalidArgumentError(
                    f"semaphore value {value} exceeds the maximum {MAX_VALUE}")
            self._value = value
            ready = self._pop_ready(value) if self._callbacks else None
            if self._waiting:
                self._waiters.notify_all()
        finally:
            cond.release()
        if ready:
            _run(ready, None)

    def fail(self, status) -> None:
        """Fails the semaphore with ``status`` (a PyreeError or a status code)."""
        error = as_failure(status)
        with self._cond:
            if self._failure is not None:
                return
            self._failure = error
            self._value = FAILURE_STATUS_BIT | (int(error.code) & 0x1F)
            ready = [tp for _, _, tp in self._callbacks]
            self._callbacks.clear()
            if self._waiters is not None:
                self._waiters.notify_all()
        _run(ready, error)

    def wait(self, value, timeout: float | None = None) -> None:
        value = device_size(value)
        cond = self._cond
        with cond:
            if self._failure is None and self._value >= value:
                return
        helper = self.helper
        if helper is not None and (timeout is None or timeout > 0):
            self._help(helper, value, timeout)
        with cond:
            if self._failure is None and self._value >= value:
                return
            deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
            while True:
                if self._failure is not None:
                    raise clone_error(self._failure)
                if self._value >= value:
                    return
                if deadline is None:
                    self._block(None)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeadlineExceededError(
                        f"timed out waiting for semaphore value {value} "
                        f"(current value {self._value})")
                self._block(remaining)

    def _help(self, helper, value: int, timeout: float | None) -> None:
        """Before blocking, the waiting thread runs ready work of the queue that will signal
        this semaphore (IREE's local-task donates a waiting caller to its executor the same
        way): no worker wake-up and hand-back when the work is already queued. Stops when
        the value is reached, the semaphore fails, nothing is ready or the time is up."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while helper():
            if self._failure is not None or self._value >= value:
                return
            if deadline is not None and time.monotonic() >= deadline:
                return

    def _block(self, timeout: float | None) -> None:
        """Waits on the condition (lock held), counted so signal notifies only waiters."""
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = threading.Condition(self._cond)
        self._waiting += 1
        try:
            waiters.wait(timeout)
        finally:
            self._waiting -= 1

    def on_reached(self, value, fn) -> Timepoint:
        value = device_size(value)
        timepoint = Timepoint(self, value, fn)
        with self._cond:
            failure = self._failure
            if failure is None and self._value < value:
                heapq.heappush(self._callbacks, (value, next(_sequence), timepoint))
                return timepoint
        _run([timepoint], failure)
        return timepoint

    def _compact(self) -> None:
        """Drops cancelled callbacks (lock held), so timed-out waits do not pile up."""
        self._callbacks = [entry for entry in self._callbacks if not entry[2].done]
        heapq.heapify(self._callbacks)
        self._cancelled = 0

    def _pop_ready(self, value: int) -> list[Timepoint]:
        callbacks = self._callbacks
        ready = []
        while callbacks and callbacks[0][0] <= value:
            ready.append(heapq.heappop(callbacks)[2])
        return ready

    def __repr__(self) -> str:
        state = f"failed={self._failure.code_name}" if self._failure else f"value={self._value}"
        return f"<HalSemaphore {state}>"


def _run(timepoints: list[Timepoint], error: PyreeError | None) -> None:
    for timepoint in timepoints:
        with timepoint.semaphore._cond:
            if timepoint.done:
                continue
            timepoint.done = True
        try:
            timepoint.fn(error)
        except Exception:  # noqa: BLE001 - a callback bug must not fail the signaller
            _log.exception("semaphore callback %r failed", timepoint.fn)


HAL_SEMAPHORE = register_ref_type("hal.semaphore", HalSemaphore)
