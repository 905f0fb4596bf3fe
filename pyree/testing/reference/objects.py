"""Objects of the reference evaluator: buffers, lists, ref types and the type table.

Written from ``vm-runtime.md`` sections 5 to 7 and ``vm-isa.md`` 5.3 / 5.11, sharing no
code with ``pyree.vm``. A ref is a Python object (identity is ref identity) or None.
"""

from __future__ import annotations

from pyree.status import StatusCode

MUTABLE, ORIGIN_MODULE, ORIGIN_GUEST, ORIGIN_HOST = 1, 2, 4, 8

VALUE_WIDTH = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}
#: Ref type names the runtime registers (vm-runtime.md 1).
KNOWN_REF_TYPES = frozenset({
    "vm.buffer", "vm.list", "hal.allocator", "hal.buffer", "hal.buffer_view", "hal.channel",
    "hal.command_buffer", "hal.device", "hal.event", "hal.executable", "hal.fence",
    "hal.file", "hal.semaphore",
})


class Trap(Exception):
    """An instruction failed: the invocation stops with one of ``codes`` (a set when the
    reference documents leave the choice open, e.g. which of two errors is checked
    first)."""

    def __init__(self, codes, message: str = ""):
        if isinstance(codes, int):
            codes = {codes}
        self.codes = frozenset(int(c) for c in codes)
        self.message = message
        super().__init__(f"{sorted(self.codes)}: {message}")


def trap(code: StatusCode, message: str = "") -> Trap:
    return Trap({code}, message)


class RBuffer:
    __slots__ = ("__weakref__", "data", "flags")

    def __init__(self, data: bytearray, flags: int):
        self.data = data
        self.flags = flags

    def __repr__(self) -> str:
        return f"RBuffer({bytes(self.data)!r}, flags={self.flags})"


class RList:
    """``kind`` is ``value`` (``element`` is a value type name), ``ref`` (``element`` is
    a ref type name) or ``variant``. Value elements are ints (floats as bits), ref
    elements objects or None, variant elements None, ``("v", type, value)`` or
    ``("r", obj)``."""

    __slots__ = ("__weakref__", "element", "items", "kind")

    def __init__(self, kind: str, element: str | None):
        self.kind = kind
        self.element = element
        self.items: list = []

    def __repr__(self) -> str:
        return f"RList({self.kind}, {self.element}, {self.items!r})"


class HostRef:
    """An opaque host object of a named ref type (arguments of other ref types)."""

    __slots__ = ("payload", "type_name")

    def __init__(self, type_name: str, payload=None):
        self.type_name = type_name
        self.payload = payload


def ref_type_name(obj) -> str | None:
    if obj is None:
        return None
    if isinstance(obj, RBuffer):
        return "vm.buffer"
    if isinstance(obj, RList):
        return "vm.list"
    if isinstance(obj, HostRef):
        return obj.type_name
    return None


def resolve_type(name: str) -> tuple:
    """A type-table entry (vmasm.md 6): ``("value", "i32")``, ``("variant",)`` or
    ``("ref", "vm.buffer")``. Unknown names trap NOT_FOUND."""
    if name in VALUE_WIDTH:
        return ("value", name)
    if name == "!vm.opaque":
        return ("variant",)
    if name.startswith("!vm.list"):
        return ("ref", "vm.list")
    if name.startswith("!") and name[1:] in KNOWN_REF_TYPES:
        return ("ref", name[1:])
    raise trap(StatusCode.NOT_FOUND, f"no type registered with name '{name}'")


def type_accepts(resolved: tuple, obj) -> bool:
    """The ref type check of globals, select.ref, switch.ref and cast.any.ref: null, or
    exactly the named ref type (``!vm.opaque`` and value types accept only null)."""
    if obj is None:
        return True
    return resolved[0] == "ref" and resolved[1] == ref_type_name(obj)
