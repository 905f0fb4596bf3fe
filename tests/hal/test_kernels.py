"""numba kernels against plain-numpy oracles, dispatch validation, and the disk cache.

Every kernel is compiled once per session: the module-scoped ``exe`` fixture creates one
executable holding every function under test (one multi-output elementwise function per
dtype covers every op), and shapes, strides and offsets come from push constants so one
compiled kernel serves every hypothesis example.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.executable_cache import ExecutableCache
from pyree.modules.hal.kernels import compiler, config, layout

from pyree.status import (
    InvalidArgumentError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    UseAfterReleaseError,
)

FLOAT_UNARY = ["neg", "abs", "relu", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "erf"]
FLOAT_BINARY = ["add", "sub", "mul", "div", "min", "max", "pow"]
INT_UNARY = ["neg", "abs", "relu", "not"]
INT_BINARY = ["add", "sub", "mul", "div", "min", "max", "and", "or", "xor"]
PREDS = ["eq", "ne", "lt", "le", "gt", "ge"]
EXACT = {"neg", "abs", "relu", "not", "add", "sub", "mul", "div", "min", "max", "and", "or",
         "xor", "rsqrt", "sqrt"}
A, B, C = ({"op": "load", "binding": i} for i in range(3))


def _op(name, *args, **extra):
    return {"op": name, "args": list(args), **extra}


def _ew_outputs(t: str):
    """[(output name, output type, expression)] for the elementwise test function of t."""
    flt = t.startswith("f")
    outs = [(f"u_{op}", t, _op(op, A)) for op in (FLOAT_UNARY if flt else INT_UNARY)]
    outs += [(f"b_{op}", t, _op(op, A, B)) for op in (FLOAT_BINARY if flt else INT_BINARY)]
    outs += [(f"c_{p}", "i1", _op("cmp", A, B, pred=p)) for p in PREDS]
    outs += [("select", t, _op("select", _op("cmp", A, B, pred="lt"), A, B)),
             ("const", t, _op("mul", A, {"op": "const", "type": t, "value": -3})),
             ("cast_f64" if t != "f64" else "cast_f32", "f64" if t != "f64" else "f32",
              _op("cast", A, type="f64" if t != "f64" else "f32")),
             ("cast_i1", "i1", _op("cast", A, type="i1"))]
    push = {"op": "push", "index": 8, "type": "f32" if flt else "i32"}
    if t in ("f64", "i64"):
        push = _op("cast", push, type=t)
    outs.append(("push", t, _op("sub", A, push)))
    if flt:
        outs.append(("cast_i32", "i32", _op("cast", A, type="i32")))
    else:
        outs += [("i1_and", "i1", _op("and", C, _op("cmp", A, B, pred="lt"))),
                 ("i1_not", "i1", _op("not", C)),
                 ("i1_select", t, _op("select", C, A, B)),
                 ("i1_cast", t, _op("cast", C, type=t))]
    return outs


def _ew_function(t: str) -> dict:
    it = [{"pc": i} for i in range(3)]
    binds = [{"index": 0, "type": t, "access": "read", "shape": [{"pc": i} for i in (3, 4, 5)]},
             {"index": 1, "type": t, "access": "read", "shape": [{"pc": 6}, {"pc": 7}]}]
    if not t.startswith("f"):
        binds.append({"index": 2, "type": "i1", "access": "read", "shape": it})
    outputs = []
    for name, otype, value in _ew_outputs(t):
        binds.append({"index": len(binds), "type": otype, "access": "write", "shape": it})
        outputs.append({"binding": len(binds) - 1, "value": value})
    return {"name": f"ew_{t}", "push_constants": [f"p{i}" for i in range(9)],
            "bindings": binds, "items_per_workgroup": 7,
            "body": {"kind": "elementwise", "shape": it, "outputs": outputs}}


def _strided(index, t, access, rank, first_pc):
    """A binding whose shape, strides and offset are push constants from first_pc."""
    return {"index": index, "type": t, "access": access,
            "shape": [{"pc": first_pc + d} for d in range(rank)],
            "strides": [{"pc": first_pc + rank + d} for d in range(rank)],
            "offset": {"pc": first_pc + 2 * rank}}


def _rows_function(name, t, body, target_rank):
    binds = [_strided(0, t, "read", 3, 0), _strided(1, t, "write", target_rank, 7)]
    return {"name": name, "push_constants": [f"p{i}" for i in range(8 + 2 * target_rank)],
            "bindings": binds, "items_per_workgroup": 3, "body": body}


REDUCTIONS = [("sum", "f32"), ("prod", "f32"), ("max", "f32"), ("min", "f32"),
              ("mean", "f32"), ("sum", "i32"), ("max", "i64"), ("min", "i32")]


def _functions() -> list:
    fns = [_ew_function(t) for t in ("f32", "f64", "i32", "i64")]
    for op, t in REDUCTIONS:
        fns.append(_rows_function(f"reduce_{op}_{t}", t, {
            "kind": "reduce", "op": op, "source": 0, "target": 1, "axis": 1,
            "keepdims": False}, 2))
    fns.append(_rows_function("reduce_mean_f64_keep", "f64", {
        "kind": "reduce", "op": "mean", "source": 0, "target": 1, "axis": 1,
        "keepdims": True}, 3))
    fns.append(_rows_function("softmax_f32", "f32", {
        "kind": "softmax", "source": 0, "target": 1, "axis": 1}, 3))
    pcs = [{"pc": i} for i in range(6)]
    matmul_f32 = {"name": "matmul_f32", "push_constants": ["B", "M", "K", "N", "Br", "per"],
                  "bindings": [
                      {"index": 0, "type": "f32", "access": "read", "shape": pcs[0:3]},
                      {"index": 1, "type": "f32", "access": "read",
                       "shape": [pcs[4], pcs[2], pcs[3]]},
                      {"index": 2, "type": "f32", "access": "write",
                       "shape": [pcs[0], pcs[1], pcs[3]]}],
                  "items_per_workgroup": pcs[5],
                  "body": {"kind": "matmul", "lhs": 0, "rhs": 1, "out": 2}}
    matmul_f64_tt = {
        "name": "matmul_f64_tt", "push_constants": ["B", "M", "K", "N"],
        "bindings": [
            {"index": 0, "type": "f64", "access": "read", "shape": [pcs[2], pcs[1]]},
            {"index": 1, "type": "f64", "access": "read", "shape": [pcs[0], pcs[3], pcs[2]]},
            {"index": 2, "type": "f64", "access": "readwrite",
             "shape": [pcs[0], pcs[1], pcs[3]]}],
        "items_per_workgroup": 2,
        "body": {"kind": "matmul", "lhs": 0, "rhs": 1, "out": 2, "alpha": 2.0, "beta": 0.5,
                 "transpose_lhs": True, "transpose_rhs": True}}
    fns += [matmul_f32, matmul_f64_tt]
    # the same two with column blocks (the last push constant), the f32 one with a bias +
    # relu epilogue reading its per-column operand at each block's columns
    fns.append(dict(matmul_f32, name="matmul_f32_cols",
                    push_constants=matmul_f32["push_constants"] + ["cb"],
                    bindings=matmul_f32["bindings"] + [
                        {"index": 3, "type": "f32", "access": "read", "shape": [pcs[3]]}],
                    body=dict(matmul_f32["body"], column_block={"pc": 6},
                              epilogue=[{"op": "channel_add", "binding": 3},
                                        {"op": "relu"}])))
    fns.append(dict(matmul_f64_tt, name="matmul_f64_tt_cols", items_per_workgroup=3,
                    push_constants=matmul_f64_tt["push_constants"] + ["cb"],
                    body=dict(matmul_f64_tt["body"], column_block=pcs[4])))
    fns.append({"name": "copy_i32", "push_constants": [f"p{i}" for i in range(11)],
                "bindings": [_strided(0, "i32", "read", 2, 0), _strided(1, "i32", "write", 2, 5)],
                "items_per_workgroup": {"pc": 10},
                "body": {"kind": "copy", "source": 0, "target": 1}})
    fns.append({"name": "transpose_i64", "push_constants": ["d0", "d1", "d2"],
                "bindings": [{"index": 0, "type": "i64", "access": "read",
                              "shape": [{"pc": 0}, {"pc": 1}, {"pc": 2}]},
                             {"index": 1, "type": "i64", "access": "write",
                              "shape": [{"pc": 2}, {"pc": 0}, {"pc": 1}]}],
                "items_per_workgroup": 5,
                "body": {"kind": "transpose", "source": 0, "target": 1, "perm": [2, 0, 1]}})
    fns.append(_broadcast_function())
    fns.append({"name": "fill_f32", "push_constants": ["n", "value"],
                "bindings": [{"index": 0, "type": "f32", "access": "write",
                              "shape": [{"pc": 0}], "offset": 2}],
                "items_per_workgroup": 4,
                "body": {"kind": "fill", "target": 0, "value": {"push": 1}}})
    fns.append({"name": "fill_i64", "push_constants": ["n"],
                "bindings": [{"index": 0, "type": "i64", "access": "write",
                              "shape": [{"add": [{"pc": 0}, {"ec": 0}]}]}],
                "items_per_workgroup": {"ec": 0},
                "body": {"kind": "fill", "target": 0, "value": -(1 << 63)}})
    return fns


def _broadcast_function() -> dict:
    """``out = relu(x * s + t) - u``: ``s`` per channel with literal unit dims ``[C, 1, 1]``,
    ``t`` a transposed load whose dim read along the innermost iteration dim is a literal 1,
    ``u`` a binding of no dims. All three are invariant along the innermost dim."""
    d = [{"pc": i} for i in range(3)]
    return {"name": "ew_broadcast_f32", "push_constants": ["C", "H", "W"],
            "bindings": [{"index": 0, "type": "f32", "access": "read", "shape": d},
                         {"index": 1, "type": "f32", "access": "read", "shape": [d[0], 1, 1]},
                         {"index": 2, "type": "f32", "access": "read", "shape": [1, d[1], d[0]]},
                         {"index": 3, "type": "f32", "access": "read", "shape": []},
                         {"index": 4, "type": "f32", "access": "write", "shape": d}],
            "items_per_workgroup": 5,
            "body": {"kind": "elementwise", "shape": d, "outputs": [{"binding": 4, "value": _op(
                "sub", _op("relu", _op("add", _op("mul", A, B),
                                       {"op": "load", "binding": 2, "perm": [2, 1, 0]})),
                {"op": "load", "binding": 3})}]}}


@pytest.fixture(scope="module")
def exe():
    data = fmt.serialize({"version": 1, "constants": 1, "functions": _functions()})
    return Executable.create(fmt.FORMAT, data, np.array([3], "<u4").tobytes())


def u8(array) -> np.ndarray:
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def run(exe, name, arrays, push, groups=None):
    fid = exe.lookup_function(name)
    if groups is None:
        groups = (1 << 20, 1, 1)
    exe.dispatch(fid, groups, push, [u8(a) for a in arrays])


# ------------------------------------------------------------------ elementwise oracles

SPECIAL = {"f": [0.0, -0.0, 1.0, -1.0, 0.5, np.inf, -np.inf, np.nan, 2.0, 1e-3],
           "i": None}


def values(rng, t: str, shape):
    dtype = np.dtype({"f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64"}[t])
    if t.startswith("f"):
        x = (rng.standard_normal(shape) * 3).astype(dtype)
        mask = rng.random(shape) < 0.2
        x[mask] = rng.choice(SPECIAL["f"], size=int(mask.sum()))
        return x
    info = np.iinfo(dtype)
    pool = np.array([info.min, info.max, -1, 0, 1, 2, -2, 7, -7, info.min + 1], dtype=dtype)
    x = rng.integers(-50, 50, size=shape).astype(dtype)
    mask = rng.random(shape) < 0.3
    x[mask] = rng.choice(pool, size=int(mask.sum()))
    return x


def trunc_div(a, b):
    with np.errstate(all="ignore"):
        safe = np.where((b == 0) | (b == -1), 1, b)
        q = a // safe
        q = q + ((a % safe != 0) & ((a < 0) != (safe < 0))).astype(a.dtype)
        q = np.where(b == -1, (np.zeros_like(a) - a), q)
        return np.where(b == 0, 0, q).astype(a.dtype)


def oracle(name: str, a, b, c, push):
    """Plain-numpy result of output ``name`` (``a``, ``b`` already broadcast)."""
    t = a.dtype
    one = t.type(1)
    with np.errstate(all="ignore"):
        kind, _, op = name.partition("_")
        if kind == "u":
            return {"neg": lambda: -a, "abs": lambda: np.abs(a),
                    "relu": lambda: np.maximum(a, t.type(0)), "exp": lambda: np.exp(a),
                    "log": lambda: np.log(a), "sqrt": lambda: np.sqrt(a),
                    "rsqrt": lambda: one / np.sqrt(a), "tanh": lambda: np.tanh(a),
                    "sigmoid": lambda: one / (one + np.exp(-a)),
                    "erf": lambda: np.vectorize(math.erf, otypes=[t])(a),
                    "not": lambda: ~a}[op]()
        if kind == "b":
            if op == "div":
                return a / b if t.kind == "f" else trunc_div(a, b)
            if op == "pow":
                # numpy special-cases a broadcast (stride-0) exponent of 0.5 as sqrt, so
                # pow(-inf, 0.5) gives NaN instead of C's +inf; contiguous operands take
                # the elementwise powf path, which follows C.
                return np.power(np.ascontiguousarray(a), np.ascontiguousarray(b))
            return {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                    "min": np.minimum, "max": np.maximum, "pow": np.power,
                    "and": np.bitwise_and, "or": np.bitwise_or,
                    "xor": np.bitwise_xor}[op](a, b)
        if kind == "c":
            return {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                    "gt": np.greater, "ge": np.greater_equal}[op](a, b)
        if name == "select":
            return np.where(a < b, a, b)
        if name == "const":
            return a * t.type(-3)
        if name.startswith("cast_"):
            target = {"f64": np.float64, "f32": np.float32, "i32": np.int32,
                      "i1": np.bool_}[name[5:]]
            return a != 0 if target is np.bool_ else a.astype(target)
        if name == "push":
            if t.kind == "f":
                value = np.uint32(push).view(np.float32)
            else:
                value = np.int64(np.uint32(push).view(np.int32))
            return a - t.type(value)
        if name == "i1_and":
            return c & (a < b)
        if name == "i1_not":
            return ~c
        if name == "i1_select":
            return np.where(c, a, b)
        if name == "i1_cast":
            return c.astype(t)
    raise AssertionError(name)


def check(name, got, want, t, a):
    if got.dtype == np.uint8:          # i1 storage
        got = got.astype(bool)
    if name == "cast_i32":             # float -> int of NaN / out of range is unspecified
        ok = np.isfinite(a) & (np.abs(a) < 2.0 ** 31 - 128)
        got, want = got[ok], want[ok]
    if name.partition("_")[2] in EXACT or not t.startswith("f") or \
            name in ("select", "const", "push") or name.startswith(("c_", "cast")):
        np.testing.assert_array_equal(got, want, err_msg=name)
    else:
        rtol = 4e-6 if t == "f32" else 1e-13
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-3, err_msg=name)


@st.composite
def broadcast_case(draw):
    dims = draw(st.lists(st.integers(0, 5), min_size=3, max_size=3))
    a_shape = [d if draw(st.booleans()) else 1 for d in dims]
    b_shape = [d if draw(st.booleans()) else 1 for d in dims[1:]]
    return dims, a_shape, b_shape, draw(st.integers(0, 2 ** 32 - 1)), draw(st.integers(0, 9))


@pytest.mark.parametrize("t", ["f32", "f64", "i32", "i64"])
@settings(max_examples=25)
@given(case=broadcast_case())
def test_elementwise_ops_match_numpy(exe, t, case):
    dims, a_shape, b_shape, seed, push_seed = case
    rng = np.random.default_rng(seed)
    a, b = values(rng, t, a_shape), values(rng, t, b_shape)
    c = rng.random(dims) < 0.5
    push = int(np.float32(push_seed - 4.5).view(np.uint32)) if t.startswith("f") \
        else (push_seed - 5) & 0xFFFFFFFF
    outs = _ew_outputs(t)
    dtypes = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64,
              "i1": np.uint8}
    results = [np.full(dims, 7, dtypes[otype]) for _, otype, _ in outs]
    inputs = [a, b] + ([] if t.startswith("f") else [c.astype(np.uint8)])
    run(exe, f"ew_{t}", inputs + results, (*dims, *a_shape, *b_shape, push))
    ab, bb = np.broadcast_to(a, dims), np.broadcast_to(b, dims)
    for (name, _, _), got in zip(outs, results):
        check(name, got, oracle(name, ab, bb, c, push), t, ab)


@settings(max_examples=40)
@given(dims=st.lists(st.integers(0, 9), min_size=3, max_size=3), seed=st.integers(0, 2**32 - 1))
@example(dims=[1, 2, 1], seed=0)    # W == 1 is dropped: the kernel's innermost dim is H
@example(dims=[3, 4, 1], seed=1)
@example(dims=[2, 1, 5], seed=2)
def test_operands_invariant_along_the_innermost_dim_match_numpy(exe, dims, seed):
    """Per-channel, transposed-broadcast and dimensionless operands index without an
    innermost stride term (so the loop vectorizes) when their innermost strides are 0 at
    dispatch time, with numpy's results; and with the stride term when the layout has made
    another dim innermost (a unit W is dropped, and H, along which they move, is next)."""
    rng = np.random.default_rng(seed)
    C, H, W = dims
    x = values(rng, "f32", (C, H, W))
    s, t, u = (values(rng, "f32", shape) for shape in ((C, 1, 1), (1, H, C), (1,)))
    out = np.full((C, H, W), 7, np.float32)
    run(exe, "ew_broadcast_f32", [x, s, t, u, out], (C, H, W))
    with np.errstate(all="ignore"):
        want = np.maximum(x * s + np.transpose(t, (2, 1, 0)), np.float32(0)) - u[0]
    np.testing.assert_array_equal(out, want.astype(np.float32))


def test_invariant_operands_are_indexed_without_a_stride_term():
    from pyree.modules.hal.kernels.library import elementwise

    fn = fmt.parse(fmt.FORMAT, fmt.serialize(
        {"version": 1, "functions": [_broadcast_function()]})).functions[0]
    source = compiler.generate(fn)
    assert elementwise.invariant_loads(fn, elementwise.operands(fn.body)) == {1, 2, 3}
    assert "inv = s1_2 == 0 and s2_2 == 0 and s3_2 == 0\n" in source
    assert "x0 = r0 + i * s0_2" in source and "x4 = r4 + i * s4_2" in source
    for j in (1, 2, 3):    # the variant taken when inv holds, and the general one
        assert f"x{j} = r{j}\n" in source and f"x{j} = r{j} + i * s{j}_2\n" in source


# ------------------------------------------------------------------ library kernel oracles

NP = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64}


@st.composite
def strided_case(draw, rank=3):
    """A strided view: (flat buffer size, shape, element strides, offset, seed)."""
    shape = draw(st.lists(st.integers(0, 4), min_size=rank, max_size=rank))
    order = draw(st.permutations(range(rank)))
    pad = draw(st.integers(0, 2))
    strides, step = [0] * rank, 1
    for d in reversed(order):
        strides[d] = step
        step *= shape[d] + pad
    offset = draw(st.integers(0, 3))
    return step + offset, shape, strides, offset, draw(st.integers(0, 2 ** 32 - 1))


def strided_view(flat, shape, strides, offset):
    size = flat.dtype.itemsize
    return np.lib.stride_tricks.as_strided(flat[offset:], shape, [s * size for s in strides])


def reduce_oracle(op, x, axis, keepdims):
    with np.errstate(all="ignore"):
        if x.shape[axis] == 0:
            ident = {"sum": 0, "prod": 1, "mean": np.nan}.get(op)
            if ident is None:
                lo, hi = ((-np.inf, np.inf) if x.dtype.kind == "f"
                          else (np.iinfo(x.dtype).min, np.iinfo(x.dtype).max))
                ident = lo if op == "max" else hi
            shape = list(x.shape)
            shape[axis] = 1
            out = np.full(shape, ident, dtype=x.dtype)
            return out if keepdims else out.squeeze(axis)
        fn = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "mean": np.mean}[op]
        extra = {} if op in ("max", "min") else {"dtype": x.dtype}
        return fn(x, axis=axis, keepdims=keepdims, **extra).astype(x.dtype)


@pytest.mark.parametrize("op,t", REDUCTIONS + [("mean", "f64")])
@settings(max_examples=15)
@given(case=strided_case())
def test_reduce_matches_numpy(exe, op, t, case):
    size, shape, strides, offset, seed = case
    keep = op == "mean" and t == "f64"
    rng = np.random.default_rng(seed)
    flat = values(rng, t, (size,)) if op not in ("sum", "prod", "mean") or t[0] == "i" else \
        rng.standard_normal(size).astype(NP[t])
    x = strided_view(flat, shape, strides, offset)
    want = reduce_oracle(op, x, 1, keep)
    got = np.full(want.shape, 99, NP[t])
    tstrides = layout.dense_strides(list(want.shape))
    name = "reduce_mean_f64_keep" if keep else f"reduce_{op}_{t}"
    run(exe, name, [flat, got], (*shape, *strides, offset, *want.shape, *tstrides, 0))
    if t[0] == "f" and op in ("sum", "mean", "prod"):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, want)


@settings(max_examples=25)
@given(case=strided_case())
def test_softmax_matches_numpy(exe, case):
    size, shape, strides, offset, seed = case
    flat = np.random.default_rng(seed).standard_normal(size).astype(np.float32) * 4
    x = strided_view(flat, shape, strides, offset)
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max(axis=1, keepdims=True)) if shape[1] else x.copy()
        want = e / e.sum(axis=1, keepdims=True)
    # target in a transposed (column-major) layout
    tstrides = [1, shape[0], shape[0] * shape[1]]
    out = np.full(max(1, math.prod(shape)), 5, np.float32)
    run(exe, "softmax_f32", [flat, out], (*shape, *strides, offset, *shape, *tstrides, 0))
    got = strided_view(out, shape, tstrides, 0)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


@settings(max_examples=25)
@given(st.integers(1, 3), st.integers(0, 5), st.integers(0, 4), st.integers(0, 5),
       st.booleans(), st.integers(1, 7), st.integers(0, 2 ** 32 - 1))
def test_matmul_matches_numpy(exe, batch, m, k, n, broadcast_rhs, per, seed):
    rng = np.random.default_rng(seed)
    rb = 1 if broadcast_rhs else batch
    lhs = rng.standard_normal((batch, m, k)).astype(np.float32)
    rhs = rng.standard_normal((rb, k, n)).astype(np.float32)
    out = np.full((batch, m, n), np.nan, np.float32)
    groups = (-(-batch * m // per), 1, 1)
    run(exe, "matmul_f32", [lhs, rhs, out], (batch, m, k, n, rb, per), groups)
    np.testing.assert_allclose(out, np.matmul(lhs, rhs), rtol=1e-5, atol=1e-5)


@settings(max_examples=25)
@given(st.integers(1, 3), st.integers(0, 5), st.integers(0, 4), st.integers(0, 5),
       st.integers(0, 2 ** 32 - 1))
def test_matmul_transposed_alpha_beta_matches_numpy(exe, batch, m, k, n, seed):
    rng = np.random.default_rng(seed)
    lhs_t = rng.standard_normal((k, m))               # rank 2: broadcast over the batch
    rhs_t = rng.standard_normal((batch, n, k))
    out = rng.standard_normal((batch, m, n))
    want = 2.0 * np.matmul(lhs_t.T, rhs_t.transpose(0, 2, 1)) + 0.5 * out
    run(exe, "matmul_f64_tt", [lhs_t, rhs_t, out], (batch, m, k, n), (1 << 16, 1, 1))
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=25)
@given(st.integers(1, 3), st.integers(0, 5), st.integers(0, 4), st.integers(0, 40),
       st.booleans(), st.integers(1, 7), st.integers(1, 20), st.integers(0, 2 ** 32 - 1))
def test_matmul_column_blocks_match_numpy(exe, batch, m, k, n, broadcast_rhs, per, cb, seed):
    """Items are (column block, row): every block of every row is computed once, with the
    epilogue's per-column operand read at the block's own columns."""
    rng = np.random.default_rng(seed)
    rb = 1 if broadcast_rhs else batch
    lhs = rng.standard_normal((batch, m, k)).astype(np.float32)
    rhs = rng.standard_normal((rb, k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    out = np.full((batch, m, n), np.nan, np.float32)
    blocks = -(-n // min(cb, n)) if n else 1
    groups = (-(-batch * m * blocks // per), 1, 1)
    run(exe, "matmul_f32_cols", [lhs, rhs, out, bias], (batch, m, k, n, rb, per, cb), groups)
    want = np.maximum(np.matmul(lhs, rhs) + bias, 0)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_matmul_column_block_must_be_positive_at_dispatch(exe):
    with pytest.raises(InvalidArgumentError, match="column_block evaluates to 0"):
        exe.validate_dispatch(exe.lookup_function("matmul_f32_cols"), (1, 1, 1),
                              (1, 2, 3, 4, 1, 1, 0))


@settings(max_examples=25)
@given(st.integers(1, 3), st.integers(0, 5), st.integers(0, 4), st.integers(0, 12),
       st.integers(1, 5), st.integers(0, 2 ** 32 - 1))
def test_matmul_column_blocks_transposed_alpha_beta_match_numpy(exe, batch, m, k, n, cb,
                                                                seed):
    rng = np.random.default_rng(seed)
    lhs_t = rng.standard_normal((k, m))
    rhs_t = rng.standard_normal((batch, n, k))
    out = rng.standard_normal((batch, m, n))
    want = 2.0 * np.matmul(lhs_t.T, rhs_t.transpose(0, 2, 1)) + 0.5 * out
    run(exe, "matmul_f64_tt_cols", [lhs_t, rhs_t, out], (batch, m, k, n, cb), (1 << 16, 1, 1))
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=25)
@given(st.integers(0, 6), st.integers(0, 6), st.booleans(), st.integers(1, 9))
def test_strided_copy_with_broadcast_matches_numpy(exe, rows, cols, transposed_dst, per):
    src = np.arange(rows, dtype=np.int32) * 3 - 7        # shape (rows, 1): broadcast
    dst_strides = [1, rows] if transposed_dst else [cols, 1]
    dst = np.full(rows * cols + 2, -1, np.int32)
    groups = (-(-rows * cols // per), 1, 1)
    run(exe, "copy_i32", [src, dst], (rows, 1, 1, 0, 0, rows, cols, *dst_strides, 2, per),
        groups)
    got = strided_view(dst, [rows, cols], dst_strides, 2)
    np.testing.assert_array_equal(got, np.broadcast_to(src[:, None], (rows, cols)))
    assert list(dst[:2]) == [-1, -1]


@settings(max_examples=20)
@given(st.lists(st.integers(0, 4), min_size=3, max_size=3))
def test_transpose_matches_numpy(exe, dims):
    x = np.arange(math.prod(dims), dtype=np.int64).reshape(dims) - (1 << 40)
    out = np.zeros((dims[2], dims[0], dims[1]), np.int64)
    run(exe, "transpose_i64", [x, out], tuple(dims))
    np.testing.assert_array_equal(out, np.transpose(x, (2, 0, 1)))


def test_fill_with_push_constant_and_offset(exe):
    out = np.zeros(12, np.float32)
    value = int(np.float32(-2.25).view(np.uint32))
    run(exe, "fill_f32", [out], (9, value), (2, 1, 1))   # 2 workgroups x 4 items: 8 of 9
    assert list(out) == [0, 0] + [-2.25] * 8 + [0, 0]


def test_fill_sizes_from_executable_constants(exe):
    out = np.zeros(6, np.int64)
    run(exe, "fill_i64", [out], (2,), (2, 1, 1))          # shape 2 + ec0 (3) = 5
    assert list(out) == [-(1 << 63)] * 5 + [0]


def test_workgroups_cover_a_linear_range_over_x_y_z(exe):
    n = 41                                                  # ew_i64: 7 items per workgroup
    a = np.arange(n, dtype=np.int64)
    outs = [np.full(n, 3, dtype={"i1": np.uint8, "i64": np.int64, "f64": np.float64}[ot])
            for _, ot, _ in _ew_outputs("i64")]
    c = np.zeros(n, np.uint8)
    for groups, covered in (((2, 2, 1), 28), ((1, 1, 3), 21), ((3, 1, 2), 41), ((0, 5, 5), 0)):
        for o in outs:
            o[:] = 3
        run(exe, "ew_i64", [a, a[:1], c] + outs, (1, 1, n, 1, 1, n, 1, 1, 0), groups)
        add = outs[[name for name, _, _ in _ew_outputs("i64")].index("b_add")]
        assert list(add[:covered]) == list(a[:covered] + a[0])
        assert set(add[covered:]) <= {3}


# ------------------------------------------------------------------ dispatch validation

def _copy_push(rows, cols, per=4):
    return (rows, cols, cols, 1, 0, rows, cols, cols, 1, 0, per)


def _copy_args(rows=3, cols=4):
    src = np.arange(rows * cols, dtype=np.int32)
    dst = np.zeros(rows * cols, np.int32)
    return [u8(src), u8(dst)]


def test_lookup_function(exe):
    assert exe.lookup_function("copy_i32") == exe.function_names.index("copy_i32")
    assert exe.lookup_function(b"fill_f32") == exe.function_names.index("fill_f32")
    with pytest.raises(NotFoundError, match="no function named 'nope'"):
        exe.lookup_function("nope")


@pytest.mark.parametrize("fid", [-1, 10 ** 6, True, "0", 1.0])
def test_bad_function_id_is_not_found(exe, fid):
    with pytest.raises(NotFoundError):
        exe.dispatch(fid, (1, 1, 1), _copy_push(3, 4), _copy_args())


@pytest.mark.parametrize("groups,cls", [
    ((1, 1), InvalidArgumentError), ((1, 1, 1, 1), InvalidArgumentError),
    ((-1, 1, 1), InvalidArgumentError), ((1 << 32, 1, 1), InvalidArgumentError),
    ((1.0, 1, 1), InvalidArgumentError), (None, InvalidArgumentError),
    ((1 << 20, 1 << 20, 1 << 10), OutOfRangeError)])
def test_bad_workgroup_counts(exe, groups, cls):
    with pytest.raises(cls, match="copy_i32"):
        exe.dispatch(exe.lookup_function("copy_i32"), groups, _copy_push(3, 4), _copy_args())


@pytest.mark.parametrize("push", [(), (1,) * 10, (1,) * 12, (3, 4, 4, 1, 0, 3, 4, 4, 1, 0, 2 ** 32),
                                  (3, 4, 4, 1, 0, 3, 4, 4, 1, 0, -(2 ** 31) - 1),
                                  (3, 4, 4, 1, 0, 3, 4, 4, 1, 0, 1.5)])
def test_bad_push_constants(exe, push):
    with pytest.raises(InvalidArgumentError, match="copy_i32.*push constant"):
        exe.dispatch(exe.lookup_function("copy_i32"), (4, 1, 1), push, _copy_args())


def test_binding_count(exe):
    fid = exe.lookup_function("copy_i32")
    with pytest.raises(InvalidArgumentError, match="expected 2 bindings, got 1"):
        exe.dispatch(fid, (4, 1, 1), _copy_push(3, 4), _copy_args()[:1])
    with pytest.raises(OutOfRangeError, match="binding count 33 > 32"):
        exe.dispatch(fid, (4, 1, 1), _copy_push(3, 4), _copy_args() * 16 + _copy_args()[:1])


@pytest.mark.parametrize("bad", [np.zeros(48, np.int8), np.zeros((4, 12), np.uint8),
                                 np.zeros(96, np.uint8)[::2], b"\0" * 48, None])
def test_binding_must_be_contiguous_uint8(exe, bad):
    args = _copy_args()
    with pytest.raises(InvalidArgumentError, match="binding 1 must be a contiguous 1-D uint8"):
        exe.dispatch(exe.lookup_function("copy_i32"), (4, 1, 1), _copy_push(3, 4),
                     [args[0], bad])


@pytest.mark.parametrize("binding", [0, 1])
def test_binding_one_byte_short_is_out_of_range(exe, binding):
    args = _copy_args()
    args[binding] = args[binding][:-1]
    with pytest.raises(OutOfRangeError) as info:
        exe.dispatch(exe.lookup_function("copy_i32"), (3, 1, 1), _copy_push(3, 4), args)
    assert f"'copy_i32': binding {binding} (i32) needs 48 bytes" in str(info.value)
    assert "has 47 bytes" in str(info.value)


def test_partial_grid_needs_only_the_prefix(exe):
    # 2 workgroups x 4 items = the first 8 items of 3x4: elements 0..7 (32 bytes)
    src, dst = _copy_args()
    fid = exe.lookup_function("copy_i32")
    exe.dispatch(fid, (2, 1, 1), _copy_push(3, 4), [src[:32], dst[:32]])
    assert list(dst.view(np.int32)[:8]) == list(range(8))
    with pytest.raises(OutOfRangeError, match="needs 32 bytes"):
        exe.dispatch(fid, (2, 1, 1), _copy_push(3, 4), [src[:31], dst[:32]])


def test_extents_follow_strides_and_offsets(exe):
    # column-major target with offset 5: the last item (2, 3) is at 5 + 2 + 3*3 = 16
    fid = exe.lookup_function("copy_i32")
    push = (3, 4, 4, 1, 0, 3, 4, 1, 3, 5, 4)
    reqs = exe.validate_dispatch(fid, (3, 1, 1), push)
    assert reqs.required_bytes == (48, 68) and reqs.alignment == (4, 4)
    assert reqs.writes == (False, True)
    with pytest.raises(OutOfRangeError, match="binding 1 .* needs 68 bytes"):
        exe.validate_dispatch(fid, (3, 1, 1), push, [48, 64])
    exe.validate_dispatch(fid, (3, 1, 1), push, [None, 68])


def test_zero_items_touch_nothing(exe):
    fid = exe.lookup_function("copy_i32")
    empty = np.zeros(0, np.uint8)
    assert exe.validate_dispatch(fid, (5, 1, 1), _copy_push(0, 4)).required_bytes == (0, 0)
    exe.dispatch(fid, (5, 1, 1), _copy_push(0, 4), [empty, empty])
    exe.dispatch(fid, (0, 1, 1), _copy_push(3, 4), [empty, empty])


def test_misaligned_binding(exe):
    raw = np.zeros(64, np.uint8)
    with pytest.raises(InvalidArgumentError, match="binding 0 \\(i32\\) must be 4-byte aligned"):
        exe.dispatch(exe.lookup_function("copy_i32"), (4, 1, 1), _copy_push(3, 4),
                     [raw[1:49], _copy_args()[1]])


def test_read_only_output_is_permission_denied(exe):
    src, dst = _copy_args()
    dst.flags.writeable = False
    with pytest.raises(PermissionDeniedError, match="binding 1 is written"):
        exe.dispatch(exe.lookup_function("copy_i32"), (4, 1, 1), _copy_push(3, 4), [src, dst])
    src.flags.writeable = False                     # read-only inputs are fine
    exe.dispatch(exe.lookup_function("copy_i32"), (4, 1, 1), _copy_push(3, 4),
                 [src, _copy_args()[1]])


def test_shape_mismatches_are_invalid_argument(exe):
    fid = exe.lookup_function("copy_i32")
    with pytest.raises(InvalidArgumentError, match="does not broadcast"):
        exe.validate_dispatch(fid, (4, 1, 1), (2, 4, 4, 1, 0, 3, 4, 4, 1, 0, 4))
    with pytest.raises(InvalidArgumentError, match="items_per_workgroup evaluates to 0"):
        exe.validate_dispatch(fid, (4, 1, 1), _copy_push(3, 4, 0))
    mm = exe.lookup_function("matmul_f32")
    with pytest.raises(InvalidArgumentError, match="batch 2 does not broadcast"):
        exe.validate_dispatch(mm, (1, 1, 1), (3, 2, 2, 2, 2, 1))
    red = exe.lookup_function("reduce_sum_f32")
    with pytest.raises(InvalidArgumentError, match="target binding 1 has shape"):
        exe.validate_dispatch(red, (1, 1, 1), (2, 3, 4, 12, 4, 1, 0, 2, 5, 5, 1, 0))


def test_sizes_beyond_the_index_range_are_out_of_range(exe):
    big = 2 ** 32 - 1
    push = (big, big, big, 1, 1, 1, 1, 1, 0)
    with pytest.raises(OutOfRangeError, match="'ew_f32': .* exceeds the kernel index range"):
        exe.validate_dispatch(exe.lookup_function("ew_f32"), (1, 1, 1), push)


def test_small_dispatches_run_the_serial_kernel(exe):
    # Below config.SERIAL_BELOW items (or with one workgroup) the plan picks the serial
    # variant; above it, the parallel kernel when kernels are parallel. Both are exact.
    fid = exe.lookup_function("copy_i32")
    rows, cols = 512, 128                   # 65536 items, 64 workgroups of 1024
    big = _copy_push(rows, cols, per=1024)
    assert exe.validate_dispatch(fid, (64, 1, 1), big).parallel is config.PARALLEL
    assert not exe.validate_dispatch(fid, (1, 1, 1), big).parallel      # one workgroup
    assert not exe.validate_dispatch(fid, (3, 1, 1), _copy_push(3, 4)).parallel
    for groups, push in (((64, 1, 1), big), ((1, 1, 1), big), ((3, 1, 1), _copy_push(3, 4))):
        n = min(push[0] * push[1], groups[0] * push[-1])
        src, dst = _copy_args(push[0], push[1])
        exe.dispatch(fid, groups, push, [src, dst])
        assert (dst.view(np.int32)[:n] == src.view(np.int32)[:n]).all()
        assert not dst.view(np.int32)[n:].any()


def test_released_executable(exe):
    other = Executable.create(fmt.FORMAT, fmt.serialize({
        "version": 1, "functions": [f for f in _functions() if f["name"] == "copy_i32"]}))
    other.release()
    with pytest.raises(UseAfterReleaseError):
        other.dispatch(0, (1, 1, 1), _copy_push(3, 4), _copy_args())


def test_prefix_max_matches_brute_force():
    @settings(max_examples=200)
    @given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
    def prop(dims, data):
        strides = data.draw(st.lists(st.integers(0, 20), min_size=len(dims),
                                     max_size=len(dims)))
        count = data.draw(st.integers(1, math.prod(dims)))
        index = np.indices(dims).reshape(len(dims), -1).T[:count]
        assert layout.prefix_max(dims, strides, count) == int((index @ strides).max())
    prop()


# ------------------------------------------------------------------ creation and caches

def test_executable_constants():
    data = fmt.serialize({"version": 1, "constants": 1, "functions": [
        f for f in _functions() if f["name"] == "fill_i64"]})
    with pytest.raises(InvalidArgumentError, match="4-byte elements but data length is 3"):
        Executable.create(fmt.FORMAT, data, b"\0\0\0")
    with pytest.raises(InvalidArgumentError, match="declares 1 constants, 0 given"):
        Executable.create(fmt.FORMAT, data)
    with pytest.raises(NotFoundError, match="no executable loader"):
        Executable.create("embedded-elf-x86_64", data, b"\0" * 4)
    assert Executable.create(fmt.FORMAT, data, [3]).constants == (3,)


def test_executable_cache_keys_on_format_data_and_constants():
    cache = ExecutableCache()
    data = fmt.serialize({"version": 1, "constants": 1, "functions": [
        f for f in _functions() if f["name"] == "fill_i64"]})
    first = cache.prepare(fmt.FORMAT, data, b"\3\0\0\0")
    assert cache.prepare(fmt.FORMAT, bytearray(data), [3]) is first
    assert cache.prepare(fmt.FORMAT, data, [4]) is not first
    assert (cache.hits, cache.misses, len(cache)) == (1, 2, 2)
    assert cache.can_prepare_format(fmt.FORMAT) and fmt.FORMAT in cache.formats
    with pytest.raises(NotFoundError):
        cache.prepare("static", data)
    cache.trim()
    assert len(cache) == 0


def test_generated_source_holds_no_description_text():
    hostile = "x'); import os; os.system('echo pwned') #"
    desc = {"version": 1, "functions": [{
        "name": hostile, "push_constants": [hostile], "items_per_workgroup": 3,
        "bindings": [{"index": 0, "type": "f32", "access": "read", "shape": [4]},
                     {"index": 1, "type": "f32", "access": "write", "shape": [4]}],
        "body": {"kind": "elementwise", "shape": [4], "outputs": [{"binding": 1, "value": {
            "op": "add", "args": [{"op": "load", "binding": 0},
                                  {"op": "const", "type": "f32", "value": "nan"}]}}]}}]}
    fn = fmt.parse(fmt.FORMAT, fmt.serialize(desc)).functions[0]
    source = compiler.generate(fn)
    assert "pwned" not in source and "os.system" not in source
    assert "np.float32(np.nan)" in source
    assert "b1[np.uint64(x1)] = t2" in source       # golden: one load, one const, one store


def test_config_flags_and_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PYREE_TEST_FLAG", "off")
    assert config._flag("PYREE_TEST_FLAG", True) is False
    monkeypatch.setenv("PYREE_TEST_FLAG", "1")
    assert config._flag("PYREE_TEST_FLAG", False) is True
    monkeypatch.delenv("PYREE_TEST_FLAG")
    assert config._flag("PYREE_TEST_FLAG", True) is True
    monkeypatch.setenv("PYREE_CACHE_DIR", str(tmp_path))
    assert config.kernel_source_dir() == tmp_path / "kernels"
    opts = config.njit_options()
    assert opts["fastmath"] is False and opts["error_model"] == "numpy"
    assert set(opts) == {"cache", "parallel", "fastmath", "boundscheck", "nogil",
                         "error_model"}


_CACHE_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from pyree.modules.hal import executable_format as fmt
    from pyree.modules.hal.executable import Executable
    from pyree.modules.hal.kernels import compiler
    desc = {"version": 1, "functions": [{
        "name": "scale", "push_constants": ["n"], "items_per_workgroup": 16,
        "bindings": [{"index": 0, "type": "f64", "access": "read", "shape": [{"pc": 0}]},
                     {"index": 1, "type": "f64", "access": "write", "shape": [{"pc": 0}]}],
        "body": {"kind": "elementwise", "shape": [{"pc": 0}], "outputs": [{"binding": 1,
            "value": {"op": "mul", "args": [{"op": "load", "binding": 0},
                                            {"op": "const", "type": "f64", "value": 3}]}}]}}]}
    exe = Executable.create(fmt.FORMAT, fmt.serialize(desc))
    x = np.arange(40.0)
    out = np.zeros(40)
    exe.dispatch(0, (3, 1, 1), (40,), [x.view(np.uint8), out.view(np.uint8)])
    assert list(out) == list(x * 3)
    print(json.dumps(compiler.STATS))
""")


