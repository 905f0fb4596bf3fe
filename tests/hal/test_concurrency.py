"""Several host threads submitting to one ``local-task`` device. Every wait is bounded: a
failing dispatch must surface as a failed semaphore and an error in the waiter, never as a
hang."""

from __future__ import annotations

import concurrent.futures as cf
import threading

import numpy as np
import pytest
from pyree.modules.hal.device import create_device
from pyree.modules.hal.enums import BufferUsage
from pyree.modules.hal.fence import HalFence
from pyree.modules.hal.semaphore import HalSemaphore

from pyree.status import CancelledError, OutOfRangeError

from .cts import kernels

TIMEOUT = 20.0
THREADS = 4
INDIRECT_USAGE = int(BufferUsage.DEFAULT | BufferUsage.DISPATCH_INDIRECT_PARAMETERS)


@pytest.fixture
def device():
    dev = create_device("local-task", poison=True, workers=2)
    yield dev
    dev.close()


def _f32(device, values):
    values = np.ascontiguousarray(values, dtype=np.float32)
    b = device.allocator.allocate(0x30, 0xC03, values.nbytes)
    b.write(values)
    return b


def _worker(device, index: int, rounds: int) -> np.ndarray:
    """Fills, adds and accumulates on its own timeline; returns the final contents."""
    exe = kernels()
    n = 64 + index
    acc = _f32(device, np.zeros(n))
    one = _f32(device, np.full(n, index + 1))
    timeline = HalSemaphore()
    cb = device.create_command_buffer(0, 3)
    cb.dispatch(exe, 0, (-(-n // 4), 1, 1), 0, [n], [(0, acc, 0, -1), (0, one, 0, -1),
                                                    (0, acc, 0, -1)])
    cb.execution_barrier(0x4, 0x4, 0)
    cb.finalize()
    for i in range(rounds):
        wait = HalFence.at(timeline, i) if i else None
        device.queue_execute(-1, wait, HalFence.at(timeline, i + 1), cb, None, 0)
    del cb, one        # the queue keeps them until the last submission signals
    timeline.wait(rounds, TIMEOUT)
    return np.frombuffer(acc.read(), np.float32)


def test_threads_submit_independent_work(device):
    rounds = 25
    with cf.ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(_worker, device, i, rounds) for i in range(THREADS)]
        results = [f.result(timeout=TIMEOUT) for f in futures]
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, np.full(64 + i, rounds * (i + 1)))
    device.wait_idle(TIMEOUT)


def test_cross_thread_dependencies(device):
    """Thread k's step i waits for thread k-1's step i: a ring of timelines built by several
    threads at once."""
    steps = 20
    timelines = [HalSemaphore() for _ in range(THREADS)]
    out = device.allocator.allocate(0x30, 0xC03, THREADS * steps)
    barrier = threading.Barrier(THREADS)

    def run(k):
        barrier.wait(TIMEOUT)
        for i in range(steps):
            wait = HalFence(2)
            if i:
                wait.insert(timelines[k], i)
            if k:
                wait.insert(timelines[k - 1], i + 1)
            device.queue_fill(-1, wait, HalFence.at(timelines[k], i + 1), out,
                              k * steps + i, 1, k + 1, 1, 0)

    with cf.ThreadPoolExecutor(THREADS) as pool:
        for f in [pool.submit(run, k) for k in range(THREADS)]:
            f.result(timeout=TIMEOUT)
    timelines[-1].wait(steps, TIMEOUT)
    expected = np.repeat(np.arange(1, THREADS + 1, dtype=np.uint8), steps)
    np.testing.assert_array_equal(np.frombuffer(out.read(), np.uint8), expected)


