"""Partitioning into dispatch regions, with fusion.

A region is a set of nodes that becomes one dispatch (or, for views, none). Nodes are
visited in topological order and placed greedily:

* **Elementwise chains fuse.** An elementwise node (unary/binary ops, select, clip,
  cast, broadcast) joins the region of its latest-producing operand when that region
  is elementwise with the same iteration shape (the node's output shape; its operands
  broadcast into it). Values used outside the region become extra outputs: the
  executable format's elementwise body writes several outputs in one pass.
* **Epilogues attach to matmul/conv.** An elementwise node whose operand is the sole
  use of a matmul or conv region's last value, with the same shape, joins that region
  (bias add, batch-norm scale/shift, activation, residual add).
* **Everything else is a region of its own**: reductions, softmax, normalisations,
  pooling, transposes, data movement, library ops, and views (``reshape``/``identity``:
  no dispatch, the output aliases the input's buffer).

Placing a node only in the region of its *latest* producing region keeps the regions in
a valid execution order: every operand of a region is a graph input, a constant, or an
output of an earlier region. ``Region.body`` names the pyree-kernels-v1 body kind the
region lowers to (spec/executables.md), or ``None`` when v1 cannot express it yet
(conv, pooling, normalisations, gathers, f16 values, ``sin`` ...: see
``lowering_v1.py``).
"""

from __future__ import annotations

import attrs
from pyree.compiler.ir import Graph, Node
from pyree.compiler.ops import OPS
from pyree.compiler.passes.lowering_v1 import v1_body

from pyree.status import InternalError

EPILOGUE_ANCHORS = frozenset({"matmul", "conv"})


@attrs.frozen
class Region:
    index: int
    kind: str
    body: str | None
    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def anchor(self) -> Node:
        return self.nodes[0]

    @property
    def epilogue(self) -> tuple[Node, ...]:
        return self.nodes[1:] if self.kind in EPILOGUE_ANCHORS else ()

    @property
    def dispatches(self) -> bool:
        return self.kind != "view"


@attrs.frozen
class Partition:
    graph: Graph
    regions: tuple[Region, ...]

    def region_of(self) -> dict[str, int]:
        return {o: r.index for r in self.regions for n in r.nodes for o in n.outputs if o}

    def verify(self) -> None:
        """Every node in one region; regions in execution order; I/O complete."""
        seen = [n for r in self.regions for n in r.nodes]
        if len(seen) != len(self.graph.nodes) or set(map(id, seen)) != set(
                map(id, self.graph.nodes)):
            raise InternalError("partition: regions do not cover each node exactly once")
        available = set(self.graph.inputs) | set(self.graph.constants)
        for r in self.regions:
            for name in r.inputs:
                if name not in available:
                    raise InternalError(f"region {r.index}: input '{name}' is produced by "
                                        "a later region or not at all")
            inside = set(r.inputs)
            for node in r.nodes:
                missing = [n for n in node.inputs if n and n not in inside]
                if missing:
                    raise InternalError(f"region {r.index}: {node.describe()} reads "
                                        f"{missing} without declaring them")
                inside.update(o for o in node.outputs if o)
            available.update(r.outputs)
        missing = [o for o in self.graph.outputs if o not in available]
        if missing:
            raise InternalError(f"partition: graph outputs {missing} are never produced")

    def summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.regions:
            out[r.kind] = out.get(r.kind, 0) + 1
        return out


@attrs.define
class _Builder:
    kind: str
    nodes: list[Node]
    shape: tuple[int, ...] | None
    tail: str | None


def _is_ew(node: Node) -> bool:
    return OPS[node.op].kind == "elementwise"


def partition(graph: Graph) -> Partition:
    uses: dict[str, int] = {}
    for node in graph.nodes:
        for n in node.inputs:
            if n:
                uses[n] = uses.get(n, 0) + 1
    for n in graph.outputs:
        uses[n] = uses.get(n, 0) + 1
    builders: list[_Builder] = []
    owner: dict[str, int] = {}
    for node in graph.nodes:
        target = None
        if _is_ew(node) and len([o for o in node.outputs if o]) == 1:
            shape = graph.types[node.outputs[0]].shape
            producers = [owner[n] for n in node.inputs if n in owner]
            if producers:
                latest = max(producers)
                b = builders[latest]
                if b.kind == "elementwise" and b.shape == shape or (b.kind in EPILOGUE_ANCHORS and b.shape == shape and b.tail is not None
                      and b.tail in node.inputs and uses.get(b.tail, 0) == 1
                      and sum(1 for n in node.inputs if n == b.tail) == 1):
                    target = latest
            if target is None:
                builders.append(_Builder("elementwise", [], shape, None))
                target = len(builders) - 1
        else:
            kind = OPS[node.op].kind
            outs = [o for o in node.outputs if o]
            shape = graph.types[outs[0]].shape if len(outs) == 1 else None
            builders.append(_Builder(kind, [], shape, outs[0] if len(outs) == 1 else None))
            target = len(builders) - 1
        b = builders[target]
        b.nodes.append(node)
        if b.kind in EPILOGUE_ANCHORS and len(b.nodes) > 1:
            b.tail = node.outputs[0]
        for o in node.outputs:
            if o:
                owner[o] = target
    users: dict[str, set[int]] = {}
    for i, b in enumerate(builders):
        for node in b.nodes:
            for n in node.inputs:
                if n:
                    users.setdefault(n, set()).add(i)
    outputs = set(graph.outputs)
    return Partition(graph, tuple(_finish(i, b, users, outputs, graph.types)
                                  for i, b in enumerate(builders)))


def _finish(index: int, b: _Builder, users: dict[str, set[int]],
            graph_outputs: set[str], types) -> Region:
    produced = {o for n in b.nodes for o in n.outputs if o}
    inputs: list[str] = []
    for node in b.nodes:
        for n in node.inputs:
            if n and n not in produced and n not in inputs:
                inputs.append(n)
    outputs = tuple(o for n in b.nodes for o in n.outputs
                    if o and (o in graph_outputs or users.get(o, set()) - {index}))
    body = v1_body(b.kind, b.nodes, types)
    return Region(index, b.kind, body, tuple(b.nodes), tuple(inputs), outputs)
