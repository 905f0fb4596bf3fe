"""Convolutions and pooling (N-d, NC... layout).

Import rules resolve ``auto_pad`` to explicit ``pads`` and fill every default, so IR
``conv``/``conv_transpose``/``max_pool``/``average_pool``/``lp_pool`` nodes carry
``kernel``, ``strides``, ``pads`` (begins then ends), ``dilations``, ``group`` and
``ceil_mode`` explicitly. Global pools become reductions over the spatial axes. The
numpy references build dilated, strided windows with ``sliding_window_view`` and
contract them with one ``tensordot``/``einsum`` per call.

The host library's rows for these ops (shape/type inference and numpy semantics):
host-library ``op`` bodies execute them, and ``compiler/ops/nn_conv.py`` (which keeps the
ONNX import rules) takes its ``infer``/``reference`` from here through
``registry.hosted``; the compiler depends on the HAL, never the reverse.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .common import bad, is_float, same_dtype, tt
from .registry import define

FAMILY = "nn"


def out_dim(size, k, s, d, pb, pe, ceil_mode=False) -> int:
    """Output extent of one spatial dim (as the ONNX Conv/Pool operators define it; the
    numba conv/pool layout uses it too)."""
    span = size + pb + pe - ((k - 1) * d + 1)
    if span < 0:
        return 0
    n = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (n - 1) * s >= size + pb:
        n -= 1
    return n


def _out_shape(node, spatial):
    k, s, d, p = (node.attr(a) for a in ("kernel", "strides", "dilations", "pads"))
    nd = len(spatial)
    return tuple(out_dim(spatial[i], k[i], s[i], d[i], p[i], p[i + nd],
                         bool(node.attr("ceil_mode", 0))) for i in range(nd))


def windows(x, node, fill, extra_fill=None):
    """(N, C, *out, *kernel) view of x's dilated, strided windows: explicit pads hold
    ``fill``, the extra end padding that ``ceil_mode`` windows need ``extra_fill``."""
    k, s, d, p = (node.attr(a) for a in ("kernel", "strides", "dilations", "pads"))
    nd = x.ndim - 2
    out = _out_shape(node, x.shape[2:])
    width, extra = [(0, 0), (0, 0)], [(0, 0), (0, 0)]
    for i in range(nd):
        need = (out[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 if out[i] else 0
        width.append((p[i], p[i + nd]))
        extra.append((0, max(need - x.shape[2 + i] - p[i] - p[i + nd], 0)))
    xp = np.pad(x, width, constant_values=fill)
    xp = np.pad(xp, extra, constant_values=fill if extra_fill is None else extra_fill)
    eff = [(k[i] - 1) * d[i] + 1 for i in range(nd)]
    w = sliding_window_view(xp, eff, axis=tuple(range(2, 2 + nd)))
    index = (slice(None), slice(None)) + tuple(slice(0, out[i] * s[i], s[i]) for i in range(nd))
    index += tuple(slice(None, None, d[i]) for i in range(nd))
    return w[index]


def _infer_conv(node, types):
    x, w = types[0], types[1]
    dtype = same_dtype(node, types)
    g = node.attr("group")
    if x.shape[1] != w.shape[1] * g or w.shape[0] % g:
        bad(node, f"input {x} and weights {w} disagree for group {g}")
    if len(types) > 2 and types[2] is not None and types[2].shape != (w.shape[0],):
        bad(node, f"bias {types[2]} must have shape [{w.shape[0]}]")
    return [tt(dtype, (x.shape[0], w.shape[0]) + _out_shape(node, x.shape[2:]))]


def _wide(a):
    # Accumulate in f64: the result rounds to the same f32 whatever BLAS's blocking, so
    # identical channels stay identical (the light_* models are that ill-conditioned).
    return a.astype(np.float64) if is_float(a.dtype) and a.dtype.itemsize <= 4 else a


def _conv(node, x, w, b=None):
    dtype = x.dtype
    x, w = _wide(x), _wide(w)
    nd = x.ndim - 2
    g = node.attr("group")
    cols = windows(x, node, 0)  # N, C, *out, *k
    n, c = cols.shape[:2]
    out_sp = cols.shape[2:2 + nd]
    m = w.shape[0]
    if g == 1:
        y = np.tensordot(cols, w, axes=([1] + list(range(2 + nd, 2 + 2 * nd)),
                                        list(range(1, 2 + nd))))
        y = np.moveaxis(y, -1, 1)
    else:
        cols = cols.reshape((n, g, c // g) + cols.shape[2:])
        wg = w.reshape((g, m // g) + w.shape[1:])
        letters = "abcdefgh"[:nd]
        kl = "ijklmnop"[:nd]
        y = np.einsum(f"ngc{letters}{kl},gmc{kl}->ngm{letters}", cols, wg, optimize=True)
        y = y.reshape((n, m) + out_sp)
    if b is not None:
        y = y + b.reshape((1, m) + (1,) * nd)
    return y.astype(dtype, copy=False)


define("conv", FAMILY, "conv", _infer_conv, _conv)


def _infer_conv_t(node, types):
    x, w = types[0], types[1]
    g = node.attr("group")
    return [tt(x.dtype, (x.shape[0], w.shape[1] * g) + tuple(node.attr("output_shape")))]


def _conv_t(node, x, w, b=None):
    nd = x.ndim - 2
    g = node.attr("group")
    s, d, p = node.attr("strides"), node.attr("dilations"), node.attr("pads")
    k = w.shape[2:]
    n, c = x.shape[:2]
    mg = w.shape[1]
    full = [(x.shape[2 + i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 for i in range(nd)]
    out = np.zeros((n, mg * g) + tuple(full), dtype=np.float64)
    xg = x.reshape((n, g, c // g) + x.shape[2:])
    wg = w.reshape((g, c // g, mg) + k)
    for kidx in np.ndindex(*k):
        contrib = np.einsum("ngc...,gcm->ngm...", xg, wg[(slice(None),) * 3 + kidx])
        contrib = contrib.reshape((n, mg * g) + x.shape[2:])
        index = (slice(None), slice(None)) + tuple(
            slice(kidx[i] * d[i], kidx[i] * d[i] + (x.shape[2 + i] - 1) * s[i] + 1, s[i])
            for i in range(nd))
        out[index] += contrib
    shape = node.attr("output_shape")
    crop = (slice(None), slice(None)) + tuple(slice(p[i], p[i] + shape[i]) for i in range(nd))
    pad_end = [(0, 0), (0, 0)] + [(0, max(p[i] + shape[i] - full[i], 0)) for i in range(nd)]
    y = np.pad(out, pad_end)[crop]
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * nd)
    return y.astype(x.dtype)


define("conv_transpose", FAMILY, "conv", _infer_conv_t, _conv_t)


def _infer_pool(node, types):
    x = types[0]
    shape = (x.shape[0], x.shape[1]) + _out_shape(node, x.shape[2:])
    out = [tt(x.dtype, shape)]
    return out + [tt("i64", shape)]


def _max_pool(node, x):
    nd = x.ndim - 2
    lowest = -np.inf if is_float(x.dtype) else np.iinfo(x.dtype).min
    win = windows(x, node, lowest)
    flat = win.reshape(win.shape[:2 + nd] + (-1,))
    arg = np.argmax(flat, axis=-1)
    values = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    positions = np.arange(math.prod(x.shape[2:]), dtype=np.int64)
    if node.attr("storage_order", 0) and nd == 2:
        h, w = x.shape[2:]
        positions = (np.arange(h)[:, None] + np.arange(w)[None, :] * h).reshape(-1)
    pos = np.broadcast_to(positions.reshape((1, 1) + x.shape[2:]), (1, 1) + x.shape[2:])
    pw = windows(pos, node, -1).reshape((1, 1) + win.shape[2:2 + nd] + (-1,))
    local = np.take_along_axis(np.broadcast_to(pw, flat.shape), arg[..., None], -1)[..., 0]
    base = (np.arange(x.shape[0])[:, None] * x.shape[1] + np.arange(x.shape[1])[None, :])
    index = local + base.reshape(base.shape + (1,) * nd) * math.prod(x.shape[2:])
    return values.astype(x.dtype), index.astype(np.int64)


def _avg_pool(node, x):
    nd = x.ndim - 2
    win = windows(x.astype(np.float64), node, 0)
    total = win.sum(axis=tuple(range(-nd, 0)))
    ones = np.ones((1, 1) + x.shape[2:])
    count = windows(ones, node, 1 if node.attr("count_include_pad") else 0, 0)
    count = count.sum(axis=tuple(range(-nd, 0)))
    return (total / np.maximum(count, 1)).astype(x.dtype)


def _lp_pool(node, x):
    nd = x.ndim - 2
    p = node.attr("p")
    win = windows(np.abs(x.astype(np.float64)) ** p, node, 0)
    return (win.sum(axis=tuple(range(-nd, 0))) ** (1.0 / p)).astype(x.dtype)


define("max_pool", FAMILY, "pool", _infer_pool, _max_pool)
define("average_pool", FAMILY, "pool", lambda n, t: _infer_pool(n, t)[:1], _avg_pool)
define("lp_pool", FAMILY, "pool", lambda n, t: _infer_pool(n, t)[:1], _lp_pool)


def _np(dtype):
    from .common import np_dtype
    return np_dtype(dtype)
