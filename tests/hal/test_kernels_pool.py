"""Pooling against numpy: max pooling is exact in every case of the kernel's two passes
(1, 2, 3 or more window rows in the input; width stride 1, 2 - the even/odd scratch - or
more; 2, 3 or other width taps; one interior output per row, as global pooling has; edge
outputs), numpy's window maximum bit for bit, NaN wherever a window holds one, ``-inf`` for
a window with no tap in the input, in f32 and f64; average pooling sums the same taps
(spec/executables.md 6.6). Rows up to 40 wide and workgroups of up to all the rows cover the
loops rounded up to 16 (reads past a row's end, writes into the workgroup's later rows); a
dispatch of a prefix of the workgroups leaves every output past them untouched, and 3-D,
lp and count_include_pad pools run the same passes. A 2-D function with ``whole_planes``
has the plane pass besides (its source shows it, a function without the field has none of
it) and gives the same results on flat pools, and on other pools, whose push constants
disagree with the flag, runs the row passes; the field's static checks name it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyree.modules.hal import executable_format as fmt
from pyree.modules.hal.executable import Executable
from pyree.modules.hal.kernels import compiler
from pyree.status import InvalidArgumentError

from .test_kernels_conv import pool_constants, pool_function, pool_ref, raw

_EXE = {}
WHOLE_PLANES = [("max2d_f32", "max", {}), ("average2d_f64", "average", {}),
                ("average2d_cip_f32", "average", {"count_include_pad": True}),
                ("lp2d_f64", "lp", {"p": 3})]
WP = [name + "_wp" for name, _, _ in WHOLE_PLANES]


# windows given as literals (as the compiler gives them): (dtype, op, kernel, strides, pads,
# body extras); the kernel is generated for the window
LITERAL = {"lit_max_k3s2p1": ("f32", "max", [3, 3], [2, 2], [1, 1, 1, 1], {}),
           "lit_average_k2s2": ("f64", "average", [2, 2], [2, 2], [0, 0, 0, 0], {}),
           "lit_average_k3s1p1_wp": ("f32", "average", [3, 3], [1, 1], [1, 1, 1, 1],
                                     {"whole_planes": True})}


def _literal_function(name, dtype, op, kernel, strides, pads, extra):
    """Push constants: N C IH IW OH OW rows."""
    shape = [{"pc": 0}, {"pc": 1}]
    return {"name": name, "push_constants": ["x"] * 7, "items_per_workgroup": {"pc": 6},
            "bindings": [{"index": 0, "type": dtype, "access": "read",
                          "shape": shape + [{"pc": 2}, {"pc": 3}]},
                         {"index": 1, "type": dtype, "access": "write",
                          "shape": shape + [{"pc": 4}, {"pc": 5}]}],
            "body": {"kind": "pool", "op": op, "input": 0, "output": 1, "kernel": kernel,
                     "strides": strides, "pads": pads, **extra}}


def _parts(name):
    """(op, spatial dims, numpy dtype) of a test function's name."""
    base = name.removesuffix("_wp")
    op = base.split("2d")[0].split("3d")[0]
    return op, 3 if "3d" in base else 2, "float64" if base.endswith("f64") else "float32"


def _exe():
    if not _EXE:
        functions = [pool_function(f"{op}2d_{t}", 2, t, op) for t in ("f32", "f64")
                     for op in ("max", "average")] + \
            [pool_function("max3d_f64", 3, "f64", "max"),
             pool_function("average3d_f32", 3, "f32", "average"),
             pool_function("average2d_cip_f32", 2, "f32", "average", count_include_pad=True),
             pool_function("lp2d_f64", 2, "f64", "lp", p=3)] + \
            [pool_function(name + "_wp", 2, name[-3:], op, whole_planes=True, **extra)
             for name, op, extra in WHOLE_PLANES] + \
            [_literal_function(name, *window) for name, window in LITERAL.items()]
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
        # the kernel adds a column's window rows, then the columns (spec 6.6): a window
        # whose taps cancel differs from numpy's tap order by a few ulps of the taps
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-13,
                                   atol=1e-6 if dtype == "float32" else 1e-14)


