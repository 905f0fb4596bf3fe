"""The prepacked layout of a matmul's constant ``rhs`` (spec/executables.md 6.4,
``rhs_packed``): what the GEMM's panel loop reads (``gemm.gemm_packed``), laid out once
by the compiler instead of packed again by every call.

``B[K, N]`` is cut into ``P = ceil(N / NR)`` panels of ``NR`` columns (``width``: 64 bytes
of elements, 16 f32 or 8 f64, the micro-kernel's width), the last zero-padded; panel
``q`` is ``K`` rows of ``NR`` contiguous elements. As an array: ``[P, K, NR]``, element
``(q, p, j)`` = ``B[p, q*NR + j]`` (0 past N). numpy only: the compiler imports it.
"""

from __future__ import annotations

import numpy as np

PANEL_BYTES = 64


def width(itemsize: int) -> int:
    """NR, the columns of a panel, for elements of ``itemsize`` bytes."""
    return PANEL_BYTES // itemsize


def count(n: int, itemsize: int) -> int:
    """P, the panels of ``n`` columns."""
    nr = width(itemsize)
    return -(-n // nr)


def pack(b: np.ndarray) -> np.ndarray:
    """``b`` (``[K, N]``, any layout) as ``[P, K, NR]`` panels, C-contiguous."""
    k, n = b.shape
    nr = width(b.dtype.itemsize)
    full, rest = divmod(n, nr)
    out = np.zeros((count(n, b.dtype.itemsize), k, nr), b.dtype)   # the only allocation
    out[:full] = b[:, :full * nr].reshape(k, full, nr).transpose(1, 0, 2)
    if rest:
        out[full, :, :rest] = b[:, full * nr:]
    return out
