"""Matrix products: ``matmul`` (numpy semantics, optional transposed operands), Gemm
(matmul + alpha/beta/bias epilogue) and Einsum.

``matmul`` with ``transpose_a``/``transpose_b`` swaps an operand's last two dims, as the
executable format's ``transpose_lhs``/``transpose_rhs`` do, so Gemm's transposes cost no
copy. Gemm's ``alpha * (A @ B) + beta * C`` becomes ``mul``/``add`` nodes that
partitioning attaches to the matmul region as its epilogue.
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.ops.common import np_dtype
from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "nn"


define("matmul", FAMILY, "matmul", *hosted("matmul"))


@onnx_rule(FAMILY, "MatMul")
def _matmul_rule(ctx):
    ctx.forward("matmul")


@onnx_rule(FAMILY, "Gemm")
def _gemm_rule(ctx):
    dtype = np_dtype(ctx.type(0).dtype)
    ctx.attr("broadcast")  # opset < 7: C broadcasts (or already has Y's shape) either way
    y = ctx.emit("matmul", [ctx.input(0), ctx.input(1)], transpose_a=ctx.attr("transA", 0),
                 transpose_b=ctx.attr("transB", 0))
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    if alpha != 1.0:
        y = ctx.emit("mul", [y, ctx.constant(np.array(alpha, dtype), "alpha")])
    if ctx.has_input(2) and beta != 0.0:
        c = ctx.input(2)
        if beta != 1.0:
            c = ctx.emit("mul", [c, ctx.constant(np.array(beta, dtype), "beta")])
        y = ctx.emit("add", [y, c])
    ctx.set_output(0, y)


define("einsum", FAMILY, "library", *hosted("einsum"))


@onnx_rule(FAMILY, "Einsum")
def _einsum_rule(ctx):
    ctx.forward("einsum", equation=ctx.attr("equation"))


define("det", FAMILY, "library", *hosted("det"))


@onnx_rule(FAMILY, "Det")
def _det_rule(ctx):
    t = ctx.type(0)
    if t.rank < 2 or t.shape[-1] != t.shape[-2]:
        ctx.invalid(f"needs square matrices, got {t}")
    ctx.forward("det")


# -- integer and quantized matmul/conv (lowered to i32 arithmetic) -------------------------
def _shifted(ctx, i, zp_index, rows=False, leading=False):
    """cast(input i, i32) - cast(zero point, i32). A vector zero point applies per row of
    A (``rows``) or per output channel of conv weights (``leading``)."""
    value = ctx.emit("cast", [ctx.input(i)], to="i32")
    if not ctx.has_input(zp_index):
        return value
    zp = ctx.emit("cast", [ctx.input(zp_index)], to="i32")
    zt = ctx.type(zp_index)
    if rows and zt.rank == 1 and zt.size > 1:
        zp = ctx.emit("reshape", [zp], shape=(zt.size, 1))
    if leading and zt.rank == 1 and zt.size > 1:
        zp = ctx.emit("reshape", [zp], shape=(zt.size,) + (1,) * (ctx.type(i).rank - 1))
    return ctx.emit("sub", [value, zp])


@onnx_rule(FAMILY, "MatMulInteger")
def _matmul_integer_rule(ctx):
    a, b = _shifted(ctx, 0, 2, rows=True), _shifted(ctx, 1, 3)
    ctx.set_output(0, ctx.emit("matmul", [a, b]))


@onnx_rule(FAMILY, "QLinearMatMul")
def _qlinear_matmul_rule(ctx):
    for i in (1, 4, 6):
        if ctx.type(i).size != 1:
            ctx.fail("only per-tensor scales are supported")
    a, b = _shifted(ctx, 0, 2, rows=True), _shifted(ctx, 3, 5)
    c = ctx.emit("cast", [ctx.emit("matmul", [a, b])], to="f64")
    scales = [ctx.emit("cast", [ctx.emit("reshape", [ctx.input(i)], shape=())], to="f64")
              for i in (1, 4, 6)]
    factor = ctx.emit("div", [ctx.emit("mul", scales[:2]), scales[2]])
    d = ctx.emit("mul", [c, factor])
    out = ctx.type(7).dtype if ctx.has_input(7) else ctx.type(0).dtype
    if ctx.has_input(7):
        zp = ctx.emit("reshape", [ctx.input(7)], shape=()) if ctx.type(7).rank else ctx.input(7)
        d = ctx.emit("add", [d, ctx.emit("cast", [zp], to="f64")])
    info = np.iinfo(np_dtype(out))
    d = ctx.emit("clip", [ctx.emit("round", [d]), ctx.constant(np.array(info.min, np.float64)),
                          ctx.constant(np.array(info.max, np.float64))])
    ctx.set_output(0, ctx.emit("cast", [d], to=out))


@onnx_rule(FAMILY, "ConvInteger")
def _conv_integer_rule(ctx):
    from pyree.compiler.ops.nn_conv import _spatial_attrs

    x, w = ctx.type(0), ctx.type(1)
    xs, ws = _shifted(ctx, 0, 2), _shifted(ctx, 1, 3, leading=True)
    kernel = ctx.attr("kernel_shape", w.shape[2:])
    attrs = _spatial_attrs(ctx, x.shape[2:], kernel)
    ctx.set_output(0, ctx.emit("conv", [xs, ws], group=ctx.attr("group", 1), **attrs))
