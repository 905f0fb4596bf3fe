"""Attribute schemas of the host-library ops, and their validation.

One row per op: attribute name -> type. Every attribute is optional in the description
(an op reads its own default when one is absent); an attribute the op does not know, or
one of the wrong type, is INVALID_ARGUMENT naming the JSON path. Types:

| type | JSON | value the op sees |
|------|------|-------------------|
| ``int`` | integer (not a boolean) | int |
| ``int?`` | integer or null | int or None |
| ``float`` | number, or ``"nan"``/``"inf"``/``"-inf"`` | float |
| ``number`` | integer, number or boolean | int, float or bool |
| ``str`` / one of a tuple of strings | string | str |
| ``dtype`` | an element type name of ``dtypes`` | str |
| ``ints`` | list of integers | tuple of int |
| ``slices`` | list of ``[start, stop or null, step]`` integer triples, step != 0 | tuple of triples |
"""

from __future__ import annotations

import math

from . import dtypes

_POOL = {"kernel": "ints", "strides": "ints", "pads": "ints", "dilations": "ints",
         "ceil_mode": "int"}
_REDUCE = {"axes": "ints", "keepdims": "int"}
_ARG = {"axis": "int", "keepdims": "int", "select_last_index": "int"}
_SCAN = {"axis": "int", "exclusive": "int", "reverse": "int"}

SCHEMAS: dict[str, dict] = {
    # elementwise
    "gelu": {"approximate": ("none", "tanh")},
    "leaky_relu": {"alpha": "float"}, "elu": {"alpha": "float"}, "celu": {"alpha": "float"},
    "selu": {"alpha": "float", "gamma": "float"},
    "thresholded_relu": {"alpha": "float"},
    "hard_sigmoid": {"alpha": "float", "beta": "float"},
    "shrink": {"bias": "float", "lambd": "float"},
    "isinf": {"detect_positive": "int", "detect_negative": "int"},
    "mod": {"fmod": "int"},
    "bit_shift": {"direction": ("LEFT", "RIGHT")},
    "cast": {"to": "dtype", "saturate": "int"},
    "broadcast_to": {"shape": "ints"},
    # data movement
    "concat": {"axis": "int"},
    "slice": {"slices": "slices"},
    "pad": {"pads": "ints", "mode": ("constant", "reflect", "edge", "wrap")},
    "tile": {"repeats": "ints"},
    "one_hot": {"depth": "int", "axis": "int"},
    "top_k": {"k": "int", "axis": "int", "largest": "int", "sorted": "int"},
    "trilu": {"upper": "int"},
    "bitcast": {"to": "dtype"},
    "reverse_sequence": {"batch_axis": "int", "time_axis": "int"},
    "gather": {"axis": "int"}, "gather_elements": {"axis": "int"},
    "gather_nd": {"batch_dims": "int"},
    "scatter_elements": {"axis": "int", "reduction": ("none", "add", "mul", "max", "min")},
    "scatter_nd": {"reduction": ("none", "add", "mul", "max", "min")},
    "shape": {"start": "int?", "end": "int?"},
    "fill": {"dtype": "dtype", "shape": "ints", "value": "number"},
    "reshape": {"shape": "ints"},
    "transpose": {"perm": "ints"},
    # nn
    "conv": {**_POOL, "group": "int"},
    "conv_transpose": {"strides": "ints", "pads": "ints", "dilations": "ints",
                       "group": "int", "output_shape": "ints", "kernel": "ints",
                       "output_padding": "ints"},
    "max_pool": {**_POOL, "storage_order": "int"},
    "average_pool": {**_POOL, "count_include_pad": "int"},
    "lp_pool": {**_POOL, "p": "int"},
    "matmul": {"transpose_a": "int", "transpose_b": "int"},
    "einsum": {"equation": "str"},
    "instance_norm": {"epsilon": "float"},
    "layer_norm": {"axis": "int", "epsilon": "float", "stash_type": "str"},
    "lrn": {"alpha": "float", "beta": "float", "bias": "float", "size": "int"},
    "lp_norm": {"axis": "int", "p": "int"},
    # reductions, scans, softmax
    **{name: _REDUCE for name in (
        "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_l1",
        "reduce_l2", "reduce_log_sum", "reduce_log_sum_exp", "reduce_sum_square")},
    "argmax": _ARG, "argmin": _ARG,
    "cumsum": _SCAN, "cumprod": _SCAN,
    "softmax": {"axis": "int"}, "log_softmax": {"axis": "int"}, "hardmax": {"axis": "int"},
    # library
    "interpolate": {"axis": "int"},
    "grid_sample": {"align_corners": "int", "mode": "str", "padding_mode": "str"},
    "dft": {"axis": "int", "inverse": "int", "length": "int", "onesided": "int"},
}


