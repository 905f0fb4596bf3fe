"""Matmul regions as a pyree-kernels-v1 ``matmul`` dispatch plus its epilogue.

The product ``out[B, M, N] = op(lhs) @ op(rhs)`` is one matmul dispatch (f32/f64; the
transposed operand flags of the IR node map onto ``transpose_lhs``/``transpose_rhs``).
Batch dims collapse into one: an operand whose batch dims equal the output's is batched,
one whose batch is a single matrix broadcasts; any other broadcast (``[2, 1, M, K]`` against
``[1, 3, K, N]``) is left to the library lowering. Rank-1 operands are ``[1, K]`` /
``[K, 1]`` matrices (same bytes). B, M, K, N and the rows per workgroup are push
constants, so every matmul of one (type, transposes, batching) shares a description.
A single row against a transposed operand (``[1, K] @ [N, K]^T``, a fully connected layer
at batch 1) is computed as ``[N, K] @ [K, 1]``: the same bytes, but N rows to share out.

Epilogue nodes (bias add, scale, activation, residual) run as elementwise dispatches that
read the product in place from the region output (one ``readwrite`` binding) when the
types agree, else from a scratch.
"""

from __future__ import annotations

import math

import numpy as np
from pyree.compiler import dtypes

from . import v1_elementwise_build
from .lowering import Dispatch, Lowered, Operand, Scratch, label, lowering

FLOATS = ("f32", "f64")
U32 = 1 << 32


MIN_ROWS = 32
MIN_WORK = 1 << 23      # multiply-adds per workgroup: ~0.2 ms of one core's BLAS


def rows_per_workgroup(rows: int, k: int, n: int) -> int:
    """At most 8 workgroups, each at least ``MIN_ROWS`` rows and ``MIN_WORK``
    multiply-adds (a product below that is one workgroup: the serial kernel variant).

    Every workgroup is one BLAS call that packs the whole ``[K, N]`` operand again, so
    thin row blocks pay that packing many times over, and waking the kernel threads costs
    more than a small product: the MLP's 64x784 @ 784x128 took 1.6 ms as 16 workgroups of
    4 rows, 0.3 ms as 2 of 32 and 0.15 ms as one BLAS call (2 busy cores)."""
    floor = max(-(-MIN_WORK // max(1, k * n)), MIN_ROWS)
    return max(1, min(rows, max(floor, -(-rows // 8))))


def _batch(shape, batch) -> bool | None:
    """True: batched like the output; False: one matrix; None: partial broadcast."""
    own = tuple(shape[:-2])
    if math.prod(own) == 1:
        return False
    if (1,) * (len(batch) - len(own)) + own == tuple(batch):
        return True
    return None


def matmul_dispatch(graph, node, out_location: str, text: str) -> Dispatch | None:
    a_t, b_t = graph.types[node.inputs[0]], graph.types[node.inputs[1]]
    out_t = graph.types[node.outputs[0]]
    dtype = out_t.dtype
    if dtype not in FLOATS or a_t.dtype != dtype or b_t.dtype != dtype:
        return None
    ta, tb = bool(node.attr("transpose_a", 0)), bool(node.attr("transpose_b", 0))
    a = list(a_t.shape) if a_t.rank > 1 else [1, a_t.shape[0]]
    b = list(b_t.shape) if b_t.rank > 1 else [b_t.shape[0], 1]
    if (a_t.rank == 1 and ta) or (b_t.rank == 1 and tb):
        return None
    m, k = (a[-1], a[-2]) if ta else (a[-2], a[-1])
    n = b[-2] if tb else b[-1]
    batch = tuple(np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])))
    bsize = math.prod(batch)
    a_batched, b_batched = _batch(a, batch), _batch(b, batch)
    if a_batched is None or b_batched is None or k == 0:
        return None
    if any(v >= U32 for v in (bsize, m, k, n)):
        return None
    lhs_value, rhs_value = node.inputs[0], node.inputs[1]
    if bsize == 1 and m == 1 and tb and not ta:
        # one row against a transposed [N, K] operand (a fully connected layer): the same
        # bytes as out^T [N, 1] = rhs [N, K] @ lhs^T [K, 1], whose N rows split into
        # workgroups where the single row could not
        lhs_value, rhs_value, m, n, ta, tb = rhs_value, lhs_value, n, 1, False, False
    rows = bsize * m
    per = rows_per_workgroup(rows, k, n)
    pb, pm, pk, pn = ({"pc": i} for i in range(4))
    lhs = [pk, pm] if ta else [pm, pk]
    rhs = [pn, pk] if tb else [pk, pn]
    function = {
        "push_constants": ["B", "M", "K", "N", "rows"],
        "bindings": [
            {"index": 0, "type": dtype, "access": "read",
             "shape": [pb, *lhs] if a_batched else lhs},
            {"index": 1, "type": dtype, "access": "read",
             "shape": [pb, *rhs] if b_batched else rhs},
            {"index": 2, "type": dtype, "access": "write", "shape": [pb, pm, pn]}],
        "items_per_workgroup": {"pc": 4},
        "body": {"kind": "matmul", "lhs": 0, "rhs": 1, "out": 2,
                 "transpose_lhs": ta, "transpose_rhs": tb}}
    return Dispatch(function, (Operand(lhs_value), Operand(rhs_value), Operand(out_location)),
                    (-(-rows // per), 1, 1), (bsize, m, k, n, per), text)


@lowering("matmul")
def lower_matmul(region, graph):
    node = region.nodes[0]
    if node.op != "matmul":
        return None
    mm = node.outputs[0]
    out_t = graph.types[mm]
    text = label(region)
    epilogue = list(region.nodes[1:])
    if out_t.size == 0:
        return Lowered(())
    if not epilogue:
        d = matmul_dispatch(graph, node, mm, text)
        return None if d is None else Lowered((d,))
    tail = region.outputs[-1] if region.outputs else epilogue[-1].outputs[0]
    scratch = ()
    if mm in region.outputs:
        location = mm
    elif len(region.outputs) == 1 and graph.types[tail].dtype == out_t.dtype and \
            graph.types[tail].shape == out_t.shape:
        location = tail
    else:
        location = f"r{region.index}.{mm}"
        scratch = (Scratch(location, out_t.size * dtypes.itemsize(out_t.dtype)),)
    d = matmul_dispatch(graph, node, location, text)
    if d is None:
        return None
    rest = v1_elementwise_build.build(graph, epilogue, [o for o in region.outputs if o != mm],
                                      text, f"r{region.index}.", {mm: location})
    if rest is None:
        return None
    return Lowered((d, *rest.dispatches), scratch + rest.scratch)
