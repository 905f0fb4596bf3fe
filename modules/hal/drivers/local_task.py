"""The ``local-task`` queue: worker threads run submissions once their wait fences are reached.

``submit`` returns at once. A submission whose wait timepoints are all reached goes straight
to the ready queue; otherwise it registers one ``on_reached`` callback per pending
timepoint (no thread blocks on a wait) and the callback that brings the count to zero, or
the first that reports a failed semaphore, enqueues it. Callbacks only enqueue, so a long
chain of dependent submissions never recurses through semaphore callbacks. Workers pop
ready submissions and run :func:`~..queue.complete` (work, release, signal or fail).

Operations with no fence relationship may run concurrently and in any order. Within a
dispatch, workgroups run in parallel inside the numba kernel (``prange``); kernels of
concurrent dispatches are serialised by the executable's kernel lock.

A host thread about to block on a semaphore this queue will signal first runs ready
submissions itself (``help``; ``HalSemaphore.wait``), as IREE's task executor lets a waiting
caller donate itself: a submission the host waits on right away then costs no worker
wake-up and no hand-back.

``wait_idle`` waits until no submission is in flight. ``close`` fails the signal fences of
submissions still waiting (CANCELLED "device closed") and stops the workers after they
drain what is ready. Workers hold no reference to the device: a device that is garbage
collected shuts its queue down (``weakref.finalize`` in ``device.py``).
"""

from __future__ import annotations

import os
import queue
import threading

from pyree.status import CancelledError, DeadlineExceededError, InvalidArgumentError

from ..queue import Submission, complete, run_work

_STOP = object()
DEFAULT_MAX_WORKERS = 4


class TaskQueue:
    inline_command_buffers = False

    def __init__(self, workers: int | None = None):
        if workers is None:
            workers = min(os.cpu_count() or 1, DEFAULT_MAX_WORKERS)
        if not isinstance(workers, int) or workers < 1:
            raise InvalidArgumentError(f"local-task needs at least one worker, got {workers!r}")
        self.concurrency = workers
        self._ready: queue.SimpleQueue = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._waiting: set = set()          # submissions registered on semaphores
        self._closed = False
        self._threads = [threading.Thread(target=_worker, args=(self._ready, self._done),
                                          name=f"pyree-hal-task-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, submission: Submission, wait_fence) -> None:
        with self._cond:
            closed = self._closed
            if not closed:
                self._in_flight += 1
        if closed:      # no worker will run it: fail it here
            complete(submission, CancelledError("device closed"))
            return
        signal = submission.signal
        if signal is not None:
            for semaphore in signal._timepoints:
                semaphore.helper = self.help
        pending = []
        if wait_fence is not None:
            for semaphore, value in wait_fence.timepoints:
                if semaphore.failure is not None or semaphore.query() < value:
                    pending.append((semaphore, value))
        if not pending:
            self._ready.put(submission)
            return
        lock = threading.Lock()
        submission.remaining = len(pending)
        with self._cond:
            self._waiting.add(submission)

        def reached(error, submission=submission):
            with lock:
                if submission.remaining <= 0:
                    return               # already enqueued (failed, or cancelled)
                if error is None:
                    submission.remaining -= 1
                    if submission.remaining:
                        return
                else:
                    submission.error = error
                    submission.remaining = 0
            if self._dequeue_waiting(submission):
                self._ready.put(submission)

        handles = submission.handles
        for semaphore, value in pending:
            handles.append(semaphore.on_reached(value, reached))

    def help(self) -> bool:
        """Runs one ready submission on the calling thread, as a worker would; False if
        none was ready (a thread about to block on a semaphore this queue signals calls it:
        HalSemaphore.wait)."""
        try:
            submission = self._ready.get_nowait()
        except queue.Empty:
            return False
        if submission is _STOP:         # shutting down: leave the marker to a worker
            self._ready.put(_STOP)
            return False
        error = run_work(submission)
        complete(submission, error)
        del submission, error
        self._done()
        return True

    def _dequeue_waiting(self, submission) -> bool:
        with self._cond:
            if submission not in self._waiting:
                return False
            self._waiting.discard(submission)
            return True

    def _done(self) -> None:
        with self._cond:
            self._in_flight -= 1
            if not self._in_flight:
                self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def wait_idle(self, timeout: float | None = None) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._in_flight == 0, timeout):
                raise DeadlineExceededError(
                    f"timed out waiting for {self._in_flight} queue operations")

    def shutdown(self) -> None:
        """Cancels waiting submissions and asks the workers to stop (does not block)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            waiting = list(self._waiting)
            self._waiting.clear()
        for submission in waiting:
            for handle in submission.handles:
                handle.cancel()
            submission.error = CancelledError("device closed")
            self._ready.put(submission)
        for _ in self._threads:
            self._ready.put(_STOP)

    def close(self, timeout: float | None = 10.0) -> None:
        self.shutdown()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def __repr__(self) -> str:
        return (f"<TaskQueue workers={len(self._threads)} in_flight={self._in_flight} "
                f"closed={self._closed}>")


def _worker(ready: queue.SimpleQueue, done) -> None:
    while True:
        submission = ready.get()
        if submission is _STOP:
            return
        error = run_work(submission)
        complete(submission, error)
        del submission, error
        done()
