"""Reusable command buffers replay a plan precomputed at finalize (``modules/hal/replay.py``):
each execution resolves only its binding table, runs the same dispatches as a one-shot
recording would, still checks every range a kernel sees, and names failing dispatches."""

import concurrent.futures as cf

import attrs
import numpy as np
import pytest
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.fence import HalFence

from pyree import tracing
from pyree.status import InvalidArgumentError, OutOfRangeError, PermissionDeniedError

from . import cts
from .cts import ANY, DEFAULT_USAGE, DEVICE_LOCAL, ONE_SHOT, TIMEOUT, buffer, execute, groups, kernels

device = cts.device
N = 37


def f32(device, values):
    values = np.asarray(values, dtype=np.float32)
    return buffer(device, values.nbytes, fill=values.view(np.uint8))


def floats(b):
    return np.frombuffer(b.read(), dtype=np.float32)


def two_adds(device, exe, constant):
    """t = x + constant; y = t + x: slot 0 = x, 1 = t, 2 = y; ``constant`` bound directly."""
    fid = exe.lookup_function("add_f32")
    cb = device.create_command_buffer(0, ANY, -1, 3)
    nbytes = 4 * N
    cb.dispatch(exe, fid, groups(N), 0, [N],
                [(0, None, 0, nbytes), (0, constant, 0, -1), (1, None, 0, nbytes)])
    cb.execution_barrier(0x1C, 0x0D, 0)
    cb.dispatch(exe, fid, groups(N), 0, [N],
                [(1, None, 0, nbytes), (0, None, 0, nbytes), (2, None, 0, nbytes)])
    cb.finalize()
    return cb


def test_replay_with_a_new_binding_table_each_time(device, monkeypatch):
    exe = kernels()
    constant = f32(device, np.full(N, 0.25))
    cb = two_adds(device, exe, constant)
    fast = [fast for _, _, fast in cb._replay.steps]
    assert len(fast) == 2 and all(f is not None for f in fast)    # barrier dropped

    def checked_path(*args):
        raise AssertionError("a planned dispatch took the checked path")

    monkeypatch.setattr(Executable, "dispatch_ranges", checked_path)
    for k in range(4):
        x = f32(device, np.arange(N) * (k + 1))
        t, y = f32(device, np.zeros(N)), f32(device, np.zeros(N))
        execute(device, cb, [(x, 0, -1), (t, 0, -1), (y, 0, -1)])
        np.testing.assert_array_equal(floats(t), np.arange(N) * (k + 1) + 0.25)
        np.testing.assert_array_equal(floats(y), 2 * np.arange(N) * (k + 1) + 0.25)


def test_slots_at_offsets_of_one_buffer(device):
    exe = kernels()
    cb = two_adds(device, exe, f32(device, np.ones(N)))
    x = np.arange(N, dtype=np.float32)
    arena = buffer(device, 3 * 256)
    arena.write(x.view(np.uint8), 0)
    execute(device, cb, [(arena, 0, 4 * N), (arena, 256, 4 * N), (arena, 512, -1)])
    y = np.frombuffer(arena.read(512, 4 * N), dtype=np.float32)
    np.testing.assert_array_equal(y, 2 * x + 1)


def test_replay_still_checks_the_binding_table(device):
    exe = kernels()
    cb = two_adds(device, exe, f32(device, np.ones(N)))
    x, t, y = (f32(device, np.zeros(N)) for _ in range(3))
    with pytest.raises(OutOfRangeError, match="outside of the valid bound buffer range"):
        device.queue_execute(-1, None, None, cb, [(x, 0, -1), (t, 0, 8), (y, 0, -1)], 0)
    with pytest.raises(InvalidArgumentError, match="offset alignment of 4"):
        big = buffer(device, 4 * N + 8)
        device.queue_execute(-1, None, None, cb, [(x, 0, -1), (big, 2, 4 * N), (y, 0, -1)], 0)
    read_only = buffer(device, 4 * N, access=0x1)
    with pytest.raises(PermissionDeniedError):
        device.queue_execute(-1, None, None, cb, [(x, 0, -1), (t, 0, -1), (read_only, 0, -1)], 0)


