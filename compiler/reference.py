"""The reference evaluator: executes an IR graph node by node with numpy.

Each node runs its op's ``reference`` from the op table. The evaluator is the oracle
for the importer and the passes: an imported, folded and partitioned graph must
compute what the ONNX model computes. ``evaluate_partition`` runs a partitioned graph
region by region, each region seeing only the values it declares as inputs, and
``evaluate_planned`` additionally stores every transient in its planned slice of one
arena, so an overlap that the buffer plan should have prevented corrupts the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pyree.compiler import dtypes
from pyree.compiler.ir import Graph, Node
from pyree.compiler.ops import OPS

from pyree.status import InternalError, InvalidArgumentError, PyreeError


def _feeds(graph: Graph, inputs) -> dict[str, np.ndarray]:
    if isinstance(inputs, Mapping):
        given = dict(inputs)
    else:
        inputs = list(inputs)
        if len(inputs) != len(graph.inputs):
            raise InvalidArgumentError(
                f"graph '{graph.name}' takes {len(graph.inputs)} inputs, got {len(inputs)}")
        given = dict(zip(graph.inputs, inputs))
    env = {}
    for name in graph.inputs:
        if name not in given:
            raise InvalidArgumentError(f"graph '{graph.name}': input '{name}' is missing")
        t = graph.types[name]
        array = np.asarray(given[name])
        if array.shape != t.shape or array.dtype != dtypes.to_numpy(t.dtype):
            raise InvalidArgumentError(
                f"graph '{graph.name}': input '{name}' expects {t}, got "
                f"{array.dtype}{list(array.shape)}")
        env[name] = array
    return env


def run_node(node: Node, env: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    args = [env[n] if n else None for n in node.inputs]
    while args and args[-1] is None:
        args.pop()
    try:
        with np.errstate(all="ignore"):
            results = OPS[node.op].reference(node, *args)
    except PyreeError:
        raise
    except Exception as exc:
        raise InternalError(f"reference of {node.describe()} failed: {exc!r}") from exc
    if not isinstance(results, (tuple, list)):
        results = [results]
    return [np.asarray(r) for r in results]


def _store(graph: Graph, node: Node, results, env) -> None:
    for name, array in zip(node.outputs, results):
        if not name:
            continue
        t = graph.types[name]
        if array.shape != t.shape:
            raise InternalError(f"{node.describe()}: output '{name}' has shape "
                                f"{list(array.shape)}, IR says {t}")
        env[name] = array.astype(dtypes.to_numpy(t.dtype), copy=False)


def evaluate(graph: Graph, inputs) -> list[np.ndarray]:
    """Runs ``graph`` on ``inputs`` (a list in graph-input order, or a name mapping)."""
    env = dict(graph.constants)
    env.update(_feeds(graph, inputs))
    for node in graph.nodes:
        _store(graph, node, run_node(node, env), env)
    return [env[name] for name in graph.outputs]


def evaluate_partition(partition, inputs) -> list[np.ndarray]:
    """Runs a partitioned graph region by region; a region sees only its declared inputs."""
    graph = partition.graph
    visible = dict(graph.constants)
    visible.update(_feeds(graph, inputs))
    for region in partition.regions:
        local = {}
        for name in region.inputs:
            if name not in visible:
                raise InternalError(f"region {region.index}: input '{name}' is not available")
            local[name] = visible[name]
        for node in region.nodes:
            _store(graph, node, run_node(node, local), local)
        for name in region.outputs:
            visible[name] = local[name]
    return [visible[name] for name in graph.outputs]


def evaluate_planned(partition, plan, inputs) -> list[np.ndarray]:
    """Like :func:`evaluate_partition`, with transients stored in one planned arena."""
    graph = partition.graph
    arena = np.full(max(plan.arena_size, 1), 0xCD, dtype=np.uint8)
    visible = dict(graph.constants)
    visible.update(_feeds(graph, inputs))

    def view(name):
        t = graph.types[name]
        slot = plan.slots[name]
        raw = arena[slot.offset:slot.offset + t.nbytes]
        return raw.view(dtypes.to_numpy(t.dtype)).reshape(t.shape)

    for region in partition.regions:
        local = {}
        for name in region.inputs:
            local[name] = view(name) if name in plan.slots else visible[name]
        for node in region.nodes:
            _store(graph, node, [np.array(r, copy=True) for r in run_node(node, local)],
                   local)
        for name in region.outputs:
            if name in plan.slots:
                if plan.slots[name].writes:
                    view(name)[...] = local[name]
            else:
                visible[name] = local[name]
    return [np.array(view(n)) if n in plan.slots else visible[n] for n in graph.outputs]


def allclose(expected: Sequence[np.ndarray], actual: Sequence[np.ndarray], rtol=1e-3,
             atol=1e-7) -> list[str]:
    """Mismatch messages (empty when every output matches)."""
    problems = []
    if len(expected) != len(actual):
        return [f"expected {len(expected)} outputs, got {len(actual)}"]
    for i, (e, a) in enumerate(zip(expected, actual)):
        e, a = np.asarray(e), np.asarray(a)
        if e.shape != a.shape:
            problems.append(f"output {i}: shape {list(a.shape)}, expected {list(e.shape)}")
            continue
        if e.dtype.kind in "fcV" or a.dtype.kind in "fcV" or e.dtype != a.dtype:
            try:
                ok = np.allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol,
                                 atol=atol, equal_nan=True)
            except (TypeError, ValueError):
                ok = False
        else:
            ok = np.array_equal(a, e)
        if not ok:
            problems.append(f"output {i}: values differ")
    return problems