def check_attrs(chk, op: str, raw, path: str) -> dict:
    """The attributes of an ``op`` body, validated and converted (``chk``: an
    ``expr.Checker``; failures name ``path``)."""
    if not isinstance(raw, dict):
        chk.fail(path, "expected an object of attributes")
    schema = SCHEMAS.get(op, {})
    out = {}
    for key in sorted(raw):
        kpath = f"{path}.{key}"
        if key not in schema:
            known = ", ".join(sorted(schema)) or "none"
            chk.fail(kpath, f"unknown attribute for op '{op}' (it takes: {known})")
        out[key] = _value(chk, schema[key], raw[key], kpath)
    return out


def _int(chk, v, path):
    if isinstance(v, bool) or not isinstance(v, int):
        chk.fail(path, f"expected an integer, got {type(v).__name__}")
    return v


def _float(chk, v, path):
    if v in ("nan", "inf", "-inf"):
        return float(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        chk.fail(path, f"expected a number, got {type(v).__name__}")
    return float(v)


def _number(chk, v, path):
    if v in ("nan", "inf", "-inf"):
        return float(v)
    if not isinstance(v, (int, float)):
        chk.fail(path, f"expected a number, got {type(v).__name__}")
    return v


def _str(chk, v, path):
    if not isinstance(v, str):
        chk.fail(path, f"expected a string, got {type(v).__name__}")
    return v


def _dtype(chk, v, path):
    if not isinstance(v, str) or v not in dtypes.NUMPY:
        chk.fail(path, f"unknown element type {v!r}")
    return v


def _ints(chk, v, path):
    if not isinstance(v, list):
        chk.fail(path, f"expected a list of integers, got {type(v).__name__}")
    return tuple(_int(chk, x, f"{path}[{i}]") for i, x in enumerate(v))


def _slices(chk, v, path):
    if not isinstance(v, list):
        chk.fail(path, "expected a list of [start, stop, step] triples")
    out = []
    for i, t in enumerate(v):
        if not isinstance(t, list) or len(t) != 3:
            chk.fail(f"{path}[{i}]", "expected a [start, stop, step] triple")
        start = _int(chk, t[0], f"{path}[{i}][0]")
        stop = None if t[1] is None else _int(chk, t[1], f"{path}[{i}][1]")
        step = _int(chk, t[2], f"{path}[{i}][2]")
        if step == 0:
            chk.fail(f"{path}[{i}][2]", "slice step 0")
        out.append((start, stop, step))
    return tuple(out)


# attribute type -> validator (chk, JSON value, path) -> the value the op sees
VALIDATORS = {
    "int": _int,
    "int?": lambda chk, v, path: None if v is None else _int(chk, v, path),
    "float": _float, "number": _number, "str": _str, "dtype": _dtype, "ints": _ints,
    "slices": _slices,
}


def _value(chk, kind, v, path):
    if isinstance(kind, tuple):               # one of a fixed set of strings
        if not isinstance(v, str) or v not in kind:
            chk.fail(path, f"expected one of {', '.join(kind)}, got {v!r}")
        return v
    return VALIDATORS[kind](chk, v, path)


def to_json(value):
    """An attribute value as JSON data (the inverse of validation): tuples become lists,
    non-finite floats the strings ``"nan"``/``"inf"``/``"-inf"``."""
    if isinstance(value, (tuple, list)):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    return value
