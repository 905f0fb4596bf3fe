"""Which regions the pyree-kernels-v1 executable format can express (spec/executables.md).

``v1_body(kind, nodes, types)`` is the body kind a region lowers to, or ``None`` when v1
cannot express it yet: every value must have a v1 element type (no f16/bf16/narrow
types), elementwise nodes must be v1 operators or decompose into them (``leaky_relu``
is ``select(cmp lt, mul, x)``, ``clip`` is ``min``/``max``, ``gelu`` uses ``erf`` ...),
reductions must be sum/mean/max/min/prod over contiguous axes (collapsed by a view into
v1's single axis; sum_square/l1/l2/log_sum/log_sum_exp add elementwise passes around a
sum), softmax (and log_softmax: max, exp, sum, elementwise) and matmul must be f32/f64.
"""

from __future__ import annotations

from pyree.compiler import dtypes

# IR elementwise ops v1 expresses directly or by a decomposition into v1 operators.
V1_ELEMENTWISE = frozenset({
    "add", "sub", "mul", "div", "min", "max", "pow", "neg", "abs", "relu", "exp", "log",
    "sqrt", "rsqrt", "tanh", "sigmoid", "erf", "and", "or", "xor", "not", "select",
    "cast", "eq", "lt", "le", "gt", "ge", "broadcast_to", "clip", "reciprocal",
    "leaky_relu", "elu", "selu", "celu", "hard_sigmoid", "hard_swish", "softplus",
    "softsign", "gelu", "mish", "thresholded_relu", "shrink", "prelu", "sign", "isnan",
    "isinf", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
    "floor", "ceil", "round", "mod", "bit_shift",
})
V1_REDUCE = frozenset({"reduce_sum", "reduce_mean", "reduce_max", "reduce_min",
                       "reduce_prod", "reduce_sum_square", "reduce_l1", "reduce_l2",
                       "reduce_log_sum", "reduce_log_sum_exp"})
_FLOAT_REDUCE = frozenset({"reduce_mean", "reduce_l2", "reduce_log_sum", "reduce_log_sum_exp"})
BODY = {"elementwise": "elementwise", "reduce": "reduce", "softmax": "softmax",
        "matmul": "matmul", "transpose": "transpose"}
_FLOATS = frozenset({"f32", "f64"})


def _contiguous(axes) -> bool:
    return bool(axes) and list(axes) == list(range(axes[0], axes[0] + len(axes)))


def v1_body(kind: str, nodes, types) -> str | None:
    body = BODY.get(kind)
    if body is None:
        return None
    names = {n for node in nodes for n in (*node.inputs, *node.outputs) if n}
    value_types = {types[n].dtype for n in names}
    if not value_types <= dtypes.KERNEL_TYPES:
        return None
    if kind in ("softmax", "matmul") and not value_types <= _FLOATS:
        return None
    if kind == "elementwise" and any(n.op not in V1_ELEMENTWISE for n in nodes):
        return None
    if kind == "reduce" and any(n.op not in V1_REDUCE or not _contiguous(n.attr("axes", ()))
                                or types[n.inputs[0]].dtype == "i1"
                                or (n.op in _FLOAT_REDUCE
                                    and types[n.inputs[0]].dtype not in _FLOATS)
                                for n in nodes):
        return None
    if kind == "softmax" and nodes[0].op not in ("softmax", "log_softmax"):
        return None
    if kind == "matmul" and (any(n.op not in V1_ELEMENTWISE for n in nodes[1:])
                             or types[nodes[0].inputs[0]].rank not in (2, 3)
                             or types[nodes[0].inputs[1]].rank not in (2, 3)):
        return None
    return body
