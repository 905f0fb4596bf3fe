"""Validated kernel descriptions: the records ``executable_format.parse`` produces.

Everything here has been checked against spec/executables.md; the code generator and the
dispatch-time layout code trust these records and never see the raw JSON. Size
expressions are evaluated in Python with unbounded integers (``SizeExpr.evaluate``).
"""

from __future__ import annotations

import attrs

from .types import ElementType


@attrs.frozen
class SizeExpr:
    """A non-negative size: a literal, a push constant (``pc``), an executable constant
    (``ec``), or the sum / product of sub-expressions. Constants are read as u32."""

    kind: str                       # "int" | "pc" | "ec" | "add" | "mul"
    value: int = 0                  # literal value or constant index
    args: tuple = ()

    def evaluate(self, push: tuple, consts: tuple) -> int:
        kind = self.kind
        if kind == "int":
            return self.value
        if kind == "pc":
            return push[self.value]
        if kind == "ec":
            return consts[self.value]
        total = 0 if kind == "add" else 1
        for arg in self.args:
            total = total + arg.evaluate(push, consts) if kind == "add" else \
                total * arg.evaluate(push, consts)
        return total

    def static(self) -> int | None:
        """The value when it depends on no constant, else None."""
        if self.kind == "int":
            return self.value
        if self.kind in ("pc", "ec"):
            return None
        values = [a.static() for a in self.args]
        if any(v is None for v in values):
            return None
        return self.evaluate((), ())


@attrs.frozen
class Binding:
    index: int
    type: ElementType
    access: str                     # "read" | "write" | "readwrite"
    shape: tuple                    # tuple[SizeExpr]
    strides: tuple | None           # tuple[SizeExpr] (elements) or None = row-major dense
    offset: SizeExpr                # elements

    @property
    def readable(self) -> bool:
        return self.access in ("read", "readwrite")

    @property
    def writable(self) -> bool:
        return self.access in ("write", "readwrite")


@attrs.frozen
class Node:
    """An expression node. ``op`` is a row of ``ops.OPS``, or ``load``, ``const``,
    ``push``, ``cast``. ``type`` is the result type."""

    op: str
    type: ElementType
    args: tuple = ()
    binding: int = -1               # load
    perm: tuple | None = None       # load: iteration dim i reads binding dim perm[i]
    value: float | int = 0          # const
    index: int = -1                 # push
    pred: str = ""                  # cmp


@attrs.frozen
class Output:
    binding: int
    value: Node


@attrs.frozen
class Elementwise:
    shape: tuple                    # iteration space, tuple[SizeExpr]
    outputs: tuple                  # tuple[Output]


@attrs.frozen
class Reduce:
    op: str                         # sum | prod | max | min | mean
    source: int
    target: int
    axis: int
    keepdims: bool


@attrs.frozen
class Softmax:
    source: int
    target: int
    axis: int


@attrs.frozen
class Matmul:
    lhs: int
    rhs: int
    out: int
    transpose_lhs: bool
    transpose_rhs: bool
    alpha: float
    beta: float
    epilogue: tuple = ()            # tuple[EpilogueStep]; channel = column of out
    column_block: SizeExpr | None = None    # columns of out per item (None: all N)
    rhs_packed: bool = False        # rhs is [P, K, NR] panels (panels.py)


@attrs.frozen
class OpBody:
    """A host-library op (``hostlib.OPS`` row ``op``) over whole bindings: ``inputs`` and
    ``outputs`` are binding indices (``None``: an absent optional operand / an unused
    result); ``attrs`` the validated attributes as sorted (name, value) pairs."""

    op: str
    attrs: tuple
    inputs: tuple
    outputs: tuple


@attrs.frozen
class Function:
    name: str
    push_constants: tuple           # names (meaning); the count is len()
    bindings: tuple                 # tuple[Binding], ordered by index
    items_per_workgroup: SizeExpr
    body: Elementwise | Reduce | Softmax | Matmul | OpBody


@attrs.frozen
class ExecutableDesc:
    constants: int
    functions: tuple                # tuple[Function]


@attrs.frozen
class EpilogueStep:
    """One step of a conv epilogue (spec/executables.md 6.5): ``op`` is an activation
    (``relu``, ``clip``, ``leaky_relu``, ``sigmoid``), a per-output-channel operation
    (``channel_add``, ``channel_mul``, ``channel_sub``) or a whole-tensor one (``add``,
    ``mul``) reading ``binding``; ``params`` are the activation's numbers."""

    op: str
    binding: int = -1
    params: tuple = ()


@attrs.frozen
class Conv:
    input: int
    weights: int
    output: int
    group: SizeExpr
    strides: tuple                  # tuple[SizeExpr], one per spatial dim
    dilations: tuple
    pads: tuple                     # begins then ends
    epilogue: tuple = ()            # tuple[EpilogueStep]
    channel_block: SizeExpr | None = None   # output channels per item (None: M/group)


@attrs.frozen
class Pool:
    op: str                         # max | average | lp
    input: int
    output: int
    kernel: tuple                   # tuple[SizeExpr], one per spatial dim
    strides: tuple
    dilations: tuple
    pads: tuple                     # begins then ends
    count_include_pad: bool = False
    p: float = 2.0
    whole_planes: bool = False      # the kernel has the plane pass (spec 6.6)
