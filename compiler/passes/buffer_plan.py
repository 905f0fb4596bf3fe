"""Buffer planning: one transient arena, reused by liveness.

Values that cross region boundaries must live in memory. Graph inputs, constants
(rodata) and graph outputs (returned to the caller) live outside the arena; every other
region output is a **transient** and gets a byte range of the arena. A view region's
output (``reshape``/``identity``) is an alias of its input's range.

Liveness is measured in region indices: a transient is live from the region that
produces it to the last region that reads it or any alias of it (closed interval). Two
transients whose intervals intersect never share bytes - in particular a region's
inputs never share bytes with its outputs. Ranges are assigned greedily by size,
largest first, each at the lowest aligned offset that does not collide with an
already placed, simultaneously live range (TFLite's "greedy by size"). ``verify``
re-proves the no-overlap property pairwise.
"""

from __future__ import annotations

import attrs

from pyree.status import InternalError

ALIGNMENT = 64


@attrs.frozen
class Slot:
    offset: int
    size: int
    start: int
    end: int
    alias_of: str | None = None


@attrs.frozen
class BufferPlan:
    slots: dict[str, Slot]
    arena_size: int
    unshared_size: int  # what the transients would take without reuse

    def roots(self) -> dict[str, Slot]:
        return {n: s for n, s in self.slots.items() if s.alias_of is None}

    def verify(self, partition=None) -> None:
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


def plan_buffers(partition) -> BufferPlan:
    graph = partition.graph
    external = set(graph.inputs) | set(graph.constants) | set(graph.outputs)
    root_of: dict[str, str] = {}
    start: dict[str, int] = {}
    for region in partition.regions:
        for name in region.outputs:
            if name in external:
                continue
            if region.kind == "view":
                source = region.nodes[0].inputs[0]
                if source in root_of:
                    root_of[name] = root_of[source]
                    continue
                if source in external:
                    continue  # a view of an external buffer stays outside the arena
            root_of[name] = name
            start[name] = region.index
    end = dict(start)
    for region in partition.regions:
        for name in region.inputs:
            if name in root_of:
                root = root_of[name]
                end[root] = max(end[root], region.index)
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
        slots[name] = Slot(offsets[root], sizes[root], start[root], end[root],
                           None if root == name else root)
    arena = max((o + s for o, s, _, _ in placed), default=0)
    unshared = sum(_align(max(s, 1)) for s in sizes.values())
    return BufferPlan(slots, arena, unshared)
