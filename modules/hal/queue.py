"""Queue submissions: the unit both drivers execute (``hal-abi.md`` 3.6, 5.6, 5.7).

A :class:`Submission` is one queue operation after validation: the timepoints it waits for,
the work (a callable, or None for barriers, allocas and inline command buffers), the fence
it signals and the resources it retains. Every queue operation shares one model: the work
starts once every wait timepoint is reached; on success the signal fence is signalled; on
failure (of the work, or of a wait semaphore) the signal fence's semaphores are failed
with the error instead.

Lifetime attached to queue timepoints
    An asynchronous submission (``local-task``) holds its resources in a frozen
    :class:`~.resource_set.ResourceSet` (its command buffer, which holds everything the
    command buffer retained; binding-table buffers unless BORROW_BINDING_TABLE_LIFETIME;
    buffers of transfers, allocas and deallocas; files; its wait and signal fences). The set
    is released when the operation completes, *immediately before* the signal fence is
    signalled or failed, and the submission drops its work at the same point: a host that
    observed the signal also observes the release. A synchronous submission (``local-sync``)
    retains nothing: the call frame holds every resource for the duration of the call.

:func:`complete` runs a submission's tail (work, release, signal) and is shared by both
drivers; the drivers differ only in when and on which thread it runs.
"""

from __future__ import annotations

import logging

import attrs

from pyree.status import PyreeError

from .resource_set import ResourceSet
from .semaphore import as_failure

_log = logging.getLogger("pyree.hal")


@attrs.define(eq=False, repr=False)
class Submission:
    label: str
    signal: object = None          # HalFence | None
    work: object = None            # callable() | None
    resources: ResourceSet | None = None
    error: PyreeError | None = None
    remaining: int = 0             # wait timepoints not reached yet
    handles: list = attrs.field(factory=list)   # semaphore Timepoints (to cancel)

    def __repr__(self) -> str:
        return f"<Submission {self.label} remaining={self.remaining}>"


def retain(resources) -> ResourceSet:
    """A frozen ResourceSet holding ``resources`` (Nones are skipped)."""
    retained = ResourceSet()
    retained.insert_many(resources)
    retained.freeze()
    return retained


def run_work(submission: Submission) -> PyreeError | None:
    """Runs the work of a submission; returns the error instead of raising it."""
    work = submission.work
    if work is None or submission.error is not None:
        return submission.error
    return perform(submission.label, work)


def perform(label: str, work, args=()) -> PyreeError | None:
    """Calls ``work(*args)``; returns its failure, annotated with the queue operation's
    label, instead of raising it."""
    try:
        work(*args)
    except PyreeError as e:
        return e.annotate(f"while executing queue operation {label}")
    except Exception as e:  # noqa: BLE001 - any failure must reach the fence, never hang
        return as_failure(e).annotate(f"while executing queue operation {label}")
    return None


def complete(submission: Submission, error: PyreeError | None) -> None:
    """Releases what the submission retained, then signals or fails its fence."""
    signal = submission.signal
    resources = submission.resources
    submission.work = submission.resources = submission.signal = None
    handles = submission.handles
    if handles:
        submission.handles = []
        for handle in handles:      # a failed wait leaves the other timepoints registered
            handle.cancel()
    if resources is not None:
        resources.release()
        del resources
    settle(submission.label, signal, error)


def settle(label: str, signal, error: PyreeError | None) -> None:
    """Signals the fence ``signal`` (may be None), or fails it with ``error``."""
    if signal is None:
        if error is not None:
            _log.debug("queue operation %s failed with no signal fence: %s", label, error)
        return
    if error is not None:
        signal.fail(error)
        return
    try:
        signal.signal()
    except PyreeError as e:   # already signalled past / failed by someone else
        signal.fail(e)
