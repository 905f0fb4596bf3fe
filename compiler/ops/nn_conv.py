"""Convolutions and pooling (N-d, NC... layout).

Import rules resolve ``auto_pad`` to explicit ``pads`` and fill every default, so IR
``conv``/``conv_transpose``/``max_pool``/``average_pool``/``lp_pool`` nodes carry
``kernel``, ``strides``, ``pads`` (begins then ends), ``dilations``, ``group`` and
``ceil_mode`` explicitly. Global pools become reductions over the spatial axes. The
numpy references build dilated, strided windows with ``sliding_window_view`` and
contract them with one ``tensordot``/``einsum`` per call.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pyree.compiler.ops.common import bad, is_float, same_dtype, tt
from pyree.compiler.ops.registry import define, onnx_rule

FAMILY = "nn"


def out_dim(size, k, s, d, pb, pe, ceil_mode=False):
    eff = (k - 1) * d + 1
    span = size + pb + pe - eff
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


# -- conv ----------------------------------------------------------------------------------
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


def _spatial_attrs(ctx, spatial, kernel, transpose=False):
    nd = len(spatial)
    strides = tuple(ctx.attr("strides", (1,) * nd))
    dilations = tuple(ctx.attr("dilations", (1,) * nd))
    pads = tuple(ctx.attr("pads", (0,) * (2 * nd)))
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER") and not transpose:
        pads = [0] * (2 * nd)
        for i in range(nd):
            out = -(-spatial[i] // strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                        - spatial[i], 0)
            small = total // 2
            pads[i], pads[i + nd] = ((small, total - small) if auto == "SAME_UPPER"
                                     else (total - small, small))
        pads = tuple(pads)
    elif auto == "VALID":
        pads = (0,) * (2 * nd)
    if len(strides) != nd or len(dilations) != nd or len(pads) != 2 * nd:
        ctx.invalid(f"strides/dilations/pads do not match {nd} spatial dims")
    return {"kernel": tuple(kernel), "strides": strides, "dilations": dilations, "pads": pads}


@onnx_rule(FAMILY, "Conv")
def _conv_rule(ctx):
    x, w = ctx.type(0), ctx.type(1)
    if x.rank < 3:
        ctx.invalid(f"input must have rank >= 3, got {x}")
    kernel = ctx.attr("kernel_shape", w.shape[2:])
    attrs = _spatial_attrs(ctx, x.shape[2:], kernel)
    ctx.forward("conv", [n for n in ctx.inputs if n] if not ctx.has_input(2)
                else ctx.inputs[:3], group=ctx.attr("group", 1), **attrs)


# -- conv transpose ------------------------------------------------------------------------
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


@onnx_rule(FAMILY, "ConvTranspose")
def _conv_t_rule(ctx):
    x, w = ctx.type(0), ctx.type(1)
    nd = x.rank - 2
    k = ctx.attr("kernel_shape", w.shape[2:])
    s = tuple(ctx.attr("strides", (1,) * nd))
    d = tuple(ctx.attr("dilations", (1,) * nd))
    op = tuple(ctx.attr("output_padding", (0,) * nd))
    full = [(x.shape[2 + i] - 1) * s[i] + op[i] + (k[i] - 1) * d[i] + 1 for i in range(nd)]
    if ctx.has_attr("output_shape"):
        shape = tuple(ctx.attr("output_shape"))[-nd:]
        total = [full[i] - shape[i] for i in range(nd)]
        auto = ctx.attr("auto_pad", "NOTSET")
        pads = [0] * (2 * nd)
        for i in range(nd):
            t = max(total[i], 0)  # a larger output_shape is zero-extended at the end
            lo = t // 2 if auto != "SAME_LOWER" else t - t // 2
            pads[i], pads[i + nd] = lo, t - lo
    else:
        pads = list(ctx.attr("pads", (0,) * (2 * nd)))
        auto = ctx.attr("auto_pad", "NOTSET")
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            for i in range(nd):
                total = max(full[i] - x.shape[2 + i] * s[i], 0)
                lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
                pads[i], pads[i + nd] = lo, total - lo
        shape = tuple(full[i] - pads[i] - pads[i + nd] for i in range(nd))
    ctx.forward("conv_transpose", [n for n in ctx.inputs[:3] if n],
                group=ctx.attr("group", 1), strides=s, dilations=d, pads=tuple(pads),
                output_shape=shape)


# -- pooling -------------------------------------------------------------------------------
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


@onnx_rule(FAMILY, "MaxPool", "AveragePool", "LpPool")
def _pool_rule(ctx):
    x = ctx.type(0)
    kernel = tuple(ctx.attr("kernel_shape"))
    attrs = _spatial_attrs(ctx, x.shape[2:], kernel)
    attrs["ceil_mode"] = ctx.attr("ceil_mode", 0)
    if ctx.op_type == "MaxPool":
        ctx.forward("max_pool", [ctx.input(0)], storage_order=ctx.attr("storage_order", 0),
                    **attrs)
    elif ctx.op_type == "AveragePool":
        ctx.forward("average_pool", [ctx.input(0)], n_out=1,
                    count_include_pad=ctx.attr("count_include_pad", 0), **attrs)
    else:
        ctx.forward("lp_pool", [ctx.input(0)], n_out=1, p=ctx.attr("p", 2), **attrs)


@onnx_rule(FAMILY, "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def _global_pool_rule(ctx):
    x = ctx.type(0)
    axes = tuple(range(2, x.rank))
    if ctx.op_type == "GlobalLpPool":
        p = float(ctx.attr("p", 2))
        exponent = ctx.constant(np.array(p, _np(x.dtype)), "p")
        a = ctx.emit("pow", [ctx.emit("abs", [ctx.input(0)]), exponent])
        s = ctx.emit("reduce_sum", [a], axes=axes, keepdims=1)
        inv = ctx.constant(np.array(1.0 / p, _np(x.dtype)), "inv_p")
        ctx.set_output(0, ctx.emit("pow", [s, inv]))
        return
    op = "reduce_mean" if ctx.op_type == "GlobalAveragePool" else "reduce_max"
    ctx.forward(op, [ctx.input(0)], axes=axes, keepdims=1)


def _np(dtype):
    from pyree.compiler.ops.common import np_dtype
    return np_dtype(dtype)
