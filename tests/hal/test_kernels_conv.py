"""The ``conv`` and ``pool`` bodies (spec/executables.md 6.5, 6.6): numerics against plain
numpy oracles, format validation (rejections name the JSON path), dispatch-time shape
checks, exact required extents (a short binding is OUT_OF_RANGE before any kernel runs),
and dispatch through command buffers on every driver.

Sizes come from push constants and the kernel source is the same for every spatial rank,
so the module-scoped executable compiles one conv kernel per (dtype, epilogue) and one
pool kernel per (dtype, op).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.kernels.library import conv as conv_lib
from pyree.modules.hal.kernels.spatial_layout import out_dim

from pyree.status import InvalidArgumentError, OutOfRangeError, ResourceExhaustedError

from . import cts
from .cts import ANY, buffer, execute

device = cts.device

# Every epilogue step, in an order whose result stays informative.
STEPS = [{"op": "channel_add", "binding": 3}, {"op": "channel_mul", "binding": 4},
         {"op": "channel_sub", "binding": 5}, {"op": "mul", "binding": 6},
         {"op": "add", "binding": 7}, {"op": "leaky_relu", "alpha": 0.25},
         {"op": "clip", "min": -1.5, "max": "inf"}, {"op": "relu"}, {"op": "sigmoid"}]


def _pcs(start, count):
    return [{"pc": start + i} for i in range(count)]


def conv_function(name, nd, dtype, epilogue, block=False):
    """Push constants: N C M Cg G, I*nd, K*nd, O*nd, S*nd, D*nd, P*2nd, rows (then the
    channel block when ``block``; its epilogue stops before the sigmoid, so that integer
    data gives exact results)."""
    n, c, m, cg, g = _pcs(0, 5)
    i, k, o, s, d = (_pcs(5 + j * nd, nd) for j in range(5))
    p = _pcs(5 + 5 * nd, 2 * nd)
    out = [n, m, *o]
    binds = [{"index": 0, "type": dtype, "access": "read", "shape": [n, c, *i]},
             {"index": 1, "type": dtype, "access": "read", "shape": [m, cg, *k]},
             {"index": 2, "type": dtype, "access": "write", "shape": out}]
    if epilogue:
        binds += [{"index": j, "type": dtype, "access": "read", "shape": [m]} for j in (3, 4, 5)]
        binds += [{"index": j, "type": dtype, "access": "read", "shape": out} for j in (6, 7)]
    body = {"kind": "conv", "input": 0, "weights": 1, "output": 2, "group": g,
            "strides": s, "dilations": d, "pads": p}
    if epilogue:
        body["epilogue"] = copy.deepcopy(STEPS[:-1] if block else STEPS)
    if block:
        body["channel_block"] = {"pc": 5 + 7 * nd + 1}
    return {"name": name, "push_constants": ["x"] * (5 + 7 * nd + 1 + block),
            "bindings": binds, "items_per_workgroup": {"pc": 5 + 7 * nd}, "body": body}


def pool_function(name, nd, dtype, op, **extra):
    """Push constants: N C, I*nd, O*nd, K*nd, S*nd, D*nd, P*2nd, rows."""
    n, c = _pcs(0, 2)
    i, o, k, s, d = (_pcs(2 + j * nd, nd) for j in range(5))
    p = _pcs(2 + 5 * nd, 2 * nd)
    binds = [{"index": 0, "type": dtype, "access": "read", "shape": [n, c, *i]},
             {"index": 1, "type": dtype, "access": "write", "shape": [n, c, *o]}]
    body = {"kind": "pool", "op": op, "input": 0, "output": 1, "kernel": k, "strides": s,
            "dilations": d, "pads": p, **extra}
    return {"name": name, "push_constants": ["x"] * (2 + 7 * nd + 1), "bindings": binds,
            "items_per_workgroup": {"pc": 2 + 7 * nd}, "body": body}


FUNCTIONS = [conv_function(f"conv{nd}d", nd, "f32", True) for nd in (1, 2, 3)] + \
    [conv_function("conv2d_f64", 2, "f64", False),
     conv_function("conv2d_blocks", 2, "f32", True, block=True),
     conv_function("conv2d_blocks_f64", 2, "f64", False, block=True)] + \
    [pool_function(f"{op}{nd}d", nd, "f32", op) for op in ("max", "average", "lp")
     for nd in (1, 2, 3)] + \
    [pool_function("average2d_cip_f64", 2, "f64", "average", count_include_pad=True),
     pool_function("lp2d_p3", 2, "f32", "lp", p=3)]


@pytest.fixture(scope="module")
def exe():
    return Executable.create(fmt.FORMAT, fmt.serialize({"version": 1,
                                                        "functions": FUNCTIONS}))


# -- oracles -----------------------------------------------------------------------------

def _taps(xp, kernel, strides, dilations, out):
    """(tap index, view of xp at that tap for every output position)."""
    for kidx in np.ndindex(*kernel):
        index = (slice(None), slice(None)) + tuple(
            slice(kidx[j] * dilations[j], kidx[j] * dilations[j] + (out[j] - 1) * strides[j] + 1,
                  strides[j]) for j in range(len(kernel)))
        yield kidx, xp[index]


def _padded(x, kernel, strides, dilations, pads, out, fill, extra_fill):
    nd = x.ndim - 2
    width = [(0, 0), (0, 0)] + [(pads[j], pads[j + nd]) for j in range(nd)]
    xp = np.pad(x, width, constant_values=fill)
    need = [(out[j] - 1) * strides[j] + (kernel[j] - 1) * dilations[j] + 1 for j in range(nd)]
    extra = [(0, 0), (0, 0)] + [(0, max(0, need[j] - xp.shape[2 + j])) for j in range(nd)]
    return np.pad(xp, extra, constant_values=extra_fill)


def conv_ref(x, w, group, strides, dilations, pads):
    nd = x.ndim - 2
    kernel = w.shape[2:]
    out = [out_dim(x.shape[2 + j], kernel[j], strides[j], dilations[j], pads[j], pads[j + nd])
           for j in range(nd)]
    xp = _padded(x.astype(np.float64), kernel, strides, dilations, pads, out, 0, 0)
    n, m = x.shape[0], w.shape[0]
    cg, mg = w.shape[1], m // group
    y = np.zeros((n, group, mg, *out))
    wg = w.astype(np.float64).reshape(group, mg, cg, *kernel)
    for kidx, tap in _taps(xp, kernel, strides, dilations, out):
        tap = tap.reshape(n, group, cg, *out)
        y += np.einsum("ngc...,gmc->ngm...", tap, wg[(slice(None),) * 3 + kidx])
    return y.reshape(n, m, *out)


def epilogue_ref(y, ops):
    shape = (1, -1) + (1,) * (y.ndim - 2)
    y = y + ops[0].reshape(shape)
    y = y * ops[1].reshape(shape)
    y = y - ops[2].reshape(shape)
    y = y * ops[3] + ops[4]
    y = np.where(y < 0, y * 0.25, y)
    y = np.maximum(y, -1.5)
    y = np.maximum(y, 0)
    return 1 / (1 + np.exp(-y))


def pool_ref(x, op, kernel, strides, dilations, pads, out, cip=False, p=2.0):
    x = x.astype(np.float64)
    x.ndim - 2
    if op == "max":
        xp = _padded(x, kernel, strides, dilations, pads, out, -np.inf, -np.inf)
        return np.stack([t for _, t in _taps(xp, kernel, strides, dilations, out)]).max(0)
    source = np.abs(x) ** p if op == "lp" else x
    xp = _padded(source, kernel, strides, dilations, pads, out, 0, 0)
    total = sum(t for _, t in _taps(xp, kernel, strides, dilations, out))
    if op == "lp":
        return total ** (1 / p)
    ones = _padded(np.ones((1, 1) + x.shape[2:]), kernel, strides, dilations, pads, out,
                   1 if cip else 0, 0)
    count = sum(t for _, t in _taps(ones, kernel, strides, dilations, out))
    return total / np.maximum(count, 1)


# -- helpers -----------------------------------------------------------------------------

def raw(a) -> np.ndarray:
    return np.frombuffer(np.ascontiguousarray(a).tobytes(), np.uint8).copy()


def conv_constants(xs, ws, group, strides, dilations, pads, per):
    nd = len(xs) - 2
    out = [out_dim(xs[2 + j], ws[2 + j], strides[j], dilations[j], pads[j], pads[j + nd])
           for j in range(nd)]
    consts = [xs[0], xs[1], ws[0], ws[1], group, *xs[2:], *ws[2:], *out, *strides,
              *dilations, *pads, per]
    rows = xs[0] * group * math.prod(out[:-1])
    return consts, out, rows


CONV_CASES = {   # x shape, w shape, group, strides, dilations, pads, rows per workgroup
    "1d": ((2, 3, 11), (5, 3, 4), 1, [2], [2], [3, 1], 2),
    "2d-im2col": ((2, 4, 9, 10), (16, 2, 3, 3), 2, [2, 1], [1, 2], [1, 0, 2, 1], 3),
    "2d-depthwise": ((1, 8, 7, 7), (8, 1, 3, 3), 8, [1, 1], [1, 1], [1, 1, 1, 1], 4),
    "2d-1x1": ((1, 16, 6, 5), (32, 16, 1, 1), 1, [1, 1], [1, 1], [0, 0, 0, 0], 5),
    "2d-direct-stride": ((2, 3, 8, 9), (4, 3, 2, 3), 1, [3, 2], [1, 1], [2, 2, 0, 1], 1),
    "2d-pad-wider-than-kernel": ((1, 2, 3, 3), (8, 2, 2, 2), 1, [1, 1], [1, 1], [3, 3, 3, 3],
                                 7),
    "3d": ((1, 2, 5, 6, 7), (9, 2, 2, 3, 2), 1, [1, 2, 1], [2, 1, 1], [1, 0, 1, 1, 1, 0], 3),
    # 1x1 read in place by BLAS: batch 2, 2 groups, 3-row segments crossing planes
    "2d-1x1-batch-groups": ((2, 16, 5, 7), (32, 8, 1, 1), 2, [1, 1], [1, 1], [0, 0, 0, 0], 3),
    # 1x1x1 with a padded end in depth: not a plain product (output planes past the input)
    "3d-1x1-depth-end-pad": ((1, 8, 3, 4, 5), (8, 8, 1, 1, 1), 1, [1, 1, 1], [1, 1, 1],
                             [0, 0, 0, 2, 0, 0], 4),
    # padded-plane direct path: strides, dilations, asymmetric pads, multiplier > 1
    "2d-depthwise-stride-dilation": ((2, 6, 9, 11), (6, 1, 3, 3), 6, [2, 1], [2, 1],
                                     [2, 1, 1, 2], 3),
    "2d-depthwise-multiplier": ((1, 4, 8, 8), (12, 1, 3, 3), 4, [1, 1], [1, 1],
                                [1, 1, 1, 1], 5),
    "2d-grouped-direct": ((2, 6, 7, 6), (6, 3, 2, 3), 2, [1, 1], [1, 2], [0, 2, 1, 0], 4),
    # padded planes over segments that span depth planes; depth end padding: row by row
    "3d-depthwise-planes": ((1, 4, 3, 5, 6), (4, 1, 1, 3, 3), 4, [1, 1, 1], [1, 1, 1],
                            [0, 1, 1, 0, 1, 1], 7),
    "3d-depthwise-depth-pad": ((1, 4, 3, 5, 6), (4, 1, 1, 3, 3), 4, [1, 1, 1], [1, 1, 1],
                               [0, 1, 1, 1, 1, 1], 4),
    # a padded plane far larger than the segment (huge dilation and pads): row by row
    "2d-depthwise-huge-dilation": ((1, 2, 3, 3), (2, 1, 3, 3), 2, [1, 1], [60, 60],
                                   [120, 120, 120, 120], 1),
}

# The strategy each case runs (spatial_layout._strategy): 0 im2col (in place for a 1x1),
# 1 row-by-row direct, 2 padded-plane direct.
CONV_STRATEGY = {"1d": 2, "2d-im2col": 0, "2d-depthwise": 2, "2d-1x1": 0,
                 "2d-direct-stride": 2, "2d-pad-wider-than-kernel": 0, "3d": 0,
                 "2d-1x1-batch-groups": 0, "3d-1x1-depth-end-pad": 0,
                 "2d-depthwise-stride-dilation": 2, "2d-depthwise-multiplier": 2,
                 "2d-grouped-direct": 2, "3d-depthwise-planes": 2, "3d-depthwise-depth-pad": 1,
                 "2d-depthwise-huge-dilation": 1}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_f32_with_every_epilogue_step_matches_numpy(exe, case):
    xs, ws, group, strides, dilations, pads, per = CONV_CASES[case]
    rng = np.random.default_rng(len(case))
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    consts, out, rows = conv_constants(xs, ws, group, strides, dilations, pads, per)
    m = ws[0]
    oshape = (xs[0], m, *out)
    ops = [rng.standard_normal(m).astype(np.float32) for _ in range(3)] + \
        [rng.standard_normal(oshape).astype(np.float32) for _ in range(2)]
    y = np.zeros(math.prod(oshape) * 4, np.uint8)
    exe.dispatch(exe.lookup_function(f"conv{len(xs) - 2}d"), (-(-rows // per), 1, 1),
                 consts, [raw(x), raw(w), y, *map(raw, ops)])
    want = epilogue_ref(conv_ref(x, w, group, strides, dilations, pads), ops)
    np.testing.assert_allclose(y.view(np.float32).reshape(oshape), want, rtol=2e-5,
                               atol=2e-5)


@pytest.mark.parametrize("case", ["2d-im2col", "2d-depthwise", "2d-direct-stride",
                                  "2d-1x1", "2d-1x1-batch-groups",
                                  "2d-depthwise-stride-dilation", "2d-depthwise-multiplier",
                                  "2d-grouped-direct"])
def test_conv_f64_matches_numpy(exe, case):
    xs, ws, group, strides, dilations, pads, per = CONV_CASES[case]
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    consts, out, rows = conv_constants(xs, ws, group, strides, dilations, pads, per)
    y = np.zeros(math.prod((xs[0], ws[0], *out)) * 8, np.uint8)
    exe.dispatch(exe.lookup_function("conv2d_f64"), (-(-rows // per), 1, 1), consts,
                 [raw(x), raw(w), y])
    np.testing.assert_allclose(y.view(np.float64).reshape(xs[0], ws[0], *out),
                               conv_ref(x, w, group, strides, dilations, pads), rtol=1e-12,
                               atol=1e-12)


def test_conv_cases_run_the_strategy_they_are_named_for(exe):
    index = conv_lib.NAMES.index("direct")
    for case, want in CONV_STRATEGY.items():
        xs, ws, group, strides, dilations, pads, per = CONV_CASES[case]
        consts, _out, rows = conv_constants(xs, ws, group, strides, dilations, pads, per)
        reqs = exe.validate_dispatch(exe.lookup_function(f"conv{len(xs) - 2}d"),
                                     (-(-rows // per), 1, 1), consts)
        assert int(reqs.launch.params[index]) == want, case


def test_conv_residual_sharing_the_output_bytes_is_read_before_it_is_overwritten(exe):
    """An in-place residual (``y += conv(x)``: the ``add`` operand is the output buffer
    itself) reads each residual value before the product lands there."""
    for case in ("2d-1x1-batch-groups", "2d-im2col", "2d-depthwise-multiplier"):
        xs, ws, group, strides, dilations, pads, per = CONV_CASES[case]
        consts, out, rows = conv_constants(xs, ws, group, strides, dilations, pads, per)
        rng = np.random.default_rng(3)
        x, w = (rng.standard_normal(s).astype(np.float32) for s in (xs, ws))
        oshape = (xs[0], ws[0], *out)
        ops = [rng.standard_normal(ws[0]).astype(np.float32) for _ in range(3)] + \
            [rng.standard_normal(oshape).astype(np.float32) for _ in range(2)]
        y = raw(ops[4])
        exe.dispatch(exe.lookup_function(f"conv{len(xs) - 2}d"), (-(-rows // per), 1, 1),
                     consts, [raw(x), raw(w), y, *map(raw, ops[:4]), y])
        want = epilogue_ref(conv_ref(x, w, group, strides, dilations, pads), ops)
        np.testing.assert_allclose(y.view(np.float32).reshape(oshape), want, rtol=2e-5,
                                   atol=2e-5, err_msg=case)


POOL_CASES = {   # x shape, kernel, strides, dilations, pads, ceil_mode, rows per workgroup
    "1d": ((1, 2, 13), [3], [2], [1], [1, 1], True, 3),
    "2d": ((2, 3, 9, 10), [3, 3], [2, 2], [1, 1], [1, 1, 1, 1], True, 4),
    "2d-dilated": ((1, 2, 7, 8), [2, 3], [2, 2], [2, 1], [0, 1, 1, 0], False, 1),
    "2d-global": ((1, 4, 6, 5), [6, 5], [1, 1], [1, 1], [0, 0, 0, 0], False, 2),
    "3d": ((1, 2, 5, 6, 7), [2, 2, 3], [2, 1, 2], [1, 2, 1], [1, 0, 1, 0, 1, 1], True, 5),
}


def pool_constants(xs, kernel, strides, dilations, pads, ceil_mode, per):
    nd = len(xs) - 2
    out = [out_dim(xs[2 + j], kernel[j], strides[j], dilations[j], pads[j], pads[j + nd],
                   ceil_mode) for j in range(nd)]
    consts = [*xs, *out, *kernel, *strides, *dilations, *pads, per]
    return consts, out, xs[0] * xs[1] * math.prod(out[:-1])


@pytest.mark.parametrize("op", ["max", "average", "lp"])
@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pool_f32_matches_numpy(exe, case, op):
    xs, kernel, strides, dilations, pads, ceil_mode, per = POOL_CASES[case]
    x = np.random.default_rng(3).standard_normal(xs).astype(np.float32)
    consts, out, rows = pool_constants(xs, kernel, strides, dilations, pads, ceil_mode, per)
    y = np.zeros(math.prod(xs[:2]) * math.prod(out) * 4, np.uint8)
    exe.dispatch(exe.lookup_function(f"{op}{len(xs) - 2}d"), (-(-rows // per), 1, 1), consts,
                 [raw(x), y])
    want = pool_ref(x, op, kernel, strides, dilations, pads, out)
    np.testing.assert_allclose(y.view(np.float32).reshape(*xs[:2], *out), want, rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("case", ["2d", "2d-dilated"])
def test_pool_count_include_pad_and_p(exe, case):
    xs, kernel, strides, dilations, pads, ceil_mode, per = POOL_CASES[case]
    x = np.random.default_rng(4).standard_normal(xs)
    consts, out, rows = pool_constants(xs, kernel, strides, dilations, pads, ceil_mode, per)
    y = np.zeros(math.prod(xs[:2]) * math.prod(out) * 8, np.uint8)
    exe.dispatch(exe.lookup_function("average2d_cip_f64"), (-(-rows // per), 1, 1), consts,
                 [raw(x), y])
    np.testing.assert_allclose(y.view(np.float64).reshape(*xs[:2], *out),
                               pool_ref(x, "average", kernel, strides, dilations, pads, out,
                                        cip=True), rtol=1e-13)
    x32 = x.astype(np.float32)
    y = np.zeros(y.nbytes // 2, np.uint8)
    exe.dispatch(exe.lookup_function("lp2d_p3"), (-(-rows // per), 1, 1), consts,
                 [raw(x32), y])
    np.testing.assert_allclose(y.view(np.float32).reshape(*xs[:2], *out),
                               pool_ref(x32, "lp", kernel, strides, dilations, pads, out, p=3),
                               rtol=1e-5)


def test_max_pool_propagates_nan_and_an_all_padding_window_is_minus_inf(exe):
    x = np.arange(12, dtype=np.float32).reshape(1, 1, 12)
    x[0, 0, 4] = np.nan
    # kernel 2, stride 3, pads (3, 0), ceil mode: windows start at -3, 0, 3, 6, 9
    consts = [1, 1, 12, 5, 2, 3, 1, 3, 0, 5]
    y = np.zeros(20, np.uint8)
    exe.dispatch(exe.lookup_function("max1d"), (1, 1, 1), consts, [raw(x), y])
    got = y.view(np.float32)
    assert got[0] == -np.inf and got[1] == 1 and np.isnan(got[2]) and list(got[3:]) == [7, 10]


# -- validation --------------------------------------------------------------------------

def _conv_desc():
    return {"version": 1, "functions": [conv_function("c", 2, "f32", True)]}


def _pool_desc():
    return {"version": 1, "functions": [pool_function("p", 2, "f32", "max")]}


def _set(desc_fn, path, value):
    def make():
        desc = desc_fn()
        target = desc["functions"][0]
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = copy.deepcopy(value)
        return desc
    return make


MALFORMED = {   # description, expected JSON path in the message
    "conv-unknown-key": (_set(_conv_desc, ("body", "bias"), 3), "body.'bias'"),
    "conv-missing-weights": (_set(_conv_desc, ("body", "weights"), KeyError), "body"),
    "conv-input-not-readable": (_set(_conv_desc, ("body", "input"), 2), "body.input"),
    "conv-output-read-only": (_set(_conv_desc, ("body", "output"), 0), "body.output"),
    "conv-int-type": (_set(_conv_desc, ("bindings", 0, "type"), "i32"), "body.input"),
    "conv-type-mismatch": (_set(_conv_desc, ("bindings", 1, "type"), "f64"), "body.input"),
    "conv-rank-2": (_set(_conv_desc, ("bindings", 0, "shape"), [1, 2]), "body.input"),
    "conv-weights-rank": (_set(_conv_desc, ("bindings", 1, "shape"), [1, 2, 3]),
                          "body.weights"),
    "conv-strided-binding": (_set(_conv_desc, ("bindings", 0, "strides"), [1, 1, 1, 1]),
                             "body.input"),
    "conv-strides-length": (_set(_conv_desc, ("body", "strides"), [1]), "body.strides"),
    "conv-pads-length": (_set(_conv_desc, ("body", "pads"), [0, 0]), "body.pads"),
    "conv-zero-dilation": (_set(_conv_desc, ("body", "dilations"), [1, 0]),
                           "body.dilations[1]"),
    "conv-zero-group": (_set(_conv_desc, ("body", "group"), 0), "body.group"),
    "conv-epilogue-op": (_set(_conv_desc, ("body", "epilogue", 0, "op"), "tanh"),
                         "body.epilogue[0].op"),
    "conv-epilogue-extra-key": (_set(_conv_desc, ("body", "epilogue", 7, "alpha"), 1.0),
                                "body.epilogue[7].'alpha'"),
    "conv-clip-reversed": (_set(_conv_desc, ("body", "epilogue", 6, "max"), -5.0),
                           "body.epilogue[6].min"),
    "conv-leaky-inf": (_set(_conv_desc, ("body", "epilogue", 5, "alpha"), "inf"),
                       "body.epilogue[5].alpha"),
    "conv-channel-rank": (_set(_conv_desc, ("bindings", 3, "shape"), [1, {"pc": 2}]),
                          "body.epilogue[0].binding"),
    "conv-tensor-rank": (_set(_conv_desc, ("bindings", 6, "shape"), [{"pc": 2}]),
                         "body.epilogue[3].binding"),
    "conv-epilogue-too-long": (_set(_conv_desc, ("body", "epilogue"), [{"op": "relu"}] * 17),
                               "body.epilogue"),
    "conv-zero-channel-block": (_set(_conv_desc, ("body", "channel_block"), 0),
                                "body.channel_block"),
    "pool-op": (_set(_pool_desc, ("body", "op"), "min"), "body.op"),
    "pool-kernel-length": (_set(_pool_desc, ("body", "kernel"), [2]), "body.kernel"),
    "pool-zero-kernel": (_set(_pool_desc, ("body", "kernel"), [2, 0]), "body.kernel[1]"),
    "pool-cip-on-max": (_set(_pool_desc, ("body", "count_include_pad"), True),
                        "body.count_include_pad"),
    "pool-p-on-max": (_set(_pool_desc, ("body", "p"), 2), "body.p"),
    "pool-output-rank": (_set(_pool_desc, ("bindings", 1, "shape"), [1, 1, 1]),
                         "body.output"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_body_names_the_json_path(case):
    make, path = MALFORMED[case]
    with pytest.raises(InvalidArgumentError) as info:
        fmt.parse(fmt.FORMAT, fmt.serialize(make()))
    name = "c" if case.startswith("conv") else "p"
    assert f"'{name}'" in str(info.value) and f"functions[0].{path}" in str(info.value), \
        str(info.value)


def test_lp_p_must_be_positive():
    desc = {"version": 1, "functions": [pool_function("p", 1, "f32", "lp", p=0)]}
    with pytest.raises(InvalidArgumentError, match=r"functions\[0\]\.body\.p"):
        fmt.parse(fmt.FORMAT, fmt.serialize(desc))


BASE = CONV_CASES["2d-im2col"]


def _base_consts(**change):
    xs, ws, group, strides, dilations, pads, per = BASE
    consts, out, rows = conv_constants(xs, ws, group, strides, dilations, pads, per)
    for index, value in change.items():
        consts[int(index[1:])] = value
    return consts, out, rows


@pytest.mark.parametrize("change, message", [
    ({"c4": 3}, "disagree for group"),           # group 3 does not divide C = 4
    ({"c17": 3}, "convolution gives"),           # output width
    ({"c11": 0}, "strides"),                     # stride 0
    ({"c1": 0, "c3": 0}, "at least one input channel"),   # C = Cg = 0
])
def test_conv_shapes_are_checked_at_dispatch(exe, change, message):
    consts, _out, _rows = _base_consts(**change)
    with pytest.raises(InvalidArgumentError, match=message):
        exe.validate_dispatch(exe.lookup_function("conv2d"), (4, 1, 1), consts)


def test_pool_output_shape_between_floor_and_ceil(exe):
    xs, kernel, strides, dilations, pads, _, per = POOL_CASES["2d"]
    consts, _out, _rows = pool_constants(xs, kernel, strides, dilations, pads, True, per)
    consts[5] += 1
    with pytest.raises(InvalidArgumentError, match="floor"):
        exe.validate_dispatch(exe.lookup_function("max2d"), (4, 1, 1), consts)


# -- required extents --------------------------------------------------------------------

POISON = 0xA5


def _conv_bindings(case, seed=0):
    xs, ws, group, strides, dilations, pads, per = CONV_CASES[case]
    rng = np.random.default_rng(seed)
    consts, out, rows = conv_constants(xs, ws, group, strides, dilations, pads, per)
    oshape = (xs[0], ws[0], *out)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws), np.zeros(oshape)] + \
        [rng.standard_normal(ws[0]) for _ in range(3)] + \
        [rng.standard_normal(oshape) for _ in range(2)]
    bufs = [raw(a.astype(np.float32)) for a in arrays]
    bufs[2][:] = POISON
    return consts, rows, per, bufs


@pytest.mark.parametrize("case", ["2d-im2col", "2d-depthwise", "3d", "2d-1x1-batch-groups",
                                  "2d-depthwise-stride-dilation", "3d-depthwise-planes"])
def test_conv_output_extent_is_exact_for_every_prefix_of_workgroups(exe, case):
    fid = exe.lookup_function(f"conv{len(CONV_CASES[case][0]) - 2}d")
    consts, rows, per, bufs = _conv_bindings(case)
    list(_prefix_dispatches(exe, fid, consts, bufs, -(-rows // per)))   # checks each


def _prefix_dispatches(exe, fid, consts, bufs, count):
    """Dispatches 1, 2 ... ``count`` workgroups of an f32 conv whose output (binding 2,
    poisoned) and residuals (6, 7) are required up to exactly the last value written;
    yields ``(workgroups, requirements)`` of each."""
    for groups in range(1, count + 1):
        out = bufs[2].copy()
        reqs = exe.validate_dispatch(fid, (groups, 1, 1), consts)
        exe.dispatch(fid, (groups, 1, 1), consts, bufs[:2] + [out] + bufs[3:])
        written = np.flatnonzero(out.reshape(-1, 4).view(np.uint32)[:, 0] != 0xA5A5A5A5)
        assert reqs.required_bytes[2] == (written[-1] + 1) * 4
        assert reqs.required_bytes[6] == reqs.required_bytes[7] == reqs.required_bytes[2]
        yield groups, reqs


@pytest.mark.parametrize("binding", range(8))
def test_conv_short_binding_is_out_of_range_before_the_kernel_runs(exe, binding):
    fid = exe.lookup_function("conv2d")
    consts, rows, per, bufs = _conv_bindings("2d-im2col")
    wg = (-(-rows // per), 1, 1)
    required = exe.validate_dispatch(fid, wg, consts).required_bytes
    assert required[binding] == len(bufs[binding])     # the full dispatch reads everything
    bufs[binding] = bufs[binding][:required[binding] - 4]
    out = bufs[2]
    before = out.copy()
    with pytest.raises(OutOfRangeError, match=f"binding {binding}"):
        exe.dispatch(fid, wg, consts, bufs)
    np.testing.assert_array_equal(out, before)


def test_conv_partial_dispatch_needs_only_the_touched_blocks(exe):
    """Rows of image 0, group 0 only: the input's group-0 channels, the weights of group 0,
    the per-channel operands of its output channels."""
    fid = exe.lookup_function("conv2d")
    xs, ws, group, _strides, _dilations, _pads, _wg_rows = CONV_CASES["2d-im2col"]
    consts, _rows, _per, _bufs = _conv_bindings("2d-im2col")
    req = exe.validate_dispatch(fid, (1, 1, 1), consts).required_bytes
    mg, cg = ws[0] // group, ws[1]
    assert req[0] == cg * math.prod(xs[2:]) * 4
    assert req[1] == mg * cg * math.prod(ws[2:]) * 4
    assert req[3] == req[4] == req[5] == mg * 4


def test_pool_extents_exact_for_outputs_and_per_plane_for_inputs(exe):
    xs, kernel, strides, dilations, pads, ceil_mode, per = POOL_CASES["2d"]
    consts, out, rows = pool_constants(xs, kernel, strides, dilations, pads, ceil_mode, per)
    fid = exe.lookup_function("average2d")
    x = raw(np.ones(xs, np.float32))
    plane = math.prod(out)
    for groups in (1, 2, -(-rows // per)):
        req = exe.validate_dispatch(fid, (groups, 1, 1), consts).required_bytes
        covered = min(rows, groups * per)
        assert req[1] == covered * out[-1] * 4
        assert req[0] == (-(-covered * out[-1] // plane)) * math.prod(xs[2:]) * 4
    y = np.full(req[1] - 4, POISON, np.uint8)
    with pytest.raises(OutOfRangeError, match="binding 1"):
        exe.dispatch(fid, (groups, 1, 1), consts, [x, y])
    assert (y == POISON).all()
    with pytest.raises(OutOfRangeError, match="binding 0"):
        exe.dispatch(fid, (groups, 1, 1), consts, [x[:-4], np.zeros(req[1], np.uint8)])


# -- drivers -----------------------------------------------------------------------------

def test_conv_and_pool_through_command_buffers(device, exe):
    case = "2d-im2col"
    xs, ws, group, strides, dilations, pads, per = CONV_CASES[case]
    consts, rows, per, bufs = _conv_bindings(case, seed=5)
    hal = [buffer(device, len(b), fill=b) for b in bufs]
    pxs, kernel, pstrides, pdil, ppads, ceil_mode, pper = POOL_CASES["2d"]
    pconsts, pout, prows = pool_constants(pxs, kernel, pstrides, pdil, ppads, ceil_mode, pper)
    px = np.random.default_rng(6).standard_normal(pxs).astype(np.float32)
    pin = buffer(device, px.nbytes, fill=raw(px))
    pres = buffer(device, math.prod(pxs[:2]) * math.prod(pout) * 4)
    cb = device.create_command_buffer(0, ANY)
    cb.dispatch(exe, exe.lookup_function("conv2d"), (-(-rows // per), 1, 1), 0, consts,
                [(0, b, 0, -1) for b in hal])
    cb.dispatch(exe, exe.lookup_function("max2d"), (-(-prows // pper), 1, 1), 0, pconsts,
                [(0, pin, 0, -1), (0, pres, 0, -1)])
    cb.finalize()
    execute(device, cb)
    arrays = [np.frombuffer(b, np.float32) for b in bufs]
    y = conv_ref(arrays[0].reshape(xs), arrays[1].reshape(ws), group, strides, dilations, pads)
    want = epilogue_ref(y, [arrays[3], arrays[4], arrays[5], arrays[6].reshape(y.shape),
                            arrays[7].reshape(y.shape)])
    np.testing.assert_allclose(np.frombuffer(hal[2].read(), np.float32).reshape(y.shape), want,
                               rtol=2e-5, atol=2e-5)
    np.testing.assert_array_equal(
        np.frombuffer(pres.read(), np.float32).reshape(*pxs[:2], *pout),
        pool_ref(px, "max", kernel, pstrides, pdil, ppads, pout).astype(np.float32))


# -- properties --------------------------------------------------------------------------

@st.composite
def conv_geometries(draw):
    group = draw(st.integers(1, 3))
    cg, mg = draw(st.integers(1, 3)), draw(st.integers(1, 9))
    kernel = [draw(st.integers(1, 3)) for _ in range(2)]
    strides = [draw(st.integers(1, 3)) for _ in range(2)]
    dilations = [draw(st.integers(1, 2)) for _ in range(2)]
    pads = [draw(st.integers(0, 3)) for _ in range(4)]
    spatial = [draw(st.integers(1, 7)) for _ in range(2)]
    for j in range(2):   # keep at least one output position
        spatial[j] = max(spatial[j], (kernel[j] - 1) * dilations[j] + 1 - pads[j] - pads[j + 2])
    xs = (draw(st.integers(1, 2)), group * cg, *spatial)
    ws = (group * mg, cg, *kernel)
    return xs, ws, group, strides, dilations, pads, draw(st.integers(1, 4))


@settings(max_examples=30, derandomize=True)
@given(geometry=conv_geometries(), data=st.data())
def test_conv_any_geometry_and_workgroup_prefix(exe, geometry, data):
    """f64 conv vs the oracle on the covered rows; bytes past the required output extent
    stay untouched."""
    xs, ws, group, strides, dilations, pads, per = geometry
    consts, out, rows = conv_constants(xs, ws, group, strides, dilations, pads, per)
    groups = data.draw(st.integers(1, -(-rows // per)))
    oshape = (xs[0], ws[0], *out)
    x, w, got, required = _f64_prefix(exe, "conv2d_f64", consts, xs, oshape, ws, groups)
    want = conv_ref(x, w, group, strides, dilations, pads)
    covered = min(rows, groups * per)
    mg, row_len = ws[0] // group, out[-1]
    for item in range(covered):       # item = (n, g, oh)
        ng, oh = divmod(item, rows // (xs[0] * group))
        n, g = divmod(ng, group)
        block = (n, slice(g * mg, (g + 1) * mg), oh)
        np.testing.assert_allclose(got[block], want[block], rtol=1e-12, atol=1e-12)
    assert required == ((np.ravel_multi_index((n, g * mg + mg - 1, oh, row_len - 1), oshape)
                         + 1) * 8)


def _f64_prefix(exe, name, consts, xs, oshape, ws, groups):
    """``groups`` workgroups of f64 conv ``name`` on random data into a poisoned output,
    whose bytes past the required output extent stay untouched: (x, w, output, required
    output bytes)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    y = np.full(math.prod(oshape) * 8, POISON, np.uint8)
    fid = exe.lookup_function(name)
    required = exe.validate_dispatch(fid, (groups, 1, 1), consts).required_bytes[2]
    exe.dispatch(fid, (groups, 1, 1), consts, [raw(x), raw(w), y])
    assert (y[required:] == POISON).all()
    return x, w, y.view(np.float64).reshape(oshape), required


