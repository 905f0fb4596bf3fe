"""Checking data-dependent indices before numpy uses them.

Indices that arrive as runtime operands (Gather, GatherElements, GatherND, ScatterElements,
ScatterND, ReverseSequence's lengths) are checked here, so an index out of its axis is
OUT_OF_RANGE naming the op, the offending value, where it sits in the indices operand and
the valid range, instead of whatever numpy raises (an IndexError, which would reach the
caller as INTERNAL), a silent wrap-around, or a silent clamp. ONNX makes these an error
("out-of-bounds indices are an error"); OneHot is the exception: its out-of-range indices
produce an all-off row by definition and are not checked.
"""

from __future__ import annotations

import numpy as np

from pyree.status import OutOfRangeError


def _first(bad) -> tuple:
    return tuple(int(p) for p in np.argwhere(bad)[0])


def normalized(node, idx, dim: int, what: str, *, where: str = "indices") -> np.ndarray:
    """``idx`` as int64 with negative values counted from the end of an axis of ``dim``
    elements; OUT_OF_RANGE when a value is outside ``[-dim, dim - 1]``. ``what`` names the
    axis (``axis 0 of size 4``), ``where`` the operand."""
    idx = np.asarray(idx).astype(np.int64)
    bad = (idx < -dim) | (idx >= dim)
    if bad.any():
        pos = _first(bad)
        raise OutOfRangeError(
            f"{node.describe()}: index {int(idx[pos])} at {where}{list(pos)} is out of "
            f"range for {what} (valid: {-dim} to {dim - 1})")
    return np.where(idx < 0, idx + dim, idx)


def normalized_tuples(node, idx, shape: tuple, *, first_axis: int = 0) -> np.ndarray:
    """Index tuples along the last dimension of ``idx`` (GatherND, ScatterND): component
    ``q`` indexes axis ``first_axis + q`` of a tensor of ``shape``; each is checked and
    normalized as :func:`normalized`."""
    idx = np.asarray(idx).astype(np.int64)
    out = np.empty_like(idx)
    for q in range(idx.shape[-1]):
        axis = first_axis + q
        dim = shape[axis]
        column = idx[..., q]
        bad = (column < -dim) | (column >= dim)
        if bad.any():
            pos = _first(bad) + (q,)
            raise OutOfRangeError(
                f"{node.describe()}: index {int(idx[pos])} at indices{list(pos)} is out of "
                f"range for axis {axis} of size {dim} (valid: {-dim} to {dim - 1})")
        out[..., q] = np.where(column < 0, column + dim, column)
    return out


def lengths(node, lens, limit: int, what: str) -> np.ndarray:
    """Sequence lengths, each in ``[0, limit]`` (OUT_OF_RANGE otherwise)."""
    lens = np.asarray(lens).astype(np.int64).reshape(-1)
    bad = (lens < 0) | (lens > limit)
    if bad.any():
        (i,) = _first(bad)
        raise OutOfRangeError(f"{node.describe()}: length {int(lens[i])} at "
                              f"sequence_lens[{i}] is out of range for {what} "
                              f"(valid: 0 to {limit})")
    return lens
