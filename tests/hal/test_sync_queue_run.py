"""SyncQueue.run (the local-sync device path without a Submission record) behaves as
SyncQueue.submit: same order, same signal / failure of the fences, same raised errors."""

from __future__ import annotations

import pytest

from pyree.modules.hal.device import create_device
from pyree.modules.hal.drivers.local_sync import SyncQueue
from pyree.modules.hal.fence import HalFence
from pyree.modules.hal.queue import Submission
from pyree.status import AbortedError, PyreeError, StatusCode


def _outcome(fence):
    if fence is None:
        return None
    code = fence.query()       # 0: reached; a failure's status code once failed
    return ("value", 0) if code == 0 else ("failed", code)


def _both(make_work, wait_state):
    """The outcomes of submit and run on fresh fences: (raised, wait, signal, calls)."""
    results = []
    for use_run in (False, True):
        calls = []
        wait = HalFence.create() if wait_state is not None else None
        if wait_state == "signalled":
            wait.signal()
        elif wait_state == "failed":
            wait.fail(AbortedError("wait semaphore failed"))
        signal = HalFence.create()
        work = make_work(calls)
        queue = SyncQueue()
        try:
            if use_run:
                queue.run("execute", wait, signal, work)
            else:
                queue.submit(Submission("execute", signal, work), wait)
            raised = None
        except PyreeError as e:
            raised = (type(e).__name__, str(e))
        results.append((raised, _outcome(signal), calls))
    return results


def _ok(calls):
    return lambda: calls.append("work")


def _pyree_failure(calls):
    def work():
        calls.append("work")
        raise AbortedError("kernel said no")
    return work


def _python_failure(calls):
    def work():
        calls.append("work")
        raise ZeroDivisionError("division by zero")
    return work


@pytest.mark.parametrize("make_work", [_ok, _pyree_failure, _python_failure,
                                       lambda calls: None])
@pytest.mark.parametrize("wait_state", [None, "signalled", "failed"])
def test_run_matches_submit(make_work, wait_state):
    submitted, ran = _both(make_work, wait_state)
    assert ran == submitted
    raised, signal, calls = ran
    if wait_state == "failed":
        assert calls == [] and raised[0] == "AbortedError"
        assert signal == ("failed", int(StatusCode.ABORTED))
    elif make_work in (_pyree_failure, _python_failure):
        assert "while executing queue operation execute" in raised[1]
        assert calls == ["work"]
        assert signal == ("failed", int(StatusCode.ABORTED if make_work is _pyree_failure
                                         else StatusCode.UNKNOWN))
    else:
        assert raised is None and signal == ("value", 0)


def test_run_without_signal_fence_raises_the_error():
    with pytest.raises(AbortedError, match="while executing queue operation barrier"):
        SyncQueue().run("barrier", None, None, _pyree_failure([]))
    SyncQueue().run("barrier", None, None, None)


def test_local_sync_device_uses_run_and_signals():
    device = create_device("local-sync")
    seen = []
    original = device._queue.run
    device._queue.run = lambda *args: (seen.append(args[0]), original(*args))[1]
    signal = HalFence.create()
    device.queue_barrier(0, None, signal, 0)
    assert seen == ["barrier"] and signal.query() == 0


@pytest.mark.parametrize("signal_state", ["signalled", "failed"])
@pytest.mark.parametrize("make_work", [_ok, _pyree_failure, lambda calls: None])
def test_run_matches_submit_on_a_signal_fence_already_settled(signal_state, make_work):
    """run signals on success without settle's frame: a signal fence already signalled
    (or failed) by someone else ends as submit leaves it, and neither raises for that."""
    outcomes = []
    for use_run in (False, True):
        calls = []
        signal = HalFence.create()
        if signal_state == "signalled":
            signal.signal()
        else:
            signal.fail(AbortedError("failed elsewhere"))
        queue = SyncQueue()
        try:
            if use_run:
                queue.run("execute", None, signal, make_work(calls))
            else:
                queue.submit(Submission("execute", signal, make_work(calls)), None)
            raised = None
        except PyreeError as e:
            raised = (type(e).__name__, str(e))
        outcomes.append((raised, _outcome(signal), calls))
    assert outcomes[0] == outcomes[1]
    if make_work is not _pyree_failure:
        assert outcomes[1][0] is None
    if signal_state == "signalled" and make_work is not _pyree_failure:
        # signalling past 1 fails the fence (settle's except branch)
        assert outcomes[1][1][0] == "failed"


def _fence(state):
    if state is None:
        return None
    fence = HalFence.create()
    if state == "signalled":
        fence.signal()
    elif state == "failed":
        fence.fail(AbortedError("failed elsewhere"))
    elif state == "materialized":       # an ordinary fence over a real semaphore, reached
        fence.timepoints
        fence.signal()
    return fence


@pytest.mark.parametrize("wait_state", [None, "signalled", "materialized", "failed"])
@pytest.mark.parametrize("signal_state", [None, "fresh", "signalled", "failed"])
def test_alloca_signals_as_the_queue_does(wait_state, signal_state):
    """queue_alloca on local-sync signals a reached wait's signal fence itself (no
    SyncQueue.run): the buffer, the raised error and both fences end as the queue's own
    path (a tracer forces it) leaves them."""
    from pyree import tracing

    outcomes = []
    for through_queue in (False, True):
        device = create_device("local-sync")
        seen = []
        original = device._queue.run
        device._queue.run = lambda *args: (seen.append(args[0]), original(*args))[1]
        wait, signal = _fence(wait_state), _fence(signal_state)
        try:
            if through_queue:
                with tracing.session():
                    buffer = device.queue_alloca(-1, wait, signal, 0, 0x30, 0xC03, 64, 0)
            else:
                buffer = device.queue_alloca(-1, wait, signal, 0, 0x30, 0xC03, 64, 0)
            raised = None
            made = (buffer.byte_length, buffer.allocation.queue_owner is device)
        except PyreeError as e:
            raised, made = (type(e).__name__, str(e)), None
        outcomes.append((raised, made, _outcome(wait), _outcome(signal)))
        # traced: Submission + SyncQueue.submit; untraced, an unreached wait: run
        assert seen == (["alloca"] if not through_queue and wait_state == "failed" else [])
    assert outcomes[0] == outcomes[1]
