"""Normalisations as pyree-kernels-v1 numba bodies, registered before the host-library
fallback: LRN (AlexNet, ZFNet, GoogLeNet), instance and layer normalization.

**Instance / layer norm** see the input as rows ``x[R, L]`` (instance: ``R = N * C``
rows over the spatial elements; layer: the dims before ``axis`` times the rest): a
``reduce`` mean into a scratch ``m[R]``, the squared deviations into a scratch, a second
mean into ``v[R]``, then one elementwise pass over ``[A, B, L]`` computes
``(x - m) / sqrt(v + eps) * scale + bias`` with the statistics broadcast along ``L`` and
``scale``/``bias`` along the rows (instance: per channel ``B = C``; layer: per element
of ``L``). f32/f64 in the element type; layer norm only when its mean / inverse-deviation
results are unused.

**LRN**:
With ``lo = (size - 1) // 2`` and ``hi = size - 1 - lo``, the input ``x[N, C, S]`` (the
spatial dims collapsed into ``S``) is squared in f64 into the interior of a zero-filled
scratch ``P[N, C + size - 1, S]`` (channels ``lo .. lo + C``); each output element then
sums ``size`` views of ``P`` shifted by one channel each (bindings over the same scratch
at offsets ``k * S``), and ``y = x / (bias + alpha / size * sum) ** beta`` is computed in
f64 and cast back, as the reference does. Three dispatches: fill, square, combine. N, C,
S and the padded channel count are push constants, so one description serves every LRN
of a (type, size, alpha, beta, bias).
"""

from __future__ import annotations

import math

from .lower_v1_misc import _reduce as reduce_dispatch
from .lowering import Dispatch, Lowered, Operand, Scratch, lowering
from .v1_elementwise_build import items_per_workgroup
from .v1_expr import cast, const, load, op

MAX_SIZE = 29                     # size views + x + out <= 32 bindings
U32 = 1 << 32
PC = {"n": {"pc": 0}, "c": {"pc": 1}, "s": {"pc": 2}, "cp": {"pc": 3}, "items": {"pc": 4}}
NAMES = ["n", "c", "s", "cp", "items"]


def _view(index, dtype, access, offset_channels=0, padded=False):
    b = {"index": index, "type": dtype, "access": access,
         "shape": [PC["n"], PC["c"], PC["s"]]}
    if padded:
        b["strides"] = [{"mul": [PC["cp"], PC["s"]]}, PC["s"], 1]
        b["offset"] = {"mul": [offset_channels, PC["s"]]}
    return b


def _function(bindings, outputs):
    return {"push_constants": NAMES, "items_per_workgroup": PC["items"],
            "bindings": bindings,
            "body": {"kind": "elementwise", "shape": [PC["n"], PC["c"], PC["s"]],
                     "outputs": outputs}}


