"""Convolutions and pooling (N-d, NC... layout).

Import rules resolve ``auto_pad`` to explicit ``pads`` and fill every default, so IR
``conv``/``conv_transpose``/``max_pool``/``average_pool``/``lp_pool`` nodes carry
``kernel``, ``strides``, ``pads`` (begins then ends), ``dilations``, ``group`` and
``ceil_mode`` explicitly. Global pools become reductions over the spatial axes. The
numpy semantics are the HAL host library's (``modules/hal/kernels/hostlib/nn_conv.py``:
dilated, strided windows with ``sliding_window_view`` contracted with one
``tensordot``/``einsum`` per call).
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "nn"


# -- conv ----------------------------------------------------------------------------------


define("conv", FAMILY, "conv", *hosted("conv"))


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


define("conv_transpose", FAMILY, "conv", *hosted("conv_transpose"))


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


define("max_pool", FAMILY, "pool", *hosted("max_pool"))
define("average_pool", FAMILY, "pool", *hosted("average_pool"))
define("lp_pool", FAMILY, "pool", *hosted("lp_pool"))


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