def test_conv_workgroup_scratch_is_bounded(exe):
    """A description asking for a huge patch matrix per workgroup is RESOURCE_EXHAUSTED at
    dispatch instead of an allocation inside the kernel."""
    xs, ws = (1, 4096, 1, 70000), (8, 4096, 1, 3)
    consts, _out, _rows = conv_constants(xs, ws, 1, [1, 1], [1, 1], [0, 0, 0, 0], 1)
    with pytest.raises(ResourceExhaustedError, match="scratch"):
        exe.validate_dispatch(exe.lookup_function("conv2d"), (1, 1, 1), consts)


# -- output channel blocks ---------------------------------------------------------------

BLOCK_CASES = {   # x shape, w shape, group, strides, dilations, pads, rows per wg, block
    # 1x1 read in place, batch 2, 30 channels in blocks of 12, 12, 6, whole planes
    "1x1-batch": ((2, 16, 7, 7), (30, 16, 1, 1), 1, [1, 1], [1, 1], [0, 0, 0, 0], 7, 12),
    # im2col with padding, 2 groups of 20 channels in blocks of 8, 8, 4, 3-row segments
    "3x3-pad-groups": ((1, 8, 7, 6), (40, 4, 3, 3), 2, [1, 1], [1, 1], [1, 1, 1, 1], 3, 8),
    # strides, dilations, asymmetric pads, 9 channels per group in blocks of 8 and 1
    "strided-dilated": ((2, 6, 9, 10), (18, 3, 3, 2), 2, [2, 3], [1, 2], [2, 0, 1, 1], 2,
                        8),
    # 3 channels per group in blocks of 2 and 1: the padded-plane direct path
    "depthwise-multiplier": ((1, 4, 8, 8), (12, 1, 3, 3), 4, [1, 1], [1, 1], [1, 1, 1, 1],
                             5, 2),
    # a block larger than the group: one block (no split)
    "block-past-group": ((1, 6, 5, 5), (10, 6, 3, 3), 1, [1, 1], [1, 1], [1, 1, 1, 1], 2,
                         64),
}
BLOCK_STRATEGY = {"1x1-batch": 0, "3x3-pad-groups": 0, "strided-dilated": 0,
                  "depthwise-multiplier": 2, "block-past-group": 0}


