"""Element types of the tensor IR: one table, pyree names, ONNX codes and numpy dtypes.

The table is the HAL host library's (``modules/hal/kernels/hostlib/dtypes.py``): host
``op`` bodies carry the same types, and the compiler depends on the HAL, never the
reverse. This module re-exports it.

pyree spells element types as the executable format does (``i1`` is a boolean stored in
one byte, ``ui8`` an unsigned byte, ``f32`` a float); types the format does not have yet
(``f16``, ``bf16``, the 8-bit floats, 4-bit integers) still exist in the IR so that the
importer and the reference evaluator can carry them, and emission rejects them later.
The narrow float and integer types come from ``ml_dtypes`` when it is installed (``onnx``
depends on it); without it those rows are absent and importing such a tensor is
UNIMPLEMENTED.
"""

from __future__ import annotations

from pyree.modules.hal.kernels.hostlib.dtypes import (  # noqa: F401  (re-exported)
    BY_NUMPY,
    BY_ONNX,
    FLOATS,
    INTEGERS,
    KERNEL_TYPES,
    NUMPY,
    ONNX_CODE,
    SIGNED,
    UNSIGNED,
    from_numpy,
    from_onnx,
    is_float,
    is_int,
    itemsize,
    to_numpy,
)
