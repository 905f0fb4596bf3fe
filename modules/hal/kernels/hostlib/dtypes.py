"""Element types of host-library op bodies: pyree names, ONNX codes and numpy dtypes.

The compiler's IR types are this table (``compiler/dtypes.py`` re-exports it: the
compiler depends on the HAL, never the reverse).

pyree spells element types as the executable format does (``i1`` is a boolean stored in
one byte, ``ui8`` an unsigned byte, ``f32`` a float); types the format does not have yet
(``f16``, ``bf16``, the 8-bit floats, 4-bit integers) still exist in the IR so that the
importer and the reference evaluator can carry them, and emission rejects them later.
The narrow float and integer types come from ``ml_dtypes`` when it is installed (``onnx``
depends on it); without it those rows are absent and importing such a tensor is
UNIMPLEMENTED.
"""

from __future__ import annotations

import numpy as np

from pyree.status import UnimplementedError

try:  # pragma: no cover - depends on the environment
    import ml_dtypes as _ml
except ImportError:  # pragma: no cover
    _ml = None

# (pyree name, ONNX TensorProto.DataType code, numpy dtype or ml_dtypes attribute name)
_ROWS: tuple[tuple[str, int, object], ...] = (
    ("f32", 1, np.float32),
    ("ui8", 2, np.uint8),
    ("i8", 3, np.int8),
    ("ui16", 4, np.uint16),
    ("i16", 5, np.int16),
    ("i32", 6, np.int32),
    ("i64", 7, np.int64),
    ("i1", 9, np.bool_),
    ("f16", 10, np.float16),
    ("f64", 11, np.float64),
    ("ui32", 12, np.uint32),
    ("ui64", 13, np.uint64),
    ("bf16", 16, "bfloat16"),
    ("f8e4m3fn", 17, "float8_e4m3fn"),
    ("f8e4m3fnuz", 18, "float8_e4m3fnuz"),
    ("f8e5m2", 19, "float8_e5m2"),
    ("f8e5m2fnuz", 20, "float8_e5m2fnuz"),
    ("ui4", 21, "uint4"),
    ("i4", 22, "int4"),
    ("f4e2m1", 23, "float4_e2m1fn"),
    ("f8e8m0", 24, "float8_e8m0fnu"),
    ("ui2", 25, "uint2"),
    ("i2", 26, "int2"),
)


def _resolve(spec) -> np.dtype | None:
    if isinstance(spec, str):
        found = getattr(_ml, spec, None) if _ml is not None else None
        return None if found is None else np.dtype(found)
    return np.dtype(spec)


NUMPY: dict[str, np.dtype] = {}
ONNX_CODE: dict[str, int] = {}
BY_ONNX: dict[int, str] = {}
for _name, _code, _spec in _ROWS:
    _dt = _resolve(_spec)
    if _dt is None:
        continue
    NUMPY[_name] = _dt
    ONNX_CODE[_name] = _code
    BY_ONNX[_code] = _name
BY_NUMPY: dict[np.dtype, str] = {dt: name for name, dt in NUMPY.items()}

FLOATS = frozenset(n for n in NUMPY if n.startswith(("f", "bf")))
SIGNED = frozenset({"i2", "i4", "i8", "i16", "i32", "i64"})
UNSIGNED = frozenset({"ui2", "ui4", "ui8", "ui16", "ui32", "ui64"})
INTEGERS = SIGNED | UNSIGNED
# Types every executable-format kernel accepts (spec/executables.md 3.1).
KERNEL_TYPES = frozenset({"i1", "i8", "i16", "i32", "i64", "ui8", "ui16", "ui32", "ui64",
                          "f32", "f64"})


def is_float(name: str) -> bool:
    return name in FLOATS


def is_int(name: str) -> bool:
    return name in INTEGERS


def to_numpy(name: str) -> np.dtype:
    try:
        return NUMPY[name]
    except KeyError:
        raise UnimplementedError(f"element type '{name}' is not supported") from None


def from_numpy(dtype) -> str:
    try:
        return BY_NUMPY[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise UnimplementedError(f"numpy dtype {dtype!r} has no pyree element type") from None


def from_onnx(code: int) -> str:
    try:
        return BY_ONNX[int(code)]
    except KeyError:
        raise UnimplementedError(f"ONNX element type {code} is not supported") from None


def itemsize(name: str) -> int:
    return to_numpy(name).itemsize
