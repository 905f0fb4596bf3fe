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
    dispatches,
    hal_programs,
    range_is_valid,
)
from pyree.testing import hal_model as hm
from pyree.testing import hal_ops as ops
from pyree.testing import hal_strategies as hs

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


def _dispatch_outcome(bindings, function=0, push=(4,), counts=(1, 1, 1), buffers=BUFFERS):
    model = hm.Model(ops.HalProgram("local-sync", buffers, ()))
    expect = model.step(ops.Dispatch(function, counts, push, bindings))
    if not expect.ok:
        return ("record", tuple(sorted(expect.codes)))
    model.step(ops.Finalize())
    submitted = model.step(ops.Submit())
    return "ok" if submitted.ok else (submitted.phase, tuple(sorted(submitted.codes)))


#: push constants each kernel of KERNELS can run with over BUFFERS (matmul_packed_f32: one
#: panel of k = 1 row, 64 bytes)
PUSH = {"add_f32": (2,), "copy_i32": (2,), "sum_f32": (2, 2), "matmul_f32": (2, 2, 2),
        "matmul_packed_f32": (2, 1, 2, 1)}


@pytest.mark.parametrize("function", range(len(ops.KERNELS)))
def test_dispatch_bindings_draw_valid_and_invalid(function):
    push = PUSH[ops.KERNEL_NAMES[function]]
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


PACKED = ops.KERNEL_NAMES.index("matmul_packed_f32")


def test_existing_kernel_indices_are_stable():
    # stored reproducers (tests/regressions/hal-*.bin) name kernels by index
    assert ops.KERNEL_NAMES == ("add_f32", "copy_i32", "sum_f32", "matmul_f32",
                                "matmul_packed_f32")


def _p_ok(push) -> bool:
    """Four 32-bit push constants (negative ones are two's complement) with p = ceil(n/16)."""
    if len(push) != 4 or not all(-(1 << 31) <= v < 1 << 32 for v in push):
        return False
    n, p = (v & 0xFFFFFFFF for v in push[2:])
    return p == -(-n // 16)


def test_packed_matmul_is_drawn_with_valid_and_invalid_panel_counts():
    """matmul_packed_f32 is dispatched with p = ceil(n / 16) (1 to 3 panels; it runs) and
    with a wrong p: INVALID_ARGUMENT when recorded, whatever the grid, even over bindings
    sized as the right p needs."""
    buffers = BUFFERS + (ops.BufferSpec(256),)
    drawn = collect(dispatches(buffers), lambda d: d.function, 200)
    assert drawn[PACKED] and drawn[7] + drawn[-1]         # and unknown functions still

    valid = collect(dispatches(buffers, valid=True), lambda d: d.function == PACKED and (
        d.push[3], _dispatch_outcome(d.bindings, d.function, d.push, d.workgroups,
                                     buffers)), 300)
    assert {(1, "ok"), (2, "ok")} <= set(valid)       # one and two panels run

    def outcome(case):
        (push, counts), bindings = case
        return _p_ok(push), _dispatch_outcome(bindings, PACKED, push, counts, buffers)

    pushed = st.tuples(hs.push_constants(PACKED), hs.workgroup_counts(valid=True))
    cases = pushed.flatmap(lambda pc: dispatch_bindings(PACKED, buffers, *pc, valid=True)
                           .map(lambda b: (pc, b)))
    seen = collect(cases, outcome, 300)
    assert seen[(True, "ok")] and seen[(False, ("record", ("INVALID_ARGUMENT",)))]
    for p_ok, result in seen:
        if not p_ok:        # (huge sizes may be short too)
            assert result[0] == "record" and "INVALID_ARGUMENT" in result[1], result
    pushes = collect(st.tuples(hs.push_constants(PACKED, valid=True),
                               hs.push_constants(PACKED, valid=False)), lambda v: v, 200)
    for good, bad in pushes:
        assert _p_ok(good) and good[2] <= 33 and not _p_ok(bad)
    assert any(len(bad) == 4 and bad[3] == -(-bad[2] // 16) + 1 for _, bad in pushes)


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
