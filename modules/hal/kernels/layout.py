"""Dispatch-time layout: evaluate shapes, strides and offsets from the constants, check
them, collapse the iteration space, fill the kernel parameters and compute the exact byte
extent every binding must cover. Pure Python with unbounded integers; no numba.

Extents: items are processed in C order and a dispatch covers a prefix of them
(``min(items, workgroups * items_per_workgroup)``). With non-negative strides the largest
element index of the first ``count`` items is the maximum over the last item and, for each
dim ``k`` where the last item's coordinate is positive, the item that agrees with it before
``k``, is one less at ``k`` and maximal after ``k``. A binding must hold that index + 1
elements; a binding no item touches needs 0 bytes.
"""

from __future__ import annotations

import attrs
import numpy as np

from pyree.status import InvalidArgumentError, OutOfRangeError

from . import panels
from .ir import Binding, Conv, Elementwise, Function, Matmul, OpBody, Pool, Reduce
from .library import elementwise, rows

INDEX_LIMIT = 1 << 62  # every value handed to a kernel stays below this (int64 arithmetic)


@attrs.frozen
class Launch:
    params: np.ndarray          # int64
    fparams: np.ndarray         # float64
    items: int                  # items the kernel processes (0: the kernel is not called)
    required: tuple             # bytes each binding must cover
    work: int = 0               # inner-loop steps, roughly (picks the serial kernel)


def _fail(fn: Function, message: str, cls=InvalidArgumentError):
    raise cls(f"dispatch of executable function '{fn.name}': {message}")


def _checked(fn, value: int, what: str) -> int:
    if value >= INDEX_LIMIT:
        _fail(fn, f"{what} = {value} exceeds the kernel index range (< 2**62)", OutOfRangeError)
    return value


def dense_strides(shape) -> list:
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return strides[::-1]


def view(fn, b: Binding, push, consts):
    """(shape, strides, offset) of a binding, in elements."""
    shape = [_checked(fn, e.evaluate(push, consts), f"binding {b.index} shape") for e in b.shape]
    if b.strides is None:
        strides = dense_strides(shape)
    else:
        strides = [e.evaluate(push, consts) for e in b.strides]
    strides = [_checked(fn, s, f"binding {b.index} stride") for s in strides]
    offset = _checked(fn, b.offset.evaluate(push, consts), f"binding {b.index} offset")
    return shape, strides, offset


def prefix_max(dims, strides, count: int) -> int:
    """Largest ``sum(c_d * s_d)`` over the first ``count`` (>= 1) items in C order."""
    coords, rest = [], count - 1
    for dim in reversed(dims):
        coords.append(rest % dim)
        rest //= dim
    coords.reverse()
    best = sum(c * s for c, s in zip(coords, strides))
    head = 0
    for k, (c, s) in enumerate(zip(coords, strides)):
        if c > 0:
            tail = sum((d - 1) * t for d, t in zip(dims[k + 1:], strides[k + 1:]))
            best = max(best, head + (c - 1) * s + tail)
        head += c * s
    return best


def collapse(dims, operand_strides, rank: int):
    """Drop unit dims, merge dims contiguous for every operand, pad to ``rank``."""
    keep = [d for d, n in enumerate(dims) if n != 1]
    out_dims = []
    out_strides = [[] for _ in operand_strides]
    for d in reversed(keep):
        if out_dims and all(s[d] == o[0] * out_dims[0] for s, o in zip(operand_strides,
                                                                       out_strides)):
            out_dims[0] *= dims[d]
            continue
        out_dims.insert(0, dims[d])
        for s, o in zip(operand_strides, out_strides):
            o.insert(0, s[d])
    pad = rank - len(out_dims)
    return [1] * pad + out_dims, [[0] * pad + o for o in out_strides]


