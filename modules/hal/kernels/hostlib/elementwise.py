"""Elementwise ops: unary, binary (numpy broadcasting), select, clip, cast.

Every op here maps each output element to the same position of its (broadcast)
operands, so partitioning fuses chains of them into one ``elementwise`` kernel, or into
the epilogue of a matmul/conv. Binary operands must share one element type (ONNX
guarantees it; ``pow`` and ``bit_shift`` follow ONNX's own rules); comparisons yield
``i1``. Integer ``div`` truncates toward zero as the executable format does.

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/elementwise.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import math

import numpy as np

from .common import TensorType, bad, broadcast_shape, is_float, np_dtype, same_dtype, tt
from .registry import define

FAMILY = "elementwise"


def _erf(x):
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover
        return np.vectorize(math.erf, otypes=[np.float64])(x)
    return erf(x)


def _int_div(a, b):
    if is_float(a.dtype):
        return a / b
    safe = np.where(b == 0, 1, b)
    q = np.floor_divide(a, safe)
    fix = (np.remainder(a, safe) != 0) & ((a < 0) != (safe < 0))
    return np.where(b == 0, 0, q + fix.astype(q.dtype))


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


UNARY = {
    "abs": (lambda n, x: np.abs(x), "Abs", {}),
    "neg": (lambda n, x: np.negative(x), "Neg", {}),
    "relu": (lambda n, x: np.maximum(x, np.zeros((), x.dtype)), "Relu", {}),
    "exp": (lambda n, x: np.exp(x), "Exp", {}),
    "log": (lambda n, x: np.log(x), "Log", {}),
    "sqrt": (lambda n, x: np.sqrt(x), "Sqrt", {}),
    "rsqrt": (lambda n, x: 1 / np.sqrt(x), None, {}),
    "reciprocal": (lambda n, x: np.reciprocal(x), "Reciprocal", {}),
    "tanh": (lambda n, x: np.tanh(x), "Tanh", {}),
    "sigmoid": (lambda n, x: 1 / (1 + np.exp(-x)), "Sigmoid", {}),
    "erf": (lambda n, x: _erf(x), "Erf", {}),
    "sin": (lambda n, x: np.sin(x), "Sin", {}),
    "cos": (lambda n, x: np.cos(x), "Cos", {}),
    "tan": (lambda n, x: np.tan(x), "Tan", {}),
    "asin": (lambda n, x: np.arcsin(x), "Asin", {}),
    "acos": (lambda n, x: np.arccos(x), "Acos", {}),
    "atan": (lambda n, x: np.arctan(x), "Atan", {}),
    "sinh": (lambda n, x: np.sinh(x), "Sinh", {}),
    "cosh": (lambda n, x: np.cosh(x), "Cosh", {}),
    "asinh": (lambda n, x: np.arcsinh(x), "Asinh", {}),
    "acosh": (lambda n, x: np.arccosh(x), "Acosh", {}),
    "atanh": (lambda n, x: np.arctanh(x), "Atanh", {}),
    "floor": (lambda n, x: np.floor(x), "Floor", {}),
    "ceil": (lambda n, x: np.ceil(x), "Ceil", {}),
    "round": (lambda n, x: np.round(x), "Round", {}),
    "sign": (lambda n, x: np.sign(x), "Sign", {}),
    "not": (lambda n, x: np.logical_not(x), "Not", {}),
    "bitwise_not": (lambda n, x: np.invert(x), "BitwiseNot", {}),
    "softplus": (lambda n, x: np.log1p(np.exp(x)), "Softplus", {}),
    "softsign": (lambda n, x: x / (1 + np.abs(x)), "Softsign", {}),
    "hard_swish": (lambda n, x: x * np.clip(x / 6 + 0.5, 0, 1), "HardSwish", {}),
    "mish": (lambda n, x: x * np.tanh(np.log1p(np.exp(x))), "Mish", {}),
    "gelu": (lambda n, x: _gelu(x, n.attr("approximate")), "Gelu", {"approximate": "none"}),
    "leaky_relu": (lambda n, x: np.where(x < 0, x * n.attr("alpha"), x), "LeakyRelu",
                   {"alpha": 0.01}),
    "elu": (lambda n, x: np.where(x < 0, n.attr("alpha") * np.expm1(x), x), "Elu",
            {"alpha": 1.0}),
    "selu": (lambda n, x: n.attr("gamma") * np.where(
        x <= 0, n.attr("alpha") * np.expm1(x), x), "Selu",
        {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875}),
    "celu": (lambda n, x: np.maximum(0, x) + np.minimum(
        0, n.attr("alpha") * np.expm1(x / n.attr("alpha"))), "Celu", {"alpha": 1.0}),
    "thresholded_relu": (lambda n, x: np.where(x > n.attr("alpha"), x, 0), "ThresholdedRelu",
                         {"alpha": 1.0}),
    "hard_sigmoid": (lambda n, x: np.clip(n.attr("alpha") * x + n.attr("beta"), 0, 1),
                     "HardSigmoid", {"alpha": 0.2, "beta": 0.5}),
    "shrink": (lambda n, x: np.where(x < -n.attr("lambd"), x + n.attr("bias"), np.where(
        x > n.attr("lambd"), x - n.attr("bias"), 0)), "Shrink", {"bias": 0.0, "lambd": 0.5}),
}
PREDICATES = {
    "isnan": (lambda n, x: np.isnan(x), "IsNaN", {}),
    "isinf": (lambda n, x: (np.isposinf(x) & bool(n.attr("detect_positive")))
              | (np.isneginf(x) & bool(n.attr("detect_negative"))), "IsInf",
              {"detect_positive": 1, "detect_negative": 1}),
}
BINARY = {
    "add": (lambda n, a, b: a + b, "Add"),
    "sub": (lambda n, a, b: a - b, "Sub"),
    "mul": (lambda n, a, b: a * b, "Mul"),
    "div": (lambda n, a, b: _int_div(a, b), "Div"),
    "min": (lambda n, a, b: np.minimum(a, b), None),
    "max": (lambda n, a, b: np.maximum(a, b), None),
    "mod": (lambda n, a, b: np.fmod(a, b) if n.attr("fmod") else np.mod(a, b), "Mod"),
    "and": (lambda n, a, b: np.logical_and(a, b), "And"),
    "or": (lambda n, a, b: np.logical_or(a, b), "Or"),
    "xor": (lambda n, a, b: np.logical_xor(a, b), "Xor"),
    "bitwise_and": (lambda n, a, b: np.bitwise_and(a, b), "BitwiseAnd"),
    "bitwise_or": (lambda n, a, b: np.bitwise_or(a, b), "BitwiseOr"),
    "bitwise_xor": (lambda n, a, b: np.bitwise_xor(a, b), "BitwiseXor"),
    "prelu": (lambda n, a, b: np.where(a < 0, a * b, a), None),
}
COMPARE = {
    "eq": (np.equal, "Equal"), "lt": (np.less, "Less"), "le": (np.less_equal, "LessOrEqual"),
    "gt": (np.greater, "Greater"), "ge": (np.greater_equal, "GreaterOrEqual"),
}


def _infer_same(node, types):
    dtype = same_dtype(node, types)
    return [tt(dtype, broadcast_shape(node, [t.shape for t in types if t is not None]))]


def _infer_pred(node, types):
    same_dtype(node, types)
    return [tt("i1", broadcast_shape(node, [t.shape for t in types if t is not None]))]


def _ref(fn, out_dtype=None):
    def reference(node, *args):
        with np.errstate(all="ignore"):
            result = np.asarray(fn(node, *args))
        want = np_dtype(out_dtype) if out_dtype else args[0].dtype
        return result.astype(want, copy=False)
    return reference


for _name, (_fn, _, _) in UNARY.items():
    define(_name, FAMILY, "elementwise", _infer_same, _ref(_fn))
for _name, (_fn, _, _) in PREDICATES.items():
    define(_name, FAMILY, "elementwise", _infer_pred, _ref(_fn, "i1"))
for _name, (_fn, _) in BINARY.items():
    define(_name, FAMILY, "elementwise", _infer_same, _ref(_fn))
for _name, (_fn, _) in COMPARE.items():
    define(_name, FAMILY, "elementwise", _infer_pred,
           _ref(lambda n, a, b, f=_fn: f(a, b), "i1"))


def _infer_first(node, types):
    return [tt(types[0].dtype, broadcast_shape(node, [t.shape for t in types if t]))]


define("pow", FAMILY, "elementwise", _infer_first,
       _ref(lambda n, a, b: np.power(a.astype(np.float64) if a.dtype.kind in "iu"
                                     and b.dtype.kind in "iu" else a, b)))
define("bit_shift", FAMILY, "elementwise", _infer_same,
       _ref(lambda n, a, b: np.left_shift(a, b) if n.attr("direction") == "LEFT"
            else np.right_shift(a, b)))


def _infer_select(node, types):
    if types[0].dtype != "i1":
        bad(node, f"condition must be i1, got {types[0].dtype}")
    dtype = same_dtype(node, types[1:])
    return [tt(dtype, broadcast_shape(node, [t.shape for t in types]))]


define("select", FAMILY, "elementwise", _infer_select,
       lambda n, c, a, b: np.where(c, a, b))


def _clip(node, x, lo=None, hi=None):
    out = x
    if lo is not None:
        out = np.maximum(out, lo.astype(x.dtype))
    if hi is not None:
        out = np.minimum(out, hi.astype(x.dtype))
    return out


define("clip", FAMILY, "elementwise", _infer_same, _ref(_clip))


def _cast(node, x):
    to = node.attr("to")
    target = np_dtype(to)
    if to.startswith("f8") and node.attr("saturate", 1) and is_float(x.dtype):
        import ml_dtypes

        limit = float(ml_dtypes.finfo(target).max)
        x = x.astype(np.float32)
        x = np.clip(x, -limit, limit)  # saturate: infinities too
    if is_float(x.dtype) and target.kind in "iub" and target != np.bool_:
        with np.errstate(all="ignore"):
            return np.trunc(x).astype(target)
    return x.astype(target)


define("cast", FAMILY, "elementwise",
       lambda n, types: [TensorType(n.attr("to"), types[0].shape)], _cast)
