"""Fused elementwise nodes as pyree-kernels-v1 elementwise dispatches.

:func:`build` turns a topologically ordered list of elementwise IR nodes (all producing
the iteration shape; operands broadcast into it) into one dispatch, or a few when the
expression trees grow past the format's limits (64 deep, 4096 nodes per function) or the
values in flight need more than its 32 bindings: then every value still needed is
*materialized* (written to its output, or to a region scratch) and the next dispatch
loads it.

Sizes travel in push constants so that regions of one structure share one description
(and one numba compile): the iteration space is collapsed first (unit dims dropped,
neighbouring dims merged where every operand is either full or broadcast in both), each
collapsed dim is push constant ``k``, the items per workgroup the last one. A binding's
shape repeats the iteration dim's constant where it is full and ``1`` where it
broadcasts. Scalar constants become ``const`` nodes; other constants are bindings.
"""

from __future__ import annotations

import math

import attrs
from pyree.compiler import dtypes

from .lowering import Dispatch, Lowered, Operand, Scratch
from .v1_expr import X, const, load, scalar_constant
from .v1_translate import TRANSLATE

MAX_RANK = 8
MAX_BINDINGS = 32
MAX_NODES = 4096
SPLIT_SIZE = 256        # an operand tree bigger than this is materialized first
SPLIT_DEPTH = 40
PENDING_NODES = 2048    # a dispatch ends before its outputs' trees pass this many nodes
U32 = 1 << 32