def test_shared_command_buffer_with_per_thread_binding_tables(device):
    cb = device.create_command_buffer(0, 3, -1, 1)
    cb.fill_buffer(None, 0, -1, 0, 0, 1, 0)
    cb.finalize()
    cb_add = device.create_command_buffer(0, 3, -1, 1)
    cb_add.fill_buffer(None, 0, 16, 0, 0x07070707, 4, 0)
    cb_add.finalize()

    def run(k):
        b = device.allocator.allocate(0x30, 0xC03, 16)
        signal = HalSemaphore()
        for i in range(10):
            device.queue_execute(-1, HalFence.at(signal, 2 * i) if i else None,
                                 HalFence.at(signal, 2 * i + 1), cb, [(b, 0, -1)], 0)
            device.queue_execute(-1, HalFence.at(signal, 2 * i + 1),
                                 HalFence.at(signal, 2 * i + 2), cb_add, [(b, 0, -1)], 0)
        signal.wait(20, TIMEOUT)
        return b.read()

    with cf.ThreadPoolExecutor(THREADS) as pool:
        results = [f.result(timeout=TIMEOUT) for f in
                   [pool.submit(run, k) for k in range(THREADS)]]
    assert all(r == bytes([7]) * 16 for r in results)


def test_failing_dispatch_fails_the_waiter_not_a_hang(device):
    exe = kernels()
    a = _f32(device, np.ones(4))
    counts = device.allocator.allocate(0x30, INDIRECT_USAGE, 12)
    counts.write(np.array([1000, 1, 1], "<u4"))       # reads far beyond the bindings
    bad = device.create_command_buffer(0, 3)
    bad.dispatch_indirect(exe, 0, 0, counts, 0, 0, [4000], [(0, a, 0, -1)] * 3)
    bad.finalize()
    timeline = HalSemaphore()
    errors = []

    def waiter():
        try:
            timeline.wait(3, TIMEOUT)
        except OutOfRangeError as e:
            errors.append(e)

    waiters = [threading.Thread(target=waiter) for _ in range(3)]
    for t in waiters:
        t.start()
    device.queue_execute(-1, None, HalFence.at(timeline, 1), bad, None, 0)
    # Work that depends on the failed submission fails too instead of waiting forever.
    device.queue_barrier(-1, HalFence.at(timeline, 1), HalFence.at(timeline, 2), 0)
    device.queue_barrier(-1, HalFence.at(timeline, 2), HalFence.at(timeline, 3), 0)
    for t in waiters:
        t.join(TIMEOUT)
        assert not t.is_alive()
    assert len(errors) == 3 and all("needs 16000 bytes" in e.message for e in errors)
    assert timeline.failure is not None
    # Independent work on the same device still runs.
    assert _worker(device, 0, 3).tolist() == [3.0] * 64
    device.wait_idle(TIMEOUT)


def test_close_with_waiting_submissions_from_threads():
    device = create_device("local-task", workers=1)
    gate = HalFence.create()
    signals = []
    lock = threading.Lock()

    def run():
        for _ in range(5):
            signal = HalFence.create()
            device.queue_barrier(-1, gate, signal, 0)
            with lock:
                signals.append(signal)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    device.close()
    for signal in signals:
        with pytest.raises(CancelledError):
            signal.wait(TIMEOUT)


def test_a_waiting_host_thread_runs_ready_work_itself():
    # The only worker is stuck in a submission; a host thread waiting on a later, ready
    # submission runs it itself (HalSemaphore.wait -> TaskQueue.help) instead of hanging.
    device = create_device("local-task", workers=1)
    started, release = threading.Event(), threading.Event()
    stuck = HalFence.create()
    device._submit("stuck", None, stuck, lambda: (started.set(), release.wait(TIMEOUT)))
    assert started.wait(TIMEOUT)
    ran_on = []
    done = HalFence.create()
    device._submit("ready", None, done, lambda: ran_on.append(threading.current_thread()))
    done.wait(TIMEOUT)
    assert ran_on == [threading.current_thread()]
    assert stuck.query() != 0            # the worker is still in the first submission
    release.set()
    stuck.wait(TIMEOUT)
    device.wait_idle(TIMEOUT)
    device.close()
