"""GridSample: sampling an N-d image at the normalized coordinates of a grid.

The grid's last axis holds coordinates in reverse dimension order (x before y) in
[-1, 1]; they are denormalized (``align_corners`` or not), moved inside the image by
the padding mode (``zeros``, ``border``, ``reflection``) and interpolated separably with
nearest (round half to even), linear or cubic (a = -0.75) taps, as PyTorch does.
"""

from __future__ import annotations

from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "nn"


define("grid_sample", FAMILY, "library", *hosted("grid_sample"))


@onnx_rule(FAMILY, "GridSample")
def _grid_sample_rule(ctx):
    mode = ctx.attr("mode", "linear" if ctx.opset >= 20 else "bilinear")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    padding = ctx.attr("padding_mode", "zeros")
    if mode not in ("nearest", "linear", "cubic") or padding not in (
            "zeros", "border", "reflection"):
        ctx.fail(f"mode '{mode}' with padding '{padding}' is not supported")
    x, g = ctx.type(0), ctx.type(1)
    if g.rank != x.rank or g.shape[-1] != x.rank - 2 or g.shape[0] != x.shape[0]:
        ctx.invalid(f"grid {g} does not match input {x}")
    ctx.forward("grid_sample", mode=mode, padding_mode=padding,
                align_corners=ctx.attr("align_corners", 0))