def test_disk_cache_is_reused_across_processes(tmp_path):
    env = dict(os.environ, PYREE_CACHE_DIR=str(tmp_path), PYREE_NUMBA_PARALLEL="0")
    env.pop("NUMBA_CACHE_DIR", None)

    def child():
        done = subprocess.run([sys.executable, "-c", _CACHE_SCRIPT], env=env, check=True,
                              capture_output=True, text=True, timeout=300)
        return json.loads(done.stdout.strip().splitlines()[-1])

    first, second = child(), child()
    assert (first["compiled"], first["cache_hits"]) == (1, 0)
    assert (second["compiled"], second["cache_hits"]) == (0, 1)
    assert len(list((tmp_path / "kernels").glob("k_*.py"))) == 1
    assert any((tmp_path / "numba").rglob("*.nbi"))


_WAIT_SCRIPT = """
import os
from pyree.modules.hal.kernels import config
config.import_numba()
print(os.environ.get("OMP_WAIT_POLICY"), os.environ.get("GOMP_SPINCOUNT"))
"""


@pytest.mark.parametrize("given, want", [
    ({}, "PASSIVE 10000"),
    ({"GOMP_SPINCOUNT": "0", "OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE 0"),
])
def test_kernel_threads_spin_briefly_then_sleep_unless_the_user_says(given, want):
    """numba's OpenMP threads: a bounded spin (a launch right after another skips the
    ~100 us futex wake) then a passive wait; the user's own settings win."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(given)
    done = subprocess.run([sys.executable, "-c", _WAIT_SCRIPT], env=env, check=True,
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == want


def test_softmax_in_place_over_its_source(exe):
    """The target may be the source's own bytes (same layout): softmax reads each element
    once before writing it, and the division pass reads the target only."""
    shape = [3, 7, 2]
    x = np.random.default_rng(3).standard_normal(math.prod(shape)).astype(np.float32) * 4
    e = np.exp(x.reshape(shape) - x.reshape(shape).max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    strides = layout.dense_strides(shape)
    buf = x.copy()
    run(exe, "softmax_f32", [buf, buf], (*shape, *strides, 0, *shape, *strides, 0))
    np.testing.assert_allclose(buf.reshape(shape), want, rtol=2e-6, atol=1e-7)
