"""IR elementwise ops as pyree-kernels-v1 expressions, with the IR reference's semantics.

``TRANSLATE[op](node, args, out)`` builds the expression of one IR node from its operand
expressions (``None`` for an absent optional operand) and its output element type, or
returns ``None`` when v1 cannot compute exactly what ``compiler/ops`` defines (the region
then falls back to a library lowering). Ops v1 lacks decompose into v1 operators
(``leaky_relu`` is ``select(x < 0, x * alpha, x)``, ``clip`` is ``max``/``min``, ``gelu``
uses ``erf`` ...); an attribute that is a Python float is a constant of the operand type,
which is what numpy's weak scalar promotion computes in the reference. Ops whose v1
operator is missing from the kernel table (``kernels.ops.OPS``) are not translated.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from pyree.modules.hal.kernels import ops as kops

from .v1_expr import FLOATS, INTS, UINTS, X, cast, cmp, const, like, op, select

TRANSLATE: dict[str, Callable] = {}
NUMERIC = FLOATS | INTS


def _has(*names: str) -> bool:
    return all(n in kops.OPS for n in names)


def translates(*names: str):
    def register(fn):
        for name in names:
            TRANSLATE[name] = fn
        return fn
    return register


def _direct(v1: str, kinds: frozenset):
    def fn(node, args, out):
        if not _has(v1) or args[0].dtype not in kinds or any(a.dtype != args[0].dtype
                                                               for a in args):
            return None
        return op(v1, *args)
    return fn


for _ir, _v1, _kinds in (
        ("add", "add", NUMERIC), ("sub", "sub", NUMERIC), ("mul", "mul", NUMERIC),
        ("div", "div", NUMERIC), ("min", "min", NUMERIC), ("max", "max", NUMERIC),
        ("neg", "neg", NUMERIC), ("abs", "abs", NUMERIC), ("relu", "relu", NUMERIC),
        ("exp", "exp", FLOATS), ("log", "log", FLOATS), ("sqrt", "sqrt", FLOATS),
        ("rsqrt", "rsqrt", FLOATS), ("tanh", "tanh", FLOATS), ("sigmoid", "sigmoid", FLOATS),
        ("erf", "erf", FLOATS), ("and", "and", {"i1"}), ("or", "or", {"i1"}),
        ("xor", "xor", {"i1"}), ("not", "not", {"i1"}),
        ("bitwise_and", "and", INTS | {"i1"}), ("bitwise_or", "or", INTS | {"i1"}),
        ("bitwise_xor", "xor", INTS | {"i1"}), ("bitwise_not", "not", INTS | {"i1"}),
        ("sin", "sin", FLOATS), ("cos", "cos", FLOATS), ("tan", "tan", FLOATS),
        ("asin", "asin", FLOATS), ("acos", "acos", FLOATS), ("atan", "atan", FLOATS),
        ("sinh", "sinh", FLOATS), ("cosh", "cosh", FLOATS), ("asinh", "asinh", FLOATS),
        ("acosh", "acosh", FLOATS), ("atanh", "atanh", FLOATS),
        ("floor", "floor", FLOATS), ("ceil", "ceil", FLOATS), ("round", "round", FLOATS)):
    TRANSLATE[_ir] = _direct(_v1, frozenset(_kinds))



def _compare(pred: str):
    def fn(node, args, out):
        return cmp(pred, *args) if args[0].dtype == args[1].dtype else None
    return fn


for _pred in ("eq", "lt", "le", "gt", "ge"):
    TRANSLATE[_pred] = _compare(_pred)


@translates("floor", "ceil", "round")
def _integral(node, args, out):
    (x,) = args
    if x.dtype in INTS or x.dtype == "i1":
        return x        # numpy: floor/ceil/round of an integer is the integer
    return op(node.op, x) if _has(node.op) else None


@translates("select")
def _select(node, args, out):
    c, a, b = args
    return select(c, a, b) if c.dtype == "i1" and a.dtype == b.dtype else None


@translates("cast")
def _cast(node, args, out):
    return cast(args[0], out)


@translates("broadcast_to")
def _broadcast(node, args, out):
    return args[0]


@translates("clip")
def _clip(node, args, out):
    x = args[0]
    if x.dtype == "i1":
        return None
    lo = args[1] if len(args) > 1 else None
    hi = args[2] if len(args) > 2 else None
    if lo is not None:
        x = op("max", x, cast(lo, x.dtype))
    if hi is not None:
        x = op("min", x, cast(hi, x.dtype))
    return x


@translates("reciprocal")
def _reciprocal(node, args, out):
    (x,) = args
    return op("div", like(1, x), x) if x.dtype in FLOATS else None


@translates("pow")
def _pow(node, args, out):
    a, b = args
    if a.dtype == "i1" or b.dtype == "i1":
        return None
    if a.dtype in INTS and b.dtype in INTS:
        work = "f64"
    else:
        work = np.result_type(_np(a.dtype), _np(b.dtype)).name
        work = {"float32": "f32", "float64": "f64"}.get(work)
        if work is None:
            return None
    return cast(op("pow", cast(a, work), cast(b, work)), out)


def _np(dtype: str):
    from pyree.compiler import dtypes
    return dtypes.to_numpy(dtype)


def _float_attr_op(build):
    """A float activation with float attributes; integer operands compute in f64 and
    truncate back, as numpy does in the reference (int array * Python float is f64)."""
    def fn(node, args, out):
        (x,) = args
        if x.dtype == "i1":
            return None
        work = x.dtype if x.dtype in FLOATS else "f64"
        y = build(node, cast(x, work))
        return None if y is None else cast(y, out)
    return fn


def _expm1(x: X) -> X:
    return op("expm1", x)


def _log1p(x: X) -> X:
    return op("log1p", x)


def _only_float(build):
    def fn(node, args, out):
        (x,) = args
        if x.dtype not in FLOATS or (not _has("expm1", "log1p") and node.op in _NEEDS_PRECISE):
            return None
        return build(node, x)
    return fn


_NEEDS_PRECISE = frozenset({"elu", "selu", "celu", "softplus", "mish"})

TRANSLATE["leaky_relu"] = _float_attr_op(lambda n, x: select(
    cmp("lt", x, like(0, x)), op("mul", x, like(n.attr("alpha"), x)), x))
TRANSLATE["elu"] = _only_float(lambda n, x: select(
    cmp("lt", x, like(0, x)), op("mul", like(n.attr("alpha"), x), _expm1(x)), x))
TRANSLATE["selu"] = _only_float(lambda n, x: op("mul", like(n.attr("gamma"), x), select(
    cmp("le", x, like(0, x)), op("mul", like(n.attr("alpha"), x), _expm1(x)), x)))
TRANSLATE["celu"] = _only_float(lambda n, x: op(
    "add", op("max", like(0, x), x), op("min", like(0, x), op(
        "mul", like(n.attr("alpha"), x), _expm1(op("div", x, like(n.attr("alpha"), x)))))))
TRANSLATE["thresholded_relu"] = _float_attr_op(lambda n, x: select(
    cmp("gt", x, like(n.attr("alpha"), x)), x, like(0, x)))
TRANSLATE["hard_sigmoid"] = _only_float(lambda n, x: op("min", op("max", op(
    "add", op("mul", like(n.attr("alpha"), x), x), like(n.attr("beta"), x)), like(0, x)),
    like(1, x)))
TRANSLATE["hard_swish"] = _only_float(lambda n, x: op("mul", x, op("min", op("max", op(
    "add", op("div", x, like(6, x)), like(0.5, x)), like(0, x)), like(1, x))))
TRANSLATE["softplus"] = _only_float(lambda n, x: _log1p(op("exp", x)))
TRANSLATE["softsign"] = _only_float(lambda n, x: op(
    "div", x, op("add", like(1, x), op("abs", x))))
TRANSLATE["mish"] = _only_float(lambda n, x: op("mul", x, op("tanh", _log1p(op("exp", x)))))


@translates("gelu")
def _gelu(node, args, out):
    (x,) = args
    if x.dtype not in FLOATS:
        return None
    half = op("mul", like(0.5, x), x)
    if node.attr("approximate") == "tanh":
        cube = op("mul", op("mul", x, x), x)
        inner = op("mul", like(math.sqrt(2 / math.pi), x),
                   op("add", x, op("mul", like(0.044715, x), cube)))
        return op("mul", half, op("add", like(1, x), op("tanh", inner)))
    return op("mul", half, op("add", like(1, x), op(
        "erf", op("div", x, like(math.sqrt(2), x)))))


@translates("shrink")
def _shrink(node, args, out):
    (x,) = args
    if x.dtype == "i1":
        return None
    w = cast(x, x.dtype if x.dtype in FLOATS else "f64")
    lambd, bias = like(node.attr("lambd"), w), like(node.attr("bias"), w)
    y = select(cmp("lt", w, op("neg", lambd)), op("add", w, bias),
               select(cmp("gt", w, lambd), op("sub", w, bias), like(0, w)))
    return cast(y, out)


@translates("prelu")
def _prelu(node, args, out):
    a, b = args
    if a.dtype == "i1" or a.dtype != b.dtype:
        return None
    return select(cmp("lt", a, like(0, a)), op("mul", a, b), a)


@translates("sign")
def _sign(node, args, out):
    (x,) = args
    if x.dtype == "i1":
        return None
    one, zero = like(1, x), like(0, x)
    if x.dtype in UINTS:
        return select(cmp("gt", x, zero), one, zero)
    inner = select(cmp("lt", x, zero), like(-1, x), zero)
    y = select(cmp("gt", x, zero), one, inner)
    if x.dtype in FLOATS:       # NaN stays NaN
        y = select(cmp("ne", x, x), x, y)
    return y


@translates("isnan")
def _isnan(node, args, out):
    (x,) = args
    return cmp("ne", x, x) if x.dtype in FLOATS else const(0, "i1") if x.dtype != "i1" \
        else None


@translates("isinf")
def _isinf(node, args, out):
    (x,) = args
    if x.dtype not in FLOATS:
        return const(0, "i1") if x.dtype in INTS else None
    terms = []
    if node.attr("detect_positive"):
        terms.append(cmp("eq", x, like(np.inf, x)))
    if node.attr("detect_negative"):
        terms.append(cmp("eq", x, like(-np.inf, x)))
    if not terms:
        return const(0, "i1")
    return terms[0] if len(terms) == 1 else op("or", *terms)


@translates("mod")
def _mod(node, args, out):
    a, b = args
    if a.dtype != b.dtype or a.dtype == "i1":
        return None
    name = "fmod" if node.attr("fmod") else "mod"
    return op(name, a, b) if _has(name) else None


@translates("bit_shift")
def _bit_shift(node, args, out):
    a, b = args
    name = "shl" if node.attr("direction") == "LEFT" else "shr"
    if a.dtype != b.dtype or a.dtype not in INTS or not _has(name) or \
            (a.dtype not in UINTS and "sint" not in kops.OPS[name].kinds):
        return None
    return op(name, a, b)

