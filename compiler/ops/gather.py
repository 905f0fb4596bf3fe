"""Gathers and scatters: Gather, GatherElements, GatherND, ScatterElements (and the
deprecated Scatter), ScatterND. Indices are runtime operands; negative indices count
from the end of their axis."""

from __future__ import annotations

from pyree.compiler.ops.common import axis as norm_axis
from pyree.compiler.ops.registry import define, hosted, onnx_rule

FAMILY = "data"


define("gather", FAMILY, "data", *hosted("gather"))
define("gather_elements", FAMILY, "data", *hosted("gather_elements"))


define("gather_nd", FAMILY, "data", *hosted("gather_nd"))


define("scatter_elements", FAMILY, "data", *hosted("scatter_elements"))
define("scatter_nd", FAMILY, "data", *hosted("scatter_nd"))


@onnx_rule(FAMILY, "Gather")
def _gather_rule(ctx):
    ctx.forward("gather", axis=norm_axis(ctx, ctx.attr("axis", 0), ctx.type(0).rank))


@onnx_rule(FAMILY, "GatherElements")
def _gather_elements_rule(ctx):
    ctx.forward("gather_elements", axis=norm_axis(ctx, ctx.attr("axis", 0), ctx.type(0).rank))


@onnx_rule(FAMILY, "GatherND")
def _gather_nd_rule(ctx):
    ctx.forward("gather_nd", batch_dims=ctx.attr("batch_dims", 0))


@onnx_rule(FAMILY, "ScatterElements", "Scatter")
def _scatter_elements_rule(ctx):
    ctx.forward("scatter_elements", axis=norm_axis(ctx, ctx.attr("axis", 0), ctx.type(0).rank),
                reduction=ctx.attr("reduction", "none"))


@onnx_rule(FAMILY, "ScatterND")
def _scatter_nd_rule(ctx):
    ctx.forward("scatter_nd", reduction=ctx.attr("reduction", "none"))
