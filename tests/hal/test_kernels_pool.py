"""Pooling against numpy: max pooling is exact in every width-stride case of the
kernel's tap loop (1, 2 and the general one) and in the one-window-per-row (global) loop,
numpy's window maximum bit for bit, NaN wherever a window holds one, ``-inf`` for a window
with no tap in the input, in f32 and f64; average pooling sums the same taps
(spec/executables.md 6.6).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.executable import Executable

from .test_kernels_conv import pool_constants, pool_function, pool_ref, raw

_EXE = {}


def _exe():
    if not _EXE:
        functions = [pool_function(f"{op}2d_{t}", 2, t, op) for t in ("f32", "f64")
                     for op in ("max", "average")]
        _EXE["exe"] = Executable.create(fmt.FORMAT, fmt.serialize({"version": 1,
                                                                   "functions": functions}))
    return _EXE["exe"]


def test_pool_kernels_compile():
    """Compiles the kernels outside the property's deadline."""
    assert _exe().lookup_function("average2d_f64") is not None


def _window(size: int):
    """(kernel, stride, dilation, pad_begin, pad_end) along one axis of extent ``size``,
    a window that fits the padded extent with pads smaller than the kernel (as
    onnxruntime requires)."""
    return st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 2),
                     st.integers(0, 3), st.integers(0, 3)).filter(
        lambda w: max(w[3], w[4]) < w[0] and size + w[3] + w[4] >= (w[0] - 1) * w[2] + 1)


@st.composite
def pools(draw):
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 30))
    global_ = draw(st.booleans())   # one window per row: the whole width
    h = draw(_window(height))
    w = (width, 1, 1, 0, 0) if global_ else draw(_window(width))
    return height, width, h, w


@settings(max_examples=60, deadline=None)
@given(shape=pools(), ceil_mode=st.booleans(), dtype=st.sampled_from(["float32", "float64"]),
       specials=st.lists(st.tuples(st.integers(0, 10**6),
                                   st.sampled_from([np.nan, np.inf, -np.inf, -0.0])),
                         max_size=4),
       channels=st.integers(1, 3), per=st.integers(1, 4), seed=st.integers(0, 2**16),
       op=st.sampled_from(["max", "average"]))
def test_pool_matches_numpy(shape, ceil_mode, dtype, specials, channels, per, seed, op):
    height, width, h, w = shape
    xs = (2, channels, height, width)
    x = np.random.default_rng(seed).standard_normal(xs).astype(dtype)
    for position, value in specials:
        x.reshape(-1)[position % x.size] = value
    kernel, strides, dilations = [h[0], w[0]], [h[1], w[1]], [h[2], w[2]]
    pads = [h[3], w[3], h[4], w[4]]
    consts, out, rows = pool_constants(xs, kernel, strides, dilations, pads, ceil_mode, per)
    itemsize = np.dtype(dtype).itemsize
    y = np.zeros(math.prod(xs[:2]) * math.prod(out) * itemsize, np.uint8)
    exe = _exe()
    tag = "f32" if dtype == "float32" else "f64"
    exe.dispatch(exe.lookup_function(f"{op}2d_{tag}"), (-(-rows // per), 1, 1), consts,
                 [raw(x), y])
    want = pool_ref(x, op, kernel, strides, dilations, pads, out)
    got = y.view(dtype).reshape(*xs[:2], *out)
    if op == "max":
        np.testing.assert_array_equal(got, want.astype(dtype))
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-13)
