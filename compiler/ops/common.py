"""Helpers shared by the op families: type checks, broadcasting, axes, type results.

All but ``tt`` are the HAL host library's (``modules/hal/kernels/hostlib/common.py``),
which the op semantics use too; ``tt`` builds the compiler's own ``TensorType``."""

from __future__ import annotations

from pyree.compiler.ir import TensorType
from pyree.modules.hal.kernels.hostlib.common import (  # noqa: F401  (re-exported)
    axes,
    axis,
    bad,
    broadcast_shape,
    is_float,
    np_dtype,
    same_dtype,
)


def tt(dtype: str, shape) -> TensorType:
    return TensorType(dtype, tuple(int(d) for d in shape))
