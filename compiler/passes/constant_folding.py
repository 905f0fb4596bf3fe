"""Constant folding, including shape arithmetic.

A node folds when every input is a constant (its op's numpy reference computes the
result), or when its op folds from input *types* alone (``shape``, ``size``): with static
shapes, ``Shape -> Gather -> Concat -> Reshape`` chains collapse to constants even when
the data flowing through the graph is not constant.

Folding never grows rodata without bound: a node whose results exceed
``max_elements`` stays in the graph unless its op produces views of its inputs
(``fill`` is a zero-memory ``np.broadcast_to`` splat, ``reshape`` of a constant is a view).

The importer folds eagerly, node by node, through :func:`try_fold`; :func:`fold_constants`
is the same as a pass over a whole graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pyree.compiler import dtypes
from pyree.compiler.ir import Graph, Node, TensorType
from pyree.compiler.ops import OPS

from pyree.status import InternalError

MAX_FOLD_ELEMENTS = 1 << 20
_VIEW_FOLDS = frozenset({"fill", "reshape", "identity", "broadcast_to"})


def try_fold(node: Node, in_types: Sequence[TensorType | None],
             out_types: Sequence[TensorType | None], constants: Mapping[str, np.ndarray],
             max_elements: int = MAX_FOLD_ELEMENTS) -> list[np.ndarray] | None:
    op = OPS[node.op]
    results = None
    if op.fold_types is not None:
        results = op.fold_types(node, in_types)
    if results is None:
        if not op.foldable or any(n and n not in constants for n in node.inputs):
            return None
        big = sum(t.size for t in out_types if t) > max_elements
        if big and node.op not in _VIEW_FOLDS:
            return None
        args = [constants[n] if n else None for n in node.inputs]
        with np.errstate(all="ignore"):
            results = op.reference(node, *args)
        if not isinstance(results, (tuple, list)):
            results = [results]
        if big and args and not all(np.shares_memory(r, args[0]) for r in results):
            return None  # the "view" had to copy (a reshape of a broadcast): keep the node
    out = []
    for array, type_ in zip(results, out_types):
        if type_ is None:
            out.append(None)
            continue
        array = np.asarray(array)
        want = dtypes.to_numpy(type_.dtype)
        if array.dtype != want:
            array = array.astype(want)
        if array.shape != type_.shape:
            raise InternalError(f"folding {node.describe()}: result shape {array.shape} "
                                f"differs from the inferred {type_}")
        out.append(array)
    return out


def fold_constants(graph: Graph, max_elements: int = MAX_FOLD_ELEMENTS) -> int:
    """Folds every foldable node of ``graph`` in place; returns how many nodes folded."""
    kept, folded = [], 0
    for node in graph.nodes:
        in_types = [graph.types[n] if n else None for n in node.inputs]
        out_types = [graph.types[o] if o else None for o in node.outputs]
        arrays = try_fold(node, in_types, out_types, graph.constants, max_elements)
        if arrays is None:
            kept.append(node)
            continue
        folded += 1
        for name, array in zip(node.outputs, arrays):
            if name:
                graph.add_constant(name, array)
    graph.nodes = kept
    return folded
