"""Elementwise regions as pyree-kernels-v1 elementwise dispatches (see
``v1_elementwise_build``): one fused pass writing every region output, or ``None`` when a
node has no exact v1 translation (the library lowering takes over)."""

from __future__ import annotations

from . import v1_elementwise_build
from .lowering import label, lowering


@lowering("elementwise")
def lower_elementwise(region, graph):
    return v1_elementwise_build.build(graph, list(region.nodes), region.outputs,
                                      label(region), f"r{region.index}.")
