"""The tensor IR: a graph of nodes over statically shaped, typed values.

Contract
--------
* A **value** is a name with a :class:`TensorType` (a static ``shape`` tuple and a pyree
  element type, see ``dtypes.py``). Every value is defined exactly once: as a graph input,
  as a constant, or as one output of one node. The empty name ``""`` stands for an
  absent optional operand and is never defined.
* A **constant** holds a read-only numpy array. Initializers are viewed, not copied,
  where the source allows it (raw bytes, external files mapped with ``np.memmap``), and
  splats (``ConstantOfShape``) are ``np.broadcast_to`` views that take no memory. The
  runtime later views the same bytes as rodata.
* A **node** is a frozen value: an op name from ``compiler.ops.OPS``, input and output
  value names and :class:`Attributes` (frozen, hashable data: ints, floats, strings,
  tuples of those). Tensors never appear in attributes: they become constants.
* ``Graph.nodes`` is kept in topological order: every node's inputs are defined before
  it (by graph inputs, constants or earlier nodes). Passes that rewrite the node list
  keep that order or call :meth:`Graph.toposort`.

``compiler.verify`` checks all of this; the importer and every pass leave a graph that
verifies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs
import numpy as np
from pyree.compiler import dtypes
from pyree.modules.hal.kernels.hostlib.common import TensorType

from pyree.status import InvalidArgumentError, NotFoundError


def _freeze(value):
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    raise InvalidArgumentError(f"attribute value {value!r} is not frozen data")


@attrs.frozen
class Attributes(Mapping):
    """An immutable, hashable mapping of attribute names to frozen data."""

    items_: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(cls, mapping: Mapping | None = None, **kwargs) -> Attributes:
        merged = dict(mapping or {}, **kwargs)
        return cls(tuple(sorted((k, _freeze(v)) for k, v in merged.items())))

    def __getitem__(self, key):
        for k, v in self.items_:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self):
        return (k for k, _ in self.items_)

    def __len__(self):
        return len(self.items_)

    def replace(self, **kwargs) -> Attributes:
        return Attributes.of(dict(self.items_), **kwargs)


@attrs.frozen
class Node:
    op: str
    inputs: tuple[str, ...] = attrs.field(converter=tuple)
    outputs: tuple[str, ...] = attrs.field(converter=tuple)
    attrs: Attributes = attrs.field(factory=Attributes)
    name: str = ""

    def attr(self, key: str, default=None):
        return self.attrs.get(key, default)

    def describe(self) -> str:
        return f"node '{self.name}' ({self.op})" if self.name else f"{self.op} node"


@attrs.define(eq=False)
class Graph:
    """A mutable container of values, constants and nodes (identity semantics)."""

    name: str = "main"
    inputs: list[str] = attrs.field(factory=list)
    outputs: list[str] = attrs.field(factory=list)
    types: dict[str, TensorType] = attrs.field(factory=dict)
    constants: dict[str, np.ndarray] = attrs.field(factory=dict)
    nodes: list[Node] = attrs.field(factory=list)

    # -- values ---------------------------------------------------------------------------
    def type_of(self, name: str) -> TensorType:
        try:
            return self.types[name]
        except KeyError:
            raise NotFoundError(f"graph '{self.name}': no value named '{name}'") from None

    def is_constant(self, name: str) -> bool:
        return name in self.constants

    def add_input(self, name: str, type_: TensorType) -> None:
        self.inputs.append(name)
        self.types[name] = type_

    def add_constant(self, name: str, array: np.ndarray) -> None:
        array = np.asarray(array)
        if array.flags.writeable:
            array = array.view()
            array.flags.writeable = False
        self.constants[name] = array
        self.types[name] = TensorType(dtypes.from_numpy(array.dtype), array.shape)

    def fresh_name(self, hint: str) -> str:
        hint = hint or "v"
        if hint not in self.types:
            return hint
        i = 1
        while f"{hint}_{i}" in self.types:
            i += 1
        return f"{hint}_{i}"

    # -- structure ------------------------------------------------------------------------
    def producers(self) -> dict[str, Node]:
        return {out: node for node in self.nodes for out in node.outputs if out}

    def consumers(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    users.setdefault(name, []).append(node)
        return users

    def toposort(self) -> None:
        """Reorders ``nodes`` topologically, keeping the current order where it is valid."""
        ready = set(self.inputs) | set(self.constants)
        pending = list(self.nodes)
        ordered: list[Node] = []
        while pending:
            rest = []
            for node in pending:
                if all(not n or n in ready for n in node.inputs):
                    ordered.append(node)
                    ready.update(o for o in node.outputs if o)
                else:
                    rest.append(node)
            if len(rest) == len(pending):
                raise InvalidArgumentError(
                    f"graph '{self.name}': cycle or undefined value among "
                    f"{', '.join(n.describe() for n in rest[:3])}")
            pending = rest
        self.nodes = ordered

    def copy(self) -> Graph:
        return Graph(self.name, list(self.inputs), list(self.outputs), dict(self.types),
                     dict(self.constants), list(self.nodes))

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.op] = counts.get(node.op, 0) + 1
        return counts

    def dump(self) -> str:
        lines = [f"graph {self.name}("
                 + ", ".join(f"{n}: {self.types[n]}" for n in self.inputs) + ")"]
        for name in self.constants:
            lines.append(f"  const {name}: {self.types[name]}")
        for node in self.nodes:
            attrs_ = ", ".join(f"{k}={v!r}" for k, v in node.attrs.items())
            outs = ", ".join(f"{o}: {self.types[o]}" if o else "_" for o in node.outputs)
            lines.append(f"  {outs} = {node.op}({', '.join(node.inputs)})"
                         + (f" {{{attrs_}}}" if attrs_ else ""))
        lines.append("  return " + ", ".join(self.outputs))
        return "\n".join(lines)


def used_values(nodes: Iterable[Node]) -> set[str]:
    return {n for node in nodes for n in node.inputs if n}
