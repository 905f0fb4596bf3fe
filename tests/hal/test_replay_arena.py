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
