"""Element types a kernel description may name (HAL element types, hal-abi.md 4.4).

One row per type: its name in descriptions, its class (``bool``, ``sint``, ``uint``,
``float``), bit width, numpy dtype and HAL element type code. ``i1`` is stored as one byte
(0 or 1) and is a boolean inside kernels. Signless ``iN`` names are signed.
"""

from __future__ import annotations

import attrs
import numpy as np


@attrs.frozen
class ElementType:
    name: str
    kind: str           # "bool" | "sint" | "uint" | "float"
    bits: int
    dtype: str          # numpy dtype name of the storage
    hal_code: int

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_int(self) -> bool:
        return self.kind in ("sint", "uint")

    @property
    def ctor(self) -> str:
        """The constructor the generated source uses for a value of this type."""
        return "np.bool_" if self.kind == "bool" else "np." + self.dtype

    def bounds(self) -> tuple:
        """(lowest, highest) value: integers' limits, floats' infinities."""
        if self.kind == "bool":
            return (0, 1)
        if self.kind == "float":
            return (-np.inf, np.inf)
        info = np.iinfo(self.dtype)
        return (int(info.min), int(info.max))


TYPES: dict[str, ElementType] = {t.name: t for t in (
    ElementType("i1", "bool", 1, "uint8", 0x13000008),
    ElementType("i8", "sint", 8, "int8", 0x10000008),
    ElementType("i16", "sint", 16, "int16", 0x10000010),
    ElementType("i32", "sint", 32, "int32", 0x10000020),
    ElementType("i64", "sint", 64, "int64", 0x10000040),
    ElementType("si8", "sint", 8, "int8", 0x11000008),
    ElementType("si16", "sint", 16, "int16", 0x11000010),
    ElementType("si32", "sint", 32, "int32", 0x11000020),
    ElementType("si64", "sint", 64, "int64", 0x11000040),
    ElementType("ui8", "uint", 8, "uint8", 0x12000008),
    ElementType("ui16", "uint", 16, "uint16", 0x12000010),
    ElementType("ui32", "uint", 32, "uint32", 0x12000020),
    ElementType("ui64", "uint", 64, "uint64", 0x12000040),
    ElementType("f32", "float", 32, "float32", 0x21000020),
    ElementType("f64", "float", 64, "float64", 0x21000040),
)}

# Types a push-constant scalar (32 bits) may be read as.
PUSH_TYPES = ("i32", "si32", "ui32", "f32")

# Types only host-library ``op`` bodies accept (spec/executables.md section 8), stored as
# the compiler lays them out: ``f16`` and ``bf16`` as their 2-byte bit patterns, the 8-bit
# floats and the 4-/2-bit integers one element per byte (unpacked). ``hostlib`` views them
# as the numpy (ml_dtypes) type it computes in.
HOST_ONLY_TYPES: dict[str, ElementType] = {t.name: t for t in (
    ElementType("f16", "float", 16, "float16", 0x21000010),
    ElementType("bf16", "float", 16, "uint16", 0x22000010),
    ElementType("f8e5m2", "float", 8, "uint8", 0x24000008),
    ElementType("f8e4m3fn", "float", 8, "uint8", 0x25000008),
    ElementType("f8e5m2fnuz", "float", 8, "uint8", 0x26000008),
    ElementType("f8e4m3fnuz", "float", 8, "uint8", 0x27000008),
    ElementType("f8e8m0", "float", 8, "uint8", 0x28000008),
    ElementType("f4e2m1", "float", 4, "uint8", 0x20000004),
    ElementType("i4", "sint", 4, "uint8", 0x10000004),
    ElementType("ui4", "uint", 4, "uint8", 0x12000004),
    ElementType("i2", "sint", 2, "uint8", 0x10000002),
    ElementType("ui2", "uint", 2, "uint8", 0x12000002),
)}
HOST_TYPES: dict[str, ElementType] = {**TYPES, **HOST_ONLY_TYPES}
