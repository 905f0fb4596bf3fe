"""Local response normalization (LRN: AlexNet, ZFNet, GoogLeNet) as pyree-kernels-v1
numba bodies, registered before the host-library fallback.

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
