"""Dead code elimination and identity forwarding.

``identity`` nodes (ONNX Identity, inference-mode Dropout, empty reductions) are
forwarded: every use reads the identity's input instead, except where the identity
produces a graph output that must stay a distinct value. Then nodes none of whose
outputs is used (by a node or as a graph output) are removed, back to front, and so
are constants nothing reads.
"""

from __future__ import annotations

from pyree.compiler.ir import Graph
from pyree.compiler.rewrite import replace_uses


def forward_identities(graph: Graph) -> int:
    outputs = set(graph.outputs)
    mapping = {}
    for node in graph.nodes:
        if node.op == "identity" and node.outputs[0] not in outputs:
            mapping[node.outputs[0]] = node.inputs[0]
    replace_uses(graph, mapping)
    return len(mapping)


def eliminate_dead_code(graph: Graph) -> int:
    """Removes dead nodes, forwarded identities and unused constants; returns nodes removed."""
    forward_identities(graph)
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(o and o in live for o in node.outputs):
            kept.append(node)
            live.update(n for n in node.inputs if n)
    removed = len(graph.nodes) - len(kept)
    graph.nodes = kept[::-1]
    defined = set(graph.inputs) | {o for n in graph.nodes for o in n.outputs if o}
    for name in list(graph.constants):
        if name not in live:
            del graph.constants[name]
    for name in list(graph.types):
        if name not in defined and name not in graph.constants:
            del graph.types[name]
    return removed
