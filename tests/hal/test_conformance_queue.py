"""HAL conformance: semaphores, fences and every queue operation on every driver: each waits for
its wait fence, signals its signal fence, fails it when a wait semaphore failed, and (on
local-task) retains its resources until it signals (``hal-abi.md`` 3.6, 3.8, 4.10, 5.6)."""

import gc
import time
import weakref

import pytest
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.device import create_device
from pyree.modules.hal.enums import MemoryAccess
from pyree.modules.hal.fence import HalFence
from pyree.modules.hal.semaphore import HalSemaphore
from pyree.vm.buffer import VmBuffer

from pyree.status import (
    AbortedError,
    CancelledError,
    DeadlineExceededError,
    InvalidArgumentError,
    PermissionDeniedError,
)

from . import cts
from .cts import ANY, buffer, data, fence, Gate, signal_later, task_device, TIMEOUT
from .halhelpers import raises

device = cts.device


def _indirect_cb(device):
    cb = device.create_command_buffer(0, ANY, -1, 1)
    cb.fill_buffer(None, 0, 4, 0, 1, 1, 0)
    cb.finalize()
    return cb


def _ops(device):
    """name -> fn(wait, signal) submitting one valid queue operation."""
    a = buffer(device, 16, fill=1)
    b = buffer(device, 16, fill=0)
    file = device.file_from_memory(-1, int(MemoryAccess.READ), VmBuffer.from_bytes(bytes(8)),
                                   0, -1, 0)
    plain = device.create_command_buffer(0, ANY)
    plain.fill_buffer(b, 0, 4, 0, 2, 1, 0)
    plain.finalize()
    doomed = device.queue_alloca(-1, None, None, 0, 0x30, 0xC03, 16, 0)
    return {
        "alloca": lambda w, s: device.queue_alloca(-1, w, s, 0, 0x30, 0xC03, 16, 0),
        "dealloca": lambda w, s: device.queue_dealloca(-1, w, s, doomed, 0),
        "fill": lambda w, s: device.queue_fill(-1, w, s, b, 0, 16, 3, 1, 0),
        "update": lambda w, s: device.queue_update(-1, w, s, VmBuffer.from_bytes(b"xy"), 0, b,
                                                   0, 2, 0),
        "copy": lambda w, s: device.queue_copy(-1, w, s, a, 0, b, 0, 16, 0),
        "read": lambda w, s: device.queue_read(-1, w, s, file, 0, b, 0, 8, 0),
        "barrier": lambda w, s: device.queue_barrier(-1, w, s, 0),
        "execute": lambda w, s: device.queue_execute(-1, w, s, plain, None, 0),
        "execute.indirect": lambda w, s: device.queue_execute(-1, w, s, _indirect_cb(device),
                                                              [(b, 0, -1)], 0),
    }


OPS = ["alloca", "dealloca", "fill", "update", "copy", "read", "barrier", "execute",
       "execute.indirect"]


@pytest.mark.parametrize("op", OPS)
def test_op_waits_then_signals(device, op):
    submit = _ops(device)[op]
    started = time.monotonic()      # before the gate: on local-sync its timer starts there
    gate = Gate(device)
    signal = fence()
    submit(gate.fence, signal)
    if device.id == "local-sync":
        assert time.monotonic() - started >= 0.04       # blocked on the wait fence
        assert signal.query() == 0
        return
    time.sleep(0.02)
    assert signal.query() == 17                          # DEFERRED: still waiting
    gate.open()
    signal.wait(TIMEOUT)


@pytest.mark.parametrize("op", OPS)
def test_op_fails_when_wait_fails(device, op):
    submit = _ops(device)[op]
    wait = fence()
    wait.fail(int(AbortedError.code))
    signal = fence()
    if device.id == "local-sync":
        with pytest.raises(AbortedError):
            submit(wait, signal)
    else:
        submit(wait, signal)
    with pytest.raises(AbortedError):
        signal.wait(TIMEOUT)
    assert signal.query() == int(AbortedError.code)


@pytest.mark.parametrize("op", OPS)
def test_op_with_null_fences(device, op):
    _ops(device)[op](None, None)
    device.wait_idle(TIMEOUT)


def test_write_is_denied(device):
    file = device.file_from_memory(-1, 1, VmBuffer.from_bytes(bytes(8)), 0, -1, 0)
    signal = fence()
    with raises(PermissionDeniedError):
        device.queue_write(-1, None, signal, buffer(device, 8), 0, file, 0, 8, 0)
    assert signal.query() == int(PermissionDeniedError.code)


def test_fence_arguments_are_checked(device):
    with raises(InvalidArgumentError):
        device.queue_barrier(-1, "fence", None, 0)


