"""Reduce, softmax and transpose regions as pyree-kernels-v1 library bodies.

* **Reductions** over contiguous axes see the source as ``[pre, R, post]`` (the axes
  collapsed into one) and the target as ``[pre, post]`` (``keepdims`` does not change the
  bytes). sum / mean / max / min / prod are one ``reduce`` dispatch; the other ONNX
  reductions add elementwise passes: ``reduce_sum_square`` / ``reduce_l1`` square or take
  the absolute value into a scratch first, ``reduce_l2`` / ``reduce_log_sum`` finish with
  ``sqrt`` / ``log`` in place, ``reduce_log_sum_exp`` subtracts the (finite) maximum
  before exponentiating as the reference does.
* **softmax** is one ``softmax`` dispatch over ``[pre, L, post]``; ``log_softmax`` is max,
  shifted exponentials, sum, and ``(x - max) - log(sum)``.
* **transpose** drops unit dims and merges source dims that stay adjacent and in order
  under the permutation, then is one ``transpose`` dispatch.

All sizes are push constants (the items per workgroup last), so descriptions depend only
on the element type, the op and the (collapsed) permutation.
"""

from __future__ import annotations

import math

from pyree.compiler import dtypes

from .lowering import Dispatch, Lowered, Operand, Scratch, label, lowering
from .v1_elementwise_build import items_per_workgroup
from .v1_expr import FLOATS, cmp, const, load, op, select

U32 = 1 << 32
SIMPLE = {"reduce_sum": "sum", "reduce_mean": "mean", "reduce_max": "max",
          "reduce_min": "min", "reduce_prod": "prod"}
PRE = {"reduce_sum_square": lambda x: op("mul", x, x), "reduce_l1": lambda x: op("abs", x),
       "reduce_l2": lambda x: op("mul", x, x)}
POST = {"reduce_l2": lambda y: op("sqrt", y), "reduce_log_sum": lambda y: op("log", y)}
REDUCTIONS = frozenset(SIMPLE) | frozenset(PRE) | frozenset(POST) | {"reduce_log_sum_exp"}
KERNEL = frozenset(dtypes.KERNEL_TYPES) - {"i1"}


