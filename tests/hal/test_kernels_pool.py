"""Max pooling is exact: every width-stride case of the kernel's tap loop (1, 2 and the
general one) gives numpy's window maximum bit for bit, NaN wherever a window holds one,
``-inf`` for a window with no tap in the input, in f32 and f64 (spec/executables.md 6.6).
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
        functions = [pool_function(f"max1d_{t}", 1, t, "max") for t in ("f32", "f64")]
        _EXE["exe"] = Executable.create(fmt.FORMAT, fmt.serialize({"version": 1,
                                                                   "functions": functions}))
    return _EXE["exe"]


def test_pool_kernels_compile():
    """Compiles the two kernels outside the property's deadline."""
    assert _exe().lookup_function("max1d_f64") is not None


@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 40), kernel=st.integers(1, 4), stride=st.integers(1, 3),
       dilation=st.integers(1, 2), pad_begin=st.integers(0, 3), pad_end=st.integers(0, 3),
       ceil_mode=st.booleans(), dtype=st.sampled_from(["float32", "float64"]),
       specials=st.lists(st.tuples(st.integers(0, 39),
                                   st.sampled_from([np.nan, np.inf, -np.inf, -0.0])),
                         max_size=4),
       channels=st.integers(1, 3), per=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_max_pool_is_numpys_window_maximum(width, kernel, stride, dilation, pad_begin,
                                           pad_end, ceil_mode, dtype, specials, channels,
                                           per, seed):
    extent = (kernel - 1) * dilation + 1
    assume(width + pad_begin + pad_end >= extent)  # at least one window
    assume(max(pad_begin, pad_end) < kernel)  # as onnxruntime requires
    xs = (2, channels, width)
    x = np.random.default_rng(seed).standard_normal(xs).astype(dtype)
    for position, value in specials:
        x.reshape(-1, width)[position % (2 * channels), position % width] = value
    pads = [pad_begin, pad_end]
    consts, out, rows = pool_constants(xs, [kernel], [stride], [dilation], pads, ceil_mode,
                                       per)
    itemsize = np.dtype(dtype).itemsize
    y = np.zeros(math.prod(xs[:2]) * math.prod(out) * itemsize, np.uint8)
    exe = _exe()
    tag = "f32" if dtype == "float32" else "f64"
    exe.dispatch(exe.lookup_function(f"max1d_{tag}"), (-(-rows // per), 1, 1), consts,
                 [raw(x), y])
    want = pool_ref(x, "max", [kernel], [stride], [dilation], pads, out)
    got = y.view(dtype).reshape(*xs[:2], *out)
    np.testing.assert_array_equal(got, want.astype(dtype))
