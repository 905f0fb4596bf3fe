"""The ``local-sync`` queue: every queue operation runs on the calling thread.

``submit`` blocks until the wait fence is reached (a failed wait semaphore fails the
operation), runs the work, then signals the signal fence; on failure it fails the signal
fence's semaphores and raises the error to the caller. Nothing is retained beyond the call
(the caller's frame holds every resource), and command buffers may execute inline.
"""

from __future__ import annotations

from pyree.status import PyreeError

from ..queue import Submission, complete, run_work, settle
from ..semaphore import as_failure


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

    def run(self, label: str, wait_fence, signal_fence, work, args=()) -> None:
        """:meth:`submit` of ``Submission(label, signal_fence, work)`` without building
        the record (the device's path when nothing traces the queue): same order (wait,
        work, signal or fail), same errors. The work is ``work(*args)``."""
        error = None
        if wait_fence is not None and not wait_fence.reached():
            try:        # not reached (yet): the full wait
                wait_fence.wait()
            except PyreeError as e:
                error = e
        if work is not None and error is None:
            try:        # perform(label, work, args) without its frame: same annotations
                work(*args)
            except PyreeError as e:
                error = e.annotate(f"while executing queue operation {label}")
            except Exception as e:  # noqa: BLE001 - any failure must reach the fence
                error = as_failure(e).annotate(f"while executing queue operation {label}")
        if error is None and signal_fence is not None:
            try:        # settle's success branch, without its frame
                signal_fence.signal()
                return
            except PyreeError as e:   # already signalled past / failed by someone else
                signal_fence.fail(e)
                return
        settle(label, signal_fence, error)
        if error is not None:
            raise error

    def wait_idle(self, timeout: float | None = None) -> None:
        return None

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "<SyncQueue>"
