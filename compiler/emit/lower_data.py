"""Data movement regions as pyree-kernels-v1 strided copies and fills (numba bodies).

Every lowering here is a few ``copy`` dispatches (spec/executables.md 6.1) between
strided views of the same bytes, plus a ``fill`` for padding:

* **concat**: each operand is copied into its slab of the output (target view: the
  operand's shape with the output's strides, at the slab's element offset). An operand
  the buffer plan already placed in its slab gives a copy onto its own bytes, which
  emission drops (``noop_copies.py``).
* **slice**: one copy whose source view has strides ``stride * step`` and the start as
  offset (negative steps are left to the host library: v1 strides are non-negative).
* **pad** (constant mode, constant pad value): a fill of the output, then the input
  (cropped by negative pads) copied into the interior.
* **tile**: the output seen as ``[r0, d0, r1, d1, ...]`` (the same bytes) and the input as
  ``[1, d0, 1, d1, ...]`` with stride 0 on the repeat dims.

Views are collapsed first (unit dims dropped, dims contiguous in both views merged), and
every size, stride and offset is a push constant: one description (and one numba
compile) per (element type, rank), shared by every copy of the program.
"""

from __future__ import annotations

import math

import numpy as np
from pyree.compiler import dtypes

from .lowering import Dispatch, Lowered, Operand, lowering
from .v1_elementwise_build import items_per_workgroup
from .v1_expr import const

MAX_RANK = 8
U32 = 1 << 32


def dense_strides(shape) -> list:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return strides[::-1]


def collapse(dims, src, dst):
    """Drop unit dims and merge dims contiguous in both views."""
    out = []
    for d, s, t in zip(dims, src, dst):
        if d == 1:
            continue
        if out and out[-1][1] == s * d and out[-1][2] == t * d:
            out[-1] = (out[-1][0] * d, s, t)
        else:
            out.append((d, s, t))
    return [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]


def copy_function(dtype: str, rank: int) -> dict:
    """A strided copy of rank ``rank``: every size, stride and offset a push constant."""
    names = [f"d{i}" for i in range(rank)] + [f"ss{i}" for i in range(rank)] + \
        ["so"] + [f"ts{i}" for i in range(rank)] + ["to", "items"]
    pc = {n: {"pc": i} for i, n in enumerate(names)}
    shape = [pc[f"d{i}"] for i in range(rank)]
    return {"push_constants": names, "items_per_workgroup": pc["items"],
            "bindings": [
                {"index": 0, "type": dtype, "access": "read", "shape": shape,
                 "strides": [pc[f"ss{i}"] for i in range(rank)], "offset": pc["so"]},
                {"index": 1, "type": dtype, "access": "write", "shape": shape,
                 "strides": [pc[f"ts{i}"] for i in range(rank)], "offset": pc["to"]}],
            "body": {"kind": "copy", "source": 0, "target": 1}}