def blocks(fn, block, extent: int, what: str, push, consts) -> tuple[int, int]:
    """(block size, block count) of ``extent`` cut into blocks of the SIZE ``block``
    (None: one block of all of it; the last block may be shorter; an empty extent is one
    block). A block below 1 is INVALID_ARGUMENT naming ``what``."""
    size = max(extent, 1)
    if block is not None:
        size = _checked(fn, block.evaluate(push, consts), what)
        if size < 1:
            _fail(fn, f"{what} evaluates to {size}; must be at least 1")
        size = min(size, max(extent, 1))
    return size, -(-extent // size) if extent else 1


def workgroups(fn, counts, push, consts, items: int) -> tuple[int, int, int]:
    """(covered items, workgroups with work, items per workgroup) for a dispatch."""
    per = fn.items_per_workgroup.evaluate(push, consts)
    if per < 1:
        _fail(fn, f"items_per_workgroup evaluates to {per}; must be at least 1")
    total = counts[0] * counts[1] * counts[2]
    covered = min(items, total * per)
    per = min(per, max(covered, 1))
    return covered, -(-covered // per), per


def plan(fn: Function, counts, push, consts) -> Launch:
    body = fn.body
    if isinstance(body, OpBody):
        return _op(fn, body, counts, push, consts)
    if isinstance(body, Elementwise):
        return _elementwise(fn, body, counts, push, consts)
    if isinstance(body, Matmul):
        return _matmul(fn, body, counts, push, consts)
    if isinstance(body, (Conv, Pool)):
        from . import spatial_layout  # imports this module
        return spatial_layout.plan(fn, counts, push, consts)
    return _rows(fn, body, counts, push, consts)


def _finish(fn, dims, strides, offsets, bindings, counts, push, consts, rank, extras=(),
            fparams=(), axis_extents=None):
    items = 1
    for d in dims:
        items *= d
    _checked(fn, items, "iteration items")
    covered, nwg, per = workgroups(fn, counts, push, consts, items)
    dims, strides = collapse(dims, strides, rank)
    required = [0] * len(fn.bindings)
    if covered:
        for j, (b, s, off) in enumerate(zip(bindings, strides, offsets)):
            top = off + prefix_max(dims, s, covered)
            if axis_extents is not None:
                length, axis_stride = axis_extents[j]
                if length == 0:
                    continue
                top += (length - 1) * axis_stride
            elements = _checked(fn, top, f"binding {b} element index") + 1
            required[b] = max(required[b], elements * fn.bindings[b].type.itemsize)
    params = [covered, nwg, per, *dims]
    for s, off in zip(strides, offsets):
        params += [off, *s]
    params += list(extras)
    work = covered * max([1] + [length for length, _ in axis_extents or ()])
    return Launch(_frozen(params, np.int64), _frozen(fparams, np.float64), covered,
                  tuple(required), work)


def _elementwise(fn, body: Elementwise, counts, push, consts) -> Launch:
    dims = [_checked(fn, e.evaluate(push, consts), "iteration dim") for e in body.shape]
    rank = len(dims)
    bindings, strides, offsets = [], [], []
    for b_index, perm, is_out in elementwise.operands(body):
        shape, bstrides, off = view(fn, fn.bindings[b_index], push, consts)
        if is_out:
            if shape != dims:
                _fail(fn, f"output binding {b_index} has shape {shape}, the iteration space "
                          f"is {dims}")
            eff = bstrides
        elif perm is not None:
            eff = []
            for d, src in enumerate(perm):
                if shape[src] not in (dims[d], 1):
                    _fail(fn, f"binding {b_index} dim {src} ({shape[src]}) does not broadcast "
                              f"to iteration dim {d} ({dims[d]})")
                eff.append(bstrides[src] if shape[src] == dims[d] else 0)
        else:
            lead = rank - len(shape)
            eff = [0] * lead
            for d, (n, s) in enumerate(zip(shape, bstrides)):
                if n not in (dims[lead + d], 1):
                    _fail(fn, f"binding {b_index} shape {shape} does not broadcast to the "
                              f"iteration space {dims}")
                eff.append(s if n == dims[lead + d] else 0)
        bindings.append(b_index)
        strides.append(eff)
        offsets.append(off)
    floats, ints = elementwise.pushes(body)
    fparams = [np.float32(np.uint32(push[i]).view(np.float32)) for i, _ in floats]
    extras = [push[i] if t == "ui32" else push[i] - ((push[i] & 0x80000000) << 1)
              for i, t in ints]
    return _finish(fn, dims, strides, offsets, bindings, counts, push, consts,
                   elementwise.kernel_rank(body), extras, fparams)


def _rows(fn, body, counts, push, consts) -> Launch:
    sshape, sstrides, soff = view(fn, fn.bindings[body.source], push, consts)
    tshape, tstrides, toff = view(fn, fn.bindings[body.target], push, consts)
    a = body.axis
    outer = sshape[:a] + sshape[a + 1:]
    if isinstance(body, Reduce) and body.keepdims:
        want = sshape[:a] + [1] + sshape[a + 1:]
    elif isinstance(body, Reduce):
        want = outer
    else:
        want = sshape
    if tshape != want:
        _fail(fn, f"target binding {body.target} has shape {tshape}, expected {want}")
    length = sshape[a]
    src = sstrides[:a] + sstrides[a + 1:]
    if isinstance(body, Reduce):
        tgt = tstrides[:a] + tstrides[a + 1:] if body.keepdims else tstrides
        extras, axes = [length, sstrides[a]], [(length, sstrides[a]), (1, 0)]
    else:
        tgt = tstrides[:a] + tstrides[a + 1:]
        extras = [length, sstrides[a], tstrides[a]]
        axes = [(length, sstrides[a]), (length, tstrides[a])]
    if not outer:
        outer, src, tgt = [1], [0], [0]
    return _finish(fn, outer, [src, tgt], [soff, toff], [body.source, body.target], counts,
                   push, consts, rows.kernel_rank(fn), extras, axis_extents=axes)


def _matmul(fn, body: Matmul, counts, push, consts) -> Launch:
    shapes = {}
    for name, b in (("lhs", body.lhs), ("rhs", body.rhs), ("out", body.out)):
        shape, _, off = view(fn, fn.bindings[b], push, consts)
        shapes[name] = ([1] * (3 - len(shape)) + shape, off)
    (lb, l0, l1), (rb, r0, r1), (ob, m_out, n_out) = (shapes[k][0] for k in ("lhs", "rhs",
                                                                             "out"))
    m, k = (l1, l0) if body.transpose_lhs else (l0, l1)
    if body.rhs_packed:     # [P, K, NR] panels of op(rhs), one matrix (panels.py)
        (count, k2, nr), rb, n = shapes["rhs"][0], 1, n_out
        size = fn.bindings[body.rhs].type.itemsize
        if (count, nr) != (panels.count(n, size), panels.width(size)):
            _fail(fn, f"packed rhs binding {body.rhs} is {count}x{k2}x{nr}; {n} columns "
                      f"are {panels.count(n, size)} panels of {panels.width(size)}")
    else:
        k2, n = (r1, r0) if body.transpose_rhs else (r0, r1)
    if k != k2:
        _fail(fn, f"contraction sizes differ: lhs has {k}, rhs has {k2}")
    if (m_out, n_out) != (m, n):
        _fail(fn, f"out binding {body.out} is {m_out}x{n_out}, the product is {m}x{n}")
    for name, batch in (("lhs", lb), ("rhs", rb)):
        if batch not in (1, ob):
            _fail(fn, f"{name} batch {batch} does not broadcast to out batch {ob}")
    # Items are (column block, row of out over (batch, m)): ``nb`` blocks of ``cb``
    # columns (the last may be shorter; one block of all N without a column_block).
    cb, nb = blocks(fn, body.column_block, n, "column_block", push, consts)
    if body.rhs_packed and nb > 1 and cb % panels.width(size):
        _fail(fn, f"column_block {cb} of a packed rhs is not a multiple of its panel width "
                  f"{panels.width(size)}")
    rows = _checked(fn, ob * m, "matmul rows")
    items = _checked(fn, rows * nb, "matmul items")
    covered, nwg, per = workgroups(fn, counts, push, consts, items)
    sizes = {"lhs": m * k, "rhs": k * n, "out": m * n}
    if body.rhs_packed:
        sizes["rhs"] = count * k * nr
    batched = {"lhs": lb, "rhs": rb, "out": ob}
    stride = {name: (sizes[name] if batched[name] == ob and ob > 1 else 0)
              for name in sizes}
    required = [0] * len(fn.bindings)
    if covered:
        # past the first block every row is touched (extents cover whole rows of out)
        last_batch, last_row = divmod(min(covered, rows) - 1, m)
        ends = {"lhs": sizes["lhs"], "rhs": sizes["rhs"], "out": (last_row + 1) * n}
        for name, b in (("lhs", body.lhs), ("rhs", body.rhs), ("out", body.out)):
            if ends[name]:
                top = shapes[name][1] + last_batch * stride[name] + ends[name]
                _checked(fn, top, f"binding {b} element index")
                required[b] = max(required[b], top * fn.bindings[b].type.itemsize)
    params = [covered, nwg, per, m, n, k]
    for name in ("lhs", "rhs", "out"):
        params += [shapes[name][1], stride[name]]
    params += [cb, rows]
    # the channel of a matmul is the column of out
    out_shape = view(fn, fn.bindings[body.out], push, consts)[0]
    step_params, fparams, operands = epilogue_operands(fn, body.epilogue, n, out_shape,
                                                       "per-column", push, consts)
    for s, operand in zip(body.epilogue, operands):
        if operand is None or not covered:
            continue
        shape, off = operand
        if s.op.startswith("channel_"):
            top = off + (n if shape == [n] else 1)
        else:
            top = off + last_batch * stride["out"] + (last_row + 1) * n
        _checked(fn, top, f"binding {s.binding} element index")
        required[s.binding] = max(required[s.binding],
                                  top * fn.bindings[s.binding].type.itemsize)
    return Launch(_frozen(params + step_params, np.int64), _frozen(fparams, np.float64),
                  covered, tuple(required), covered * (cb if n else 0) * k)


def epilogue_operands(fn, steps, channels: int, out_shape, what: str, push, consts):
    """(int params, float params, operands) of a fused epilogue (spec/executables.md 6.4,
    6.5; conv and matmul): each binding step adds its element offset and 1 for a
    ``[channels]`` operand, 0 for a ``[1]`` one or one shaped like the output; the
    activations' numbers go to the float params. ``operands[j]`` is ``(shape, offset)``
    of step ``j``'s binding, or None. A per-``what`` operand of another shape, or a
    tensor operand that is not the output's shape, is INVALID_ARGUMENT."""
    params, fparams, operands = [], [], []
    for s in steps:
        if s.binding < 0:
            fparams += list(s.params)
            operands.append(None)
            continue
        shape, _, off = view(fn, fn.bindings[s.binding], push, consts)
        if s.op.startswith("channel_"):
            if shape not in ([channels], [1]):
                _fail(fn, f"epilogue binding {s.binding} has shape {shape}; a {what} "
                          f"operand is [{channels}] or [1]")
            params += [off, 1 if shape == [channels] else 0]
        else:
            if shape != out_shape:
                _fail(fn, f"epilogue binding {s.binding} has shape {shape}, the output is "
                          f"{out_shape}")
            params += [off, 0]
        operands.append((shape, off))
    return params, fparams, operands


def _op(fn, body: OpBody, counts, push, consts) -> Launch:
    from .host import required_bytes

    covered, nwg, per = workgroups(fn, counts, push, consts, 1)
    required = required_bytes(fn, body, push, consts, bool(covered))
    for b, n in enumerate(required):
        _checked(fn, n, f"binding {b} extent")
    return Launch(_frozen([covered, nwg, per], np.int64), _frozen((), np.float64), covered,
                  required, 0)


def _frozen(values, dtype) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False      # plans are memoized and shared between dispatches
    return array
