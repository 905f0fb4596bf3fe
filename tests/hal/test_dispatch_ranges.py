"""Executable.dispatch_ranges: the recorded-dispatch entry on borrowed ranges computes what
dispatch_planned computes, and every check it skips on the fast path is still made (a range
that fails one takes dispatch_planned's full checks, which raise)."""

from __future__ import annotations

import numpy as np
import pytest

from pyree.modules.hal.raw_range import RawRange
from pyree.status import InvalidArgumentError, OutOfRangeError, PermissionDeniedError

from .cts import groups, kernels

N = 8


def _plan():
    exe = kernels()
    return exe, exe.validate_dispatch(0, groups(N), (N,))


def _ranges(memory, starts, lengths=(4 * N,) * 3):
    return [RawRange(memory, start, length) for start, length in zip(starts, lengths)]


def test_ranges_compute_the_sum_at_offsets_of_one_arena():
    exe, plan = _plan()
    memory = np.zeros(1024, np.uint8)
    a = np.arange(N, dtype=np.float32)
    b = np.full(N, 0.5, np.float32)
    memory[64:64 + 4 * N] = a.view(np.uint8)
    memory[256:256 + 4 * N] = b.view(np.uint8)
    exe.dispatch_ranges(plan, _ranges(memory, (64, 256, 512)))
    assert np.array_equal(memory[512:512 + 4 * N].view(np.float32), a + b)


def test_a_short_range_is_out_of_range():
    exe, plan = _plan()
    memory = np.zeros(1024, np.uint8)
    with pytest.raises(OutOfRangeError, match="binding 2"):
        exe.dispatch_ranges(plan, _ranges(memory, (0, 128, 256), (4 * N, 4 * N, 4 * N - 4)))


def test_a_range_past_the_end_of_its_memory_is_out_of_range():
    """The length check is made on the slice actually taken, not on the range's claim."""
    exe, plan = _plan()
    memory = np.zeros(256, np.uint8)
    with pytest.raises(OutOfRangeError, match="binding 2"):
        exe.dispatch_ranges(plan, _ranges(memory, (0, 64, 240)))
    assert not memory[240:].any()


def test_a_misaligned_range_is_rejected_before_the_kernel():
    exe, plan = _plan()
    memory = np.zeros(1024, np.uint8)
    with pytest.raises(InvalidArgumentError, match="aligned"):
        exe.dispatch_ranges(plan, _ranges(memory, (0, 128, 258)))
    assert not memory.any()


def test_a_read_only_output_is_permission_denied():
    exe, plan = _plan()
    memory = np.zeros(1024, np.uint8)
    memory.flags.writeable = False
    with pytest.raises(PermissionDeniedError, match="binding 2"):
        exe.dispatch_ranges(plan, _ranges(memory, (0, 128, 256)))


def test_read_only_inputs_are_fine():
    exe, plan = _plan()
    inputs = np.zeros(512, np.uint8)
    inputs[:4 * N] = np.ones(N, np.float32).view(np.uint8)
    inputs.flags.writeable = False
    out = np.zeros(4 * N, np.uint8)
    exe.dispatch_ranges(plan, [RawRange(inputs, 0, 4 * N), RawRange(inputs, 256, 4 * N),
                               RawRange(out, 0, 4 * N)])
    assert np.array_equal(out.view(np.float32), np.ones(N, np.float32))