def copy_dispatch(dtype, dims, src, src_off, dst, dst_off, source, target, text):
    """One strided copy ``target[view] = source[view]``, or None past v1's limits."""
    if any(s < 0 for s in src) or any(s < 0 for s in dst):
        return None
    dims, src, dst = collapse(dims, src, dst)
    if len(dims) > MAX_RANK:
        return None
    items = math.prod(dims)
    if items == 0:
        return ()
    per = items_per_workgroup(items)
    constants = (*dims, *src, src_off, *dst, dst_off, per)
    if any(not 0 <= c < U32 for c in constants) or -(-items // per) >= U32:
        return None
    return (Dispatch(copy_function(dtype, len(dims)), (Operand(source), Operand(target)),
                     (-(-items // per), 1, 1), constants, text),)


def fill_dispatch(dtype, count, value, target, text):
    if dtypes.is_float(dtype):
        value = const(value, "f64").json["value"]      # NaN / infinities as strings
    elif dtype == "i1":
        value = int(bool(value))
    else:
        value = int(value)
    per = items_per_workgroup(count)
    function = {"push_constants": ["n", "items"], "items_per_workgroup": {"pc": 1},
                "bindings": [{"index": 0, "type": dtype, "access": "write",
                              "shape": [{"pc": 0}]}],
                "body": {"kind": "fill", "target": 0, "value": value}}
    return Dispatch(function, (Operand(target),), (-(-count // per), 1, 1), (count, per), text)


def _node(region, graph):
    if len(region.nodes) != 1:
        return None, None
    node = region.nodes[0]
    out = node.outputs[0]
    dtype = graph.types[out].dtype
    if dtype not in dtypes.KERNEL_TYPES or not out:
        return None, None
    return node, graph.types[out]


def _finish(parts):
    dispatches = []
    for part in parts:
        if part is None:
            return None
        dispatches.extend(part if isinstance(part, tuple) else (part,))
    return Lowered(tuple(dispatches))


def _concat(region, graph, node, out_t):
    axis = node.attr("axis")
    ostrides = dense_strides(out_t.shape)
    parts, start = [], 0
    for name in node.inputs:
        t = graph.types[name]
        parts.append(copy_dispatch(out_t.dtype, list(t.shape), dense_strides(t.shape), 0,
                                   ostrides, start * ostrides[axis], name, node.outputs[0],
                                   node.name or node.op))
        start += t.shape[axis]
    return _finish(parts)


def _slice(region, graph, node, out_t):
    in_t = graph.types[node.inputs[0]]
    istrides = dense_strides(in_t.shape)
    offset = sum(start * s for (start, _, _), s in zip(node.attr("slices"), istrides))
    src = [step * s for (_, _, step), s in zip(node.attr("slices"), istrides)]
    return _finish([copy_dispatch(out_t.dtype, list(out_t.shape), src, offset,
                                  dense_strides(out_t.shape), 0, node.inputs[0],
                                  node.outputs[0], node.name or node.op)])


def _pad(region, graph, node, out_t):
    if node.attr("mode") != "constant":
        return None
    value = 0
    if len(node.inputs) > 1 and node.inputs[1]:
        if node.inputs[1] not in graph.constants:
            return None
        array = np.asarray(graph.constants[node.inputs[1]])
        value = array.reshape(-1)[0].item() if array.size else 0
    x_t = graph.types[node.inputs[0]]
    rank, pads = x_t.rank, node.attr("pads")
    text = node.name or node.op
    parts = [fill_dispatch(out_t.dtype, out_t.size, value, node.outputs[0], text)] \
        if out_t.size else []
    istrides, ostrides = dense_strides(x_t.shape), dense_strides(out_t.shape)
    dims, src_off, dst_off = [], 0, 0
    for d in range(rank):
        before, after = pads[d], pads[d + rank]
        cut = max(-before, 0)
        length = x_t.shape[d] - cut - max(-after, 0)
        if length <= 0:
            return _finish(parts)
        dims.append(length)
        src_off += cut * istrides[d]
        dst_off += max(before, 0) * ostrides[d]
    parts.append(copy_dispatch(out_t.dtype, dims, istrides, src_off, ostrides, dst_off,
                               node.inputs[0], node.outputs[0], text))
    return _finish(parts)


def _tile(region, graph, node, out_t):
    x_t = graph.types[node.inputs[0]]
    dims, src = [], []
    for r, d, s in zip(node.attr("repeats"), x_t.shape, dense_strides(x_t.shape)):
        dims += [r, d]
        src += [0, s]
    return _finish([copy_dispatch(out_t.dtype, dims, src, 0, dense_strides(dims), 0,
                                  node.inputs[0], node.outputs[0], node.name or node.op)])


LOWER = {"concat": _concat, "slice": _slice, "pad": _pad, "tile": _tile}


@lowering("data")
def lower_data(region, graph) -> Lowered | None:
    node, out_t = _node(region, graph)
    if node is None or node.op not in LOWER:
        return None
    return LOWER[node.op](region, graph, node, out_t)
