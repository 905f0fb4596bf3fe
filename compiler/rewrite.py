"""Small graph rewriting utilities shared by the importer and the passes."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from pyree.compiler.ir import Graph


def rename_values(graph: Graph, mapping: Mapping[str, str]) -> None:
    """Renames values everywhere (types, constants, inputs, outputs, node operands)."""
    if not mapping:
        return

    def r(name: str) -> str:
        return mapping.get(name, name) if name else name

    graph.types = {r(k): v for k, v in graph.types.items()}
    graph.constants = {r(k): v for k, v in graph.constants.items()}
    graph.inputs = [r(n) for n in graph.inputs]
    graph.outputs = [r(n) for n in graph.outputs]
    graph.nodes = [attrs.evolve(node, inputs=tuple(r(n) for n in node.inputs),
                                outputs=tuple(r(n) for n in node.outputs))
                   for node in graph.nodes]


def replace_uses(graph: Graph, mapping: Mapping[str, str]) -> None:
    """Makes every use of a key (node operands, graph outputs) use its value instead."""
    if not mapping:
        return

    def r(name: str) -> str:
        while name in mapping:
            name = mapping[name]
        return name

    graph.outputs = [r(n) for n in graph.outputs]
    graph.nodes = [attrs.evolve(node, inputs=tuple(r(n) if n else n for n in node.inputs))
                   for node in graph.nodes]
