"""Reductions (static axes), arg-reductions, scans and the softmax family.

IR reductions carry their axes as a sorted attribute tuple (an ONNX ``axes`` input must
be a constant); ``keepdims`` is 0/1. The softmax family reduces along one axis: ONNX
opsets before 13 define softmax over the input coerced to 2-D at ``axis``, which the
import rule rewrites as reshape -> softmax(axis=1) -> reshape.
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.ops.common import axes as norm_axes
from pyree.compiler.ops.common import axis as norm_axis
from pyree.compiler.ops.common import bad
from pyree.compiler.ops.registry import define, hosted, onnx_rule
from pyree.modules.hal.kernels.hostlib.reduction import REDUCE, SOFTMAX

FAMILY = "reduction"


# ONNX op type and opset of each IR reduction come with the host library's numpy
# semantics (one table for both).
for _name, (_onnx, _since, _fn) in REDUCE.items():
    define(_name, FAMILY, "reduce", *hosted(_name))


def _make_reduce_rule(ir_name, axes_input_since):
    def rule(ctx):
        t = ctx.type(0)
        if ctx.opset >= axes_input_since:
            axes = ctx.ints(1, "axes") if ctx.has_input(1) else ()
        else:
            axes = tuple(ctx.attr("axes", ()))
        keepdims = int(ctx.attr("keepdims", 1))
        noop = ctx.attr("noop_with_empty_axes", 0)
        if not axes:
            if noop:
                ctx.set_output(0, ctx.emit("identity", [ctx.input(0)]))
                return
            axes = tuple(range(t.rank))
        ctx.forward(ir_name, [ctx.input(0)], axes=norm_axes(ctx, axes, t.rank),
                    keepdims=keepdims)
    return rule


for _name, (_onnx, _since, _) in REDUCE.items():
    onnx_rule(FAMILY, _onnx)(_make_reduce_rule(_name, _since))


# -- arg reductions ------------------------------------------------------------------------


define("argmax", FAMILY, "reduce", *hosted("argmax"))
define("argmin", FAMILY, "reduce", *hosted("argmin"))


@onnx_rule(FAMILY, "ArgMax", "ArgMin")
def _arg_rule(ctx):
    rank = ctx.type(0).rank
    ctx.forward(ctx.op_type.lower(), axis=norm_axis(ctx, ctx.attr("axis", 0), rank),
                keepdims=int(ctx.attr("keepdims", 1)),
                select_last_index=int(ctx.attr("select_last_index", 0)))


# -- scans ---------------------------------------------------------------------------------


define("cumsum", FAMILY, "library", *hosted("cumsum"))
define("cumprod", FAMILY, "library", *hosted("cumprod"))


@onnx_rule(FAMILY, "CumSum", "CumProd")
def _scan_rule(ctx):
    ax = ctx.ints(1, "axis")[0]
    ctx.forward(ctx.op_type.lower(), [ctx.input(0)],
                axis=norm_axis(ctx, ax, ctx.type(0).rank),
                exclusive=int(ctx.attr("exclusive", 0)), reverse=int(ctx.attr("reverse", 0)))


# -- softmax family ------------------------------------------------------------------------
for _name, (_onnx, _fn) in SOFTMAX.items():
    define(_name, FAMILY, "softmax", *hosted(_name))


def _softmax_rule(ir_name):
    def rule(ctx):
        t = ctx.type(0)
        if t.dtype not in ("f16", "bf16", "f32", "f64"):
            bad(ctx, f"{ctx.op_type} needs a float operand, got {t.dtype}")
        default = -1 if ctx.opset >= 13 else 1
        ax = norm_axis(ctx, ctx.attr("axis", default), t.rank)
        if ctx.opset >= 13 or t.rank <= 1:
            ctx.forward(ir_name, axis=ax)
            return
        rows = int(np.prod(t.shape[:ax], dtype=np.int64))
        flat = ctx.emit("reshape", [ctx.input(0)], shape=(rows, t.size // max(rows, 1)))
        out = ctx.emit(ir_name, [flat], axis=1)
        ctx.set_output(0, ctx.emit("reshape", [out], shape=t.shape))
    return rule


for _name, (_onnx, _) in SOFTMAX.items():
    onnx_rule(FAMILY, _onnx)(_softmax_rule(_name))
