"""Elementwise ops: unary, binary (numpy broadcasting), select, clip, cast.

Every op here maps each output element to the same position of its (broadcast)
operands, so partitioning fuses chains of them into one ``elementwise`` kernel, or into
the epilogue of a matmul/conv. Binary operands must share one element type (ONNX
guarantees it; ``pow`` and ``bit_shift`` follow ONNX's own rules); comparisons yield
``i1``. Integer ``div`` truncates toward zero as the executable format does.
"""

from __future__ import annotations

import numpy as np
from pyree.compiler import dtypes
from pyree.compiler.ops.common import np_dtype
from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "elementwise"


# IR op -> (ONNX op type or None, ONNX attribute defaults); the semantics and inference
# of every op are the host library's (``registry.hosted``).
UNARY = {
    "abs": ("Abs", {}),
    "neg": ("Neg", {}),
    "relu": ("Relu", {}),
    "exp": ("Exp", {}),
    "log": ("Log", {}),
    "sqrt": ("Sqrt", {}),
    "rsqrt": (None, {}),
    "reciprocal": ("Reciprocal", {}),
    "tanh": ("Tanh", {}),
    "sigmoid": ("Sigmoid", {}),
    "erf": ("Erf", {}),
    "sin": ("Sin", {}),
    "cos": ("Cos", {}),
    "tan": ("Tan", {}),
    "asin": ("Asin", {}),
    "acos": ("Acos", {}),
    "atan": ("Atan", {}),
    "sinh": ("Sinh", {}),
    "cosh": ("Cosh", {}),
    "asinh": ("Asinh", {}),
    "acosh": ("Acosh", {}),
    "atanh": ("Atanh", {}),
    "floor": ("Floor", {}),
    "ceil": ("Ceil", {}),
    "round": ("Round", {}),
    "sign": ("Sign", {}),
    "not": ("Not", {}),
    "bitwise_not": ("BitwiseNot", {}),
    "softplus": ("Softplus", {}),
    "softsign": ("Softsign", {}),
    "hard_swish": ("HardSwish", {}),
    "mish": ("Mish", {}),
    "gelu": ("Gelu", {"approximate": "none"}),
    "leaky_relu": ("LeakyRelu", {"alpha": 0.01}),
    "elu": ("Elu", {"alpha": 1.0}),
    "selu": ("Selu", {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875}),
    "celu": ("Celu", {"alpha": 1.0}),
    "thresholded_relu": ("ThresholdedRelu", {"alpha": 1.0}),
    "hard_sigmoid": ("HardSigmoid", {"alpha": 0.2, "beta": 0.5}),
    "shrink": ("Shrink", {"bias": 0.0, "lambd": 0.5}),
}
PREDICATES = {
    "isnan": ("IsNaN", {}),
    "isinf": ("IsInf", {"detect_positive": 1, "detect_negative": 1}),
}
BINARY = {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "min": None,
    "max": None,
    "mod": "Mod",
    "and": "And",
    "or": "Or",
    "xor": "Xor",
    "bitwise_and": "BitwiseAnd",
    "bitwise_or": "BitwiseOr",
    "bitwise_xor": "BitwiseXor",
    "prelu": None,
}
COMPARE = {
    "eq": "Equal",
    "lt": "Less",
    "le": "LessOrEqual",
    "gt": "Greater",
    "ge": "GreaterOrEqual",
}


for _name in (*UNARY, *PREDICATES, *BINARY, *COMPARE, "pow", "bit_shift", "select", "clip",
              "cast"):
    define(_name, FAMILY, "elementwise", *hosted(_name))


# -- ONNX import rules ---------------------------------------------------------------------
def _simple(ir_name, defaults):
    def rule(ctx):
        attrs = {k: ctx.attr(k, d) for k, d in defaults.items()}
        ctx.forward(ir_name, n_out=1, **attrs)
    return rule


for _table in (UNARY, PREDICATES):
    for _name, (_onnx, _defaults) in _table.items():
        if _onnx:
            onnx_rule(FAMILY, _onnx)(_simple(_name, _defaults))
for _name, _onnx in BINARY.items():
    if _onnx:
        onnx_rule(FAMILY, _onnx)(_simple(_name, {"fmod": 0} if _name == "mod" else {}))
for _name, _onnx in COMPARE.items():
    onnx_rule(FAMILY, _onnx)(_simple(_name, {}))
onnx_rule(FAMILY, "BitShift")(_simple("bit_shift", {"direction": "LEFT"}))
onnx_rule(FAMILY, "Pow")(_simple("pow", {}))


@onnx_rule(FAMILY, "PRelu")
def _prelu(ctx):
    ctx.forward("prelu", n_out=1)


@onnx_rule(FAMILY, "Where")
def _where(ctx):
    ctx.forward("select")


@onnx_rule(FAMILY, "Sum", "Mean", "Max", "Min")
def _variadic(ctx):
    op = {"Sum": "add", "Mean": "add", "Max": "max", "Min": "min"}[ctx.op_type]
    acc = ctx.input(0)
    for other in ctx.inputs[1:]:
        acc = ctx.emit(op, [acc, other])
    if ctx.op_type == "Mean":
        count = ctx.constant(np.array(len(ctx.inputs), np_dtype(ctx.type(0).dtype)))
        acc = ctx.emit("div", [acc, count])
    elif len(ctx.inputs) == 1:
        acc = ctx.emit("max", [acc, acc]) if op != "add" else ctx.emit("identity", [acc])
    ctx.set_output(0, acc)


@onnx_rule(FAMILY, "Clip")
def _clip_rule(ctx):
    dtype = np_dtype(ctx.type(0).dtype)
    if ctx.opset < 11:
        lo, hi = ctx.attr("min"), ctx.attr("max")
        inputs = [ctx.input(0),
                  ctx.constant(np.array(lo, dtype)) if lo is not None else "",
                  ctx.constant(np.array(hi, dtype)) if hi is not None else ""]
    else:
        inputs = [ctx.input(0), ctx.input(1), ctx.input(2)]
    while inputs and not inputs[-1]:
        inputs.pop()
    ctx.forward("clip", inputs)


@onnx_rule(FAMILY, "Cast", "CastLike")
def _cast_rule(ctx):
    if ctx.op_type == "Cast":
        to = dtypes.from_onnx(ctx.attr("to"))
    else:
        to = ctx.type(1).dtype
    if to == "f8e8m0":
        ctx.fail("casting to float8e8m0 (round_mode) is not supported")
    ctx.forward("cast", [ctx.input(0)], to=to, saturate=ctx.attr("saturate", 1))
