"""Building pyree-kernels-v1 elementwise expression trees (spec/executables.md 5.1).

An :class:`X` is one expression: its JSON node, its element type and the two measures the
format limits (tree size in nodes, depth). Builders never promote implicitly: operands of
an operator have one type, ``cast`` converts (as the format requires). The lowerings
compose these into ONNX semantics; ``v1_translate`` maps IR ops onto them.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

FLOATS = frozenset({"f32", "f64"})
SINTS = frozenset({"i8", "i16", "i32", "i64"})
UINTS = frozenset({"ui8", "ui16", "ui32", "ui64"})
INTS = SINTS | UINTS


@attrs.frozen
class X:
    json: dict = attrs.field(eq=False)
    dtype: str
    size: int = 1
    depth: int = 1


def _node(json: dict, dtype: str, args: tuple[X, ...] = ()) -> X:
    size = 1 + sum(a.size for a in args)
    depth = 1 + max((a.depth for a in args), default=0)
    return X(json, dtype, size, depth)


def load(binding: int, dtype: str, perm=None) -> X:
    json = {"op": "load", "binding": binding}
    if perm is not None:
        json["perm"] = list(perm)
    return _node(json, dtype)


def const(value, dtype: str) -> X:
    """A literal of ``dtype`` (numpy scalars allowed; NaN / infinities become strings)."""
    if dtype in FLOATS:
        v = float(np.asarray(value, dtype=np.float64 if dtype == "f64" else np.float32))
        if math.isnan(v):
            v = "nan"
        elif math.isinf(v):
            v = "inf" if v > 0 else "-inf"
    elif dtype == "i1":
        v = int(bool(value))
    else:
        v = int(value)
    return _node({"op": "const", "type": dtype, "value": v}, dtype)


def op(name: str, *args: X) -> X:
    dtype = args[-1].dtype
    return _node({"op": name, "args": [a.json for a in args]}, dtype, args)


def cmp(pred: str, a: X, b: X) -> X:
    return _node({"op": "cmp", "pred": pred, "args": [a.json, b.json]}, "i1", (a, b))


def cast(x: X, dtype: str) -> X:
    if x.dtype == dtype:
        return x
    return _node({"op": "cast", "type": dtype, "args": [x.json]}, dtype, (x,))


def select(c: X, a: X, b: X) -> X:
    return op("select", c, a, b)


def like(value, x: X) -> X:
    """A constant of ``x``'s type."""
    return const(value, x.dtype)


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def scalar_constant(array: np.ndarray):
    """The one value of a one-element array, as a Python number, or None."""
    if array.size != 1:
        return None
    return array.reshape(()).item()
