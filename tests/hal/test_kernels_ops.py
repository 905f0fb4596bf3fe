"""The elementwise operators added for ONNX coverage (trigonometry, rounding, expm1/log1p,
mod/fmod, shifts) against numpy oracles, special values included.

One executable, one multi-output function per element type (sizes in push constants), so
the whole file costs a handful of kernel compiles.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.kernels import ops

FLOAT_UNARY = {
    "expm1": np.expm1, "log1p": np.log1p, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "floor": np.floor, "ceil": np.ceil, "round": np.rint,
}
BINARY = {"mod": np.mod, "fmod": np.fmod}
SHIFTS = {"shl": np.left_shift, "shr": np.right_shift}
FLOATS = ("f32", "f64")
INTS = ("i8", "i32", "i64", "ui8", "ui32", "ui64")
NP = {"f32": np.float32, "f64": np.float64, "i8": np.int8, "i32": np.int32, "i64": np.int64,
      "ui8": np.uint8, "ui32": np.uint32, "ui64": np.uint64}
N = 97


def _ops(t: str) -> list[str]:
    if t in FLOATS:
        return [*FLOAT_UNARY, *BINARY]
    return [*BINARY, *SHIFTS]


def _function(t: str) -> dict:
    shape = [{"pc": 0}]
    binds = [{"index": i, "type": t, "access": "read", "shape": shape} for i in (0, 1)]
    outputs = []
    for name in _ops(t):
        index = len(binds)
        binds.append({"index": index, "type": t, "access": "write", "shape": shape})
        args = [{"op": "load", "binding": 0}]
        if ops.OPS[name].arity == 2:
            args.append({"op": "load", "binding": 1})
        outputs.append({"binding": index, "value": {"op": name, "args": args}})
    return {"name": t, "push_constants": ["n"], "bindings": binds, "items_per_workgroup": 16,
            "body": {"kind": "elementwise", "shape": shape, "outputs": outputs}}


@pytest.fixture(scope="module")
def results():
    data = fmt.serialize({"version": 1,
                          "functions": [_function(t) for t in FLOATS + INTS]})
    exe = Executable.create(fmt.FORMAT, data)
    rng = np.random.default_rng(7)
    out = {}
    for t in FLOATS + INTS:
        a, b = _values(rng, t), _values(rng, t)
        if t in INTS:       # shift counts: in range, at and past the width, negative
            b[:10] = np.arange(10, dtype=b.dtype) * (np.iinfo(b.dtype).bits // 4)
            if not t.startswith("ui"):
                b[10:13] = [-1, -np.iinfo(b.dtype).bits, np.iinfo(b.dtype).bits]
        outs = [np.zeros(N, NP[t]) for _ in _ops(t)]
        arrays = [a, b, *outs]
        exe.dispatch(exe.lookup_function(t), (-(-N // 16), 1, 1), [N],
                     [x.view(np.uint8) for x in arrays])
        out[t] = (a, b, dict(zip(_ops(t), outs)))
    return out


def _values(rng, t):
    dtype = NP[t]
    if t in FLOATS:
        x = (rng.standard_normal(N) * 2).astype(dtype)
        special = [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 1.0, -1.0, np.inf, -np.inf, np.nan,
                   1e-7, -1e-7, 0.999]
        x[:len(special)] = special
        return rng.permutation(x)
    info = np.iinfo(dtype)
    x = rng.integers(max(info.min, -100), min(info.max, 100), N, endpoint=True).astype(dtype)
    special = [0, 1, info.max, info.min, info.max - 1]
    if info.min < 0:
        special += [-1, -7, 7]
    x[:len(special)] = special
    return rng.permutation(x)


CASES = [(t, name) for t in FLOATS + INTS for name in _ops(t)]


@pytest.mark.parametrize("t,name", CASES, ids=[f"{t}-{n}" for t, n in CASES])
def test_operator_matches_numpy(results, t, name):
    a, b, outs = results[t]
    got = outs[name]
    with np.errstate(all="ignore"):
        if name in FLOAT_UNARY:
            want = FLOAT_UNARY[name](a)
        elif name in SHIFTS:
            want = SHIFTS[name](a, b)
        else:
            want = BINARY[name](a, b)
            if t not in FLOATS:     # numpy: x % 0 = 0 (and MIN % -1 = 0)
                want = np.where(b == 0, 0, want).astype(a.dtype)
    want = np.asarray(want, dtype=NP[t])
    if t in FLOATS:
        rtol = 4e-7 if t == "f32" else 1e-15
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True)
        if name in ("floor", "ceil", "round", "mod", "fmod"):   # exact, zero signs too
            finite = np.isfinite(want)
            assert np.array_equal(got[finite], want[finite])
            assert np.array_equal(np.signbit(got[finite]), np.signbit(want[finite]))
    else:
        np.testing.assert_array_equal(got, want)


def test_new_operators_have_rows_and_helpers():
    for name in [*FLOAT_UNARY, *BINARY, *SHIFTS]:
        assert name in ops.OPS
    assert ops.OPS["shl"].helpers == ("sshl", "ushl")


def test_one_source_for_two_element_types_compiles_for_each():
    """Regression: a copy's generated source names no element type, so f32 and i64 copies
    share one source; each must still get a kernel compiled for its own signature."""
    def copy(t):
        shape = [{"pc": 0}]
        return {"name": f"copy_{t}", "push_constants": ["n"], "items_per_workgroup": 8,
                "bindings": [{"index": 0, "type": t, "access": "read", "shape": shape},
                             {"index": 1, "type": t, "access": "write", "shape": shape}],
                "body": {"kind": "copy", "source": 0, "target": 1}}

    for t, dtype in (("f32", np.float32), ("i64", np.int64)):
        exe = Executable.create(fmt.FORMAT, fmt.serialize({"version": 1,
                                                           "functions": [copy(t)]}))
        src, dst = np.arange(5, dtype=dtype), np.zeros(5, dtype)
        exe.dispatch(0, (1, 1, 1), [5], [src.view(np.uint8), dst.view(np.uint8)])
        np.testing.assert_array_equal(dst, src)