def test_wait_on_several_semaphores(device):
    s1, s2 = HalSemaphore(), HalSemaphore()
    wait = HalFence(2)
    wait.insert(s1, 3)
    wait.insert(s2, 1)
    signal = fence()
    if device.id == "local-sync":
        signal_later(HalFence.at(s1, 3), 0.02)
        signal_later(HalFence.at(s2, 1), 0.04)
        device.queue_barrier(-1, wait, signal, 0)
        assert signal.query() == 0
        return
    device.queue_barrier(-1, wait, signal, 0)
    s1.signal(3)
    time.sleep(0.01)
    assert signal.query() == 17
    s2.signal(1)
    signal.wait(TIMEOUT)


def test_timeline_chain_runs_in_fence_order(task_device):
    device = task_device
    b = buffer(device, 1, fill=0)
    timeline = HalSemaphore()
    n = 20
    for i in reversed(range(n)):       # submitted last-first; fences impose the order
        device.queue_update(-1, HalFence.at(timeline, i) if i else None,
                            HalFence.at(timeline, i + 1), VmBuffer.from_bytes(bytes([i])), 0,
                            b, 0, 1, 0)
    timeline.wait(n, TIMEOUT)
    assert list(data(b)) == [n - 1]


def test_failure_propagates_down_a_chain(task_device):
    device = task_device
    gate = fence()
    timeline = HalSemaphore()
    device.queue_barrier(-1, gate, HalFence.at(timeline, 1), 0)
    for i in range(1, 50):
        device.queue_barrier(-1, HalFence.at(timeline, i), HalFence.at(timeline, i + 1), 0)
    gate.fail(int(AbortedError.code))
    with pytest.raises(AbortedError):
        timeline.wait(50, TIMEOUT)
    device.wait_idle(TIMEOUT)


def test_fence_await(task_device):
    device = task_device
    gate = fence()
    signal = fence()
    device.queue_barrier(-1, gate, signal, 0)
    assert HalFence.await_all([signal, None], 0) == 4          # DEADLINE_EXCEEDED value
    assert HalFence.await_all([signal], 20) == 4
    gate.signal()
    assert HalFence.await_all([signal, None], 0xFFFFFFFF) == 0


def test_submission_retains_until_signal(task_device):
    device = task_device
    b = buffer(device, 16, fill=0)
    cb = device.create_command_buffer(0, ANY)
    cb.fill_buffer(b, 0, 16, 0, 4, 1, 0)
    cb.finalize()
    gate = fence()
    signal = fence()
    observer = HalFence.at(signal.timepoints[0][0], 1)
    device.queue_execute(-1, gate, signal, cb, None, 0)
    refs = [weakref.ref(x) for x in (b, cb, signal, signal.timepoints[0][0])]
    del b, cb, signal
    gc.collect()
    assert all(r() is not None for r in refs)
    gate.signal()
    observer.wait(TIMEOUT)
    device.wait_idle(TIMEOUT)
    assert [r() is None for r in refs[:3]] == [True, True, True]


def test_close_cancels_waiting_submissions():
    device = create_device("local-task")
    gate = fence()
    signal = fence()
    device.queue_barrier(-1, gate, signal, 0)
    device.close()
    with pytest.raises(CancelledError):
        signal.wait(TIMEOUT)
    late = fence()
    device.queue_barrier(-1, None, late, 0)
    with pytest.raises(CancelledError):
        late.wait(TIMEOUT)


def test_wait_idle_times_out(device):
    if device.id == "local-sync":
        device.wait_idle(0)
        return
    gate = fence()
    device.queue_barrier(-1, gate, None, 0)
    with pytest.raises(DeadlineExceededError):
        device.wait_idle(0.01)
    gate.signal()
    device.wait_idle(TIMEOUT)


def test_query_i64(device):
    assert device.query_i64("hal.device.id", device.id) == (1, 1)
    assert device.query_i64("hal.device.id", "local*") == (1, 1)
    assert device.query_i64(VmBuffer.from_bytes(b"hal.device.id"), b"cuda*") == (1, 0)
    assert device.query_i64("hal.executable.format", fmt.FORMAT) == (1, 1)
    assert device.query_i64("hal.executable.format", "embedded-elf-x86_64") == (1, 0)
    ok, value = device.query_i64("hal.device", "concurrency")
    assert ok == 1 and value >= 1
    assert device.query_i64("hal.dispatch", "concurrency")[0] == 1
    assert device.query_i64("hal.nope", "x") == (0, 0)


def test_device_basics(device):
    assert device.id in ("local-sync", "local-task")
    device.queue_flush(-1)
    device.trim()
    cache = device.create_executable_cache()
    assert cache.can_prepare_format(fmt.FORMAT)
    with raises(InvalidArgumentError):
        create_device("cuda")
