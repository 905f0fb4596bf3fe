"""HalFence (``hal.fence``): a set of (semaphore, value) timepoints (``hal-abi.md`` 3.8, 4.10).

At most one timepoint per semaphore: inserting a semaphore already present keeps the larger
value. A fence has a fixed capacity (``fence.create`` makes fences of capacity 1,
:meth:`join` of exactly the joined count); inserting a new semaphore into a full fence is
RESOURCE_EXHAUSTED. A fence is *reached* when every semaphore's value is >= its timepoint;
an empty fence (and, at the ABI, a null fence) is always reached.

* :meth:`query` is ``fence.query``: 0 if reached, 17 (DEFERRED) if a timepoint is pending,
  else the failure code of a failed semaphore; timepoints are checked in insertion order
  and the first one not reached decides.
* :meth:`signal` / :meth:`fail` signal or fail every semaphore (``fence.signal`` twice
  fails: "semaphore already signaled past N").
* :meth:`wait` waits for all timepoints; a failure of any semaphore ends the wait at once
  with that failure; timeout in seconds (None forever) -> DEADLINE_EXCEEDED.
* :meth:`await_all` is ``fence.await``: ``timeout_ms`` unsigned 32-bit (-1 = forever,
  0 = poll), null fences skipped; returns 0 when reached or 4 (DEADLINE_EXCEEDED) as a
  value on timeout, and raises the failure if a fence failed.

Fences are built by one thread at a time (insertion is not locked); querying, signalling and
waiting are safe from any thread (the semaphores are).

A fence made by :meth:`create` (``fence.create``) does not build its semaphore until something
needs it as an object: until then (``_points`` is None) the fence holds that semaphore's
state itself (``_state``: None while at 0, True once signalled to 1, the failure error once
failed), and query, signal, fail, ``reached`` and waits that need not block read or change
it under one module-wide lock. Reading the timepoints (``timepoints``, ``_timepoints``),
joining, inserting, blocking waits and asynchronous queues materialise the semaphore - with
that state, once, under the same lock - and from then on the fence is an ordinary one. The
observable behaviour (values, status codes, error messages, failure propagation) is the
same: on ``local-sync`` most fences are created, signalled inline and awaited without their
semaphore ever being made.
"""

from __future__ import annotations

import threading

import attrs

from pyree.status import (DeadlineExceededError, InvalidArgumentError, ResourceExhaustedError,
                          StatusCode)
from pyree.vm.ref import register_ref_type

from .buffer_validation import device_size
from .semaphore import HalSemaphore, as_failure, clone_error

DEFAULT_CAPACITY = 16
_MASK64 = 0xFFFFFFFFFFFFFFFF
INFINITE_TIMEOUT_MS = 0xFFFFFFFF
_DEFERRED = int(StatusCode.DEFERRED)
_DEADLINE_EXCEEDED = int(StatusCode.DEADLINE_EXCEEDED)
_new = object.__new__
_LAZY = threading.Lock()    # every create()d fence's semaphore-less state and its materialising


