"""The compile pipeline from an imported graph to partitioned regions and a buffer plan.

    graph --fold_constants--> --canonicalize--> --eliminate_dead_code--> --partition-->
          --plan_buffers-->

Each step leaves a graph that verifies. The result, :class:`CompiledGraph`, is what
emission (next: pyree-kernels-v1 executables + VM bytecode) consumes.
"""

from __future__ import annotations

import attrs
from pyree.compiler.ir import Graph
from pyree.compiler.passes.buffer_plan import BufferPlan, plan_buffers
from pyree.compiler.passes.canonicalize import canonicalize
from pyree.compiler.passes.constant_folding import MAX_FOLD_ELEMENTS, fold_constants
from pyree.compiler.passes.dce import eliminate_dead_code
from pyree.compiler.passes.partition import Partition, partition
from pyree.compiler.verify import verify


@attrs.frozen
class CompiledGraph:
    graph: Graph
    partition: Partition
    plan: BufferPlan


def compile_graph(graph: Graph, *, max_fold_elements: int = MAX_FOLD_ELEMENTS,
                  check: bool = True) -> CompiledGraph:
    graph = graph.copy()
    fold_constants(graph, max_fold_elements)
    canonicalize(graph)
    eliminate_dead_code(graph)
    if check:
        verify(graph)
    parts = partition(graph)
    plan = plan_buffers(parts)
    if check:
        parts.verify()
        plan.verify(parts)
    return CompiledGraph(graph, parts, plan)
