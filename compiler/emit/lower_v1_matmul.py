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

The leading epilogue nodes that form a chain over the product run inside the matmul
dispatch (its ``epilogue``, applied to each row block right after its BLAS call): a first
``mul`` by a scalar constant is the body's ``alpha``; ``add``/``mul``/``sub`` by an
operand that varies only along the columns (a Gemm bias ``[N]``/``[1, N]``, or a scalar)
are ``channel_*`` steps, by one of the output's shape ``add``/``mul`` steps; ``relu``,
``sigmoid``, ``leaky_relu`` and ``clip`` (constant bounds) are activations. The chain
stops at the first node that is none of these or that needs a chain value materialized
(a region output, a second use). The remaining epilogue nodes run as elementwise
dispatches that read the chain's value in place from the region output (one
``readwrite`` binding) when the types agree, else from a scratch.
"""

from __future__ import annotations

import math

import numpy as np
from pyree.compiler import dtypes
from pyree.modules.hal.kernels import panels

from . import v1_elementwise_build
from .epilogue import activation_step, scalar_constant
from .lowering import Dispatch, Lowered, Operand, Scratch, label, lowering

FLOATS = ("f32", "f64")
U32 = 1 << 32


MIN_ROWS = 32
MIN_WORK = 1 << 21      # multiply-adds per workgroup: ~50 us of one core's BLAS


def rows_per_workgroup(rows: int, k: int, n: int) -> int:
    """At most 8 workgroups, each at least ``MIN_ROWS`` rows and ``MIN_WORK``
    multiply-adds (a product below that is one workgroup: the serial kernel variant).

    Every workgroup is one BLAS call that packs the whole ``[K, N]`` operand again, so
    thin row blocks pay that packing many times over, and waking the kernel threads costs
    more than a small product: the MLP's 64x784 @ 784x128 took 1.6 ms as 16 workgroups of
    4 rows, 0.3 ms as 2 of 32 and 0.15 ms as one BLAS call on 2 busy cores. On a quiet
    machine, with the kernel threads spinning briefly between launches (kernels/config.py),
    2 workgroups of 32 rows win: the whole batch-64 MLP 0.31-0.33 -> 0.26-0.27 ms."""
    floor = max(-(-MIN_WORK // max(1, k * n)), MIN_ROWS)
    return max(1, min(rows, max(floor, -(-rows // 8))))


COLUMN_SPLIT_ROWS = 128  # at most this many rows split by columns when they split at all
COLUMN_ALIGN = 16       # column blocks are multiples of the GEMM's f32 panel


def work_split(rows: int, k: int, n: int) -> tuple[int, int]:
    """(rows per workgroup, columns per item). A product of at most ``COLUMN_SPLIT_ROWS``
    rows with at least ``2 * MIN_WORK`` multiply-adds splits into column blocks (2, 4, 6
    or 8, each at least ``MIN_WORK`` and a multiple of ``COLUMN_ALIGN`` columns), each a
    workgroup over all the rows: every workgroup then packs only its own columns of
    ``rhs`` instead of all of them (the batch-64 MLP's first Gemm, 64x784 @ 784x128: 93 us
    per 32-row workgroup, 79 us per 64-column one, on one core), and a single row
    (x @ W at batch 1) is shared out at all. Anything else splits its rows
    (``rows_per_workgroup``)."""
    work = rows * k * n
    blocks = min(8, work // MIN_WORK, n // COLUMN_ALIGN)
    blocks -= blocks % 2
    if rows > COLUMN_SPLIT_ROWS or blocks < 2:
        return rows_per_workgroup(rows, k, n), max(n, 1)
    cb = -(-n // blocks)
    return rows, -(-cb // COLUMN_ALIGN) * COLUMN_ALIGN


def _batch(shape, batch) -> bool | None:
    """True: batched like the output; False: one matrix; None: partial broadcast."""
    own = tuple(shape[:-2])
    if math.prod(own) == 1:
        return False
    if (1,) * (len(batch) - len(own)) + own == tuple(batch):
        return True
    return None


def fuse_epilogue(graph, mm: str, matmul_inputs, transposed, nodes, outputs) -> tuple:
    """(alpha, steps, operands, value, count): the first ``count`` of ``nodes`` as matmul
    epilogue ``steps`` (format dicts whose binding k refers to ``operands[k]``), ending at
    ``value``."""
    out_t = graph.types[mm]
    produced = {mm} | {o for n in nodes for o in n.outputs}
    alpha, steps, operands, cur, count = 1.0, [], [], mm, 0
    a_t, b_t = (graph.types[x] for x in matmul_inputs)
    if out_t.rank < 2 or out_t.dtype not in FLOATS or a_t.rank < 2 or b_t.rank < 2:
        return alpha, steps, operands, cur, count
    if out_t.size == out_t.shape[-1] and transposed[1] and not transposed[0] and \
            rows_per_workgroup(out_t.shape[-1], a_t.shape[-1], 1) < out_t.shape[-1]:
        # a batch-1 layer big enough that its transposed product splits into workgroups
        # (matmul_dispatch): the per-column operands would be per-row there; not fused
        return alpha, steps, operands, cur, count
    for i, node in enumerate(nodes):
        if cur in outputs or len(node.outputs) != 1 or cur not in node.inputs:
            break
        later = [x for n in nodes[i + 1:] for x in n.inputs]
        if cur in later or node.inputs.count(cur) != 1:
            break
        res_t = graph.types[node.outputs[0]]
        if res_t.dtype != out_t.dtype or tuple(res_t.shape) != tuple(out_t.shape):
            break
        others = [x for x in node.inputs if x != cur]
        step = activation_step(graph, node, cur)
        if step is None and node.op in ("add", "mul", "sub") and len(node.inputs) == 2 and \
                others[0] not in produced and (node.op != "sub" or node.inputs[0] == cur):
            x_t = graph.types[others[0]]
            scale = scalar_constant(graph, others[0]) if node.op == "mul" else None
            if x_t.dtype != out_t.dtype:
                pass
            elif scale is not None and i == 0 and math.isfinite(scale):
                alpha, cur, count = scale, node.outputs[0], 1     # the body's alpha
                continue
            elif x_t.rank <= out_t.rank and all(d == 1 for d in x_t.shape[:-1]) and \
                    x_t.size in (1, out_t.shape[-1]):
                step = {"op": f"channel_{node.op}", "binding": others[0],
                        "full": x_t.size == out_t.shape[-1]}
            elif node.op != "sub" and tuple(x_t.shape) == tuple(out_t.shape):
                step = {"op": node.op, "binding": others[0]}
        if step is None:
            break
        if "binding" in step and step["binding"] not in operands:
            operands.append(step["binding"])
        steps.append(step)
        cur, count = node.outputs[0], i + 1
    return alpha, steps, operands, cur, count


def matmul_dispatch(graph, node, out_location: str, text: str, alpha: float = 1.0,
                    steps=(), operands=()) -> Lowered | None:
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
    if bsize == 1 and m == 1 and tb and not ta and not operands:
        # one row against a transposed [N, K] operand (a fully connected layer): the same
        # bytes as out^T [N, 1] = rhs [N, K] @ lhs^T [K, 1], whose N rows split into
        # workgroups where the single row could not
        lhs_value, rhs_value, m, n, ta, tb = rhs_value, lhs_value, n, 1, False, False
    rows = bsize * m
    per, cb = work_split(rows, k, n)
    pb, pm, pk, pn = ({"pc": i} for i in range(4))
    lhs = [pk, pm] if ta else [pm, pk]
    rhs = [pn, pk] if tb else [pk, pn]
    push = (bsize, m, k, n, per, cb)
    derived = ()
    packed = rhs_value == node.inputs[1] and _prepacks(graph, rhs_value, b_batched, rows, n)
    if packed:
        # a constant rhs as the GEMM's panels, laid out now instead of on every call
        itemsize = dtypes.itemsize(dtype)
        name = f"{rhs_value}.panels{'.T' if tb else ''}"
        matrix = np.asarray(graph.constants[rhs_value]).reshape(b[-2], b[-1])
        derived = ((name, panels.pack(matrix.T if tb else matrix)),)
        rhs_value, b_batched, tb = name, False, False
        rhs = [{"pc": 6}, pk, panels.width(itemsize)]
        push += (panels.count(n, itemsize),)
    function = {
        "push_constants": ["B", "M", "K", "N", "rows", "column_block",
                           *(["panels"] if packed else [])],
        "bindings": [
            {"index": 0, "type": dtype, "access": "read",
             "shape": [pb, *lhs] if a_batched else lhs},
            {"index": 1, "type": dtype, "access": "read",
             "shape": [pb, *rhs] if b_batched else rhs},
            {"index": 2, "type": dtype, "access": "write", "shape": [pb, pm, pn]}],
        "items_per_workgroup": {"pc": 4},
        "body": {"kind": "matmul", "lhs": 0, "rhs": 1, "out": 2,
                 "transpose_lhs": ta, "transpose_rhs": tb, "column_block": {"pc": 5}}}
    if packed:
        function["body"]["rhs_packed"] = True
    if alpha != 1.0:
        function["body"]["alpha"] = alpha
    epilogue = []
    for step in steps:
        step = dict(step)
        if "binding" in step:
            name = step.pop("binding")
            full = step.pop("full", False)
            index = 3 + list(operands).index(name)
            step["binding"] = index
            if index >= len(function["bindings"]):
                if step["op"].startswith("channel_"):
                    shape = [pn] if full else [1]
                else:
                    shape = [pb, pm, pn]
                function["bindings"].append({"index": index, "type": dtype,
                                             "access": "read", "shape": shape})
        epilogue.append(step)
    if epilogue:
        function["body"]["epilogue"] = epilogue
    return Lowered((Dispatch(function, (Operand(lhs_value), Operand(rhs_value),
                                        Operand(out_location), *(Operand(x) for x in operands)),
                             (-(-rows // per) * -(-n // cb), 1, 1), push, text),), (), derived)


PACK_MIN_ROWS = 8       # fewer rows read B in place or as dot products (gemm.py)
PACK_MIN_COLUMNS = 4    # gemm.DOT_COLUMNS: fewer columns are dot products, no panels


def _prepacks(graph, value: str, batched: bool, rows: int, n: int) -> bool:
    """Whether a matmul's rhs ``value`` is prepacked (``rhs_packed``): a constant single
    matrix, against enough rows that the GEMM would pack it on every call (each
    workgroup packs its columns of it again), with enough columns for panels."""
    return value in graph.constants and not batched and rows >= PACK_MIN_ROWS and \
        n >= PACK_MIN_COLUMNS


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
    alpha, steps, operands, cur, count = fuse_epilogue(graph, mm, node.inputs[:2], (
        bool(node.attr("transpose_a", 0)), bool(node.attr("transpose_b", 0))), epilogue,
                                                          region.outputs)
    epilogue = epilogue[count:]
    if not epilogue:
        return matmul_dispatch(graph, node, cur, text, alpha, steps, operands)
    tail = region.outputs[-1] if region.outputs else epilogue[-1].outputs[0]
    scratch = ()
    if cur in region.outputs:
        location = cur
    elif len(region.outputs) == 1 and graph.types[tail].dtype == out_t.dtype and \
            graph.types[tail].shape == out_t.shape:
        location = tail
    else:
        location = f"r{region.index}.{cur}"
        scratch = (Scratch(location, out_t.size * dtypes.itemsize(out_t.dtype)),)
    product = matmul_dispatch(graph, node, location, text, alpha, steps, operands)
    if product is None:
        return None
    rest = v1_elementwise_build.build(graph, epilogue, [o for o in region.outputs if o != cur],
                                      text, f"r{region.index}.", {cur: location})
    if rest is None:
        return None
    return Lowered((*product.dispatches, *rest.dispatches), scratch + rest.scratch,
                   product.derived)
