"""Signal processing: DFT (forward, inverse, one-sided) on ONNX's real/complex layout.

A signal is ``[..., 1]`` (real) or ``[..., 2]`` (interleaved real, imaginary); the
transform runs along ``axis`` over ``length`` points (zero-padded or truncated) and
yields ``[..., 2]`` (or ``[..., 1]`` for the inverse of a one-sided spectrum).
"""

from __future__ import annotations

from pyree.compiler.ops.common import axis as norm_axis
from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "signal"


define("dft", FAMILY, "library", *hosted("dft"))


@onnx_rule(FAMILY, "DFT")
def _dft_rule(ctx):
    t = ctx.type(0)
    if ctx.opset >= 20:
        ax = ctx.ints(2, "axis")[0] if ctx.has_input(2) else -2
    else:
        ax = ctx.attr("axis", 1)
    ax = norm_axis(ctx, ax, t.rank)
    if ax == t.rank - 1:
        ctx.invalid("axis must not be the last (real/imaginary) dimension")
    inverse, onesided = ctx.attr("inverse", 0), ctx.attr("onesided", 0)
    if ctx.has_input(1):
        length = ctx.ints(1, "dft_length")[0]
    else:
        length = 2 * (t.shape[ax] - 1) if inverse and onesided else t.shape[ax]
    ctx.forward("dft", [ctx.input(0)], axis=ax, length=length, inverse=inverse,
                onesided=onesided)
