"""Helpers shared by the op families: type checks, broadcasting, axes, type results."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyree.compiler import dtypes
from pyree.compiler.ir import Node, TensorType

from pyree.status import InvalidArgumentError


def bad(node: Node, message: str):
    raise InvalidArgumentError(f"{node.describe()}: {message}")


def broadcast_shape(node: Node, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes)) if shapes else ()
    except ValueError:
        bad(node, f"shapes {', '.join(str(list(s)) for s in shapes)} do not broadcast")


def same_dtype(node: Node, types: Sequence[TensorType | None]) -> str:
    present = [t for t in types if t is not None]
    first = present[0].dtype
    for t in present[1:]:
        if t.dtype != first:
            bad(node, f"operands must have one element type: got {first} and {t.dtype}")
    return first


def axis(node: Node, value: int, rank: int, what: str = "axis") -> int:
    if not -rank <= value < max(rank, 1):
        bad(node, f"{what} {value} is out of range for rank {rank}")
    return value % rank if rank else 0


def axes(node: Node, values, rank: int) -> tuple[int, ...]:
    out = tuple(sorted(axis(node, int(v), rank, "axis") for v in values))
    if len(set(out)) != len(out):
        bad(node, f"axes {list(values)} repeat an axis")
    return out


def is_float(dtype) -> bool:
    """True for numpy floats and the ml_dtypes ones (bf16, f8 ...: numpy kind 'V')."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or dtypes.BY_NUMPY.get(dtype, "") in dtypes.FLOATS


def np_dtype(name: str) -> np.dtype:
    return dtypes.to_numpy(name)


def tt(dtype: str, shape) -> TensorType:
    return TensorType(dtype, tuple(int(d) for d in shape))
