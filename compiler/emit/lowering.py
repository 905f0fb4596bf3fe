"""The contract between region lowerings and host-program emission.

A *lowering* turns one dispatch region (``passes.partition.Region``) into the
commands that compute it: a list of :class:`Dispatch` records, each one a
pyree-kernels-v1 function description (spec/executables.md) plus what emission needs
to record ``hal.command_buffer.dispatch``: which value's bytes each binding reads or
writes, the workgroup count and the push constants.

Lowerings are registered per region kind with :func:`lowering`; a kind may register
several, tried in order, each returning ``None`` when it cannot express the region
(so a fast numba body can be tried before a general one). Emission (``host.py``) owns
buffers: it maps every value name to a buffer range (graph inputs, rodata constants,
graph outputs, arena transients by ``BufferPlan``, scratch) and records the dispatches
in region order with execution barriers between dependent ones.

A lowering never allocates buffers or touches the runtime; it only describes. Scratch
memory a region needs internally (an im2col matrix, partial sums) is declared as
:class:`Scratch` values whose names the dispatches may use as operands.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from pyree.status import UnimplementedError


@attrs.frozen
class Operand:
    """A binding's bytes: value ``value`` (a graph value or a scratch name), starting
    ``byte_offset`` bytes into that value's range, ``byte_length`` bytes long (``None``:
    to the end of the value)."""

    value: str
    byte_offset: int = 0
    byte_length: int | None = None


@attrs.frozen
class Dispatch:
    """One ``command_buffer.dispatch``.

    ``function`` is a pyree-kernels-v1 function description *without* ``name`` (emission
    gives each dispatch a function of its own, named after ``label``); its binding
    ``index`` k is bound to ``operands[k]``. ``workgroups`` is (x, y, z); ``constants``
    are the push constants (each an i32/u32 value). ``label`` names the ONNX nodes it
    computes (for traces, errors and debug locations), e.g. ``"Conv_0+Relu_1"``.
    """

    function: dict
    operands: tuple[Operand, ...]
    workgroups: tuple[int, int, int]
    constants: tuple[int, ...] = ()
    label: str = ""


@attrs.frozen
class Scratch:
    """A region-private temporary of ``nbytes`` bytes, alive only during the region."""

    name: str
    nbytes: int


@attrs.frozen
class Lowered:
    """The dispatches of a region, its scratch, and the constants it derives from the
    graph's: ``derived`` is ``(name, array)`` pairs (a weight prepacked in the layout its
    kernel reads) that emission adds to the graph's constants, so the dispatches may bind
    them like any constant."""

    dispatches: tuple[Dispatch, ...]
    scratch: tuple[Scratch, ...] = ()
    derived: tuple[tuple[str, object], ...] = ()


# kind -> lowerings tried in order; each is (region, graph) -> Lowered | None
LOWERINGS: dict[str, list[Callable]] = {}


def lowering(*kinds: str):
    """Register a lowering for region kinds (decorator); later registrations are tried
    after earlier ones."""

    def register(fn):
        for kind in kinds:
            LOWERINGS.setdefault(kind, []).append(fn)
        return fn

    return register


def lower_region(region, graph) -> Lowered:
    """The first registered lowering that expresses ``region``; UNIMPLEMENTED naming the
    region's first node and op when none does."""
    for fn in LOWERINGS.get(region.kind, ()):
        result = fn(region, graph)
        if result is not None:
            return result
    node = region.nodes[0]
    raise UnimplementedError(
        f"{node.describe()}: no kernel lowering for op '{node.op}' "
        f"(region kind '{region.kind}') with these types/attributes")


def label(region) -> str:
    """The ONNX node names a region computes, joined with '+'."""
    return "+".join(n.name or n.op for n in region.nodes)