def items_per_workgroup(n: int, target: int = 65536) -> int:
    """Items per workgroup for ``n`` items: at most ``target``, at least 4096, about 16
    workgroups in between."""
    return max(1, min(n, max(4096, min(target, -(-n // 16)))))


def collapse(shape, operand_shapes) -> list[tuple[int, tuple[bool, ...]]]:
    """[(size, full flag per operand)] of the collapsed iteration space."""
    rank = len(shape)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in operand_shapes]
    groups: list[tuple[int, tuple[bool, ...]]] = []
    for d, size in enumerate(shape):
        if size == 1:
            continue
        pattern = tuple(p[d] == size for p in padded)
        if groups and groups[-1][1] == pattern:
            groups[-1] = (groups[-1][0] * size, pattern)
        else:
            groups.append((size, pattern))
    return groups


@attrs.define
class _Stage:
    bindings: list = attrs.field(factory=list)      # binding dicts
    operands: list = attrs.field(factory=list)      # Operand per binding
    where: dict = attrs.field(factory=dict)         # location -> binding index
    outputs: list = attrs.field(factory=list)       # {"binding", "value"}
    size: int = 0


class _Builder:
    def __init__(self, graph, nodes, outputs, label, prefix, locations):
        self.graph = graph
        self.nodes = nodes
        self.outputs = list(outputs)
        self.label = label
        self.prefix = prefix
        self.locations = dict(locations)     # materialized value -> location name
        self.shape = graph.types[nodes[-1].outputs[0]].shape
        self.n = math.prod(self.shape)
        produced = {o for node in nodes for o in node.outputs}
        self.consts = {}
        broadcast = {}
        for node in nodes:
            for name in node.inputs:
                if not name or name in produced or name in self.locations:
                    continue
                array = graph.constants.get(name)
                if array is not None and array.size == 1 and array.ndim <= len(self.shape):
                    self.consts[name] = scalar_constant(array)
                else:
                    broadcast[name] = graph.types[name].shape
        self.broadcast_names = list(broadcast)
        self.groups = collapse(self.shape, list(broadcast.values()))
        self.last_use = {}
        for i, node in enumerate(nodes):
            for name in node.inputs:
                if name:
                    self.last_use[name] = i
        self.exprs: dict[str, X] = {}
        self.stage = _Stage()
        self.dispatches: list[Dispatch] = []
        self.scratch: list[Scratch] = []
        self.written: set[str] = set()

    # -- operands ------------------------------------------------------------------------
    def _dims(self, pattern=None):
        return [{"pc": g} if pattern is None or pattern[g] else 1
                for g in range(len(self.groups))]

    def _binding(self, location: str, dtype: str, access: str, pattern=None) -> int:
        st = self.stage
        index = st.where.get(location)
        if index is not None:
            b = st.bindings[index]
            if b["access"] != access:
                b["access"] = "readwrite"
            return index
        index = len(st.bindings)
        st.bindings.append({"index": index, "type": dtype, "access": access,
                            "shape": self._dims(pattern)})
        st.operands.append(Operand(location))
        st.where[location] = index
        return index

    def value(self, name: str) -> X | None:
        if not name:
            return None
        if name in self.exprs:
            return self.exprs[name]
        dtype = self.graph.types[name].dtype
        if name in self.locations:
            return load(self._binding(self.locations[name], dtype, "read"), dtype)
        if name in self.consts:
            return const(self.consts[name], dtype)
        j = self.broadcast_names.index(name)
        pattern = tuple(g[1][j] for g in self.groups)
        return load(self._binding(name, dtype, "read", pattern), dtype)

    # -- stages --------------------------------------------------------------------------
    def _materialize(self, name: str, x: X) -> None:
        dtype = self.graph.types[name].dtype
        if name in self.outputs:
            location = name
            self.written.add(name)
        else:
            location = f"{self.prefix}{name}"
            self.scratch.append(Scratch(location, self.n * dtypes.itemsize(dtype)))
        index = self._binding(location, dtype, "write")
        self.stage.outputs.append({"binding": index, "value": x.json})
        self.stage.size += x.size
        self.locations[name] = location

    def _pending(self, position: int) -> int:
        """Tree nodes the current dispatch would hold if it ended before ``position``."""
        return sum(x.size for name, x in self.exprs.items()
                   if self.last_use.get(name, -1) >= position or name in self.outputs)

    def _must_split(self, position: int, node) -> bool:
        """Whether the current dispatch ends before ``node``: an operand tree is too big or
        deep, or the dispatch would hold too many tree nodes or bindings."""
        trees = [self.exprs[n] for n in node.inputs if n in self.exprs]
        return any(a.size > SPLIT_SIZE or a.depth > SPLIT_DEPTH for a in trees) or \
            self._pending(position) > PENDING_NODES or \
            self._bindings(position, node) > MAX_BINDINGS

    def _bindings(self, position: int, node) -> int:
        """Bindings the current dispatch would need if it also computed ``node``."""
        live = sum(1 for name in self.exprs
                   if self.last_use.get(name, -1) >= position or name in self.outputs)
        new = {self.locations.get(n, n) for n in node.inputs
               if n and n not in self.exprs and n not in self.consts}
        return len(self.stage.bindings) + len(new - set(self.stage.where)) + live + 1

    def close(self, position: int) -> bool:
        """Ends the current dispatch, materializing every value still needed after
        node ``position``; False when the dispatch exceeds the format's limits."""
        for name, x in list(self.exprs.items()):
            if self.last_use.get(name, -1) > position or (
                    name in self.outputs and name not in self.written):
                self._materialize(name, x)
        self.exprs = {}
        st, self.stage = self.stage, _Stage()
        if not st.outputs:
            return True
        if len(st.bindings) > MAX_BINDINGS or st.size > MAX_NODES:
            return False
        k = len(self.groups)
        function = {"push_constants": [f"d{g}" for g in range(k)] + ["items"],
                    "bindings": st.bindings, "items_per_workgroup": {"pc": k},
                    "body": {"kind": "elementwise", "shape": self._dims(),
                             "outputs": st.outputs}}
        per = items_per_workgroup(self.n)
        self.dispatches.append(Dispatch(
            function, tuple(st.operands), (-(-self.n // per), 1, 1),
            tuple(g[0] for g in self.groups) + (per,), self.label))
        return True

    def run(self) -> Lowered | None:
        if len(self.groups) > MAX_RANK or any(g[0] >= U32 for g in self.groups) or \
                self.n >= U32 * 4096:
            return None
        if self.n == 0:
            return Lowered(())
        for i, node in enumerate(self.nodes):
            fn = TRANSLATE.get(node.op)
            if fn is None or len([o for o in node.outputs if o]) != 1:
                return None
            if self._must_split(i, node) and not self.close(i - 1):
                return None
            args = [self.value(name) for name in node.inputs]
            while args and args[-1] is None:
                args.pop()
            out = node.outputs[0]
            x = fn(node, args, self.graph.types[out].dtype)
            if x is None or x.dtype != self.graph.types[out].dtype:
                return None
            self.exprs[out] = x
        if not self.close(len(self.nodes)):
            return None
        return Lowered(tuple(self.dispatches), tuple(self.scratch))


def kernel_types_only(graph, nodes) -> bool:
    names = {n for node in nodes for n in (*node.inputs, *node.outputs) if n}
    return all(graph.types[n].dtype in dtypes.KERNEL_TYPES for n in names)


def build(graph, nodes, outputs, label: str, prefix: str,
          locations: dict | None = None) -> Lowered | None:
    """Dispatches computing ``outputs`` of the elementwise ``nodes``; ``locations`` maps
    values computed before (e.g. a matmul's result) to the buffer they are in. ``prefix``
    names the scratch values (unique per region)."""
    if not nodes or not kernel_types_only(graph, nodes):
        return None
    return _Builder(graph, nodes, outputs, label, prefix, locations or {}).run()