def block_constants(case):
    xs, ws, group, strides, dilations, pads, per, cb = BLOCK_CASES[case]
    consts, out, _rows = conv_constants(xs, ws, group, strides, dilations, pads, per)
    mg = ws[0] // group
    items = xs[0] * group * -(-mg // min(cb, mg)) * math.prod(out[:-1])
    return consts + [cb], out, items, per


def _int_data(rng, shape):
    """Small integers: every product and sum is exact in f32, so results are exact."""
    return rng.integers(-3, 4, shape).astype(np.float32)


@pytest.mark.parametrize("case", sorted(BLOCK_CASES))
def test_conv_channel_blocks_match_numpy_exactly(exe, case):
    """Items over output channel blocks (incl. a short last block, groups, strides, pads,
    batch, the direct path) with every epilogue step but the sigmoid, residuals included:
    bit for bit the float64 oracle's values, on integer data."""
    xs, ws, group, strides, dilations, pads, per, cb = BLOCK_CASES[case]
    consts, out, items, per = block_constants(case)
    rng = np.random.default_rng(len(case))
    x, w = _int_data(rng, xs), _int_data(rng, ws)
    m = ws[0]
    oshape = (xs[0], m, *out)
    ops = [_int_data(rng, m) for _ in range(3)] + [_int_data(rng, oshape) for _ in range(2)]
    fid = exe.lookup_function("conv2d_blocks")
    reqs = exe.validate_dispatch(fid, (-(-items // per), 1, 1), consts)
    assert int(reqs.launch.params[conv_lib.NAMES.index("direct")]) == BLOCK_STRATEGY[case]
    assert int(reqs.launch.params[conv_lib.NAMES.index("cb")]) == min(cb, m // group)
    y = np.zeros(math.prod(oshape) * 4, np.uint8)
    exe.dispatch(fid, (-(-items // per), 1, 1), consts, [raw(x), raw(w), y, *map(raw, ops)])
    want = conv_ref(x, w, group, strides, dilations, pads)
    shape = (1, -1, 1, 1)
    want = ((want + ops[0].reshape(shape)) * ops[1].reshape(shape) - ops[2].reshape(shape)) \
        * ops[3] + ops[4]
    want = np.maximum(np.maximum(np.where(want < 0, want * 0.25, want), -1.5), 0)
    np.testing.assert_array_equal(y.view(np.float32).reshape(oshape), want.astype(np.float32))


@pytest.mark.parametrize("case", sorted(BLOCK_CASES))
def test_conv_channel_block_extents_are_exact_for_every_prefix_of_workgroups(exe, case):
    """Output and residual extents end at the last value written; per-channel operands at
    the last touched channel (the last channel of the last touched block)."""
    xs, ws, group, _s, _d, _p, _per, cb = BLOCK_CASES[case]
    consts, out, items, per = block_constants(case)
    rng = np.random.default_rng(1)
    oshape = (xs[0], ws[0], *out)
    bufs = [raw(rng.standard_normal(s).astype(np.float32))
            for s in (xs, ws, oshape, ws[0], ws[0], ws[0], oshape, oshape)]
    bufs[2][:] = POISON
    fid = exe.lookup_function("conv2d_blocks")
    mg = ws[0] // group
    cb = min(cb, mg)
    plane_rows = math.prod(out[:-1])
    for groups, reqs in _prefix_dispatches(exe, fid, consts, bufs, -(-items // per)):
        seg = (min(items, groups * per) - 1) // plane_rows        # (n, g, block)
        ng, b = divmod(seg, -(-mg // cb))
        top = ws[0] if ng >= group else (ng % group) * mg + min(mg, (b + 1) * cb)
        assert reqs.required_bytes[3] == top * 4


def test_conv_channel_block_must_be_positive_at_dispatch(exe):
    consts, _out, _items, _per = block_constants("1x1-batch")
    consts[-1] = 0
    with pytest.raises(InvalidArgumentError, match="channel_block evaluates to 0"):
        exe.validate_dispatch(exe.lookup_function("conv2d_blocks"), (1, 1, 1), consts)


@settings(max_examples=30, derandomize=True)
@given(geometry=conv_geometries(), data=st.data())
def test_conv_channel_blocks_any_geometry_and_workgroup_prefix(exe, geometry, data):
    """f64 conv with any channel block vs the oracle on the covered items ``(n, g, block,
    oh)``; bytes past the required output extent stay untouched."""
    xs, ws, group, strides, dilations, pads, per = geometry
    mg = ws[0] // group
    cb = data.draw(st.integers(1, mg + 1))
    nb = -(-mg // min(cb, mg))
    consts, out, rows = conv_constants(xs, ws, group, strides, dilations, pads, per)
    plane_rows = rows // (xs[0] * group)
    items = rows * nb
    groups = data.draw(st.integers(1, -(-items // per)))
    oshape = (xs[0], ws[0], *out)
    x, w, got, required = _f64_prefix(exe, "conv2d_blocks_f64", consts + [cb], xs, oshape,
                                      ws, groups)
    want = conv_ref(x, w, group, strides, dilations, pads)
    cb = min(cb, mg)
    top = -1
    for item in range(min(items, groups * per)):
        seg, oh = divmod(item, plane_rows)
        ng, b = divmod(seg, nb)
        n, g = divmod(ng, group)
        chans = slice(g * mg + b * cb, g * mg + min(mg, (b + 1) * cb))
        np.testing.assert_allclose(got[n, chans, oh], want[n, chans, oh], rtol=1e-12,
                                   atol=1e-12)
        top = max(top, np.ravel_multi_index((n, chans.stop - 1, oh, out[-1] - 1), oshape))
    assert required == (top + 1) * 8


def _patch_matrix(x, r0, r1, cg, kernel, strides, dilations, pads, out):
    """The im2col patch matrix ``[Cg*KK, (r1-r0)*OW]`` of output rows ``[r0, r1)`` (rows
    are ``(od, oh)`` of a 3-D output), zeros for taps in padding, built in numpy."""
    ID, IH, IW = x.shape[1:]
    OD, OH, OW = out
    KD, KH, KW = kernel
    rows = []
    for c in range(cg):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    row = []
                    for rr in range(r0, r1):
                        od, oh = divmod(rr, OH)
                        i_d = od * strides[0] - pads[0] + kd * dilations[0]
                        i_h = oh * strides[1] - pads[1] + kh * dilations[1]
                        for ow in range(OW):
                            i_w = ow * strides[2] - pads[2] + kw * dilations[2]
                            inside = 0 <= i_d < ID and 0 <= i_h < IH and 0 <= i_w < IW
                            row.append(x[c, i_d, i_h, i_w] if inside else 0)
                    rows.append(row)
    return np.array(rows, x.dtype)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_conv_tile_is_the_gemm_of_its_patch_matrix_bit_for_bit(data, dtype):
    """conv_tile's im2col product gives the bits ``gemm`` gives on a patch matrix built in
    numpy: any row segment, stride, dilation and padding, 2-D and 3-D (the patch matrix's
    rows advance without divisions; half the examples are "same" convs of width stride 1,
    whose patch rows are copied as runs of the input, ``conv_tile._runs``; a 1x1 stride-1
    conv reads the input in place)."""
    from pyree.modules.hal.kernels import gemm
    from pyree.modules.hal.kernels.conv_tile import conv_tile

    d = data.draw
    same = d(st.booleans())     # 2-D, width stride 1: output rows are runs of the input
    nd3 = not same and d(st.booleans())
    kernel = (d(st.integers(1, 2)) if nd3 else 1, d(st.integers(1, 4)),
              d(st.sampled_from([1, 3, 5])) if same else d(st.integers(1, 4)))
    strides = (d(st.integers(1, 2)) if nd3 else 1, 1 if same else d(st.integers(1, 3)),
               1 if same else d(st.integers(1, 3)))
    dilations = (1, d(st.integers(1, 2)), 1 if same else d(st.integers(1, 2)))
    pads = tuple(d(st.integers(0, k - 1)) for k in kernel)
    if same:
        pads = (0, pads[1], (kernel[2] - 1) // 2)
    size = (d(st.integers(kernel[0], 4)) if nd3 else 1, d(st.integers(4, 12)),
            d(st.integers(4, 40)))
    out = tuple((size[i] + 2 * pads[i] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1
                for i in range(3))
    assume(min(out) >= 1)
    cg, mg = d(st.integers(1, 40)), d(st.integers(1, 30))
    rows = out[0] * out[1]
    r0 = d(st.integers(0, rows - 1))
    r1 = d(st.integers(r0 + 1, rows))
    assume((r1 - r0) * out[2] >= 2)
    rng = np.random.default_rng(d(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((cg, *size)).astype(dtype)
    ck = cg * int(np.prod(kernel))
    w = rng.standard_normal((mg, ck)).astype(dtype)
    npos = (r1 - r0) * out[2]
    got = np.full(mg * npos, np.nan, dtype)
    cols = np.empty(max(1, ck * npos), dtype)
    conv_tile(x.ravel(), w.ravel(), 0, 0, r0, r1, cg, mg, *size, *out, *kernel, *strides,
              *dilations, *pads, 0, cols, got, 0, npos)
    patches = _patch_matrix(x, r0, r1, cg, kernel, strides, dilations, pads, out)
    want = np.full(mg * npos, np.nan, dtype)
    gemm.gemm(mg, npos, ck, w.ravel(), 0, ck, 1, patches.ravel(), 0, npos, 1, want, 0, npos)
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    assert np.allclose(got, (w @ patches).ravel(), rtol=1e-4 if dtype == np.float32 else 1e-10,
                       atol=1e-4 if dtype == np.float32 else 1e-10)
