"""Replay of pool-arena slots (``modules/hal/replay.py``): a typed view is one slice of the
arena's cached whole-arena view (``Arena.typed_view``) when its start is a multiple of the
element size; it must be the very window ``data[a:b].view(dtype)`` would give, and slots
that are not pooled (imported host memory) keep the checked per-slot path."""

import numpy as np
import pytest
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.pool import Arena

from . import cts
from .cts import DEFAULT_USAGE, DEVICE_LOCAL, buffer, execute, kernels
from .test_replay import N, f32, floats, two_adds

device = cts.device


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.float32, np.int64, np.float64,
                                   np.complex128])
def test_typed_view_slices_are_the_byte_windows(dtype):
    arena = Arena(1024)
    arena.data[:] = np.arange(1024) % 251
    dt = np.dtype(dtype)
    n = dt.itemsize
    whole = arena.typed_view(dt)
    assert arena.typed_view(dt) is whole          # cached per dtype
    assert whole.flags.aligned and whole.flags.writeable and whole.flags.c_contiguous
    for a, b in [(0, 64), (n, 5 * n), (64 + 3 * n, 1024), (1024 - n, 1024)]:
        mine, theirs = whole[a // n:b // n], arena.data[a:b].view(dt)
        assert mine.__array_interface__["data"][0] == theirs.__array_interface__["data"][0]
        assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
        assert mine.tobytes() == theirs.tobytes()


def test_slots_at_element_offsets_in_one_pooled_buffer(device, monkeypatch):
    """Slot starts that are multiples of 4 but not of 64 take the arena slice, and the
    results are those of the byte windows; the checked path is never taken."""
    exe = kernels()
    cb = two_adds(device, exe, f32(device, np.ones(N)))

    def checked_path(*args):
        raise AssertionError("a planned dispatch took the checked path")

    monkeypatch.setattr(Executable, "dispatch_ranges", checked_path)
    x = np.arange(N, dtype=np.float32) - 7
    arena = buffer(device, 3 * 4 * N + 16)
    for start in (4, 8):
        arena.write(x.view(np.uint8), start)
        t0, y0 = start + 4 * N + 4, start + 2 * 4 * N + 8
        execute(device, cb, [(arena, start, 4 * N), (arena, t0, 4 * N), (arena, y0, 4 * N)])
        t = np.frombuffer(arena.read(t0, 4 * N), dtype=np.float32)
        np.testing.assert_array_equal(t, x + 1)
        y = np.frombuffer(arena.read(y0, 4 * N), dtype=np.float32)
        np.testing.assert_array_equal(y, 2 * x + 1)


def test_pooled_and_imported_slots_together(device):
    """An imported (not pooled) slot next to pooled ones: same results as all pooled."""
    exe = kernels()
    cb = two_adds(device, exe, f32(device, np.ones(N)))
    raw = np.zeros(4 * N + 64, np.uint8)
    start = -raw.ctypes.data % 64 + 4                 # 4 past a 64-byte boundary
    host = raw[start:start + 4 * N]
    host[:] = (np.arange(N, dtype=np.float32) * 3).view(np.uint8)
    imported = device.allocator.import_host(host, DEVICE_LOCAL, DEFAULT_USAGE)
    t, y = f32(device, np.zeros(N)), f32(device, np.zeros(N))
    execute(device, cb, [(imported, 0, -1), (t, 0, -1), (y, 0, -1)])
    np.testing.assert_array_equal(floats(t), np.arange(N) * 3 + 1)
    np.testing.assert_array_equal(floats(y), 2 * np.arange(N) * 3 + 1)


def test_typed_view_needs_an_item_size_dividing_the_alignment():
    arena = Arena(1024)
    assert arena.typed_view(np.dtype("V3")) is None
    assert arena.typed_view(np.dtype("V16")) is not None


@pytest.mark.parametrize("offset", [0, 4, 2, 1])
def test_array_of_a_rank_1_view_at_any_offset(device, offset):
    """``np.array(view)`` copies the view's elements whether the start is a multiple of the
    element size (one slice of the arena's typed view) or not (the unaligned ndarray)."""
    from pyree.modules.hal.buffer_view import HalBufferView

    values = np.arange(9, dtype=np.float32) * -1.5
    whole = buffer(device, 64)
    whole.write(values.view(np.uint8), offset)
    view = HalBufferView.create(whole, [9], 0x21000020, 1, offset, 36)
    out = np.array(view)
    assert out.dtype == np.float32 and out.shape == (9,) and out.flags.owndata
    np.testing.assert_array_equal(out, values)
    odd = HalBufferView.create(whole, [3], 0x00000018, 1, offset, 9)    # V3 elements
    assert np.array(odd).tobytes() == whole.read(offset, 9)


def one_add(device, exe):
    """y = x + c, every binding a slot (0 = x, 1 = c, 2 = y): the plan's single dispatch."""
    cb = device.create_command_buffer(0, cts.ANY, -1, 3)
    nbytes = 4 * N
    cb.dispatch(exe, exe.lookup_function("add_f32"), cts.groups(N), 0, [N],
                [(0, None, 0, nbytes), (1, None, 0, nbytes), (2, None, 0, nbytes)])
    cb.finalize()
    return cb


def test_a_single_slot_dispatch_takes_the_arena_path_else_the_steps(device, monkeypatch):
    """The plan of one all-slot dispatch keeps it as ``single``: pooled slots run it from
    the arenas' cached typed views (the checked path never taken), an imported slot or an
    uncached dtype falls back to the steps, with the same results; a released executable
    and a failing kernel are named as the steps name them."""
    import attrs
    from pyree.modules.hal.fence import HalFence

    exe = attrs.evolve(kernels())       # a copy: released below
    cb = one_add(device, exe)
    assert cb._replay.single is not None
    assert two_adds_plan_is_not_single(device)
    x = np.arange(N, dtype=np.float32) - 5
    c = f32(device, np.full(N, 2.0))
    pooled, y = f32(device, x), f32(device, np.zeros(N))
    for typed in {id(b.allocation.arena): b.allocation.arena.typed for b in (c, pooled, y)
                  }.values():
        typed.clear()       # the first execution fills the typed-view caches (the steps)
    execute(device, cb, [(pooled, 0, -1), (c, 0, -1), (y, 0, -1)])
    np.testing.assert_array_equal(floats(y), x + 2)

    def checked_path(*args):
        raise AssertionError("a planned dispatch took the checked path")

    with monkeypatch.context() as m:
        m.setattr(Executable, "dispatch_ranges", checked_path)
        pooled.write((x * 3).view(np.uint8))
        execute(device, cb, [(pooled, 0, -1), (c, 0, -1), (y, 0, -1)])
        np.testing.assert_array_equal(floats(y), x * 3 + 2)
        host = np.zeros(4 * N + 64, np.uint8)[:4 * N]
        host[:] = (x * 4).view(np.uint8)
        imported = device.allocator.import_host(host, DEVICE_LOCAL, DEFAULT_USAGE)
        execute(device, cb, [(imported, 0, -1), (c, 0, -1), (y, 0, -1)])
        np.testing.assert_array_equal(floats(y), x * 4 + 2)

    def broken(*operands):
        raise ZeroDivisionError("boom")

    with monkeypatch.context() as m:     # the plan launches its kernel itself (no _launch)
        single = cb._replay.single
        m.setattr(cb._replay, "single", single[:4] + (broken,) + single[5:])
        signal = HalFence.create()
        with pytest.raises(Exception) as info:
            device.queue_execute(-1, None, signal, cb,
                                 [(pooled, 0, -1), (c, 0, -1), (y, 0, -1)], 0)
            signal.wait(cts.TIMEOUT)
        assert info.value.code_name == "INTERNAL"
        assert info.value.annotations[:2] == ["while executing dispatch 'add_f32'",
                                              "while executing command 0 (DispatchCommand)"]
    exe.release()
    signal = HalFence.create()
    with pytest.raises(Exception, match="executable used after release") as info:
        device.queue_execute(-1, None, signal, cb, [(pooled, 0, -1), (c, 0, -1), (y, 0, -1)],
                             0)
        signal.wait(cts.TIMEOUT)
    assert "while executing command 0 (DispatchCommand)" in info.value.annotations


def two_adds_plan_is_not_single(device):
    from .test_replay import two_adds

    return two_adds(device, kernels(), f32(device, np.ones(N)))._replay.single is None
