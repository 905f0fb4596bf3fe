"""Element types of the tensor IR: one table, pyree names, ONNX codes and numpy dtypes.

The table is the HAL host library's (``modules/hal/kernels/hostlib/dtypes.py``): host
``op`` bodies carry the same types, and the compiler depends on the HAL, never the
reverse. This module re-exports it.
Spelling and optional types: see that module's docstring.
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
