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
from pyree.compiler.ops.common import bad, is_float
from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "reduction"


def _extreme(fn, x, axes, keepdims, lowest):
    if x.size == 0:
        if is_float(x.dtype):
            init = -np.inf if lowest else np.inf
        elif x.dtype == np.bool_:
            init = not lowest
        else:
            info = np.iinfo(x.dtype)
            init = info.min if lowest else info.max
        return fn(x, axis=axes, keepdims=keepdims, initial=init)
    return fn(x, axis=axes, keepdims=keepdims)


def _logsumexp(x, axes, keepdims):
    if x.size == 0:
        return np.log(np.sum(np.exp(x), axis=axes, keepdims=keepdims))
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axes)


REDUCE = {
    "reduce_sum": ("ReduceSum", 13, lambda x, a, k: np.sum(x, axis=a, keepdims=k)),
    "reduce_mean": ("ReduceMean", 18, lambda x, a, k: np.mean(x, axis=a, keepdims=k)),
    "reduce_max": ("ReduceMax", 18, lambda x, a, k: _extreme(np.max, x, a, k, True)),
    "reduce_min": ("ReduceMin", 18, lambda x, a, k: _extreme(np.min, x, a, k, False)),
    "reduce_prod": ("ReduceProd", 18, lambda x, a, k: np.prod(x, axis=a, keepdims=k)),
    "reduce_l1": ("ReduceL1", 18, lambda x, a, k: np.sum(np.abs(x), axis=a, keepdims=k)),
    "reduce_l2": ("ReduceL2", 18,
                  lambda x, a, k: np.sqrt(np.sum(np.square(x), axis=a, keepdims=k))),
    "reduce_log_sum": ("ReduceLogSum", 18,
                       lambda x, a, k: np.log(np.sum(x, axis=a, keepdims=k))),
    "reduce_log_sum_exp": ("ReduceLogSumExp", 18, _logsumexp),
    "reduce_sum_square": ("ReduceSumSquare", 18,
                          lambda x, a, k: np.sum(np.square(x), axis=a, keepdims=k)),
}


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
def _softmax(x, ax):
    m = np.max(x, axis=ax, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=ax, keepdims=True)


def _log_softmax(x, ax):
    m = np.max(x, axis=ax, keepdims=True)
    s = x - m
    return s - np.log(np.sum(np.exp(s), axis=ax, keepdims=True))


def _hardmax(x, ax):
    idx = np.expand_dims(np.argmax(x, axis=ax), ax)
    out = np.zeros_like(x)
    np.put_along_axis(out, idx, 1, axis=ax)
    return out


SOFTMAX = {"softmax": ("Softmax", _softmax), "log_softmax": ("LogSoftmax", _log_softmax),
           "hardmax": ("Hardmax", _hardmax)}


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
