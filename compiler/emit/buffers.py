"""Where every value's bytes live during one call of ``main``.

A :class:`Place` is a buffer (``key``) and a byte offset in it:

* graph inputs: ``("input", i)``, the buffer of argument i's view, offset 0;
* constants: ``("const", name)``, the buffer ``__init`` made (see ``constants.py``);
* graph outputs computed by a dispatching region: ``("output", name)``, allocated per call;
* transients: ``("arena",)`` at the ``BufferPlan`` slot offset (views and concat operands
  placed in place have slots inside their root's range);
* views of anything else alias their source's place;
* region scratch: the arena, after the planned transients; every region's scratch
  starts at the same offset (scratch lives only during its region, and the barrier
  rule orders reuse across regions). Node outputs that no region reads (unused results
  of multi-output ops) that a dispatch writes are scratch of their region.

Graph outputs that are inputs, constants or views are not computed into their own
buffer; they are copied into a per-call output buffer at the end (:func:`output_sources`).
"""

from __future__ import annotations

import attrs
from pyree.compiler.passes.buffer_plan import ALIGNMENT

from pyree.status import InternalError


@attrs.frozen
class Place:
    key: tuple
    offset: int


def _align(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


class Buffers:
    def __init__(self, compiled, lowered: dict):
        self.graph = compiled.graph
        self.plan = compiled.plan
        self.inputs = {name: i for i, name in enumerate(self.graph.inputs)}
        self.view_source = {r.nodes[0].outputs[0]: r.nodes[0].inputs[0]
                            for r in compiled.partition.regions if r.kind == "view"}
        self.computed_outputs = [
            name for name in dict.fromkeys(self.graph.outputs)
            if name not in self.inputs and name not in self.graph.constants
            and name not in self.view_source]
        self.scratch_base = _align(self.plan.arena_size)
        self.scratch: dict[tuple[int, str], int] = {}
        self.scratch_sizes: dict[tuple[int, str], int] = {}
        extra = 0
        for index, low in lowered.items():
            offset = self.scratch_base
            for name, nbytes in self._region_scratch(low):
                self.scratch[(index, name)] = offset
                self.scratch_sizes[(index, name)] = nbytes
                offset += _align(max(nbytes, 1))
            extra = max(extra, offset - self.scratch_base)
        self.arena_size = self.scratch_base + extra if extra else self.plan.arena_size

    def _region_scratch(self, low):
        """The lowering's scratch, plus node outputs nothing reads (a multi-output op's
        unused results): written by the dispatch, they need bytes only during the region."""
        out = [(s.name, s.nbytes) for s in low.scratch]
        declared = {s.name for s in low.scratch}
        for d in low.dispatches:
            for op in d.operands:
                if op.value not in declared and not self._placed(op.value):
                    declared.add(op.value)
                    out.append((op.value, self.graph.type_of(op.value).nbytes))
        return out

    def _placed(self, name: str) -> bool:
        return (name in self.inputs or name in self.graph.constants
                or name in self.computed_outputs or name in self.plan.slots
                or name in self.view_source)

    def place(self, name: str, region: int | None = None) -> Place:
        if region is not None and (region, name) in self.scratch:
            return Place(("arena",), self.scratch[(region, name)])
        if name in self.inputs:
            return Place(("input", self.inputs[name]), 0)
        if name in self.graph.constants:
            return Place(("const", name), 0)
        if name in self.computed_outputs:
            return Place(("output", name), 0)
        slot = self.plan.slots.get(name)
        if slot is not None:
            return Place(("arena",), slot.offset)
        if name in self.view_source:
            return self.place(self.view_source[name])
        raise InternalError(f"emission: value '{name}' has no buffer (not an input, "
                            "constant, output, planned transient or view)")

    def nbytes(self, name: str, region: int | None = None) -> int:
        if region is not None and (region, name) in self.scratch_sizes:
            return self.scratch_sizes[(region, name)]
        return self.graph.type_of(name).nbytes

    def output_sources(self) -> dict[str, Place]:
        """Graph outputs copied into their own buffer at the end: name -> source place."""
        return {name: self.place(name) for name in dict.fromkeys(self.graph.outputs)
                if name not in self.computed_outputs}