def _rows_per_workgroup(rows: int, length: int) -> int:
    return max(1, min(max(rows, 1), -(-65536 // max(1, length))))


def _pcs(k: int) -> list[dict]:
    return [{"pc": i} for i in range(k)]


def _ew(shape_pcs, bindings, outputs, operands, dims, text) -> Dispatch:
    """An elementwise dispatch over ``dims`` (the first push constants)."""
    n = math.prod(dims)
    per = items_per_workgroup(n)
    function = {"push_constants": [f"d{i}" for i in range(len(dims))] + ["items"],
                "bindings": bindings, "items_per_workgroup": {"pc": len(dims)},
                "body": {"kind": "elementwise", "shape": shape_pcs, "outputs": outputs}}
    return Dispatch(function, tuple(Operand(v) for v in operands), (-(-n // per), 1, 1),
                    (*dims, per), text)


def _reduce(kind, dtype, source, target, dims, text) -> Dispatch:
    pre, length, post = dims
    rows = pre * post
    per = _rows_per_workgroup(rows, length)
    p = _pcs(3)
    function = {"push_constants": ["pre", "length", "post", "rows"],
                "bindings": [{"index": 0, "type": dtype, "access": "read", "shape": p},
                             {"index": 1, "type": dtype, "access": "write",
                              "shape": [p[0], p[2]]}],
                "items_per_workgroup": {"pc": 3},
                "body": {"kind": "reduce", "op": kind, "source": 0, "target": 1,
                         "axis": 1, "keepdims": False}}
    return Dispatch(function, (Operand(source), Operand(target)), (-(-rows // per), 1, 1),
                    (pre, length, post, per), text)


def _split(shape, axes) -> tuple[int, int, int]:
    if not axes:
        return math.prod(shape), 1, 1
    return (math.prod(shape[:axes[0]]), math.prod(shape[axes[0]:axes[-1] + 1]),
            math.prod(shape[axes[-1] + 1:]))


def _three(dtype, access=("read", "write")):
    p = _pcs(3)
    return [{"index": i, "type": dtype, "access": a, "shape": p} for i, a in enumerate(access)]


@lowering("reduce")
def lower_reduce(region, graph):
    node = region.nodes[0]
    if node.op not in REDUCTIONS or len(region.nodes) != 1:
        return None
    x, y = node.inputs[0], node.outputs[0]
    t = graph.types[x]
    axes = tuple(node.attr("axes", ()))
    if t.dtype not in KERNEL or (axes and list(axes) != list(range(axes[0], axes[-1] + 1))):
        return None
    if node.op in ("reduce_mean", "reduce_log_sum_exp", *POST) and t.dtype not in FLOATS:
        return None
    dims = _split(t.shape, axes)
    if any(d >= U32 for d in dims):
        return None
    if dims[0] * dims[2] == 0:
        return Lowered(())
    text, prefix = label(region), f"r{region.index}."
    nbytes = dtypes.itemsize(t.dtype)
    if node.op in SIMPLE:
        return Lowered((_reduce(SIMPLE[node.op], t.dtype, x, y, dims, text),))
    dispatches, scratch = [], []
    source = x
    out2 = [{"pc": 0}, {"pc": 2}]
    if node.op in PRE:
        source = prefix + "pre"
        scratch.append(Scratch(source, math.prod(dims) * nbytes))
        dispatches.append(_ew(_pcs(3), _three(t.dtype), [
            {"binding": 1, "value": PRE[node.op](load(0, t.dtype)).json}],
            (x, source), dims, text))
    if node.op == "reduce_log_sum_exp":
        m = prefix + "max"
        e = prefix + "exp"
        scratch += [Scratch(m, dims[0] * dims[2] * nbytes),
                    Scratch(e, math.prod(dims) * nbytes)]
        dispatches.append(_reduce("max", t.dtype, x, m, dims, text))
        shift = _finite_or_zero(load(1, t.dtype))
        binds = _three(t.dtype, ("read", "read", "write"))
        binds[1]["shape"] = [{"pc": 0}, 1, {"pc": 2}]
        dispatches.append(_ew(_pcs(3), binds, [{"binding": 2, "value": op(
            "exp", op("sub", load(0, t.dtype), shift)).json}], (x, m, e), dims, text))
        dispatches.append(_reduce("sum", t.dtype, e, y, dims, text))
        binds = [{"index": 0, "type": t.dtype, "access": "readwrite", "shape": out2},
                 {"index": 1, "type": t.dtype, "access": "read", "shape": out2}]
        value = op("add", op("log", load(0, t.dtype)), _finite_or_zero(load(1, t.dtype)))
        dispatches.append(_ew(out2, binds, [{"binding": 0, "value": value.json}], (y, m),
                              (dims[0], dims[2]), text))
        return Lowered(tuple(dispatches), tuple(scratch))
    dispatches.append(_reduce("sum", t.dtype, source, y, dims, text))
    if node.op in POST:
        binds = [{"index": 0, "type": t.dtype, "access": "readwrite", "shape": out2}]
        dispatches.append(_ew(out2, binds, [
            {"binding": 0, "value": POST[node.op](load(0, t.dtype)).json}], (y,),
            (dims[0], dims[2]), text))
    return Lowered(tuple(dispatches), tuple(scratch))


def _finite_or_zero(m):
    """``m`` where finite, else 0 (the reference's shift for log-sum-exp)."""
    finite = cmp("eq", op("sub", m, m), const(0, m.dtype))
    return select(finite, m, const(0, m.dtype))


@lowering("softmax")
def lower_softmax(region, graph):
    node = region.nodes[0]
    if node.op not in ("softmax", "log_softmax") or len(region.nodes) != 1:
        return None
    x, y = node.inputs[0], node.outputs[0]
    t = graph.types[x]
    if t.dtype not in FLOATS or t.rank == 0:
        return None
    ax = node.attr("axis")
    dims = _split(t.shape, (ax,))
    if any(d >= U32 for d in dims):
        return None
    if math.prod(dims) == 0:
        return Lowered(())
    text, prefix = label(region), f"r{region.index}."
    rows = dims[0] * dims[2]
    if node.op == "softmax":
        per = _rows_per_workgroup(rows, dims[1])
        function = {"push_constants": ["pre", "length", "post", "rows"],
                    "bindings": _three(t.dtype), "items_per_workgroup": {"pc": 3},
                    "body": {"kind": "softmax", "source": 0, "target": 1, "axis": 1}}
        return Lowered((Dispatch(function, (Operand(x), Operand(y)), (-(-rows // per), 1, 1),
                                 (*dims, per), text),))
    nbytes = dtypes.itemsize(t.dtype)
    m, e, s = prefix + "max", prefix + "exp", prefix + "sum"
    scratch = (Scratch(m, rows * nbytes), Scratch(e, math.prod(dims) * nbytes),
               Scratch(s, rows * nbytes))
    row = [{"pc": 0}, 1, {"pc": 2}]
    binds = _three(t.dtype, ("read", "read", "write"))
    binds[1]["shape"] = row
    shifted = op("sub", load(0, t.dtype), load(1, t.dtype))
    exp = _ew(_pcs(3), binds, [{"binding": 2, "value": op("exp", shifted).json}], (x, m, e),
              dims, text)
    binds = _three(t.dtype, ("read", "read", "read", "write"))
    binds[1]["shape"] = binds[2]["shape"] = row
    final = op("sub", shifted, op("log", load(2, t.dtype)))
    out = _ew(_pcs(3), binds, [{"binding": 3, "value": final.json}], (x, m, s, y), dims, text)
    return Lowered((_reduce("max", t.dtype, x, m, dims, text), exp,
                    _reduce("sum", t.dtype, e, s, dims, text), out), scratch)


def collapse_transpose(shape, perm) -> tuple[list[int], list[int]]:
    """(collapsed source dims, collapsed perm): unit dims dropped, runs of source dims
    that stay adjacent and in order in the output merged."""
    kept = [p for p in perm if shape[p] != 1]
    groups: list[list[int]] = []
    for p in kept:
        if groups and groups[-1][-1] + 1 == p or (groups and _only_units(
                shape, groups[-1][-1], p)):
            groups[-1].append(p)
        else:
            groups.append([p])
    order = sorted(range(len(groups)), key=lambda g: groups[g][0])
    dims = [math.prod(shape[p] for p in groups[g]) for g in order]
    position = {g: i for i, g in enumerate(order)}
    return dims, [position[g] for g in range(len(groups))]


def _only_units(shape, a: int, b: int) -> bool:
    return a < b and all(shape[d] == 1 for d in range(a + 1, b))


@lowering("transpose")
def lower_transpose(region, graph):
    node = region.nodes[0]
    if node.op != "transpose" or len(region.nodes) != 1:
        return None
    x, y = node.inputs[0], node.outputs[0]
    t = graph.types[x]
    if t.dtype not in dtypes.KERNEL_TYPES:
        return None
    n = t.size
    if n == 0:
        return Lowered(())
    dims, perm = collapse_transpose(t.shape, node.attr("perm"))
    if len(dims) > 8 or any(d >= U32 for d in dims):
        return None
    k = len(dims)
    p = _pcs(k)
    per = items_per_workgroup(n)
    function = {"push_constants": [f"d{i}" for i in range(k)] + ["items"],
                "bindings": [{"index": 0, "type": t.dtype, "access": "read", "shape": p},
                             {"index": 1, "type": t.dtype, "access": "write",
                              "shape": [p[q] for q in perm]}],
                "items_per_workgroup": {"pc": k},
                "body": {"kind": "transpose", "source": 0, "target": 1, "perm": perm}}
    return Lowered((Dispatch(function, (Operand(x), Operand(y)), (-(-n // per), 1, 1),
                             (*dims, per), label(region)),))

