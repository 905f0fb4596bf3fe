"""Canonicalization: local rewrites that remove work before partitioning.

* ``reshape(reshape(x))`` -> ``reshape(x)``; a reshape to the same shape is an identity.
* ``transpose(transpose(x))`` composes into one transpose (or an identity).
* A transpose that only swaps the last two dims of a ``matmul`` operand becomes the
  matmul's ``transpose_a``/``transpose_b`` flag (the executable format's transposed
  operands), so no transposed copy is ever made.

Rewritten nodes keep their outputs, so uses need no update; the producers they no longer
read become dead and ``eliminate_dead_code`` removes them.
"""

from __future__ import annotations

import attrs
from pyree.compiler.ir import Graph, Node


def _swaps_last_two(perm) -> bool:
    n = len(perm)
    return n >= 2 and tuple(perm) == tuple(range(n - 2)) + (n - 1, n - 2)


def _rewrite(node: Node, producers: dict[str, Node], graph: Graph) -> Node:
    if node.op == "reshape":
        src = producers.get(node.inputs[0])
        if src is not None and src.op == "reshape":
            node = attrs.evolve(node, inputs=(src.inputs[0],))
        if graph.types[node.inputs[0]].shape == tuple(node.attr("shape")):
            return Node("identity", node.inputs, node.outputs, name=node.name)
        return node
    if node.op == "transpose":
        src = producers.get(node.inputs[0])
        if src is not None and src.op == "transpose":
            inner, outer = src.attr("perm"), node.attr("perm")
            perm = tuple(inner[p] for p in outer)
            if perm == tuple(range(len(perm))):
                return Node("identity", (src.inputs[0],), node.outputs, name=node.name)
            return attrs.evolve(node, inputs=(src.inputs[0],),
                                attrs=node.attrs.replace(perm=perm))
        return node
    if node.op == "matmul":
        inputs = list(node.inputs)
        flags = {}
        for i, flag in ((0, "transpose_a"), (1, "transpose_b")):
            src = producers.get(inputs[i])
            if src is not None and src.op == "transpose" and _swaps_last_two(src.attr("perm")):
                inputs[i] = src.inputs[0]
                flags[flag] = 1 - node.attr(flag, 0)
        if flags:
            return attrs.evolve(node, inputs=tuple(inputs), attrs=node.attrs.replace(**flags))
    return node


def canonicalize(graph: Graph) -> int:
    """Applies the rewrites in one forward sweep; returns how many nodes changed."""
    producers: dict[str, Node] = {}
    changed = 0
    nodes = []
    for node in graph.nodes:
        new = _rewrite(node, producers, graph)
        changed += new is not node
        nodes.append(new)
        for out in new.outputs:
            if out:
                producers[out] = new
    graph.nodes = nodes
    return changed