def test_misaligned_host_memory_takes_the_checked_path(device):
    """An imported slot at an odd address passes the table checks (the offset is 0) but not
    the typed view's alignment: the dispatch takes the executable's checked path, which
    refuses it, named after the dispatch."""
    exe = kernels()
    cb = two_adds(device, exe, f32(device, np.ones(N)))
    raw = np.zeros(4 * N + 1, np.uint8)
    odd = device.allocator.import_host(raw[1:], DEVICE_LOCAL, DEFAULT_USAGE)
    t, y = f32(device, np.zeros(N)), f32(device, np.zeros(N))
    signal = HalFence.create()
    with pytest.raises(InvalidArgumentError) as info:
        device.queue_execute(-1, None, signal, cb, [(odd, 0, -1), (t, 0, -1), (y, 0, -1)], 0)
        signal.wait(TIMEOUT)
    assert "must be 4-byte aligned" in info.value.message
    assert "while executing dispatch 'add_f32'" in info.value.annotations


def test_failures_and_traces_name_the_dispatch(device, monkeypatch):
    exe = kernels()
    cb = two_adds(device, exe, f32(device, np.ones(N)))

    def broken(reqs, arrays):
        raise ZeroDivisionError("boom")

    x, t, y = (f32(device, np.zeros(N)) for _ in range(3))
    with tracing.session() as tracer:
        execute(device, cb, [(x, 0, -1), (t, 0, -1), (y, 0, -1)])
    names = [e["name"] for e in tracer.trace_events() if e.get("cat") == "dispatch"]
    assert names == ["add_f32", "add_f32"]
    monkeypatch.setattr(Executable, "_launch", staticmethod(broken))
    signal = HalFence.create()
    with pytest.raises(Exception) as info:
        device.queue_execute(-1, None, signal, cb, [(x, 0, -1), (t, 0, -1), (y, 0, -1)], 0)
        signal.wait(TIMEOUT)
    assert info.value.code_name == "INTERNAL"
    assert info.value.annotations[:2] == ["while executing dispatch 'add_f32'",
                                          "while executing command 0 (DispatchCommand)"]


def test_a_released_executable_is_refused_at_replay(device):
    exe = attrs.evolve(kernels())       # a copy: kernels() is shared by the suite
    cb = two_adds(device, exe, f32(device, np.ones(N)))
    exe.release()
    x, t, y = (f32(device, np.zeros(N)) for _ in range(3))
    signal = HalFence.create()
    with pytest.raises(Exception) as info:
        device.queue_execute(-1, None, signal, cb, [(x, 0, -1), (t, 0, -1), (y, 0, -1)], 0)
        signal.wait(TIMEOUT)
    assert "executable used after release" in str(info.value)


def test_one_shot_command_buffers_have_no_plan(device):
    exe = kernels()
    cb = device.create_command_buffer(ONE_SHOT, ANY, -1, 1)
    cb.dispatch(exe, 0, groups(4), 0, [4], [(0, None, 0, 16)] * 3)
    cb.finalize()
    assert cb._replay is None
    a = f32(device, np.ones(4))
    execute(device, cb, [(a, 0, -1)])
    np.testing.assert_array_equal(floats(a), np.full(4, 2.0))


def test_one_plan_replayed_from_many_threads(device):
    exe = kernels()
    cb = two_adds(device, exe, f32(device, np.full(N, 0.5)))

    def work(k):
        for i in range(20):
            base = np.arange(N, dtype=np.float32) * k + i
            x, t, y = f32(device, base), f32(device, np.zeros(N)), f32(device, np.zeros(N))
            execute(device, cb, [(x, 0, -1), (t, 0, -1), (y, 0, -1)])
            if not np.array_equal(floats(y), 2 * base + 0.5):
                return False
        return True

    with cf.ThreadPoolExecutor(4) as pool:
        assert all(f.result(timeout=60) for f in [pool.submit(work, k) for k in range(4)])
