"""Normalisations: BatchNormalization (inference, lowered to a per-channel scale and
shift), InstanceNormalization, LayerNormalization, LRN and LpNormalization.

Batch normalization in inference is elementwise: ``y = x * a + b`` with
``a = scale / sqrt(var + eps)`` and ``b = bias - mean * a`` per channel; with constant
parameters ``a`` and ``b`` fold at import, and the two elementwise nodes fuse into the
producing convolution's epilogue. The others are their own ``normalization`` regions.
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.ops.common import axis as norm_axis
from pyree.compiler.ops.common import np_dtype
from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "nn"


@onnx_rule(FAMILY, "BatchNormalization")
def _batch_norm_rule(ctx):
    if ctx.attr("training_mode", 0) or any(ctx.outputs[1:]):
        ctx.fail("training mode (running statistics outputs) is not supported")
    if ctx.opset < 9 and ctx.attr("spatial", 1) == 0:
        ctx.fail("spatial=0 is not supported")
    x = ctx.type(0)
    dtype = np_dtype(x.dtype)
    eps = ctx.constant(np.array(ctx.attr("epsilon", 1e-5), dtype), "epsilon")
    scale, bias, mean, var = ctx.inputs[1:5]
    denom = ctx.emit("sqrt", [ctx.emit("add", [var, eps])])
    a = ctx.emit("div", [scale, denom])
    b = ctx.emit("sub", [bias, ctx.emit("mul", [mean, a])])
    shape = (x.shape[1],) + (1,) * (x.rank - 2) if x.rank > 1 else (x.shape[0],)
    a = ctx.emit("reshape", [a], shape=shape)
    b = ctx.emit("reshape", [b], shape=shape)
    y = ctx.emit("add", [ctx.emit("mul", [ctx.input(0), a]), b])
    ctx.set_output(0, y)


define("instance_norm", FAMILY, "normalization", *hosted("instance_norm"))


@onnx_rule(FAMILY, "InstanceNormalization")
def _instance_norm_rule(ctx):
    ctx.forward("instance_norm", epsilon=ctx.attr("epsilon", 1e-5))


define("layer_norm", FAMILY, "normalization", *hosted("layer_norm"))


@onnx_rule(FAMILY, "LayerNormalization")
def _layer_norm_rule(ctx):
    x = ctx.type(0)
    stash = {1: "f32", 11: "f64", 10: "f16", 16: "bf16"}.get(ctx.attr("stash_type", 1))
    if stash is None:
        ctx.fail("unsupported stash_type")
    ctx.forward("layer_norm", [n for n in ctx.inputs[:3] if n],
                axis=norm_axis(ctx, ctx.attr("axis", -1), x.rank),
                epsilon=ctx.attr("epsilon", 1e-5), stash_type=stash)


define("lrn", FAMILY, "normalization", *hosted("lrn"))


@onnx_rule(FAMILY, "LRN")
def _lrn_rule(ctx):
    ctx.forward("lrn", size=ctx.attr("size"), alpha=ctx.attr("alpha", 1e-4),
                beta=ctx.attr("beta", 0.75), bias=ctx.attr("bias", 1.0))


define("lp_norm", FAMILY, "normalization", *hosted("lp_norm"))


@onnx_rule(FAMILY, "LpNormalization")
def _lp_norm_rule(ctx):
    ctx.forward("lp_norm", axis=norm_axis(ctx, ctx.attr("axis", -1), ctx.type(0).rank),
                p=ctx.attr("p", 2))
