"""The activation steps of fused epilogues (spec/executables.md 6.4, 6.5), shared by the
conv and matmul lowerings: which graph nodes a ``relu``/``sigmoid``/``leaky_relu``/
``clip`` step can stand for. The operand steps (``channel_*``, tensor ``add``/``mul``)
differ per body (a conv's channel is dim 1, a matmul's the last dim) and stay with each
lowering."""

from __future__ import annotations

import math


def scalar_constant(graph, name: str) -> float | None:
    """The value of ``name`` when it is a one-element constant, else None."""
    array = graph.constants.get(name) if name else None
    if array is None or array.size != 1:
        return None
    return float(array.reshape(()).item())


def json_number(value: float):
    """A float as the executable format writes it (infinities as "inf"/"-inf")."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def activation_step(graph, node, cur: str) -> dict | None:
    """The activation step ``node`` applies to ``cur`` (its first input), or None: relu,
    sigmoid, leaky_relu with a finite alpha, clip with constant (or absent) bounds that do
    not cross."""
    if not node.inputs or node.inputs[0] != cur:
        return None
    op = node.op
    if op in ("relu", "sigmoid"):
        return {"op": op}
    if op == "leaky_relu":
        alpha = float(node.attr("alpha", 0.01))
        return {"op": op, "alpha": alpha} if math.isfinite(alpha) else None
    if op != "clip":
        return None
    bounds = []
    for name, absent in zip(list(node.inputs[1:3]) + ["", ""], (-math.inf, math.inf)):
        value = scalar_constant(graph, name) if name else absent
        if value is None or math.isnan(value):
            return None
        bounds.append(value)
    lo, hi = bounds
    if lo > hi:
        return None
    return {"op": "clip", "min": json_number(lo), "max": json_number(hi)}