@lowering("normalization")
def lower_lrn(region, graph) -> Lowered | None:
    if len(region.nodes) != 1 or region.nodes[0].op != "lrn":
        return None
    node = region.nodes[0]
    x_name, out = node.inputs[0], node.outputs[0]
    t = graph.types[x_name]
    size = node.attr("size")
    if t.dtype not in ("f32", "f64") or t.rank < 2 or not 1 <= size <= MAX_SIZE:
        return None
    n, c, s = t.shape[0], t.shape[1], math.prod(t.shape[2:])
    cp = c + size - 1
    items = n * c * s
    if items == 0:
        return Lowered(())
    per = items_per_workgroup(items)
    consts = (n, c, s, cp, per)
    if any(v >= U32 for v in (n * cp * s, *consts)):
        return None
    lo = (size - 1) // 2
    scratch = f"r{region.index}.lrn_squares"
    text = node.name or node.op
    groups = (-(-items // per), 1, 1)
    padded_total = n * cp * s
    pper = items_per_workgroup(padded_total)
    fill = Dispatch({"push_constants": ["n", "items"], "items_per_workgroup": {"pc": 1},
                     "bindings": [{"index": 0, "type": "f64", "access": "write",
                                   "shape": [{"pc": 0}]}],
                     "body": {"kind": "fill", "target": 0, "value": 0.0}},
                    (Operand(scratch),), (-(-padded_total // pper), 1, 1),
                    (padded_total, pper), text)
    x64 = cast(load(0, t.dtype), "f64")
    square = Dispatch(_function([_view(0, t.dtype, "read"),
                                 _view(1, "f64", "write", lo, padded=True)],
                                [{"binding": 1, "value": op("mul", x64, x64).json}]),
                      (Operand(x_name), Operand(scratch)), groups, consts, text)
    total = load(1, "f64")
    for k in range(1, size):
        total = op("add", total, load(1 + k, "f64"))
    denom = op("pow", op("add", const(node.attr("bias"), "f64"),
                         op("mul", const(node.attr("alpha") / size, "f64"), total)),
               const(node.attr("beta"), "f64"))
    value = cast(op("div", x64, denom), t.dtype)
    bindings = [_view(0, t.dtype, "read")] + \
        [_view(1 + k, "f64", "read", k, padded=True) for k in range(size)] + \
        [_view(1 + size, t.dtype, "write")]
    combine = Dispatch(_function(bindings, [{"binding": 1 + size, "value": value.json}]),
                       (Operand(x_name),) + (Operand(scratch),) * size + (Operand(out),),
                       groups, consts, text)
    return Lowered((fill, square, combine), (Scratch(scratch, padded_total * 8),))


def _stats_dispatches(region, x_name, dtype, rows, length, text):
    """Mean and variance rows of ``x[rows, length]`` into scratch: (dispatches, scratch,
    mean name, variance name)."""
    item = 4 if dtype == "f32" else 8
    m, d, v = (f"r{region.index}.norm_{k}" for k in ("mean", "dev2", "var"))
    per = items_per_workgroup(rows * length)
    dims = [{"pc": 0}, {"pc": 1}]
    dev = {"push_constants": ["rows", "length", "items"], "items_per_workgroup": {"pc": 2},
           "bindings": [{"index": 0, "type": dtype, "access": "read", "shape": dims},
                        {"index": 1, "type": dtype, "access": "read",
                         "shape": [{"pc": 0}, 1]},
                        {"index": 2, "type": dtype, "access": "write", "shape": dims}],
           "body": {"kind": "elementwise", "shape": dims, "outputs": [{"binding": 2, "value":
                    op("mul", *(2 * [op("sub", load(0, dtype), load(1, dtype))])).json}]}}
    dispatches = (reduce_dispatch("mean", dtype, x_name, m, (rows, length, 1), text),
                  Dispatch(dev, (Operand(x_name), Operand(m), Operand(d)),
                           (-(-rows * length // per), 1, 1), (rows, length, per), text),
                  reduce_dispatch("mean", dtype, d, v, (rows, length, 1), text))
    scratch = (Scratch(m, rows * item), Scratch(d, rows * length * item),
               Scratch(v, rows * item))
    return dispatches, scratch, m, v


def _normalize(region, graph, node, a, b, length, per_row_params):
    """The statistics, then ``y = (x - m) / sqrt(v + eps) * scale + bias``."""
    x_name, scale, bias = (list(node.inputs) + [""])[:3]
    dtype = graph.types[x_name].dtype
    text = node.name or node.op
    rows = a * b
    items = rows * length
    if items == 0:
        return Lowered(())
    if any(v >= U32 for v in (items, a, b, length)):
        return None
    stats, scratch, m, v = _stats_dispatches(region, x_name, dtype, rows, length, text)
    dims = [{"pc": 0}, {"pc": 1}, {"pc": 2}]
    param = [{"pc": 1}, 1] if per_row_params else [{"pc": 2}]
    bindings = [{"index": 0, "type": dtype, "access": "read", "shape": dims},
                {"index": 1, "type": dtype, "access": "read", "shape": dims[:2] + [1]},
                {"index": 2, "type": dtype, "access": "read", "shape": dims[:2] + [1]},
                {"index": 3, "type": dtype, "access": "read", "shape": param}]
    value = op("mul", op("div", op("sub", load(0, dtype), load(1, dtype)),
                         op("sqrt", op("add", load(2, dtype),
                                       const(node.attr("epsilon"), dtype)))),
               load(3, dtype))
    operands = [Operand(x_name), Operand(m), Operand(v), Operand(scale)]
    if bias:
        bindings.append({"index": 4, "type": dtype, "access": "read", "shape": param})
        value = op("add", value, load(4, dtype))
        operands.append(Operand(bias))
    bindings.append({"index": len(bindings), "type": dtype, "access": "write",
                     "shape": dims})
    operands.append(Operand(node.outputs[0]))
    per = items_per_workgroup(items)
    final = Dispatch({"push_constants": ["a", "b", "length", "items"],
                      "items_per_workgroup": {"pc": 3}, "bindings": bindings,
                      "body": {"kind": "elementwise", "shape": dims, "outputs": [
                          {"binding": len(bindings) - 1, "value": value.json}]}},
                     tuple(operands), (-(-items // per), 1, 1), (a, b, length, per), text)
    return Lowered(stats + (final,), scratch)


@lowering("normalization")
def lower_instance_or_layer_norm(region, graph) -> Lowered | None:
    if len(region.nodes) != 1 or region.nodes[0].op not in ("instance_norm", "layer_norm"):
        return None
    node = region.nodes[0]
    t = graph.types[node.inputs[0]]
    if t.dtype not in ("f32", "f64") or t.rank < 2 or any(
            graph.types[n].dtype != t.dtype for n in node.inputs if n):
        return None
    if node.op == "instance_norm":
        return _normalize(region, graph, node, t.shape[0], t.shape[1],
                          math.prod(t.shape[2:]), True)
    if any(o in region.outputs for o in node.outputs[1:] if o):
        return None                                  # mean / inv-std are read: host op
    ax = node.attr("axis")
    if math.prod(graph.types[node.inputs[1]].shape) != math.prod(t.shape[ax:]):
        return None                                  # scale broadcasts: host op
    if len(node.inputs) > 2 and node.inputs[2] and \
            math.prod(graph.types[node.inputs[2]].shape) != math.prod(t.shape[ax:]):
        return None
    return _normalize(region, graph, node, math.prod(t.shape[:ax]), 1,
                      math.prod(t.shape[ax:]), False)
