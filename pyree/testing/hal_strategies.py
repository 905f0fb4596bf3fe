"""Hypothesis strategies for the HAL: buffer ranges, dispatch bindings, command sequences and
whole :class:`~pyree.testing.hal_ops.HalProgram` s.

Every strategy draws valid and invalid cases (``valid=True`` / ``False`` pins one side);
:mod:`pyree.testing.hal_model` says which is which and what the device must do. Valid
branches come first and integers are small first, so failures shrink towards small, valid
neighbours of the bug; sequences shrink by deleting operations.

* :func:`buffer_ranges` - ``(offset, length)`` pairs for a buffer of ``length`` bytes:
  in range, WHOLE_BUFFER (``-1``), zero-length at the end; past the end, overflowing (the
  end wraps around 2**64), negative (huge unsigned) and misaligned for ``alignment``.
* :func:`dispatch_bindings` - the binding list of one of :data:`~.hal_ops.KERNELS`: right
  and wrong counts, short ranges, unaligned offsets, read-only or non-dispatch buffers.
* :func:`dispatches` - a whole :class:`~.hal_ops.Dispatch` (function, grid, push constants
  and bindings; unknown functions, bad grids and push constants too).
* :func:`command_sequences` - operations over a few buffers: fill, update, copy, dispatch,
  barrier, debug groups, begin, finalize, submit (with binding tables for references to
  slots), new command buffers, host drops, pool churn and deallocation, in valid and
  invalid orders.
* :func:`hal_programs` - a driver, buffers, a command buffer mode and a sequence.
"""

from __future__ import annotations

import functools

from hypothesis import strategies as st

from pyree.testing import hal_model
from pyree.testing import hal_ops as ops
from pyree.testing.hal_model import _covered, required_bytes, resolve

M64 = (1 << 64) - 1
SIZES = (0, 1, 4, 8, 10, 12, 16, 24, 30, 32, 48, 64, 128, 256)   # 128+: packed panels
MODES = (0, 0x1, 0x11, 0x41, 0x40, 0x21)     # default, ONE_SHOT, inline, UNRETAINED, UNVALIDATED
BAD_MODES = (0x10,)                          # inline without ONE_SHOT
CATEGORIES = (3, 3, 3, 1, 2)


_INDEX = tuple(st.integers(0, n - 1) for n in range(1, 9))
_PATTERN_LENGTHS = st.sampled_from((1, 1, 2, 4, 3))
_PATTERNS = st.integers(0, 0xFFFFFFFF)
_UPDATE_DATA = st.binary(max_size=24)
_FITS = st.integers(0, 64) | st.none()
#: A reference is sometimes a binding-table slot (0..2) instead of a buffer; slot ranges are
#: drawn for a nominal SLOT_SIZE-byte binding.
_SLOTTED = st.sampled_from((None,) * 6 + (0, 1, 2))
SLOT_SIZE = 32
_CAPACITIES = st.sampled_from((0, 0, 0, 2, 3))


def _operand(draw, buffers, slots: bool) -> tuple:
    """(buffer index or negative slot, size to draw ranges for)."""
    slot = draw(_SLOTTED) if slots else None
    if slot is not None:
        return -slot - 1, SLOT_SIZE
    b = draw(_INDEX[len(buffers) - 1])
    return b, buffers[b].size


