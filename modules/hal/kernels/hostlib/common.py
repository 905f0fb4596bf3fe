"""Helpers the host-library op families share: the node shim, tensor metadata, type
checks, broadcasting and axes (the host-library side of ``compiler/ops/common.py``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from pyree.status import InvalidArgumentError

from . import dtypes


@attrs.frozen
class TensorType:
    """Element type name (``dtypes``) and static shape of one operand or result."""

    dtype: str
    shape: tuple = attrs.field(converter=lambda s: tuple(int(d) for d in s))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * dtypes.itemsize(self.dtype)

    def __str__(self) -> str:
        return f"tensor<{'x'.join(map(str, self.shape)) + 'x' if self.shape else ''}{self.dtype}>"


@attrs.frozen
class OpCall:
    """What an op implementation sees of its call: the op name and validated attributes
    (the ``node`` argument of every ``infer`` / ``run``). ``where`` names the caller for
    error messages (an executable function, or an IR node)."""

    op: str
    attrs: Mapping = attrs.field(factory=dict)
    where: str = ""

    def attr(self, key: str, default=None):
        return self.attrs.get(key, default)

    def describe(self) -> str:
        return f"{self.where} ({self.op})" if self.where else f"host op '{self.op}'"


def bad(node, message: str):
    raise InvalidArgumentError(f"{node.describe()}: {message}")


def broadcast_shape(node, shapes: Sequence[tuple]) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes)) if shapes else ()
    except ValueError:
        bad(node, f"shapes {', '.join(str(list(s)) for s in shapes)} do not broadcast")


def same_dtype(node, types: Sequence) -> str:
    present = [t for t in types if t is not None]
    first = present[0].dtype
    for t in present[1:]:
        if t.dtype != first:
            bad(node, f"operands must have one element type: got {first} and {t.dtype}")
    return first


def axis(node, value: int, rank: int, what: str = "axis") -> int:
    if not -rank <= value < max(rank, 1):
        bad(node, f"{what} {value} is out of range for rank {rank}")
    return value % rank if rank else 0


def axes(node, values, rank: int) -> tuple:
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
