"""The universal fallback: any region as host-library ``op`` dispatches.

Registered last for every region kind (``lowerings.py`` imports this module last), so it
runs only when no numba lowering expressed the region. Each node of the region becomes
one pyree-kernels-v1 ``op`` dispatch (spec/executables.md, "Host library bodies"): the
HAL runs the node's op from its closed numpy table, after checking the attributes against
the op's schema and the binding types and shapes against the op's own inference. Values
a multi-node region computes for itself only (an elementwise chain with an op v1 lacks,
a matmul epilogue at a rank v1 lacks) live in region scratch. Workgroups are (1, 1, 1):
the op is one item.

This is the coverage tier, not the hot path: numpy on the host thread. It refuses
(``None``, then UNIMPLEMENTED) only values whose element type no binding can carry (the
8-bit floats, 4- and 2-bit integers) or of rank above 8.
"""

from __future__ import annotations

from pyree.compiler import dtypes
from pyree.modules.hal.kernels import hostlib
from pyree.modules.hal.kernels.types import HOST_TYPES

from .lowering import Dispatch, Lowered, Operand, Scratch, lowering

KINDS = ("data", "library", "normalization", "reduce", "softmax", "elementwise", "matmul",
         "conv", "pool", "transpose", "view")
MAX_RANK = 8
MAX_BINDINGS = 32


def op_function(graph, node, inputs, outputs) -> dict | None:
    """The ``op`` function description computing ``node`` (without a name), or ``None``
    when a value cannot be a binding. ``inputs``/``outputs`` are the node's value names
    ("" for absent)."""
    bindings, index = [], {}

    def bind(name, access):
        if not name:
            return None
        if name in index:
            return index[name]
        t = graph.types[name]
        if t.dtype not in HOST_TYPES or t.rank > MAX_RANK:
            raise _Refuse
        index[name] = len(bindings)
        bindings.append({"index": len(bindings), "type": t.dtype, "access": access,
                         "shape": list(t.shape)})
        return index[name]

    try:
        ins = [bind(n, "read") for n in inputs]
        outs = [bind(n, "write") for n in outputs]
    except _Refuse:
        return None
    while ins and ins[-1] is None:
        ins.pop()
    if len(bindings) > MAX_BINDINGS or node.op not in hostlib.OPS:
        return None
    return {"bindings": bindings, "items_per_workgroup": 1,
            "body": {"kind": "op", "op": node.op,
                     "attrs": {k: hostlib.to_json(v) for k, v in node.attrs.items()},
                     "inputs": ins, "outputs": outs}}


class _Refuse(Exception):
    pass


@lowering(*KINDS)
def lower_host(region, graph) -> Lowered | None:
    """One ``op`` dispatch per node; region-private values in scratch."""
    produced = [o for n in region.nodes for o in n.outputs if o]
    exported = set(region.outputs)
    location = {}
    scratch = []
    for name in produced:
        if name in exported:
            location[name] = name
            continue
        t = graph.types[name]
        if t.dtype not in HOST_TYPES:
            return None
        location[name] = f"r{region.index}.{name}"
        scratch.append(Scratch(location[name], t.size * dtypes.itemsize(t.dtype)))
    dispatches = []
    for node in region.nodes:
        function = op_function(graph, node, node.inputs, node.outputs)
        if function is None:
            return None
        seen, operands = set(), []
        for name in list(node.inputs) + list(node.outputs):
            if name and name not in seen:
                seen.add(name)
                operands.append(Operand(location.get(name, name)))
        dispatches.append(Dispatch(function, tuple(operands), (1, 1, 1), (),
                                   node.name or node.op))
    return Lowered(tuple(dispatches), tuple(scratch))