@functools.cache
def _valid_range(length: int, alignment: int):
    def build(offset_units, whole, length_units):
        offset = min(offset_units * alignment, length - length % alignment)
        if whole:
            return offset, ops.WHOLE
        room = (length - offset) // alignment
        return offset, min(length_units, room) * alignment
    return st.builds(build, st.integers(0, max(length // alignment, 0)), st.booleans(),
                     st.integers(0, max(length // alignment, 0)))


@functools.cache
def _invalid_range(length: int, alignment: int):
    past_end = st.tuples(st.integers(length + 1, length + 64), st.integers(0, 8) | st.just(-1))
    too_long = st.integers(0, length).flatmap(
        lambda o: st.tuples(st.just(o), st.integers(length - o + 1, length - o + 64)))
    wraps = st.integers(1, max(length, 1)).map(lambda o: (o, -2))   # end wraps in u64
    negative = st.tuples(st.integers(0, length) | st.integers(-2**63, -2),
                         st.integers(-2**63, -2))
    cases = [past_end, too_long, wraps, negative]
    if alignment > 1:
        misaligned = st.integers(0, max(length - 1, 0)).map(
            lambda o: (o | 1, 1) if (o | 1) + 1 <= length else (1, 0))
        cases.append(misaligned)
    return st.one_of(cases)


@functools.cache
def buffer_ranges(length: int, valid: bool | None = None, alignment: int = 1):
    """``(offset, length)`` for a buffer of ``length`` bytes (see the module doc)."""
    if valid is True:
        return _valid_range(length, alignment)
    if valid is False:
        return _invalid_range(length, alignment)
    valid_ = _valid_range(length, alignment)
    return st.one_of(valid_, valid_, valid_, _invalid_range(length, alignment))


def range_is_valid(size: int, offset: int, length: int, alignment: int = 1) -> bool:
    """In range, and aligned (offset, and the length the range resolves to)."""
    where = resolve(size, offset, length)
    return where is not None and not where[0] % alignment and not where[1] % alignment


@functools.cache
def _binding_range(spec: ops.BufferSpec, need: int, valid: bool | None):
    """A range of ``spec`` for a binding needing ``need`` bytes: mostly at least that long
    and 4-byte aligned; else short, unaligned or out of range."""
    size = spec.size
    fits = [o for o in range(0, size - need + 1, ops.ITEMSIZE)]
    good = (st.tuples(st.sampled_from(fits), st.sampled_from((ops.WHOLE, need, None))).map(
        lambda on: (on[0], size - on[0] if on[1] is None else on[1])) if fits else None)
    bad = st.one_of(
        st.tuples(st.integers(0, size), st.integers(0, max(need - 1, 0))),      # short
        st.integers(0, max(size - 1, 0)).map(lambda o: (o | 1 if o | 1 <= size else 0,
                                                        ops.WHOLE)),            # unaligned
        _invalid_range(size, 1))
    if valid is True and good is not None:
        return good
    if valid is False or good is None:
        return bad
    shifted = [o + 1 for o in fits if o + 1 + need <= size]
    unaligned = st.sampled_from(shifted).map(lambda o: (o, need)) if shifted else bad
    return st.one_of(good, good, good, unaligned, bad)


_PACKED = ops.KERNEL_NAMES.index("matmul_packed_f32")


def _with_panels(mkn, wrong: int = 0) -> tuple:
    """``(m, k, n, p)``: p is n's panel count, or off by ``wrong`` (never below 0)."""
    p = hal_model.panels(mkn[2])
    return (*mkn, p + wrong if p + wrong >= 0 else p + 1)


@functools.cache
def push_constants(function: int, valid: bool | None = None):
    """Push constants of a kernel: small sizes, sometimes a huge one (or the wrong count,
    or values that are not 32-bit, when not ``valid``). ``matmul_packed_f32``'s panel count
    p follows n (up to 33 columns: 1 to 3 panels) when valid, and is off by one, or drawn
    regardless of n, when not."""
    count = ops.KERNELS[function][2] if 0 <= function < len(ops.KERNELS) else 1
    small = st.integers(0, 6)
    good = st.tuples(*[small] * count)
    huge = st.lists(small | st.sampled_from((0xFFFFFFFF, -1, 1 << 20)), min_size=count,
                    max_size=count).map(tuple)
    bad = st.one_of(st.lists(small, max_size=4).filter(lambda v: len(v) != count).map(tuple),
                    st.tuples(*[small] * (count - 1), st.sampled_from((1 << 32, -(1 << 31) - 1))))
    if function == _PACKED:
        mkn = st.tuples(small, st.integers(0, 2), small | st.integers(7, 33))
        good = mkn.map(_with_panels)
        huge = st.one_of(huge, st.tuples(small, small, st.sampled_from((0xFFFFFFFF, 1 << 20)))
                         .map(_with_panels))
        bad = st.one_of(bad, st.builds(_with_panels, mkn, st.sampled_from((1, -1, 2))))
    if valid is True:
        return good
    if valid is False:
        return bad
    return st.one_of(good, good, huge, bad)


@functools.cache
def workgroup_counts(valid: bool | None = None):
    good = st.tuples(st.integers(0, 8), st.integers(1, 2), st.integers(1, 2))
    big = st.tuples(st.sampled_from((0xFFFFFFFF, 1 << 16)), st.sampled_from((1, 0xFFFF)),
                    st.just(1))
    bad = st.one_of(st.tuples(st.sampled_from((1 << 32, -1)), st.just(1), st.just(1)),
                    st.just((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)))
    if valid is True:
        return st.one_of(good, big)
    if valid is False:
        return bad
    return st.one_of(good, good, big, bad)


@st.composite
def dispatch_bindings(draw, function: int, buffers, push=(), counts=(1, 1, 1),
                      valid: bool | None = None, slots: bool = False):
    """``((buffer index, offset, length), ...)`` for ``function`` (a :data:`KERNELS` index)
    over ``buffers`` (BufferSpecs), sized for ``push`` and ``counts`` when they are valid;
    with ``slots`` some bindings are binding-table slots (negative indices)."""
    return _bindings(draw, function, tuple(buffers), push, counts, valid, slots)


_COUNT_OK = st.sampled_from((True,) * 6 + (False,))
_MOSTLY = st.sampled_from((True, True, True, False))
_KNOWN = st.integers(0, len(ops.KERNELS) - 1)
_ANY_FUNCTION = st.one_of(_KNOWN, _KNOWN, _KNOWN, st.sampled_from((7, -1)))


def _bindings(draw, function, buffers, push, counts, valid, slots=False):

    writes = ops.KERNELS[function][3]
    needs = [0] * len(writes)
    if len(push) == ops.KERNELS[function][2] and all(0 <= v < 1 << 32 for v in push) and \
            len(counts) == 3 and all(0 <= c < 1 << 32 for c in counts):
        if function == _PACKED:     # sized for the right p: a wrong one is the only defect
            push = (*push[:3], hal_model.panels(push[2]))
        needs = list(required_bytes(function, push, _covered(function, push, counts)))
    count_ok = True if valid is True else draw(_COUNT_OK)
    out = []
    for i, w in enumerate(writes):
        usable = [j for j, b in enumerate(buffers) if b.size >= needs[i] and
                  b.kind in (("device",) if w else ("device", "readonly"))]
        slot = draw(_SLOTTED) if slots else None
        if slot is not None:
            offset, length = draw(_binding_range(ops.BufferSpec(SLOT_SIZE), needs[i], valid))
            out.append((-slot - 1, offset, length))
            continue
        if usable and (valid is True or valid is None and draw(_MOSTLY)):
            index = usable[draw(_INDEX[len(usable) - 1]) % len(usable)]
        else:
            index = draw(_INDEX[len(buffers) - 1])
        offset, length = draw(_binding_range(buffers[index], needs[i],
                                             valid))
        out.append((index, offset, length))
    if not count_ok:
        if draw(st.booleans()) and out:
            out.pop()
        else:
            out.append(out[-1] if out else (0, 0, ops.WHOLE))
    return tuple(out)


@st.composite
def dispatches(draw, buffers, valid: bool | None = None, slots: bool = False):
    function = draw(_KNOWN if valid is True else _ANY_FUNCTION)
    counts = draw(workgroup_counts(valid))
    push = draw(push_constants(function, valid))
    bindings = _bindings(draw, function if 0 <= function < len(ops.KERNELS) else 0,
                         tuple(buffers), push, counts, valid, slots)
    return ops.Dispatch(function, counts, push, bindings)


def misaligned(dispatch: ops.Dispatch, which: int) -> ops.Dispatch:
    """``dispatch`` with binding ``which`` (mod the count) moved one byte up."""
    if not dispatch.bindings:
        return dispatch
    which %= len(dispatch.bindings)
    bindings = list(dispatch.bindings)
    b, offset, length = bindings[which]
    bindings[which] = (b, offset + 1, length)
    return ops.Dispatch(dispatch.function, dispatch.workgroups, dispatch.push, tuple(bindings))


@st.composite
def _fills(draw, buffers, slots=False):
    b, size = _operand(draw, buffers, slots)
    n = draw(_PATTERN_LENGTHS)
    offset, length = draw(buffer_ranges(size, None, n if n in (2, 4) else 1))
    return ops.Fill(b, offset, length, draw(_PATTERNS), n)


@st.composite
def _updates(draw, buffers, slots=False):
    b, size = _operand(draw, buffers, slots)
    data = draw(_UPDATE_DATA)
    source = draw(buffer_ranges(len(data)))
    fits = draw(_FITS)
    where = resolve(len(data), *source)
    room = size - (where[1] if where else 0)
    if fits is not None and room >= 0:
        offset = fits % (room + 1)
    else:
        offset = draw(buffer_ranges(size))[0]
    return ops.Update(data, source[0], b, offset, source[1])


@st.composite
def _copies(draw, buffers, slots=False):
    (s, ssize), (t, tsize) = _operand(draw, buffers, slots), _operand(draw, buffers, slots)
    if draw(st.booleans()):       # fitting ranges: the usual case, shrinks first
        n = draw(st.integers(0, min(ssize, tsize)))
        return ops.Copy(s, draw(st.integers(0, ssize - n)), t,
                        draw(st.integers(0, tsize - n)), n)
    so, sn = draw(buffer_ranges(ssize))
    to, tn = draw(buffer_ranges(tsize))
    return ops.Copy(s, so, t, to, sn if draw(st.booleans()) else tn)


def command_sequences(buffers, *, max_ops: int = 12, close: bool | None = None,
                      slots: bool = True):
    """Lists of operations over ``buffers`` (BufferSpecs); with ``close`` (drawn when None)
    the list ends with Finalize and Submit, so most sequences run; with ``slots`` operands
    are sometimes binding-table slots (for command buffers with a binding capacity)."""
    buffers = tuple(buffers)
    index = _INDEX[len(buffers) - 1]
    transfer = st.one_of(_fills(buffers, slots), _updates(buffers, slots),
                         _copies(buffers, slots))
    control = st.one_of(st.sampled_from((
        ops.Barrier(), ops.BeginGroup(), ops.EndGroup(), ops.Barrier(), ops.BeginGroup(),
        ops.EndGroup(), ops.Finalize(), ops.Flush(), ops.Begin())), _submits(buffers))
    lifecycle = st.one_of(
        st.builds(ops.Create, st.sampled_from(MODES + BAD_MODES), st.sampled_from(CATEGORIES),
                  _CAPACITIES),
        st.builds(ops.Drop, index), st.builds(ops.Dealloca, index), st.just(ops.Churn()))
    valid_dispatch = dispatches(buffers, valid=True)
    dispatch = st.one_of(valid_dispatch, valid_dispatch, dispatches(buffers, slots=slots),
                         st.builds(misaligned, valid_dispatch, st.integers(0, 2)))
    op = st.one_of(transfer, transfer, transfer, transfer, dispatch, dispatch, control,
                   control, lifecycle)
    closing = st.booleans() if close is None else st.just(close)
    last = _submits(buffers, gated=False)
    return st.tuples(st.lists(op, max_size=max_ops), closing, last).map(
        lambda t: tuple(t[0]) + ((ops.Finalize(), t[2]) if t[1] else ()))


@st.composite
def _entry(draw, buffers):
    b = draw(_INDEX[len(buffers) - 1])
    if draw(_MOSTLY):
        return (b, 0, ops.WHOLE)
    offset, length = draw(buffer_ranges(buffers[b].size))
    return (None if draw(_SLOTTED) == 0 else b, offset, length)


@functools.cache
def _tables(buffers):
    return st.none() | st.lists(_entry(buffers), max_size=4).map(tuple)


@st.composite
def _submits(draw, buffers, gated=None):
    """Submit, sometimes gated, with no binding table or a drawn one."""
    gated = draw(st.booleans()) if gated is None else gated
    return ops.Submit(gated, draw(_tables(buffers)))


def buffer_specs(max_buffers: int = 4):
    kind = st.sampled_from(("device", "device", "device", "readonly", "transfer", "host"))
    spec = st.builds(ops.BufferSpec, st.sampled_from(SIZES), kind, st.integers(0, 255))
    return st.lists(spec, min_size=1, max_size=max_buffers).map(tuple)


def hal_programs(drivers=ops.DRIVERS, *, max_buffers: int = 4, max_ops: int = 12):
    """Whole programs: a driver, buffers, the first command buffer's mode and categories,
    and a command sequence."""
    return _programs(tuple(drivers), max_buffers, max_ops)


@functools.cache
def _sequences(buffers, max_ops):
    return command_sequences(buffers, max_ops=max_ops)


@st.composite
def _programs(draw, drivers, max_buffers, max_ops):
    driver = draw(st.sampled_from(drivers))
    buffers = draw(buffer_specs(max_buffers))
    mode, categories = draw(st.sampled_from(MODES)), draw(st.sampled_from(CATEGORIES))
    capacity = 0 if mode & 0x10 else draw(_CAPACITIES)   # inline: no binding table
    return ops.HalProgram(driver, buffers, draw(_sequences(buffers, max_ops)), mode,
                          categories, None, capacity)
