"""Buffer planning: one transient arena, reused by liveness.

Values that cross region boundaries must live in memory. Graph inputs, constants
(rodata) and graph outputs (returned to the caller) live outside the arena; every other
region output is a **transient** and gets a byte range of the arena. A view region's
output (``reshape``/``identity``) is an alias of its input's range.

Liveness is measured in region indices: a transient is live from the region that
produces it to the last region that reads it or any alias of it (closed interval), or to
the end of the program when a graph output is a view of it (copied out after the last
region). Two
transients whose intervals intersect never share bytes - in particular a region's
inputs never share bytes with its outputs.

**Concat in place.** When a concat's operands are contiguous byte ranges of its output
(every dim before the axis is 1, as in NCHW channel concats at batch 1), operands
produced by regions are placed inside the output's range and written there directly;
the output's lifetime then starts at its first operand. Such a concat copies only its
other operands (graph inputs, constants, views, repeated operands).

Ranges are assigned greedily by size,
largest first, each at the lowest aligned offset that does not collide with an
already placed, simultaneously live range (TFLite's "greedy by size"). ``verify``
re-proves the no-overlap property pairwise.
"""

from __future__ import annotations

import math

import attrs

from pyree.status import InternalError

ALIGNMENT = 64


@attrs.frozen
class Slot:
    """A value's byte range in the arena. ``alias_of`` names the root range it lies in
    (a view's source, or the concat written in place); ``writes`` is false for views,
    whose bytes their source already wrote."""

    offset: int
    size: int
    start: int
    end: int
    alias_of: str | None = None
    writes: bool = True


@attrs.frozen
class BufferPlan:
    slots: dict[str, Slot]
    arena_size: int
    unshared_size: int  # what the transients would take without reuse

    def roots(self) -> dict[str, Slot]:
        return {n: s for n, s in self.slots.items() if s.alias_of is None}

    def verify(self, partition=None) -> None:
        for name, slot in self.slots.items():
            root = self.slots.get(slot.alias_of) if slot.alias_of else slot
            if root is None or not (root.offset <= slot.offset and slot.offset + slot.size
                                    <= root.offset + root.size):
                raise InternalError(f"buffer plan: '{name}' lies outside its root's range")
        roots = sorted(self.roots().items(), key=lambda kv: kv[1].start)
        for i, (a, sa) in enumerate(roots):
            if sa.offset % ALIGNMENT or sa.offset + sa.size > self.arena_size:
                raise InternalError(f"buffer plan: '{a}' at {sa.offset}+{sa.size} is "
                                    f"misaligned or outside the {self.arena_size}-byte arena")
            for b, sb in roots[i + 1:]:
                if sb.start > sa.end:
                    break
                if sa.offset < sb.offset + sb.size and sb.offset < sa.offset + sa.size \
                        and sa.size and sb.size:
                    raise InternalError(
                        f"buffer plan: '{a}' [{sa.offset}, {sa.offset + sa.size}) live "
                        f"{sa.start}..{sa.end} overlaps '{b}' [{sb.offset}, "
                        f"{sb.offset + sb.size}) live {sb.start}..{sb.end}")


def _align(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


def _concat_in_place(partition, external) -> dict[str, tuple[str, int]]:
    """value -> (concat output, byte offset) for operands a concat need not copy.

    A concat whose leading dims (before its axis) are all 1 lays each operand out as
    one contiguous byte range of its output, so an operand produced by a region can be
    written there directly. Later concats are resolved first, so a concat's output that
    is itself an operand of a later concat (DenseNet's growing blocks) nests inside it.
    """
    graph = partition.graph
    producer_kind = {o: r.kind for r in partition.regions for o in r.outputs}
    placed: dict[str, tuple[str, int]] = {}
    for region in reversed(partition.regions):
        node = region.nodes[0]
        if region.kind != "data" or node.op != "concat" or len(region.nodes) != 1:
            continue
        out = node.outputs[0]
        shape = graph.types[out].shape
        axis = node.attr("axis")
        if out in external or math.prod(shape[:axis]) != 1:
            continue
        root, base = placed.get(out, (out, 0))
        offset = base
        for name in node.inputs:
            nbytes = graph.types[name].nbytes
            if (name not in external and name not in placed
                    and producer_kind.get(name) not in (None, "view")
                    and node.inputs.count(name) == 1):
                placed[name] = (root, offset)
            offset += nbytes
    return placed


def plan_buffers(partition) -> BufferPlan:
    graph = partition.graph
    external = set(graph.inputs) | set(graph.constants) | set(graph.outputs)
    in_place = _concat_in_place(partition, external)
    root_of: dict[str, str] = {}
    inner: dict[str, int] = {}  # byte offset of a value inside its root's range
    start: dict[str, int] = {}
    for region in partition.regions:
        for name in region.outputs:
            if name in external:
                continue
            if region.kind == "view":
                source = region.nodes[0].inputs[0]
                if source in root_of:
                    root_of[name], inner[name] = root_of[source], inner[source]
                    continue
                if source in external:
                    continue  # a view of an external buffer stays outside the arena
            root, offset = in_place.get(name, (name, 0))
            root_of[name], inner[name] = root, offset
            start[root] = min(start.get(root, region.index), region.index)
    end = dict(start)
    for region in partition.regions:
        for name in region.inputs:
            if name in root_of:
                root = root_of[name]
                end[root] = max(end[root], region.index)
    # A graph output that is a view of a transient is copied out after the last region:
    # its source stays live to the end.
    after_all = len(partition.regions)
    for region in partition.regions:
        if region.kind == "view" and any(o in graph.outputs for o in region.outputs):
            source = region.nodes[0].inputs[0]
            if source in root_of:
                end[root_of[source]] = after_all
    sizes = {r: graph.types[r].nbytes for r in start}
    placed: list[tuple[int, int, int, int]] = []  # offset, size, start, end
    offsets: dict[str, int] = {}
    for root in sorted(start, key=lambda r: (-sizes[r], start[r], r)):
        size = _align(max(sizes[root], 1))
        busy = sorted((o, s) for o, s, a, b in placed if a <= end[root] and start[root] <= b)
        offset = 0
        for o, s in busy:
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        offsets[root] = offset
        placed.append((offset, size, start[root], end[root]))
    slots = {}
    for name, root in root_of.items():
        slots[name] = Slot(offsets[root] + inner[name], graph.types[name].nbytes,
                           start[root], end[root], None if root == name else root,
                           writes=name in in_place or root == name)
    arena = max((o + s for o, s, _, _ in placed), default=0)
    unshared = sum(_align(max(graph.types[n].nbytes, 1)) for n in root_of
                   if n == root_of[n] or n in in_place)
    return BufferPlan(slots, arena, unshared)
