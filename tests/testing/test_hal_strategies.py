"""The HAL strategies (pyree.testing.hal_strategies) draw valid and invalid cases, as the
numpy model (pyree.testing.hal_model) classifies them; programs round-trip through JSON.
Pure Python: nothing here touches a device or numba."""

from __future__ import annotations

import collections

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyree.testing import (
    buffer_ranges,
    command_sequences,
    dispatch_bindings,
    hal_programs,
    range_is_valid,
)
from pyree.testing import hal_model as hm
from pyree.testing import hal_ops as ops

DERANDOMIZED = settings(max_examples=150, derandomize=True, database=None, deadline=None)


def collect(strategy, fn, n=100):
    seen = collections.Counter()

    @settings(DERANDOMIZED, max_examples=n)
    @given(strategy)
    def run(value):
        seen[fn(value)] += 1

    run()
    return seen


@pytest.mark.parametrize("length", [0, 1, 16, 30])
def test_buffer_ranges_draw_valid_and_invalid(length):
    seen = collect(buffer_ranges(length), lambda r: range_is_valid(length, *r))
    assert seen[True] and seen[False]
    assert set(collect(buffer_ranges(length, valid=True),
                       lambda r: range_is_valid(length, *r), 60)) == {True}
    assert set(collect(buffer_ranges(length, valid=False),
                       lambda r: range_is_valid(length, *r), 60)) == {False}


def test_buffer_ranges_cover_whole_overflow_and_misalignment():
    kinds = collect(buffer_ranges(16, alignment=4), lambda r: (
        "whole" if r[1] == -1 and range_is_valid(16, *r, 4) else
        "wraps" if (r[0] & hm.M64) + (r[1] & hm.M64) >= 1 << 64 else
        "misaligned" if hm.resolve(16, *r) and not range_is_valid(16, *r, 4) else
        "valid" if range_is_valid(16, *r, 4) else "out-of-range"), 200)
    assert {"whole", "wraps", "misaligned", "valid", "out-of-range"} <= set(kinds)


def test_valid_ranges_are_aligned():
    for offset, length in collect(buffer_ranges(30, valid=True, alignment=4),
                                  lambda r: r, 80):
        where = hm.resolve(30, offset, length)
        assert where is not None and where[0] % 4 == 0
        assert length == -1 or length % 4 == 0


BUFFERS = (ops.BufferSpec(64), ops.BufferSpec(32, "readonly"), ops.BufferSpec(16, "transfer"),
           ops.BufferSpec(24))


def _dispatch_outcome(bindings, function=0, push=(4,), counts=(1, 1, 1)):
    model = hm.Model(ops.HalProgram("local-sync", BUFFERS, ()))
    expect = model.step(ops.Dispatch(function, counts, push, bindings))
    if not expect.ok:
        return ("record", tuple(sorted(expect.codes)))
    model.step(ops.Finalize())
    submitted = model.step(ops.Submit())
    return "ok" if submitted.ok else (submitted.phase, tuple(sorted(submitted.codes)))


@pytest.mark.parametrize("function", range(len(ops.KERNELS)))
def test_dispatch_bindings_draw_valid_and_invalid(function):
    push = (2,) * ops.KERNELS[function][2]
    seen = collect(dispatch_bindings(function, BUFFERS, push),
                   lambda b: _dispatch_outcome(b, function, push), 120)
    assert seen["ok"]
    codes = {c for outcome in seen if outcome != "ok" for c in outcome[1]}
    # wrong counts, short ranges, read-only or non-dispatch buffers, unaligned offsets
    assert {"INVALID_ARGUMENT", "OUT_OF_RANGE", "PERMISSION_DENIED"} <= codes
    assert ("execute", ("INVALID_ARGUMENT",)) in seen       # unaligned: caught before the kernel
    valid = collect(dispatch_bindings(function, BUFFERS, push, valid=True),
                    lambda b: _dispatch_outcome(b, function, push), 60)
    assert set(valid) == {"ok"}


def _outcomes(program):
    model = hm.Model(program)
    out = collections.Counter()
    for op in program.ops:
        e = model.step(op)
        out[(type(op).__name__, "skip" if e.skip else "ok" if e.ok else e.phase)] += 1
    return out


def test_command_sequences_draw_valid_and_invalid_operations():
    totals = collections.Counter()

    @settings(DERANDOMIZED, max_examples=120)
    @given(command_sequences(BUFFERS, slots=False))
    def run(seq):
        totals.update(_outcomes(ops.HalProgram("local-task", BUFFERS, seq)))

    run()
    for kind in ("Fill", "Update", "Copy", "Dispatch"):
        assert totals[(kind, "ok")] and totals[(kind, "record")], kind
    assert totals[("Submit", "ok")] and totals[("Submit", "submit")]
    assert totals[("Finalize", "ok")] and totals[("EndGroup", "record")]
    assert totals[("Submit", "execute")]       # failures found only when running


@settings(DERANDOMIZED, max_examples=60)
@given(hal_programs())
def test_programs_round_trip_through_json(program):
    assert ops.loads(ops.dumps(program)) == program


def test_ranges_shrink_to_small_neighbours():
    from hypothesis import find

    found = find(buffer_ranges(16), lambda r: not range_is_valid(16, *r),
                 settings=settings(database=None, derandomize=True, max_examples=100))
    assert found[0] <= 1          # the smallest way to be out of range is a small offset


@given(st.data())
@settings(DERANDOMIZED, max_examples=40)
def test_required_bytes_are_zero_without_work(data):
    function = data.draw(st.integers(0, len(ops.KERNELS) - 1))
    push = tuple(data.draw(st.integers(0, 9)) for _ in range(ops.KERNELS[function][2]))
    assert set(hm.required_bytes(function, push, 0)) == {0}


def test_sequences_shrink_to_the_one_operation_that_matters():
    """A property failing on any sequence that copies shrinks to that copy alone: the
    operations are list items the shrinker deletes, and closing shrinks away."""
    from hypothesis import find

    found = find(command_sequences(BUFFERS, close=None),
                 lambda seq: any(isinstance(op, ops.Copy) for op in seq),
                 settings=settings(database=None, derandomize=True, max_examples=300))
    assert len(found) == 1 and isinstance(found[0], ops.Copy)