POISON = 1234.5


# up to three inputs set to NaN, +-inf or -0.0 (positions modulo the input's size)
SPECIALS = st.lists(st.tuples(st.integers(0, 10**6),
                              st.sampled_from([np.nan, np.inf, -np.inf, -0.0])), max_size=3)


@st.composite
def prefix_pools(draw):
    """(function, op, dtype, x shape, kernel, strides, dilations, pads, ceil mode, cip, p)."""
    name = draw(st.sampled_from(["max2d_f32", "max2d_f64", "max3d_f64", "average3d_f32",
                                 "average2d_cip_f32", "lp2d_f64", *WP]))
    op, nd, dtype = _parts(name)
    sizes = [draw(st.integers(1, 4))] if nd == 3 else []
    sizes += [draw(st.integers(1, 8)), draw(st.integers(1, 40))]
    windows = [draw(_window(size)) for size in sizes]
    kernel, strides, dilations = ([w[j] for w in windows] for j in range(3))
    pads = [w[3] for w in windows] + [w[4] for w in windows]
    xs = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *sizes)
    return (name, op, dtype, xs, kernel, strides, dilations, pads, draw(st.booleans()),
            "cip" in name, 3.0 if op == "lp" else 2.0)


@settings(max_examples=80, deadline=None)
@given(pool=prefix_pools(), data=st.data(), seed=st.integers(0, 2**16),
       specials=SPECIALS)
def test_pool_prefix_of_workgroups(pool, data, seed, specials):
    """Workgroups of 1 row to all of them, a prefix of them dispatched: the covered rows
    match numpy and every output past them keeps its poison (``whole_planes`` functions
    too: the plane pass where the pool is flat, else the row passes)."""
    name, op, dtype, xs, kernel, strides, dilations, pads, ceil_mode, cip, p = pool
    x = np.random.default_rng(seed).standard_normal(xs).astype(dtype)
    if op == "max":
        for position, value in specials:
            x.reshape(-1)[position % x.size] = value
    consts, out, rows = pool_constants(xs, kernel, strides, dilations, pads, ceil_mode, 1)
    per = data.draw(st.integers(1, rows), label="per")
    consts[-1] = per
    groups = data.draw(st.integers(1, -(-rows // per)), label="workgroups")
    want = pool_ref(x, op, kernel, strides, dilations, pads, out, cip=cip, p=p)
    _check_prefix(name, op, x, consts, out, rows, per, groups, want)


def _check_prefix(name, op, x, consts, out, rows, per, groups, want):
    """Dispatches the first ``groups`` workgroups of ``per`` rows of pool ``name`` on
    ``x``: the covered rows match ``want`` (max bit for bit) and every output past them
    keeps its poison."""
    dtype = x.dtype
    y = np.full(math.prod(x.shape[:2]) * math.prod(out), POISON, dtype)
    exe = _exe()
    yb = raw(y)
    exe.dispatch(exe.lookup_function(name), (groups, 1, 1), consts, [raw(x), yb])
    got = yb.view(dtype)
    covered = min(rows, groups * per) * out[-1]
    assert (got[covered:] == POISON).all()
    want = want.reshape(-1)
    if op == "max":
        np.testing.assert_array_equal(got[:covered], want[:covered].astype(dtype))
    else:
        np.testing.assert_allclose(got[:covered], want[:covered],
                                   rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 1e-14)


@st.composite
def flat_pools(draw):
    """A stride-1, dilation-1 pool whose output has the input's shape (pads summing to the
    kernel minus one along each axis, as inception's 3x3 average pools): the kernel's
    plane pass (spec/executables.md 6.6) for the workgroups' whole planes of a
    ``whole_planes`` function, the row passes for their partial ones and for every row of
    the other functions. (function, op, dtype, x shape, kernel, pads, cip, p)."""
    name = draw(st.sampled_from(["max2d_f32", "max2d_f64", "average2d_f32", "average2d_f64",
                                 "average3d_f32", "average2d_cip_f32", "lp2d_f64", *WP,
                                 *WP]))
    op, _, dtype = _parts(name)
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 30))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    kernel, pads = [kh, kw], [ph, pw, kh - 1 - ph, kw - 1 - pw]
    xs = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), height, width)
    if "3d" in name:     # a depth of 1: the row passes
        kernel, pads, xs = [1, *kernel], [0, ph, pw, 0, *pads[2:]], (*xs[:2], 1, *xs[2:])
    return (name, op, dtype, xs, kernel, pads, "cip" in name, 3.0 if op == "lp" else 2.0)


