"""Shape and dtype inference.

:func:`infer_node` runs one op's ``infer`` and checks it returned one static type per
output; the importer calls it for every node it emits. :func:`infer_shapes` re-infers a
whole graph after a rewrite, filling in or checking every node output type.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyree.compiler.ir import Graph, Node, TensorType
from pyree.compiler.ops import OPS

from pyree.status import InternalError, InvalidArgumentError, NotFoundError


def infer_node(node: Node, in_types: Sequence[TensorType | None]) -> list[TensorType]:
    op = OPS.get(node.op)
    if op is None:
        raise NotFoundError(f"{node.describe()}: unknown IR op '{node.op}'")
    out = op.infer(node, list(in_types))
    if isinstance(out, TensorType):
        out = [out]
    out = list(out)
    if len(out) < len(node.outputs):
        raise InternalError(f"{node.describe()}: inferred {len(out)} types for "
                            f"{len(node.outputs)} outputs")
    for t in out[:len(node.outputs)]:
        if any(d < 0 for d in t.shape):
            raise InvalidArgumentError(f"{node.describe()}: inferred a negative dimension "
                                       f"{t}")
    return out[:len(node.outputs)]


def infer_shapes(graph: Graph, check: bool = False) -> None:
    """(Re)infers every node's output types in order; ``check`` compares with the record."""
    for node in graph.nodes:
        in_types = [graph.types[n] if n else None for n in node.inputs]
        for name, t in zip(node.outputs, infer_node(node, in_types)):
            if not name:
                continue
            if check and graph.types.get(name) != t:
                raise InvalidArgumentError(
                    f"{node.describe()}: output '{name}' recorded as "
                    f"{graph.types.get(name)}, inferred {t}")
            graph.types[name] = t
