"""QuantizeLinear / DequantizeLinear, lowered to elementwise IR at import.

Scales and zero points broadcast along ``axis`` (per-tensor, per-axis or blocked: a
blocked parameter is expanded with a ``gather`` of index ``i // block_size``).
Quantize computes ``clip(round_half_even(x / scale) + zero_point)`` in i32 for integer
targets and a saturating cast for 8-bit floats; dequantize ``(x - zero_point) * scale``
in f32, cast to the scale's type (or ``output_dtype``).
"""

from __future__ import annotations

import numpy as np
from pyree.compiler import dtypes
from pyree.compiler.ops.common import axis as norm_axis
from pyree.compiler.ops.registry import onnx_rule

FAMILY = "quant"
_RANGES = {"ui8": (0, 255), "i8": (-128, 127), "ui16": (0, 65535), "i16": (-32768, 32767),
           "ui4": (0, 15), "i4": (-8, 7), "ui2": (0, 3), "i2": (-2, 1)}
_FP8 = frozenset({"f8e4m3fn", "f8e4m3fnuz", "f8e5m2", "f8e5m2fnuz"})


def _broadcast_param(ctx, i, x, axis, block):
    """IR value of operand i broadcastable against x (or '' when absent)."""
    if not ctx.has_input(i):
        return ""
    t = ctx.type(i)
    name = ctx.input(i)
    if t.size == 1:
        return ctx.emit("reshape", [name], shape=()) if t.rank else name
    if block:
        index = np.arange(x.shape[axis], dtype=np.int64) // block
        gathered = ctx.emit("gather", [name, ctx.constant(index, "block_index")], axis=axis)
        return gathered
    if t.rank != 1 or t.shape[0] != x.shape[axis]:
        ctx.invalid(f"parameter {t} does not match axis {axis} of {x}")
    return ctx.emit("reshape", [name], shape=(t.shape[0],) + (1,) * (x.rank - axis - 1))


def _axis_block(ctx, x):
    """The quantization axis (checked only when some parameter is not a scalar)."""
    per_tensor = all(ctx.type(i) is None or ctx.type(i).size == 1 for i in (1, 2))
    axis = ctx.attr("axis", 1)  # read even when unused: it does not matter per tensor
    axis = 0 if per_tensor else norm_axis(ctx, axis, x.rank)
    return axis, ctx.attr("block_size", 0)


@onnx_rule(FAMILY, "DequantizeLinear")
def _dequantize_rule(ctx):
    x = ctx.type(0)
    axis, block = _axis_block(ctx, x)
    scale = _broadcast_param(ctx, 1, x, axis, block)
    zp = _broadcast_param(ctx, 2, x, axis, block)
    out = ctx.attr("output_dtype", 0)
    out = dtypes.from_onnx(out) if out else ctx.type(1).dtype
    value = ctx.emit("cast", [ctx.input(0)], to="f32", saturate=1)
    if zp and x.dtype not in _FP8 and x.dtype != "f4e2m1":
        value = ctx.emit("sub", [value, ctx.emit("cast", [zp], to="f32", saturate=1)])
    value = ctx.emit("mul", [value, ctx.emit("cast", [scale], to="f32", saturate=1)])
    ctx.set_output(0, ctx.emit("cast", [value], to=out, saturate=1))


@onnx_rule(FAMILY, "QuantizeLinear")
def _quantize_rule(ctx):
    x = ctx.type(0)
    axis, block = _axis_block(ctx, x)
    scale = _broadcast_param(ctx, 1, x, axis, block)
    zp = _broadcast_param(ctx, 2, x, axis, block)
    out = ctx.type(2).dtype if ctx.has_input(2) else (
        dtypes.from_onnx(ctx.attr("output_dtype")) if ctx.attr("output_dtype", 0) else "ui8")
    precision = ctx.attr("precision", 0)
    saturate = ctx.attr("saturate", 1)
    work = dtypes.from_onnx(precision) if precision else x.dtype
    value = ctx.input(0) if work == x.dtype else ctx.emit("cast", [ctx.input(0)], to=work)
    if ctx.type(1).dtype != work:
        scale = ctx.emit("cast", [scale], to=work)
    value = ctx.emit("div", [value, scale])
    if out in _RANGES:
        value = ctx.emit("cast", [ctx.emit("round", [value])], to="i32")
        if zp:
            value = ctx.emit("add", [value, ctx.emit("cast", [zp], to="i32")])
        lo, hi = _RANGES[out]
        value = ctx.emit("clip", [value, ctx.constant(np.array(lo, np.int32), "lo"),
                                  ctx.constant(np.array(hi, np.int32), "hi")])
        ctx.set_output(0, ctx.emit("cast", [value], to=out))
    elif out in _FP8:
        ctx.set_output(0, ctx.emit("cast", [value], to=out, saturate=saturate))
    elif out == "f4e2m1":
        if zp:
            value = ctx.emit("add", [value, ctx.emit("cast", [zp], to=work)])
        ctx.set_output(0, ctx.emit("cast", [value], to=out))
    else:
        ctx.fail(f"quantizing to {out} is not supported")
