"""Graph verification: the invariants of ``ir.py``, checked once after import and passes.

* every value is defined exactly once (graph input, constant or one node output);
* nodes are in topological order and use only defined values;
* every value has a static, non-negative shape and a known element type;
* every node's op is in the op table and its recorded output types equal what the op
  infers from its input types;
* constants match their recorded types; outputs exist.

Failures raise INVALID_ARGUMENT naming the graph, the node and what was expected and found.
"""

from __future__ import annotations

from pyree.compiler import dtypes
from pyree.compiler.ir import Graph, TensorType
from pyree.compiler.ops import OPS

from pyree.status import InvalidArgumentError, PyreeError


def _fail(graph: Graph, message: str):
    raise InvalidArgumentError(f"graph '{graph.name}': {message}")


def _check_type(graph: Graph, name: str, type_) -> None:
    if not isinstance(type_, TensorType):
        _fail(graph, f"value '{name}' has no type")
    if type_.dtype not in dtypes.NUMPY:
        _fail(graph, f"value '{name}' has unknown element type '{type_.dtype}'")
    if any(d < 0 for d in type_.shape):
        _fail(graph, f"value '{name}' has a negative dimension: {type_}")


def verify(graph: Graph, check_types: bool = True) -> None:
    from pyree.compiler.passes.shape_inference import infer_node

    defined: set[str] = set()

    def define(name: str, what: str) -> None:
        if not name:
            return
        if name in defined:
            _fail(graph, f"value '{name}' is defined twice (again by {what})")
        defined.add(name)
        _check_type(graph, name, graph.types.get(name))

    for name in graph.inputs:
        define(name, "a graph input")
    for name, array in graph.constants.items():
        define(name, "a constant")
        t = graph.types[name]
        if array.shape != t.shape or dtypes.from_numpy(array.dtype) != t.dtype:
            _fail(graph, f"constant '{name}' holds {array.dtype}{list(array.shape)}, "
                  f"recorded as {t}")
    for index, node in enumerate(graph.nodes):
        where = f"node {index} {node.describe()}"
        if node.op not in OPS:
            _fail(graph, f"{where}: unknown op '{node.op}'")
        for name in node.inputs:
            if name and name not in defined:
                _fail(graph, f"{where}: operand '{name}' is not defined before use")
        for name in node.outputs:
            define(name, where)
        if check_types:
            in_types = [graph.types[n] if n else None for n in node.inputs]
            try:
                inferred = infer_node(node, in_types)
            except PyreeError as exc:
                _fail(graph, f"{where}: type inference failed: {exc}")
            for name, t in zip(node.outputs, inferred):
                if name and graph.types[name] != t:
                    _fail(graph, f"{where}: output '{name}' recorded as "
                          f"{graph.types[name]}, op infers {t}")
    for name in graph.outputs:
        if name not in defined:
            _fail(graph, f"graph output '{name}' is not defined")
    extra = set(graph.types) - defined
    if extra:
        _fail(graph, f"types recorded for undefined values: {sorted(extra)[:5]}")