@settings(max_examples=80, deadline=None)
@given(pool=flat_pools(), data=st.data(), seed=st.integers(0, 2**16),
       specials=SPECIALS)
def test_pool_whole_planes(pool, data, seed, specials):
    """Workgroups of whole planes, of parts of planes, or of both, a prefix of them
    dispatched: the covered rows match numpy (max bit for bit, NaN and infinities where
    a window holds them) and every output past them keeps its poison."""
    name, op, dtype, xs, kernel, pads, cip, p = pool
    nd = len(xs) - 2
    x = np.random.default_rng(seed).standard_normal(xs).astype(dtype)
    for position, value in specials:
        x.reshape(-1)[position % x.size] = value
    ones = [1] * nd
    consts, out, rows = pool_constants(xs, kernel, ones, ones, pads, False, 1)
    assert out == list(xs[2:])
    plane = math.prod(out[:-1])
    per = data.draw(st.one_of(st.integers(1, rows),
                              st.integers(1, rows // plane).map(lambda k: k * plane)),
                    label="per")
    consts[-1] = per
    groups = data.draw(st.integers(1, -(-rows // per)), label="workgroups")
    # the plane pass adds a row's taps first, then the rows (spec 6.6): within tolerance
    want = pool_ref(x, op, kernel, ones, ones, pads, out, cip=cip, p=p)
    _check_prefix(name, op, x, consts, out, rows, per, groups, want)


def _function(**extra):
    desc = {"version": 1, "functions": [pool_function("p", 2, "f32", "average", **extra)]}
    return fmt.parse(fmt.FORMAT, fmt.serialize(desc)).functions[0]


def test_whole_planes_source_has_the_plane_pass_and_the_others_none_of_it():
    """The plane pass is decided when the kernel is generated: only a ``whole_planes``
    function's source has it (and the run-time ``flat`` guard); the others run one loop of
    row passes, false and absent alike (spec/executables.md 6.6)."""
    planes = compiler.generate(_function(whole_planes=True))
    rows = compiler.generate(_function())
    assert compiler.generate(_function(whole_planes=False)) == rows
    assert _function().body.whole_planes is False
    for marker in ("flat = (", "for seg in range(2):", "if fe > fs:", "H = np.empty(HN",
                   "pa = np.empty("):
        assert marker in planes and marker not in rows, marker
    assert "for row in range(start, end):" in rows
    assert "for row in range(start, end):" not in planes


def _static_pool(nd, **body):
    """A max pool of literal sizes: 5 per spatial axis, kernel 3, pads 1 (flat)."""
    shape = [1, 2, *[5] * nd]
    return {"version": 1, "functions": [{
        "name": "p", "push_constants": ["n"], "items_per_workgroup": 1,
        "bindings": [{"index": 0, "type": "f32", "access": "read", "shape": shape},
                     {"index": 1, "type": "f32", "access": "write", "shape": shape}],
        "body": {"kind": "pool", "op": "max", "input": 0, "output": 1, "kernel": [3] * nd,
                 "pads": [1] * (2 * nd), **body}}]}


@pytest.mark.parametrize("nd, body, message", [
    (2, {"whole_planes": 1}, "expected true or false"),
    (2, {"whole_planes": "yes"}, "expected true or false"),
    (1, {"whole_planes": True}, "only a 2-D pool takes whole_planes"),
    (3, {"whole_planes": True}, "only a 2-D pool takes whole_planes"),
    (2, {"whole_planes": True, "strides": [1, 2]}, "needs strides of 1; strides.1. is 2"),
    (2, {"whole_planes": True, "dilations": [3, 1]}, "needs dilations of 1; dilations.0. is 3"),
    (2, {"whole_planes": True, "kernel": [3, 2]}, "axis 1: kernel 2, pads 1 and 1"),
    (2, {"whole_planes": True, "pads": [1, 1, 1, 0]}, "axis 1: kernel 3, pads 1 and 0"),
])
def test_whole_planes_static_checks_name_the_field(nd, body, message):
    with pytest.raises(InvalidArgumentError, match=message) as info:
        fmt.parse(fmt.FORMAT, fmt.serialize(_static_pool(nd, **body)))
    assert "functions[0].body.whole_planes" in str(info.value), str(info.value)


@pytest.mark.parametrize("nd, body", [
    (2, {"whole_planes": True}), (2, {"whole_planes": True, "pads": [0, 2, 2, 0]}),
    (2, {"whole_planes": True, "strides": [{"pc": 0}, 1], "pads": [{"pc": 0}, 1, 1, 1]}),
    (1, {"whole_planes": False}), (3, {})])
def test_whole_planes_accepted_where_what_is_static_agrees(nd, body):
    fn = fmt.parse(fmt.FORMAT, fmt.serialize(_static_pool(nd, **body))).functions[0]
    assert fn.body.whole_planes is body.get("whole_planes", False)


def test_literal_window_sizes_are_literals_in_the_kernel():
    """A window size literal in the description is a literal in the generated kernel (numba
    folds the branches on it), as are a 2-D pool's unit depth sizes; push constants are
    read from ``p``."""
    lit = fmt.parse(fmt.FORMAT, fmt.serialize({"version": 1, "functions": [
        _literal_function("l", *LITERAL["lit_max_k3s2p1"])]})).functions[0]
    source = compiler.generate(lit)
    for line in ("KW = 3", "KH = 3", "SW = 2", "SH = 2", "DW = 1", "PW = 1", "EW = 1",
                 "KD = 1", "ID = 1", "IW = p[5]", "OW = p[8]"):
        assert f"    {line}\n" in source, line
    pushed = compiler.generate(_function())
    for line in ("KW = p[11]", "SW = p[14]", "PW = p[20]", "KD = 1", "ID = 1"):
        assert f"    {line}\n" in pushed, line


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(LITERAL)), height=st.integers(1, 12),
       width=st.integers(1, 40), ceil_mode=st.booleans(), data=st.data(),
       seed=st.integers(0, 2**16), nc=st.tuples(st.integers(1, 2), st.integers(1, 3)))
def test_literal_window_kernels_match_numpy(name, height, width, ceil_mode, data, seed, nc):
    """Kernels generated for a literal window (3x3/2 pads 1 max, 2x2/2 average, the flat
    3x3/1 average with the plane pass) against numpy, a prefix of workgroups of any size."""
    dtype, op, kernel, strides, pads, _ = LITERAL[name]
    if any(n + pads[j] + pads[j + 2] < kernel[j] for j, n in enumerate((height, width))):
        height, width = max(height, kernel[0]), max(width, kernel[1])
    xs = (*nc, height, width)
    x = np.random.default_rng(seed).standard_normal(xs).astype(
        "float32" if dtype == "f32" else "float64")
    consts, out, rows = pool_constants(xs, kernel, strides, [1, 1], pads, ceil_mode, 1)
    per = data.draw(st.integers(1, rows), label="per")
    groups = data.draw(st.integers(1, -(-rows // per)), label="workgroups")
    want = pool_ref(x, op, kernel, strides, [1, 1], pads, out)
    _check_prefix(name, op, x, [*xs, *out, per], out, rows, per, groups, want)
