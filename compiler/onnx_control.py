"""Control flow with static structure, flattened at import.

* ``If`` with a constant condition imports the taken branch in place; with a runtime
  condition both branches are imported and each output is a ``select``.
* ``Scan`` (opset 9+) is unrolled over its static sequence length: each iteration slices
  the scan inputs, imports the body graph with its inputs bound to the current state
  and slices, and the per-iteration scan outputs are stacked at the end.

Body graphs see the outer scope; the importer's name environment is saved and restored
around each body so a body's names never leak out.
"""

from __future__ import annotations

import numpy as np
from pyree.compiler.onnx_tensors import tensor_to_array


def _import_body(importer, body, opset, bindings: dict[str, str]) -> list[str]:
    saved = dict(importer.env)
    try:
        importer.env.update(bindings)
        for init in body.initializer:
            name = importer.graph.fresh_name(init.name)
            importer.graph.add_constant(name, tensor_to_array(init, importer.base_dir))
            importer.env[init.name] = name
        importer.import_nodes(body.node, opset)
        return [importer.lookup(out.name) for out in body.output]
    finally:
        importer.env = saved


def import_if(importer, ctx) -> None:
    """A constant condition imports the taken branch; a runtime one imports both (ONNX
    branches have no side effects) and selects each output, when the branches agree on
    every output's type."""
    cond = ctx.const(0)
    then_b, else_b = ctx.attr("then_branch"), ctx.attr("else_branch")
    if cond is not None:
        branch = then_b if bool(np.asarray(cond).reshape(-1)[0]) else else_b
        for i, out in enumerate(_import_body(importer, branch, ctx.opset, {})):
            ctx.set_output(i, out)
        return
    if ctx.type(0).size != 1:
        ctx.invalid(f"condition must hold one element, got {ctx.type(0)}")
    flag = ctx.emit("reshape", [ctx.input(0)], shape=())
    if ctx.type(0).dtype != "i1":
        flag = ctx.emit("cast", [flag], to="i1")
    then_outs = _import_body(importer, then_b, ctx.opset, {})
    else_outs = _import_body(importer, else_b, ctx.opset, {})
    for i, (a, b) in enumerate(zip(then_outs, else_outs)):
        ta, tb = ctx.graph.types[a], ctx.graph.types[b]
        if ta != tb:
            ctx.fail(f"input 0 '{ctx.proto.input[0]}' (condition) must be a compile-time "
                     f"constant when the branches' output {i} types differ ({ta} vs {tb})")
        ctx.set_output(i, ctx.emit("select", [flag, a, b]))


def _take(ctx, value, shape, axis, index):
    triples = [(0, d, 1) for d in shape]
    triples[axis] = (index, index + 1, 1)
    sliced = ctx.emit("slice", [value], slices=tuple(triples))
    return ctx.emit("reshape", [sliced], shape=shape[:axis] + shape[axis + 1:])


def import_scan(importer, ctx) -> None:
    if ctx.opset < 9:
        ctx.fail("Scan before opset 9 (batched, with sequence_lens) is not supported")
    body = ctx.attr("body")
    m = ctx.attr("num_scan_inputs")
    n = len(ctx.inputs) - m
    in_axes = list(ctx.attr("scan_input_axes", (0,) * m))
    in_dirs = list(ctx.attr("scan_input_directions", (0,) * m))
    k = len(body.output) - n
    out_axes = list(ctx.attr("scan_output_axes", (0,) * k))
    out_dirs = list(ctx.attr("scan_output_directions", (0,) * k))
    scans = ctx.inputs[n:]
    types = [ctx.type(n + j) for j in range(m)]
    in_axes = [a % t.rank for a, t in zip(in_axes, types)]
    lengths = {t.shape[a] for a, t in zip(in_axes, types)}
    if len(lengths) != 1:
        ctx.invalid(f"scan inputs have different sequence lengths {sorted(lengths)}")
    steps = lengths.pop()
    state = list(ctx.inputs[:n])
    collected: list[list[str]] = [[] for _ in range(k)]
    for t in range(steps):
        bindings = {}
        for i in range(n):
            bindings[body.input[i].name] = state[i]
        for j in range(m):
            index = steps - 1 - t if in_dirs[j] else t
            bindings[body.input[n + j].name] = _take(ctx, scans[j], types[j].shape,
                                                     in_axes[j], index)
        outs = _import_body(importer, body, ctx.opset, bindings)
        state = outs[:n]
        for j in range(k):
            collected[j].append(outs[n + j])
    for i in range(n):
        ctx.set_output(i, state[i] if steps else ctx.emit("identity", [state[i]]))
    if k and not steps:
        ctx.fail("Scan over an empty sequence is not supported")
    for j in range(k):
        items = collected[j][::-1] if out_dirs[j] else collected[j]
        shape = ctx.graph.types[items[0]].shape
        axis = out_axes[j] % (len(shape) + 1)
        expanded = [ctx.emit("reshape", [v], shape=shape[:axis] + (1,) + shape[axis:])
                    for v in items]
        ctx.set_output(n + j, ctx.emit("concat", expanded, axis=axis))
