"""HAL drivers: how a device's queue runs submissions (``hal-abi.md`` 5.7).

* ``local-sync`` (:mod:`.local_sync`): everything on the calling thread; queue operations
  block on their wait fence, run, then signal; command buffers created ONE_SHOT |
  ALLOW_INLINE_EXECUTION execute each command while it is recorded.
* ``local-task`` (:mod:`.local_task`): worker threads; queue operations return at once and
  run when their wait fence is reached (semaphore ``on_reached`` callbacks, no thread per
  wait); submissions retain their resources until they signal.

A driver provides a queue object with ``inline_command_buffers`` (bool), ``concurrency``
(int), ``submit(submission, wait_fence)``, ``wait_idle(timeout)`` and ``close()``; a queue
with ``inline_command_buffers`` also provides ``run(label, wait_fence, signal_fence, work)``
(``submit`` without the Submission record: the device uses it when nothing traces).
"""

from __future__ import annotations

from .local_sync import SyncQueue
from .local_task import TaskQueue

DRIVERS = ("local-sync", "local-task")


def create_queue(driver: str, workers: int | None = None):
    if driver == "local-sync":
        return SyncQueue()
    if driver == "local-task":
        return TaskQueue(workers)
    return None
