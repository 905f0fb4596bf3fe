"""The ``local-sync`` queue: every queue operation runs on the calling thread.

``submit`` blocks until the wait fence is reached (a failed wait semaphore fails the
operation), runs the work, then signals the signal fence; on failure it fails the signal
fence's semaphores and raises the error to the caller. Nothing is retained beyond the call
(the caller's frame holds every resource), and command buffers may execute inline.
"""

from __future__ import annotations

import logging

from pyree.status import PyreeError

from ..queue import Submission, complete, run_work
from ..semaphore import as_failure

_log = logging.getLogger("pyree.hal")


class SyncQueue:
    inline_command_buffers = True
    concurrency = 1

    def submit(self, submission: Submission, wait_fence) -> None:
        if wait_fence is not None:
            try:
                wait_fence.wait()
            except PyreeError as e:
                submission.error = e
        error = run_work(submission)
        complete(submission, error)
        if error is not None:
            raise error

    def run(self, label: str, wait_fence, signal_fence, work) -> None:
        """:meth:`submit` of ``Submission(label, signal_fence, work)`` without building
        the record (the device's path when nothing traces the queue): ``run_work`` and
        ``complete`` inlined, same order (wait, work, signal or fail), same errors."""
        error = None
        if wait_fence is not None and not wait_fence.reached():
            try:        # not reached (yet): the full wait
                wait_fence.wait()
            except PyreeError as e:
                error = e
        if work is not None and error is None:
            try:
                work()
            except PyreeError as e:
                error = e.annotate(f"while executing queue operation {label}")
            except Exception as e:  # noqa: BLE001 - any failure must reach the fence
                error = as_failure(e).annotate(f"while executing queue operation {label}")
        if signal_fence is None:
            if error is not None:
                _log.debug("queue operation %s failed with no signal fence: %s", label, error)
                raise error
            return
        if error is not None:
            signal_fence.fail(error)
            raise error
        try:
            for semaphore, value in signal_fence._timepoints.items():   # HalFence.signal
                semaphore.signal(value)
        except PyreeError as e:   # already signalled past / failed by someone else
            signal_fence.fail(e)

    def wait_idle(self, timeout: float | None = None) -> None:
        return None

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "<SyncQueue>"