@attrs.define(eq=False, repr=False)
class HalFence:
    capacity: int = DEFAULT_CAPACITY
    # semaphore -> value; None: create()d, its semaphore not made yet (state in _state)
    _points: dict | None = attrs.field(init=False, factory=dict)
    _state: object = attrs.field(init=False, default=None)    # None / True / the failure

    @classmethod
    def at(cls, semaphore: HalSemaphore, value) -> HalFence:
        """A fence of capacity 1 holding ``(semaphore, value)``."""
        fence = cls(1)
        if value.__class__ is int and 0 <= value <= _MASK64:
            fence._points[semaphore] = value
        else:
            fence.insert(semaphore, value)
        return fence

    @classmethod
    def create(cls, flags=0) -> HalFence:
        """``fence.create``: a new semaphore at 0 and the fence ``(semaphore, 1)``; the
        semaphore is made when first needed (see the module doc)."""
        fence = _new(cls)           # what cls(1) sets, without the generated __init__
        fence.capacity = 1
        fence._points = fence._state = None
        return fence

    @property
    def _timepoints(self) -> dict:
        """The ``semaphore -> value`` dict (a create()d fence's semaphore is made now)."""
        points = self._points
        return points if points is not None else self._materialize()

    def _materialize(self) -> dict:
        _LAZY.acquire()
        try:
            points = self._points
            if points is None:      # not shared yet: set its state through its own API
                semaphore = HalSemaphore.fresh()
                state = self._state
                if state is True:
                    semaphore.signal(1)
                elif state is not None:
                    semaphore.fail(state)
                points = self._points = {semaphore: 1}
            return points
        finally:
            _LAZY.release()

    @classmethod
    def join(cls, fences) -> HalFence | None:
        """``fence.join``: every timepoint of the non-null fences, max value per semaphore;
        None when there is no timepoint at all."""
        fences = [f for f in fences if f is not None and f._timepoints]
        if not fences:
            return None
        joined = cls(sum(len(f._timepoints) for f in fences))
        for fence in fences:
            joined.extend(fence)
        return joined

    def insert(self, semaphore: HalSemaphore, value) -> None:
        value = device_size(value)
        timepoints = self._timepoints
        current = timepoints.get(semaphore)
        if current is not None:
            if value > current:
                timepoints[semaphore] = value
            return
        if len(timepoints) >= self.capacity:
            raise ResourceExhaustedError(
                f"fence unable to insert a new timepoint; capacity of {self.capacity} "
                "exhausted")
        timepoints[semaphore] = value

    def extend(self, other: HalFence) -> None:
        for semaphore, value in other._timepoints.items():
            self.insert(semaphore, value)

    @property
    def timepoints(self) -> tuple[tuple[HalSemaphore, int], ...]:
        return tuple(self._timepoints.items())

    def __len__(self) -> int:
        points = self._points
        return 1 if points is None else len(points)

    def __bool__(self) -> bool:
        return True  # a non-null ref even when empty

    def query(self) -> int:
        points = self._points
        if points is None:      # its semaphore's status and value (failure first)
            state = self._state
            if state is None:
                return _DEFERRED
            return 0 if state is True else int(state.code) & 0x1F
        for semaphore, value in points.items():
            code = semaphore.status_code()
            if code:
                return code
            if semaphore.query() < value:
                return _DEFERRED
        return 0

    def is_reached(self) -> bool:
        return self.query() == 0

    def signal(self) -> None:
        if self._points is None:
            _LAZY.acquire()
            try:
                if self._points is None:    # what HalSemaphore.signal(1) does
                    state = self._state
                    if state is None:
                        self._state = True
                        return
                    if state is True:
                        raise InvalidArgumentError("semaphore already signaled past 1")
                    raise clone_error(state)
            finally:
                _LAZY.release()
        for semaphore, value in self._points.items():
            semaphore.signal(value)

    def fail(self, status) -> None:
        if self._points is None:
            error = as_failure(status)
            _LAZY.acquire()
            try:
                if self._points is None:    # what HalSemaphore.fail does: first one wins
                    if self._state is None or self._state is True:
                        self._state = error
                    return
            finally:
                _LAZY.release()
        for semaphore in self._points:
            semaphore.fail(status)

    def wait(self, timeout: float | None = None) -> None:
        if self._points is None:
            state = self._state
            if state is True:
                return
            if state is not None:
                raise clone_error(state)
        wait_timepoints(self._timepoints.items(), timeout)

    @staticmethod
    def await_all(fences, timeout_ms=INFINITE_TIMEOUT_MS) -> int:
        timeout_ms = int(timeout_ms) & 0xFFFFFFFF
        timepoints = []
        for fence in fences:
            if fence is not None and (fence._points is not None or fence._state is not True):
                for semaphore, value in fence._timepoints.items():
                    if semaphore._failure is not None or semaphore._value < value:
                        timepoints.append((semaphore, value))   # not reached (yet)
        if not timepoints:
            return 0
        timeout = None if timeout_ms == INFINITE_TIMEOUT_MS else timeout_ms / 1000.0
        try:
            wait_timepoints(timepoints, timeout)
        except DeadlineExceededError:
            return _DEADLINE_EXCEEDED
        return 0

    def reached(self) -> bool:
        """Every timepoint is reached and no semaphore has failed: waiting returns at
        once (``await_all``'s and the queues' shortcut)."""
        points = self._points
        if points is None:
            return self._state is True
        for semaphore, value in points.items():
            if semaphore._failure is not None or semaphore._value < value:
                return False
        return True

    def __repr__(self) -> str:
        points = ", ".join(f"{s!r}>={v}" for s, v in self._timepoints.items())
        return f"<HalFence capacity={self.capacity} [{points}]>"


def wait_timepoints(timepoints, timeout: float | None = None) -> None:
    """Waits until every ``(semaphore, value)`` is reached; raises the first failure seen
    (at once, whichever semaphore fails) or DEADLINE_EXCEEDED after ``timeout`` seconds."""
    pending = []
    for semaphore, value in timepoints:
        failure = semaphore.failure
        if failure is not None:
            raise clone_error(failure)
        if semaphore.query() < value:
            pending.append((semaphore, value))
    if not pending:
        return
    if len(pending) == 1:
        pending[0][0].wait(pending[0][1], timeout)
        return
    if timeout is not None and timeout <= 0:
        raise DeadlineExceededError(f"timed out waiting for {len(pending)} timepoints")
    done = threading.Event()
    lock = threading.Lock()
    state = {"left": len(pending), "error": None}

    def reached(error):
        with lock:
            if error is not None:
                if state["error"] is None:
                    state["error"] = error
                done.set()
                return
            state["left"] -= 1
            if state["left"] == 0:
                done.set()

    handles = [semaphore.on_reached(value, reached) for semaphore, value in pending]
    finished = done.wait(timeout)
    for handle in handles:
        handle.cancel()
    with lock:
        error = state["error"]
        left = state["left"]
    if error is not None:
        raise clone_error(error)
    if not finished and left:
        raise DeadlineExceededError(f"timed out waiting for {left} of {len(pending)} "
                                    "timepoints")


HAL_FENCE = register_ref_type("hal.fence", HalFence)
